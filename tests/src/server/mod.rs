//! [`TestServer`]: an in-process POP3 server on loopback, with profiles and faults.
//!
//! It runs `pop3_proto`'s sans-IO server [`Session`](pop3_proto::server::session::Session)
//! over blocking std sockets, one thread per connection, so it works under any async
//! runtime in your tests. By default it listens twice on `127.0.0.1`: a plaintext port
//! offering STLS ([`TestServer::addr`]) and an implicit-TLS port
//! ([`TestServer::tls_addr`]), with a certificate signed by a fresh CA
//! ([`TestServer::ca_pem`]).
//!
//! ```
//! use std::io::{BufRead, BufReader, Write};
//! use std::net::TcpStream;
//! use pop3_testkit::{Profile, TestServer};
//!
//! let server = TestServer::builder()
//!     .messages(vec![b"Subject: hello\r\n\r\nHi!\r\n".to_vec()])
//!     .profile(Profile::NoPipelining)
//!     .start();
//! let mut stream = TcpStream::connect(server.addr())?;
//! let mut reader = BufReader::new(stream.try_clone()?);
//! let mut line = String::new();
//! reader.read_line(&mut line)?;
//! assert!(line.starts_with("+OK"));
//! stream.write_all(b"USER alice\r\nPASS secret\r\nDELE 1\r\nQUIT\r\n")?;
//! for _ in 0..4 {
//!     line.clear();
//!     reader.read_line(&mut line)?;
//!     assert!(line.starts_with("+OK"), "{line}");
//! }
//! assert!(server.mailbox().is_empty()); // QUIT committed the deletion
//! assert!(server.received().contains(&"PASS secret".to_owned()));
//! # Ok::<(), std::io::Error>(())
//! ```

mod connection;
mod maildrop;
mod profile;

use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use pop3_proto::Uid;
use pop3_proto::sasl::MechanismKind;
use rustls::{ClientConfig, ServerConfig};

use crate::certs::{self, TestCertificates};
use connection::ConfiguredFault;

pub use maildrop::Maildrop;
pub use profile::{Fault, Profile};

/// The default user name.
pub const DEFAULT_USER: &str = "alice";
/// The default password.
pub const DEFAULT_PASSWORD: &str = "secret";

/// What every connection of a server is configured with.
#[derive(Debug)]
struct Settings {
    user: String,
    password: String,
    profiles: Vec<Profile>,
    faults: Vec<ConfiguredFault>,
    sasl: Vec<MechanismKind>,
    apop: bool,
    greeting: String,
    idle_timeout: Duration,
}

/// State shared by the listeners, the connections and the [`TestServer`] handle.
#[derive(Debug)]
struct Shared {
    settings: Settings,
    maildrop: Maildrop,
    tls: Option<Arc<ServerConfig>>,
    received: Mutex<Vec<String>>,
    connections: AtomicUsize,
    bytes_sent: AtomicU64,
    largest_write: AtomicUsize,
    /// Connections dropped by [`Profile::BreaksPipelining`].
    pipelining_drops: AtomicUsize,
    shutdown: AtomicBool,
    /// Live connections: a handle on each socket (to shut it down) and its thread.
    live: Mutex<Vec<(TcpStream, JoinHandle<()>)>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn log_line(&self, line: String) {
        lock(&self.received).push(line);
    }

    fn count_write(&self, len: usize) {
        self.bytes_sent.fetch_add(len as u64, Ordering::Relaxed);
        self.largest_write.fetch_max(len, Ordering::Relaxed);
    }
}

/// Configures a [`TestServer`]; see [`TestServer::builder`].
#[derive(Debug)]
#[must_use]
pub struct TestServerBuilder {
    user: String,
    password: String,
    messages: Vec<(Option<String>, Vec<u8>)>,
    profiles: Vec<Profile>,
    faults: Vec<(Fault, bool)>,
    tls: bool,
    sasl: Vec<MechanismKind>,
    apop: bool,
    untrusted: bool,
    greeting: String,
    idle_timeout: Duration,
    expunges: Vec<(String, usize)>,
}

impl Default for TestServerBuilder {
    fn default() -> Self {
        Self {
            user: DEFAULT_USER.into(),
            password: DEFAULT_PASSWORD.into(),
            messages: Vec::new(),
            profiles: Vec::new(),
            faults: Vec::new(),
            tls: true,
            sasl: vec![
                MechanismKind::Plain,
                MechanismKind::Login,
                MechanismKind::CramMd5,
                MechanismKind::ScramSha256,
            ],
            apop: true,
            untrusted: false,
            greeting: "pop3-testkit ready.".into(),
            idle_timeout: Duration::from_secs(60),
            expunges: Vec::new(),
        }
    }
}

impl TestServerBuilder {
    /// The one user and their password (default `alice` / `secret`). The password is
    /// also the token for XOAUTH2 and OAUTHBEARER.
    pub fn user(mut self, name: impl Into<String>, password: impl Into<String>) -> Self {
        self.user = name.into();
        self.password = password.into();
        self
    }

    /// Appends messages (CRLF line ends expected), with generated UIDs `uid-000001`,
    /// `uid-000002`, ... in order.
    pub fn messages(mut self, messages: Vec<Vec<u8>>) -> Self {
        self.messages
            .extend(messages.into_iter().map(|data| (None, data)));
        self
    }

    /// Appends messages with UIDs of your choice (1 to 70 characters in 0x21..=0x7E;
    /// [`try_start`](Self::try_start) fails on others).
    pub fn messages_with_uids(mut self, messages: Vec<(String, Vec<u8>)>) -> Self {
        self.messages
            .extend(messages.into_iter().map(|(uid, data)| (Some(uid), data)));
        self
    }

    /// Adds a profile (default: [`Profile::DovecotLike`] alone). Profiles combine.
    pub fn profile(mut self, profile: Profile) -> Self {
        self.profiles.push(profile);
        self
    }

    /// Adds a fault that hits every connection. Several faults can be set.
    pub fn fault(mut self, fault: Fault) -> Self {
        self.faults.push((fault, false));
        self
    }

    /// Adds a fault that hits only the first connection where it triggers; later
    /// connections behave normally (to test that a client retries).
    pub fn fault_once(mut self, fault: Fault) -> Self {
        self.faults.push((fault, true));
        self
    }

    /// With `true` (the default) the plaintext port offers STLS and a second port speaks
    /// implicit TLS. With `false` there is no TLS at all.
    pub fn tls(mut self, enabled: bool) -> Self {
        self.tls = enabled;
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

    /// Serve a certificate that is *not* signed by the CA of [`TestServer::ca_pem`], so
    /// that a correct client refuses the TLS handshake.
    pub fn untrusted_certificate(mut self) -> Self {
        self.untrusted = true;
        self
    }

    /// The greeting text (default `pop3-testkit ready.`; the APOP timestamp follows it).
    pub fn greeting(mut self, text: impl Into<String>) -> Self {
        self.greeting = text.into();
        self
    }

    /// How long a connection may stay silent before the server drops it (default 60 s).
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Makes the message with this UID disappear for later sessions, as if another
    /// client expunged it between logins: right after the `logins`-th successful login
    /// (counted from the start, by any session) has taken its snapshot, the message is
    /// removed from the maildrop. That session and earlier ones still list it and can
    /// RETR it from their snapshot (as with Dovecot); sessions logging in later do not
    /// see it. With `1`, the first session sees the message and no other does; with `0`
    /// it is gone before the first login. [`try_start`](Self::try_start) fails if no
    /// message has this UID. To remove a message at a moment of the test's choosing,
    /// see [`Maildrop::remove`].
    pub fn expunge_after_logins(mut self, uid: impl Into<String>, logins: usize) -> Self {
        self.expunges.push((uid.into(), logins));
        self
    }

    /// Starts the server.
    ///
    /// # Panics
    ///
    /// If it cannot start (see [`try_start`](Self::try_start)).
    pub fn start(self) -> TestServer {
        match self.try_start() {
            Ok(server) => server,
            Err(e) => panic!("pop3-testkit: cannot start the test server: {e}"),
        }
    }

    /// Starts the server: binds `127.0.0.1:0` (twice with TLS), generates certificates
    /// and spawns the listener threads.
    pub fn try_start(self) -> io::Result<TestServer> {
        let maildrop = Maildrop::default();
        for (uid, data) in self.messages {
            match uid {
                Some(uid) => maildrop
                    .push_with_uid(&uid, data)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?,
                None => {
                    maildrop.push(data);
                }
            }
        }
        for (uid, logins) in self.expunges {
            let known = Uid::new(&uid).ok().filter(|_| maildrop.contains(&uid));
            let Some(uid) = known else {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("expunge_after_logins: no message has the UID {uid:?}"),
                ));
            };
            maildrop.expunge_after_logins(uid, logins);
        }
        let certificates = if self.untrusted {
            TestCertificates::generate_untrusted()
        } else {
            TestCertificates::generate()
        }
        .map_err(io::Error::other)?;
        let tls = if self.tls {
            Some(certificates.server_config().map_err(io::Error::other)?)
        } else {
            None
        };
        let faults = self
            .faults
            .into_iter()
            .map(|(fault, once)| ConfiguredFault {
                fault,
                once: once.then(|| Arc::new(AtomicBool::new(false))),
            })
            .collect();
        let shared = Arc::new(Shared {
            settings: Settings {
                user: self.user,
                password: self.password,
                profiles: self.profiles,
                faults,
                sasl: self.sasl,
                apop: self.apop,
                greeting: self.greeting,
                idle_timeout: self.idle_timeout,
            },
            maildrop,
            tls,
            received: Mutex::new(Vec::new()),
            connections: AtomicUsize::new(0),
            bytes_sent: AtomicU64::new(0),
            largest_write: AtomicUsize::new(0),
            pipelining_drops: AtomicUsize::new(0),
            shutdown: AtomicBool::new(false),
            live: Mutex::new(Vec::new()),
        });
        let plain = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let addr = plain.local_addr()?;
        let mut listeners = vec![(plain, false)];
        let mut tls_addr = None;
        if self.tls {
            let implicit = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
            tls_addr = Some(implicit.local_addr()?);
            listeners.push((implicit, true));
        }
        let mut acceptors = Vec::new();
        for (listener, implicit_tls) in listeners {
            let shared = Arc::clone(&shared);
            let handle = std::thread::Builder::new()
                .name(format!("pop3-testkit-accept-{}", listener.local_addr()?))
                .spawn(move || accept_loop(&shared, &listener, implicit_tls))?;
            acceptors.push(handle);
        }
        Ok(TestServer {
            addr,
            tls_addr,
            certificates,
            shared,
            acceptors,
        })
    }
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
            .name(format!("pop3-testkit-conn-{number}"))
            .spawn(move || connection::serve(&conn_shared, stream, implicit_tls, number));
        if let Ok(handle) = spawned {
            let mut live = lock(&shared.live);
            live.retain(|(_, h)| !h.is_finished());
            live.push((handle_socket, handle));
        }
    }
}

/// An in-process POP3 server on loopback; stops when dropped.
///
/// See the [module documentation](self) for an example, and [`TestServerBuilder`] for
/// the options.
#[derive(Debug)]
pub struct TestServer {
    addr: SocketAddr,
    tls_addr: Option<SocketAddr>,
    certificates: TestCertificates,
    shared: Arc<Shared>,
    acceptors: Vec<JoinHandle<()>>,
}

impl TestServer {
    /// A builder with the defaults: user `alice` / `secret`, no messages,
    /// [`Profile::DovecotLike`], STLS and implicit TLS, SASL PLAIN LOGIN CRAM-MD5
    /// SCRAM-SHA-256, APOP.
    pub fn builder() -> TestServerBuilder {
        TestServerBuilder::default()
    }

    /// A server with the defaults and an empty maildrop.
    ///
    /// # Panics
    ///
    /// If it cannot start.
    pub fn start() -> Self {
        Self::builder().start()
    }

    /// The plaintext port (offering STLS unless TLS is disabled).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The implicit-TLS port.
    ///
    /// # Panics
    ///
    /// If TLS was disabled with [`TestServerBuilder::tls`]`(false)`.
    pub fn tls_addr(&self) -> SocketAddr {
        match self.tls_addr {
            Some(addr) => addr,
            None => panic!("pop3-testkit: TLS is disabled on this server (.tls(false))"),
        }
    }

    /// The CA certificate (PEM) clients should trust. The server certificate names
    /// `localhost`, `127.0.0.1` and `::1`.
    pub fn ca_pem(&self) -> &str {
        self.certificates.ca_pem()
    }

    /// The generated certificates.
    pub fn certificates(&self) -> &TestCertificates {
        &self.certificates
    }

    /// A rustls client configuration (ring provider) trusting only [`ca_pem`](Self::ca_pem).
    pub fn client_config(&self) -> Arc<ClientConfig> {
        match certs::client_config(self.ca_pem()) {
            Ok(config) => config,
            Err(e) => unreachable!("the generated CA is valid: {e}"),
        }
    }

    /// The user name.
    pub fn user(&self) -> &str {
        &self.shared.settings.user
    }

    /// The password.
    pub fn password(&self) -> &str {
        &self.shared.settings.password
    }

    /// A handle on the maildrop: what the next session will see.
    pub fn mailbox(&self) -> Maildrop {
        self.shared.maildrop.clone()
    }

    /// How many connections were accepted (on both ports).
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// How many sessions are still being served (their thread has not finished).
    pub fn active_sessions(&self) -> usize {
        lock(&self.shared.live)
            .iter()
            .filter(|(_, handle)| !handle.is_finished())
            .count()
    }

    /// Waits until every session has ended (the client hung up or quit, and the server
    /// finished with it: committed or rolled back), up to `limit`. Returns whether they
    /// all did. For tests that check what a session left behind.
    pub fn wait_until_idle(&self, limit: Duration) -> bool {
        let deadline = std::time::Instant::now() + limit;
        while self.active_sessions() > 0 {
            if std::time::Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        true
    }

    /// How many logins succeeded (the maildrop was opened), by any session, on both
    /// ports. Wrong credentials and refused logins do not count.
    pub fn logins(&self) -> usize {
        self.shared.maildrop.stats().logins
    }

    /// How many logins with good credentials were refused for now: `[IN-USE]`
    /// ([`Profile::LockSession`]) or `[LOGIN-DELAY]` ([`Profile::LoginDelay`]).
    pub fn refused_logins(&self) -> usize {
        self.shared.maildrop.stats().refused
    }

    /// How many sessions are logged in now: logged in, and not yet ended by QUIT or a
    /// closed connection.
    pub fn logged_in_sessions(&self) -> usize {
        self.shared.maildrop.stats().open
    }

    /// The most sessions that were logged in at the same time, since the start.
    pub fn max_concurrent_sessions(&self) -> usize {
        self.shared.maildrop.stats().max_open
    }

    /// How many connections [`Profile::BreaksPipelining`] dropped because too many
    /// commands arrived at once.
    pub fn pipelining_drops(&self) -> usize {
        self.shared.pipelining_drops.load(Ordering::SeqCst)
    }

    /// Every line clients sent, without line ends, across sessions in the order they
    /// arrived (SASL responses included; TLS handshakes are not lines).
    pub fn received(&self) -> Vec<String> {
        lock(&self.shared.received).clone()
    }

    /// Total bytes sent to clients (before TLS encryption).
    pub fn bytes_sent(&self) -> u64 {
        self.shared.bytes_sent.load(Ordering::Relaxed)
    }

    /// The largest single write to a client socket, in bytes: bodies and fault
    /// generators stream in chunks of at most 64 KiB (plus the responses pipelined with
    /// them).
    pub fn largest_write(&self) -> usize {
        self.shared.largest_write.load(Ordering::Relaxed)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        // Wake the blocking accepts; a listener we cannot reach is left behind rather
        // than waited for.
        let mut addrs = vec![self.addr];
        addrs.extend(self.tls_addr);
        let mut reachable = Vec::new();
        for addr in addrs {
            reachable.push(TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok());
        }
        for (handle, woke) in self.acceptors.drain(..).zip(reachable) {
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
