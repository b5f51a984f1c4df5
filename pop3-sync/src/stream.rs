//! The socket: TCP with timeouts, TLS from the start or after STLS.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};

use pop3_net::{ConnectOptions, Error, TlsMode};
use rustls::{ClientConnection, StreamOwned};

/// The connection as it is now.
#[derive(Debug)]
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
    /// Only while the STLS handshake holds the socket, or after it failed.
    Broken,
}

impl Stream {
    pub(crate) fn connect(options: &ConnectOptions) -> Result<Self, Error> {
        let timeouts = options.timeout_settings();
        let address = format!("{}:{}", options.host(), options.effective_port());
        let connect_error = |source| Error::Connect {
            address: address.clone(),
            source,
        };
        let host = options.host().trim_start_matches('[').trim_end_matches(']');
        let mut last = None;
        let candidates = (host, options.effective_port())
            .to_socket_addrs()
            .map_err(connect_error)?;
        let tcp = candidates
            .into_iter()
            .find_map(
                |addr| match TcpStream::connect_timeout(&addr, timeouts.connect) {
                    Ok(tcp) => Some(tcp),
                    Err(e) => {
                        last = Some(e);
                        None
                    }
                },
            )
            .ok_or_else(|| {
                connect_error(last.unwrap_or_else(|| std::io::ErrorKind::NotFound.into()))
            })?;
        // One write per batch of commands must leave at once (no Nagle delay).
        let configure = |e| Error::from_io("configuring the socket", e, timeouts.io);
        tcp.set_nodelay(true).map_err(configure)?;
        set_timeouts(&tcp, timeouts.io).map_err(configure)?;
        let stream = Self::Plain(tcp);
        if options.tls_mode() == TlsMode::Implicit {
            stream.into_tls(options)
        } else {
            Ok(stream)
        }
    }

    fn into_tls(self, options: &ConnectOptions) -> Result<Self, Error> {
        let Self::Plain(mut tcp) = self else {
            return Err(Error::Config(
                "TLS requested on a connection that is not plain TCP".into(),
            ));
        };
        let timeouts = options.timeout_settings();
        let during = "the TLS handshake";
        let io = |e| Error::from_io(during, e, timeouts.handshake);
        let mut conn = ClientConnection::new(options.rustls_config()?, options.server_name()?)
            .map_err(Error::Tls)?;
        set_timeouts(&tcp, timeouts.handshake).map_err(io)?;
        while conn.is_handshaking() {
            conn.complete_io(&mut tcp).map_err(io)?;
        }
        set_timeouts(&tcp, timeouts.io).map_err(io)?;
        Ok(Self::Tls(Box::new(StreamOwned::new(conn, tcp))))
    }

    pub(crate) fn start_tls(&mut self, options: &ConnectOptions) -> Result<(), Error> {
        *self = std::mem::replace(self, Self::Broken).into_tls(options)?;
        Ok(())
    }

    /// Writes everything and flushes: one batch of commands, one TCP write.
    pub(crate) fn send(&mut self, bytes: &[u8], options: &ConnectOptions) -> Result<(), Error> {
        let io = |e| Error::from_io("writing to the server", e, options.timeout_settings().io);
        match self {
            Self::Plain(tcp) => tcp.write_all(bytes).map_err(io),
            Self::Tls(tls) => tls.write_all(bytes).and_then(|()| tls.flush()).map_err(io),
            Self::Broken => Err(Error::Config("the connection failed earlier".into())),
        }
    }

    /// Reads what is available; 0 means the server closed.
    pub(crate) fn receive(
        &mut self,
        buf: &mut [u8],
        options: &ConnectOptions,
    ) -> Result<usize, Error> {
        let io = |e| Error::from_io("reading from the server", e, options.timeout_settings().io);
        match self {
            Self::Plain(tcp) => tcp.read(buf).map_err(io),
            Self::Tls(tls) => match tls.read(buf) {
                // A peer that closes without close_notify: a truncation the core detects
                // (it knows whether a response was complete).
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(0),
                other => other.map_err(io),
            },
            Self::Broken => Err(Error::Config("the connection failed earlier".into())),
        }
    }
}

fn set_timeouts(tcp: &TcpStream, timeout: std::time::Duration) -> std::io::Result<()> {
    let timeout = (!timeout.is_zero()).then_some(timeout);
    tcp.set_read_timeout(timeout)?;
    tcp.set_write_timeout(timeout)
}
