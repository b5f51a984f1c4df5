//! `CRAM-MD5` (RFC 2195).

use md5::Md5;

use super::{Mechanism, QUOTE_MAX, SaslError, bounded, hex_lower, hmac_digest};
use crate::Secret;

const NAME: &str = "CRAM-MD5";

/// The `CRAM-MD5` mechanism: the server sends a challenge such as
/// `<1896.697170952@postoffice.reston.mci.net>`, the client answers
/// `user SP hex(HMAC-MD5(password, challenge))`.
///
/// The password does not cross the wire, but the server must store it in the clear and the
/// exchange does not authenticate the server; prefer SCRAM.
///
/// ```
/// use pop3_proto::Secret;
/// use pop3_proto::sasl::{CramMd5, Mechanism};
///
/// let mut m = CramMd5::new("tim", &Secret::from("tanstaaftanstaaf"));
/// let answer = m.step(b"<1896.697170952@postoffice.reston.mci.net>")?;
/// assert_eq!(answer.expose(), b"tim b913a602c7eda7a495b4e6e7334d3890");
/// # Ok::<(), pop3_proto::sasl::SaslError>(())
/// ```
#[derive(Debug, Clone)]
pub struct CramMd5 {
    user: String,
    password: Secret,
    answered: bool,
}

impl CramMd5 {
    /// A `CRAM-MD5` exchange for `user`.
    pub fn new(user: &str, password: &Secret) -> Self {
        Self {
            user: user.to_owned(),
            password: password.clone(),
            answered: false,
        }
    }
}

/// `hex(HMAC-MD5(key, challenge))`, lower case.
pub(crate) fn cram_md5_digest(key: &[u8], challenge: &[u8]) -> String {
    hex_lower(&hmac_digest::<Md5>(key, &[challenge]))
}

impl Mechanism for CramMd5 {
    fn name(&self) -> &str {
        NAME
    }

    fn initial_response(&mut self) -> Result<Option<Secret>, SaslError> {
        Ok(None)
    }

    fn step(&mut self, challenge: &[u8]) -> Result<Secret, SaslError> {
        if self.answered {
            return Err(SaslError::UnexpectedChallenge { mechanism: NAME });
        }
        if challenge.is_empty() {
            return Err(SaslError::malformed(NAME, "empty challenge"));
        }
        if !challenge.iter().all(|b| (0x20..=0x7e).contains(b)) {
            return Err(SaslError::malformed(
                NAME,
                format!("not printable ASCII: \"{}\"", bounded(challenge, QUOTE_MAX)),
            ));
        }
        let digest = cram_md5_digest(self.password.expose(), challenge);
        let mut out = Vec::with_capacity(self.user.len() + 1 + digest.len());
        out.extend_from_slice(self.user.as_bytes());
        out.push(b' ');
        out.extend_from_slice(digest.as_bytes());
        self.answered = true;
        Ok(Secret::new(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_2195_vector() {
        let mut m = CramMd5::new("tim", &Secret::from("tanstaaftanstaaf"));
        assert_eq!(m.name(), "CRAM-MD5");
        assert_eq!(m.initial_response(), Ok(None));
        let answer = m
            .step(b"<1896.697170952@postoffice.reston.mci.net>")
            .unwrap();
        assert_eq!(answer.expose(), b"tim b913a602c7eda7a495b4e6e7334d3890");
        assert_eq!(m.complete(), Ok(()));
    }

    #[test]
    fn long_key_is_hashed_first() {
        // RFC 2202 test case 6: an 80-byte key, longer than the MD5 block.
        let key = [0xaau8; 80];
        assert_eq!(
            cram_md5_digest(
                &key,
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            ),
            "6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd"
        );
    }

    #[test]
    fn empty_challenge_is_malformed() {
        let mut m = CramMd5::new("tim", &Secret::from("x"));
        assert!(matches!(
            m.step(b""),
            Err(SaslError::MalformedChallenge {
                mechanism: "CRAM-MD5",
                ..
            })
        ));
    }

    #[test]
    fn binary_challenge_is_malformed_and_not_echoed_unbounded() {
        let mut m = CramMd5::new("tim", &Secret::from("x"));
        let mut challenge = b"<1.2@x>".to_vec();
        challenge.extend(std::iter::repeat_n(0x07u8, 10_000));
        let err = m.step(&challenge).unwrap_err();
        assert!(matches!(err, SaslError::MalformedChallenge { .. }));
        assert!(err.to_string().len() < 200);
    }

    #[test]
    fn second_challenge_is_unexpected() {
        let mut m = CramMd5::new("tim", &Secret::from("x"));
        m.step(b"<1.2@x>").unwrap();
        assert_eq!(
            m.step(b"<1.2@x>"),
            Err(SaslError::UnexpectedChallenge { mechanism: NAME })
        );
    }
}
