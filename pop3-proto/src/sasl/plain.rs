//! `PLAIN` (RFC 4616).

use super::{Mechanism, SaslError};
use crate::Secret;

const NAME: &str = "PLAIN";

/// Whether the message was handed out yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Opening {
    NotStarted,
    Sent,
}

/// The `PLAIN` mechanism: `authzid NUL user NUL password` in one client-first message.
///
/// The password crosses the wire as is: use it only over TLS.
///
/// ```
/// use pop3_proto::Secret;
/// use pop3_proto::sasl::{Mechanism, Plain};
///
/// let mut m = Plain::new(Some("admin"), "tim", &Secret::from("tanstaaf"));
/// let ir = m.initial_response()?.expect("client-first");
/// assert_eq!(ir.expose(), b"admin\0tim\0tanstaaf");
/// # Ok::<(), pop3_proto::sasl::SaslError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Plain {
    authzid: String,
    user: String,
    password: Secret,
    opening: Opening,
}

impl Plain {
    /// A `PLAIN` exchange for `user`, optionally acting as `authzid`.
    ///
    /// A NUL in any field is reported as [`SaslError::InvalidCredentials`] when the message
    /// is built. An empty `authzid` is the same as `None`.
    pub fn new(authzid: Option<&str>, user: &str, password: &Secret) -> Self {
        Self {
            authzid: authzid.unwrap_or_default().to_owned(),
            user: user.to_owned(),
            password: password.clone(),
            opening: Opening::NotStarted,
        }
    }

    fn message(&self) -> Result<Secret, SaslError> {
        if self.authzid.contains('\0') {
            return Err(SaslError::InvalidCredentials {
                reason: "NUL in the PLAIN authzid",
            });
        }
        if self.user.contains('\0') {
            return Err(SaslError::InvalidCredentials {
                reason: "NUL in the PLAIN user name",
            });
        }
        if self.password.expose().contains(&0) {
            return Err(SaslError::InvalidCredentials {
                reason: "NUL in the PLAIN password",
            });
        }
        let mut out = Vec::with_capacity(
            self.authzid.len() + self.user.len() + self.password.expose().len() + 2,
        );
        out.extend_from_slice(self.authzid.as_bytes());
        out.push(0);
        out.extend_from_slice(self.user.as_bytes());
        out.push(0);
        out.extend_from_slice(self.password.expose());
        Ok(Secret::new(out))
    }
}

impl Mechanism for Plain {
    fn name(&self) -> &str {
        NAME
    }

    fn initial_response(&mut self) -> Result<Option<Secret>, SaslError> {
        if self.opening != Opening::NotStarted {
            return Err(SaslError::OutOfOrder { mechanism: NAME });
        }
        let message = self.message()?;
        self.opening = Opening::Sent;
        Ok(Some(message))
    }

    fn step(&mut self, challenge: &[u8]) -> Result<Secret, SaslError> {
        if self.opening == Opening::NotStarted && challenge.is_empty() {
            let message = self.message()?;
            self.opening = Opening::Sent;
            return Ok(message);
        }
        Err(SaslError::UnexpectedChallenge { mechanism: NAME })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pw() -> Secret {
        Secret::from("tanstaaf")
    }

    #[test]
    fn initial_response_layout() {
        let mut m = Plain::new(None, "tim", &pw());
        assert_eq!(m.name(), "PLAIN");
        assert_eq!(
            m.initial_response().unwrap().unwrap().expose(),
            b"\0tim\0tanstaaf"
        );
        assert_eq!(m.complete(), Ok(()));
        let mut m = Plain::new(Some(""), "tim", &pw());
        assert_eq!(
            m.initial_response().unwrap().unwrap().expose(),
            b"\0tim\0tanstaaf"
        );
    }

    #[test]
    fn empty_challenge_instead_of_initial_response() {
        let mut m = Plain::new(Some("a"), "tim", &pw());
        assert_eq!(m.step(b"").unwrap().expose(), b"a\0tim\0tanstaaf");
        assert_eq!(
            m.step(b""),
            Err(SaslError::UnexpectedChallenge { mechanism: "PLAIN" })
        );
        assert_eq!(
            m.initial_response(),
            Err(SaslError::OutOfOrder { mechanism: "PLAIN" })
        );
    }

    #[test]
    fn challenges_after_the_message_are_unexpected() {
        let mut m = Plain::new(None, "tim", &pw());
        m.initial_response().unwrap();
        assert_eq!(
            m.step(b""),
            Err(SaslError::UnexpectedChallenge { mechanism: "PLAIN" })
        );
        let mut m = Plain::new(None, "tim", &pw());
        assert_eq!(
            m.step(b"hi"),
            Err(SaslError::UnexpectedChallenge { mechanism: "PLAIN" })
        );
    }

    #[test]
    fn nul_is_rejected_in_every_field() {
        for (authzid, user, password) in [
            (Some("a\0"), "u", "p"),
            (None, "u\0", "p"),
            (None, "u", "p\0w"),
        ] {
            let mut m = Plain::new(authzid, user, &Secret::from(password));
            assert!(matches!(
                m.initial_response(),
                Err(SaslError::InvalidCredentials { .. })
            ));
            let mut m = Plain::new(authzid, user, &Secret::from(password));
            assert!(matches!(
                m.step(b""),
                Err(SaslError::InvalidCredentials { .. })
            ));
        }
    }

    #[test]
    fn debug_hides_the_password() {
        let m = Plain::new(None, "tim", &pw());
        assert!(!format!("{m:?}").contains("tanstaaf"));
    }
}
