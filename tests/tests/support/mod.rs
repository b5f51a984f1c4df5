//! A tiny blocking driver for `pop3_proto` tasks over std sockets and rustls, for the
//! test kit's own tests (the real adapters live in other crates).

#![allow(dead_code, unreachable_pub)]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use pop3_proto::task::{Action, BodyEvent, Execution, Task};
use pop3_proto::{Client, Config, TlsMode};
use rustls::{ClientConfig, ClientConnection, StreamOwned};
use rustls_pki_types::ServerName;

/// Why a run failed.
#[derive(Debug)]
pub enum Failure {
    /// The POP3 core refused something.
    Proto(pop3_proto::Error),
    /// Socket error.
    Io(io::Error),
}

impl From<pop3_proto::Error> for Failure {
    fn from(e: pop3_proto::Error) -> Self {
        Self::Proto(e)
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

enum Transport {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
    Gone,
}

/// A client connection: the sans-IO client and its transport.
pub struct Conn {
    pub client: Client,
    transport: Transport,
    tls: Arc<ClientConfig>,
}

fn tcp(addr: SocketAddr) -> io::Result<TcpStream> {
    let stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    stream.set_write_timeout(Some(Duration::from_secs(20)))?;
    Ok(stream)
}

fn handshake(
    mut tcp: TcpStream,
    tls: &Arc<ClientConfig>,
) -> io::Result<StreamOwned<ClientConnection, TcpStream>> {
    let name = ServerName::try_from("localhost").map_err(io::Error::other)?;
    let mut conn = ClientConnection::new(Arc::clone(tls), name).map_err(io::Error::other)?;
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp)?;
    }
    Ok(StreamOwned::new(conn, tcp))
}

impl Conn {
    /// A plaintext connection: no credentials without `allow_plaintext`.
    pub fn plain(addr: SocketAddr, tls: Arc<ClientConfig>) -> io::Result<Self> {
        let config = Config::new().tls(TlsMode::Plain);
        Self::plain_with(addr, tls, config)
    }

    /// A plaintext connection that logins upgrade with a required STLS.
    pub fn stls(addr: SocketAddr, tls: Arc<ClientConfig>) -> io::Result<Self> {
        let config = Config::new().tls(TlsMode::StartTls);
        Self::plain_with(addr, tls, config)
    }

    /// A plaintext connection with a client configuration.
    pub fn plain_with(
        addr: SocketAddr,
        tls: Arc<ClientConfig>,
        config: Config,
    ) -> io::Result<Self> {
        Ok(Self {
            client: Client::new(config),
            transport: Transport::Plain(tcp(addr)?),
            tls,
        })
    }

    /// An implicit-TLS connection; the handshake is done here (and fails here).
    pub fn implicit(addr: SocketAddr, tls: Arc<ClientConfig>) -> io::Result<Self> {
        Self::implicit_with(addr, tls, Config::new())
    }

    /// An implicit-TLS connection with a client configuration (its TLS mode is set to
    /// implicit).
    pub fn implicit_with(
        addr: SocketAddr,
        tls: Arc<ClientConfig>,
        config: Config,
    ) -> io::Result<Self> {
        let stream = handshake(tcp(addr)?, &tls)?;
        Ok(Self {
            client: Client::new(config.tls(TlsMode::Implicit)),
            transport: Transport::Tls(Box::new(stream)),
            tls,
        })
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let result = match &mut self.transport {
            Transport::Plain(s) => s.read(buf),
            Transport::Tls(s) => s.read(buf),
            Transport::Gone => Ok(0),
        };
        match result {
            // A peer that vanishes without close_notify, or resets: closed all the same.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::UnexpectedEof
                        | io::ErrorKind::ConnectionReset
                        | io::ErrorKind::ConnectionAborted
                ) =>
            {
                Ok(0)
            }
            other => other,
        }
    }

    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match &mut self.transport {
            Transport::Plain(s) => s.write_all(bytes),
            Transport::Tls(s) => {
                s.write_all(bytes)?;
                s.flush()
            }
            Transport::Gone => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    fn start_tls(&mut self) -> io::Result<()> {
        let Transport::Plain(tcp) = std::mem::replace(&mut self.transport, Transport::Gone) else {
            return Err(io::Error::other("STLS on a TLS connection"));
        };
        self.transport = Transport::Tls(Box::new(handshake(tcp, &self.tls)?));
        Ok(())
    }

    /// Whether the transport is TLS.
    pub fn is_tls(&self) -> bool {
        matches!(self.transport, Transport::Tls(_))
    }

    /// Runs a task, handing every body event to `on_body`: the one pump loop.
    fn run_with<T: Task>(
        &mut self,
        task: T,
        mut on_body: impl FnMut(BodyEvent),
    ) -> Result<T::Output, Failure> {
        let mut exec = Execution::new(task);
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match exec.step(&mut self.client)? {
                Action::Write(bytes) => self.write_all(&bytes)?,
                Action::Read => {
                    let n = self.read(&mut buf)?;
                    if n == 0 {
                        return Err(Failure::Proto(self.client.connection_closed()));
                    }
                    self.client.enqueue_input(&buf[..n]);
                }
                Action::StartTls => {
                    self.start_tls()?;
                    self.client.tls_established()?;
                }
                Action::Body(event) => on_body(event),
                Action::Done(output) => return Ok(output),
                _ => return Err(Failure::Proto(pop3_proto::Error::Internal("new action"))),
            }
        }
    }

    /// Runs a task, appending message bodies to `sink`.
    pub fn run_into<T: Task>(&mut self, task: T, sink: &mut Vec<u8>) -> Result<T::Output, Failure> {
        self.run_with(task, |event| {
            if let BodyEvent::Data { chunk, .. } = event {
                sink.extend_from_slice(&chunk);
            }
        })
    }

    /// Runs a task, discarding bodies.
    pub fn run<T: Task>(&mut self, task: T) -> Result<T::Output, Failure> {
        self.run_into(task, &mut Vec::new())
    }

    /// Runs a batch of RETR/TOP, returning each message's body separately (in order).
    pub fn fetch_each<T: Task>(&mut self, task: T) -> Result<(T::Output, Vec<Vec<u8>>), Failure> {
        let mut bodies: Vec<Vec<u8>> = Vec::new();
        let output = self.run_with(task, |event| match event {
            BodyEvent::Start { .. } => bodies.push(Vec::new()),
            BodyEvent::Data { chunk, .. } => {
                if let Some(body) = bodies.last_mut() {
                    body.extend_from_slice(&chunk);
                }
            }
            _ => {}
        })?;
        Ok((output, bodies))
    }
}
