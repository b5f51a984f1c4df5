//! Security scenarios against the in-process `TestServer`, on every adapter and runtime:
//! STLS stripping and injection, refused upgrades, untrusted certificates, command
//! injection through credentials, and hostile line lengths.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Session, options};
use pop3_session::{AuthMethod, Login};
use pop3_session::{ErrorKind, TlsMode};
use pop3_testkit::{Fault, TestServer, mailbox};

/// Nothing that carries or proves a credential reached the server.
fn no_credentials(server: &TestServer) {
    for line in server.received() {
        let upper = line.to_ascii_uppercase();
        assert!(
            !["USER", "PASS", "APOP", "AUTH"]
                .iter()
                .any(|k| upper.starts_with(k)),
            "credential command reached the server: {line:?}"
        );
        assert!(
            !line.contains(server.password()),
            "password reached the server"
        );
    }
}

/// A STLS login against a server with `fault`; must fail with `kind` before credentials.
async fn stls_fault<S: Session>(fault: Fault, kind: ErrorKind) {
    let server = TestServer::builder().fault(fault.clone()).start();
    let options = options(server.addr(), TlsMode::StartTls, server.ca_pem());
    let mut session = S::dial(&options).await.unwrap();
    let error = session
        .login(Login::new(server.user(), server.password()))
        .await
        .expect_err("the login must fail");
    assert_eq!(error.kind(), kind, "{fault:?}: {error}");
    no_credentials(&server);
}

/// NO STARTTLS `B_1/B_2`: a forged CAPA answer in the same segment as `+OK` to STLS.
async fn injection_after_stls_aborts<S: Session>() {
    stls_fault::<S>(
        Fault::InjectAfterStls(b"+OK\r\nPLAIN\r\n.\r\n".to_vec()),
        ErrorKind::Security,
    )
    .await;
}

/// A downgrade attacker removing STLS from CAPA.
async fn stripped_stls_is_detected<S: Session>() {
    stls_fault::<S>(Fault::StripStls, ErrorKind::Security).await;
}

async fn refused_stls_stops_the_login<S: Session>() {
    stls_fault::<S>(Fault::RefuseStls, ErrorKind::Security).await;
}

async fn failing_capa_stops_the_login<S: Session>() {
    stls_fault::<S>(Fault::FailCapa, ErrorKind::Security).await;
}

/// A certificate not signed by a trusted CA is refused, in both TLS modes.
async fn untrusted_certificate_is_refused<S: Session>() {
    let server = TestServer::builder().untrusted_certificate().start();
    let implicit = options(server.tls_addr(), TlsMode::Implicit, server.ca_pem());
    let error = S::dial(&implicit)
        .await
        .err()
        .expect("implicit TLS must fail");
    assert_eq!(error.kind(), ErrorKind::Security, "{error}");
    let stls = options(server.addr(), TlsMode::StartTls, server.ca_pem());
    let mut session = S::dial(&stls).await.unwrap();
    let error = session
        .login(Login::new(server.user(), server.password()))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Security, "{error}");
    no_credentials(&server);
}

/// A password with CR/LF would inject a command after PASS: refused locally.
async fn password_with_line_break_is_refused_locally<S: Session>() {
    let server = TestServer::builder()
        .messages(mailbox::generate(2, 500, 1))
        .start();
    let options = options(server.tls_addr(), TlsMode::Implicit, server.ca_pem());
    let mut session = S::dial(&options).await.unwrap();
    let login = Login::new(server.user(), "secret\r\nDELE 1").method(AuthMethod::User);
    let error = session.login(login).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Usage, "{error}");
    assert!(
        server
            .received()
            .iter()
            .all(|l| !l.starts_with("PASS") && !l.starts_with("DELE"))
    );
    assert_eq!(server.mailbox().len(), 2);
}

/// A 10 MB status line is refused at the configured limit, not buffered.
async fn endless_status_line_is_refused<S: Session>() {
    let server = TestServer::builder()
        .fault(Fault::HugeStatusLine(10_000_000))
        .start();
    let options = options(server.tls_addr(), TlsMode::Implicit, server.ca_pem());
    let mut session = S::dial(&options).await.unwrap();
    let error = session
        .login(Login::new(server.user(), server.password()))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &error,
            pop3_session::Error::Protocol(pop3_session::proto::Error::LineTooLong { .. })
        ),
        "{error}"
    );
}

/// A response cut in the middle, or garbage instead of one, is an error, never data.
async fn truncated_and_garbage_responses_fail<S: Session>() {
    let messages = mailbox::generate(3, 200_000, 3);
    let server = TestServer::builder()
        .messages(messages.clone())
        .fault(Fault::TruncateMultiline)
        .start();
    let options = options(server.tls_addr(), TlsMode::Implicit, server.ca_pem());
    let mut session = S::dial(&options).await.unwrap();
    session
        .login(Login::new(server.user(), server.password()))
        .await
        .unwrap();
    let error = session.retr(1).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Closed, "{error}");

    let server = TestServer::builder()
        .messages(messages)
        .fault(Fault::Garbage(b"HTTP/1.1 400 Bad\r\n".to_vec()))
        .start();
    let options = common::options(server.tls_addr(), TlsMode::Implicit, server.ca_pem());
    let mut session = S::dial(&options).await.unwrap();
    // The first command after login is the login's own CAPA, which rides along with the
    // next operation: the garbage answering it fails that operation.
    session
        .login(Login::new(server.user(), server.password()))
        .await
        .unwrap();
    let error = session.stat().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Protocol, "{error}");
}

/// A loopback server, one connection at a time, that holds its answer to STAT until
/// `release` fires, writes it, then reports on `written`. Should the release never come
/// (the client never gave up), it answers after a minute anyway, so that a missing
/// timeout fails the test instead of hanging it.
fn late_stat_server(
    release: std::sync::mpsc::Receiver<()>,
    written: futures::channel::oneshot::Sender<()>,
) -> std::net::SocketAddr {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut written = Some(written);
        // A client whose login timed out comes back on a new connection.
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let mut writer = stream.try_clone().unwrap();
            let _ = writer.write_all(b"+OK ready\r\n");
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                let answer: &[u8] = match line.as_str() {
                    "CAPA" => b"+OK\r\nUSER\r\n.\r\n",
                    "STAT" => {
                        let _ = release.recv_timeout(std::time::Duration::from_secs(60));
                        b"+OK 1 1\r\n"
                    }
                    "QUIT" => b"+OK bye\r\n",
                    _ => b"+OK\r\n",
                };
                if writer.write_all(answer).is_err() {
                    break;
                }
                if line == "STAT"
                    && let Some(written) = written.take()
                {
                    let _ = written.send(());
                }
            }
        }
    });
    addr
}

/// A timeout in the middle of an exchange ends the session: the next call must not read
/// the late answer as its own. Driven by events, not by a clock: the server answers only
/// once the client has given up.
async fn a_timeout_ends_the_session<S: Session>() {
    let (release, held) = std::sync::mpsc::channel();
    let (written, on_written) = futures::channel::oneshot::channel();
    let addr = late_stat_server(held, written);
    // The idle timeout under test bounds every read of the login too, where a loaded
    // machine may stall the server thread past it: that is not what is tested, so such a
    // login is tried again with twice the timeout. Only STAT, which the server holds
    // until released, must time out.
    let mut timeout = std::time::Duration::from_millis(200);
    let mut session = loop {
        let options = pop3_session::ConnectOptions::new("127.0.0.1")
            .port(addr.port())
            .tls(TlsMode::Plain)
            .io_timeout(timeout);
        let login = Login::new("alice", "secret")
            .method(AuthMethod::User)
            .allow_plaintext(true);
        let attempt = async {
            let mut session = S::dial(&options).await?;
            session.login(login).await?;
            Ok::<_, pop3_session::Error>(session)
        }
        .await;
        match attempt {
            Ok(session) => break session,
            Err(e) if e.kind() == ErrorKind::Timeout && timeout.as_secs() < 30 => timeout *= 2,
            Err(e) => panic!("{}: the login failed: {e}", S::NAME),
        }
    };
    let first = session.stat().await.unwrap_err();
    assert_eq!(first.kind(), ErrorKind::Timeout, "{first}");
    // Now the late "+OK 1 1" arrives; it must not be taken as the answer to this STAT.
    release.send(()).unwrap();
    on_written.await.unwrap();
    let second = session.stat().await.unwrap_err();
    // A transport error, not a configuration one (which the CLI reports as a usage error).
    assert_eq!(second.kind(), ErrorKind::Io, "{second}");
}

on_every_runtime!(
    a_timeout_ends_the_session,
    injection_after_stls_aborts,
    stripped_stls_is_detected,
    refused_stls_stops_the_login,
    failing_capa_stops_the_login,
    untrusted_certificate_is_refused,
    password_with_line_break_is_refused_locally,
    endless_status_line_is_refused,
    truncated_and_garbage_responses_fail,
);
