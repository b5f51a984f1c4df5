//! One client connection: the socket, TLS when asked, a sans-IO [`Session`], the
//! profile's pacing and the connection's hook.
//!
//! Client lines are handed to the session one at a time, so that every piece of output
//! can be attributed to the line that caused it (which is what hooks need). Answers to
//! the lines of one read are still coalesced into one write.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pop3_proto::server::session::{ServerAction, ServerOptions, Session};
use pop3_proto::{ApopTimestamp, Command};
use rustls::{ServerConnection, StreamOwned};

use crate::hook::{ConnectionInfo, Flow, Intercept, Line, Response};
use crate::profile::Behaviour;
use crate::server::Shared;
use crate::store::{ConnBackend, LoginPolicy};

/// The largest piece of output handled at once, and the threshold to write.
const CHUNK: usize = 64 * 1024;
/// Client bytes without a line end beyond this are handed to the session, which refuses
/// the line and closes: every line is bounded.
const MAX_PARTIAL: usize = 16 * 1024;
/// How long a polite close waits for the client to hang up.
const LINGER: Duration = Duration::from_millis(500);

/// Why a connection ends.
#[derive(Debug)]
enum End {
    /// QUIT, a protocol error or a hook that closes politely.
    Close,
    /// A hook that cuts the connection.
    Abort,
    /// The client went away, timed out, or I/O failed.
    Gone,
}

impl From<io::Error> for End {
    fn from(_: io::Error) -> Self {
        Self::Gone
    }
}

impl End {
    /// The end a hook asked for; `None` to carry on.
    fn of(flow: Flow) -> Option<Self> {
        match flow {
            Flow::Continue => None,
            Flow::Close => Some(Self::Close),
            Flow::Abort => Some(Self::Abort),
        }
    }
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ServerConnection, TcpStream>>),
    Closed,
}

impl Stream {
    fn tcp(&self) -> Option<&TcpStream> {
        match self {
            Self::Plain(tcp) => Some(tcp),
            Self::Tls(tls) => Some(&tls.sock),
            Self::Closed => None,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Plain(s) => s.read(buf),
            Self::Tls(s) => s.read(buf),
            Self::Closed => Ok(0),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Plain(s) => s.write(buf),
            Self::Tls(s) => s.write(buf),
            Self::Closed => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Plain(s) => s.flush(),
            Self::Tls(s) => s.flush(),
            Self::Closed => Ok(()),
        }
    }
}

/// Does the TLS server handshake on a blocking socket.
fn handshake(
    mut tcp: TcpStream,
    config: Arc<rustls::ServerConfig>,
) -> io::Result<StreamOwned<ServerConnection, TcpStream>> {
    let mut conn = ServerConnection::new(config).map_err(io::Error::other)?;
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp)?;
    }
    Ok(StreamOwned::new(conn, tcp))
}

/// Shuts a socket down when dropped: the server keeps a duplicate of every socket (to
/// stop sessions on drop), so closing our handle alone would not end the connection.
struct Hangup(Option<TcpStream>);

impl Drop for Hangup {
    fn drop(&mut self) {
        if let Some(tcp) = &self.0 {
            let _ = tcp.shutdown(Shutdown::Both);
        }
    }
}

/// Serves one accepted connection until it ends. Never panics on client input.
pub(crate) fn serve(shared: &Arc<Shared>, tcp: TcpStream, implicit_tls: bool, number: usize) {
    let _hangup = Hangup(tcp.try_clone().ok());
    let idle = shared.settings.idle_timeout;
    // Best effort: a socket that refuses options still works.
    let _ = tcp.set_nodelay(true);
    let _ = tcp.set_read_timeout(Some(idle));
    let _ = tcp.set_write_timeout(Some(idle));
    let info = ConnectionInfo {
        number,
        peer: tcp.peer_addr().ok(),
        implicit_tls,
    };
    let stream = if implicit_tls {
        let Some(config) = shared.tls.clone() else {
            return;
        };
        match handshake(tcp, config) {
            Ok(tls) => Stream::Tls(Box::new(tls)),
            // A client that refuses our certificate or sends garbage: just end.
            Err(_) => return,
        }
    } else {
        Stream::Plain(tcp)
    };
    let mut conn = Connection::new(Arc::clone(shared), stream, &info);
    let end = conn.run().err().unwrap_or(End::Gone);
    conn.session.connection_closed();
    conn.close(&end);
}

/// Where the output for a line comes from.
enum Source {
    /// The session.
    Session,
    /// A hook's [`Intercept::Reply`].
    Reply(Box<dyn Read + Send>),
}

/// The next step of an answer.
enum Next {
    Chunk(Vec<u8>),
    /// The answer is complete; read more input.
    Done,
    /// Do the TLS handshake (STLS was accepted).
    StartTls,
    /// Close the connection.
    Close,
}

struct Connection {
    shared: Arc<Shared>,
    stream: Stream,
    session: Session<ConnBackend>,
    behaviour: Behaviour,
    /// Output waiting for the next write.
    out: Vec<u8>,
    /// Client bytes not yet handled.
    partial: Vec<u8>,
    /// Client lines handled.
    lines: usize,
}

impl Connection {
    fn new(shared: Arc<Shared>, stream: Stream, info: &ConnectionInfo) -> Self {
        let settings = &shared.settings;
        let behaviour = settings.behaviour;
        let apop = settings
            .apop
            .then(|| {
                let nanos = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.subsec_nanos());
                ApopTimestamp::new(&format!(
                    "<{}.{}.{nanos}@{}>",
                    std::process::id(),
                    info.number,
                    settings.hostname
                ))
            })
            .flatten();
        let options = ServerOptions {
            greeting: settings.greeting.clone(),
            apop,
            user_pass: true,
            sasl: settings.sasl.clone(),
            stls: shared.tls.is_some(),
            pipelining: behaviour.pipelining,
            capa: behaviour.capa,
            lf_only: behaviour.lf_only,
            scram_iterations: 4096,
            utf8: behaviour.utf8,
            login_delay: behaviour.login_delay_seconds(),
        };
        let policy = LoginPolicy {
            lock_session: behaviour.lock_session,
            login_delay: behaviour.login_delay,
        };
        let hook = (settings.hook)(info);
        let backend = ConnBackend::new(
            shared.store.clone(),
            &settings.user,
            &settings.password,
            policy,
            hook,
        );
        let mut session = Session::new(backend, options);
        if info.implicit_tls {
            session.set_implicit_tls();
        }
        Self {
            shared,
            stream,
            session,
            behaviour,
            out: Vec::new(),
            partial: Vec::new(),
            lines: 0,
        }
    }

    /// Runs the session; returns how it ended (always as `Err`).
    fn run(&mut self) -> Result<(), End> {
        self.respond(None, Source::Session, true)?;
        self.flush()?;
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match self.stream.read(&mut buf) {
                Ok(0) => return Err(End::Gone),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return Err(End::Gone),
            };
            self.shared.count_read(n);
            self.partial.extend_from_slice(&buf[..n]);
            let flow = self.session.backend_mut().hook().0.on_read(&buf[..n]);
            if let Some(end) = End::of(flow) {
                let complete = memchr::memrchr(b'\n', &self.partial).map_or(0, |i| i + 1);
                let partial = std::mem::take(&mut self.partial);
                self.record_all(&partial[..complete]);
                self.flush()?;
                return Err(end);
            }
            self.handle_lines()?;
            if self.partial.len() > MAX_PARTIAL {
                // An endless line: let the session refuse it.
                let line = std::mem::take(&mut self.partial);
                self.record(&line);
                self.session.receive(&line);
                self.respond(None, Source::Session, false)?;
            }
            self.flush()?;
        }
    }

    /// Handles every complete line received.
    fn handle_lines(&mut self) -> Result<(), End> {
        let mut start = 0;
        while let Some(i) = memchr::memchr(b'\n', &self.partial[start..]) {
            let end = start + i + 1;
            let line = self.partial[start..end].to_vec();
            start = end;
            self.record(&line);
            if self.handle_line(&line)? {
                // TLS started: what the client sent before it is discarded (RFC 2595
                // §4), as the session itself does; but it was sent.
                let rest = std::mem::take(&mut self.partial);
                self.record_all(&rest[start..]);
                return Ok(());
            }
        }
        self.partial.drain(..start);
        Ok(())
    }

    /// Logs a client line for [`Server::received`](crate::Server::received).
    fn record(&self, line: &[u8]) {
        let text = line.strip_suffix(b"\n").unwrap_or(line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        self.shared
            .log_line(String::from_utf8_lossy(text).into_owned());
    }

    /// Logs every line of `bytes` (the last one may lack its line end).
    fn record_all(&self, bytes: &[u8]) {
        for line in bytes.split_inclusive(|&b| b == b'\n') {
            self.record(line);
        }
    }

    /// Handles one client line (line end included). Returns whether TLS started.
    fn handle_line(&mut self, line: &[u8]) -> Result<bool, End> {
        self.lines += 1;
        let sasl = self.session.in_sasl_exchange();
        let text = line.strip_suffix(b"\n").unwrap_or(line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        let command = if sasl {
            None
        } else {
            Command::parse(text).ok()
        };
        let context = Line {
            text,
            command: command.as_ref(),
            number: self.lines,
            sasl,
            logged_in: self.session.authenticated_user().is_some(),
            tls: self.session.is_tls(),
        };
        let intercept = self.session.backend_mut().hook().0.on_command(&context);
        match intercept {
            Intercept::Execute => {
                self.session.receive(line);
                self.respond(command.as_ref(), Source::Session, false)
            }
            Intercept::Reply(reader) => {
                self.respond(command.as_ref(), Source::Reply(reader), false)
            }
            Intercept::Close => {
                self.flush()?;
                Err(End::Close)
            }
            Intercept::Abort => {
                self.flush()?;
                Err(End::Abort)
            }
        }
    }

    /// The next step of an answer from `source`.
    fn next(&mut self, source: &mut Source) -> Next {
        match source {
            Source::Session => match self.session.progress() {
                ServerAction::Send(bytes) => Next::Chunk(bytes),
                ServerAction::StartTls => Next::StartTls,
                ServerAction::Close => Next::Close,
                ServerAction::NeedInput => Next::Done,
            },
            Source::Reply(reader) => {
                let mut buf = vec![0u8; CHUNK];
                loop {
                    match reader.read(&mut buf) {
                        Ok(0) => return Next::Done,
                        Ok(n) => {
                            buf.truncate(n);
                            return Next::Chunk(buf);
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        // A failing reader ends the answer.
                        Err(_) => return Next::Done,
                    }
                }
            }
        }
    }

    /// Writes the answer from `source` to the line `command` came from (`greeting`: the
    /// greeting), chunk by chunk through the hook, holding one chunk back to know which
    /// is the last. Returns whether TLS started.
    fn respond(
        &mut self,
        command: Option<&Command>,
        mut source: Source,
        greeting: bool,
    ) -> Result<bool, End> {
        let mut pending: Option<Vec<u8>> = None;
        let mut first = true;
        loop {
            let next = self.next(&mut source);
            if let Some(mut chunk) = pending.take() {
                let last = !matches!(next, Next::Chunk(_));
                let tls = self.session.is_tls();
                let flow = {
                    let (hook, snapshot) = self.session.backend_mut().hook();
                    hook.on_response(&mut Response {
                        bytes: &mut chunk,
                        command,
                        greeting,
                        first,
                        last,
                        tls,
                        snapshot,
                    })
                };
                first = false;
                self.queue(chunk)?;
                if let Some(end) = End::of(flow) {
                    self.flush()?;
                    return Err(end);
                }
            }
            match next {
                Next::Chunk(bytes) => pending = Some(bytes),
                Next::Done => return Ok(false),
                Next::StartTls => {
                    self.start_tls()?;
                    return Ok(true);
                }
                Next::Close => {
                    self.flush()?;
                    return Err(End::Close);
                }
            }
        }
    }

    /// Adds output to the next write; writes when a chunk's worth is waiting, and before
    /// a chunk that would make the write larger than that.
    fn queue(&mut self, bytes: Vec<u8>) -> Result<(), End> {
        if !self.out.is_empty() && self.out.len() + bytes.len() > CHUNK {
            self.flush()?;
        }
        if self.out.is_empty() {
            self.out = bytes;
        } else {
            self.out.extend_from_slice(&bytes);
        }
        if self.out.len() >= CHUNK {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes what is pending (the `+OK` to STLS), then does the server handshake.
    fn start_tls(&mut self) -> Result<(), End> {
        self.flush()?;
        let Some(config) = self.shared.tls.clone() else {
            return Err(End::Abort);
        };
        let Stream::Plain(tcp) = std::mem::replace(&mut self.stream, Stream::Closed) else {
            return Err(End::Abort);
        };
        let tls = handshake(tcp, config)?;
        self.stream = Stream::Tls(Box::new(tls));
        self.session.tls_established();
        Ok(())
    }

    /// Writes the pending output (after the profile's delay, in its pieces).
    fn flush(&mut self) -> Result<(), End> {
        if self.out.is_empty() {
            return Ok(());
        }
        if let Some(delay) = self.behaviour.slow {
            std::thread::sleep(delay);
        }
        let out = std::mem::take(&mut self.out);
        match self.behaviour.trickle {
            Some((bytes, pause)) => {
                for piece in out.chunks(bytes) {
                    std::thread::sleep(pause);
                    self.write_raw(piece)?;
                }
                Ok(())
            }
            None => self.write_raw(&out),
        }
    }

    /// Writes bytes to the client.
    fn write_raw(&mut self, data: &[u8]) -> Result<(), End> {
        self.stream.write_all(data)?;
        self.stream.flush()?;
        self.shared.count_write(data.len());
        Ok(())
    }

    /// Ends the connection: politely (`close_notify`, wait for the client to hang up) or
    /// abruptly.
    fn close(&mut self, end: &End) {
        let stream = std::mem::replace(&mut self.stream, Stream::Closed);
        match (end, stream) {
            (End::Close, Stream::Tls(mut tls)) => {
                tls.conn.send_close_notify();
                let _ = tls.flush();
                linger(&tls.sock);
            }
            (End::Close, Stream::Plain(tcp)) => linger(&tcp),
            (_, stream) => {
                if let Some(tcp) = stream.tcp() {
                    let _ = tcp.shutdown(Shutdown::Both);
                }
            }
        }
    }
}

/// Half-closes and waits briefly for the client to close, so that our last response is
/// not destroyed by a reset caused by unread client data.
fn linger(tcp: &TcpStream) {
    let _ = tcp.shutdown(Shutdown::Write);
    let _ = tcp.set_read_timeout(Some(LINGER));
    let mut sink = [0u8; 4096];
    let mut reader = tcp;
    let deadline = std::time::Instant::now() + LINGER;
    while std::time::Instant::now() < deadline {
        match reader.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    let _ = tcp.shutdown(Shutdown::Both);
}
