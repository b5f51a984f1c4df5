//! SASL client mechanisms (RFC 5034 `AUTH`) and the APOP digest, sans-IO.
//!
//! Each mechanism is a small state machine behind the [`Mechanism`] trait: the caller sends
//! `AUTH <name>` (with the [`initial_response`](Mechanism::initial_response), base64-encoded,
//! when there is one and the line fits), feeds every decoded `+ ` challenge to
//! [`step`](Mechanism::step), sends back the base64 of each answer, and calls
//! [`complete`](Mechanism::complete) when the server says `+OK`.
//!
//! Challenges come from the server and are treated as hostile: no mechanism panics on any
//! input, and error messages quote at most a short, escaped prefix of what the server sent.
//! Responses are returned as [`Secret`] because most of them carry a password, a token or a
//! proof derived from one.
//!
//! Constructors never fail: problems with the credentials themselves (a NUL in a PLAIN user
//! name, a password that `SASLprep` forbids…) are reported as [`SaslError::InvalidCredentials`]
//! by the first call to [`initial_response`](Mechanism::initial_response) or
//! [`step`](Mechanism::step), before anything is sent.
//!
//! ```
//! use pop3_proto::Secret;
//! use pop3_proto::sasl::{Mechanism, Plain};
//!
//! let mut plain = Plain::new(None, "tim", &Secret::from("tanstaaf"));
//! let ir = plain.initial_response()?.expect("PLAIN is client-first");
//! assert_eq!(ir.expose(), b"\0tim\0tanstaaf");
//! plain.complete()?; // the server said +OK
//! # Ok::<(), pop3_proto::sasl::SaslError>(())
//! ```

mod apop;
mod cram_md5;
mod login;
mod oauth;
mod plain;
mod scram;

use std::fmt;

use hmac::{EagerHash, Hmac, KeyInit, Mac};

pub use crate::response::parse_challenge;
pub use apop::apop_digest;
pub use cram_md5::CramMd5;
pub use login::LoginMechanism;
pub use oauth::{OAuthBearer, XOAuth2};
pub use plain::Plain;
pub use scram::{Scram, ScramHash, random_nonce};

#[cfg(feature = "server")]
pub(crate) use cram_md5::cram_md5_digest;
#[cfg(feature = "server")]
pub(crate) use scram::{split_attribute, valid_nonce};

use crate::Secret;

/// One SASL client exchange, sans-IO.
///
/// Challenges and responses are the *decoded* bytes: base64 is the caller's job.
///
/// The usual driving loop is:
///
/// 1. `initial_response()`: if it returns `Some`, send `AUTH NAME base64(ir)` (or `=` for an
///    empty one); otherwise send `AUTH NAME`. A client-first mechanism whose initial response
///    does not fit on the command line can instead be sent as plain `AUTH NAME`: the server
///    then sends an empty challenge, and `step(b"")` returns the initial response (RFC 5034
///    §4).
/// 2. For every `+ challenge` line: `step(decoded)` and send `base64(response)`.
/// 3. On `+OK`: `complete()`; an error there means the server was not authenticated and the
///    session must not be trusted.
pub trait Mechanism: Send + Sync {
    /// IANA name sent after `AUTH`, upper case, e.g. `"SCRAM-SHA-256"`.
    fn name(&self) -> &str;

    /// The initial client response, if this mechanism sends one first (PLAIN, XOAUTH2,
    /// OAUTHBEARER, SCRAM client-first).
    ///
    /// `None` for server-first mechanisms (LOGIN, CRAM-MD5). Calling it again once the
    /// exchange has started is [`SaslError::OutOfOrder`].
    fn initial_response(&mut self) -> Result<Option<Secret>, SaslError>;

    /// Answers one server challenge.
    fn step(&mut self, challenge: &[u8]) -> Result<Secret, SaslError>;

    /// Called when the server says `+OK`.
    ///
    /// Mechanisms that authenticate the server (SCRAM) return an error if the server
    /// signature was never verified.
    fn complete(&mut self) -> Result<(), SaslError> {
        Ok(())
    }
}

/// Why a SASL exchange failed on our side.
///
/// `Display` and `Debug` never contain credentials. Text that comes from the server is
/// truncated and escaped (see the individual variants), so it is safe to log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SaslError {
    /// The server's challenge does not follow the mechanism's syntax.
    #[error("{mechanism}: malformed challenge: {reason}")]
    MalformedChallenge {
        /// The mechanism's name.
        mechanism: &'static str,
        /// What is wrong; any quoted server bytes are truncated to 64 characters and escaped.
        reason: String,
    },
    /// A client response does not follow the mechanism's syntax (server side only).
    #[error("{mechanism}: malformed client response: {reason}")]
    MalformedResponse {
        /// The mechanism's name.
        mechanism: &'static str,
        /// What is wrong; any quoted client bytes are truncated to 64 characters and escaped.
        reason: String,
    },
    /// The SCRAM server signature is wrong: the server does not know our password (or
    /// someone is in the middle). The session must not be used.
    #[error("SCRAM server signature mismatch: the server could not prove it knows the password")]
    ServerSignatureMismatch,
    /// The server reported an error inside the exchange (SCRAM `e=`, an OAuth JSON error).
    #[error("{mechanism}: server error: {message}")]
    ServerError {
        /// The mechanism's name.
        mechanism: &'static str,
        /// The server's error text, truncated to 256 characters and escaped.
        message: String,
    },
    /// A challenge arrived after the exchange should have ended, or at a point where the
    /// mechanism expects none.
    #[error("{mechanism}: unexpected challenge")]
    UnexpectedChallenge {
        /// The mechanism's name.
        mechanism: &'static str,
    },
    /// The server accepted the authentication before the mechanism finished (for SCRAM:
    /// before the server proved it knows the password).
    #[error("{mechanism}: the server ended the exchange before it was complete")]
    Incomplete {
        /// The mechanism's name.
        mechanism: &'static str,
    },
    /// The credentials cannot be sent with this mechanism.
    #[error("invalid credentials: {reason}")]
    InvalidCredentials {
        /// What is wrong, without the credentials themselves.
        reason: &'static str,
    },
    /// The SCRAM iteration count the server asked for is outside the accepted bounds.
    ///
    /// Too low makes the proof cheap to brute-force; too high lets a server make us burn
    /// CPU. A count that does not fit in a `u32` is reported as `u32::MAX`.
    #[error("SCRAM iteration count {count} is outside the accepted range")]
    IterationCount {
        /// The count the server asked for.
        count: u32,
    },
    /// The system random number generator failed while making a nonce.
    #[error("could not generate a random nonce")]
    Random,
    /// A method was called out of order, e.g. `initial_response()` after the exchange had
    /// started.
    #[error("{mechanism}: method called out of order")]
    OutOfOrder {
        /// The mechanism's name.
        mechanism: &'static str,
    },
}

impl SaslError {
    /// Whether the failure is about the server's trustworthiness rather than our
    /// credentials: a forged SCRAM signature, or parameters meant to weaken the exchange.
    pub fn is_security(&self) -> bool {
        // Incomplete: only SCRAM verifies the server, so a server that skipped its proof.
        matches!(
            self,
            Self::ServerSignatureMismatch | Self::IterationCount { .. } | Self::Incomplete { .. }
        )
    }

    pub(crate) fn malformed(mechanism: &'static str, reason: impl Into<String>) -> Self {
        Self::MalformedChallenge {
            mechanism,
            reason: reason.into(),
        }
    }

    #[cfg(feature = "server")]
    pub(crate) fn malformed_response(mechanism: &'static str, reason: impl Into<String>) -> Self {
        Self::MalformedResponse {
            mechanism,
            reason: reason.into(),
        }
    }

    pub(crate) fn server_error(mechanism: &'static str, message: &[u8]) -> Self {
        Self::ServerError {
            mechanism,
            message: bounded(message, SERVER_TEXT_MAX),
        }
    }
}

/// How many characters of a quoted challenge a [`SaslError::MalformedChallenge`] keeps.
pub(crate) const QUOTE_MAX: usize = 64;
/// How many characters of server error text a [`SaslError::ServerError`] keeps.
pub(crate) const SERVER_TEXT_MAX: usize = 256;

/// Renders untrusted bytes for an error message: printable ASCII is kept as is (so a JSON
/// error document stays readable), `\` is doubled and everything else becomes `\t`,
/// `\n`, `\r` or `\xNN`. At most `max_chars` characters of the escaped form are kept,
/// then `...` is appended.
pub(crate) fn bounded(bytes: &[u8], max_chars: usize) -> String {
    let mut out = String::new();
    for &b in bytes {
        let escaped = match b {
            b'\\' => "\\\\".to_owned(),
            b'\t' => "\\t".to_owned(),
            b'\n' => "\\n".to_owned(),
            b'\r' => "\\r".to_owned(),
            b' '..=b'~' => char::from(b).to_string(),
            _ => format!("\\x{b:02x}"),
        };
        if out.len() + escaped.len() > max_chars {
            out.push_str("...");
            break;
        }
        out.push_str(&escaped);
    }
    out
}

/// The SASL mechanisms this crate implements, as advertised in `CAPA`'s `SASL` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MechanismKind {
    /// `PLAIN` (RFC 4616).
    Plain,
    /// `LOGIN` (draft-murchison-sasl-login).
    Login,
    /// `CRAM-MD5` (RFC 2195).
    CramMd5,
    /// `XOAUTH2` (Google and Microsoft).
    XOAuth2,
    /// `OAUTHBEARER` (RFC 7628).
    OAuthBearer,
    /// `SCRAM-SHA-1` (RFC 5802).
    ScramSha1,
    /// `SCRAM-SHA-256` (RFC 7677).
    ScramSha256,
}

impl MechanismKind {
    /// Every kind, strongest (by our preference) last.
    pub const ALL: [Self; 7] = [
        Self::Plain,
        Self::Login,
        Self::CramMd5,
        Self::XOAuth2,
        Self::OAuthBearer,
        Self::ScramSha1,
        Self::ScramSha256,
    ];

    /// The IANA mechanism name, upper case.
    ///
    /// ```
    /// use pop3_proto::sasl::MechanismKind;
    /// assert_eq!(MechanismKind::ScramSha256.name(), "SCRAM-SHA-256");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Self::Plain => "PLAIN",
            Self::Login => "LOGIN",
            Self::CramMd5 => "CRAM-MD5",
            Self::XOAuth2 => "XOAUTH2",
            Self::OAuthBearer => "OAUTHBEARER",
            Self::ScramSha1 => "SCRAM-SHA-1",
            Self::ScramSha256 => "SCRAM-SHA-256",
        }
    }

    /// Looks a mechanism up by name, ignoring ASCII case.
    ///
    /// ```
    /// use pop3_proto::sasl::MechanismKind;
    /// assert_eq!(MechanismKind::from_name("cram-md5"), Some(MechanismKind::CramMd5));
    /// assert_eq!(MechanismKind::from_name("GSSAPI"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.name().eq_ignore_ascii_case(name))
    }

    /// Whether the secret itself (password or bearer token) crosses the wire, so the
    /// mechanism must only be used over TLS: true for PLAIN, LOGIN, XOAUTH2 and OAUTHBEARER.
    pub fn sends_password_in_clear(self) -> bool {
        matches!(
            self,
            Self::Plain | Self::Login | Self::XOAuth2 | Self::OAuthBearer
        )
    }

    /// Whether the client speaks first, i.e. the mechanism has an initial response.
    pub fn is_client_first(self) -> bool {
        !matches!(self, Self::Login | Self::CramMd5)
    }
}

impl fmt::Display for MechanismKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// RFC 5801 `saslname` escaping: `=` becomes `=3D` and `,` becomes `=2C`.
pub(crate) fn escape_saslname(name: &str) -> String {
    name.replace('=', "=3D").replace(',', "=2C")
}

/// Lower-case hexadecimal.
pub(crate) fn hex_lower(bytes: &[u8]) -> String {
    let digit = |nibble: u8| char::from_digit(u32::from(nibble), 16).unwrap_or('0');
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(digit(b >> 4));
        out.push(digit(b & 0x0f));
    }
    out
}

/// `HMAC-D(key, parts[0] || parts[1] || ...)`.
///
/// HMAC takes keys of any length (longer than a block: hashed first). The key is brought to
/// the block size here, exactly as RFC 2104 prescribes, so that the infallible
/// `KeyInit::new` can be used instead of the `Result` of `new_from_slice`.
pub(crate) fn hmac_digest<D: EagerHash>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = keyed_hmac::<D>(key);
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

/// Whether `HMAC-D(key, parts...)` equals `tag`, compared in constant time.
pub(crate) fn hmac_verify<D: EagerHash>(key: &[u8], parts: &[&[u8]], tag: &[u8]) -> bool {
    let mut mac = keyed_hmac::<D>(key);
    for part in parts {
        mac.update(part);
    }
    mac.verify_slice(tag).is_ok()
}

fn keyed_hmac<D: EagerHash>(key: &[u8]) -> Hmac<D> {
    let mut block = hmac::digest::Key::<Hmac<D>>::default();
    let hashed;
    let source = if key.len() <= block.len() {
        key
    } else {
        hashed = D::digest(key);
        hashed.as_slice()
    };
    // Zero-padded to the block size (a hash output always fits in a block for SHA-1,
    // SHA-256 and MD5; `zip` would truncate otherwise).
    for (dst, src) in block.iter_mut().zip(source) {
        *dst = *src;
    }
    let mac = <Hmac<D> as KeyInit>::new(&block);
    block.iter_mut().for_each(|b| *b = 0);
    mac
}

/// Equality of two byte strings in time that depends only on their lengths.
#[cfg(any(feature = "server", test))]
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_escapes_and_truncates() {
        assert_eq!(bounded(b"abc", 64), "abc");
        assert_eq!(bounded(b"a\x01\n\\\xff", 64), "a\\x01\\n\\\\\\xff");
        assert_eq!(bounded(br#"{"a":1}"#, 64), r#"{"a":1}"#);
        let long = vec![b'x'; 1000];
        let s = bounded(&long, 64);
        assert_eq!(s.len(), 64 + 3);
        assert!(s.ends_with("..."));
        let hostile = vec![0xffu8; 1000];
        assert!(bounded(&hostile, 64).len() <= 64 + 3);
        assert_eq!(bounded(b"", 64), "");
    }

    #[test]
    fn mechanism_kind_names_round_trip() {
        for kind in MechanismKind::ALL {
            assert_eq!(MechanismKind::from_name(kind.name()), Some(kind));
            assert_eq!(
                MechanismKind::from_name(&kind.name().to_lowercase()),
                Some(kind)
            );
            assert_eq!(kind.to_string(), kind.name());
        }
        assert_eq!(MechanismKind::from_name("SCRAM-SHA-512"), None);
        assert_eq!(MechanismKind::from_name(""), None);
    }

    #[test]
    fn clear_text_mechanisms() {
        let clear: Vec<_> = MechanismKind::ALL
            .into_iter()
            .filter(|k| k.sends_password_in_clear())
            .collect();
        assert_eq!(
            clear,
            [
                MechanismKind::Plain,
                MechanismKind::Login,
                MechanismKind::XOAuth2,
                MechanismKind::OAuthBearer
            ]
        );
        assert!(!MechanismKind::Login.is_client_first());
        assert!(!MechanismKind::CramMd5.is_client_first());
        assert!(MechanismKind::ScramSha1.is_client_first());
    }

    #[test]
    fn hmac_matches_rfc_4231() {
        // RFC 4231 test case 2 (short key) and 6 (key longer than a block).
        assert_eq!(
            hex_lower(&hmac_digest::<sha2::Sha256>(
                b"Jefe",
                &[b"what do ya want ", b"for nothing?"]
            )),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hex_lower(&hmac_digest::<sha2::Sha256>(
                &[0xaa; 131],
                &[b"Test Using Larger Than Block-Size Key - Hash Key First"]
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
        let tag = hmac_digest::<sha1::Sha1>(b"k", &[b"m"]);
        assert!(hmac_verify::<sha1::Sha1>(b"k", &[b"m"], &tag));
        assert!(!hmac_verify::<sha1::Sha1>(b"k", &[b"n"], &tag));
        assert!(!hmac_verify::<sha1::Sha1>(b"k", &[b"m"], &tag[1..]));
    }

    #[test]
    fn ct_eq_works() {
        assert!(ct_eq(b"", b""));
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }

    #[test]
    fn saslname_escaping() {
        assert_eq!(escape_saslname("a,b=c=2C"), "a=2Cb=3Dc=3D2C");
        assert_eq!(escape_saslname("plain"), "plain");
    }

    #[test]
    fn hex_is_lower_case() {
        assert_eq!(hex_lower(&[0x00, 0xab, 0xff, 0x10]), "00abff10");
    }
}

/// Hostile-input tests: every mechanism, fed arbitrary challenges at every step, must return
/// (never panic), and its errors must stay short.
#[cfg(test)]
mod fuzz_tests {
    use proptest::collection::vec;
    use proptest::prelude::*;

    use super::*;

    const PASSWORD: &str = "pencil-Secret-1";

    fn mechanism(kind: MechanismKind) -> Box<dyn Mechanism> {
        let pw = Secret::from(PASSWORD);
        match kind {
            MechanismKind::Plain => Box::new(Plain::new(Some("admin"), "user", &pw)),
            MechanismKind::Login => Box::new(LoginMechanism::new("user", &pw)),
            MechanismKind::CramMd5 => Box::new(CramMd5::new("user", &pw)),
            MechanismKind::XOAuth2 => Box::new(XOAuth2::new("user", &pw)),
            MechanismKind::OAuthBearer => {
                Box::new(OAuthBearer::new("user", &pw).with_host("h").with_port(995))
            }
            MechanismKind::ScramSha1 => Box::new(
                Scram::sha1("user", &pw)
                    .with_nonce("cnonce")
                    .with_iteration_bounds(1, 64),
            ),
            MechanismKind::ScramSha256 => Box::new(
                Scram::sha256("user", &pw)
                    .with_nonce("cnonce")
                    .with_iteration_bounds(1, 64),
            ),
        }
    }

    fn check_error(err: &SaslError) {
        let text = err.to_string();
        assert!(text.len() < 400, "error too long: {} bytes", text.len());
        assert!(!text.contains(PASSWORD));
        assert!(!format!("{err:?}").contains(PASSWORD));
    }

    /// Runs one exchange; `send_ir` says whether `initial_response()` is used.
    fn drive(kind: MechanismKind, send_ir: bool, challenges: &[Vec<u8>]) {
        let mut m = mechanism(kind);
        assert_eq!(m.name(), kind.name());
        if send_ir {
            match m.initial_response() {
                Ok(ir) => assert_eq!(ir.is_some(), kind.is_client_first()),
                Err(e) => check_error(&e),
            }
        }
        for challenge in challenges {
            if let Err(e) = m.step(challenge) {
                check_error(&e);
            }
        }
        if let Err(e) = m.complete() {
            check_error(&e);
        }
    }

    fn kind() -> impl Strategy<Value = MechanismKind> {
        prop::sample::select(MechanismKind::ALL.to_vec())
    }

    /// Challenges that look enough like SCRAM to get past the first checks.
    fn scram_like() -> impl Strategy<Value = Vec<Vec<u8>>> {
        let suffix = "[!-+\\--~]{0,12}";
        let salt = prop_oneof![
            4 => vec(any::<u8>(), 0..24).prop_map(|s| BASE64.encode(s)),
            1 => ".{0,8}",
        ];
        let iterations = prop_oneof![
            4 => (0u32..80).prop_map(|i| i.to_string()),
            1 => any::<u32>().prop_map(|i| i.to_string()),
            1 => "[0-9a-z+-]{0,12}",
        ];
        let ext = prop_oneof![Just(String::new()), ",[a-z]=[ -~]{0,8}", "[ -~]{0,8}"];
        let v = prop_oneof![
            vec(any::<u8>(), 0..40).prop_map(|s| format!("v={}", BASE64.encode(s))),
            "e=[ -~]{0,20}",
            "[ -~]{0,20}"
        ];
        (suffix, salt, iterations, ext, v, vec(any::<u8>(), 0..16)).prop_map(
            |(suffix, salt, iterations, ext, v, junk)| {
                vec![
                    format!("r=cnonce{suffix},s={salt},i={iterations}{ext}").into_bytes(),
                    v.into_bytes(),
                    junk,
                ]
            },
        )
    }

    proptest! {
        #[test]
        fn arbitrary_challenges_never_panic(
            kind in kind(),
            send_ir in any::<bool>(),
            challenges in vec(vec(any::<u8>(), 0..300), 0..5),
        ) {
            drive(kind, send_ir, &challenges);
        }

        #[test]
        fn printable_challenges_never_panic(
            kind in kind(),
            send_ir in any::<bool>(),
            challenges in vec("[ -~]{0,80}", 0..5),
        ) {
            let challenges: Vec<Vec<u8>> = challenges.into_iter().map(String::into_bytes).collect();
            drive(kind, send_ir, &challenges);
        }

        #[test]
        fn scram_like_challenges_never_panic(
            sha256 in any::<bool>(),
            send_ir in any::<bool>(),
            challenges in scram_like(),
        ) {
            let kind = if sha256 { MechanismKind::ScramSha256 } else { MechanismKind::ScramSha1 };
            let mut all = Vec::new();
            if !send_ir {
                all.push(Vec::new());
            }
            all.extend(challenges);
            drive(kind, send_ir, &all);
        }

        #[test]
        fn bounded_is_bounded(bytes in vec(any::<u8>(), 0..500), max in 0usize..100) {
            let s = bounded(&bytes, max);
            prop_assert!(s.len() <= max + 3);
            prop_assert!(s.bytes().all(|b| b.is_ascii_graphic() || b == b' '));
        }
    }

    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD as BASE64;
}
