//! The transport every adapter shares: TLS and plaintext on the wire, the full-duplex
//! pump that runs core tasks over a socket, timeouts and end-of-stream handling.
//!
//! An async adapter supplies a [`Socket`] (its stream, polled for reading and writing)
//! and a [`Runtime`] (its timer, and how its writer types take bytes). Everything else,
//! TLS included, is here, written once.

#[cfg(unix)]
mod blocking;
mod connection;
mod tls_info;
mod wire;

use std::future::Future;
use std::io;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use pop3_proto::{Client, State, TlsMode};

use crate::error::{TlsError, TlsEvidence};
use crate::{ConnectOptions, Error};

#[cfg(unix)]
pub use blocking::BlockingConnection;
pub use connection::Connection;
pub use tls_info::TlsInfo;
pub(crate) use wire::{Received, Wire};

/// Bytes read from the socket at a time.
const READ_SIZE: usize = 64 * 1024;

/// A connected byte stream, polled by the pump. Adapters implement it for their runtime's
/// stream types (a thin wrapper each).
///
/// The pump reads whenever the stream has data, even while a write is pending, so a
/// large pipelined batch never deadlocks against a server that writes before it reads.
pub trait Socket: Send + Unpin {
    /// Reads into `buf`; `Ok(0)` means the peer closed.
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>>;
    /// Writes some of `buf`.
    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>>;
    /// Flushes what the stream buffers (a no-op for TCP).
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
}

/// What an async adapter's runtime provides: a timer.
pub trait Runtime: Send + Sync + 'static {
    /// Completes after `duration`.
    fn sleep(duration: Duration) -> impl Future<Output = ()> + Send + 'static;
}

/// How a runtime's writer type `W` takes bytes (its `AsyncWrite`), so that
/// `retr_to(msg, &mut writer)` accepts each runtime's own writers.
pub trait RuntimeWrite<W: ?Sized>: Runtime {
    /// Writes all of `bytes`.
    fn write_all<'a>(
        writer: &'a mut W,
        bytes: &'a [u8],
    ) -> impl Future<Output = io::Result<()>> + Send + 'a;
    /// Flushes the writer.
    fn flush(writer: &mut W) -> impl Future<Output = io::Result<()>> + Send + '_;
}

/// How long to wait for a greeting that has not started, in plaintext or STLS mode on
/// the implicit-TLS port, before saying that the server is most likely waiting for a TLS
/// handshake (the idle timeout applies if it is shorter).
pub(crate) const IMPLICIT_PORT_PATIENCE: Duration = Duration::from_secs(5);

/// How long the greeting may be silent before [`implicit_tls_expected`] explains the
/// silence: `Some` only while nothing of the greeting has arrived, in plaintext or
/// STLS mode, on the implicit-TLS port (995).
pub(crate) fn greeting_patience(options: &ConnectOptions, core: &Client) -> Option<Duration> {
    let silent = core.state() == State::Greeting
        && core.pending_line().is_some_and(|line| line.received == 0);
    let mismatch = options.tls_mode() != TlsMode::Implicit
        && options.effective_port() == TlsMode::Implicit.default_port();
    (silent && mismatch).then(|| {
        let io = options.timeouts().io;
        if io.is_zero() {
            IMPLICIT_PORT_PATIENCE
        } else {
            io.min(IMPLICIT_PORT_PATIENCE)
        }
    })
}

/// The error for a server on the implicit-TLS port that stayed silent (or closed)
/// instead of greeting a plaintext client.
pub(crate) fn implicit_tls_expected(options: &ConnectOptions, evidence: TlsEvidence) -> Error {
    Error::Tls {
        address: options.address(),
        error: TlsError::ExpectsImplicitTls { evidence },
    }
}

/// The error for a connection the server closed: explained as a mode mismatch when a
/// plaintext or STLS client was closed on without a greeting on the implicit-TLS port.
pub(crate) fn closed(options: &ConnectOptions, core: &mut Client) -> Error {
    let before_greeting = core.state() == State::Greeting;
    let error = core.connection_closed();
    let mismatch = options.tls_mode() != TlsMode::Implicit
        && options.effective_port() == TlsMode::Implicit.default_port();
    if mismatch && before_greeting {
        return implicit_tls_expected(options, TlsEvidence::Closed);
    }
    error.into()
}

/// The line deadline: a greeting, status, listing or challenge line must complete
/// within [`Timeouts::line`](crate::Timeouts::line) of its first byte.
///
/// The pumps tell it when bytes arrive and ask it for the deadline whenever the core
/// wants input. A line is known by where it starts in the stream
/// ([`pop3_proto::PendingLine`]), so a line that is still the same keeps its start
/// time across reads, and a new line starts the clock again.
#[derive(Debug, Default)]
pub(crate) struct LineClock {
    /// The line under way (its start offset) and when its first byte arrived.
    started: Option<(u64, Instant)>,
    /// When raw bytes last arrived.
    last_arrival: Option<Instant>,
}

impl LineClock {
    /// Bytes of something arrived (plaintext, or part of a TLS record; not a whole
    /// record without application data, such as a session ticket): if the core is
    /// waiting for a line and no clock runs for it, it starts now.
    pub(crate) fn arrived(&mut self, core: &Client) {
        let now = Instant::now();
        self.last_arrival = Some(now);
        if let Some(line) = core.pending_line()
            && self.started.is_none_or(|(start, _)| start != line.start)
        {
            self.started = Some((line.start, now));
        }
    }

    /// The deadline of the line the core is waiting for, if it has started. Call when
    /// the core asks for input.
    pub(crate) fn deadline(&mut self, core: &Client, limit: Duration) -> Option<Instant> {
        match core.pending_line() {
            Some(line) if self.started.is_some_and(|(start, _)| start == line.start) => {}
            // A new line whose first bytes came with the last read.
            Some(line) if line.received > 0 => {
                let at = self.last_arrival.unwrap_or_else(Instant::now);
                self.started = Some((line.start, at));
            }
            // No line awaited, or one that has not started.
            _ => self.started = None,
        }
        if limit.is_zero() {
            return None;
        }
        self.started.map(|(_, at)| at + limit)
    }

    /// The error once the deadline passed.
    pub(crate) fn timeout(core: &Client, limit: Duration) -> Error {
        Error::LineTimeout {
            after: limit,
            received: core.pending_line().map_or(0, |line| line.received),
        }
    }
}

/// The error for a session whose transport failed earlier (a socket error, a timeout,
/// a failed TLS handshake): the connection cannot be trusted to be in step any more.
fn broken() -> crate::Error {
    crate::Error::Io {
        during: "using the connection",
        source: io::Error::new(
            io::ErrorKind::NotConnected,
            "it failed earlier and was closed",
        ),
    }
}
