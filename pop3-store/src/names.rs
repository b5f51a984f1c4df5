//! Spellings that reach the file system or the state file: UIDs as file names, accounts as
//! state-file keys, and the percent-encoding both rely on.

use std::fmt::{self, Write as _};

use crate::StoreError;

/// The longest UID RFC 1939 allows.
const MAX_UID_LEN: usize = 70;

/// Checks a UID against RFC 1939 §7: 1 to 70 characters in 0x21 to 0x7E.
///
/// The state file's space-separated lines rely on this: a UID never holds a space.
pub(crate) fn check_uid(uid: &str) -> Result<(), StoreError> {
    let ok =
        (1..=MAX_UID_LEN).contains(&uid.len()) && uid.bytes().all(|b| (0x21..=0x7E).contains(&b));
    if ok {
        Ok(())
    } else {
        Err(StoreError::InvalidUid {
            uid: uid.escape_debug().to_string(),
        })
    }
}

/// Whether `b` is kept as is by [`percent_encode`].
fn is_plain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')
}

/// Appends `text` to `out` with every byte outside `[A-Za-z0-9._-]` written as `%XX`.
fn percent_encode(text: &str, out: &mut String) {
    for b in text.bytes() {
        if is_plain(b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

/// Reverses [`percent_encode`]; `None` for a malformed escape or non-UTF-8 result.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A UID as a file name: every byte outside `[A-Za-z0-9._-]` percent-encoded (`%2F` for
/// `/`), so that any UID is a safe, distinct name (`.eml` directories use `<name>.eml`).
///
/// ```
/// assert_eq!(pop3_store::uid_file_name("a/b:c"), "a%2Fb%3Ac");
/// ```
pub fn uid_file_name(uid: &str) -> String {
    let mut name = String::with_capacity(uid.len());
    percent_encode(uid, &mut name);
    name
}

/// The account a message was fetched for. State entries are keyed by it, so accounts that
/// share a destination never skip each other's UIDs.
///
/// The host is compared case-insensitively (it is lower-cased); the user name exactly.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Account {
    user: String,
    host: String,
    port: u16,
}

impl Account {
    /// The account `user` on `host:port`.
    pub fn new(user: impl Into<String>, host: impl Into<String>, port: u16) -> Self {
        Self {
            user: user.into(),
            host: host.into().to_ascii_lowercase(),
            port,
        }
    }

    /// The login name.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The server's host name (lower case).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The server's TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The state-file key: `user@host:port` with user and host percent-encoded, so the key
    /// holds no space, `@` or `:` of its own whatever the user name contains.
    pub(crate) fn key(&self) -> String {
        let mut key = String::with_capacity(self.user.len() + self.host.len() + 8);
        percent_encode(&self.user, &mut key);
        key.push('@');
        percent_encode(&self.host, &mut key);
        let _ = write!(key, ":{}", self.port);
        key
    }

    /// Parses [`Account::key`].
    pub(crate) fn from_key(key: &str) -> Option<Self> {
        let (user, rest) = key.split_once('@')?;
        let (host, port) = rest.split_once(':')?;
        Some(Self::new(
            percent_decode(user)?,
            percent_decode(host)?,
            port.parse().ok()?,
        ))
    }
}

impl fmt::Display for Account {
    /// The state-file key, which is printable whatever the user name holds.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn uid_file_names_are_safe() {
        assert_eq!(uid_file_name("000000016b04df8d"), "000000016b04df8d");
        assert_eq!(uid_file_name("a/b"), "a%2Fb");
        assert_eq!(uid_file_name("x:y+z=%"), "x%3Ay%2Bz%3D%25");
        assert_eq!(uid_file_name(".."), "..");
        assert_eq!(uid_file_name("~"), "%7E");
    }

    #[test]
    fn uids_are_checked() {
        assert!(check_uid("a").is_ok());
        assert!(check_uid(&"x".repeat(70)).is_ok());
        assert!(check_uid(&"x".repeat(71)).is_err());
        assert!(check_uid("").is_err());
        assert!(check_uid("a b").is_err());
        assert!(check_uid("a\u{7f}").is_err());
        assert!(check_uid("é").is_err());
    }

    #[test]
    fn account_keys_hide_separators() {
        let a = Account::new("john doe@corp:x%", "Mail.Example.COM", 995);
        assert_eq!(a.key(), "john%20doe%40corp%3Ax%25@mail.example.com:995");
        assert_eq!(Account::from_key(&a.key()), Some(a));
        assert_eq!(Account::from_key("a@b"), None);
        assert_eq!(Account::from_key("a%zz@b:1"), None);
    }

    proptest! {
        #[test]
        fn account_keys_round_trip(user in ".*", host in "[a-zA-Z0-9.:\\[\\]-]{0,40}", port: u16) {
            let a = Account::new(user, host, port);
            let key = a.key();
            prop_assert!(!key.contains(' '));
            prop_assert_eq!(Account::from_key(&key), Some(a));
        }
    }
}
