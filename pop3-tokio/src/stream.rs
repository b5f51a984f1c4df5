//! The socket: tokio TCP with timeouts, TLS from the start or after STLS.

use std::future::Future;
use std::time::Duration;

use pop3_net::{ConnectOptions, Error, TlsMode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// The connection as it is now.
#[derive(Debug)]
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    /// Only while the STLS handshake holds the socket, or after it failed.
    Broken,
}

/// Runs `future` under `limit`, naming the step if it times out.
async fn limited<T>(
    what: &'static str,
    limit: Duration,
    future: impl Future<Output = std::io::Result<T>>,
) -> Result<T, Error> {
    match tokio::time::timeout(limit, future).await {
        Ok(result) => result.map_err(|e| Error::from_io(what, e, limit)),
        Err(_) => Err(Error::Timeout { what, after: limit }),
    }
}

impl Stream {
    pub(crate) async fn connect(options: &ConnectOptions) -> Result<Self, Error> {
        let timeouts = options.timeout_settings();
        let host = options.host().trim_start_matches('[').trim_end_matches(']');
        let address = format!("{}:{}", options.host(), options.effective_port());
        let tcp = match tokio::time::timeout(
            timeouts.connect,
            TcpStream::connect((host, options.effective_port())),
        )
        .await
        {
            Ok(Ok(tcp)) => tcp,
            Ok(Err(source)) => return Err(Error::Connect { address, source }),
            Err(_) => {
                return Err(Error::Timeout {
                    what: "connecting",
                    after: timeouts.connect,
                });
            }
        };
        // One write per batch of commands must leave at once (no Nagle delay).
        tcp.set_nodelay(true)
            .map_err(|e| Error::from_io("configuring the socket", e, timeouts.io))?;
        let stream = Self::Plain(tcp);
        if options.tls_mode() == TlsMode::Implicit {
            stream.into_tls(options).await
        } else {
            Ok(stream)
        }
    }

    async fn into_tls(self, options: &ConnectOptions) -> Result<Self, Error> {
        let Self::Plain(tcp) = self else {
            return Err(Error::Config(
                "TLS requested on a connection that is not plain TCP".into(),
            ));
        };
        let connector = TlsConnector::from(options.rustls_config()?);
        let handshake = connector.connect(options.server_name()?, tcp);
        let tls = limited(
            "the TLS handshake",
            options.timeout_settings().handshake,
            handshake,
        )
        .await?;
        Ok(Self::Tls(Box::new(tls)))
    }

    pub(crate) async fn start_tls(&mut self, options: &ConnectOptions) -> Result<(), Error> {
        *self = std::mem::replace(self, Self::Broken)
            .into_tls(options)
            .await?;
        Ok(())
    }

    /// The open connection, plain or TLS.
    fn duplex(&mut self) -> Result<&mut dyn Duplex, Error> {
        match self {
            Self::Plain(plain) => Ok(plain),
            Self::Tls(tls) => Ok(tls.as_mut()),
            Self::Broken => Err(Error::Config("the connection failed earlier".into())),
        }
    }

    /// Writes everything and flushes: one batch of commands, one TCP write.
    pub(crate) async fn send(
        &mut self,
        bytes: &[u8],
        options: &ConnectOptions,
    ) -> Result<(), Error> {
        let io = self.duplex()?;
        let write = async {
            io.write_all(bytes).await?;
            io.flush().await
        };
        limited(
            "writing to the server",
            options.timeout_settings().io,
            write,
        )
        .await
    }

    /// Reads what is available; 0 means the server closed.
    pub(crate) async fn receive(
        &mut self,
        buf: &mut [u8],
        options: &ConnectOptions,
    ) -> Result<usize, Error> {
        let io = self.duplex()?;
        match limited(
            "reading from the server",
            options.timeout_settings().io,
            io.read(buf),
        )
        .await
        {
            // A peer that closes without close_notify: the core knows whether a response
            // was complete, so report it as a close.
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::UnexpectedEof => {
                Ok(0)
            }
            other => other,
        }
    }
}

/// A connection of either kind, as one object.
trait Duplex: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}

impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Duplex for T {}
