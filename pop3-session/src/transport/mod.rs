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
use std::time::Duration;

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
