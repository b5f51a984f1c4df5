//! An async POP3 client for tokio: `tokio::net` and tokio-rustls around the `pop3-proto`
//! core.
//!
//! ```no_run
//! use pop3_tokio::{Client, ConnectOptions, Login};
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let options = ConnectOptions::new("pop.example.com"); // implicit TLS, port 995
//! let mut client = Client::connect(&options).await?;
//! client.login(Login::new("alice", "secret")).await?;
//! for item in client.uidl().await? {
//!     let mut file = tokio::fs::File::create(format!("{}.eml", item.uid)).await?;
//!     client.retr_to(item.msg, &mut file).await?; // streamed, never held in memory
//! }
//! client.quit().await?;
//! # Ok(())
//! # }
//! ```
//!
//! The adapter only moves bytes: every POP3 decision is made by `pop3-proto`, and the
//! same API exists in `pop3-sync` and `pop3-futures` (its methods are written once, in
//! `pop3-net`). Every future is `Send`, so sessions can be spawned.
#![forbid(unsafe_code)]

mod stream;

pub use pop3_net::{
    AsyncBodySink, ConnectOptions, Discard, Error, ErrorKind, MessageBuffer, Timeouts, TlsMode,
};
pub use pop3_proto::task::{AuthMethod, BodyEvent, Login, LoginOutcome, Outcome, QuitOutcome};
pub use pop3_proto::{Capabilities, Pipelining};
use tokio::io::AsyncWrite;

use stream::Stream;

/// Bytes read from the socket at a time.
const READ_SIZE: usize = 64 * 1024;

/// A POP3 session over a tokio connection.
#[derive(Debug)]
pub struct Client {
    stream: Stream,
    core: pop3_proto::Client,
    options: ConnectOptions,
    buffer: Box<[u8]>,
}

impl Client {
    /// Connects, does the TLS handshake for implicit TLS, and reads the greeting.
    pub async fn connect(options: &ConnectOptions) -> Result<Self, Error> {
        let mut client = Self {
            stream: Stream::connect(options).await?,
            core: pop3_proto::Client::new(options.client_config()),
            options: options.clone(),
            buffer: vec![0; READ_SIZE].into_boxed_slice(),
        };
        client.run(pop3_proto::task::Greet, &mut Discard).await?;
        Ok(client)
    }

    pop3_net::client_methods! {
        asyncness: [async],
        await: [.await],
        writer: [AsyncWrite + Unpin + Send],
        sink: [AsyncBodySink],
    }
}

pop3_net::async_write_sink!(tokio::io::AsyncWrite, tokio::io::AsyncWriteExt);

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: T) {}

    /// Sessions can be spawned on a multi-threaded runtime: every future is `Send`.
    /// (The future is built, never polled.)
    #[test]
    fn futures_are_send() {
        let options = ConnectOptions::new("127.0.0.1");
        assert_send(async move {
            let mut client = Client::connect(&options).await?;
            client.login(Login::new("alice", "secret")).await?;
            client.retr_to(1, &mut Vec::new()).await?;
            client
                .retr_many(&[1, 2], &mut MessageBuffer::default())
                .await?;
            client
                .top_many(&[1, 2], 0, &mut MessageBuffer::default())
                .await?;
            client.quit().await?;
            Ok::<(), Error>(())
        });
    }
}
