//! `LOGIN` (draft-murchison-sasl-login): user name and password as answers to two prompts.

use super::{Mechanism, SaslError};
use crate::Secret;

const NAME: &str = "LOGIN";

/// The `LOGIN` mechanism: the first challenge is answered with the user name, the second with
/// the password, whatever the prompts say (servers send `Username:`/`Password:`, localized
/// text, or nothing).
///
/// The password crosses the wire as is: use it only over TLS.
///
/// ```
/// use pop3_proto::Secret;
/// use pop3_proto::sasl::{LoginMechanism, Mechanism};
///
/// let mut m = LoginMechanism::new("tim", &Secret::from("tanstaaf"));
/// assert!(m.initial_response()?.is_none());
/// assert_eq!(m.step(b"Username:")?.expose(), b"tim");
/// assert_eq!(m.step(b"Password:")?.expose(), b"tanstaaf");
/// # Ok::<(), pop3_proto::sasl::SaslError>(())
/// ```
#[derive(Debug, Clone)]
pub struct LoginMechanism {
    user: String,
    password: Secret,
    answered: u8,
}

impl LoginMechanism {
    /// A `LOGIN` exchange for `user`.
    pub fn new(user: &str, password: &Secret) -> Self {
        Self {
            user: user.to_owned(),
            password: password.clone(),
            answered: 0,
        }
    }
}

impl Mechanism for LoginMechanism {
    fn name(&self) -> &str {
        NAME
    }

    fn initial_response(&mut self) -> Result<Option<Secret>, SaslError> {
        Ok(None)
    }

    fn step(&mut self, _prompt: &[u8]) -> Result<Secret, SaslError> {
        let answer = match self.answered {
            0 => Secret::from(self.user.as_str()),
            1 => self.password.clone(),
            _ => return Err(SaslError::UnexpectedChallenge { mechanism: NAME }),
        };
        self.answered += 1;
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_user_then_password_whatever_the_prompt() {
        let mut m = LoginMechanism::new("tim", &Secret::from("tanstaaf"));
        assert_eq!(m.name(), "LOGIN");
        assert_eq!(m.initial_response(), Ok(None));
        assert_eq!(m.step(b"Benutzername:").unwrap().expose(), b"tim");
        assert_eq!(m.step(b"\xff\x00").unwrap().expose(), b"tanstaaf");
        assert_eq!(m.complete(), Ok(()));
    }

    #[test]
    fn third_challenge_is_unexpected() {
        let mut m = LoginMechanism::new("tim", &Secret::from("tanstaaf"));
        m.step(b"Username:").unwrap();
        m.step(b"Password:").unwrap();
        assert_eq!(
            m.step(b"Again:"),
            Err(SaslError::UnexpectedChallenge { mechanism: "LOGIN" })
        );
        assert_eq!(
            m.step(b""),
            Err(SaslError::UnexpectedChallenge { mechanism: "LOGIN" })
        );
    }
}
