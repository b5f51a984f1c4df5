//! `SCRAM-SHA-1` (RFC 5802) and `SCRAM-SHA-256` (RFC 7677), without channel binding.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::{Mechanism, QUOTE_MAX, SaslError, bounded, escape_saslname, hmac_digest, hmac_verify};
use crate::Secret;

/// The hash function a SCRAM exchange is built on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScramHash {
    /// SHA-1: `SCRAM-SHA-1`.
    Sha1,
    /// SHA-256: `SCRAM-SHA-256`.
    Sha256,
}

impl ScramHash {
    /// The SASL mechanism name, e.g. `"SCRAM-SHA-256"`.
    pub fn mechanism_name(self) -> &'static str {
        match self {
            Self::Sha1 => "SCRAM-SHA-1",
            Self::Sha256 => "SCRAM-SHA-256",
        }
    }

    /// The hash output length in bytes (20 or 32): the length of every key, proof and
    /// signature.
    pub fn output_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha256 => 32,
        }
    }

    /// `SaltedPassword := Hi(Normalize(password), salt, i)` (RFC 5802 §3): `SASLprep` of the
    /// password, then one PBKDF2-HMAC run of `iterations` rounds.
    ///
    /// This is the expensive part of SCRAM. The client computes it exactly once per exchange
    /// (when the server-first message arrives) and derives everything else from it; servers
    /// can compute it once per user and keep the result (or the keys derived from it)
    /// instead of the password.
    ///
    /// Fails with [`SaslError::InvalidCredentials`] if the password is not UTF-8 or `SASLprep`
    /// rejects it, and with [`SaslError::IterationCount`] for zero iterations.
    ///
    /// ```
    /// use pop3_proto::Secret;
    /// use pop3_proto::sasl::ScramHash;
    ///
    /// let salted = ScramHash::Sha1.salted_password(&Secret::from("pencil"), b"salt", 4096)?;
    /// assert_eq!(salted.expose().len(), 20);
    /// # Ok::<(), pop3_proto::sasl::SaslError>(())
    /// ```
    pub fn salted_password(
        self,
        password: &Secret,
        salt: &[u8],
        iterations: u32,
    ) -> Result<Secret, SaslError> {
        if iterations == 0 {
            return Err(SaslError::IterationCount { count: 0 });
        }
        let prepared = saslprep_password(password)?;
        Ok(self.hi(&prepared, salt, iterations))
    }

    /// PBKDF2-HMAC over an already normalized password.
    fn hi(self, prepared: &Secret, salt: &[u8], iterations: u32) -> Secret {
        let mut out = vec![0u8; self.output_len()];
        match self {
            Self::Sha1 => {
                pbkdf2::pbkdf2_hmac::<Sha1>(prepared.expose(), salt, iterations, &mut out);
            }
            Self::Sha256 => {
                pbkdf2::pbkdf2_hmac::<Sha256>(prepared.expose(), salt, iterations, &mut out);
            }
        }
        Secret::new(out)
    }

    /// `HMAC(key, parts...)`.
    pub(crate) fn hmac(self, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        match self {
            Self::Sha1 => hmac_digest::<Sha1>(key, parts),
            Self::Sha256 => hmac_digest::<Sha256>(key, parts),
        }
    }

    /// Whether `HMAC(key, parts...) == tag`, in constant time.
    pub(crate) fn hmac_verify(self, key: &[u8], parts: &[&[u8]], tag: &[u8]) -> bool {
        match self {
            Self::Sha1 => hmac_verify::<Sha1>(key, parts, tag),
            Self::Sha256 => hmac_verify::<Sha256>(key, parts, tag),
        }
    }

    /// `H(data)`.
    pub(crate) fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha1 => Sha1::digest(data).to_vec(),
            Self::Sha256 => Sha256::digest(data).to_vec(),
        }
    }

    /// `ClientKey`, `StoredKey` and `ServerKey` from a salted password.
    pub(crate) fn keys(self, salted_password: &Secret) -> ScramKeys {
        let client_key = Secret::new(self.hmac(salted_password.expose(), &[b"Client Key"]));
        let stored_key = Secret::new(self.hash(client_key.expose()));
        let server_key = Secret::new(self.hmac(salted_password.expose(), &[b"Server Key"]));
        ScramKeys {
            client_key,
            stored_key,
            server_key,
        }
    }
}

/// The keys RFC 5802 §3 derives from `SaltedPassword`.
#[allow(clippy::struct_field_names, reason = "the RFC's names")]
pub(crate) struct ScramKeys {
    /// `HMAC(SaltedPassword, "Client Key")`.
    pub(crate) client_key: Secret,
    /// `H(ClientKey)`.
    pub(crate) stored_key: Secret,
    /// `HMAC(SaltedPassword, "Server Key")`.
    pub(crate) server_key: Secret,
}

/// `SASLprep` (RFC 4013) of a password, which must be UTF-8.
pub(crate) fn saslprep_password(password: &Secret) -> Result<Secret, SaslError> {
    let text = password.expose_str().ok_or(SaslError::InvalidCredentials {
        reason: "SCRAM password is not UTF-8",
    })?;
    let prepared = stringprep::saslprep(text).map_err(|_| SaslError::InvalidCredentials {
        reason: "SCRAM password contains characters SASLprep prohibits",
    })?;
    Ok(Secret::from(prepared.as_ref()))
}

/// Whether `nonce` may be used as a SCRAM nonce: non-empty printable ASCII without `,`.
pub(crate) fn valid_nonce(nonce: &[u8]) -> bool {
    !nonce.is_empty() && nonce.iter().all(|&b| b.is_ascii_graphic() && b != b',')
}

/// A fresh nonce: 24 bytes from the system random number generator, base64 encoded (32
/// characters, never containing `,`).
pub fn random_nonce() -> Result<String, SaslError> {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(|_| SaslError::Random)?;
    Ok(BASE64.encode(bytes))
}

/// Splits an `a=value` attribute into its name and value.
pub(crate) fn split_attribute(part: &[u8]) -> Option<(u8, &[u8])> {
    match part {
        [name, b'=', value @ ..] if name.is_ascii_alphabetic() => Some((*name, value)),
        _ => None,
    }
}

/// Parses an RFC 5802 `posit-number`: a decimal without sign or leading zero. `Ok(None)`
/// when it is well formed but does not fit in a `u32`.
pub(crate) fn parse_posit_number(digits: &[u8]) -> Result<Option<u32>, ()> {
    match digits {
        [b'1'..=b'9', rest @ ..] if rest.iter().all(u8::is_ascii_digit) => {
            let mut value: u32 = 0;
            for &d in digits {
                match value
                    .checked_mul(10)
                    .and_then(|v| v.checked_add(u32::from(d - b'0')))
                {
                    Some(v) => value = v,
                    None => return Ok(None),
                }
            }
            Ok(Some(value))
        }
        _ => Err(()),
    }
}

/// Where a client exchange is.
#[derive(Debug, Clone)]
enum State {
    /// Nothing sent yet.
    Start,
    /// client-first sent; waiting for server-first.
    ClientFirstSent {
        /// Our nonce.
        nonce: String,
        /// `n=user,r=nonce`, part of the `AuthMessage`.
        client_first_bare: String,
        /// The `SASLprep`'d password.
        password: Secret,
    },
    /// client-final sent; waiting for server-final.
    ClientFinalSent {
        /// `ServerKey`, to check the server's signature.
        server_key: Secret,
        /// `client-first-bare "," server-first "," client-final-without-proof`.
        auth_message: Vec<u8>,
    },
    /// The server proved it knows the password.
    Verified,
    /// Something went wrong; the exchange is over.
    Failed,
}

/// A SCRAM client exchange (RFC 5802, RFC 7677) with the GS2 header `n,,`: no channel
/// binding and no authorization identity.
///
/// SCRAM authenticates both sides: the password never crosses the wire, and the server must
/// prove that it knows it (or a salted form of it) in its final message. In POP3 that
/// message arrives as a challenge, which [`step`](Mechanism::step) verifies and answers with
/// an empty response; the server then says `+OK`, and [`complete`](Mechanism::complete)
/// fails with [`SaslError::Incomplete`] unless the server's signature was verified. A session
/// whose `complete()` fails must not be used.
///
/// ```
/// use pop3_proto::Secret;
/// use pop3_proto::sasl::{Mechanism, Scram};
///
/// // RFC 7677 §3.
/// let mut m = Scram::sha256("user", &Secret::from("pencil")).with_nonce("rOprNGfwEbeRWgbNEkqO");
/// let first = m.initial_response()?.expect("client-first");
/// assert_eq!(first.expose(), b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
/// let last = m.step(b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
///                     s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")?;
/// assert_eq!(
///     last.expose(),
///     &b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
///        p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="[..]
/// );
/// assert!(m.step(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")?.is_empty());
/// m.complete()?; // the server said +OK, and it proved it knows the password
/// # Ok::<(), pop3_proto::sasl::SaslError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Scram {
    hash: ScramHash,
    user: String,
    password: Secret,
    nonce: Option<String>,
    min_iterations: u32,
    max_iterations: u32,
    state: State,
}

impl Scram {
    /// The smallest iteration count accepted by default (RFC 7677's recommendation).
    pub const DEFAULT_MIN_ITERATIONS: u32 = 4096;
    /// The largest iteration count accepted by default.
    pub const DEFAULT_MAX_ITERATIONS: u32 = 10_000_000;

    /// A SCRAM exchange with the given hash for `user`.
    ///
    /// The user name and password are `SASLprep`'d when the first message is built; if
    /// `SASLprep` rejects them (or the password is not UTF-8), that first call fails with
    /// [`SaslError::InvalidCredentials`] and nothing is sent.
    pub fn new(hash: ScramHash, user: &str, password: &Secret) -> Self {
        Self {
            hash,
            user: user.to_owned(),
            password: password.clone(),
            nonce: None,
            min_iterations: Self::DEFAULT_MIN_ITERATIONS,
            max_iterations: Self::DEFAULT_MAX_ITERATIONS,
            state: State::Start,
        }
    }

    /// A `SCRAM-SHA-1` exchange for `user`.
    pub fn sha1(user: &str, password: &Secret) -> Self {
        Self::new(ScramHash::Sha1, user, password)
    }

    /// A `SCRAM-SHA-256` exchange for `user`.
    pub fn sha256(user: &str, password: &Secret) -> Self {
        Self::new(ScramHash::Sha256, user, password)
    }

    /// Uses a fixed client nonce instead of a random one. For tests only: a predictable
    /// nonce lets an attacker replay.
    ///
    /// The nonce must be non-empty printable ASCII without `,`; otherwise the first message
    /// fails with [`SaslError::InvalidCredentials`].
    #[must_use]
    pub fn with_nonce(mut self, nonce: &str) -> Self {
        self.nonce = Some(nonce.to_owned());
        self
    }

    /// Accepts server iteration counts only in `min..=max` (default
    /// [`DEFAULT_MIN_ITERATIONS`](Self::DEFAULT_MIN_ITERATIONS) to
    /// [`DEFAULT_MAX_ITERATIONS`](Self::DEFAULT_MAX_ITERATIONS)); others fail with
    /// [`SaslError::IterationCount`].
    ///
    /// A low count makes the proof we send cheap to brute-force; a high one lets a malicious
    /// server make us burn CPU. `min` is raised to 1 if it is 0.
    #[must_use]
    pub fn with_iteration_bounds(mut self, min: u32, max: u32) -> Self {
        self.min_iterations = min.max(1);
        self.max_iterations = max;
        self
    }

    /// The hash this exchange uses.
    pub fn hash(&self) -> ScramHash {
        self.hash
    }

    fn name(&self) -> &'static str {
        self.hash.mechanism_name()
    }

    /// Builds client-first; leaves the state alone on error.
    fn client_first(&mut self) -> Result<Secret, SaslError> {
        let nonce = match &self.nonce {
            Some(nonce) => nonce.clone(),
            None => random_nonce()?,
        };
        if !valid_nonce(nonce.as_bytes()) {
            return Err(SaslError::InvalidCredentials {
                reason: "SCRAM nonce must be non-empty printable ASCII without ','",
            });
        }
        let user = stringprep::saslprep(&self.user).map_err(|_| SaslError::InvalidCredentials {
            reason: "SCRAM user name contains characters SASLprep prohibits",
        })?;
        if user.is_empty() {
            // RFC 5802: saslname is 1*(value-safe-char / "=2C" / "=3D").
            return Err(SaslError::InvalidCredentials {
                reason: "SCRAM user name is empty (after SASLprep)",
            });
        }
        let password = saslprep_password(&self.password)?;
        let client_first_bare = format!("n={},r={nonce}", escape_saslname(&user));
        let message = format!("n,,{client_first_bare}");
        self.state = State::ClientFirstSent {
            nonce,
            client_first_bare,
            password,
        };
        Ok(Secret::from(message))
    }

    /// Parses server-first and builds client-final.
    fn client_final(
        &self,
        nonce: &str,
        client_first_bare: &str,
        password: &Secret,
        server_first: &[u8],
    ) -> Result<(Secret, State), SaslError> {
        let mechanism = self.name();
        let malformed = |reason: &str| {
            SaslError::malformed(
                mechanism,
                format!(
                    "{reason} in server-first \"{}\"",
                    bounded(server_first, QUOTE_MAX)
                ),
            )
        };
        let mut parts = server_first.split(|&b| b == b',');
        let mut next = || parts.next().and_then(split_attribute);

        let (name, server_nonce) = next().ok_or_else(|| malformed("no r= attribute"))?;
        match name {
            b'r' => {}
            b'm' => return Err(malformed("unsupported mandatory extension m=")),
            b'e' => return Err(SaslError::server_error(mechanism, server_nonce)),
            _ => return Err(malformed("expected r= first")),
        }
        if !valid_nonce(server_nonce) {
            return Err(malformed("nonce not printable"));
        }
        if server_nonce.len() <= nonce.len() || !server_nonce.starts_with(nonce.as_bytes()) {
            return Err(malformed("server nonce does not extend ours"));
        }

        let Some((b's', salt)) = next() else {
            return Err(malformed("expected s= second"));
        };
        let salt = BASE64
            .decode(salt)
            .map_err(|_| malformed("salt is not valid base64"))?;
        if salt.is_empty() {
            return Err(malformed("empty salt"));
        }

        let Some((b'i', iterations)) = next() else {
            return Err(malformed("expected i= third"));
        };
        let iterations = match parse_posit_number(iterations) {
            Ok(Some(count)) => count,
            Ok(None) => return Err(SaslError::IterationCount { count: u32::MAX }),
            Err(()) => return Err(malformed("iteration count is not a positive integer")),
        };
        if !(self.min_iterations..=self.max_iterations).contains(&iterations) {
            return Err(SaslError::IterationCount { count: iterations });
        }
        // Optional extensions after i= are ignored, as RFC 5802 §5.1 allows.

        let salted_password = self.hash.hi(password, &salt, iterations);
        let keys = self.hash.keys(&salted_password);

        let mut client_final = Vec::with_capacity(server_nonce.len() + 16 + 4 * 32 / 3 + 4);
        client_final.extend_from_slice(b"c=biws,r=");
        client_final.extend_from_slice(server_nonce);

        let mut auth_message = Vec::with_capacity(
            client_first_bare.len() + server_first.len() + client_final.len() + 2,
        );
        auth_message.extend_from_slice(client_first_bare.as_bytes());
        auth_message.push(b',');
        auth_message.extend_from_slice(server_first);
        auth_message.push(b',');
        auth_message.extend_from_slice(&client_final);

        let client_signature =
            Secret::new(self.hash.hmac(keys.stored_key.expose(), &[&auth_message]));
        let proof: Vec<u8> = keys
            .client_key
            .expose()
            .iter()
            .zip(client_signature.expose())
            .map(|(k, s)| k ^ s)
            .collect();
        client_final.extend_from_slice(b",p=");
        client_final.extend_from_slice(BASE64.encode(proof).as_bytes());

        Ok((
            Secret::new(client_final),
            State::ClientFinalSent {
                server_key: keys.server_key,
                auth_message,
            },
        ))
    }

    /// Checks server-final.
    fn verify_server_final(
        &self,
        server_key: &Secret,
        auth_message: &[u8],
        server_final: &[u8],
    ) -> Result<(), SaslError> {
        let mechanism = self.name();
        let first = server_final
            .split(|&b| b == b',')
            .next()
            .and_then(split_attribute);
        match first {
            Some((b'v', signature)) => {
                let signature = BASE64.decode(signature).map_err(|_| {
                    SaslError::malformed(mechanism, "server signature is not valid base64")
                })?;
                if self
                    .hash
                    .hmac_verify(server_key.expose(), &[auth_message], &signature)
                {
                    Ok(())
                } else {
                    Err(SaslError::ServerSignatureMismatch)
                }
            }
            Some((b'e', message)) => Err(SaslError::server_error(mechanism, message)),
            _ => Err(SaslError::malformed(
                mechanism,
                format!(
                    "expected v= or e= in server-final \"{}\"",
                    bounded(server_final, QUOTE_MAX)
                ),
            )),
        }
    }
}

impl Mechanism for Scram {
    fn name(&self) -> &str {
        self.hash.mechanism_name()
    }

    fn initial_response(&mut self) -> Result<Option<Secret>, SaslError> {
        if !matches!(self.state, State::Start) {
            return Err(SaslError::OutOfOrder {
                mechanism: Scram::name(self),
            });
        }
        self.client_first().map(Some)
    }

    fn step(&mut self, challenge: &[u8]) -> Result<Secret, SaslError> {
        let mechanism = Scram::name(self);
        match std::mem::replace(&mut self.state, State::Failed) {
            State::Start if challenge.is_empty() => {
                self.state = State::Start;
                self.client_first()
            }
            State::ClientFirstSent {
                nonce,
                client_first_bare,
                password,
            } => {
                let (response, state) =
                    self.client_final(&nonce, &client_first_bare, &password, challenge)?;
                self.state = state;
                Ok(response)
            }
            State::ClientFinalSent {
                server_key,
                auth_message,
            } => {
                self.verify_server_final(&server_key, &auth_message, challenge)?;
                self.state = State::Verified;
                Ok(Secret::default())
            }
            State::Start | State::Verified | State::Failed => {
                Err(SaslError::UnexpectedChallenge { mechanism })
            }
        }
    }

    fn complete(&mut self) -> Result<(), SaslError> {
        if matches!(self.state, State::Verified) {
            Ok(())
        } else {
            Err(SaslError::Incomplete {
                mechanism: Scram::name(self),
            })
        }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn empty_user_name_never_leaves_the_client() {
        for user in ["", "\u{AD}"] {
            let mut client = Scram::sha256(user, &Secret::from("pencil")).with_nonce("abc");
            assert!(matches!(
                client.initial_response(),
                Err(SaslError::InvalidCredentials { .. })
            ));
        }
    }

    use super::*;

    const SHA1_NONCE: &str = "fyko+d2lbbFgONRv9qkxdawL";
    const SHA1_SERVER_FIRST: &[u8] =
        b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096";
    const SHA1_CLIENT_FINAL: &[u8] =
        b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=";
    const SHA1_SERVER_FINAL: &[u8] = b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=";

    const SHA256_NONCE: &str = "rOprNGfwEbeRWgbNEkqO";
    const SHA256_SERVER_FIRST: &[u8] =
        b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    const SHA256_CLIENT_FINAL: &[u8] = b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    const SHA256_SERVER_FINAL: &[u8] = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

    fn pencil() -> Secret {
        Secret::from("pencil")
    }

    fn sha1() -> Scram {
        Scram::sha1("user", &pencil()).with_nonce(SHA1_NONCE)
    }

    /// A SHA-1 exchange that has sent client-first.
    fn sha1_started() -> Scram {
        let mut m = sha1();
        m.initial_response().unwrap();
        m
    }

    /// A SHA-1 exchange that has sent client-final.
    fn sha1_final_sent() -> Scram {
        let mut m = sha1_started();
        m.step(SHA1_SERVER_FIRST).unwrap();
        m
    }

    fn malformed(result: &Result<Secret, SaslError>) -> bool {
        matches!(result, Err(SaslError::MalformedChallenge { .. }))
    }

    #[test]
    fn rfc_5802_sha1_vector() {
        let mut m = sha1();
        assert_eq!(m.name(), "SCRAM-SHA-1");
        assert_eq!(m.hash(), ScramHash::Sha1);
        assert_eq!(
            m.initial_response().unwrap().unwrap().expose(),
            b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"
        );
        assert_eq!(
            m.complete(),
            Err(SaslError::Incomplete {
                mechanism: "SCRAM-SHA-1"
            })
        );
        assert_eq!(
            m.step(SHA1_SERVER_FIRST).unwrap().expose(),
            SHA1_CLIENT_FINAL
        );
        assert!(m.step(SHA1_SERVER_FINAL).unwrap().is_empty());
        assert_eq!(m.complete(), Ok(()));
    }

    #[test]
    fn rfc_7677_sha256_vector() {
        let mut m = Scram::sha256("user", &pencil()).with_nonce(SHA256_NONCE);
        assert_eq!(m.name(), "SCRAM-SHA-256");
        assert_eq!(
            m.initial_response().unwrap().unwrap().expose(),
            b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
        );
        assert_eq!(
            m.step(SHA256_SERVER_FIRST).unwrap().expose(),
            SHA256_CLIENT_FINAL
        );
        assert!(m.step(SHA256_SERVER_FINAL).unwrap().is_empty());
        assert_eq!(m.complete(), Ok(()));
    }

    #[test]
    fn empty_first_challenge_starts_the_exchange() {
        let mut m = sha1();
        assert_eq!(
            m.step(b"").unwrap().expose(),
            b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"
        );
        assert_eq!(
            m.step(SHA1_SERVER_FIRST).unwrap().expose(),
            SHA1_CLIENT_FINAL
        );
        assert!(m.step(SHA1_SERVER_FINAL).unwrap().is_empty());
        assert_eq!(m.complete(), Ok(()));
        assert_eq!(
            m.initial_response(),
            Err(SaslError::OutOfOrder {
                mechanism: "SCRAM-SHA-1"
            })
        );
    }

    #[test]
    fn non_empty_first_challenge_is_unexpected() {
        let mut m = sha1();
        assert_eq!(
            m.step(SHA1_SERVER_FIRST),
            Err(SaslError::UnexpectedChallenge {
                mechanism: "SCRAM-SHA-1"
            })
        );
    }

    #[test]
    fn wrong_server_signature() {
        let mut m = sha1_final_sent();
        assert_eq!(
            m.step(b"v=rmF9pqV8S7suAoZWja4dJRkFsKM="),
            Err(SaslError::ServerSignatureMismatch)
        );
        assert_eq!(
            m.complete(),
            Err(SaslError::Incomplete {
                mechanism: "SCRAM-SHA-1"
            })
        );
        // The right signature after a wrong one does not rescue the exchange.
        assert_eq!(
            m.step(SHA1_SERVER_FINAL),
            Err(SaslError::UnexpectedChallenge {
                mechanism: "SCRAM-SHA-1"
            })
        );
        assert!(m.complete().is_err());
        // Truncated and empty signatures too.
        let mut m = sha1_final_sent();
        assert_eq!(
            m.step(b"v=rmF9pqV8S7suAoZW"),
            Err(SaslError::ServerSignatureMismatch)
        );
        let mut m = sha1_final_sent();
        assert_eq!(m.step(b"v="), Err(SaslError::ServerSignatureMismatch));
    }

    #[test]
    fn signature_for_another_hash_is_rejected() {
        let mut m = sha1_final_sent();
        assert_eq!(
            m.step(SHA256_SERVER_FINAL),
            Err(SaslError::ServerSignatureMismatch)
        );
    }

    #[test]
    fn server_final_error() {
        let mut m = sha1_final_sent();
        assert_eq!(
            m.step(b"e=other-error"),
            Err(SaslError::ServerError {
                mechanism: "SCRAM-SHA-1",
                message: "other-error".to_owned()
            })
        );
        assert!(m.complete().is_err());
    }

    #[test]
    fn server_final_garbage() {
        for bad in [&b""[..], b"x", b"v", b"vv=abc", b"q=abc", b"v=not base64!"] {
            let mut m = sha1_final_sent();
            assert!(
                malformed(&m.step(bad)),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn server_final_extensions_are_ignored() {
        let mut m = sha1_final_sent();
        let mut with_ext = SHA1_SERVER_FINAL.to_vec();
        with_ext.extend_from_slice(b",x=extra");
        assert!(m.step(&with_ext).unwrap().is_empty());
        assert_eq!(m.complete(), Ok(()));
    }

    #[test]
    fn complete_before_server_final_is_incomplete() {
        let mut m = sha1();
        assert_eq!(
            m.complete(),
            Err(SaslError::Incomplete {
                mechanism: "SCRAM-SHA-1"
            })
        );
        let mut m = sha1_started();
        assert_eq!(
            m.complete(),
            Err(SaslError::Incomplete {
                mechanism: "SCRAM-SHA-1"
            })
        );
        let mut m = sha1_final_sent();
        assert_eq!(
            m.complete(),
            Err(SaslError::Incomplete {
                mechanism: "SCRAM-SHA-1"
            })
        );
    }

    #[test]
    fn challenges_after_the_end_are_unexpected() {
        let mut m = sha1_final_sent();
        m.step(SHA1_SERVER_FINAL).unwrap();
        for challenge in [&b""[..], SHA1_SERVER_FINAL, b"anything"] {
            assert_eq!(
                m.step(challenge),
                Err(SaslError::UnexpectedChallenge {
                    mechanism: "SCRAM-SHA-1"
                })
            );
        }
    }

    #[test]
    fn server_nonce_must_extend_ours() {
        for first in [
            &b"r=fyko+d2lbbFgONRv9qkxdawL,s=QSXCR+Q6sek8bf92,i=4096"[..],
            b"r=fyko+d2lbbFgONRv9qkxdaw,s=QSXCR+Q6sek8bf92,i=4096",
            b"r=Xyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
            b"r=3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
            b"r=,s=QSXCR+Q6sek8bf92,i=4096",
            b"r=fyko+d2lbbFgONRv9qkxdawL3rfc NHYJY,s=QSXCR+Q6sek8bf92,i=4096",
        ] {
            let mut m = sha1_started();
            assert!(
                malformed(&m.step(first)),
                "{:?}",
                String::from_utf8_lossy(first)
            );
            assert_eq!(
                m.complete(),
                Err(SaslError::Incomplete {
                    mechanism: "SCRAM-SHA-1"
                })
            );
        }
    }

    #[test]
    fn iteration_count_bounds() {
        let with_count = |count: &str| {
            format!("r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i={count}")
        };
        let mut m = sha1_started();
        assert_eq!(
            m.step(with_count("1").as_bytes()),
            Err(SaslError::IterationCount { count: 1 })
        );
        let mut m = sha1_started();
        assert_eq!(
            m.step(with_count("2147483648").as_bytes()),
            Err(SaslError::IterationCount { count: 1 << 31 })
        );
        let mut m = sha1_started();
        assert_eq!(
            m.step(with_count("99999999999999999999").as_bytes()),
            Err(SaslError::IterationCount { count: u32::MAX })
        );
        let mut m = sha1_started();
        assert_eq!(
            m.step(with_count("4095").as_bytes()),
            Err(SaslError::IterationCount { count: 4095 })
        );
        let mut m = sha1_started();
        assert_eq!(
            m.step(with_count("10000001").as_bytes()),
            Err(SaslError::IterationCount { count: 10_000_001 })
        );
        for bad in ["0", "", "-1", "+4096", "04096", "4096x", "0x1000", " 4096"] {
            let mut m = sha1_started();
            assert!(malformed(&m.step(with_count(bad).as_bytes())), "{bad:?}");
        }
        // Custom bounds.
        let mut m = Scram::sha1("user", &pencil())
            .with_nonce(SHA1_NONCE)
            .with_iteration_bounds(0, 2);
        m.initial_response().unwrap();
        assert!(m.step(with_count("2").as_bytes()).is_ok());
        let mut m = Scram::sha1("user", &pencil())
            .with_nonce(SHA1_NONCE)
            .with_iteration_bounds(5000, 6000);
        m.initial_response().unwrap();
        assert_eq!(
            m.step(SHA1_SERVER_FIRST),
            Err(SaslError::IterationCount { count: 4096 })
        );
    }

    #[test]
    fn mandatory_extension_is_rejected() {
        let mut m = sha1_started();
        let err = m
            .step(b"m=ext,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096")
            .unwrap_err();
        assert!(matches!(err, SaslError::MalformedChallenge { .. }));
        assert!(err.to_string().contains("m="));
    }

    #[test]
    fn optional_extensions_after_i_are_ignored() {
        let mut m = sha1_started();
        // The extension is part of the `AuthMessage`, so the proof changes; we only check that
        // it is accepted.
        let response = m
            .step(b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096,x=y,z")
            .unwrap();
        assert!(
            response
                .expose()
                .starts_with(b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfc")
        );
    }

    #[test]
    fn malformed_salt() {
        for salt in [
            "",
            "not*base64",
            "QSXCR+Q6sek8bf9",
            "QSXCR+Q6sek8bf92=",
            "====",
        ] {
            let mut m = sha1_started();
            let first = format!("r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s={salt},i=4096");
            assert!(malformed(&m.step(first.as_bytes())), "{salt:?}");
        }
    }

    #[test]
    fn server_first_attribute_order_and_errors() {
        for first in [
            &b""[..],
            b"s=QSXCR+Q6sek8bf92,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,i=4096",
            b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,i=4096,s=QSXCR+Q6sek8bf92",
            b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92",
            b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j",
            b"garbage",
        ] {
            let mut m = sha1_started();
            assert!(
                malformed(&m.step(first)),
                "{:?}",
                String::from_utf8_lossy(first)
            );
        }
        let mut m = sha1_started();
        assert_eq!(
            m.step(b"e=unknown-user"),
            Err(SaslError::ServerError {
                mechanism: "SCRAM-SHA-1",
                message: "unknown-user".to_owned()
            })
        );
    }

    #[test]
    fn malformed_reason_is_bounded() {
        let mut m = sha1_started();
        let mut first = b"m=".to_vec();
        first.extend(std::iter::repeat_n(0xffu8, 100_000));
        let err = m.step(&first).unwrap_err();
        assert!(err.to_string().len() < 300, "{}", err.to_string().len());
    }

    #[test]
    fn user_name_is_prepared_and_escaped() {
        // U+00AD SOFT HYPHEN is mapped to nothing by SASLprep.
        let mut m = Scram::sha256("a,b=c\u{ad}", &pencil()).with_nonce("n");
        assert_eq!(
            m.initial_response().unwrap().unwrap().expose(),
            b"n,,n=a=2Cb=3Dc,r=n"
        );
    }

    #[test]
    fn prohibited_credentials_are_rejected_before_sending() {
        // U+0007 is a prohibited control character.
        let mut m = Scram::sha256("bad\u{7}", &pencil()).with_nonce("n");
        assert!(matches!(
            m.initial_response(),
            Err(SaslError::InvalidCredentials { .. })
        ));
        let mut m = Scram::sha256("user", &Secret::from("pen\u{7}cil")).with_nonce("n");
        assert!(matches!(
            m.step(b""),
            Err(SaslError::InvalidCredentials { .. })
        ));
        let mut m = Scram::sha256("user", &Secret::new(vec![0xff, 0xfe])).with_nonce("n");
        assert!(matches!(
            m.initial_response(),
            Err(SaslError::InvalidCredentials { .. })
        ));
        for nonce in ["", "a,b", "a b", "\u{e9}"] {
            let mut m = Scram::sha256("user", &pencil()).with_nonce(nonce);
            assert!(matches!(
                m.initial_response(),
                Err(SaslError::InvalidCredentials { .. })
            ));
        }
    }

    #[test]
    fn password_is_saslprepped() {
        // U+00A0 NO-BREAK SPACE maps to SPACE; both passwords give the same proof.
        let mut a = Scram::sha1("user", &Secret::from("pen cil")).with_nonce(SHA1_NONCE);
        let mut b = Scram::sha1("user", &Secret::from("pen\u{a0}cil")).with_nonce(SHA1_NONCE);
        a.initial_response().unwrap();
        b.initial_response().unwrap();
        assert_eq!(
            a.step(SHA1_SERVER_FIRST).unwrap().expose(),
            b.step(SHA1_SERVER_FIRST).unwrap().expose()
        );
    }

    #[test]
    fn random_nonces() {
        let a = random_nonce().unwrap();
        let b = random_nonce().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert!(valid_nonce(a.as_bytes()));
        let mut m = Scram::sha256("user", &pencil());
        let first = m.initial_response().unwrap().unwrap();
        assert!(first.expose().starts_with(b"n,,n=user,r="));
        assert_eq!(first.expose().len(), "n,,n=user,r=".len() + 32);
    }

    #[test]
    fn salted_password_is_exposed() {
        let salt = BASE64.decode("QSXCR+Q6sek8bf92").unwrap();
        let salted = ScramHash::Sha1
            .salted_password(&pencil(), &salt, 4096)
            .unwrap();
        // RFC 5802's SaltedPassword for user/pencil, as computed by other implementations.
        assert_eq!(
            super::super::hex_lower(salted.expose()),
            "1d96ee3a529b5a5f9e47c01f229a2cb8a6e15f7d"
        );
        assert_eq!(
            ScramHash::Sha256
                .salted_password(&pencil(), &salt, 0)
                .unwrap_err(),
            SaslError::IterationCount { count: 0 }
        );
        assert_eq!(ScramHash::Sha256.mechanism_name(), "SCRAM-SHA-256");
        assert_eq!(ScramHash::Sha256.output_len(), 32);
    }

    #[test]
    fn parse_posit_number_cases() {
        assert_eq!(parse_posit_number(b"1"), Ok(Some(1)));
        assert_eq!(parse_posit_number(b"4294967295"), Ok(Some(u32::MAX)));
        assert_eq!(parse_posit_number(b"4294967296"), Ok(None));
        assert_eq!(parse_posit_number(b"0"), Err(()));
        assert_eq!(parse_posit_number(b""), Err(()));
        assert_eq!(parse_posit_number(b"1a"), Err(()));
    }

    #[test]
    fn debug_hides_secrets() {
        let m = sha1_final_sent();
        let debug = format!("{m:?}");
        assert!(!debug.contains("pencil"));
    }
}
