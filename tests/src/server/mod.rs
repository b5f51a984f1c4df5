//! [`TestServer`]: an in-process POP3 server on loopback, with profiles and faults.
//!
//! It is the embeddable [`pop3_server::Server`] (blocking std sockets, one thread per
//! connection, so it works under any async runtime in your tests) with what only tests
//! need on top: injected [`Fault`]s, [`Profile::BreaksPipelining`] and
//! [`TestServerBuilder::expunge_after_logins`], all through the server's
//! [`ConnectionHook`](pop3_server::ConnectionHook) extension point. By default it listens
//! twice on `127.0.0.1`: a plaintext port offering STLS ([`TestServer::addr`]) and an
//! implicit-TLS port ([`TestServer::tls_addr`]), with a certificate signed by a fresh CA
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

mod faults;
mod profile;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pop3_proto::sasl::MechanismKind;
use pop3_server::Server;
use rustls::ClientConfig;

use crate::certs::{self, TestCertificates};
use faults::{ConfiguredFault, FaultHook, Plan};
use profile::Resolved;

pub use pop3_server::Maildrop;
pub use pop3_server::{DEFAULT_PASSWORD, DEFAULT_USER};
pub use profile::{Fault, Profile};

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
        let maildrop = Maildrop::new();
        for (uid, data) in self.messages {
            match uid {
                Some(uid) => maildrop.push_with_uid(&uid, data)?,
                None => {
                    maildrop.push(data);
                }
            }
        }
        let mut expunges = Vec::new();
        for (uid, logins) in self.expunges {
            if !maildrop.contains(&uid) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("expunge_after_logins: no message has the UID {uid:?}"),
                ));
            }
            if logins == 0 {
                maildrop.remove(&uid);
            } else {
                expunges.push((uid, logins));
            }
        }
        let certificates = if self.untrusted {
            TestCertificates::generate_untrusted()
        } else {
            TestCertificates::generate()
        }
        .map_err(io::Error::other)?;
        let mut server = Server::builder()
            .user(self.user, self.password)
            .maildrop(maildrop.clone())
            .tls(self.tls)
            .sasl(self.sasl)
            .apop(self.apop)
            .greeting(self.greeting)
            .hostname("pop3-testkit")
            .idle_timeout(self.idle_timeout);
        if self.tls {
            server = server.certificate_pem(certificates.cert_pem(), certificates.key_pem());
        }
        let mut max_burst = None;
        let mut lf_only = false;
        for profile in &self.profiles {
            match profile.resolve() {
                Resolved::Server(profile) => {
                    lf_only |= profile == pop3_server::Profile::LfOnly;
                    server = server.profile(profile);
                }
                Resolved::BreaksPipelining(max) => {
                    max_burst.get_or_insert(max);
                }
            }
        }
        let pipelining_drops = Arc::new(AtomicUsize::new(0));
        let plan = Arc::new(Plan {
            faults: self
                .faults
                .into_iter()
                .map(|(fault, once)| ConfiguredFault {
                    fault,
                    once: once.then(|| Arc::new(AtomicBool::new(false))),
                })
                .collect(),
            max_burst,
            lf_only,
            pipelining_drops: Arc::clone(&pipelining_drops),
            expunges: Mutex::new(expunges),
            maildrop: maildrop.clone(),
        });
        let server = server
            .connection_hook(move |_| Box::new(FaultHook::new(Arc::clone(&plan))))
            .start()?;
        Ok(TestServer {
            server,
            certificates,
            maildrop,
            pipelining_drops,
        })
    }
}

/// An in-process POP3 server on loopback; stops when dropped.
///
/// See the [module documentation](self) for an example, and [`TestServerBuilder`] for
/// the options.
#[derive(Debug)]
pub struct TestServer {
    server: Server,
    certificates: TestCertificates,
    maildrop: Maildrop,
    pipelining_drops: Arc<AtomicUsize>,
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

    /// The embedded server underneath, for what this wrapper does not repeat (such as
    /// [`Server::bytes_received`]).
    pub fn server(&self) -> &Server {
        &self.server
    }

    /// The plaintext port (offering STLS unless TLS is disabled).
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The implicit-TLS port.
    ///
    /// # Panics
    ///
    /// If TLS was disabled with [`TestServerBuilder::tls`]`(false)`.
    pub fn tls_addr(&self) -> SocketAddr {
        match self.server.tls_addr() {
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
        self.server.user()
    }

    /// The password.
    pub fn password(&self) -> &str {
        self.server.password()
    }

    /// A handle on the maildrop: what the next session will see.
    pub fn mailbox(&self) -> Maildrop {
        self.maildrop.clone()
    }

    /// How many connections were accepted (on both ports).
    pub fn connections(&self) -> usize {
        self.server.connections()
    }

    /// How many sessions are still being served (their thread has not finished).
    pub fn active_sessions(&self) -> usize {
        self.server.active_sessions()
    }

    /// Waits until every session has ended (the client hung up or quit, and the server
    /// finished with it: committed or rolled back), up to `limit`. Returns whether they
    /// all did. For tests that check what a session left behind.
    pub fn wait_until_idle(&self, limit: Duration) -> bool {
        self.server.wait_until_idle(limit)
    }

    /// How many logins succeeded (the maildrop was opened), by any session, on both
    /// ports. Wrong credentials and refused logins do not count.
    pub fn logins(&self) -> usize {
        self.server.logins()
    }

    /// How many logins with good credentials were refused for now: `[IN-USE]`
    /// ([`Profile::LockSession`]) or `[LOGIN-DELAY]` ([`Profile::LoginDelay`]).
    pub fn refused_logins(&self) -> usize {
        self.server.refused_logins()
    }

    /// How many sessions are logged in now: logged in, and not yet ended by QUIT or a
    /// closed connection.
    pub fn logged_in_sessions(&self) -> usize {
        self.server.logged_in_sessions()
    }

    /// The most sessions that were logged in at the same time, since the start.
    pub fn max_concurrent_sessions(&self) -> usize {
        self.server.max_concurrent_sessions()
    }

    /// How many connections [`Profile::BreaksPipelining`] dropped because too many
    /// commands arrived at once.
    pub fn pipelining_drops(&self) -> usize {
        self.pipelining_drops.load(Ordering::SeqCst)
    }

    /// Every line clients sent, without line ends, across sessions in the order they
    /// arrived (SASL responses included; TLS handshakes are not lines).
    pub fn received(&self) -> Vec<String> {
        self.server.received()
    }

    /// Total bytes sent to clients (before TLS encryption).
    pub fn bytes_sent(&self) -> u64 {
        self.server.bytes_sent()
    }

    /// The largest single write to a client socket, in bytes: bodies and fault
    /// generators stream in chunks of at most 64 KiB (plus the responses pipelined with
    /// them).
    pub fn largest_write(&self) -> usize {
        self.server.largest_write()
    }
}
