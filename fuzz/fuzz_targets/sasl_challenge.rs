//! SASL, both sides, fed hostile messages.
//!
//! Input layout: 1 header byte, then messages separated by `\n` (or by NUL when bit 7 of
//! the header is set, so messages can contain line breaks).
//!
//! * `h & 0x0f` selects what runs:
//!   - 0-6: a client mechanism (`Plain`, `LoginMechanism`, `CramMd5`, `XOAuth2`, `OAuthBearer`,
//!     `Scram::sha1`, `Scram::sha256`; SCRAM with a fixed nonce and iterations bounded to
//!     1..=4096 so an execution stays fast), optionally asked for its initial response
//!     first (bit 4), fed every message as a decoded challenge, then `complete()` (bit 5).
//!     Errors must be short and never contain the password;
//!   - 7: every server-side decoder of `pop3_proto::server::sasl` on every message
//!     (`decode_plain`, `decode_xoauth2`, `decode_oauthbearer`, `verify_cram_md5`,
//!     `apop_verify`) and a `ScramServer` (low iterations) fed the first two messages as
//!     client-first and client-final;
//!   - 8-15: a client ↔ server round trip with credentials taken from the first three
//!     messages (user, password, authzid or host): whenever the client mechanism accepts
//!     the credentials, the server decoder must accept the message and return them
//!     unchanged, and SCRAM must authenticate both ways.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pop3_proto::Secret;
use pop3_proto::sasl::{
    CramMd5, LoginMechanism, Mechanism, OAuthBearer, Plain, SaslError, Scram, ScramHash, XOAuth2,
};
use pop3_proto::server::sasl::{
    ScramServer, apop_verify, decode_oauthbearer, decode_plain, decode_xoauth2, verify_cram_md5,
};

/// The password of the RFC 5802 / RFC 7677 examples, so that their exchanges (with the
/// examples' client nonces) verify completely; seeds contain them.
const PASSWORD: &str = "pencil";
const NONCE: &str = "fyko+d2lbbFgONRv9qkxdawL";
const NONCE_SHA256: &str = "rOprNGfwEbeRWgbNEkqO";
const MAX_ITERATIONS: u32 = 4096;

/// Errors are short and do not contain the password, unless the peer itself sent it
/// (`echoed`: errors may quote what the peer sent).
fn check_error(err: &SaslError, echoed: bool) {
    let text = err.to_string();
    assert!(text.len() < 400, "error too long: {} bytes", text.len());
    if !echoed {
        assert!(!text.contains(PASSWORD), "error leaks the password");
        assert!(
            !format!("{err:?}").contains(PASSWORD),
            "error leaks the password"
        );
    }
}

fn contains_password(messages: &[&[u8]]) -> bool {
    messages
        .iter()
        .any(|m| m.windows(PASSWORD.len()).any(|w| w == PASSWORD.as_bytes()))
}

fn client(selector: u8) -> Box<dyn Mechanism> {
    let pw = Secret::from(PASSWORD);
    match selector {
        0 => Box::new(Plain::new(Some("admin"), "user", &pw)),
        1 => Box::new(LoginMechanism::new("user", &pw)),
        2 => Box::new(CramMd5::new("user", &pw)),
        3 => Box::new(XOAuth2::new("user", &pw)),
        4 => Box::new(OAuthBearer::new("user", &pw).with_host("h").with_port(995)),
        5 => Box::new(
            Scram::sha1("user", &pw)
                .with_nonce(NONCE)
                .with_iteration_bounds(1, MAX_ITERATIONS),
        ),
        _ => Box::new(
            Scram::sha256("user", &pw)
                .with_nonce(NONCE_SHA256)
                .with_iteration_bounds(1, MAX_ITERATIONS),
        ),
    }
}

fn run_client(selector: u8, initial: bool, complete: bool, messages: &[&[u8]]) {
    let echoed = contains_password(messages);
    let mut m = client(selector);
    let _ = m.name().to_owned();
    if initial {
        if let Err(e) = m.initial_response() {
            check_error(&e, echoed);
        }
    }
    for challenge in messages {
        match m.step(challenge) {
            Ok(response) => assert!(!format!("{response:?}").contains(PASSWORD)),
            Err(e) => check_error(&e, echoed),
        }
    }
    if complete {
        if let Err(e) = m.complete() {
            check_error(&e, echoed);
        }
    }
}

#[allow(clippy::unnecessary_wraps)]
fn lookup(_: &str) -> Option<Secret> {
    Some(Secret::from(PASSWORD))
}

fn run_server(messages: &[&[u8]]) {
    let echoed = contains_password(messages);
    for message in messages {
        let _ = decode_plain(message);
        let _ = decode_xoauth2(message);
        let _ = decode_oauthbearer(message);
        let _ = verify_cram_md5(message, b"<1896.697170952@pop3.test>", lookup);
        let text = String::from_utf8_lossy(message);
        let _ = apop_verify("<1896.697170952@pop3.test>", &text, &Secret::from(PASSWORD));
        let _ = apop_verify(
            &text,
            "c4c9334bac560ecc979e58001b3e22fb",
            &Secret::from(PASSWORD),
        );
    }
    let first = messages.first().copied().unwrap_or_default();
    let last = messages.get(1).copied().unwrap_or_default();
    for hash in [ScramHash::Sha1, ScramHash::Sha256] {
        let mut server = ScramServer::new(hash, lookup, b"salt".to_vec(), 2, "srv".into());
        if let Err(e) = server.first(first) {
            check_error(&e, echoed);
        }
        if let Err(e) = server.last(last) {
            check_error(&e.error, echoed);
            assert!(e.server_final.starts_with(b"e="));
        }
    }
}

fn utf8(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Client ↔ server: what the client sends, the server decodes to the same credentials.
fn round_trip(selector: u8, messages: &[&[u8]]) {
    let user = utf8(messages.first().copied().unwrap_or(b"user"));
    let password = messages.get(1).copied().unwrap_or(b"pw");
    let extra = utf8(messages.get(2).copied().unwrap_or_default());
    let secret = Secret::from(password);
    match selector % 6 {
        0 => {
            let authzid = (!extra.is_empty()).then_some(extra.as_str());
            let Ok(Some(ir)) = Plain::new(authzid, &user, &secret).initial_response() else {
                return;
            };
            match decode_plain(ir.expose()) {
                Ok(creds) => {
                    assert_eq!(creds.authzid.as_deref(), authzid);
                    assert_eq!(creds.user, user);
                    assert_eq!(creds.password.expose(), password);
                }
                // Documented: the server requires a user name and a password.
                Err(e) => assert!(user.is_empty() || password.is_empty(), "{e}"),
            }
        }
        1 => {
            let Ok(Some(ir)) = XOAuth2::new(&user, &secret).initial_response() else {
                return;
            };
            match decode_xoauth2(ir.expose()) {
                Ok(creds) => {
                    assert_eq!(creds.user.as_deref(), Some(user.as_str()));
                    assert_eq!(creds.token.expose(), password);
                }
                // Documented: the server requires a user name.
                Err(e) => assert!(user.is_empty(), "{e}"),
            }
        }
        2 => {
            let mut m = OAuthBearer::new(&user, &secret);
            let host = (!extra.is_empty()).then_some(extra.as_str());
            if let Some(host) = host {
                m = m.with_host(host).with_port(995);
            }
            let Ok(Some(ir)) = m.initial_response() else {
                return;
            };
            let creds = decode_oauthbearer(ir.expose()).expect("the server decodes our message");
            assert_eq!(creds.user, (!user.is_empty()).then(|| user.clone()));
            assert_eq!(creds.token.expose(), password);
            assert_eq!(creds.host.as_deref(), host);
            assert_eq!(creds.port, host.map(|_| 995));
        }
        3 => {
            let mut m = CramMd5::new(&user, &secret);
            let challenge = messages.get(2).copied().unwrap_or(b"<1.2@x>");
            let Ok(response) = m.step(challenge) else {
                return;
            };
            let lookup = |name: &str| (name == user).then(|| secret.clone());
            let verified = verify_cram_md5(response.expose(), challenge, lookup);
            // The server splits user and digest at the last space, so user names with
            // spaces work; an empty one is refused.
            assert_eq!(
                verified.as_deref(),
                (!user.is_empty()).then_some(user.as_str())
            );
        }
        4 | 5 => {
            let hash = if selector % 6 == 4 {
                ScramHash::Sha1
            } else {
                ScramHash::Sha256
            };
            let mut client = Scram::new(hash, &user, &secret)
                .with_nonce(NONCE)
                .with_iteration_bounds(1, 8);
            let Ok(Some(first)) = client.initial_response() else {
                return;
            };
            // RFC 5802's saslname is 1*char: an empty user never leaves the client.
            assert!(
                !first.expose().starts_with(b"n,,n=,"),
                "empty SCRAM user name sent"
            );
            let stored = secret.clone();
            let mut server = ScramServer::new(
                hash,
                move |_: &str| Some(stored.clone()),
                b"salt".to_vec(),
                3,
                "srv".into(),
            );
            let server_first = server.first(first.expose()).expect("server-first");
            let last = client.step(&server_first).expect("client-final");
            let (name, server_final) = server.last(last.expose()).expect("the proof verifies");
            if user.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
                // SASLprep leaves printable ASCII alone.
                assert_eq!(name, user);
            }
            assert!(client.step(&server_final).expect("server-final").is_empty());
            client.complete().expect("the server proved itself");
        }
        _ => unreachable!(),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&header, rest)) = data.split_first() else {
        return;
    };
    let separator = if header & 0x80 != 0 { 0 } else { b'\n' };
    let messages: Vec<&[u8]> = rest.split(|&b| b == separator).take(16).collect();
    match header & 0x0f {
        selector @ 0..=6 => {
            run_client(selector, header & 0x10 != 0, header & 0x20 != 0, &messages);
        }
        7 => run_server(&messages),
        selector => round_trip(selector, &messages),
    }
});
