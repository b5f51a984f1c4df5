//! The async pump: one POP3 session over a [`Socket`], full duplex.

use std::future::{Future, poll_fn};
use std::io;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use pop3_proto::task::{Action, Execution, Greet, Task};
use pop3_proto::{Client, TlsMode};

use super::{LineClock, READ_SIZE, Received, Runtime, Socket, TlsInfo, Wire};
use crate::error::TlsEvidence;
use crate::{AsyncBodySink, ConnectOptions, Discard, Error};

/// One POP3 session over an async stream: the protocol core, TLS, and the pump between
/// them and the socket. The adapters' `Client` types are this, with their runtime's
/// socket and timer.
///
/// The pump is full duplex: while it waits for the server it also writes whatever
/// commands are queued, and while a write is pending it keeps reading, so neither side
/// can block the other however large a pipelined batch is.
pub struct Connection<S, R> {
    socket: S,
    wire: Wire,
    core: Client,
    options: ConnectOptions,
    buffer: Box<[u8]>,
    /// A transport failure ended the session; later calls report it as such.
    broken: bool,
    /// Bytes were written since the socket was last flushed.
    unflushed: bool,
    /// The line deadline.
    line: LineClock,
    runtime: PhantomData<fn() -> R>,
}

impl<S, R> std::fmt::Debug for Connection<S, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("address", &self.options.address())
            .field("core", &self.core)
            .field("pending_bytes", &self.wire.pending().len())
            .finish_non_exhaustive()
    }
}

impl<S: Socket, R: Runtime> Connection<S, R> {
    /// Runs a session over a connected stream: the TLS handshake when the options say
    /// [`TlsMode::Implicit`], then the greeting.
    pub async fn open(socket: S, options: &ConnectOptions) -> Result<Self, Error> {
        let mut conn = Self::new(socket, options, options.protocol_config());
        if options.tls_mode() == TlsMode::Implicit {
            conn.handshake(false).await?;
        }
        conn.run(Greet, &mut Discard).await?;
        Ok(conn)
    }

    /// Runs a session over a stream the caller already secured (their own TLS, a
    /// tunnel): no handshake here, and credentials may be sent at once.
    pub async fn open_secured(socket: S, options: &ConnectOptions) -> Result<Self, Error> {
        let config = options.clone().tls(TlsMode::Implicit).protocol_config();
        let mut conn = Self::new(socket, options, config);
        conn.run(Greet, &mut Discard).await?;
        Ok(conn)
    }

    fn new(socket: S, options: &ConnectOptions, config: pop3_proto::Config) -> Self {
        Self {
            socket,
            wire: Wire::new(options.address()),
            core: Client::new(config),
            options: options.clone(),
            buffer: vec![0; READ_SIZE].into_boxed_slice(),
            broken: false,
            unflushed: false,
            line: LineClock::default(),
            runtime: PhantomData,
        }
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

    /// Runs any task of the core: the one loop every operation goes through.
    ///
    /// If the sink fails, the rest of the response is still read (and dropped) so the
    /// session stays usable, and the sink's error is returned. A socket error or a
    /// timeout ends the session: responses may be half-read, so every later call fails
    /// instead of matching an old answer to a new command.
    pub async fn run<T, K>(&mut self, task: T, sink: &mut K) -> Result<T::Output, Error>
    where
        T: Task + Send,
        T::Output: Send,
        K: AsyncBodySink + ?Sized,
    {
        if self.broken {
            return Err(super::broken());
        }
        let mut exec = Execution::new(task);
        let mut sink_error = None;
        loop {
            let result = match exec.step(&mut self.core)? {
                Action::Write(bytes) => match self.wire.send(&bytes) {
                    // Start writing at once; the rest goes out while we wait for answers.
                    Ok(()) => poll_fn(|cx| Poll::Ready(self.poll_send(cx).map(drop))).await,
                    Err(e) => Err(e),
                },
                Action::Read => self.read().await,
                Action::StartTls => self.start_tls().await,
                Action::Body(event) => {
                    if sink_error.is_none() {
                        sink_error = sink.body(event).await.err();
                    }
                    Ok(())
                }
                Action::Done(output) => {
                    return match (self.flush().await, sink_error) {
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

    /// Writes what it can without waiting; returns whether bytes moved.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Result<bool, Error> {
        let during = "writing to the server";
        let mut moved = false;
        while !self.wire.pending().is_empty() {
            match self.socket.poll_write(cx, self.wire.pending()) {
                Poll::Ready(Ok(0)) => {
                    return Err(Error::io(during, io::ErrorKind::WriteZero.into()));
                }
                Poll::Ready(Ok(n)) => {
                    self.wire.advance(n);
                    self.unflushed = true;
                    moved = true;
                }
                Poll::Ready(Err(e)) => return Err(Error::io(during, e)),
                Poll::Pending => return Ok(moved),
            }
        }
        if self.unflushed {
            match self.socket.poll_flush(cx) {
                Poll::Ready(Ok(())) => self.unflushed = false,
                Poll::Ready(Err(e)) => return Err(Error::io(during, e)),
                Poll::Pending => {}
            }
        }
        Ok(moved)
    }

    /// Writes everything queued.
    async fn flush(&mut self) -> Result<(), Error> {
        let mut idle = Deadline::<R>::new(self.options.timeouts().io);
        poll_fn(|cx| {
            match self.poll_send(cx) {
                Err(e) => return Poll::Ready(Err(e)),
                Ok(true) => idle.extend(),
                Ok(false) => {}
            }
            if self.wire.pending().is_empty() && !self.unflushed {
                return Poll::Ready(Ok(()));
            }
            if idle.poll_expired(cx) {
                return Poll::Ready(Err(idle.timeout("writing to the server")));
            }
            // poll_send registered the waker: the socket wakes us when it takes more.
            Poll::Pending
        })
        .await
    }

    /// Gets more input for the core, writing queued commands meanwhile.
    async fn read(&mut self) -> Result<(), Error> {
        // Plaintext decrypted while a handshake was finishing comes first.
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
        let mut waits = Waits {
            idle: Deadline::new(patience.unwrap_or(timeouts.io)),
            line: Deadline::at(self.line.deadline(&self.core, timeouts.line), timeouts.line),
            patience,
        };
        if waits.line.passed() {
            return Err(LineClock::timeout(&self.core, timeouts.line));
        }
        poll_fn(|cx| self.poll_input(cx, &mut waits)).await
    }

    fn poll_input(
        &mut self,
        cx: &mut Context<'_>,
        waits: &mut Waits<R>,
    ) -> Poll<Result<(), Error>> {
        loop {
            match self.poll_send(cx) {
                Err(e) => return Poll::Ready(Err(e)),
                Ok(true) => waits.idle.extend(),
                Ok(false) => {}
            }
            match self.socket.poll_read(cx, &mut self.buffer) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(super::closed(&self.options, &mut self.core)));
                }
                Poll::Ready(Ok(n)) => {
                    waits.idle.extend();
                    let core = &mut self.core;
                    let received = self.wire.receive(&self.buffer[..n], false, &mut |bytes| {
                        core.enqueue_input(bytes);
                    });
                    if matches!(received, Ok(Received::Data { plaintext: 1.. }))
                        || self.wire.mid_record()
                    {
                        self.line.arrived(&self.core);
                        if !waits.line.is_set() {
                            let line = self.options.timeouts().line;
                            waits.line.set(self.line.deadline(&self.core, line));
                        }
                    }
                    match received {
                        Err(e) => return Poll::Ready(Err(e)),
                        // Only TLS records without application data (tickets, say), or
                        // part of a record.
                        Ok(Received::Data { plaintext: 0 }) => {
                            if waits.line.passed() {
                                return Poll::Ready(Err(self.line_timeout()));
                            }
                        }
                        Ok(Received::Data { .. }) => return Poll::Ready(Ok(())),
                        Ok(Received::Closed) => {
                            return Poll::Ready(Err(super::closed(&self.options, &mut self.core)));
                        }
                    }
                }
                Poll::Ready(Err(e)) => {
                    return Poll::Ready(Err(Error::io("reading from the server", e)));
                }
                Poll::Pending => {
                    if waits.line.poll_expired(cx) {
                        return Poll::Ready(Err(self.line_timeout()));
                    }
                    if waits.idle.poll_expired(cx) {
                        return Poll::Ready(Err(match waits.patience {
                            Some(waited) => super::implicit_tls_expected(
                                &self.options,
                                TlsEvidence::Silence(waited),
                            ),
                            None => waits.idle.timeout("waiting for the server"),
                        }));
                    }
                    return Poll::Pending;
                }
            }
        }
    }

    fn line_timeout(&self) -> Error {
        LineClock::timeout(&self.core, self.options.timeouts().line)
    }

    /// The server accepted STLS: handshake, then tell the core.
    async fn start_tls(&mut self) -> Result<(), Error> {
        self.flush().await?;
        self.handshake(true).await?;
        self.core.tls_established()?;
        Ok(())
    }

    async fn handshake(&mut self, after_stls: bool) -> Result<(), Error> {
        self.wire.start_tls(
            self.options.tls_config()?,
            self.options.server_name()?,
            after_stls,
        )?;
        // A bound on the whole handshake, not an idle timer: a server that trickles
        // handshake bytes must not hold the connection for ever.
        let mut limit = Deadline::<R>::new(self.options.timeouts().handshake);
        poll_fn(|cx| self.poll_handshake(cx, &mut limit)).await
    }

    fn poll_handshake(
        &mut self,
        cx: &mut Context<'_>,
        limit: &mut Deadline<R>,
    ) -> Poll<Result<(), Error>> {
        let during = "the TLS handshake";
        loop {
            if let Err(e) = self.poll_send(cx) {
                return Poll::Ready(Err(e));
            }
            if self.wire.is_handshaking() {
                match self.socket.poll_read(cx, &mut self.buffer) {
                    Poll::Ready(Ok(0)) => {
                        let closed = io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "the server closed the connection",
                        );
                        return Poll::Ready(Err(Error::io(during, closed)));
                    }
                    Poll::Ready(Ok(n)) => {
                        // Application data that follows the handshake stays in rustls
                        // until the core asks for input.
                        if let Err(e) = self.wire.receive(&self.buffer[..n], true, &mut |_| {}) {
                            return Poll::Ready(Err(e));
                        }
                        continue;
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(Error::io(during, e))),
                    Poll::Pending => {}
                }
            } else if self.wire.pending().is_empty() && !self.unflushed {
                return Poll::Ready(Ok(()));
            }
            if limit.poll_expired(cx) {
                return Poll::Ready(Err(limit.timeout(during)));
            }
            return Poll::Pending;
        }
    }
}

/// What a read waits for, at most.
struct Waits<R> {
    /// The idle timer (or, on the implicit-TLS port, the patience for a greeting).
    idle: Deadline<R>,
    /// The line deadline.
    line: Deadline<R>,
    /// `idle` is the patience for a greeting on the implicit-TLS port.
    patience: Option<Duration>,
}

/// A time limit on the runtime's timer. Extending it is cheap (an `Instant` store): the
/// sleep is only re-armed when it fires before the limit. It only ever moves later, so a
/// sleep armed earlier never oversleeps it.
struct Deadline<R> {
    limit: Duration,
    at: Option<Instant>,
    sleep: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    runtime: PhantomData<fn() -> R>,
}

impl<R: Runtime> Deadline<R> {
    /// A deadline `limit` from now; zero means none.
    fn new(limit: Duration) -> Self {
        Self::at((!limit.is_zero()).then(|| Instant::now() + limit), limit)
    }

    /// A deadline at `at` (none if `None`), reported as `limit`.
    fn at(at: Option<Instant>, limit: Duration) -> Self {
        Self {
            limit,
            at,
            sleep: None,
            runtime: PhantomData,
        }
    }

    fn is_set(&self) -> bool {
        self.at.is_some()
    }

    /// Sets a deadline that was not set.
    fn set(&mut self, at: Option<Instant>) {
        if self.at.is_none() {
            self.at = at;
        }
    }

    fn extend(&mut self) {
        if self.at.is_some() {
            self.at = Some(Instant::now() + self.limit);
        }
    }

    /// Whether the deadline passed (no timer involved).
    fn passed(&self) -> bool {
        self.at.is_some_and(|at| Instant::now() >= at)
    }

    /// Whether the deadline passed; otherwise the task is woken when it might have.
    fn poll_expired(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(at) = self.at else {
            return false;
        };
        loop {
            let now = Instant::now();
            if now >= at {
                return true;
            }
            let remaining = at - now;
            let sleep = self
                .sleep
                .get_or_insert_with(|| Box::pin(R::sleep(remaining)));
            match sleep.as_mut().poll(cx) {
                Poll::Ready(()) => self.sleep = None,
                Poll::Pending => return false,
            }
        }
    }

    fn timeout(&self, what: &'static str) -> Error {
        Error::Timeout {
            what,
            after: self.limit,
        }
    }
}
