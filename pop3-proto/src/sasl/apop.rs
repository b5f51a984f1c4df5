//! The APOP digest (RFC 1939 §7): not SASL, but the same family of shared-secret proofs.

use md5::{Digest, Md5};

use super::hex_lower;
use crate::Secret;

/// The APOP digest: lower-case hex MD5 of the server's greeting timestamp followed by the
/// password, as sent in `APOP user digest`.
///
/// `timestamp` is the whole `<...>` token from the greeting, angle brackets included.
///
/// APOP relies on MD5 and requires the server to store the password in the clear; it
/// protects only against passive eavesdroppers. Prefer SCRAM or TLS.
///
/// ```
/// use pop3_proto::Secret;
/// use pop3_proto::sasl::apop_digest;
///
/// assert_eq!(
///     apop_digest("<1896.697170952@dbc.mtview.ca.us>", &Secret::from("tanstaaf")),
///     "c4c9334bac560ecc979e58001b3e22fb"
/// );
/// ```
pub fn apop_digest(timestamp: &str, password: &Secret) -> String {
    let mut md5 = Md5::new();
    md5.update(timestamp.as_bytes());
    md5.update(password.expose());
    hex_lower(&md5.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_1939_vector() {
        assert_eq!(
            apop_digest(
                "<1896.697170952@dbc.mtview.ca.us>",
                &Secret::from("tanstaaf")
            ),
            "c4c9334bac560ecc979e58001b3e22fb"
        );
    }

    #[test]
    fn empty_inputs_are_md5_of_empty() {
        assert_eq!(
            apop_digest("", &Secret::default()),
            "d41d8cd98f00b204e9800998ecf8427e"
        );
    }
}
