//! An async POP3 client on the futures-io traits, for async-std, smol and any executor:
//! futures-rustls around the `pop3-proto` core, TCP and timers from async-io.
//!
//! ```no_run
//! use pop3_futures::{Client, ConnectOptions, Login};
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let options = ConnectOptions::new("pop.example.com"); // implicit TLS, port 995
//! let mut client = Client::connect(&options).await?;
//! client.login(Login::new("alice", "secret")).await?;
//! for item in client.uidl().await? {
//!     let mut message = Vec::new(); // any futures-io AsyncWrite: a file, a socket...
//!     client.retr_to(item.msg, &mut message).await?;
//! }
//! client.quit().await?;
//! # Ok(())
//! # }
//! ```
//!
//! Bring your own connected stream (any `AsyncRead + AsyncWrite`) with
//! [`Client::connect_with`]. The adapter only moves bytes: every POP3 decision is made by
//! `pop3-proto`, and the same API exists in `pop3-sync` and `pop3-tokio` (its methods are
//! written once, in `pop3-net`).
#![forbid(unsafe_code)]

mod stream;

use futures_io::{AsyncRead, AsyncWrite};
pub use pop3_net::{
    AsyncBodySink, ConnectOptions, Discard, Error, ErrorKind, MessageBuffer, Timeouts, TlsMode,
};
pub use pop3_proto::task::{AuthMethod, BodyEvent, Login, LoginOutcome, Outcome, QuitOutcome};
pub use pop3_proto::{Capabilities, Pipelining};

use stream::Stream;

/// Bytes read from the socket at a time.
const READ_SIZE: usize = 64 * 1024;

/// A POP3 session over a futures-io connection (async-net TCP by default).
#[derive(Debug)]
pub struct Client<S = async_net::TcpStream> {
    stream: Stream<S>,
    core: pop3_proto::Client,
    options: ConnectOptions,
    buffer: Box<[u8]>,
}

impl Client {
    /// Connects over TCP, does the TLS handshake for implicit TLS, and reads the greeting.
    pub async fn connect(options: &ConnectOptions) -> Result<Self, Error> {
        let tcp = stream::tcp(options).await?;
        Self::connect_with(tcp, options).await
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Client<S> {
    /// Runs a session over an already connected stream: TLS handshake for implicit TLS,
    /// then the greeting. `options` still provides the TLS settings and timeouts.
    pub async fn connect_with(stream: S, options: &ConnectOptions) -> Result<Self, Error> {
        let mut client = Self {
            stream: Stream::open(stream, options).await?,
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

pop3_net::async_write_sink!(futures_io::AsyncWrite, futures_lite::AsyncWriteExt);
