//! The `pop3` binary with certificates as people have them (`openssl req -x509`, pinned
//! fingerprints), TLS mix-ups explained in one line with the fix, `pop3 info`, and slow
//! servers (`--timeout` as a line deadline, `--max-time`). Scenarios that make sense
//! against a real server run against the embedded `TestServer` and a real Dovecot (a
//! printed notice skips the Dovecot run where it cannot start, outside CI).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::net::{SocketAddr, TcpListener};
use std::process::{Command, Output};
use std::time::Duration;

use pop3_testkit::tls_front::{PemCertificate, TlsFront, openssl_req_x509, server_config};
use pop3_testkit::wire::{crlf, stls_liar};
use pop3_testkit::{Dovecot, DovecotOptions, Profile, TestServer, mailbox};

/// The server a scenario runs against.
enum Server {
    Embedded(TestServer),
    Dovecot(Dovecot),
}

impl Server {
    fn plain_addr(&self) -> SocketAddr {
        match self {
            Self::Embedded(s) => s.addr(),
            Self::Dovecot(d) => d.pop3_addr(),
        }
    }

    fn tls_addr(&self) -> SocketAddr {
        match self {
            Self::Embedded(s) => s.tls_addr(),
            Self::Dovecot(d) => d.pop3s_addr(),
        }
    }

    fn ca_pem(&self) -> &str {
        match self {
            Self::Embedded(s) => s.ca_pem(),
            Self::Dovecot(d) => d.ca_pem(),
        }
    }

    fn password(&self) -> &str {
        match self {
            Self::Embedded(s) => s.password(),
            Self::Dovecot(d) => d.password(),
        }
    }
}

/// Runs each scenario `fn name(server: &Server)` against `TestServer` and Dovecot.
macro_rules! against_both {
    ($($scenario:ident => $messages:expr),* $(,)?) => {$(
        mod $scenario {
            use super::*;
            #[test]
            fn testserver() {
                let server = TestServer::builder().messages($messages).start();
                super::$scenario(&Server::Embedded(server));
            }
            #[test]
            fn dovecot() {
                let options = DovecotOptions { messages: $messages, ..Default::default() };
                if let Some(dovecot) = Dovecot::start(options).unwrap() {
                    super::$scenario(&Server::Dovecot(dovecot));
                }
            }
        }
    )*};
}

fn pop3(args: &[&str], password: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pop3"));
    command
        .args(args)
        .env_remove("POP3_USER")
        .env_remove("POP3_PASSWORD");
    if let Some(password) = password {
        command.env("POP3_PASSWORD", password);
    }
    command.output().expect("run pop3")
}

fn code(output: &Output) -> i32 {
    output.status.code().expect("exit code")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `--host 127.0.0.1 --port PORT`, then `rest`.
fn at(port: u16, rest: &[&str]) -> Vec<String> {
    let mut args = vec![
        "--host".to_owned(),
        "127.0.0.1".to_owned(),
        "--port".to_owned(),
        port.to_string(),
    ];
    args.extend(rest.iter().map(|&s| s.to_owned()));
    args
}

fn run(args: &[String], password: Option<&str>) -> Output {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    pop3(&args, password)
}

/// A TLS failure: exit 4, one line on stderr naming the host, in words.
fn assert_tls_failure(out: &Output, port: u16) -> String {
    let err = stderr(out);
    assert_eq!(code(out), 4, "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.contains(&format!("127.0.0.1:{port}")),
        "names the host: {err}"
    );
    for debug in [
        "Other(",
        "OtherError",
        "CaUsedAsEndEntity",
        "InvalidContentType",
        "UnknownIssuer",
    ] {
        assert!(!err.contains(debug), "no Debug rendering: {err}");
    }
    err
}

fn fingerprint_of(cert: &PemCertificate) -> String {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject as _;
    let der = CertificateDer::from_pem_slice(cert.cert_pem.as_bytes()).unwrap();
    pop3_session::Fingerprint::of(&der).to_string()
}

/// The certificate a plain `openssl req -x509` makes (`CA:TRUE`), before the server:
/// refused with the fix named; trusted with `--ca-file`; pinned with
/// `--tls-fingerprint` as `pop3 info` shows it, even though info exits 4.
fn an_openssl_certificate(server: &Server) {
    let Some(cert) = openssl_req_x509().unwrap() else {
        return;
    };
    let front = TlsFront::start(
        server.plain_addr(),
        server_config(&cert.cert_pem, &cert.key_pem).unwrap(),
    )
    .unwrap();
    let port = front.addr().port();
    let dir = tempfile::tempdir().unwrap();
    let cert_file = dir.path().join("cert.pem");
    std::fs::write(&cert_file, &cert.cert_pem).unwrap();
    let cert_file = cert_file.to_str().unwrap();
    let fingerprint = fingerprint_of(&cert);
    let password = Some(server.password());

    // Not trusted: exit 4, one line, the fixes named with the fingerprint to pin.
    let out = run(&at(port, &["--user", "alice", "stat"]), password);
    let err = assert_tls_failure(&out, port);
    assert!(
        err.contains("self-signed") && err.contains("--ca-file"),
        "{err}"
    );
    assert!(
        err.contains(&format!("--tls-fingerprint {fingerprint}")),
        "{err}"
    );

    // Given with --ca-file, it is trusted: it is exactly the one presented.
    let out = run(
        &at(port, &["--ca-file", cert_file, "--user", "alice", "stat"]),
        password,
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).starts_with("2 "), "{}", stdout(&out));

    // info, without credentials: what it learned, the fingerprint above all; exit 4.
    let out = run(&at(port, &["info"]), None);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains(&fingerprint), "{text}");
    assert!(
        text.contains("CN=localhost") && text.contains("verified        no: "),
        "{text}"
    );
    assert!(
        stderr(&out).contains("--tls-fingerprint"),
        "{}",
        stderr(&out)
    );
    let out = run(&at(port, &["--json", "info"]), None);
    assert_eq!(code(&out), 4);
    let info: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(info["certificate"]["sha256"], fingerprint.as_str());
    assert_eq!(info["certificate"]["verified"], false);
    assert_eq!(info["certificate"]["ca"], true);

    // Pinned, in any usual spelling: trusted without any anchor.
    let bare = fingerprint.replace(':', "").to_lowercase();
    for pin in [fingerprint.as_str(), bare.as_str()] {
        let out = run(
            &at(port, &["--tls-fingerprint", pin, "--user", "alice", "stat"]),
            password,
        );
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    }
    let out = run(
        &at(port, &["--tls-fingerprint", pin_of_nothing(), "info"]),
        None,
    );
    let err = assert_tls_failure(&out, port);
    assert!(err.contains("pinned"), "{err}");
}

fn pin_of_nothing() -> &'static str {
    "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF"
}

/// Implicit TLS (the default) against the plaintext port: the server answered in
/// plaintext; use --tls starttls or port 995.
fn implicit_tls_on_the_plaintext_port(server: &Server) {
    let port = server.plain_addr().port();
    let out = run(
        &at(port, &["--user", "alice", "stat"]),
        Some(server.password()),
    );
    let err = assert_tls_failure(&out, port);
    assert!(
        err.contains("plaintext") && err.contains("--tls starttls"),
        "{err}"
    );
}

/// A certificate from an authority the client does not trust (the webpki roots only):
/// both fixes are named, with the fingerprint to pin.
fn an_unknown_issuer_names_both_fixes(server: &Server) {
    let port = server.tls_addr().port();
    let out = run(
        &at(port, &["--user", "alice", "stat"]),
        Some(server.password()),
    );
    let err = assert_tls_failure(&out, port);
    assert!(
        err.contains("not signed by a trusted certificate authority"),
        "{err}"
    );
    assert!(
        err.contains("--ca-file") && err.contains("--tls-fingerprint "),
        "{err}"
    );
}

/// `capa` and `info` work without credentials; info says the second-session question
/// needs them, and answers it with them.
fn capa_and_info_need_no_credentials(server: &Server) {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, server.ca_pem()).unwrap();
    let ca = ca.to_str().unwrap();
    let port = server.tls_addr().port();
    let out = run(&at(port, &["--ca-file", ca, "capa"]), None);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).lines().any(|l| l == "UIDL"),
        "{}",
        stdout(&out)
    );

    let out = run(&at(port, &["--ca-file", ca, "info"]), None);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    for label in [
        "greeting",
        "TLS",
        "certificate",
        "  SHA-256",
        "  verified",
        "  mechanisms",
        "  pipelining",
        "  login delay",
        "  expire",
        "  UIDL",
        "  TOP",
        "  implementation",
        "second session",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(label)),
            "{label}: {text}"
        );
    }
    // Aligned: every value starts in the same column.
    let columns: HashSet<usize> = text
        .lines()
        .map(|l| {
            let label = l.trim_start();
            let gap = label.find("  ").unwrap();
            l.len() - label[gap..].trim_start().len()
        })
        .collect();
    assert_eq!(columns.len(), 1, "{text}");
    assert!(
        text.contains("second session    unknown: needs credentials"),
        "{text}"
    );

    let out = run(
        &at(
            port,
            &["--ca-file", ca, "--user", "alice", "--json", "info"],
        ),
        Some(server.password()),
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().count(), 1, "one object");
    let info: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(info["second_session"], "accepted", "{info}");
    assert_eq!(info["tls_mode"], "implicit");
    assert!(info["greeting"].as_str().unwrap().starts_with("+OK"));
    assert!(
        info["tls"]["version"]
            .as_str()
            .unwrap()
            .starts_with("TLSv1.")
    );
    assert_eq!(info["certificate"]["verified"], true);
    assert_eq!(info["certificate"]["sha256"].as_str().unwrap().len(), 95);
    assert_eq!(info["capabilities"]["uidl"], true);
    assert!(
        info["capabilities"]["sasl"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m == "PLAIN")
    );
}

against_both!(
    an_openssl_certificate => mailbox::generate(2, 500, 31),
    implicit_tls_on_the_plaintext_port => mailbox::generate(1, 500, 32),
    an_unknown_issuer_names_both_fixes => mailbox::generate(1, 500, 34),
    capa_and_info_need_no_credentials => mailbox::generate(1, 500, 33),
);

/// A server that locks the maildrop: info says the second session is refused.
#[test]
fn info_reports_a_refused_second_session() {
    let server = TestServer::builder().profile(Profile::LockSession).start();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, server.ca_pem()).unwrap();
    let args = at(
        server.tls_addr().port(),
        &[
            "--ca-file",
            ca.to_str().unwrap(),
            "--user",
            "alice",
            "--json",
            "info",
        ],
    );
    let out = run(&args, Some(server.password()));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let info: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(info["second_session"], "refused", "{info}");
    assert!(
        info["second_session_detail"]
            .as_str()
            .unwrap()
            .contains("IN-USE"),
        "{info}"
    );
}

/// `+OK` to STLS then plaintext is a TLS failure: exit 4, not 1.
#[test]
fn plaintext_after_stls_exits_4() {
    let addr = stls_liar();
    let args = at(
        addr.port(),
        &["--tls", "starttls", "--user", "alice", "stat"],
    );
    let out = run(&args, Some("secret"));
    let err = assert_tls_failure(&out, addr.port());
    assert!(err.contains("accepted STLS"), "{err}");
}

/// STLS against port 995: the silence is explained quickly, with the fix.
#[test]
fn starttls_against_port_995_explains_itself() {
    let Ok(listener) = TcpListener::bind("127.0.0.1:995") else {
        pop3_testkit::skip::unavailable("cannot listen on 127.0.0.1:995 here (not root?)");
        return;
    };
    std::thread::spawn(move || {
        // An implicit-TLS server: waits for a ClientHello that never comes.
        let held: Vec<_> = listener.incoming().take(2).collect();
        std::thread::sleep(Duration::from_secs(30));
        drop(held);
    });
    for mode in ["starttls", "none"] {
        let args = at(995, &["--tls", mode, "--timeout", "1", "capa"]);
        let out = run(&args, None);
        let err = assert_tls_failure(&out, 995);
        assert!(
            err.contains("port 995") && err.contains("--tls implicit"),
            "{err}"
        );
    }
}

/// A greeting trickled a byte at a time is never idle; `--timeout` bounds it as a line.
#[test]
fn timeout_bounds_a_trickled_line() {
    let server = TestServer::builder()
        .profile(Profile::Trickle {
            bytes: 1,
            pause: Duration::from_millis(200),
        })
        .start();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, server.ca_pem()).unwrap();
    let args = at(
        server.tls_addr().port(),
        &["--ca-file", ca.to_str().unwrap(), "--timeout", "2", "capa"],
    );
    let out = run(&args, None);
    let err = stderr(&out);
    assert_eq!(code(&out), 1, "{err}");
    assert!(err.contains("more than 2 s to send one line"), "{err}");
}

/// `--max-time` cuts a long fetch: exit 5, whole messages only, and the next `--new`
/// run completes the set. The server is slow by construction (at most 16 KiB per
/// 100 ms, one connection: the mailbox takes over 6 s), so the limit lands mid-run.
#[test]
fn max_time_keeps_what_completed() {
    let messages = mailbox::generate(20, 50_000, 41);
    let server = TestServer::builder()
        .messages(messages.clone())
        .profile(Profile::Trickle {
            bytes: 16 * 1024,
            pause: Duration::from_millis(100),
        })
        .start();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, server.ca_pem()).unwrap();
    let mail = dir.path().join("mail");
    let fetch = |extra: &[&str]| {
        let mut rest = vec![
            "--ca-file",
            ca.to_str().unwrap(),
            "--user",
            "alice",
            "--connections",
            "1",
            "--json",
        ];
        rest.extend_from_slice(extra);
        rest.extend(["fetch", "--eml-dir", mail.to_str().unwrap(), "--new"]);
        run(
            &at(server.tls_addr().port(), &rest),
            Some(server.password()),
        )
    };
    let expected: HashSet<Vec<u8>> = messages.iter().map(|m| crlf(m)).collect();
    let stored = || -> Vec<Vec<u8>> {
        std::fs::read_dir(&mail)
            .map(|dir| {
                dir.flatten()
                    .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                    .map(|e| std::fs::read(e.path()).unwrap())
                    .collect()
            })
            .unwrap_or_default()
    };

    let out = fetch(&["--max-time", "1.5"]);
    assert_eq!(code(&out), 5, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--max-time reached"),
        "{}",
        stderr(&out)
    );
    let summary: serde_json::Value =
        serde_json::from_str(stdout(&out).lines().last().unwrap()).unwrap();
    assert_eq!(summary["max_time_reached"], true, "{summary}");
    let fetched = summary["fetched"].as_u64().unwrap();
    assert_eq!(
        fetched + summary["failed"].as_u64().unwrap(),
        20,
        "{summary}"
    );
    let first = stored();
    assert_eq!(first.len() as u64, fetched);
    assert!(
        first.iter().all(|m| expected.contains(m)),
        "whole messages only"
    );

    let out = fetch(&[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let all = stored();
    assert_eq!(all.len(), 20);
    assert!(all.iter().all(|m| expected.contains(m)));
}

/// Commands other than fetch stop at `--max-time` with one line and exit 5; zero
/// timeouts are usage errors.
#[test]
fn max_time_for_other_commands_and_zero_times() {
    let server = TestServer::builder()
        .profile(Profile::Trickle {
            bytes: 1,
            pause: Duration::from_millis(100),
        })
        .start();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, server.ca_pem()).unwrap();
    let args = at(
        server.tls_addr().port(),
        &["--ca-file", ca.to_str().unwrap(), "--max-time", "1", "capa"],
    );
    let out = run(&args, None);
    let err = stderr(&out);
    assert_eq!(code(&out), 5, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("--max-time 1 s reached"), "{err}");
    assert!(stdout(&out).is_empty());

    for zero in [["--timeout", "0"], ["--max-time", "0"]] {
        let out = pop3(&[zero[0], zero[1], "stat"], None);
        assert_eq!(code(&out), 2, "{zero:?}: {}", stderr(&out));
    }
}
