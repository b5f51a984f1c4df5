#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::fd::AsFd;

use pop3_session::transport::BlockingConnection;
pub use pop3_session::*;

/// A POP3 session over a blocking connection (TCP by default).
#[derive(Debug)]
pub struct Client<S = TcpStream> {
    conn: BlockingConnection<S>,
}

impl Client {
    /// Connects over TCP, does the TLS handshake for implicit TLS, and reads the greeting.
    pub fn connect(options: &ConnectOptions) -> Result<Self, Error> {
        Self::connect_with(dial(options)?, options)
    }

    /// A [`Connector`] opening sessions to `options`, each logged in with a copy of
    /// `login` (what `pop3-multi` drives).
    pub fn connector(options: ConnectOptions, login: Login) -> LoginConnector<Self> {
        LoginConnector::new(options, login)
    }
}

impl<S: Read + Write + AsFd> Client<S> {
    /// Runs a session over a connected stream (a `TcpStream` you dialled yourself, a
    /// `UnixStream`...): the TLS handshake when the options say implicit TLS, then the
    /// greeting. The stream is switched to non-blocking mode.
    pub fn connect_with(stream: S, options: &ConnectOptions) -> Result<Self, Error> {
        Ok(Self {
            conn: BlockingConnection::open(stream, options)?,
        })
    }

    /// Runs a session over a stream you already secured (a tunnel, say): no handshake,
    /// and credentials may be sent at once.
    pub fn connect_secured(stream: S, options: &ConnectOptions) -> Result<Self, Error> {
        Ok(Self {
            conn: BlockingConnection::open_secured(stream, options)?,
        })
    }
}

impl<S: Read + Write + AsFd> BlockingSession for Client<S> {
    fn run<T: Task, K: BodySink + ?Sized>(
        &mut self,
        task: T,
        sink: &mut K,
    ) -> Result<T::Output, Error> {
        self.conn.run(task, sink)
    }

    fn protocol(&self) -> &proto::Client {
        self.conn.protocol()
    }

    fn tls_info(&self) -> Option<TlsInfo> {
        self.conn.tls_info()
    }
}

impl BlockingDial for Client {
    fn dial(options: &ConnectOptions) -> Result<Self, Error> {
        Self::connect(options)
    }
}

/// Opens the TCP connection, trying every address the host resolves to.
fn dial(options: &ConnectOptions) -> Result<TcpStream, Error> {
    let timeout = options.timeouts().connect;
    let connect_error = |source| Error::Connect {
        address: options.address(),
        source,
    };
    let mut last = None;
    for addr in (options.dial_host(), options.effective_port())
        .to_socket_addrs()
        .map_err(connect_error)?
    {
        let attempt = if timeout.is_zero() {
            TcpStream::connect(addr)
        } else {
            TcpStream::connect_timeout(&addr, timeout)
        };
        match attempt {
            Ok(tcp) => {
                // Each batch of commands must leave at once (no Nagle delay).
                tcp.set_nodelay(true)
                    .map_err(|e| Error::io("configuring the socket", e))?;
                return Ok(tcp);
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                return Err(Error::Timeout {
                    what: "connecting",
                    after: timeout,
                });
            }
            Err(e) => last = Some(e),
        }
    }
    Err(connect_error(
        last.unwrap_or_else(|| std::io::ErrorKind::NotFound.into()),
    ))
}
