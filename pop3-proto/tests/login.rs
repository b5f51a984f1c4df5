//! The Login task: mechanism choice, security policy and hostile servers.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use common::{Script, Transcript, run, whole};
use pop3_proto::sasl::MechanismKind;
use pop3_proto::server::session::{MemoryBackend, ServerOptions, Session};
use pop3_proto::task::{AuthMethod, Login, LoginOutcome, Stat};
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
        // Under TLS the fewest round trips win: USER and PASS pipelined cost one.
        (vec![MechanismKind::Login, MechanismKind::CramMd5], "USER"),
        (vec![MechanismKind::Login, MechanismKind::Plain], "PLAIN"),
        (vec![MechanismKind::Login], "USER"),
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
        assert!(outcome.capabilities.unwrap().pipelining());
    }
    // Without pipelining USER/PASS costs two round trips, CRAM-MD5 two as well but it
    // keeps the password off the wire; LOGIN costs three.
    let cases = [
        (
            vec![MechanismKind::Login, MechanismKind::CramMd5],
            "CRAM-MD5",
        ),
        (vec![MechanismKind::Login], "USER"),
    ];
    for (sasl, expected) in cases {
        let options = ServerOptions {
            sasl,
            pipelining: false,
            ..ServerOptions::default()
        };
        let (result, _) = login_with(options, Login::new("alice", "s3cret"), true);
        assert_eq!(result.unwrap().method, expected);
    }
    // Over plaintext (explicitly allowed), challenge-response comes first.
    let options = ServerOptions {
        sasl: vec![MechanismKind::Plain, MechanismKind::CramMd5],
        ..ServerOptions::default()
    };
    let login = Login::new("alice", "s3cret").allow_plaintext(true);
    let (result, _) = login_with(options, login, false);
    assert_eq!(result.unwrap().method, "CRAM-MD5");
}

/// Connect-to-login in as few round trips as RFC 2449 allows: the greeting, CAPA, then
/// the credentials with CAPA pipelined behind them; the next command rides along with
/// that CAPA.
#[test]
fn login_costs_two_round_trips_after_the_greeting() {
    for (sasl, method, wire) in [
        (
            vec![MechanismKind::Plain],
            "PLAIN",
            "CAPA\r\nAUTH PLAIN AGFsaWNlAHMzY3JldA==\r\nCAPA\r\nSTAT\r\n",
        ),
        (
            vec![],
            "USER",
            "CAPA\r\nUSER alice\r\nPASS s3cret\r\nCAPA\r\nSTAT\r\n",
        ),
    ] {
        let options = ServerOptions {
            sasl,
            ..ServerOptions::default()
        };
        let mut peer = server(options);
        peer.set_implicit_tls();
        let mut client = Client::new(Config::new().tls(TlsMode::Implicit));
        let mut t = Transcript::default();
        let login = Login::new("alice", "s3cret");
        let outcome = run(&mut client, &mut peer, login, &mut whole(), &mut t).unwrap();
        assert_eq!(outcome.method, method);
        // The greeting, CAPA, the credentials.
        assert_eq!(t.round_trips, 3, "{method}");
        let size = run(&mut client, &mut peer, Stat::new(), &mut whole(), &mut t).unwrap();
        assert_eq!(size.messages, 0);
        assert_eq!(
            t.round_trips, 4,
            "{method}: STAT rides with the post-login CAPA"
        );
        assert_eq!(String::from_utf8_lossy(&t.client_wrote), wire);
    }
}

#[test]
fn a_mechanism_the_server_does_not_offer_is_refused_before_anything_is_sent() {
    let options = ServerOptions {
        sasl: vec![MechanismKind::CramMd5],
        ..ServerOptions::default()
    };
    let login = Login::new("alice", "s3cret").method(AuthMethod::Sasl(MechanismKind::Plain));
    let (result, t) = login_with(options, login, true);
    let error = result.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Usage);
    assert_eq!(
        error.to_string(),
        "the server does not offer PLAIN (it offers: USER APOP CRAM-MD5)"
    );
    assert_eq!(t.client_wrote, b"CAPA\r\n");
    // Without CAPA, no SASL mechanism is offered; USER still is.
    let options = ServerOptions {
        capa: false,
        ..ServerOptions::default()
    };
    let login = Login::new("alice", "s3cret").method(AuthMethod::Sasl(MechanismKind::CramMd5));
    let (result, t) = login_with(options, login, true);
    assert!(matches!(result, Err(Error::MechanismNotOffered { .. })));
    no_credentials(&t);
}

#[test]
fn temporary_refusals_are_not_authentication_failures() {
    for code in ["IN-USE", "LOGIN-DELAY", "SYS/TEMP", "SYS/TEMP/QUOTA"] {
        let refusal = format!("-ERR [{code}] try again later\r\n");
        let mut peer = Script::new(
            b"+OK ready\r\n",
            &[
                (b"CAPA\r\n", b"+OK\r\nUSER\r\n.\r\n"),
                (b"USER alice\r\n", b"+OK\r\n"),
                (b"PASS s3cret\r\n", refusal.as_bytes()),
            ],
        );
        let mut client = Client::new(Config::new().tls(TlsMode::Implicit));
        let mut t = Transcript::default();
        let result = run(
            &mut client,
            &mut peer,
            Login::new("alice", "s3cret"),
            &mut whole(),
            &mut t,
        );
        let error = result.unwrap_err();
        assert!(
            matches!(error, Error::LoginDeferred(_)),
            "{code}: {error:?}"
        );
        assert_eq!(error.kind(), ErrorKind::Temporary, "{code}");
    }
    // [AUTH] and [SYS/PERM] are not temporary.
    for code in ["AUTH", "SYS/PERM"] {
        let refusal = format!("-ERR [{code}] no\r\n");
        let mut peer = Script::new(
            b"+OK ready\r\n",
            &[
                (b"CAPA\r\n", b"+OK\r\nUSER\r\n.\r\n"),
                (b"USER alice\r\n", b"+OK\r\n"),
                (b"PASS s3cret\r\n", refusal.as_bytes()),
            ],
        );
        let mut client = Client::new(Config::new().tls(TlsMode::Implicit));
        let mut t = Transcript::default();
        let result = run(
            &mut client,
            &mut peer,
            Login::new("alice", "s3cret"),
            &mut whole(),
            &mut t,
        );
        assert!(matches!(result, Err(Error::AuthFailed(_))), "{code}");
    }
}

/// A USER refused while PASS is pipelined behind it: PASS's answer is read too, so the
/// session is not left with an answer nobody claims.
#[test]
fn a_refused_user_waits_for_the_pipelined_pass() {
    let mut peer = Script::new(
        b"+OK ready\r\n",
        &[
            (b"CAPA\r\n", b"+OK\r\nUSER\r\nPIPELINING\r\n.\r\n"),
            (b"USER alice\r\n", b"-ERR [IN-USE] locked\r\n"),
            (b"PASS s3cret\r\n", b"-ERR No username\r\n"),
            (b"CAPA\r\n", b"+OK\r\nUSER\r\nPIPELINING\r\n.\r\n"),
            (b"QUIT\r\n", b"+OK bye\r\n"),
        ],
    );
    let mut client = Client::new(Config::new().tls(TlsMode::Implicit));
    let mut t = Transcript::default();
    let result = run(
        &mut client,
        &mut peer,
        Login::new("alice", "s3cret"),
        &mut whole(),
        &mut t,
    );
    assert!(matches!(result, Err(Error::LoginDeferred(_))), "{result:?}");
    assert!(
        String::from_utf8_lossy(&t.client_wrote).ends_with("USER alice\r\nPASS s3cret\r\nCAPA\r\n"),
        "pipelined"
    );
    let quit = run(
        &mut client,
        &mut peer,
        pop3_proto::task::Quit::new(),
        &mut whole(),
        &mut t,
    );
    assert!(quit.unwrap().committed);
    assert!(peer.finished());
}

#[test]
fn oauth_tokens_go_after_the_empty_challenge() {
    for kind in [MechanismKind::XOAuth2, MechanismKind::OAuthBearer] {
        let options = ServerOptions {
            sasl: vec![kind],
            ..ServerOptions::default()
        };
        let login = Login::new("alice", "s3cret").method(AuthMethod::Sasl(kind));
        let (result, t) = login_with(options.clone(), login, true);
        assert_eq!(result.unwrap().method, kind.name());
        let wire = String::from_utf8_lossy(&t.client_wrote);
        assert!(
            wire.contains(&format!("AUTH {}\r\n", kind.name())),
            "two steps: {wire}"
        );
        // The one-line form, when asked for.
        let login = Login::new("alice", "s3cret")
            .method(AuthMethod::Sasl(kind))
            .oauth_initial_response(true);
        let (result, t) = login_with(options, login, true);
        assert!(result.is_ok());
        let wire = String::from_utf8_lossy(&t.client_wrote);
        assert!(
            wire.contains(&format!("AUTH {} ", kind.name())),
            "one line: {wire}"
        );
    }
}

#[test]
fn utf8_is_enabled_when_offered_unless_declined() {
    let options = ServerOptions {
        utf8: true,
        sasl: vec![],
        ..ServerOptions::default()
    };
    let (result, t) = login_with(options.clone(), Login::new("alice", "s3cret"), true);
    assert!(result.is_ok());
    assert!(
        String::from_utf8_lossy(&t.client_wrote).starts_with("CAPA\r\nUTF8\r\nUSER alice\r\n"),
        "{:?}",
        String::from_utf8_lossy(&t.client_wrote)
    );
    let (result, t) = login_with(options, Login::new("alice", "s3cret").utf8(false), true);
    assert!(result.is_ok());
    assert!(!String::from_utf8_lossy(&t.client_wrote).contains("UTF8"));
    // Not offered: not sent.
    let (result, t) = login_with(
        ServerOptions::default(),
        Login::new("alice", "s3cret"),
        true,
    );
    assert!(result.is_ok());
    assert!(!String::from_utf8_lossy(&t.client_wrote).contains("UTF8"));
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
    // Under TLS now: the fewest round trips.
    assert_eq!(outcome.method, "PLAIN");
    let wire = String::from_utf8_lossy(&t.client_wrote);
    assert!(
        wire.starts_with("CAPA\r\nSTLS\r\nCAPA\r\nAUTH PLAIN "),
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
