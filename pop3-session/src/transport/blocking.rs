//! The blocking pump: one POP3 session over a blocking stream, full duplex.
//!
//! The stream is switched to non-blocking mode and waited on with `poll(2)` for reading
//! and writing at once. That keeps the guarantee the async pump has: while commands are
//! being written the pump also reads, so a pipelined batch of any size cannot deadlock
//! against a server that writes its answers before reading more commands. (Sizing writes
//! to what the socket buffers can take would also avoid the deadlock, but it would cap
//! the pipelining window at a few KiB, which is the bottleneck this removes.)

use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use pop3_proto::task::{Action, Execution, Greet, Task};
use pop3_proto::{Client, TlsMode};
use rustix::event::{PollFd, PollFlags, Timespec};

use super::{LineClock, READ_SIZE, Received, TlsInfo, Wire};
use crate::error::TlsEvidence;
use crate::{BodySink, ConnectOptions, Discard, Error};

/// One POP3 session over a blocking stream (a `TcpStream`, a `UnixStream`...): the
/// protocol core, TLS, and the pump between them and the socket. `pop3-sync`'s client is
/// this over TCP.
pub struct BlockingConnection<S> {
    socket: S,
    wire: Wire,
    core: Client,
    options: ConnectOptions,
    buffer: Box<[u8]>,
    /// A transport failure ended the session; later calls report it as such.
    broken: bool,
    /// The line deadline.
    line: LineClock,
}

impl<S> std::fmt::Debug for BlockingConnection<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockingConnection")
            .field("address", &self.options.address())
            .field("core", &self.core)
            .field("pending_bytes", &self.wire.pending().len())
            .finish_non_exhaustive()
    }
}

/// What to wait for.
#[derive(Clone, Copy)]
enum Interest {
    Read,
    Write,
    Both,
}

impl<S: Read + Write + AsFd> BlockingConnection<S> {
    /// Runs a session over a connected stream: the TLS handshake when the options say
    /// [`TlsMode::Implicit`], then the greeting. The stream is made non-blocking.
    pub fn open(socket: S, options: &ConnectOptions) -> Result<Self, Error> {
        let mut conn = Self::new(socket, options, options.protocol_config())?;
        if options.tls_mode() == TlsMode::Implicit {
            conn.handshake(false)?;
        }
        conn.run(Greet, &mut Discard)?;
        Ok(conn)
    }

    /// Runs a session over a stream the caller already secured: no handshake here, and
    /// credentials may be sent at once.
    pub fn open_secured(socket: S, options: &ConnectOptions) -> Result<Self, Error> {
        let config = options.clone().tls(TlsMode::Implicit).protocol_config();
        let mut conn = Self::new(socket, options, config)?;
        conn.run(Greet, &mut Discard)?;
        Ok(conn)
    }

    fn new(socket: S, options: &ConnectOptions, config: pop3_proto::Config) -> Result<Self, Error> {
        rustix::io::ioctl_fionbio(&socket, true)
            .map_err(|e| Error::io("configuring the socket", e.into()))?;
        Ok(Self {
            socket,
            wire: Wire::new(options.address()),
            core: Client::new(config),
            options: options.clone(),
            buffer: vec![0; READ_SIZE].into_boxed_slice(),
            broken: false,
            line: LineClock::default(),
        })
    }

    /// The protocol core: state, greeting, capabilities, pipelining.
    pub fn protocol(&self) -> &Client {
        &self.core
    }

    /// The options this session was opened with.
    pub fn options(&self) -> &ConnectOptions {
        &self.options
    }

    /// The TLS session, once its handshake is done (`None` over plaintext, or over a
    /// stream the caller secured).
    pub fn tls_info(&self) -> Option<TlsInfo> {
        self.wire.tls().and_then(TlsInfo::of)
    }

    /// Runs any task of the core; see `AsyncSession::run`.
    pub fn run<T: Task, K: BodySink + ?Sized>(
        &mut self,
        task: T,
        sink: &mut K,
    ) -> Result<T::Output, Error> {
        if self.broken {
            return Err(super::broken());
        }
        let mut exec = Execution::new(task);
        let mut sink_error = None;
        loop {
            let result = match exec.step(&mut self.core)? {
                Action::Write(bytes) => self
                    .wire
                    .send(&bytes)
                    .and_then(|()| self.send_some().map(drop)),
                Action::Read => self.read(),
                Action::StartTls => self
                    .flush()
                    .and_then(|()| self.handshake(true))
                    .and_then(|()| self.core.tls_established().map_err(Error::from)),
                Action::Body(event) => {
                    if sink_error.is_none() {
                        sink_error = sink.body(event).err();
                    }
                    Ok(())
                }
                Action::Done(output) => {
                    return match (self.flush(), sink_error) {
                        (Err(e), _) => {
                            self.core.abort();
                            self.broken = true;
                            Err(e)
                        }
                        (Ok(()), Some(e)) => Err(Error::Sink(e)),
                        (Ok(()), None) => Ok(output),
                    };
                }
                // An action this pump does not know: the core is newer than the pump.
                _ => Err(pop3_proto::Error::Internal("an action the pump does not know").into()),
            };
            if let Err(e) = result {
                self.core.abort();
                self.broken = true;
                return Err(e);
            }
        }
    }

    /// Writes what the socket takes without blocking; returns whether bytes moved.
    fn send_some(&mut self) -> Result<bool, Error> {
        let mut moved = false;
        while !self.wire.pending().is_empty() {
            match self.socket.write(self.wire.pending()) {
                Ok(0) => {
                    return Err(Error::io(
                        "writing to the server",
                        io::ErrorKind::WriteZero.into(),
                    ));
                }
                Ok(n) => {
                    self.wire.advance(n);
                    moved = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::io("writing to the server", e)),
            }
        }
        if moved {
            match self.socket.flush() {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(Error::io("writing to the server", e)),
            }
        }
        Ok(moved)
    }

    /// Reads what is there without blocking: `Ok(None)` if nothing, `Ok(Some(0))` at
    /// end of stream.
    fn receive_some(&mut self) -> Result<Option<usize>, Error> {
        loop {
            match self.socket.read(&mut self.buffer) {
                Ok(n) => return Ok(Some(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::io("reading from the server", e)),
            }
        }
    }

    /// Waits until the socket is ready for `interest` or `deadline` passes; returns
    /// whether it became ready.
    fn wait(&self, interest: Interest, deadline: Option<Instant>) -> Result<bool, Error> {
        let flags = match interest {
            Interest::Read => PollFlags::IN,
            Interest::Write => PollFlags::OUT,
            Interest::Both => PollFlags::IN | PollFlags::OUT,
        };
        loop {
            let timeout = match deadline {
                None => None,
                Some(at) => {
                    let left = at.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(false);
                    }
                    Some(timespec(left))
                }
            };
            let mut fds = [PollFd::new(&self.socket, flags)];
            match rustix::event::poll(&mut fds, timeout.as_ref()) {
                Ok(ready) if ready > 0 => return Ok(true),
                // Nothing yet, or a signal: check the deadline and wait again.
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(Error::io("waiting for the server", e.into())),
            }
        }
    }

    /// Gets more input for the core, writing queued commands meanwhile.
    fn read(&mut self) -> Result<(), Error> {
        let core = &mut self.core;
        match self
            .wire
            .drain_held(&mut |bytes| core.enqueue_input(bytes))?
        {
            Some(0) => {}
            Some(_) => return Ok(()),
            None => return Err(super::closed(&self.options, &mut self.core)),
        }
        let timeouts = self.options.timeouts();
        // On the implicit-TLS port, a plaintext client waits for the greeting only
        // briefly before explaining the silence.
        let patience = super::greeting_patience(&self.options, &self.core);
        let idle = patience.unwrap_or(timeouts.io);
        let mut deadline = deadline_after(idle);
        let mut line = self.line.deadline(&self.core, timeouts.line);
        loop {
            if line.is_some_and(|at| Instant::now() >= at) {
                return Err(LineClock::timeout(&self.core, timeouts.line));
            }
            if self.send_some()? {
                deadline = deadline_after(idle);
            }
            match self.receive_some()? {
                Some(0) => return Err(super::closed(&self.options, &mut self.core)),
                Some(n) => {
                    deadline = deadline_after(idle);
                    let core = &mut self.core;
                    let received = self.wire.receive(&self.buffer[..n], false, &mut |bytes| {
                        core.enqueue_input(bytes);
                    })?;
                    if matches!(received, Received::Data { plaintext: 1.. })
                        || self.wire.mid_record()
                    {
                        self.line.arrived(&self.core);
                        if line.is_none() {
                            line = self.line.deadline(&self.core, timeouts.line);
                        }
                    }
                    match received {
                        // Only TLS records without application data, or part of one.
                        Received::Data { plaintext: 0 } => continue,
                        Received::Data { .. } => return Ok(()),
                        Received::Closed => {
                            return Err(super::closed(&self.options, &mut self.core));
                        }
                    }
                }
                None => {}
            }
            let interest = if self.wire.pending().is_empty() {
                Interest::Read
            } else {
                Interest::Both
            };
            let wake = match (deadline, line) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            if !self.wait(interest, wake)? {
                if line.is_some_and(|at| Instant::now() >= at) {
                    return Err(LineClock::timeout(&self.core, timeouts.line));
                }
                if deadline.is_some_and(|at| Instant::now() >= at) {
                    return Err(match patience {
                        Some(waited) => super::implicit_tls_expected(
                            &self.options,
                            TlsEvidence::Silence(waited),
                        ),
                        None => Error::Timeout {
                            what: "waiting for the server",
                            after: idle,
                        },
                    });
                }
            }
        }
    }

    /// Writes everything queued.
    fn flush(&mut self) -> Result<(), Error> {
        let idle = self.options.timeouts().io;
        let mut deadline = deadline_after(idle);
        loop {
            if self.send_some()? {
                deadline = deadline_after(idle);
            }
            if self.wire.pending().is_empty() {
                return Ok(());
            }
            if !self.wait(Interest::Write, deadline)? {
                return Err(Error::Timeout {
                    what: "writing to the server",
                    after: idle,
                });
            }
        }
    }

    fn handshake(&mut self, after_stls: bool) -> Result<(), Error> {
        let during = "the TLS handshake";
        self.wire.start_tls(
            self.options.tls_config()?,
            self.options.server_name()?,
            after_stls,
        )?;
        // A bound on the whole handshake, not an idle timer.
        let limit = self.options.timeouts().handshake;
        let deadline = deadline_after(limit);
        loop {
            self.send_some()?;
            if self.wire.is_handshaking() {
                match self.receive_some()? {
                    Some(0) => {
                        let closed = io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "the server closed the connection",
                        );
                        return Err(Error::io(during, closed));
                    }
                    Some(n) => {
                        self.wire.receive(&self.buffer[..n], true, &mut |_| {})?;
                        continue;
                    }
                    None => {}
                }
            } else if self.wire.pending().is_empty() {
                return Ok(());
            }
            let interest = match (self.wire.is_handshaking(), self.wire.pending().is_empty()) {
                (true, true) => Interest::Read,
                (true, false) => Interest::Both,
                (false, _) => Interest::Write,
            };
            if !self.wait(interest, deadline)? {
                return Err(Error::Timeout {
                    what: during,
                    after: limit,
                });
            }
        }
    }
}

/// `limit` from now; zero means no limit.
fn deadline_after(limit: Duration) -> Option<Instant> {
    (!limit.is_zero()).then(|| Instant::now() + limit)
}

fn timespec(duration: Duration) -> Timespec {
    Timespec {
        tv_sec: i64::try_from(duration.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: duration.subsec_nanos().into(),
    }
}
