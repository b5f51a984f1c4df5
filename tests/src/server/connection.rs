//! One client connection: the socket, TLS when asked, a [`Session`] and the faults.
//!
//! Commands are handed to the session one line at a time, so that every response can be
//! attributed to the command that caused it (which is what the faults need). Responses
//! to the lines of one read are still coalesced into one write.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pop3_proto::ApopTimestamp;
use pop3_proto::Command;
use pop3_proto::server::session::{ServerAction, ServerOptions, Session};
use rustls::{ServerConfig, ServerConnection, StreamOwned};

use super::Shared;
use super::maildrop::{ConnBackend, LoginPolicy};
use super::profile::{Fault, Profile};

/// Largest write of the fault generators, and the threshold to flush responses.
const CHUNK: usize = 64 * 1024;
/// A client line longer than this is handed to the session unfinished (it refuses it).
const MAX_PARTIAL: usize = 16 * 1024;
/// How long a graceful close waits for the client to hang up.
const LINGER: Duration = Duration::from_millis(500);

static FILL: [u8; CHUNK] = [b'A'; CHUNK];

/// Why a connection ends.
#[derive(Debug)]
enum End {
    /// QUIT, a protocol error or a fault that closes politely.
    Close,
    /// A fault that cuts the connection.
    Abort,
    /// The client went away, timed out, or I/O failed.
    Gone,
}

impl From<io::Error> for End {
    fn from(_: io::Error) -> Self {
        Self::Gone
    }
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ServerConnection, TcpStream>>),
    Closed,
}

impl Stream {
    fn tcp(&self) -> Option<&TcpStream> {
        match self {
            Self::Plain(tcp) => Some(tcp),
            Self::Tls(tls) => Some(&tls.sock),
            Self::Closed => None,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Plain(s) => s.read(buf),
            Self::Tls(s) => s.read(buf),
            Self::Closed => Ok(0),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Plain(s) => s.write(buf),
            Self::Tls(s) => s.write(buf),
            Self::Closed => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Plain(s) => s.flush(),
            Self::Tls(s) => s.flush(),
            Self::Closed => Ok(()),
        }
    }
}

/// A fault as configured on the server.
#[derive(Debug)]
pub(crate) struct ConfiguredFault {
    pub(crate) fault: Fault,
    /// For faults that hit only one connection: set by the connection that took it.
    pub(crate) once: Option<Arc<AtomicBool>>,
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

/// Does the TLS server handshake on a blocking socket.
fn handshake(
    mut tcp: TcpStream,
    config: Arc<ServerConfig>,
) -> io::Result<StreamOwned<ServerConnection, TcpStream>> {
    let mut conn = ServerConnection::new(config).map_err(io::Error::other)?;
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp)?;
    }
    Ok(StreamOwned::new(conn, tcp))
}

/// Shuts a socket down when dropped: the server keeps a duplicate of every socket (to
/// stop sessions on drop), so closing our handle alone would not end the connection.
struct Hangup(Option<TcpStream>);

impl Drop for Hangup {
    fn drop(&mut self) {
        if let Some(tcp) = &self.0 {
            let _ = tcp.shutdown(Shutdown::Both);
        }
    }
}

/// Serves one accepted connection until it ends. Never panics on client input.
pub(crate) fn serve(shared: &Arc<Shared>, tcp: TcpStream, implicit_tls: bool, number: usize) {
    let _hangup = Hangup(tcp.try_clone().ok());
    let idle = shared.settings.idle_timeout;
    // Best effort: a socket that refuses options still works.
    let _ = tcp.set_nodelay(true);
    let _ = tcp.set_read_timeout(Some(idle));
    let _ = tcp.set_write_timeout(Some(idle));
    let stream = if implicit_tls {
        let Some(config) = shared.tls.clone() else {
            return;
        };
        match handshake(tcp, config) {
            Ok(tls) => Stream::Tls(Box::new(tls)),
            // A client that refuses our certificate or sends garbage: just end.
            Err(_) => return,
        }
    } else {
        Stream::Plain(tcp)
    };
    let mut conn = Connection::new(Arc::clone(shared), stream, implicit_tls, number);
    let end = conn.run().err().unwrap_or(End::Gone);
    conn.session.connection_closed();
    conn.close(&end);
}

struct Connection {
    shared: Arc<Shared>,
    stream: Stream,
    session: Session<ConnBackend>,
    arms: Vec<Arm>,
    /// Responses waiting for the next write.
    out: Vec<u8>,
    /// Client bytes not yet forming a whole line.
    partial: Vec<u8>,
    /// Bytes sent to the client (before TLS).
    sent: usize,
    /// Client lines handled.
    lines: usize,
    /// The session's last answer was a SASL challenge: the next line is not a command.
    awaiting_sasl: bool,
    /// The first line after login was handled.
    past_first_after_login: bool,
    lf_only: bool,
    slow: Option<Duration>,
    /// [`Profile::Trickle`]: piece size and pause.
    trickle: Option<(usize, Duration)>,
    /// [`Profile::BreaksPipelining`]: the most command lines one read may bring.
    max_burst: Option<usize>,
}

impl Connection {
    fn new(shared: Arc<Shared>, stream: Stream, implicit_tls: bool, number: usize) -> Self {
        let settings = &shared.settings;
        let has = |p: &Profile| settings.profiles.contains(p);
        let apop = settings
            .apop
            .then(|| {
                let nanos = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.subsec_nanos());
                ApopTimestamp::new(&format!(
                    "<{}.{number}.{nanos}@pop3-testkit>",
                    std::process::id()
                ))
            })
            .flatten();
        let login_delay = settings.profiles.iter().find_map(|p| match p {
            Profile::LoginDelay(d) => Some(*d),
            _ => None,
        });
        let options = ServerOptions {
            greeting: settings.greeting.clone(),
            apop,
            user_pass: true,
            sasl: settings.sasl.clone(),
            stls: shared.tls.is_some(),
            pipelining: !has(&Profile::NoPipelining),
            capa: !has(&Profile::Rfc1939Only),
            lf_only: has(&Profile::LfOnly),
            scram_iterations: 4096,
            utf8: has(&Profile::Utf8),
            login_delay: login_delay.map(whole_seconds),
        };
        let policy = LoginPolicy {
            lock_session: has(&Profile::LockSession),
            login_delay,
        };
        let backend = ConnBackend::new(
            shared.maildrop.clone(),
            &settings.user,
            &settings.password,
            policy,
        );
        let mut session = Session::new(backend, options);
        if implicit_tls {
            session.set_implicit_tls();
        }
        let slow = settings.profiles.iter().find_map(|p| match p {
            Profile::Slow(d) => Some(*d),
            _ => None,
        });
        let trickle = settings.profiles.iter().find_map(|p| match p {
            Profile::Trickle { bytes, pause } => Some(((*bytes).max(1), *pause)),
            _ => None,
        });
        let max_burst = settings.profiles.iter().find_map(|p| match p {
            Profile::BreaksPipelining { max_burst } => Some(*max_burst),
            _ => None,
        });
        let arms = vec![Arm::Ready; settings.faults.len()];
        let lf_only = has(&Profile::LfOnly);
        Self {
            shared,
            stream,
            session,
            arms,
            out: Vec::new(),
            partial: Vec::new(),
            sent: 0,
            lines: 0,
            awaiting_sasl: false,
            past_first_after_login: false,
            lf_only,
            slow,
            trickle,
            max_burst,
        }
    }

    /// Runs the session; returns how it ended (always as `Err`).
    fn run(&mut self) -> Result<(), End> {
        self.drain(None)?;
        self.flush()?;
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match self.stream.read(&mut buf) {
                Ok(0) => return Err(End::Gone),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return Err(End::Gone),
            };
            self.partial.extend_from_slice(&buf[..n]);
            if let Some(max) = self.max_burst {
                // Every complete line here arrived in this read: lines of earlier reads
                // were all handled before it.
                let burst = memchr::memchr_iter(b'\n', &self.partial).count();
                if burst > max {
                    for line in self.partial.split_inclusive(|&b| b == b'\n').take(burst) {
                        self.record(line);
                    }
                    self.shared.pipelining_drops.fetch_add(1, Ordering::SeqCst);
                    return Err(End::Abort);
                }
            }
            while let Some(end) = self.partial.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.partial.drain(..=end).collect();
                self.record(&line);
                if self.handle_line(&line)? {
                    // TLS started: what the client sent before it is discarded
                    // (RFC 2595 §4), as the session itself does; but it was sent.
                    let discarded = std::mem::take(&mut self.partial);
                    for line in discarded.split_inclusive(|&b| b == b'\n') {
                        self.record(line);
                    }
                    break;
                }
            }
            if self.partial.len() > MAX_PARTIAL {
                // An endless line: let the session refuse it.
                let line = std::mem::take(&mut self.partial);
                self.record(&line);
                self.session.receive(&line);
                self.drain(None)?;
            }
            self.flush()?;
        }
    }

    /// Logs a client line for [`TestServer::received`](super::TestServer::received).
    fn record(&self, line: &[u8]) {
        let text = line.strip_suffix(b"\n").unwrap_or(line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        self.shared
            .log_line(String::from_utf8_lossy(text).into_owned());
    }

    /// A status line of ours, with the profile's line end.
    fn line(&self, text: &str) -> Vec<u8> {
        let mut line = text.as_bytes().to_vec();
        line.extend_from_slice(if self.lf_only { b"\n" } else { b"\r\n" });
        line
    }

    /// Whether fault `i` may act now, updating its state. `single_use` faults act once
    /// per connection.
    fn claim(&mut self, i: usize, single_use: bool) -> bool {
        let allowed = match self.arms[i] {
            Arm::Spent => false,
            Arm::Owned => true,
            Arm::Ready => match &self.shared.settings.faults[i].once {
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

    /// The index of the first fault matching `pred` that is not spent here.
    fn find(&self, pred: impl Fn(&Fault) -> bool) -> Option<usize> {
        self.shared
            .settings
            .faults
            .iter()
            .enumerate()
            .find(|(i, f)| self.arms[*i] != Arm::Spent && pred(&f.fault))
            .map(|(i, _)| i)
    }

    /// Claims the first matching fault and returns a copy of it.
    fn take(&mut self, pred: impl Fn(&Fault) -> bool, single_use: bool) -> Option<Fault> {
        let i = self.find(pred)?;
        self.claim(i, single_use)
            .then(|| self.shared.settings.faults[i].fault.clone())
    }

    /// Handles one client line (line end included). Returns whether TLS started.
    fn handle_line(&mut self, line: &[u8]) -> Result<bool, End> {
        self.lines += 1;
        let in_sasl = std::mem::take(&mut self.awaiting_sasl);
        let text = line.strip_suffix(b"\n").unwrap_or(line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        let command = if in_sasl {
            None
        } else {
            Command::parse(text).ok()
        };

        let huge = if self.lines == 1 {
            self.take(|f| matches!(f, Fault::HugeStatusLine(_)), true)
        } else {
            None
        };
        if let Some(Fault::HugeStatusLine(len)) = huge {
            self.flush()?;
            self.write_raw(b"+OK ")?;
            let mut left = len;
            while left > 0 {
                let n = left.min(CHUNK);
                self.write_raw(&FILL[..n])?;
                left -= n;
            }
            return Err(End::Abort);
        }

        if self.session.backend().opened && !self.past_first_after_login {
            self.past_first_after_login = true;
            if let Some(Fault::Garbage(bytes)) = self.take(|f| matches!(f, Fault::Garbage(_)), true)
            {
                self.out.extend_from_slice(&bytes);
                return self.after_command(false);
            }
        }

        let pre_tls = !self.session.is_tls();
        match command {
            Some(Command::Stls)
                if pre_tls && self.take(|f| *f == Fault::RefuseStls, false).is_some() =>
            {
                let refusal = self.line("-ERR [SYS/PERM] TLS is not available.");
                self.out.extend_from_slice(&refusal);
                return self.after_command(false);
            }
            Some(Command::Quit)
                if self.session.backend().opened
                    && self.take(|f| *f == Fault::DropOnQuit, true).is_some() =>
            {
                self.flush()?;
                return Err(End::Abort);
            }
            Some(Command::Capa) if self.take(|f| *f == Fault::FailCapa, false).is_some() => {
                let refusal = self.line("-ERR Unknown command.");
                self.out.extend_from_slice(&refusal);
                return self.after_command(false);
            }
            _ => {}
        }

        self.session.receive(line);
        let upgraded = self.drain(command.as_ref())?;
        self.after_command(upgraded)
    }

    fn after_command(&mut self, upgraded: bool) -> Result<bool, End> {
        let lines = self.lines;
        if self
            .take(
                |f| matches!(f, Fault::CloseAfterCommands(n) if lines >= *n),
                true,
            )
            .is_some()
        {
            self.flush()?;
            return Err(End::Close);
        }
        Ok(upgraded)
    }

    /// Runs the session until it needs input, applying the output faults for `command`.
    /// Returns whether TLS started.
    fn drain(&mut self, command: Option<&Command>) -> Result<bool, End> {
        let mut first = true;
        let mut cut: Option<RetrCut> = None;
        loop {
            match self.session.progress() {
                ServerAction::Send(mut bytes) => {
                    if let Some(cut) = &mut cut {
                        self.out.extend_from_slice(&bytes);
                        cut.sent(self, bytes.len())?;
                        continue;
                    }
                    if std::mem::take(&mut first) {
                        self.awaiting_sasl = is_challenge(&bytes);
                        if matches!(command, Some(Command::Capa))
                            && !self.session.is_tls()
                            && self.take(|f| *f == Fault::StripStls, false).is_some()
                        {
                            bytes = strip_stls(&bytes);
                        }
                        if is_multiline(command)
                            && bytes.starts_with(b"+OK")
                            && self
                                .take(|f| *f == Fault::TruncateMultiline, true)
                                .is_some()
                        {
                            let cut = truncation_point(&bytes);
                            self.out.extend_from_slice(&bytes[..cut]);
                            self.flush()?;
                            return Err(End::Abort);
                        }
                        if let Some(Command::Retr(msg)) = command
                            && bytes.starts_with(b"+OK")
                            && let Some(offset) = self.take_retr_cut(*msg)
                        {
                            let status = bytes
                                .iter()
                                .position(|&b| b == b'\n')
                                .map_or(bytes.len(), |i| i + 1);
                            let mut state = RetrCut {
                                limit: status.saturating_add(offset),
                                len: 0,
                                terminator: if self.lf_only { 2 } else { 3 },
                            };
                            self.out.extend_from_slice(&bytes);
                            state.sent(self, bytes.len())?;
                            cut = Some(state);
                            continue;
                        }
                    }
                    self.out.extend_from_slice(&bytes);
                    if self.out.len() >= CHUNK {
                        self.flush()?;
                    }
                }
                ServerAction::StartTls => {
                    self.start_tls()?;
                    return Ok(true);
                }
                ServerAction::Close => {
                    self.flush()?;
                    return Err(End::Close);
                }
                ServerAction::NeedInput => {
                    if let Some(cut) = cut {
                        return Err(cut.finish(self));
                    }
                    return Ok(false);
                }
            }
        }
    }

    /// Claims a [`Fault::CloseDuringRetr`] for message `msg` of this session's snapshot
    /// and returns its offset.
    fn take_retr_cut(&mut self, msg: u32) -> Option<usize> {
        let uid = self.session.backend().uid_of(msg)?.as_str().to_owned();
        match self.take(
            |f| matches!(f, Fault::CloseDuringRetr { uid: u, .. } if *u == uid),
            true,
        )? {
            Fault::CloseDuringRetr { offset, .. } => Some(offset),
            _ => None,
        }
    }

    /// Writes all pending responses but their last `keep` bytes.
    fn flush_keeping(&mut self, keep: usize) -> Result<(), End> {
        let tail = self.out.split_off(self.out.len().saturating_sub(keep));
        self.flush()?;
        self.out = tail;
        Ok(())
    }

    /// Sends the `+OK` to STLS (with injected bytes, if that fault is set) and does the
    /// server handshake.
    fn start_tls(&mut self) -> Result<(), End> {
        if let Some(Fault::InjectAfterStls(bytes)) =
            self.take(|f| matches!(f, Fault::InjectAfterStls(_)), false)
        {
            // Same buffer, so the same write as the +OK.
            self.out.extend_from_slice(&bytes);
        }
        self.flush()?;
        let Some(config) = self.shared.tls.clone() else {
            return Err(End::Abort);
        };
        let Stream::Plain(tcp) = std::mem::replace(&mut self.stream, Stream::Closed) else {
            return Err(End::Abort);
        };
        let tls = handshake(tcp, config)?;
        self.stream = Stream::Tls(Box::new(tls));
        self.session.tls_established();
        self.awaiting_sasl = false;
        Ok(())
    }

    /// Writes the pending responses in one write (after the profile's delay).
    fn flush(&mut self) -> Result<(), End> {
        if self.out.is_empty() {
            return Ok(());
        }
        if let Some(delay) = self.slow {
            std::thread::sleep(delay);
        }
        let out = std::mem::take(&mut self.out);
        match self.trickle {
            Some((bytes, pause)) => {
                for piece in out.chunks(bytes) {
                    std::thread::sleep(pause);
                    self.write_raw(piece)?;
                }
                Ok(())
            }
            None => self.write_raw(&out),
        }
    }

    /// Writes bytes to the client, honouring [`Fault::CloseAfterBytes`].
    fn write_raw(&mut self, data: &[u8]) -> Result<(), End> {
        let sent = self.sent;
        let mut data = data;
        let mut cut = false;
        if let Some(Fault::CloseAfterBytes(limit)) = self.take(
            |f| matches!(f, Fault::CloseAfterBytes(n) if sent + data.len() >= *n),
            true,
        ) {
            data = &data[..limit.saturating_sub(sent).min(data.len())];
            cut = true;
        }
        if !data.is_empty() {
            self.stream.write_all(data)?;
            self.stream.flush()?;
            self.sent += data.len();
            self.shared.count_write(data.len());
        }
        if cut { Err(End::Abort) } else { Ok(()) }
    }

    /// Ends the connection: politely (`close_notify`, wait for the client to hang up) or
    /// abruptly.
    fn close(&mut self, end: &End) {
        let stream = std::mem::replace(&mut self.stream, Stream::Closed);
        match (end, stream) {
            (End::Close, Stream::Tls(mut tls)) => {
                tls.conn.send_close_notify();
                let _ = tls.flush();
                linger(&tls.sock);
            }
            (End::Close, Stream::Plain(tcp)) => linger(&tcp),
            (_, stream) => {
                if let Some(tcp) = stream.tcp() {
                    let _ = tcp.shutdown(Shutdown::Both);
                }
            }
        }
    }
}

/// A RETR response being cut by [`Fault::CloseDuringRetr`]. Its last bytes stay unsent
/// until more follow, because the session's last chunk ends with the terminating line,
/// which must never go out.
struct RetrCut {
    /// Response bytes (status line included) that may be sent.
    limit: usize,
    /// Response bytes produced so far, all in or through `out`.
    len: usize,
    /// The length of the terminating line: `.` and the profile's line end.
    terminator: usize,
}

impl RetrCut {
    /// `added` more response bytes were appended to `conn.out`. Err once it is cut.
    fn sent(&mut self, conn: &mut Connection, added: usize) -> Result<(), End> {
        self.len += added;
        // Only bytes followed by at least a terminator's worth cannot be the terminator.
        if self.len.saturating_sub(self.terminator) > self.limit {
            return Err(self.cut(conn, self.limit));
        }
        if conn.out.len() >= CHUNK {
            conn.flush_keeping(self.terminator)?;
        }
        Ok(())
    }

    /// The response is complete: the body fitted below the offset. Cut before its
    /// terminating line.
    fn finish(self, conn: &mut Connection) -> End {
        let keep = self.limit.min(self.len.saturating_sub(self.terminator));
        self.cut(conn, keep)
    }

    /// Sends only the first `keep` response bytes, then aborts. What was flushed is
    /// never beyond `keep`: flushes hold back a terminator's worth and happen only while
    /// the response is within its limit.
    fn cut(&self, conn: &mut Connection, keep: usize) -> End {
        let excess = self.len - keep;
        let end = conn.out.len().saturating_sub(excess);
        conn.out.truncate(end);
        match conn.flush() {
            Ok(()) => End::Abort,
            Err(end) => end,
        }
    }
}

/// The delay in whole seconds for CAPA, rounded up so that a client waiting that long
/// is never early.
fn whole_seconds(delay: Duration) -> u32 {
    let seconds = delay
        .as_secs()
        .saturating_add(u64::from(delay.subsec_nanos() > 0));
    u32::try_from(seconds).unwrap_or(u32::MAX)
}

/// Half-closes and waits briefly for the client to close, so that our last response is
/// not destroyed by a reset caused by unread client data.
fn linger(tcp: &TcpStream) {
    let _ = tcp.shutdown(Shutdown::Write);
    let _ = tcp.set_read_timeout(Some(LINGER));
    let mut sink = [0u8; 4096];
    let mut reader = tcp;
    let deadline = std::time::Instant::now() + LINGER;
    while std::time::Instant::now() < deadline {
        match reader.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    let _ = tcp.shutdown(Shutdown::Both);
}

/// Whether a session output is a SASL challenge (`+ ...` or a bare `+`).
fn is_challenge(bytes: &[u8]) -> bool {
    bytes.starts_with(b"+ ") || bytes == b"+\r\n" || bytes == b"+\n"
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
    fn login_delay_is_advertised_rounded_up() {
        assert_eq!(whole_seconds(Duration::ZERO), 0);
        assert_eq!(whole_seconds(Duration::from_millis(1)), 1);
        assert_eq!(whole_seconds(Duration::from_secs(3600)), 3600);
        assert_eq!(whole_seconds(Duration::from_millis(2500)), 3);
        assert_eq!(whole_seconds(Duration::MAX), u32::MAX);
    }

    #[test]
    fn challenges_are_recognised() {
        assert!(is_challenge(b"+ VXNlcm5hbWU6\r\n"));
        assert!(is_challenge(b"+\r\n"));
        assert!(!is_challenge(b"+OK\r\n"));
    }
}
