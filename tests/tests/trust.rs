//! Certificates as people have them, and TLS mix-ups, on every adapter and runtime: a
//! self-signed certificate made by running `openssl req -x509` (`CA:TRUE`) trusted as
//! itself, pinning by SHA-256 fingerprint, refusals that keep what the server presented,
//! and servers that do not speak the TLS mode asked for.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write as _;
use std::net::{SocketAddr, TcpListener};
use std::sync::OnceLock;
use std::time::Duration;

use common::{Session, Target};
use pop3_session::{
    AuthMethod, CertificateInfo, CertificateProblem, ConnectOptions, Error, ErrorKind, Fingerprint,
    Login, TlsError, TlsEvidence, TlsMode,
};
use pop3_testkit::tls_front::{
    PemCertificate, TlsFront, openssl_req_x509, openssl_req_x509_common_name_only, server_config,
};
use pop3_testkit::wire::stls_liar;
use pop3_testkit::{TestServer, mailbox};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;

fn der(pem: &str) -> CertificateDer<'static> {
    CertificateDer::from_pem_slice(pem.as_bytes()).expect("a PEM certificate")
}

/// Implicit TLS to `addr` on 127.0.0.1, trusting nothing yet.
fn implicit(addr: SocketAddr) -> ConnectOptions {
    ConnectOptions::new("127.0.0.1")
        .port(addr.port())
        .tls(TlsMode::Implicit)
        .timeout(Duration::from_secs(20))
}

/// The certificate refusal in `error`: its problem and what the server presented.
fn refusal(error: &Error) -> (CertificateProblem, CertificateInfo) {
    match error {
        Error::Tls {
            error: TlsError::Certificate { problem, session },
            ..
        } => (
            problem.clone(),
            session.certificate().expect("the presented certificate"),
        ),
        other => panic!("not a certificate refusal: {other}"),
    }
}

/// An `openssl req -x509` certificate, as the usual how-to makes it, in front of the
/// server: given as a trust anchor it is trusted when it is exactly the one presented;
/// otherwise refused, with what was presented; pinned, it is trusted without any anchor.
async fn an_openssl_certificate_is_trusted_as_itself<S: Session, T: Target>() {
    let Some(cert) = openssl_req_x509().unwrap() else {
        return;
    };
    let Some(server) = T::start(mailbox::generate(3, 500, 2)) else {
        return;
    };
    let front = TlsFront::start(
        server.plain_addr(),
        server_config(&cert.cert_pem, &cert.key_pem).unwrap(),
    )
    .unwrap();
    let info = CertificateInfo::parse(&der(&cert.cert_pem)).unwrap();
    assert!(
        info.ca,
        "openssl marks it CA:TRUE, which webpki refuses as a server certificate"
    );
    let context = format!("{} {}", S::NAME, T::NAME);

    let trusted = implicit(front.addr())
        .add_root_pem(cert.cert_pem.as_bytes())
        .unwrap()
        .without_webpki_roots();
    let mut session = S::dial(&trusted).await.expect(&context);
    session.login(server.login()).await.expect(&context);
    assert_eq!(session.stat().await.expect(&context).messages, 3);
    session.quit().await.expect(&context);

    // Not trusted: refused, and what the server presented comes with the error.
    let error = S::dial(&implicit(front.addr()))
        .await
        .err()
        .expect(&context);
    assert_eq!(error.kind(), ErrorKind::Security, "{context}: {error}");
    let (problem, presented) = refusal(&error);
    assert_eq!(problem, CertificateProblem::SelfSigned, "{context}");
    assert_eq!(presented.fingerprint, info.fingerprint, "{context}");
    assert!(error.to_string().contains("CN=localhost"), "{error}");

    // Pinned: trusted without any anchor.
    let pinned = implicit(front.addr())
        .without_webpki_roots()
        .pin_certificate(presented.fingerprint);
    let mut session = S::dial(&pinned).await.expect(&context);
    session.login(server.login()).await.expect(&context);
    session.quit().await.expect(&context);
}

/// `openssl req -x509 -subj /CN=localhost` without `-addext`: no subject alternative
/// names. Given as the trust anchor, it is trusted for `localhost`, the name it carries,
/// and refused for `127.0.0.1`, which it does not name.
async fn an_openssl_certificate_named_by_its_common_name<S: Session>() {
    let Some(cert) = openssl_req_x509_common_name_only().unwrap() else {
        return;
    };
    let info = CertificateInfo::parse(&der(&cert.cert_pem)).unwrap();
    assert!(info.names.is_empty(), "{:?}", info.names);
    let server = TestServer::builder()
        .messages(mailbox::generate(2, 500, 5))
        .start();
    let front = TlsFront::start(
        server.addr(),
        server_config(&cert.cert_pem, &cert.key_pem).unwrap(),
    )
    .unwrap();
    let anchored = |host: &str| {
        ConnectOptions::new(host)
            .port(front.addr().port())
            .tls(TlsMode::Implicit)
            .timeout(Duration::from_secs(20))
            .add_root_pem(cert.cert_pem.as_bytes())
            .unwrap()
            .without_webpki_roots()
    };
    let mut session = S::dial(&anchored("localhost")).await.expect(S::NAME);
    session
        .login(Login::new(server.user(), server.password()))
        .await
        .expect(S::NAME);
    assert_eq!(session.stat().await.expect(S::NAME).messages, 2);
    session.quit().await.expect(S::NAME);

    let error = S::dial(&anchored("127.0.0.1")).await.err().expect(S::NAME);
    let (problem, _) = refusal(&error);
    assert_eq!(
        problem,
        CertificateProblem::WrongName {
            expected: "127.0.0.1".into(),
            names: vec!["localhost".into()],
        },
        "{}",
        S::NAME
    );
}

/// A pin replaces the chain: the test kit's CA-signed certificate, pinned, is trusted
/// with no anchor at all, over implicit TLS and STLS; any other pin is refused before a
/// credential is sent.
async fn pinning_replaces_the_chain<S: Session>() {
    let server = TestServer::builder()
        .messages(mailbox::generate(2, 500, 4))
        .start();
    let fingerprint = Fingerprint::of(&der(server.certificates().cert_pem()));
    for (mode, addr) in [
        (TlsMode::Implicit, server.tls_addr()),
        (TlsMode::StartTls, server.addr()),
    ] {
        let base = implicit(addr).tls(mode).without_webpki_roots();
        let mut session = S::dial(&base.clone().pin_certificate(fingerprint))
            .await
            .unwrap();
        session
            .login(Login::new(server.user(), server.password()))
            .await
            .unwrap();
        assert_eq!(session.stat().await.unwrap().messages, 2);
        session.quit().await.unwrap();

        let wrong = base.pin_certificate(Fingerprint::of(b"another certificate"));
        let error = match S::dial(&wrong).await {
            Err(error) => error,
            Ok(mut session) => session
                .login(Login::new(server.user(), server.password()))
                .await
                .unwrap_err(),
        };
        let (problem, presented) = refusal(&error);
        assert_eq!(problem, CertificateProblem::NotPinned, "{mode:?}");
        assert_eq!(presented.fingerprint, fingerprint);
    }
    // Credentials went only to the pinned sessions.
    assert_eq!((server.logins(), server.refused_logins()), (2, 0));
}

/// A certificate given as an anchor must still name the server.
async fn an_anchor_must_name_the_server<S: Session>() {
    let server = TestServer::start();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["pop.example.org".to_owned()]).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).unwrap();
    let pem = PemCertificate {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    };
    let front = TlsFront::start(
        server.addr(),
        server_config(&pem.cert_pem, &pem.key_pem).unwrap(),
    )
    .unwrap();
    let options = implicit(front.addr())
        .add_root_pem(pem.cert_pem.as_bytes())
        .unwrap()
        .without_webpki_roots();
    let error = S::dial(&options).await.err().expect("refused");
    let (problem, _) = refusal(&error);
    assert_eq!(
        problem,
        CertificateProblem::WrongName {
            expected: "127.0.0.1".into(),
            names: vec!["pop.example.org".into()],
        }
    );
    assert!(error.to_string().contains("pop.example.org"), "{error}");
}

/// Implicit TLS against a plaintext POP3 port: the server answered in plaintext.
async fn implicit_tls_on_a_plaintext_port<S: Session>() {
    let server = TestServer::start();
    let options = implicit(server.addr())
        .add_root_pem(server.ca_pem().as_bytes())
        .unwrap();
    let error = S::dial(&options).await.err().expect("refused");
    assert_eq!(error.kind(), ErrorKind::Security);
    assert!(
        matches!(
            error.tls(),
            Some(TlsError::Plaintext {
                pop3: true,
                after_stls: false,
                ..
            })
        ),
        "{error}"
    );
    let text = error.to_string();
    assert!(text.contains("plaintext") && text.contains("+OK"), "{text}");
}

/// `+OK` to STLS then plaintext: a TLS failure, before any credential.
async fn plaintext_after_stls_is_a_tls_failure<S: Session>() {
    let addr = stls_liar();
    let options = ConnectOptions::new("127.0.0.1")
        .port(addr.port())
        .tls(TlsMode::StartTls)
        .timeout(Duration::from_secs(20));
    let mut session = S::dial(&options).await.unwrap();
    let login = Login::new("alice", "secret").method(AuthMethod::User);
    let error = session.login(login).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Security, "{error}");
    assert!(
        matches!(
            error.tls(),
            Some(TlsError::Plaintext {
                after_stls: true,
                ..
            })
        ),
        "{error}"
    );
    assert!(error.to_string().contains("accepted STLS"), "{error}");
}

/// A server that sends a TLS alert where the greeting should be.
fn tls_greeter() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            let _ = stream.write_all(b"\x15\x03\x01\x00\x02\x02\x46");
            std::thread::sleep(Duration::from_secs(5));
        }
    });
    addr
}

/// Plaintext POP3 asked for, TLS spoken: the server expects implicit TLS.
async fn tls_where_the_greeting_should_be<S: Session>() {
    let addr = tls_greeter();
    let options = ConnectOptions::new("127.0.0.1")
        .port(addr.port())
        .tls(TlsMode::Plain)
        .timeout(Duration::from_secs(20));
    let error = S::dial(&options).await.err().expect("refused");
    assert!(
        matches!(
            error.tls(),
            Some(TlsError::ExpectsImplicitTls {
                evidence: TlsEvidence::TlsRecord
            })
        ),
        "{error}"
    );
}

/// A silent listener on 127.0.0.1:995, shared by the tests of this process; `None`
/// when the port cannot be had here (not root, or taken).
fn port_995() -> Option<SocketAddr> {
    static LISTENER: OnceLock<Option<SocketAddr>> = OnceLock::new();
    *LISTENER.get_or_init(|| {
        let listener = TcpListener::bind("127.0.0.1:995").ok()?;
        let addr = listener.local_addr().ok()?;
        std::thread::spawn(move || {
            let mut held = Vec::new();
            // Like an implicit-TLS server: wait for the ClientHello, say nothing.
            for stream in listener.incoming().flatten() {
                held.push(stream);
            }
        });
        Some(addr)
    })
}

/// STLS or plaintext against port 995: the server waits for a TLS handshake; the silence
/// is explained after a short wait instead of the whole idle timeout.
async fn silence_on_the_implicit_tls_port<S: Session>() {
    let Some(addr) = port_995() else {
        pop3_testkit::skip::unavailable("cannot listen on 127.0.0.1:995 here (not root?)");
        return;
    };
    for mode in [TlsMode::StartTls, TlsMode::Plain] {
        let options = ConnectOptions::new("127.0.0.1")
            .port(addr.port())
            .tls(mode)
            .timeout(Duration::from_secs(60))
            .io_timeout(Duration::from_secs(1));
        let error = S::dial(&options).await.err().expect("refused");
        assert!(
            matches!(
                error.tls(),
                Some(TlsError::ExpectsImplicitTls {
                    evidence: TlsEvidence::Silence(waited)
                }) if *waited == Duration::from_secs(1)
            ),
            "{mode:?}: {error}"
        );
        assert!(error.to_string().contains("implicit-TLS port"), "{error}");
    }
}

every_runtime_and_target!(an_openssl_certificate_is_trusted_as_itself);

on_every_runtime!(
    an_openssl_certificate_named_by_its_common_name,
    pinning_replaces_the_chain,
    an_anchor_must_name_the_server,
    implicit_tls_on_a_plaintext_port,
    plaintext_after_stls_is_a_tls_failure,
    tls_where_the_greeting_should_be,
    silence_on_the_implicit_tls_port,
);
