//! Bearer-token mechanisms: `XOAUTH2` (Google, Microsoft) and `OAUTHBEARER` (RFC 7628).

use super::{Mechanism, SERVER_TEXT_MAX, SaslError, bounded, escape_saslname};
use crate::Secret;

const XOAUTH2: &str = "XOAUTH2";
const OAUTHBEARER: &str = "OAUTHBEARER";

/// Where a bearer-token exchange is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing sent yet.
    NotStarted,
    /// The token was sent; a challenge now can only be an error report.
    Sent,
    /// The server reported an error and we acknowledged it; it must now say `-ERR`.
    ErrorAcknowledged,
}

/// Checks a bearer token: RFC 6750 `b64token` is a subset of visible ASCII, and anything
/// else (spaces, control characters, `\x01` in particular) would break the message framing.
fn check_token(token: &Secret) -> Result<(), SaslError> {
    let bytes = token.expose();
    if bytes.is_empty() {
        return Err(SaslError::InvalidCredentials {
            reason: "empty bearer token",
        });
    }
    if !bytes.iter().all(u8::is_ascii_graphic) {
        return Err(SaslError::InvalidCredentials {
            reason: "bearer token contains characters other than visible ASCII",
        });
    }
    Ok(())
}

/// The state shared by both bearer mechanisms.
#[derive(Debug, Clone)]
struct Exchange {
    state: State,
    server_error: Option<String>,
}

impl Exchange {
    const fn new() -> Self {
        Self {
            state: State::NotStarted,
            server_error: None,
        }
    }

    fn initial_response(
        &mut self,
        mechanism: &'static str,
        message: impl FnOnce() -> Result<Secret, SaslError>,
    ) -> Result<Option<Secret>, SaslError> {
        if self.state != State::NotStarted {
            return Err(SaslError::OutOfOrder { mechanism });
        }
        let message = message()?;
        self.state = State::Sent;
        Ok(Some(message))
    }

    /// An empty challenge before anything was sent stands for the initial response; once the
    /// token is sent, any challenge is an error report that is recorded and acknowledged with
    /// `ack`; anything after that is unexpected.
    fn step(
        &mut self,
        mechanism: &'static str,
        challenge: &[u8],
        message: impl FnOnce() -> Result<Secret, SaslError>,
        ack: &[u8],
    ) -> Result<Secret, SaslError> {
        match self.state {
            State::NotStarted if challenge.is_empty() => {
                let message = message()?;
                self.state = State::Sent;
                Ok(message)
            }
            State::Sent => {
                self.server_error = Some(bounded(challenge, SERVER_TEXT_MAX));
                self.state = State::ErrorAcknowledged;
                Ok(Secret::from(ack))
            }
            State::NotStarted | State::ErrorAcknowledged => {
                Err(SaslError::UnexpectedChallenge { mechanism })
            }
        }
    }
}

/// The `XOAUTH2` mechanism:
/// `user=USER \x01 auth=Bearer TOKEN \x01 \x01` as the initial response.
///
/// If the token is refused, Google-style servers send a JSON error document as a challenge;
/// [`step`](Mechanism::step) then answers with an empty response (after which the server
/// says `-ERR`) and the document is available, truncated and escaped, from
/// [`server_error`](Self::server_error).
///
/// The token crosses the wire as is: use it only over TLS.
///
/// ```
/// use pop3_proto::Secret;
/// use pop3_proto::sasl::{Mechanism, XOAuth2};
///
/// let mut m = XOAuth2::new("someone@example.com", &Secret::from("ya29.vF9dft4q"));
/// let ir = m.initial_response()?.expect("client-first");
/// assert_eq!(ir.expose(), b"user=someone@example.com\x01auth=Bearer ya29.vF9dft4q\x01\x01");
/// let ack = m.step(br#"{"status":"400","schemes":"Bearer"}"#)?;
/// assert!(ack.is_empty());
/// assert_eq!(m.server_error(), Some(r#"{"status":"400","schemes":"Bearer"}"#));
/// # Ok::<(), pop3_proto::sasl::SaslError>(())
/// ```
#[derive(Debug, Clone)]
pub struct XOAuth2 {
    user: String,
    token: Secret,
    exchange: Exchange,
}

impl XOAuth2 {
    /// An `XOAUTH2` exchange for `user` with an OAuth 2.0 access token.
    ///
    /// A token that is empty or not visible ASCII, or a user name containing `\x01`, is
    /// reported as [`SaslError::InvalidCredentials`] when the message is built.
    pub fn new(user: &str, token: &Secret) -> Self {
        Self {
            user: user.to_owned(),
            token: token.clone(),
            exchange: Exchange::new(),
        }
    }

    /// The error the server sent as a challenge, if any: typically a JSON document such as
    /// `{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}`, with
    /// non-printable bytes escaped and truncated to 256 characters.
    pub fn server_error(&self) -> Option<&str> {
        self.exchange.server_error.as_deref()
    }
}

fn xoauth2_message(user: &str, token: &Secret) -> Result<Secret, SaslError> {
    if user.contains('\x01') {
        return Err(SaslError::InvalidCredentials {
            reason: "\\x01 in the XOAUTH2 user",
        });
    }
    check_token(token)?;
    let mut out = Vec::with_capacity(user.len() + token.expose().len() + 22);
    out.extend_from_slice(b"user=");
    out.extend_from_slice(user.as_bytes());
    out.extend_from_slice(b"\x01auth=Bearer ");
    out.extend_from_slice(token.expose());
    out.extend_from_slice(b"\x01\x01");
    Ok(Secret::new(out))
}

impl Mechanism for XOAuth2 {
    fn name(&self) -> &str {
        XOAUTH2
    }

    fn initial_response(&mut self) -> Result<Option<Secret>, SaslError> {
        self.exchange
            .initial_response(XOAUTH2, || xoauth2_message(&self.user, &self.token))
    }

    fn step(&mut self, challenge: &[u8]) -> Result<Secret, SaslError> {
        self.exchange.step(
            XOAUTH2,
            challenge,
            || xoauth2_message(&self.user, &self.token),
            b"",
        )
    }
}

/// The `OAUTHBEARER` mechanism (RFC 7628): a GS2 header naming the user, then
/// `\x01host=H\x01port=P\x01auth=Bearer TOKEN\x01\x01`.
///
/// If the token is refused the server sends a JSON error document as a challenge;
/// [`step`](Mechanism::step) answers with the single `\x01` RFC 7628 §3.2.3 requires (after
/// which the server says `-ERR`) and the document is available, truncated and escaped, from
/// [`server_error`](Self::server_error).
///
/// The token crosses the wire as is: use it only over TLS.
///
/// ```
/// use pop3_proto::Secret;
/// use pop3_proto::sasl::{Mechanism, OAuthBearer};
///
/// let mut m = OAuthBearer::new("user@example.com", &Secret::from("vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg=="))
///     .with_host("server.example.com")
///     .with_port(995);
/// let ir = m.initial_response()?.expect("client-first");
/// assert_eq!(
///     ir.expose(),
///     b"n,a=user@example.com,\x01host=server.example.com\x01port=995\x01\
///       auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01"
/// );
/// # Ok::<(), pop3_proto::sasl::SaslError>(())
/// ```
#[derive(Debug, Clone)]
pub struct OAuthBearer {
    user: String,
    token: Secret,
    host: Option<String>,
    port: Option<u16>,
    exchange: Exchange,
}

impl OAuthBearer {
    /// An `OAUTHBEARER` exchange for `user` (sent as the GS2 authorization identity; an empty
    /// user sends none) with an OAuth 2.0 bearer token.
    ///
    /// A token that is empty or not visible ASCII, a user name containing NUL or `\x01`, or
    /// a host that is empty or not visible ASCII, is reported as
    /// [`SaslError::InvalidCredentials`] when the message is built.
    pub fn new(user: &str, token: &Secret) -> Self {
        Self {
            user: user.to_owned(),
            token: token.clone(),
            host: None,
            port: None,
            exchange: Exchange::new(),
        }
    }

    /// Sends `host=HOST`: the host name the client connected to.
    #[must_use]
    pub fn with_host(mut self, host: &str) -> Self {
        self.host = Some(host.to_owned());
        self
    }

    /// Sends `port=PORT`: the port the client connected to.
    #[must_use]
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// The error the server sent as a challenge, if any: typically a JSON document such as
    /// `{"status":"invalid_token","scope":"example_scope"}`, with non-printable bytes escaped
    /// and truncated to 256 characters.
    pub fn server_error(&self) -> Option<&str> {
        self.exchange.server_error.as_deref()
    }
}

fn oauthbearer_message(
    user: &str,
    token: &Secret,
    host: Option<&str>,
    port: Option<u16>,
) -> Result<Secret, SaslError> {
    if user.contains(['\0', '\x01']) {
        return Err(SaslError::InvalidCredentials {
            reason: "NUL or \\x01 in the OAUTHBEARER user",
        });
    }
    check_token(token)?;
    let mut out = Vec::with_capacity(64 + user.len() + token.expose().len());
    out.extend_from_slice(b"n,");
    if !user.is_empty() {
        out.extend_from_slice(b"a=");
        out.extend_from_slice(escape_saslname(user).as_bytes());
    }
    out.extend_from_slice(b",\x01");
    if let Some(host) = host {
        if host.is_empty() || !host.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(SaslError::InvalidCredentials {
                reason: "OAUTHBEARER host is empty or not visible ASCII",
            });
        }
        out.extend_from_slice(b"host=");
        out.extend_from_slice(host.as_bytes());
        out.push(1);
    }
    if let Some(port) = port {
        out.extend_from_slice(b"port=");
        out.extend_from_slice(port.to_string().as_bytes());
        out.push(1);
    }
    out.extend_from_slice(b"auth=Bearer ");
    out.extend_from_slice(token.expose());
    out.extend_from_slice(b"\x01\x01");
    Ok(Secret::new(out))
}

impl Mechanism for OAuthBearer {
    fn name(&self) -> &str {
        OAUTHBEARER
    }

    fn initial_response(&mut self) -> Result<Option<Secret>, SaslError> {
        self.exchange.initial_response(OAUTHBEARER, || {
            oauthbearer_message(&self.user, &self.token, self.host.as_deref(), self.port)
        })
    }

    fn step(&mut self, challenge: &[u8]) -> Result<Secret, SaslError> {
        self.exchange.step(
            OAUTHBEARER,
            challenge,
            || oauthbearer_message(&self.user, &self.token, self.host.as_deref(), self.port),
            b"\x01",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> Secret {
        Secret::from("ya29.vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg")
    }

    #[test]
    fn xoauth2_initial_response() {
        let mut m = XOAuth2::new("someuser@example.com", &token());
        assert_eq!(m.name(), "XOAUTH2");
        let ir = m.initial_response().unwrap().unwrap();
        assert_eq!(
            ir.expose(),
            b"user=someuser@example.com\x01auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg\x01\x01"
        );
        assert_eq!(m.server_error(), None);
        assert_eq!(m.complete(), Ok(()));
        assert_eq!(
            m.initial_response(),
            Err(SaslError::OutOfOrder {
                mechanism: "XOAUTH2"
            })
        );
    }

    #[test]
    fn xoauth2_error_challenge_is_recorded_and_acknowledged() {
        let mut m = XOAuth2::new("u", &token());
        m.initial_response().unwrap();
        let json = br#"{"status":"401","schemes":"bearer mac","scope":"https://mail.google.com/"}"#;
        assert!(m.step(json).unwrap().is_empty());
        assert_eq!(
            m.server_error(),
            Some(r#"{"status":"401","schemes":"bearer mac","scope":"https://mail.google.com/"}"#)
        );
        assert_eq!(
            m.step(b""),
            Err(SaslError::UnexpectedChallenge {
                mechanism: "XOAUTH2"
            })
        );
    }

    #[test]
    fn xoauth2_empty_first_challenge() {
        let mut m = XOAuth2::new("u", &token());
        assert!(m.step(b"").unwrap().expose().starts_with(b"user=u\x01"));
        let mut m = XOAuth2::new("u", &token());
        assert_eq!(
            m.step(b"x"),
            Err(SaslError::UnexpectedChallenge {
                mechanism: "XOAUTH2"
            })
        );
    }

    #[test]
    fn xoauth2_error_is_bounded() {
        let mut m = XOAuth2::new("u", &token());
        m.initial_response().unwrap();
        m.step(&vec![0x01u8; 100_000]).unwrap();
        assert!(m.server_error().unwrap().len() <= SERVER_TEXT_MAX + 3);
    }

    #[test]
    fn bad_tokens_and_users_are_rejected() {
        for bad in ["", "a b", "a\x01b", "tok\r\n"] {
            let mut m = XOAuth2::new("u", &Secret::from(bad));
            assert!(matches!(
                m.initial_response(),
                Err(SaslError::InvalidCredentials { .. })
            ));
            let mut m = OAuthBearer::new("u", &Secret::from(bad));
            assert!(matches!(
                m.initial_response(),
                Err(SaslError::InvalidCredentials { .. })
            ));
        }
        let mut m = XOAuth2::new("u\x01", &token());
        assert!(matches!(
            m.step(b""),
            Err(SaslError::InvalidCredentials { .. })
        ));
        let mut m = OAuthBearer::new("u\0", &token());
        assert!(matches!(
            m.step(b""),
            Err(SaslError::InvalidCredentials { .. })
        ));
        let mut m = OAuthBearer::new("u", &token()).with_host("a b");
        assert!(matches!(
            m.initial_response(),
            Err(SaslError::InvalidCredentials { .. })
        ));
    }

    #[test]
    fn oauthbearer_rfc_7628_example() {
        // RFC 7628 §4.1, with our field order.
        let mut m = OAuthBearer::new(
            "user@example.com",
            &Secret::from("vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg=="),
        )
        .with_host("server.example.com")
        .with_port(143);
        assert_eq!(m.name(), "OAUTHBEARER");
        assert_eq!(
            m.initial_response().unwrap().unwrap().expose(),
            b"n,a=user@example.com,\x01host=server.example.com\x01port=143\x01auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01"
        );
    }

    #[test]
    fn oauthbearer_escapes_user_and_omits_empty_authzid() {
        let mut m = OAuthBearer::new("a,b=c", &Secret::from("t"));
        assert_eq!(
            m.initial_response().unwrap().unwrap().expose(),
            b"n,a=a=2Cb=3Dc,\x01auth=Bearer t\x01\x01"
        );
        let mut m = OAuthBearer::new("", &Secret::from("t"));
        assert_eq!(
            m.step(b"").unwrap().expose(),
            b"n,,\x01auth=Bearer t\x01\x01"
        );
    }

    #[test]
    fn oauthbearer_error_challenge_gets_kvsep() {
        let mut m = OAuthBearer::new("u", &token());
        m.initial_response().unwrap();
        let json = br#"{"status":"invalid_token","scope":"example_scope","openid-configuration":"https://example.com/.well-known/openid-configuration"}"#;
        assert_eq!(m.step(json).unwrap().expose(), b"\x01");
        assert!(
            m.server_error()
                .unwrap()
                .starts_with(r#"{"status":"invalid_token""#)
        );
        assert_eq!(
            m.step(b"more"),
            Err(SaslError::UnexpectedChallenge {
                mechanism: "OAUTHBEARER"
            })
        );
        let mut m = OAuthBearer::new("u", &token());
        assert_eq!(
            m.step(b"{}"),
            Err(SaslError::UnexpectedChallenge {
                mechanism: "OAUTHBEARER"
            })
        );
    }

    #[test]
    fn debug_hides_the_token() {
        let m = OAuthBearer::new("u", &token()).with_host("h");
        assert!(!format!("{m:?}").contains("ya29"));
        let m = XOAuth2::new("u", &token());
        assert!(!format!("{m:?}").contains("ya29"));
    }
}
