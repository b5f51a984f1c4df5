//! The session layer itself: connectors, bring-your-own streams, shared TLS
//! configuration, over every runtime.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Session, Target};
use pop3_net::{AsyncSession, BlockingSession, Connector, LoginConnector, TlsMode};
use pop3_testkit::mailbox;

/// A connector opens independent, logged-in sessions that work side by side.
async fn connector_opens_logged_in_sessions<S: Session, T: Target>() {
    let Some(server) = T::start(mailbox::generate(4, 1_000, 5)) else {
        return;
    };
    for mode in [TlsMode::Implicit, TlsMode::StartTls] {
        let connector = LoginConnector::<S>::new(server.options(mode), server.login());
        let mut first = connector.connect().await.expect("first session");
        let mut second = connector.connect().await.expect("second session");
        assert!(first.is_tls() && second.is_tls(), "{mode:?}");
        assert_eq!(first.uidl().await.unwrap(), second.uidl().await.unwrap());
        assert_eq!(first.stat().await.unwrap().messages, 4);
        first.quit().await.unwrap();
        second.quit().await.unwrap();
    }
}

/// Sessions opened from one set of options share its TLS configuration, so the second
/// handshake resumes the first session instead of doing a full one.
async fn sessions_from_one_options_resume_tls<S: Session>() {
    let server = pop3_testkit::TestServer::builder()
        .messages(mailbox::generate(1, 500, 1))
        .start();
    let options = <pop3_testkit::TestServer as Target>::options(&server, TlsMode::Implicit);
    let connector = LoginConnector::<S>::new(options, Target::login(&server));
    let first = connector.connect().await.unwrap();
    let info = first.tls_info().expect("TLS info");
    assert!(!info.resumed);
    assert!(!info.peer_certificates.is_empty());
    first.quit().await.unwrap();
    let second = connector.connect().await.unwrap();
    assert!(second.tls_info().expect("TLS info").resumed, "{}", S::NAME);
    second.quit().await.unwrap();
}

every_runtime_and_target!(connector_opens_logged_in_sessions);
on_every_runtime!(sessions_from_one_options_resume_tls);

/// Every adapter runs a session over a stream the caller connected.
#[test]
fn bring_your_own_stream_on_every_adapter() {
    let server = pop3_testkit::TestServer::builder()
        .messages(mailbox::generate(2, 800, 9))
        .start();
    let options = <pop3_testkit::TestServer as Target>::options(&server, TlsMode::Implicit);
    let login = || Target::login(&server);
    let addr = server.tls_addr();

    let tcp = std::net::TcpStream::connect(addr).unwrap();
    let mut sync = pop3_sync::Client::connect_with(tcp, &options).unwrap();
    sync.login(login()).unwrap();
    assert_eq!(BlockingSession::stat(&mut sync).unwrap().messages, 2);

    common::on_tokio(async {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut tokio = pop3_tokio::Client::connect_with(tcp, &options)
            .await
            .unwrap();
        tokio.login(login()).await.unwrap();
        assert_eq!(tokio.stat().await.unwrap().messages, 2);
    });

    common::on_smol(async {
        let tcp = async_net::TcpStream::connect(addr).await.unwrap();
        let mut futures = pop3_futures::Client::connect_with(tcp, &options)
            .await
            .unwrap();
        futures.login(login()).await.unwrap();
        assert_eq!(futures.stat().await.unwrap().messages, 2);
    });
}
