//! The Login task: mechanism choice, security policy and hostile servers.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use common::{Script, Transcript, run, whole};
use pop3_proto::sasl::MechanismKind;
use pop3_proto::server::session::{MemoryBackend, ServerOptions, Session};
use pop3_proto::task::{AuthMethod, Login, LoginOutcome};
use pop3_proto::{Client, Config, Error, ErrorKind, RespCode, TlsMode};

fn server(options: ServerOptions) -> Session<MemoryBackend> {
    let backend = MemoryBackend {
        user: "alice".into(),
        password: "s3cret".into(),
        messages: vec![],
    };
    Session::new(backend, options)
}

fn login_with(
    options: ServerOptions,
    login: Login,
    implicit_tls: bool,
) -> (Result<LoginOutcome, Error>, Transcript) {
    let mut peer = server(options);
    if implicit_tls {
        peer.set_implicit_tls();
    }
    let tls = if implicit_tls {
        TlsMode::Implicit
    } else {
        TlsMode::Plain
    };
    let mut client = Client::new(Config::new().tls(tls));
    let mut t = Transcript::default();
    let result = run(&mut client, &mut peer, login, &mut whole(), &mut t);
    (result, t)
}

fn no_credentials(t: &Transcript) {
    let wire = String::from_utf8_lossy(&t.client_wrote);
    for secret in ["s3cret", "PASS", "AUTH", "APOP", "USER"] {
        assert!(
            !wire.contains(secret),
            "credential material on the wire: {wire:?}"
        );
    }
}

#[test]
fn auto_picks_the_strongest_offered_mechanism() {
    let cases = [
        (
            vec![
                MechanismKind::Plain,
                MechanismKind::ScramSha256,
                MechanismKind::CramMd5,
            ],
            "SCRAM-SHA-256",
        ),
        (
            vec![MechanismKind::ScramSha1, MechanismKind::Plain],
            "SCRAM-SHA-1",
        ),
        (
            vec![MechanismKind::Login, MechanismKind::CramMd5],
            "CRAM-MD5",
        ),
        (vec![MechanismKind::Login, MechanismKind::Plain], "PLAIN"),
        (vec![MechanismKind::Login], "LOGIN"),
        (vec![], "USER"),
    ];
    for (sasl, expected) in cases {
        let options = ServerOptions {
            sasl,
            ..ServerOptions::default()
        };
        let (result, _) = login_with(options, Login::new("alice", "s3cret"), true);
        let outcome = result.unwrap();
        assert_eq!(outcome.method, expected);
        // Post-login CAPA: Dovecot-like servers drop the pre-login capabilities.
        assert!(outcome.capabilities.unwrap().pipelining());
    }
}

#[test]
fn apop_only_when_nothing_else_is_offered() {
    let options = ServerOptions {
        sasl: vec![],
        user_pass: false,
        ..ServerOptions::default()
    };
    let (result, _) = login_with(options, Login::new("alice", "s3cret"), true);
    assert_eq!(result.unwrap().method, "APOP");

    let options = ServerOptions {
        sasl: vec![],
        user_pass: false,
        apop: None,
        ..ServerOptions::default()
    };
    let (result, t) = login_with(options, Login::new("alice", "s3cret"), true);
    assert!(matches!(result, Err(Error::NoMechanism { .. })));
    no_credentials(&t);
}

#[test]
fn every_explicit_mechanism_logs_in() {
    let all = vec![
        MechanismKind::Plain,
        MechanismKind::Login,
        MechanismKind::CramMd5,
        MechanismKind::ScramSha1,
        MechanismKind::ScramSha256,
        MechanismKind::XOAuth2,
        MechanismKind::OAuthBearer,
    ];
    for kind in all.clone() {
        let options = ServerOptions {
            sasl: all.clone(),
            ..ServerOptions::default()
        };
        let (result, _) = login_with(
            options,
            Login::new("alice", "s3cret").method(AuthMethod::Sasl(kind)),
            true,
        );
        assert_eq!(result.unwrap().method, kind.name());
    }
    for (method, name) in [(AuthMethod::User, "USER"), (AuthMethod::Apop, "APOP")] {
        let (result, _) = login_with(
            ServerOptions::default(),
            Login::new("alice", "s3cret").method(method),
            true,
        );
        assert_eq!(result.unwrap().method, name);
    }
}

#[test]
fn wrong_password_is_an_auth_failure_with_its_code() {
    for kind in [
        MechanismKind::Plain,
        MechanismKind::CramMd5,
        MechanismKind::ScramSha256,
    ] {
        let options = ServerOptions {
            sasl: vec![kind],
            ..ServerOptions::default()
        };
        let (result, _) = login_with(options, Login::new("alice", "wrong"), true);
        match result {
            Err(e @ Error::AuthFailed(_)) => {
                assert_eq!(e.kind(), ErrorKind::Auth);
                let Error::AuthFailed(status) = e else {
                    unreachable!()
                };
                assert_eq!(status.code, Some(RespCode::Auth));
            }
            other => panic!("{kind:?}: {other:?}"),
        }
    }
}

#[test]
fn plaintext_credentials_need_explicit_consent() {
    let (result, t) = login_with(
        ServerOptions::default(),
        Login::new("alice", "s3cret"),
        false,
    );
    assert!(matches!(result, Err(Error::PlaintextAuthRefused)));
    assert_eq!(result.unwrap_err().kind(), ErrorKind::Security);
    no_credentials(&t);
    // APOP too: it is never used over plaintext by default.
    let (result, t) = login_with(
        ServerOptions::default(),
        Login::new("alice", "s3cret").method(AuthMethod::Apop),
        false,
    );
    assert!(matches!(result, Err(Error::PlaintextAuthRefused)));
    no_credentials(&t);
    let (result, _) = login_with(
        ServerOptions::default(),
        Login::new("alice", "s3cret").allow_plaintext(true),
        false,
    );
    assert!(result.is_ok());
}

#[test]
fn starttls_upgrades_then_forgets_pre_tls_capabilities() {
    let options = ServerOptions {
        stls: true,
        ..ServerOptions::default()
    };
    let mut peer = server(options);
    let mut client = Client::new(Config::new().tls(TlsMode::StartTls));
    let mut t = Transcript::default();
    let outcome = run(
        &mut client,
        &mut peer,
        Login::new("alice", "s3cret"),
        &mut whole(),
        &mut t,
    )
    .unwrap();
    assert!(client.is_tls());
    assert_eq!(outcome.method, "CRAM-MD5");
    let wire = String::from_utf8_lossy(&t.client_wrote);
    assert!(
        wire.starts_with("CAPA\r\nSTLS\r\nCAPA\r\nAUTH CRAM-MD5\r\n"),
        "{wire}"
    );
}

/// A login requiring STLS against a scripted server; checks that no credential left.
fn stls_login(steps: &[(&[u8], &[u8])]) -> Result<LoginOutcome, Error> {
    let mut peer = Script::new(b"+OK ready\r\n", steps);
    let mut client = Client::new(Config::new().tls(TlsMode::StartTls));
    let mut t = Transcript::default();
    // allow_plaintext does not weaken the STLS requirement.
    let login = Login::new("alice", "s3cret").allow_plaintext(true);
    let result = run(&mut client, &mut peer, login, &mut whole(), &mut t);
    no_credentials(&t);
    result
}

#[test]
fn starttls_required_but_not_offered_sends_no_credential() {
    let result = stls_login(&[(b"CAPA\r\n", b"+OK\r\nUSER\r\nSASL PLAIN\r\n.\r\n")]);
    assert!(matches!(result, Err(Error::StartTlsUnavailable)));
}

#[test]
fn starttls_required_and_capa_fails_sends_no_credential() {
    let result = stls_login(&[(b"CAPA\r\n", b"-ERR unknown command\r\n")]);
    assert!(matches!(result, Err(Error::CapabilitiesUnavailable(_))));
}

#[test]
fn starttls_refused_sends_no_credential() {
    let result = stls_login(&[
        (b"CAPA\r\n", b"+OK\r\nSTLS\r\nUSER\r\n.\r\n"),
        (b"STLS\r\n", b"-ERR TLS not available\r\n"),
    ]);
    assert!(matches!(result, Err(Error::StartTlsRefused(_))));
}

#[test]
fn bytes_injected_after_stls_ok_abort_the_session() {
    // NO STARTTLS "B_1/B_2": the +OK and a forged CAPA answer in one segment.
    let result = stls_login(&[
        (b"CAPA\r\n", b"+OK\r\nSTLS\r\nUSER\r\n.\r\n"),
        (b"STLS\r\n", b"+OK Begin TLS\r\n+OK\r\nPLAIN\r\n.\r\n"),
    ]);
    assert!(matches!(result, Err(Error::StartTlsInjection { .. })));
}

#[test]
fn long_initial_response_waits_for_the_empty_challenge() {
    // RFC 5034 §4: an AUTH line over 255 octets must not carry the initial response.
    let token = "t".repeat(300);
    let backend = MemoryBackend {
        user: "alice".into(),
        password: token.as_str().into(),
        messages: vec![],
    };
    let options = ServerOptions {
        sasl: vec![MechanismKind::XOAuth2],
        ..ServerOptions::default()
    };
    let mut peer = Session::new(backend, options);
    let mut client = Client::new(Config::new().tls(TlsMode::Implicit));
    peer.set_implicit_tls();
    let mut t = Transcript::default();
    let login =
        Login::new("alice", token.as_str()).method(AuthMethod::Sasl(MechanismKind::XOAuth2));
    run(&mut client, &mut peer, login, &mut whole(), &mut t).unwrap();
    let wire = String::from_utf8_lossy(&t.client_wrote);
    assert!(wire.contains("AUTH XOAUTH2\r\n"), "{wire}");
    assert!(
        wire.lines()
            .all(|l| l.len() + 2 <= 255 || !l.starts_with("AUTH"))
    );
}

/// A server that does not know the password: a well-formed SCRAM server-first, then
/// `after_final` to the client-final and `after_cancel` to `*`.
struct ScramImpostor {
    after_final: Vec<u8>,
    after_cancel: &'static [u8],
    pending: Vec<u8>,
    out: Vec<u8>,
}

impl ScramImpostor {
    fn new(after_final: Vec<u8>, after_cancel: &'static [u8]) -> Self {
        Self {
            after_final,
            after_cancel,
            pending: Vec::new(),
            out: b"+OK ready\r\n".to_vec(),
        }
    }
}

impl common::Peer for ScramImpostor {
    fn receive(&mut self, bytes: &[u8]) {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        self.pending.extend_from_slice(bytes);
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let line = String::from_utf8(line).unwrap();
            let line = line.trim_end();
            if line == "CAPA" {
                self.out
                    .extend_from_slice(b"+OK\r\nSASL SCRAM-SHA-256\r\n.\r\n");
            } else if let Some(ir) = line.strip_prefix("AUTH SCRAM-SHA-256 ") {
                let first = String::from_utf8(b64.decode(ir).unwrap()).unwrap();
                let nonce = first.rsplit("r=").next().unwrap();
                let server_first = format!("r={nonce}srv,s={},i=4096", b64.encode(b"salt"));
                pop3_proto::server::encode_challenge(server_first.as_bytes(), &mut self.out);
            } else if line == "*" {
                self.out.extend_from_slice(self.after_cancel);
            } else {
                self.out.extend_from_slice(&self.after_final);
            }
        }
    }

    fn send(&mut self) -> Option<Vec<u8>> {
        Some(std::mem::take(&mut self.out))
    }
}

/// A SCRAM server that never proves it knows the password must not leave a usable
/// session behind, whether it skips its proof, or forges it (we then cancel with `*`,
/// which it may accept or ignore).
#[test]
fn unauthenticated_scram_server_leaves_no_usable_session() {
    let mut forged = Vec::new();
    let v = format!(
        "v={}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [0u8; 32])
    );
    pop3_proto::server::encode_challenge(v.as_bytes(), &mut forged);
    for (after_final, after_cancel) in [
        (b"+OK welcome\r\n".to_vec(), &b""[..]),
        (forged.clone(), &b"+OK fine\r\n"[..]),
        (forged, &b"-ERR cancelled\r\n"[..]),
    ] {
        let mut peer = ScramImpostor::new(after_final, after_cancel);
        let mut client = Client::new(Config::new().tls(TlsMode::Implicit));
        let login =
            Login::new("alice", "s3cret").method(AuthMethod::Sasl(MechanismKind::ScramSha256));
        let error = run(
            &mut client,
            &mut peer,
            login,
            &mut whole(),
            &mut Transcript::default(),
        )
        .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Security, "{error}");
        assert_ne!(client.state(), pop3_proto::State::Transaction);
        assert!(
            client.send(pop3_proto::Command::Retr(1)).is_err(),
            "the session is unusable"
        );
    }
}

/// STLS through the raw `RawCommand` path requests the handshake too; and a handshake completed
/// outside any task does not confuse the next task.
#[test]
fn stls_outside_login() {
    let mut peer = Script::new(
        b"+OK ready\r\n",
        &[
            (b"STLS\r\n", b"+OK go\r\n"),
            (b"CAPA\r\n", b"+OK\r\nUSER\r\n.\r\n"),
        ],
    );
    let mut client = Client::new(Config::default());
    let mut t = Transcript::default();
    run(
        &mut client,
        &mut peer,
        pop3_proto::task::Greet,
        &mut whole(),
        &mut t,
    )
    .unwrap();
    run(
        &mut client,
        &mut peer,
        pop3_proto::task::RawCommand::new(pop3_proto::Command::Stls),
        &mut whole(),
        &mut t,
    )
    .unwrap();
    assert!(client.is_tls());
    let caps = run(
        &mut client,
        &mut peer,
        pop3_proto::task::Capa::new(),
        &mut whole(),
        &mut t,
    )
    .unwrap();
    assert!(caps.user());

    // By hand: send STLS, read +OK, report the handshake, then run a task.
    let mut client = Client::new(Config::default());
    client.enqueue_input(b"+OK hi\r\n");
    assert!(client.progress().is_ok());
    client.send(pop3_proto::Command::Stls).unwrap();
    let _ = client.progress();
    client.enqueue_input(b"+OK go\r\n");
    assert!(client.progress().is_ok());
    client.tls_established().unwrap();
    let mut peer = Script::new(b"", &[(b"CAPA\r\n", b"+OK\r\nUSER\r\n.\r\n")]);
    let caps = run(
        &mut client,
        &mut peer,
        pop3_proto::task::Capa::new(),
        &mut whole(),
        &mut t,
    )
    .unwrap();
    assert!(caps.user());
}
