//! The injected [`Fault`]s, [`Profile::BreaksPipelining`](super::Profile::BreaksPipelining)
//! and [`expunge_after_logins`](super::TestServerBuilder::expunge_after_logins), as a
//! [`ConnectionHook`] of the embedded `pop3_server`: one [`FaultHook`] per connection,
//! sharing a [`Plan`].

use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use pop3_server::Maildrop;
use pop3_server::hook::{Command, ConnectionHook, Flow, Intercept, Line, LoginInfo, Response};

use super::profile::Fault;

/// A fault as configured on the server.
#[derive(Debug)]
pub(crate) struct ConfiguredFault {
    pub(crate) fault: Fault,
    /// For faults that hit only one connection: set by the connection that took it.
    pub(crate) once: Option<Arc<AtomicBool>>,
}

/// What every connection's hook shares.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) faults: Vec<ConfiguredFault>,
    /// [`Profile::BreaksPipelining`](super::Profile::BreaksPipelining): the most command
    /// lines one read may bring.
    pub(crate) max_burst: Option<usize>,
    /// The server sends bare LF line ends.
    pub(crate) lf_only: bool,
    /// Connections dropped by `BreaksPipelining`.
    pub(crate) pipelining_drops: Arc<AtomicUsize>,
    /// UIDs to remove from the maildrop once the login count reaches the number.
    pub(crate) expunges: Mutex<Vec<(String, usize)>>,
    pub(crate) maildrop: Maildrop,
}

/// A fault's state in one connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Arm {
    /// Not triggered yet.
    Ready,
    /// Triggered here; triggers again (faults that apply to every matching command).
    Owned,
    /// Used up, or taken by another connection.
    Spent,
}

/// One connection's faults.
#[derive(Debug)]
pub(crate) struct FaultHook {
    plan: Arc<Plan>,
    arms: Vec<Arm>,
    /// Bytes written to the client so far (before TLS).
    sent: usize,
    /// Lines handled so far.
    lines: usize,
    /// The first line after login was seen.
    past_first_after_login: bool,
    /// The current line is answered by a reply of ours, not by the server.
    replying: bool,
    /// Abort once our reply is out ([`Fault::HugeStatusLine`]).
    abort_after_reply: bool,
    /// Bytes of the current answer so far, as the server produced them.
    answer_len: usize,
    /// [`Fault::CloseDuringRetr`] at work: answer bytes (status line included) that may
    /// be sent.
    retr_limit: Option<usize>,
}

impl FaultHook {
    pub(crate) fn new(plan: Arc<Plan>) -> Self {
        let arms = vec![Arm::Ready; plan.faults.len()];
        Self {
            plan,
            arms,
            sent: 0,
            lines: 0,
            past_first_after_login: false,
            replying: false,
            abort_after_reply: false,
            answer_len: 0,
            retr_limit: None,
        }
    }

    /// Whether fault `i` may act now, updating its state. `single_use` faults act once
    /// per connection.
    fn claim(&mut self, i: usize, single_use: bool) -> bool {
        let allowed = match self.arms[i] {
            Arm::Spent => false,
            Arm::Owned => true,
            Arm::Ready => match &self.plan.faults[i].once {
                Some(taken) => !taken.swap(true, Ordering::SeqCst),
                None => true,
            },
        };
        self.arms[i] = if !allowed || single_use {
            Arm::Spent
        } else {
            Arm::Owned
        };
        allowed
    }

    /// Claims the first matching fault that is not spent here and returns a copy of it.
    fn take(&mut self, pred: impl Fn(&Fault) -> bool, single_use: bool) -> Option<Fault> {
        let i = self
            .plan
            .faults
            .iter()
            .enumerate()
            .find(|(i, f)| self.arms[*i] != Arm::Spent && pred(&f.fault))
            .map(|(i, _)| i)?;
        self.claim(i, single_use)
            .then(|| self.plan.faults[i].fault.clone())
    }

    /// A status line of ours, with the profile's line end.
    fn line(&self, text: &str) -> Vec<u8> {
        let mut line = text.as_bytes().to_vec();
        line.extend_from_slice(if self.plan.lf_only { b"\n" } else { b"\r\n" });
        line
    }

    /// Claims a [`Fault::CloseDuringRetr`] for the message with this UID and returns its
    /// offset.
    fn take_retr_cut(&mut self, uid: &str) -> Option<usize> {
        match self.take(
            |f| matches!(f, Fault::CloseDuringRetr { uid: u, .. } if u == uid),
            true,
        )? {
            Fault::CloseDuringRetr { offset, .. } => Some(offset),
            _ => None,
        }
    }

    /// The faults that change the server's own answers. `start` is where the chunk lies
    /// in the answer.
    fn reshape(&mut self, response: &mut Response<'_>, start: usize) -> Flow {
        let command = response.command().cloned();
        if response.is_first() {
            let ok = response.bytes().starts_with(b"+OK");
            if matches!(command, Some(Command::Capa))
                && !response.is_tls()
                && self.take(|f| *f == Fault::StripStls, false).is_some()
            {
                let stripped = strip_stls(response.bytes());
                *response.bytes_mut() = stripped;
            }
            if is_multiline(command.as_ref())
                && ok
                && self
                    .take(|f| *f == Fault::TruncateMultiline, true)
                    .is_some()
            {
                let cut = truncation_point(response.bytes());
                response.bytes_mut().truncate(cut);
                return Flow::Abort;
            }
            if let Some(Command::Retr(msg)) = command
                && ok
                && let Some(uid) = response.uid(msg).map(str::to_owned)
                && let Some(offset) = self.take_retr_cut(&uid)
            {
                let status = memchr::memchr(b'\n', response.bytes())
                    .map_or(response.bytes().len(), |i| i + 1);
                self.retr_limit = Some(status.saturating_add(offset));
            }
            if matches!(command, Some(Command::Stls))
                && ok
                && let Some(Fault::InjectAfterStls(bytes)) =
                    self.take(|f| matches!(f, Fault::InjectAfterStls(_)), false)
            {
                // Same chunk, so the same write as the +OK.
                response.bytes_mut().extend_from_slice(&bytes);
            }
        }
        if let Some(limit) = self.retr_limit {
            let len = response.bytes().len();
            // The terminating line is never sent, whatever the offset.
            let terminator = if self.plan.lf_only { 2 } else { 3 };
            let keep = if response.is_last() {
                limit.min((start + len).saturating_sub(terminator))
            } else {
                limit
            };
            if start + len > keep {
                response.bytes_mut().truncate(keep.saturating_sub(start));
                self.retr_limit = None;
                return Flow::Abort;
            }
        }
        Flow::Continue
    }
}

impl ConnectionHook for FaultHook {
    fn on_read(&mut self, bytes: &[u8]) -> Flow {
        if let Some(max) = self.plan.max_burst {
            // Every complete line now buffered arrived in this read: the lines of
            // earlier reads were all handled before it.
            let burst = memchr::memchr_iter(b'\n', bytes).count();
            if burst > max {
                self.plan.pipelining_drops.fetch_add(1, Ordering::SeqCst);
                return Flow::Abort;
            }
        }
        Flow::Continue
    }

    fn on_command(&mut self, line: &Line<'_>) -> Intercept {
        self.lines = line.number();
        self.replying = true;
        if line.number() == 1
            && let Some(Fault::HugeStatusLine(len)) =
                self.take(|f| matches!(f, Fault::HugeStatusLine(_)), true)
        {
            self.abort_after_reply = true;
            let filler = io::repeat(b'A').take(len as u64);
            return Intercept::Reply(Box::new(io::Cursor::new(b"+OK ").chain(filler)));
        }
        if line.is_logged_in() && !self.past_first_after_login {
            self.past_first_after_login = true;
            if let Some(Fault::Garbage(bytes)) = self.take(|f| matches!(f, Fault::Garbage(_)), true)
            {
                return Intercept::reply(bytes);
            }
        }
        match line.command() {
            Some(Command::Stls)
                if !line.is_tls() && self.take(|f| *f == Fault::RefuseStls, false).is_some() =>
            {
                return Intercept::reply(self.line("-ERR [SYS/PERM] TLS is not available."));
            }
            Some(Command::Quit)
                if line.is_logged_in()
                    && self.take(|f| *f == Fault::DropOnQuit, true).is_some() =>
            {
                return Intercept::Abort;
            }
            Some(Command::Capa) if self.take(|f| *f == Fault::FailCapa, false).is_some() => {
                return Intercept::reply(self.line("-ERR Unknown command."));
            }
            _ => {}
        }
        self.replying = false;
        Intercept::Execute
    }

    fn on_login(&mut self, login: &LoginInfo<'_>) {
        let mut expunges = self
            .plan
            .expunges
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        expunges.retain(|(uid, at)| {
            let due = *at <= login.logins();
            if due {
                self.plan.maildrop.remove(uid);
            }
            !due
        });
    }

    fn on_response(&mut self, response: &mut Response<'_>) -> Flow {
        if response.is_first() {
            self.answer_len = 0;
        }
        let start = self.answer_len;
        self.answer_len += response.bytes().len();
        let mut flow = if self.replying || response.is_greeting() {
            Flow::Continue
        } else {
            self.reshape(response, start)
        };
        let (sent, len) = (self.sent, response.bytes().len());
        if let Some(Fault::CloseAfterBytes(limit)) = self.take(
            |f| matches!(f, Fault::CloseAfterBytes(n) if sent + len >= *n),
            true,
        ) {
            response
                .bytes_mut()
                .truncate(limit.saturating_sub(sent).min(len));
            flow = Flow::Abort;
        }
        self.sent += response.bytes().len();
        if flow == Flow::Continue && response.is_last() && !response.is_greeting() {
            if self.replying && self.abort_after_reply {
                return Flow::Abort;
            }
            let lines = self.lines;
            if self
                .take(
                    |f| matches!(f, Fault::CloseAfterCommands(n) if lines >= *n),
                    true,
                )
                .is_some()
            {
                return Flow::Close;
            }
        }
        flow
    }
}

fn is_multiline(command: Option<&Command>) -> bool {
    matches!(
        command,
        Some(Command::Retr(_) | Command::Top { .. } | Command::List(None) | Command::Uidl(None))
    )
}

/// Where to cut a multi-line response: after its status line and half of the rest, and
/// always before the terminating `.` line.
fn truncation_point(response: &[u8]) -> usize {
    let status_end = response
        .iter()
        .position(|&b| b == b'\n')
        .map_or(response.len(), |i| i + 1);
    let rest = response.len() - status_end;
    status_end + rest.saturating_sub(3) / 2
}

/// Removes the `STLS` line from a CAPA answer.
fn strip_stls(capa: &[u8]) -> Vec<u8> {
    capa.split_inclusive(|&b| b == b'\n')
        .filter(|line| line.trim_ascii() != b"STLS")
        .flatten()
        .copied()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_only_the_stls_line() {
        assert_eq!(
            strip_stls(b"+OK\r\nTOP\r\nSTLS\r\nUSER\r\n.\r\n"),
            b"+OK\r\nTOP\r\nUSER\r\n.\r\n"
        );
        assert_eq!(strip_stls(b"+OK\nSTLS\n.\n"), b"+OK\n.\n");
    }

    #[test]
    fn truncation_keeps_status_and_drops_terminator() {
        let response = b"+OK 10 octets\r\n0123456789\r\n.\r\n";
        let cut = truncation_point(response);
        assert!(cut > b"+OK 10 octets\r\n".len());
        assert!(cut < response.len() - 3);
        assert_eq!(truncation_point(b"+OK 0 messages\r\n.\r\n"), 16);
    }

    #[test]
    fn once_faults_are_taken_by_one_connection_only() {
        let plan = Arc::new(Plan {
            faults: vec![ConfiguredFault {
                fault: Fault::FailCapa,
                once: Some(Arc::new(AtomicBool::new(false))),
            }],
            max_burst: None,
            lf_only: false,
            pipelining_drops: Arc::default(),
            expunges: Mutex::default(),
            maildrop: Maildrop::new(),
        });
        let mut first = FaultHook::new(Arc::clone(&plan));
        let mut second = FaultHook::new(plan);
        assert!(first.take(|f| *f == Fault::FailCapa, false).is_some());
        assert!(
            first.take(|f| *f == Fault::FailCapa, false).is_some(),
            "owned"
        );
        assert!(second.take(|f| *f == Fault::FailCapa, false).is_none());
    }
}
