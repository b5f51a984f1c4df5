//! [`Server`] and its [`ServerBuilder`]: listeners, settings, counters.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pop3_proto::sasl::MechanismKind;
use pop3_proto::{ApopTimestamp, Status};
use rustls::ServerConfig;

use crate::Error;
use crate::connection;
use crate::hook::{ConnectionHook, ConnectionInfo};
use crate::profile::{Behaviour, Profile};
use crate::store::{Maildir, Maildrop, Store, lock};
use crate::tls::{self, Certificates};

/// The default user name.
pub const DEFAULT_USER: &str = "alice";
/// The default password.
pub const DEFAULT_PASSWORD: &str = "secret";

/// Makes the hook of each new connection.
pub(crate) type HookFactory = Arc<dyn Fn(&ConnectionInfo) -> Box<dyn ConnectionHook> + Send + Sync>;

/// A hook that changes nothing.
struct NoHook;

impl ConnectionHook for NoHook {}

/// What every connection of a server is configured with.
pub(crate) struct Settings {
    pub(crate) user: String,
    pub(crate) password: String,
    pub(crate) behaviour: Behaviour,
    pub(crate) sasl: Vec<MechanismKind>,
    pub(crate) apop: bool,
    pub(crate) greeting: String,
    pub(crate) hostname: String,
    pub(crate) idle_timeout: Duration,
    pub(crate) hook: HookFactory,
}

/// State shared by the listeners, the connections and the [`Server`] handle.
pub(crate) struct Shared {
    pub(crate) settings: Settings,
    pub(crate) store: Store,
    pub(crate) tls: Option<Arc<ServerConfig>>,
    received: Mutex<Vec<String>>,
    connections: AtomicUsize,
    bytes_sent: AtomicU64,
    bytes_received: AtomicU64,
    largest_write: AtomicUsize,
    shutdown: AtomicBool,
    /// Live connections: a handle on each socket (to shut it down) and its thread.
    live: Mutex<Vec<(TcpStream, JoinHandle<()>)>>,
}

impl Shared {
    pub(crate) fn log_line(&self, line: String) {
        lock(&self.received).push(line);
    }

    pub(crate) fn count_write(&self, len: usize) {
        self.bytes_sent.fetch_add(len as u64, Ordering::Relaxed);
        self.largest_write.fetch_max(len, Ordering::Relaxed);
    }

    pub(crate) fn count_read(&self, len: usize) {
        self.bytes_received.fetch_add(len as u64, Ordering::Relaxed);
    }
}

/// Which store the builder was given.
#[derive(Debug)]
enum StoreChoice {
    Memory(Maildrop),
    Maildir(Maildir),
}

/// Configures a [`Server`]; see [`Server::builder`].
#[must_use]
pub struct ServerBuilder {
    user: String,
    password: String,
    store: StoreChoice,
    messages: Vec<(Option<String>, Vec<u8>)>,
    profiles: Vec<Profile>,
    tls: bool,
    identity: Option<(String, String)>,
    sasl: Vec<MechanismKind>,
    apop: bool,
    greeting: String,
    hostname: String,
    idle_timeout: Duration,
    listen: SocketAddr,
    listen_tls: SocketAddr,
    hook: Option<HookFactory>,
}

impl std::fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("user", &self.user)
            .field("store", &self.store)
            .field("messages", &self.messages.len())
            .field("profiles", &self.profiles)
            .field("tls", &self.tls)
            .field("listen", &self.listen)
            .field("listen_tls", &self.listen_tls)
            .finish_non_exhaustive()
    }
}

impl Default for ServerBuilder {
    fn default() -> Self {
        let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        Self {
            user: DEFAULT_USER.into(),
            password: DEFAULT_PASSWORD.into(),
            store: StoreChoice::Memory(Maildrop::new()),
            messages: Vec::new(),
            profiles: Vec::new(),
            tls: true,
            identity: None,
            sasl: vec![
                MechanismKind::Plain,
                MechanismKind::Login,
                MechanismKind::CramMd5,
                MechanismKind::ScramSha256,
            ],
            apop: true,
            greeting: "POP3 server ready.".into(),
            hostname: "pop3-server".into(),
            idle_timeout: Duration::from_secs(60),
            listen: loopback,
            listen_tls: loopback,
            hook: None,
        }
    }
}

impl ServerBuilder {
    /// The one user and their password (default [`DEFAULT_USER`] /
    /// [`DEFAULT_PASSWORD`]). The password is also the token for XOAUTH2 and
    /// OAUTHBEARER.
    pub fn user(mut self, name: impl Into<String>, password: impl Into<String>) -> Self {
        self.user = name.into();
        self.password = password.into();
        self
    }

    /// Serves this in-memory maildrop (the default is a new, empty one). Keep a clone to
    /// add messages later or to check what QUIT deleted.
    pub fn maildrop(mut self, maildrop: Maildrop) -> Self {
        self.store = StoreChoice::Memory(maildrop);
        self
    }

    /// Serves this Maildir instead of a maildrop in memory.
    pub fn maildir(mut self, maildir: Maildir) -> Self {
        self.store = StoreChoice::Maildir(maildir);
        self
    }

    /// Adds messages to the store when the server starts: in memory with the next
    /// generated UIDs (`uid-000001`, ...), in a Maildir delivered to `new/`. In memory,
    /// give them CRLF line ends.
    pub fn messages<M: Into<Vec<u8>>>(mut self, messages: impl IntoIterator<Item = M>) -> Self {
        self.messages
            .extend(messages.into_iter().map(|data| (None, data.into())));
        self
    }

    /// Adds messages with UIDs of your choice (see [`Maildrop::push_with_uid`] and
    /// [`Maildir::deliver_with_uid`] for what a UID may be; [`start`](Self::start) fails
    /// on others).
    pub fn messages_with_uids<U: Into<String>, M: Into<Vec<u8>>>(
        mut self,
        messages: impl IntoIterator<Item = (U, M)>,
    ) -> Self {
        self.messages.extend(
            messages
                .into_iter()
                .map(|(uid, data)| (Some(uid.into()), data.into())),
        );
        self
    }

    /// Adds a personality (default: [`Profile::DovecotLike`] alone). Profiles combine.
    pub fn profile(mut self, profile: Profile) -> Self {
        self.profiles.push(profile);
        self
    }

    /// With `true` (the default) the plaintext port offers STLS and a second port speaks
    /// implicit TLS. With `false` there is no TLS at all.
    pub fn tls(mut self, enabled: bool) -> Self {
        self.tls = enabled;
        self
    }

    /// Serves this certificate chain and private key (PEM) instead of generating a
    /// certificate. [`Server::ca_pem`] is then `None`: clients must trust what you gave.
    pub fn certificate_pem(
        mut self,
        cert_chain_pem: impl Into<String>,
        key_pem: impl Into<String>,
    ) -> Self {
        self.identity = Some((cert_chain_pem.into(), key_pem.into()));
        self
    }

    /// The SASL mechanisms offered (default PLAIN, LOGIN, CRAM-MD5, SCRAM-SHA-256).
    pub fn sasl(mut self, mechanisms: Vec<MechanismKind>) -> Self {
        self.sasl = mechanisms;
        self
    }

    /// Whether the greeting carries an APOP timestamp (default `true`).
    pub fn apop(mut self, enabled: bool) -> Self {
        self.apop = enabled;
        self
    }

    /// The greeting text (default `POP3 server ready.`; the APOP timestamp follows it).
    pub fn greeting(mut self, text: impl Into<String>) -> Self {
        self.greeting = text.into();
        self
    }

    /// The host name in APOP timestamps, `<...@hostname>` (default `pop3-server`).
    pub fn hostname(mut self, name: impl Into<String>) -> Self {
        self.hostname = name.into();
        self
    }

    /// How long a connection may stay silent before the server drops it (default 60 s).
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Where the plaintext (STLS) port listens (default `127.0.0.1:0`, a free port).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// Where the implicit-TLS port listens (default `127.0.0.1:0`, a free port).
    pub fn listen_tls(mut self, addr: SocketAddr) -> Self {
        self.listen_tls = addr;
        self
    }

    /// Installs a [`ConnectionHook`]: `factory` makes one for each accepted connection.
    /// See the [`hook`](crate::hook) module.
    pub fn connection_hook(
        mut self,
        factory: impl Fn(&ConnectionInfo) -> Box<dyn ConnectionHook> + Send + Sync + 'static,
    ) -> Self {
        self.hook = Some(Arc::new(factory));
        self
    }

    /// Starts the server: adds the messages, generates or loads the certificate, binds
    /// the listeners and spawns their threads.
    pub fn start(self) -> Result<Server, Error> {
        validate(&self.greeting, &self.hostname)?;
        let store = match self.store {
            StoreChoice::Memory(maildrop) => {
                for (uid, data) in self.messages {
                    match uid {
                        Some(uid) => maildrop.push_with_uid(&uid, data)?,
                        None => {
                            maildrop.push(data);
                        }
                    }
                }
                Store::Memory(maildrop)
            }
            StoreChoice::Maildir(maildir) => {
                for (uid, data) in self.messages {
                    match uid {
                        Some(uid) => maildir.deliver_with_uid(&uid, data)?,
                        None => {
                            maildir.deliver(data)?;
                        }
                    }
                }
                Store::Maildir(maildir)
            }
        };
        let (tls, certificates) = if self.tls {
            if let Some((cert, key)) = self.identity {
                (Some(tls::server_config(&cert, &key)?), None)
            } else {
                let certificates = Certificates::generate()?;
                let config = tls::server_config(certificates.cert_pem(), certificates.key_pem())?;
                (Some(config), Some(certificates))
            }
        } else {
            (None, None)
        };
        let bind = |addr: SocketAddr| {
            let listener =
                TcpListener::bind(addr).map_err(|source| Error::Bind { addr, source })?;
            let local = listener
                .local_addr()
                .map_err(|source| Error::Bind { addr, source })?;
            Ok::<_, Error>((listener, local))
        };
        let (plain, addr) = bind(self.listen)?;
        let mut listeners = vec![(plain, false)];
        let mut tls_addr = None;
        if tls.is_some() {
            let (implicit, local) = bind(self.listen_tls)?;
            tls_addr = Some(local);
            listeners.push((implicit, true));
        }
        let shared = Arc::new(Shared {
            settings: Settings {
                user: self.user,
                password: self.password,
                behaviour: Behaviour::of(&self.profiles),
                sasl: self.sasl,
                apop: self.apop,
                greeting: self.greeting,
                hostname: self.hostname,
                idle_timeout: self.idle_timeout,
                hook: self.hook.unwrap_or_else(|| {
                    Arc::new(|_: &ConnectionInfo| -> Box<dyn ConnectionHook> { Box::new(NoHook) })
                }),
            },
            store,
            tls,
            received: Mutex::new(Vec::new()),
            connections: AtomicUsize::new(0),
            bytes_sent: AtomicU64::new(0),
            bytes_received: AtomicU64::new(0),
            largest_write: AtomicUsize::new(0),
            shutdown: AtomicBool::new(false),
            live: Mutex::new(Vec::new()),
        });
        let mut server = Server {
            addr,
            tls_addr,
            certificates,
            shared,
            acceptors: Vec::new(),
        };
        for (listener, implicit_tls) in listeners {
            let shared = Arc::clone(&server.shared);
            let local = listener.local_addr().ok();
            let handle = std::thread::Builder::new()
                .name(format!(
                    "pop3-server-accept-{}",
                    local.map_or(0, |a| a.port())
                ))
                .spawn(move || accept_loop(&shared, &listener, implicit_tls))
                .map_err(Error::Thread)?;
            // Dropping `server` on an error stops the listeners already started.
            server.acceptors.push((local, handle));
        }
        Ok(server)
    }
}

/// Refuses a greeting or host name that would break the greeting line.
fn validate(greeting: &str, hostname: &str) -> Result<(), Error> {
    let mut line = Vec::new();
    if Status::ok(greeting).encode(&mut line).is_err() {
        return Err(Error::InvalidConfig(format!(
            "the greeting {greeting:?} cannot be sent on one line"
        )));
    }
    if ApopTimestamp::new(&format!("<1.1@{hostname}>")).is_none() {
        return Err(Error::InvalidConfig(format!(
            "the host name {hostname:?} cannot be part of an APOP timestamp"
        )));
    }
    Ok(())
}

fn accept_loop(shared: &Arc<Shared>, listener: &TcpListener, implicit_tls: bool) {
    for stream in listener.incoming() {
        if shared.shutdown.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else {
            // E.g. too many open files: wait a little instead of spinning.
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        let number = shared.connections.fetch_add(1, Ordering::SeqCst) + 1;
        let Ok(handle_socket) = stream.try_clone() else {
            continue;
        };
        let conn_shared = Arc::clone(shared);
        let spawned = std::thread::Builder::new()
            .name(format!("pop3-server-conn-{number}"))
            .spawn(move || connection::serve(&conn_shared, stream, implicit_tls, number));
        if let Ok(handle) = spawned {
            let mut live = lock(&shared.live);
            live.retain(|(_, h)| !h.is_finished());
            live.push((handle_socket, handle));
        }
    }
}

/// A POP3 server on its own threads; stops when dropped.
///
/// It listens twice (by default on `127.0.0.1`, on free ports): a plaintext port that
/// offers STLS ([`addr`](Self::addr)) and an implicit-TLS port
/// ([`tls_addr`](Self::tls_addr)). Each connection gets a thread of its own, so the
/// server works beside any async runtime. See the [crate documentation](crate) for an
/// example and [`ServerBuilder`] for the options.
pub struct Server {
    addr: SocketAddr,
    tls_addr: Option<SocketAddr>,
    certificates: Option<Certificates>,
    shared: Arc<Shared>,
    acceptors: Vec<(Option<SocketAddr>, JoinHandle<()>)>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.addr)
            .field("tls_addr", &self.tls_addr)
            .field("user", &self.shared.settings.user)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// A builder with the defaults: user [`DEFAULT_USER`] / [`DEFAULT_PASSWORD`], an
    /// empty maildrop in memory, [`Profile::DovecotLike`], STLS and implicit TLS with a
    /// generated certificate, SASL PLAIN LOGIN CRAM-MD5 SCRAM-SHA-256, APOP.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    /// The plaintext port (offering STLS unless TLS is disabled).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The implicit-TLS port; `None` when TLS is disabled.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls_addr
    }

    /// The CA certificate (PEM) that signed the generated server certificate: what
    /// clients should trust. The certificate names `localhost`, `127.0.0.1` and `::1`.
    /// `None` when TLS is disabled or the certificate was given with
    /// [`ServerBuilder::certificate_pem`].
    pub fn ca_pem(&self) -> Option<&str> {
        self.certificates.as_ref().map(Certificates::ca_pem)
    }

    /// The user name.
    pub fn user(&self) -> &str {
        &self.shared.settings.user
    }

    /// The password.
    pub fn password(&self) -> &str {
        &self.shared.settings.password
    }

    /// How many connections were accepted (on both ports).
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// How many connections are still being served (their thread has not finished).
    pub fn active_sessions(&self) -> usize {
        lock(&self.shared.live)
            .iter()
            .filter(|(_, handle)| !handle.is_finished())
            .count()
    }

    /// Waits until every connection has ended (the client hung up or quit, and the
    /// server finished with it: committed or rolled back), up to `limit`. Returns whether
    /// they all did. For tests that check what a session left behind.
    pub fn wait_until_idle(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while self.active_sessions() > 0 {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        true
    }

    /// How many logins succeeded (the maildrop was opened), on both ports. Wrong
    /// credentials and refused logins do not count. Counted on the store: servers
    /// sharing a [`Maildrop`] or [`Maildir`] handle share the count.
    pub fn logins(&self) -> usize {
        self.shared.store.access().stats().logins
    }

    /// How many logins with good credentials were refused for now: `[IN-USE]`
    /// ([`Profile::LockSession`]) or `[LOGIN-DELAY]` ([`Profile::LoginDelay`]).
    pub fn refused_logins(&self) -> usize {
        self.shared.store.access().stats().refused
    }

    /// How many sessions are logged in now: logged in, and not yet ended by QUIT or a
    /// closed connection.
    pub fn logged_in_sessions(&self) -> usize {
        self.shared.store.access().stats().open
    }

    /// The most sessions that were logged in at the same time, since the start.
    pub fn max_concurrent_sessions(&self) -> usize {
        self.shared.store.access().stats().max_open
    }

    /// Every line clients sent, without line ends, across sessions in the order they
    /// arrived: commands, SASL responses, and lines that were never answered (sent before
    /// a TLS handshake, or in a read that a hook ended). Passwords included: this is a
    /// server for tests and demos.
    pub fn received(&self) -> Vec<String> {
        lock(&self.shared.received).clone()
    }

    /// Total bytes sent to clients (before TLS encryption).
    pub fn bytes_sent(&self) -> u64 {
        self.shared.bytes_sent.load(Ordering::Relaxed)
    }

    /// Total bytes received from clients (after TLS decryption).
    pub fn bytes_received(&self) -> u64 {
        self.shared.bytes_received.load(Ordering::Relaxed)
    }

    /// The largest single write to a client socket, in bytes: bodies and long replies
    /// are streamed in chunks of about 64 KiB, never built whole.
    pub fn largest_write(&self) -> usize {
        self.shared.largest_write.load(Ordering::Relaxed)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        // Wake the blocking accepts; a listener we cannot reach is left behind rather
        // than waited for.
        for (local, handle) in self.acceptors.drain(..) {
            let woke = local.is_some_and(|addr| {
                TcpStream::connect_timeout(&wake_address(addr), Duration::from_secs(1)).is_ok()
            });
            if woke {
                let _ = handle.join();
            }
        }
        let live = std::mem::take(&mut *lock(&self.shared.live));
        for (socket, _) in &live {
            let _ = socket.shutdown(std::net::Shutdown::Both);
        }
        for (_, handle) in live {
            let _ = handle.join();
        }
    }
}

/// Where to connect to reach a listener: an unspecified address (`0.0.0.0`, `::`) is
/// reached on loopback.
fn wake_address(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

/// Not every error of a server start is an I/O error, but callers that only deal in
/// `io::Result` can convert.
impl From<Error> for io::Error {
    fn from(error: Error) -> Self {
        match error {
            Error::Bind { source, .. } | Error::Io { source, .. } | Error::Thread(source) => source,
            Error::InvalidUid(_)
            | Error::DuplicateUid(_)
            | Error::InvalidConfig(_)
            | Error::NotMaildir { .. } => io::Error::new(io::ErrorKind::InvalidInput, error),
            Error::Certificate(_) | Error::Tls(_) => io::Error::other(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_greetings_and_host_names_are_refused() {
        assert!(matches!(
            Server::builder().greeting("two\r\nlines").start(),
            Err(Error::InvalidConfig(_))
        ));
        assert!(matches!(
            Server::builder().hostname("a b>").start(),
            Err(Error::InvalidConfig(_))
        ));
    }

    #[test]
    fn starts_and_stops_without_tls() -> Result<(), Error> {
        let server = Server::builder().tls(false).start()?;
        assert!(server.tls_addr().is_none() && server.ca_pem().is_none());
        assert!(server.addr().ip().is_loopback());
        assert_eq!(server.user(), DEFAULT_USER);
        assert_eq!(server.password(), DEFAULT_PASSWORD);
        drop(server);
        Ok(())
    }

    #[test]
    fn unspecified_addresses_are_woken_on_loopback() {
        let any = SocketAddr::from((Ipv4Addr::UNSPECIFIED, 110));
        assert_eq!(
            wake_address(any),
            SocketAddr::from((Ipv4Addr::LOCALHOST, 110))
        );
        let v6 = SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 995));
        assert!(wake_address(v6).ip().is_loopback());
    }
}
