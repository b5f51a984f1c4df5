//! One client API over the four runtimes, so every scenario is written once and run on
//! pop3-sync (blocking), pop3-tokio, and pop3-futures under async-std and under smol.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::time::Duration;

use pop3_net::{ConnectOptions, Error, MessageBuffer};
use pop3_proto::response::{MaildropSize, ScanListing, UidListing};
use pop3_proto::task::{Login, LoginOutcome, Outcome, QuitOutcome};
use pop3_proto::{Capabilities, Pipelining};

/// The adapters' common surface, as the scenarios use it.
pub trait Session: Sized {
    /// Runtime name for messages.
    const NAME: &'static str;
    fn connect(options: &ConnectOptions) -> impl Future<Output = Result<Self, Error>>;
    fn login(&mut self, login: Login) -> impl Future<Output = Result<LoginOutcome, Error>>;
    fn capabilities(&mut self) -> impl Future<Output = Result<Capabilities, Error>>;
    fn stat(&mut self) -> impl Future<Output = Result<MaildropSize, Error>>;
    fn list(&mut self) -> impl Future<Output = Result<Vec<ScanListing>, Error>>;
    fn uidl(&mut self) -> impl Future<Output = Result<Vec<UidListing>, Error>>;
    fn uidl_one(&mut self, msg: u32) -> impl Future<Output = Result<UidListing, Error>>;
    fn retr(&mut self, msg: u32) -> impl Future<Output = Result<Vec<u8>, Error>>;
    fn top(&mut self, msg: u32, lines: u32) -> impl Future<Output = Result<Vec<u8>, Error>>;
    fn dele(&mut self, msg: u32) -> impl Future<Output = Result<(), Error>>;
    fn rset(&mut self) -> impl Future<Output = Result<(), Error>>;
    fn noop(&mut self) -> impl Future<Output = Result<(), Error>>;
    fn quit(self) -> impl Future<Output = Result<QuitOutcome, Error>>;
    fn retr_many(
        &mut self,
        msgs: &[u32],
        sink: &mut MessageBuffer,
    ) -> impl Future<Output = Result<Vec<Outcome>, Error>>;
    fn top_many(
        &mut self,
        msgs: &[u32],
        lines: u32,
        sink: &mut MessageBuffer,
    ) -> impl Future<Output = Result<Vec<Outcome>, Error>>;
    fn dele_many(&mut self, msgs: &[u32]) -> impl Future<Output = Result<Vec<Outcome>, Error>>;
    fn is_tls(&self) -> bool;
    fn is_pipelining(&self) -> bool;
}

/// Implements [`Session`] by forwarding; `$($aw)*` is `.await` for async adapters.
macro_rules! forward {
    ($ty:ty, $name:literal, [$($aw:tt)*]) => {
        impl Session for $ty {
            const NAME: &'static str = $name;
            async fn connect(options: &ConnectOptions) -> Result<Self, Error> {
                <$ty>::connect(options) $($aw)*
            }
            async fn login(&mut self, login: Login) -> Result<LoginOutcome, Error> {
                <$ty>::login(self, login) $($aw)*
            }
            async fn capabilities(&mut self) -> Result<Capabilities, Error> {
                <$ty>::capabilities(self) $($aw)*
            }
            async fn stat(&mut self) -> Result<MaildropSize, Error> {
                <$ty>::stat(self) $($aw)*
            }
            async fn list(&mut self) -> Result<Vec<ScanListing>, Error> {
                <$ty>::list(self) $($aw)*
            }
            async fn uidl(&mut self) -> Result<Vec<UidListing>, Error> {
                <$ty>::uidl(self) $($aw)*
            }
            async fn uidl_one(&mut self, msg: u32) -> Result<UidListing, Error> {
                <$ty>::uidl_one(self, msg) $($aw)*
            }
            async fn retr(&mut self, msg: u32) -> Result<Vec<u8>, Error> {
                <$ty>::retr(self, msg) $($aw)*
            }
            async fn top(&mut self, msg: u32, lines: u32) -> Result<Vec<u8>, Error> {
                <$ty>::top(self, msg, lines) $($aw)*
            }
            async fn dele(&mut self, msg: u32) -> Result<(), Error> {
                <$ty>::dele(self, msg) $($aw)* .map(drop)
            }
            async fn rset(&mut self) -> Result<(), Error> {
                <$ty>::rset(self) $($aw)* .map(drop)
            }
            async fn noop(&mut self) -> Result<(), Error> {
                <$ty>::noop(self) $($aw)* .map(drop)
            }
            async fn quit(self) -> Result<QuitOutcome, Error> {
                <$ty>::quit(self) $($aw)*
            }
            async fn retr_many(&mut self, msgs: &[u32], sink: &mut MessageBuffer) -> Result<Vec<Outcome>, Error> {
                <$ty>::retr_many(self, msgs, sink) $($aw)*
            }
            async fn top_many(
                &mut self,
                msgs: &[u32],
                lines: u32,
                sink: &mut MessageBuffer,
            ) -> Result<Vec<Outcome>, Error> {
                <$ty>::top_many(self, msgs, lines, sink) $($aw)*
            }
            async fn dele_many(&mut self, msgs: &[u32]) -> Result<Vec<Outcome>, Error> {
                <$ty>::dele_many(self, msgs) $($aw)*
            }
            fn is_tls(&self) -> bool {
                <$ty>::is_tls(self)
            }
            fn is_pipelining(&self) -> bool {
                self.protocol().is_pipelining()
            }
        }
    };
}

forward!(pop3_sync::Client, "sync", []);
forward!(pop3_tokio::Client, "tokio", [.await]);
forward!(pop3_futures::Client, "futures", [.await]);

/// Runs a future to completion on the named runtime.
pub fn on_tokio<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(future)
}

/// Runs a future on async-std's executor.
pub fn on_async_std<F: Future>(future: F) -> F::Output {
    async_std::task::block_on(future)
}

/// Runs a future on smol's executor.
pub fn on_smol<F: Future>(future: F) -> F::Output {
    smol::block_on(future)
}

/// Runs the blocking adapter's "async" shim: its futures complete on first poll.
pub fn on_blocking<F: Future>(future: F) -> F::Output {
    futures::executor::block_on(future)
}

/// Options for a loopback server trusting `ca_pem`.
pub fn options(
    addr: std::net::SocketAddr,
    mode: pop3_net::TlsMode,
    ca_pem: &str,
) -> ConnectOptions {
    ConnectOptions::new(addr.ip().to_string())
        .port(addr.port())
        .tls(mode)
        .add_root_pem(ca_pem.as_bytes())
        .expect("CA PEM")
        .without_webpki_roots()
        .timeout(Duration::from_secs(20))
}

/// The same options with a pipelining policy.
pub fn with_pipelining(options: ConnectOptions, pipelining: Pipelining) -> ConnectOptions {
    options.pipelining(pipelining)
}

/// CRLF-normalises a message the way a POP3 server serves it.
pub fn crlf(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + message.len() / 40);
    let mut prev = 0u8;
    for &b in message {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    out
}

/// Generates one test per runtime for a scenario `async fn name<S: Session>()`.
#[macro_export]
macro_rules! on_every_runtime {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            use super::*;
            #[test]
            fn sync() {
                common::on_blocking(super::$scenario::<pop3_sync::Client>());
            }
            #[test]
            fn tokio() {
                common::on_tokio(super::$scenario::<pop3_tokio::Client>());
            }
            #[test]
            fn async_std() {
                common::on_async_std(super::$scenario::<pop3_futures::Client>());
            }
            #[test]
            fn smol() {
                common::on_smol(super::$scenario::<pop3_futures::Client>());
            }
        }
    )*};
}

/// A server the scenarios run against: the in-process `TestServer` or a real Dovecot.
pub trait Target: Sized {
    /// Name for messages.
    const NAME: &'static str;
    /// Starts a server with these messages; `None` when it is not available here (only
    /// outside CI; in CI that is a failure).
    fn start(messages: Vec<Vec<u8>>) -> Option<Self>;
    /// The plaintext port (STLS offered).
    fn plain_addr(&self) -> std::net::SocketAddr;
    /// The implicit-TLS port.
    fn tls_addr(&self) -> std::net::SocketAddr;
    /// The CA to trust.
    fn ca_pem(&self) -> &str;
    /// Credentials.
    fn user(&self) -> &str;
    /// Credentials.
    fn password(&self) -> &str;
    /// Messages left in the maildrop (as stored, after any commit).
    fn remaining(&self) -> usize;
    /// The authentication methods the server offers, by name as `LoginOutcome` reports.
    fn methods(&self) -> Vec<&'static str>;

    /// Options for the given TLS mode.
    fn options(&self, mode: pop3_net::TlsMode) -> ConnectOptions {
        let addr = match mode {
            pop3_net::TlsMode::Implicit => self.tls_addr(),
            _ => self.plain_addr(),
        };
        options(addr, mode, self.ca_pem())
    }

    /// A login with the target's credentials.
    fn login(&self) -> Login {
        Login::new(self.user(), self.password())
    }
}

impl Target for pop3_testkit::TestServer {
    const NAME: &'static str = "TestServer";
    fn start(messages: Vec<Vec<u8>>) -> Option<Self> {
        Some(
            pop3_testkit::TestServer::builder()
                .messages(messages)
                .start(),
        )
    }
    fn plain_addr(&self) -> std::net::SocketAddr {
        self.addr()
    }
    fn tls_addr(&self) -> std::net::SocketAddr {
        pop3_testkit::TestServer::tls_addr(self)
    }
    fn ca_pem(&self) -> &str {
        pop3_testkit::TestServer::ca_pem(self)
    }
    fn user(&self) -> &str {
        pop3_testkit::TestServer::user(self)
    }
    fn password(&self) -> &str {
        pop3_testkit::TestServer::password(self)
    }
    fn remaining(&self) -> usize {
        self.mailbox().len()
    }
    fn methods(&self) -> Vec<&'static str> {
        vec![
            "USER",
            "APOP",
            "PLAIN",
            "LOGIN",
            "CRAM-MD5",
            "SCRAM-SHA-256",
        ]
    }
}

impl Target for pop3_testkit::Dovecot {
    const NAME: &'static str = "Dovecot";
    fn start(messages: Vec<Vec<u8>>) -> Option<Self> {
        let options = pop3_testkit::DovecotOptions {
            messages,
            ..Default::default()
        };
        match pop3_testkit::Dovecot::start(options) {
            Ok(dovecot) => dovecot,
            Err(e) => panic!("{e}"),
        }
    }
    fn plain_addr(&self) -> std::net::SocketAddr {
        self.pop3_addr()
    }
    fn tls_addr(&self) -> std::net::SocketAddr {
        self.pop3s_addr()
    }
    fn ca_pem(&self) -> &str {
        pop3_testkit::Dovecot::ca_pem(self)
    }
    fn user(&self) -> &str {
        pop3_testkit::Dovecot::user(self)
    }
    fn password(&self) -> &str {
        pop3_testkit::Dovecot::password(self)
    }
    fn remaining(&self) -> usize {
        self.messages_on_disk()
    }
    fn methods(&self) -> Vec<&'static str> {
        vec!["USER", "APOP", "PLAIN", "LOGIN", "CRAM-MD5"]
    }
}

/// The method for a name reported by `LoginOutcome`.
pub fn method(name: &str) -> pop3_proto::task::AuthMethod {
    use pop3_proto::sasl::MechanismKind;
    use pop3_proto::task::AuthMethod;
    match name {
        "USER" => AuthMethod::User,
        "APOP" => AuthMethod::Apop,
        other => AuthMethod::Sasl(MechanismKind::from_name(other).expect("known mechanism")),
    }
}

/// Generates, for each scenario `async fn name<S: Session, T: Target>()`, one test per
/// runtime and per target.
#[macro_export]
macro_rules! every_runtime_and_target {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            use super::*;
            use pop3_testkit::{Dovecot, TestServer};
            #[test]
            fn sync_testserver() {
                common::on_blocking(super::$scenario::<pop3_sync::Client, TestServer>());
            }
            #[test]
            fn tokio_testserver() {
                common::on_tokio(super::$scenario::<pop3_tokio::Client, TestServer>());
            }
            #[test]
            fn async_std_testserver() {
                common::on_async_std(super::$scenario::<pop3_futures::Client, TestServer>());
            }
            #[test]
            fn smol_testserver() {
                common::on_smol(super::$scenario::<pop3_futures::Client, TestServer>());
            }
            #[test]
            fn sync_dovecot() {
                common::on_blocking(super::$scenario::<pop3_sync::Client, Dovecot>());
            }
            #[test]
            fn tokio_dovecot() {
                common::on_tokio(super::$scenario::<pop3_tokio::Client, Dovecot>());
            }
            #[test]
            fn async_std_dovecot() {
                common::on_async_std(super::$scenario::<pop3_futures::Client, Dovecot>());
            }
            #[test]
            fn smol_dovecot() {
                common::on_smol(super::$scenario::<pop3_futures::Client, Dovecot>());
            }
        }
    )*};
}
