//! The server side of the SASL mechanisms and APOP, for the in-process test server and the
//! fuzzers: each client mechanism in [`crate::sasl`] has its decoder or verifier here (LOGIN
//! needs none: its two answers are the user name and the password themselves).
//!
//! Client responses are the *decoded* bytes (base64 is the caller's job) and are treated as
//! hostile: nothing here panics on any input, and errors quote at most a short, escaped
//! prefix of what the client sent.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::Secret;
use crate::sasl::{
    QUOTE_MAX, SaslError, ScramHash, apop_digest, bounded, cram_md5_digest, ct_eq, split_attribute,
    valid_nonce,
};

/// What a `PLAIN` client sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlainCredentials {
    /// The authorization identity, if the client asked to act as someone else.
    pub authzid: Option<String>,
    /// The authentication identity.
    pub user: String,
    /// The password.
    pub password: Secret,
}

/// Decodes a `PLAIN` message (RFC 4616): `[authzid] NUL user NUL password`.
///
/// The user name and password must be non-empty, and the identities UTF-8; an empty
/// authzid is `None`.
///
/// ```
/// use pop3_proto::server::sasl::decode_plain;
///
/// let creds = decode_plain(b"\0tim\0tanstaaf")?;
/// assert_eq!((creds.authzid, creds.user.as_str()), (None, "tim"));
/// assert_eq!(creds.password.expose(), b"tanstaaf");
/// # Ok::<(), pop3_proto::sasl::SaslError>(())
/// ```
pub fn decode_plain(response: &[u8]) -> Result<PlainCredentials, SaslError> {
    const NAME: &str = "PLAIN";
    let mut fields = response.split(|&b| b == 0);
    let (Some(authzid), Some(user), Some(password), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(SaslError::malformed_response(
            NAME,
            "expected exactly two NUL separators",
        ));
    };
    let utf8 = |field: &[u8], what: &str| {
        String::from_utf8(field.to_vec())
            .map_err(|_| SaslError::malformed_response(NAME, format!("{what} is not UTF-8")))
    };
    let authzid = utf8(authzid, "authzid")?;
    let user = utf8(user, "user name")?;
    if user.is_empty() {
        return Err(SaslError::malformed_response(NAME, "empty user name"));
    }
    if password.is_empty() {
        return Err(SaslError::malformed_response(NAME, "empty password"));
    }
    Ok(PlainCredentials {
        authzid: (!authzid.is_empty()).then_some(authzid),
        user,
        password: Secret::from(password),
    })
}

/// The lower-case hex `HMAC-MD5(password, challenge)` a `CRAM-MD5` client must send after
/// its user name and a space (RFC 2195).
pub fn cram_md5_expected(user_password: &Secret, challenge: &[u8]) -> String {
    cram_md5_digest(user_password.expose(), challenge)
}

/// Verifies a `CRAM-MD5` response (`user SP hex-digest`) to `challenge`, looking the user's
/// password up with `lookup`. Returns the user name if the digest is right.
///
/// The digest is compared in constant time and case-insensitively.
///
/// ```
/// use pop3_proto::Secret;
/// use pop3_proto::server::sasl::verify_cram_md5;
///
/// let challenge = b"<1896.697170952@postoffice.reston.mci.net>";
/// let lookup = |user: &str| (user == "tim").then(|| Secret::from("tanstaaftanstaaf"));
/// let user = verify_cram_md5(b"tim b913a602c7eda7a495b4e6e7334d3890", challenge, lookup);
/// assert_eq!(user.as_deref(), Some("tim"));
/// ```
pub fn verify_cram_md5(
    response: &[u8],
    challenge: &[u8],
    lookup: impl Fn(&str) -> Option<Secret>,
) -> Option<String> {
    let space = response.iter().rposition(|&b| b == b' ')?;
    let (user, digest) = (response.get(..space)?, response.get(space + 1..)?);
    let user = std::str::from_utf8(user).ok().filter(|u| !u.is_empty())?;
    if digest.len() != 32 || !digest.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let password = lookup(user)?;
    let expected = cram_md5_expected(&password, challenge);
    ct_eq(expected.as_bytes(), &digest.to_ascii_lowercase()).then(|| user.to_owned())
}

/// Verifies an `APOP` digest (RFC 1939 §7), in constant time and case-insensitively.
///
/// ```
/// use pop3_proto::Secret;
/// use pop3_proto::server::sasl::apop_verify;
///
/// let ts = "<1896.697170952@dbc.mtview.ca.us>";
/// assert!(apop_verify(ts, "c4c9334bac560ecc979e58001b3e22fb", &Secret::from("tanstaaf")));
/// assert!(!apop_verify(ts, "c4c9334bac560ecc979e58001b3e22fb", &Secret::from("tanstaa")));
/// ```
pub fn apop_verify(timestamp: &str, digest: &str, password: &Secret) -> bool {
    let expected = apop_digest(timestamp, password);
    ct_eq(expected.as_bytes(), digest.to_ascii_lowercase().as_bytes())
}

/// What an `XOAUTH2` or `OAUTHBEARER` client sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BearerCredentials {
    /// The user: XOAUTH2's `user=`, or OAUTHBEARER's GS2 authorization identity (`None` if
    /// it sent none).
    pub user: Option<String>,
    /// The bearer token.
    pub token: Secret,
    /// OAUTHBEARER's `host=`.
    pub host: Option<String>,
    /// OAUTHBEARER's `port=`.
    pub port: Option<u16>,
}

/// Splits `key=value\x01...key=value\x01\x01` into pairs. Returns `None` unless the message
/// ends with the empty pair.
fn kv_pairs(message: &[u8]) -> Option<Vec<(&[u8], &[u8])>> {
    let body = message.strip_suffix(b"\x01\x01")?;
    let mut pairs = Vec::new();
    for pair in body.split(|&b| b == 1) {
        let eq = pair.iter().position(|&b| b == b'=')?;
        pairs.push((pair.get(..eq)?, pair.get(eq + 1..)?));
    }
    Some(pairs)
}

/// The token of an `auth=Bearer TOKEN` value (the scheme is case-insensitive).
fn bearer_token(value: &[u8]) -> Option<Secret> {
    let scheme = value.get(..7)?;
    let token = value.get(7..)?;
    if !scheme.eq_ignore_ascii_case(b"Bearer ") {
        return None;
    }
    let token = token.trim_ascii_start();
    (!token.is_empty() && token.iter().all(u8::is_ascii_graphic)).then(|| Secret::from(token))
}

/// Decodes an `XOAUTH2` initial response: `user=USER\x01auth=Bearer TOKEN\x01\x01`.
///
/// ```
/// use pop3_proto::server::sasl::decode_xoauth2;
///
/// let creds = decode_xoauth2(b"user=u@example.com\x01auth=Bearer tok\x01\x01")?;
/// assert_eq!(creds.user.as_deref(), Some("u@example.com"));
/// assert_eq!(creds.token.expose(), b"tok");
/// # Ok::<(), pop3_proto::sasl::SaslError>(())
/// ```
pub fn decode_xoauth2(response: &[u8]) -> Result<BearerCredentials, SaslError> {
    const NAME: &str = "XOAUTH2";
    let pairs = kv_pairs(response).ok_or_else(|| {
        SaslError::malformed_response(NAME, "not key=value pairs ending \\x01\\x01")
    })?;
    let mut user = None;
    let mut token = None;
    for (key, value) in pairs {
        match key {
            b"user" => {
                let value = std::str::from_utf8(value)
                    .map_err(|_| SaslError::malformed_response(NAME, "user is not UTF-8"))?;
                user = Some(value.to_owned());
            }
            b"auth" => {
                token = Some(bearer_token(value).ok_or_else(|| {
                    SaslError::malformed_response(NAME, "auth is not \"Bearer TOKEN\"")
                })?);
            }
            _ => {}
        }
    }
    match (user, token) {
        (Some(user), Some(token)) if !user.is_empty() => Ok(BearerCredentials {
            user: Some(user),
            token,
            host: None,
            port: None,
        }),
        _ => Err(SaslError::malformed_response(NAME, "missing user or auth")),
    }
}

/// Undoes RFC 5801 `saslname` escaping (`=2C` → `,`, `=3D` → `=`); any other `=` or a `,`
/// is an error.
fn unescape_saslname(name: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(name.len());
    let mut rest = name;
    while let Some((&b, tail)) = rest.split_first() {
        match b {
            b'=' => {
                match tail.get(..2)? {
                    b"2C" | b"2c" => out.push(b','),
                    b"3D" | b"3d" => out.push(b'='),
                    _ => return None,
                }
                rest = tail.get(2..)?;
            }
            b',' | 0 => return None,
            _ => {
                out.push(b);
                rest = tail;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Parses a GS2 header `n,` / `y,` followed by `,` or `a=saslname,`. Returns the authzid and
/// the rest of the message; channel binding (`p=`) is not supported.
fn gs2_header(message: &[u8]) -> Result<(Option<String>, &[u8]), &'static str> {
    let rest = match message {
        [b'n' | b'y', b',', rest @ ..] => rest,
        [b'p', b'=', ..] => return Err("channel binding is not supported"),
        _ => return Err("bad GS2 header"),
    };
    let comma = rest
        .iter()
        .position(|&b| b == b',')
        .ok_or("bad GS2 header")?;
    let (authzid, rest) = (rest.get(..comma).unwrap_or_default(), rest.get(comma + 1..));
    let rest = rest.unwrap_or_default();
    if authzid.is_empty() {
        return Ok((None, rest));
    }
    let name = authzid
        .strip_prefix(b"a=")
        .ok_or("bad GS2 authorization identity")?;
    let name = unescape_saslname(name).ok_or("bad GS2 authorization identity")?;
    Ok((Some(name), rest))
}

/// Decodes an `OAUTHBEARER` initial response (RFC 7628): GS2 header, then
/// `\x01host=H\x01port=P\x01auth=Bearer TOKEN\x01\x01` (host and port optional, unknown keys
/// ignored).
///
/// ```
/// use pop3_proto::server::sasl::decode_oauthbearer;
///
/// let creds = decode_oauthbearer(b"n,a=u@example.com,\x01port=995\x01auth=Bearer tok\x01\x01")?;
/// assert_eq!(creds.user.as_deref(), Some("u@example.com"));
/// assert_eq!((creds.host, creds.port), (None, Some(995)));
/// assert_eq!(creds.token.expose(), b"tok");
/// # Ok::<(), pop3_proto::sasl::SaslError>(())
/// ```
pub fn decode_oauthbearer(response: &[u8]) -> Result<BearerCredentials, SaslError> {
    const NAME: &str = "OAUTHBEARER";
    let (user, rest) = gs2_header(response).map_err(|e| SaslError::malformed_response(NAME, e))?;
    let rest = rest
        .strip_prefix(b"\x01")
        .ok_or_else(|| SaslError::malformed_response(NAME, "no \\x01 after the GS2 header"))?;
    let pairs = kv_pairs(rest).ok_or_else(|| {
        SaslError::malformed_response(NAME, "not key=value pairs ending \\x01\\x01")
    })?;
    let mut creds = BearerCredentials {
        user,
        token: Secret::default(),
        host: None,
        port: None,
    };
    let mut have_token = false;
    for (key, value) in pairs {
        match key {
            b"auth" => {
                creds.token = bearer_token(value).ok_or_else(|| {
                    SaslError::malformed_response(NAME, "auth is not \"Bearer TOKEN\"")
                })?;
                have_token = true;
            }
            b"host" => {
                let host = std::str::from_utf8(value)
                    .map_err(|_| SaslError::malformed_response(NAME, "host is not UTF-8"))?;
                creds.host = Some(host.to_owned());
            }
            b"port" => {
                let port = std::str::from_utf8(value)
                    .ok()
                    .filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|p| p.parse().ok())
                    .ok_or_else(|| SaslError::malformed_response(NAME, "bad port"))?;
                creds.port = Some(port);
            }
            _ => {}
        }
    }
    if have_token {
        Ok(creds)
    } else {
        Err(SaslError::malformed_response(NAME, "missing auth"))
    }
}

/// Why a SCRAM exchange failed in [`ScramServer::last`], with the server-final error message
/// to send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}")]
pub struct ScramServerError {
    /// What went wrong, for the server's log. A wrong proof and an unknown user are both
    /// [`SaslError::InvalidCredentials`], with different reasons.
    pub error: SaslError,
    /// The RFC 5802 server-final message to send to the client as a challenge before
    /// failing the command, e.g. `e=invalid-proof`. A wrong proof and an unknown user both
    /// get `e=invalid-proof`, so that clients cannot probe for user names.
    pub server_final: Vec<u8>,
}

/// Where a server exchange is.
#[derive(Debug, Clone)]
enum ServerState {
    AwaitingClientFirst,
    AwaitingClientFinal {
        user: String,
        gs2_header: Vec<u8>,
        nonce: Vec<u8>,
        client_first_bare: Vec<u8>,
        server_first: Vec<u8>,
    },
    Done,
}

/// The server side of a SCRAM exchange (RFC 5802, RFC 7677), without channel binding.
///
/// `lookup` maps a user name (as sent, after `saslname` unescaping) to the user's password;
/// the salted password is derived from it with the configured salt and iteration count.
/// Neither is validated, so a test server can also play a misbehaving server (an empty salt,
/// one iteration...).
///
/// ```
/// use pop3_proto::Secret;
/// use pop3_proto::sasl::{Mechanism, Scram};
/// use pop3_proto::server::sasl::ScramServer;
///
/// let lookup = |user: &str| (user == "user").then(|| Secret::from("pencil"));
/// let mut server = ScramServer::sha256(lookup, b"salt".to_vec(), 4096, "snonce".into());
/// let mut client = Scram::sha256("user", &Secret::from("pencil"));
///
/// let client_first = client.initial_response()?.expect("client-first");
/// let server_first = server.first(client_first.expose())?;
/// let client_final = client.step(&server_first)?;
/// let (user, server_final) = server.last(client_final.expose()).expect("right password");
/// assert_eq!(user, "user");
/// assert!(client.step(&server_final)?.is_empty());
/// client.complete()?;
/// # Ok::<(), pop3_proto::sasl::SaslError>(())
/// ```
pub struct ScramServer<F> {
    hash: ScramHash,
    lookup: F,
    salt: Vec<u8>,
    iterations: u32,
    server_nonce: String,
    state: ServerState,
}

impl<F> fmt::Debug for ScramServer<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramServer")
            .field("hash", &self.hash)
            .field("iterations", &self.iterations)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl<F: FnMut(&str) -> Option<Secret>> ScramServer<F> {
    /// A server exchange with the given hash.
    ///
    /// `server_nonce` is appended to the client's nonce; it must be non-empty printable
    /// ASCII without `,` (see [`random_nonce`](crate::sasl::random_nonce)), or
    /// [`first`](Self::first) fails with [`SaslError::InvalidCredentials`].
    pub fn new(
        hash: ScramHash,
        lookup: F,
        salt: Vec<u8>,
        iterations: u32,
        server_nonce: String,
    ) -> Self {
        Self {
            hash,
            lookup,
            salt,
            iterations,
            server_nonce,
            state: ServerState::AwaitingClientFirst,
        }
    }

    /// A `SCRAM-SHA-1` server exchange.
    pub fn sha1(lookup: F, salt: Vec<u8>, iterations: u32, server_nonce: String) -> Self {
        Self::new(ScramHash::Sha1, lookup, salt, iterations, server_nonce)
    }

    /// A `SCRAM-SHA-256` server exchange.
    pub fn sha256(lookup: F, salt: Vec<u8>, iterations: u32, server_nonce: String) -> Self {
        Self::new(ScramHash::Sha256, lookup, salt, iterations, server_nonce)
    }

    fn malformed(&self, reason: &str, message: &[u8]) -> SaslError {
        SaslError::malformed_response(
            self.hash.mechanism_name(),
            format!("{reason} in \"{}\"", bounded(message, QUOTE_MAX)),
        )
    }

    /// Reads client-first (`n,,n=user,r=nonce`) and returns server-first
    /// (`r=nonce,s=salt,i=iterations`).
    ///
    /// Errors here cannot be reported inside SCRAM: the server just fails the command.
    pub fn first(&mut self, client_first: &[u8]) -> Result<Vec<u8>, SaslError> {
        let mechanism = self.hash.mechanism_name();
        if !matches!(self.state, ServerState::AwaitingClientFirst) {
            return Err(SaslError::OutOfOrder { mechanism });
        }
        self.state = ServerState::Done;
        if !valid_nonce(self.server_nonce.as_bytes()) {
            return Err(SaslError::InvalidCredentials {
                reason: "SCRAM server nonce must be non-empty printable ASCII without ','",
            });
        }
        let (authzid, bare) =
            gs2_header(client_first).map_err(|e| self.malformed(e, client_first))?;
        let gs2_header = client_first
            .get(..client_first.len() - bare.len())
            .unwrap_or_default()
            .to_vec();

        let mut parts = bare.split(|&b| b == b',').map(split_attribute);
        let user = match parts.next().flatten() {
            Some((b'n', name)) => {
                unescape_saslname(name).ok_or_else(|| self.malformed("bad user name", bare))?
            }
            Some((b'm', _)) => return Err(self.malformed("unsupported extension m=", bare)),
            _ => return Err(self.malformed("expected n=", bare)),
        };
        if user.is_empty() {
            return Err(self.malformed("empty user name", bare));
        }
        if authzid.as_ref().is_some_and(|a| *a != user) {
            return Err(self.malformed("authorization identity is not supported", bare));
        }
        let client_nonce = match parts.next().flatten() {
            Some((b'r', nonce)) if valid_nonce(nonce) => nonce,
            _ => return Err(self.malformed("expected a printable r=", bare)),
        };

        let mut nonce = client_nonce.to_vec();
        nonce.extend_from_slice(self.server_nonce.as_bytes());
        let mut server_first = b"r=".to_vec();
        server_first.extend_from_slice(&nonce);
        server_first.extend_from_slice(b",s=");
        server_first.extend_from_slice(BASE64.encode(&self.salt).as_bytes());
        server_first.extend_from_slice(format!(",i={}", self.iterations).as_bytes());

        self.state = ServerState::AwaitingClientFinal {
            user,
            gs2_header,
            nonce,
            client_first_bare: bare.to_vec(),
            server_first: server_first.clone(),
        };
        Ok(server_first)
    }

    /// Reads client-final (`c=biws,r=nonce,p=proof`), verifies the proof and returns the
    /// user name and server-final (`v=signature`), which the server sends as a challenge
    /// before `+OK`.
    ///
    /// On failure the error carries the `e=...` server-final to send instead.
    pub fn last(&mut self, client_final: &[u8]) -> Result<(String, Vec<u8>), ScramServerError> {
        let mechanism = self.hash.mechanism_name();
        let fail = |error: SaslError, value: &str| ScramServerError {
            error,
            server_final: format!("e={value}").into_bytes(),
        };
        let ServerState::AwaitingClientFinal {
            user,
            gs2_header,
            nonce,
            client_first_bare,
            server_first,
        } = std::mem::replace(&mut self.state, ServerState::Done)
        else {
            return Err(fail(SaslError::OutOfOrder { mechanism }, "other-error"));
        };

        // p= is the last attribute; everything before ",p=" is client-final-without-proof.
        let split = client_final
            .windows(3)
            .rposition(|w| w == b",p=")
            .ok_or_else(|| fail(self.malformed("no proof", client_final), "invalid-encoding"))?;
        let without_proof = client_final.get(..split).unwrap_or_default();
        let proof = client_final.get(split + 3..).unwrap_or_default();

        let mut parts = without_proof.split(|&b| b == b',').map(split_attribute);
        match parts.next().flatten() {
            Some((b'c', binding)) => {
                if BASE64.decode(binding).ok().as_deref() != Some(&gs2_header[..]) {
                    return Err(fail(
                        self.malformed("channel binding does not match", client_final),
                        "channel-bindings-dont-match",
                    ));
                }
            }
            _ => {
                return Err(fail(
                    self.malformed("expected c=", client_final),
                    "invalid-encoding",
                ));
            }
        }
        match parts.next().flatten() {
            Some((b'r', r)) if r == nonce.as_slice() => {}
            _ => {
                return Err(fail(
                    self.malformed("nonce does not match", client_final),
                    "other-error",
                ));
            }
        }
        // Extensions between r= and p= are ignored.
        let proof = BASE64.decode(proof).map_err(|_| {
            fail(
                self.malformed("proof is not base64", client_final),
                "invalid-encoding",
            )
        })?;

        let Some(password) = (self.lookup)(&user) else {
            return Err(fail(
                SaslError::InvalidCredentials {
                    reason: "unknown user",
                },
                "invalid-proof",
            ));
        };
        let salted = self
            .hash
            .salted_password(&password, &self.salt, self.iterations)
            .map_err(|error| fail(error, "other-error"))?;
        let keys = self.hash.keys(&salted);

        let mut auth_message = client_first_bare;
        auth_message.push(b',');
        auth_message.extend_from_slice(&server_first);
        auth_message.push(b',');
        auth_message.extend_from_slice(without_proof);

        let client_signature =
            Secret::new(self.hash.hmac(keys.stored_key.expose(), &[&auth_message]));
        let proof_ok = proof.len() == client_signature.expose().len() && {
            let client_key = Secret::new(
                proof
                    .iter()
                    .zip(client_signature.expose())
                    .map(|(p, s)| p ^ s)
                    .collect::<Vec<u8>>(),
            );
            ct_eq(
                &self.hash.hash(client_key.expose()),
                keys.stored_key.expose(),
            )
        };
        if !proof_ok {
            return Err(fail(
                SaslError::InvalidCredentials {
                    reason: "invalid proof",
                },
                "invalid-proof",
            ));
        }
        let server_signature = self.hash.hmac(keys.server_key.expose(), &[&auth_message]);
        let mut server_final = b"v=".to_vec();
        server_final.extend_from_slice(BASE64.encode(server_signature).as_bytes());
        Ok((user, server_final))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sasl::{CramMd5, Mechanism, OAuthBearer, Plain, Scram, XOAuth2, random_nonce};

    fn users(user: &str) -> Option<Secret> {
        match user {
            "user" => Some(Secret::from("pencil")),
            "a,b=c" => Some(Secret::from("p\u{a0}w")),
            _ => None,
        }
    }

    #[test]
    fn plain_round_trip() {
        let mut client = Plain::new(Some("admin"), "tim", &Secret::from("tanstaaf"));
        let message = client.initial_response().unwrap().unwrap();
        let creds = decode_plain(message.expose()).unwrap();
        assert_eq!(creds.authzid.as_deref(), Some("admin"));
        assert_eq!(creds.user, "tim");
        assert_eq!(creds.password.expose(), b"tanstaaf");
        assert!(!format!("{creds:?}").contains("tanstaaf"));
        let creds = decode_plain(b"\0tim\0x").unwrap();
        assert_eq!(creds.authzid, None);
    }

    #[test]
    fn plain_malformed() {
        for bad in [
            &b""[..],
            b"tim",
            b"\0tim",
            b"\0tim\0pw\0",
            b"\0\0pw",
            b"\0tim\0",
            b"\xff\0tim\0pw",
            b"\0\xfftim\0pw",
        ] {
            assert!(
                matches!(decode_plain(bad), Err(SaslError::MalformedResponse { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn cram_md5_round_trip() {
        let challenge = b"<12345.678@test.invalid>";
        let mut client = CramMd5::new("user", &Secret::from("pencil"));
        let response = client.step(challenge).unwrap();
        assert_eq!(
            verify_cram_md5(response.expose(), challenge, users).as_deref(),
            Some("user")
        );
        let upper = response.expose().to_ascii_uppercase();
        let upper = [b"user", &upper[4..]].concat();
        assert_eq!(
            verify_cram_md5(&upper, challenge, users).as_deref(),
            Some("user")
        );

        assert_eq!(
            verify_cram_md5(response.expose(), b"<other@x>", users),
            None
        );
        let mut wrong = CramMd5::new("user", &Secret::from("pencl"));
        assert_eq!(
            verify_cram_md5(wrong.step(challenge).unwrap().expose(), challenge, users),
            None
        );
        let mut unknown = CramMd5::new("nobody", &Secret::from("pencil"));
        assert_eq!(
            verify_cram_md5(unknown.step(challenge).unwrap().expose(), challenge, users),
            None
        );
        for bad in [
            &b""[..],
            b" ",
            b"user",
            b"user ",
            b" b913a602c7eda7a495b4e6e7334d3890",
        ] {
            assert_eq!(verify_cram_md5(bad, challenge, users), None);
        }
        assert_eq!(
            cram_md5_expected(
                &Secret::from("tanstaaftanstaaf"),
                b"<1896.697170952@postoffice.reston.mci.net>"
            ),
            "b913a602c7eda7a495b4e6e7334d3890"
        );
    }

    #[test]
    fn apop_round_trip() {
        let ts = "<1896.697170952@dbc.mtview.ca.us>";
        let pw = Secret::from("tanstaaf");
        assert!(apop_verify(ts, &apop_digest(ts, &pw), &pw));
        assert!(apop_verify(ts, "C4C9334BAC560ECC979E58001B3E22FB", &pw));
        assert!(!apop_verify(ts, "c4c9334bac560ecc979e58001b3e22f", &pw));
        assert!(!apop_verify(
            "<other@x>",
            "c4c9334bac560ecc979e58001b3e22fb",
            &pw
        ));
        assert!(!apop_verify(ts, "", &pw));
    }

    #[test]
    fn xoauth2_round_trip() {
        let mut client = XOAuth2::new("u@example.com", &Secret::from("ya29.tok"));
        let creds = decode_xoauth2(client.initial_response().unwrap().unwrap().expose()).unwrap();
        assert_eq!(creds.user.as_deref(), Some("u@example.com"));
        assert_eq!(creds.token.expose(), b"ya29.tok");
        for bad in [
            &b""[..],
            b"user=u\x01auth=Bearer t\x01",
            b"user=u\x01\x01",
            b"auth=Bearer t\x01\x01",
            b"user=u\x01auth=Basic t\x01\x01",
            b"user=u\x01auth=Bearer \x01\x01",
            b"user=\x01auth=Bearer t\x01\x01",
            b"user=u\x01junk\x01auth=Bearer t\x01\x01",
        ] {
            assert!(decode_xoauth2(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn oauthbearer_round_trip() {
        let mut client = OAuthBearer::new("a,b=c", &Secret::from("tok"))
            .with_host("pop.example.com")
            .with_port(995);
        let creds =
            decode_oauthbearer(client.initial_response().unwrap().unwrap().expose()).unwrap();
        assert_eq!(creds.user.as_deref(), Some("a,b=c"));
        assert_eq!(creds.host.as_deref(), Some("pop.example.com"));
        assert_eq!(creds.port, Some(995));
        assert_eq!(creds.token.expose(), b"tok");
        let mut client = OAuthBearer::new("", &Secret::from("tok"));
        let creds =
            decode_oauthbearer(client.initial_response().unwrap().unwrap().expose()).unwrap();
        assert_eq!((creds.user, creds.host, creds.port), (None, None, None));
        for bad in [
            &b""[..],
            b"p=tls-unique,,\x01auth=Bearer t\x01\x01",
            b"n,a=u,auth=Bearer t\x01\x01",
            b"n,a=u,\x01\x01",
            b"n,a=u=,\x01auth=Bearer t\x01\x01",
            b"n,a=u,\x01port=99999\x01auth=Bearer t\x01\x01",
            b"n,a=u,\x01port=+1\x01auth=Bearer t\x01\x01",
            b"x,,\x01auth=Bearer t\x01\x01",
        ] {
            assert!(decode_oauthbearer(bad).is_err(), "{bad:?}");
        }
    }

    fn scram_round_trip(
        client: &mut Scram,
        server: &mut ScramServer<impl FnMut(&str) -> Option<Secret>>,
    ) -> Result<(String, Vec<u8>), ScramServerError> {
        let first = client.initial_response().unwrap().unwrap();
        let server_first = server.first(first.expose()).unwrap();
        let last = client.step(&server_first).unwrap();
        server.last(last.expose())
    }

    #[test]
    fn scram_sha256_round_trip_with_random_nonces() {
        let mut client = Scram::sha256("user", &Secret::from("pencil"));
        let mut server =
            ScramServer::sha256(users, b"NaCl".to_vec(), 4096, random_nonce().unwrap());
        let (user, server_final) = scram_round_trip(&mut client, &mut server).unwrap();
        assert_eq!(user, "user");
        assert!(client.step(&server_final).unwrap().is_empty());
        assert_eq!(client.complete(), Ok(()));
    }

    #[test]
    fn scram_sha1_round_trip_with_escaped_user_and_prepped_password() {
        let mut client = Scram::sha1("a,b=c", &Secret::from("p w"));
        let mut server = ScramServer::sha1(users, b"salt".to_vec(), 4096, "srv".into());
        let (user, server_final) = scram_round_trip(&mut client, &mut server).unwrap();
        assert_eq!(user, "a,b=c");
        assert!(client.step(&server_final).unwrap().is_empty());
        assert_eq!(client.complete(), Ok(()));
        assert!(format!("{server:?}").starts_with("ScramServer"));
    }

    #[test]
    fn scram_wrong_password_fails_on_the_server() {
        let mut client = Scram::sha256("user", &Secret::from("pencils"));
        let mut server =
            ScramServer::sha256(users, b"NaCl".to_vec(), 4096, random_nonce().unwrap());
        let err = scram_round_trip(&mut client, &mut server).unwrap_err();
        assert_eq!(
            err.error,
            SaslError::InvalidCredentials {
                reason: "invalid proof"
            }
        );
        assert_eq!(err.server_final, b"e=invalid-proof");
        // The client never gets a valid v=: what the server sends is an error.
        assert_eq!(
            client.step(&err.server_final),
            Err(SaslError::ServerError {
                mechanism: "SCRAM-SHA-256",
                message: "invalid-proof".to_owned()
            })
        );
        assert!(client.complete().is_err());
    }

    #[test]
    fn scram_client_rejects_a_server_that_does_not_know_the_password() {
        // The server's idea of the password differs: it rejects the proof, and a forged v=
        // computed from its own password is rejected by the client.
        let mut client = Scram::sha256("user", &Secret::from("pencil"));
        let mut server = ScramServer::sha256(
            |_: &str| Some(Secret::from("other")),
            b"NaCl".to_vec(),
            4096,
            "srv".into(),
        );
        let first = client.initial_response().unwrap().unwrap();
        let server_first = server.first(first.expose()).unwrap();
        let last = client.step(&server_first).unwrap();
        assert!(server.last(last.expose()).is_err());
        // Play the impostor: accept anyway and sign with the wrong password.
        let mut impostor = ScramServer::sha256(
            |_: &str| Some(Secret::from("other")),
            b"NaCl".to_vec(),
            4096,
            "srv".into(),
        );
        let mut client = Scram::sha256("user", &Secret::from("pencil")).with_nonce("cn");
        let mut honest_client = Scram::sha256("user", &Secret::from("other")).with_nonce("cn");
        let first = client.initial_response().unwrap().unwrap();
        honest_client.initial_response().unwrap();
        let server_first = impostor.first(first.expose()).unwrap();
        client.step(&server_first).unwrap();
        let last = honest_client.step(&server_first).unwrap();
        let (_, forged_final) = impostor.last(last.expose()).unwrap();
        assert_eq!(
            client.step(&forged_final),
            Err(SaslError::ServerSignatureMismatch)
        );
        assert!(client.complete().is_err());
    }

    #[test]
    fn scram_unknown_user() {
        let mut client = Scram::sha256("nobody", &Secret::from("pencil"));
        let mut server = ScramServer::sha256(users, b"NaCl".to_vec(), 4096, "srv".into());
        let err = scram_round_trip(&mut client, &mut server).unwrap_err();
        assert_eq!(
            err.error,
            SaslError::InvalidCredentials {
                reason: "unknown user"
            }
        );
        assert_eq!(err.server_final, b"e=invalid-proof");
    }

    #[test]
    fn scram_server_rejects_malformed_client_first() {
        for bad in [
            &b""[..],
            b"n,,",
            b"p=tls-unique,,n=user,r=abc",
            b"q,,n=user,r=abc",
            b"n,,m=x,n=user,r=abc",
            b"n,,n=,r=abc",
            b"n,,n=us=er,r=abc",
            b"n,,n=user",
            b"n,,n=user,r=",
            b"n,,n=user,r=a b",
            b"n,a=other,n=user,r=abc",
            b"n,x,n=user,r=abc",
        ] {
            let mut server = ScramServer::sha256(users, b"NaCl".to_vec(), 4096, "srv".into());
            assert!(
                server.first(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let mut server = ScramServer::sha256(users, b"NaCl".to_vec(), 4096, "s,rv".into());
        assert!(matches!(
            server.first(b"n,,n=user,r=abc"),
            Err(SaslError::InvalidCredentials { .. })
        ));
        // y flag and matching authzid are accepted.
        let mut server = ScramServer::sha256(users, b"NaCl".to_vec(), 4096, "srv".into());
        assert_eq!(
            server.first(b"y,a=user,n=user,r=abc").unwrap(),
            b"r=abcsrv,s=TmFDbA==,i=4096"
        );
    }

    #[test]
    fn scram_server_rejects_malformed_client_final() {
        let start = || {
            let mut server = ScramServer::sha256(users, b"NaCl".to_vec(), 4096, "srv".into());
            server.first(b"n,,n=user,r=abc").unwrap();
            server
        };
        for (bad, code) in [
            (&b""[..], &b"e=invalid-encoding"[..]),
            (b"c=biws,r=abcsrv", b"e=invalid-encoding"),
            (b"r=abcsrv,p=AAAA", b"e=invalid-encoding"),
            (b"c=eSws,r=abcsrv,p=AAAA", b"e=channel-bindings-dont-match"),
            (b"c=biws,r=abc,p=AAAA", b"e=other-error"),
            (b"c=biws,r=abcsrv,p=!!!!", b"e=invalid-encoding"),
            (b"c=biws,r=abcsrv,p=AAAA", b"e=invalid-proof"),
            (b"c=biws,r=abcsrv,p=", b"e=invalid-proof"),
        ] {
            let mut server = start();
            let err = server.last(bad).unwrap_err();
            assert_eq!(err.server_final, code, "{:?}", String::from_utf8_lossy(bad));
        }
        // Out of order.
        let mut server = ScramServer::sha256(users, b"NaCl".to_vec(), 4096, "srv".into());
        assert!(server.last(b"c=biws,r=abcsrv,p=AAAA").is_err());
        let mut server = start();
        assert!(matches!(
            server.first(b"n,,n=user,r=abc"),
            Err(SaslError::OutOfOrder { .. })
        ));
    }

    #[test]
    fn scram_server_matches_rfc_vectors() {
        // The SHA-1 vector of RFC 5802 §5, from the server's side.
        let mut server = ScramServer::sha1(
            users,
            BASE64.decode("QSXCR+Q6sek8bf92").unwrap(),
            4096,
            "3rfcNHYJY1ZVvWVs7j".into(),
        );
        assert_eq!(
            server
                .first(b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL")
                .unwrap(),
            b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096"
        );
        let (user, server_final) = server
            .last(
                b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
            )
            .unwrap();
        assert_eq!(user, "user");
        assert_eq!(server_final, b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=");
        // RFC 7677 §3.
        let mut server = ScramServer::sha256(
            users,
            BASE64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap(),
            4096,
            "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0".into(),
        );
        server.first(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO").unwrap();
        let (_, server_final) = server
            .last(b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
            .unwrap();
        assert_eq!(
            server_final,
            b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
    }

    #[test]
    fn saslname_unescaping() {
        assert_eq!(unescape_saslname(b"a=2Cb=3Dc").as_deref(), Some("a,b=c"));
        assert_eq!(unescape_saslname(b"").as_deref(), Some(""));
        for bad in [&b"="[..], b"=2", b"=4", b"=41", b"a,b", b"\xff"] {
            assert_eq!(unescape_saslname(bad), None, "{bad:?}");
        }
    }
}

/// Hostile-input and round-trip property tests for the server side.
#[cfg(test)]
mod fuzz_tests {
    use proptest::collection::vec;
    use proptest::prelude::*;

    use super::*;
    use crate::sasl::{Mechanism, Plain, Scram};

    #[allow(clippy::unnecessary_wraps, reason = "the lookup signature")]
    fn lookup(_: &str) -> Option<Secret> {
        Some(Secret::from("pw"))
    }

    proptest! {
        #[test]
        fn decoders_never_panic(bytes in vec(any::<u8>(), 0..300)) {
            let _ = decode_plain(&bytes);
            let _ = decode_xoauth2(&bytes);
            let _ = decode_oauthbearer(&bytes);
            let _ = verify_cram_md5(&bytes, b"<1@x>", lookup);
            let text = String::from_utf8_lossy(&bytes);
            let _ = apop_verify("<1@x>", &text, &Secret::from("pw"));
        }

        #[test]
        fn scram_server_never_panics(
            first in prop_oneof![vec(any::<u8>(), 0..100), "[ny],(a=[ -~]{0,5})?,n=[ -~]{0,8},r=[ -~]{0,8}(,[ -~]{0,8})?".prop_map(String::into_bytes)],
            last in prop_oneof![vec(any::<u8>(), 0..100), "c=[ -~]{0,8},r=[ -~]{0,12}(,[ -~]{0,6})?,p=[ -~]{0,44}".prop_map(String::into_bytes)],
        ) {
            let mut server = ScramServer::sha1(lookup, b"salt".to_vec(), 2, "srv".into());
            if let Err(e) = server.first(&first) {
                prop_assert!(e.to_string().len() < 400);
            }
            if let Err(e) = server.last(&last) {
                prop_assert!(e.to_string().len() < 400);
                prop_assert!(e.server_final.starts_with(b"e="));
            }
        }

        #[test]
        fn plain_round_trips(
            authzid in "[^\u{0}]{0,8}",
            user in "[^\u{0}]{1,12}",
            password in vec(1u8..=255, 1..20),
        ) {
            let mut client = Plain::new(Some(&authzid), &user, &Secret::new(password.clone()));
            let message = client.initial_response().unwrap().unwrap();
            let creds = decode_plain(message.expose()).unwrap();
            prop_assert_eq!(creds.authzid, (!authzid.is_empty()).then_some(authzid));
            prop_assert_eq!(creds.user, user);
            prop_assert_eq!(creds.password.expose(), &password[..]);
        }

        #[test]
        fn scram_round_trips(
            user in "[a-zA-Z0-9@.,=_-]{1,12}",
            password in "[ -~]{1,16}",
            wrong in any::<bool>(),
            sha256 in any::<bool>(),
        ) {
            let stored = password.clone();
            let user_lookup = |name: &str| (name == user).then(|| Secret::from(stored.as_str()));
            let hash = if sha256 { ScramHash::Sha256 } else { ScramHash::Sha1 };
            let mut server = ScramServer::new(hash, user_lookup, b"salt".to_vec(), 3, "srv".into());
            let sent = if wrong { format!("{password}x") } else { password.clone() };
            let mut client =
                Scram::new(hash, &user, &Secret::from(sent)).with_iteration_bounds(1, 3);
            let first = client.initial_response().unwrap().unwrap();
            let server_first = server.first(first.expose()).unwrap();
            let last = client.step(&server_first).unwrap();
            match server.last(last.expose()) {
                Ok((name, server_final)) => {
                    prop_assert!(!wrong);
                    prop_assert_eq!(&name, &user);
                    prop_assert!(client.step(&server_final).unwrap().is_empty());
                    prop_assert!(client.complete().is_ok());
                }
                Err(e) => {
                    prop_assert!(wrong);
                    prop_assert!(client.step(&e.server_final).is_err());
                    prop_assert!(client.complete().is_err());
                }
            }
        }
    }
}
