//! One client API over the four runtimes, so every scenario is written once and run on
//! pop3-sync (blocking), pop3-tokio, and pop3-futures under async-std and under smol.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::io;
use std::time::Duration;

use pop3_session::transport::Runtime;
use pop3_session::{
    AsyncBodySink, AsyncSession, BlockingDial, BlockingSession, BodySink, ConnectOptions, Dial,
    Error, Login, Pipelining, Task,
};

/// A session the scenarios can open and name.
pub trait Session: AsyncSession + Dial {
    /// Runtime name for messages.
    const NAME: &'static str;

    /// A session over a TCP stream the test connected itself.
    fn over(
        tcp: std::net::TcpStream,
        options: &ConnectOptions,
    ) -> impl Future<Output = Result<Self, Error>>;

    /// `retr_to` into a [`CountingWriter`], through the runtime's own writer trait:
    /// the bytes `retr_to` reported, and the writer.
    fn retr_counted(
        &mut self,
        msg: u32,
    ) -> impl Future<Output = Result<(u64, CountingWriter), Error>>;
}

/// A writer that keeps what it is given and counts the calls that gave it, as a
/// `std::io::Write`, a tokio `AsyncWrite` and a futures-io `AsyncWrite`. Every call takes
/// all it is offered.
#[derive(Debug, Default)]
pub struct CountingWriter {
    /// Everything written, in order.
    pub bytes: Vec<u8>,
    /// Calls that wrote (flushes not counted).
    pub writes: usize,
}

impl io::Write for CountingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writes += 1;
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl tokio::io::AsyncWrite for CountingWriter {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        std::task::Poll::Ready(io::Write::write(self.get_mut(), buf))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

impl Session for pop3_tokio::Client {
    const NAME: &'static str = "tokio";

    async fn over(tcp: std::net::TcpStream, options: &ConnectOptions) -> Result<Self, Error> {
        tcp.set_nonblocking(true).expect("non-blocking");
        let tcp = tokio::net::TcpStream::from_std(tcp).expect("tokio stream");
        Self::connect_with(tcp, options).await
    }

    async fn retr_counted(&mut self, msg: u32) -> Result<(u64, CountingWriter), Error> {
        let mut writer = CountingWriter::default();
        let written = AsyncSession::retr_to(self, msg, &mut writer).await?;
        Ok((written, writer))
    }
}

impl Session for pop3_futures::Client {
    const NAME: &'static str = "futures";

    async fn over(tcp: std::net::TcpStream, options: &ConnectOptions) -> Result<Self, Error> {
        let tcp = async_net::TcpStream::try_from(tcp).expect("async-net stream");
        Self::connect_with(tcp, options).await
    }

    async fn retr_counted(&mut self, msg: u32) -> Result<(u64, CountingWriter), Error> {
        // futures-io's own adaptor of a `std::io::Write`: every write goes straight through.
        let mut writer = futures::io::AllowStdIo::new(CountingWriter::default());
        let written = AsyncSession::retr_to(self, msg, &mut writer).await?;
        Ok((written, writer.into_inner()))
    }
}

impl Session for Blocking<pop3_sync::Client> {
    const NAME: &'static str = "sync";

    async fn over(tcp: std::net::TcpStream, options: &ConnectOptions) -> Result<Self, Error> {
        pop3_sync::Client::connect_with(tcp, options).map(Blocking)
    }

    async fn retr_counted(&mut self, msg: u32) -> Result<(u64, CountingWriter), Error> {
        let mut writer = CountingWriter::default();
        let written = BlockingSession::retr_to(&mut self.0, msg, &mut writer)?;
        Ok((written, writer))
    }
}

/// The blocking adapter seen through the async trait: each of its futures is complete
/// when it is created (the work is done by the blocking call).
pub struct Blocking<C>(pub C);

/// No timer: the blocking adapter keeps time itself.
pub struct NoRuntime;

impl Runtime for NoRuntime {
    fn sleep(_: Duration) -> impl Future<Output = ()> + Send + 'static {
        std::future::pending()
    }
}

impl<C: BlockingSession + Send> AsyncSession for Blocking<C> {
    type Runtime = NoRuntime;

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
        std::future::ready(self.0.run(task, &mut BlockOn(sink)))
    }

    fn protocol(&self) -> &pop3_session::proto::Client {
        self.0.protocol()
    }

    fn tls_info(&self) -> Option<pop3_session::TlsInfo> {
        self.0.tls_info()
    }
}

impl<C: BlockingDial + Send> Dial for Blocking<C> {
    fn dial(options: &ConnectOptions) -> impl Future<Output = Result<Self, Error>> + Send {
        std::future::ready(C::dial(options).map(Blocking))
    }
}

/// An async sink driven from the blocking adapter. The scenarios' sinks are in-memory,
/// so their futures are ready at once (the test already runs inside an executor, which
/// cannot be entered again).
struct BlockOn<'a, K: ?Sized>(&'a mut K);

impl<K: AsyncBodySink + ?Sized> BodySink for BlockOn<'_, K> {
    fn body(&mut self, event: pop3_session::BodyEvent) -> io::Result<()> {
        let mut future = std::pin::pin!(self.0.body(event));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match future.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(result) => result,
            std::task::Poll::Pending => Err(io::Error::other("the sink is not in memory")),
        }
    }
}

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
    mode: pop3_session::TlsMode,
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

/// Generates one test per runtime for a scenario `async fn name<S: Session>()`.
#[macro_export]
macro_rules! on_every_runtime {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            use super::*;
            #[test]
            fn sync() {
                common::on_blocking(super::$scenario::<common::Blocking<pop3_sync::Client>>());
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
    /// Starts a server with these messages; `None` when it is not available here, after a
    /// `SKIPPED` notice printed past the test harness's capture (only outside CI; in CI
    /// that is a failure). The embedded server is always available.
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
    fn options(&self, mode: pop3_session::TlsMode) -> ConnectOptions {
        let addr = match mode {
            pop3_session::TlsMode::Implicit => self.tls_addr(),
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
pub fn method(name: &str) -> pop3_session::AuthMethod {
    use pop3_session::{AuthMethod, MechanismKind};
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
                common::on_blocking(super::$scenario::<common::Blocking<pop3_sync::Client>, TestServer>());
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
                common::on_blocking(super::$scenario::<common::Blocking<pop3_sync::Client>, Dovecot>());
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
