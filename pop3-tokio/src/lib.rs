#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use pop3_session::transport::{Connection, Runtime, RuntimeWrite, Socket};
pub use pop3_session::*;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

/// The tokio runtime, for [`AsyncSession::Runtime`]: its timer, and its `AsyncWrite`
/// as the writers `retr_to` takes.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tokio;

impl Runtime for Tokio {
    fn sleep(duration: Duration) -> impl Future<Output = ()> + Send + 'static {
        tokio::time::sleep(duration)
    }
}

impl<W: AsyncWrite + Unpin + Send + ?Sized> RuntimeWrite<W> for Tokio {
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

/// A tokio stream as the pump's socket.
#[derive(Debug)]
struct TokioSocket<S>(S);

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Socket for TokioSocket<S> {
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let mut buf = ReadBuf::new(buf);
        ready!(Pin::new(&mut self.0).poll_read(cx, &mut buf))?;
        Poll::Ready(Ok(buf.filled().len()))
    }

    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
}

/// A POP3 session over a tokio connection (TCP by default).
#[derive(Debug)]
pub struct Client<S = TcpStream> {
    conn: Connection<TokioSocket<S>, Tokio>,
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
    /// Runs a session over a connected stream (any tokio `AsyncRead + AsyncWrite`): the
    /// TLS handshake when the options say implicit TLS, then the greeting.
    pub async fn connect_with(stream: S, options: &ConnectOptions) -> Result<Self, Error> {
        Ok(Self {
            conn: Connection::open(TokioSocket(stream), options).await?,
        })
    }

    /// Runs a session over a stream you already secured (your own TLS, with client
    /// certificates, say): no handshake here, and credentials may be sent at once.
    pub async fn connect_secured(stream: S, options: &ConnectOptions) -> Result<Self, Error> {
        Ok(Self {
            conn: Connection::open_secured(TokioSocket(stream), options).await?,
        })
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> AsyncSession for Client<S> {
    type Runtime = Tokio;

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

/// Opens the TCP connection.
async fn dial(options: &ConnectOptions) -> Result<TcpStream, Error> {
    let limit = options.timeouts().connect;
    let connect = TcpStream::connect((options.dial_host(), options.effective_port()));
    let tcp = if limit.is_zero() {
        connect.await
    } else {
        tokio::time::timeout(limit, connect)
            .await
            .map_err(|_| Error::Timeout {
                what: "connecting",
                after: limit,
            })?
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
