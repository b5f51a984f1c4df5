#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_io::{AsyncRead, AsyncWrite};
use futures_lite::{AsyncWriteExt, FutureExt};
use pop3_session::transport::{Connection, Runtime, RuntimeWrite, Socket};
pub use pop3_session::*;

/// The futures-io world (async-std, smol, any executor), for
/// [`AsyncSession::Runtime`]: async-io's timer, and futures-io's `AsyncWrite` as the
/// writers `retr_to` takes.
#[derive(Clone, Copy, Debug, Default)]
pub struct FuturesIo;

impl Runtime for FuturesIo {
    async fn sleep(duration: Duration) {
        async_io::Timer::after(duration).await;
    }
}

impl<W: AsyncWrite + Unpin + Send + ?Sized> RuntimeWrite<W> for FuturesIo {
    fn write_all<'a>(
        writer: &'a mut W,
        bytes: &'a [u8],
    ) -> impl Future<Output = io::Result<()>> + Send + 'a {
        writer.write_all(bytes)
    }

    fn flush(writer: &mut W) -> impl Future<Output = io::Result<()>> + Send + '_ {
        writer.flush()
    }
}

/// A futures-io stream as the pump's socket.
#[derive(Debug)]
struct FuturesSocket<S>(S);

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Socket for FuturesSocket<S> {
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }

    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
}

/// A POP3 session over a futures-io connection (async-net TCP by default).
#[derive(Debug)]
pub struct Client<S = async_net::TcpStream> {
    conn: Connection<FuturesSocket<S>, FuturesIo>,
}

impl Client {
    /// Connects over TCP, does the TLS handshake for implicit TLS, and reads the greeting.
    pub async fn connect(options: &ConnectOptions) -> Result<Self, Error> {
        Self::connect_with(dial(options).await?, options).await
    }

    /// A [`Connector`] opening sessions to `options`, each logged in with a copy of
    /// `login` (what `pop3-multi` drives).
    pub fn connector(options: ConnectOptions, login: Login) -> LoginConnector<Self> {
        LoginConnector::new(options, login)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Client<S> {
    /// Runs a session over a connected stream: the TLS handshake when the options say
    /// implicit TLS, then the greeting. `options` still provides the TLS settings and
    /// timeouts.
    pub async fn connect_with(stream: S, options: &ConnectOptions) -> Result<Self, Error> {
        Ok(Self {
            conn: Connection::open(FuturesSocket(stream), options).await?,
        })
    }

    /// Runs a session over a stream you already secured (your own TLS, say): no
    /// handshake here, and credentials may be sent at once.
    pub async fn connect_secured(stream: S, options: &ConnectOptions) -> Result<Self, Error> {
        Ok(Self {
            conn: Connection::open_secured(FuturesSocket(stream), options).await?,
        })
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> AsyncSession for Client<S> {
    type Runtime = FuturesIo;

    fn run<T, K>(
        &mut self,
        task: T,
        sink: &mut K,
    ) -> impl Future<Output = Result<T::Output, Error>> + Send
    where
        T: Task + Send,
        T::Output: Send,
        K: AsyncBodySink + ?Sized,
    {
        self.conn.run(task, sink)
    }

    fn protocol(&self) -> &proto::Client {
        self.conn.protocol()
    }

    fn tls_info(&self) -> Option<TlsInfo> {
        self.conn.tls_info()
    }
}

impl Dial for Client {
    fn dial(options: &ConnectOptions) -> impl Future<Output = Result<Self, Error>> + Send {
        Self::connect(options)
    }
}

/// Opens a TCP connection with async-net (the async-io reactor used by smol and
/// async-std alike).
async fn dial(options: &ConnectOptions) -> Result<async_net::TcpStream, Error> {
    let limit = options.timeouts().connect;
    let connect = async_net::TcpStream::connect((options.dial_host(), options.effective_port()));
    let tcp = if limit.is_zero() {
        connect.await
    } else {
        let timeout = async {
            async_io::Timer::after(limit).await;
            Err(io::ErrorKind::TimedOut.into())
        };
        match connect.or(timeout).await {
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                return Err(Error::Timeout {
                    what: "connecting",
                    after: limit,
                });
            }
            other => other,
        }
    }
    .map_err(|source| Error::Connect {
        address: options.address(),
        source,
    })?;
    // Each batch of commands must leave at once (no Nagle delay).
    tcp.set_nodelay(true)
        .map_err(|e| Error::io("configuring the socket", e))?;
    Ok(tcp)
}
