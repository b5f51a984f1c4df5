//! [`Maildrop`]: the in-memory store.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use pop3_proto::Uid;
use pop3_proto::server::session::StoredMessage;

use super::{Access, lock};
use crate::Error;

#[derive(Debug, Default)]
struct Messages {
    list: Vec<StoredMessage>,
    next_uid: u64,
}

#[derive(Debug, Default)]
struct Inner {
    messages: Mutex<Messages>,
    access: Access,
}

/// An in-memory maildrop: a cloneable handle on the messages every new session sees, and
/// on what QUIT deleted. Clones share everything.
///
/// Give it to [`ServerBuilder::maildrop`](crate::ServerBuilder::maildrop) and keep a
/// clone to check afterwards what the client did:
///
/// ```
/// use pop3_server::Maildrop;
///
/// let maildrop = Maildrop::new();
/// let uid = maildrop.push("Subject: hi\r\n\r\nyo\r\n");
/// assert_eq!(uid, "uid-000001");
/// maildrop.push_with_uid("my-uid", "Subject: more\r\n\r\n\r\n")?;
/// assert_eq!(maildrop.uids(), ["uid-000001", "my-uid"]);
/// assert!(maildrop.remove("uid-000001"));
/// assert_eq!(maildrop.len(), 1);
/// # Ok::<(), pop3_server::Error>(())
/// ```
///
/// Messages are served as stored: give them CRLF line ends, as RFC 1939 expects (the
/// server dot-stuffs them on the wire).
#[derive(Clone, Debug, Default)]
pub struct Maildrop {
    inner: Arc<Inner>,
}

impl Maildrop {
    /// An empty maildrop.
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn access(&self) -> &Access {
        &self.inner.access
    }

    /// The current messages, in order, with their UIDs.
    pub fn messages(&self) -> Vec<StoredMessage> {
        lock(&self.inner.messages).list.clone()
    }

    /// The current UIDs, in order.
    pub fn uids(&self) -> Vec<String> {
        lock(&self.inner.messages)
            .list
            .iter()
            .map(|m| m.uid.as_str().to_owned())
            .collect()
    }

    /// The number of messages.
    pub fn len(&self) -> usize {
        lock(&self.inner.messages).list.len()
    }

    /// Whether the maildrop is empty.
    pub fn is_empty(&self) -> bool {
        lock(&self.inner.messages).list.is_empty()
    }

    /// Appends a message with the next generated UID (`uid-000001`, `uid-000002`, ...,
    /// skipping any already taken) and returns that UID. Sessions already logged in do
    /// not see it.
    pub fn push(&self, data: impl Into<Vec<u8>>) -> String {
        let mut messages = lock(&self.inner.messages);
        let uid = loop {
            messages.next_uid += 1;
            let uid = format!("uid-{:06}", messages.next_uid);
            if !messages.list.iter().any(|m| m.uid.as_str() == uid) {
                break uid;
            }
        };
        let stored = StoredMessage {
            // Always valid: printable ASCII, far below 70 characters.
            uid: Uid::new(&uid).unwrap_or_else(|_| unreachable!("generated UID is valid")),
            data: Bytes::from(data.into()),
        };
        messages.list.push(stored);
        uid
    }

    /// Appends a message with a UID of your choice: 1 to 70 characters in 0x21..=0x7E,
    /// not already in the maildrop.
    pub fn push_with_uid(&self, uid: &str, data: impl Into<Vec<u8>>) -> Result<(), Error> {
        let uid = Uid::new(uid).map_err(|_| Error::InvalidUid(uid.to_owned()))?;
        let mut messages = lock(&self.inner.messages);
        if messages.list.iter().any(|m| m.uid == uid) {
            return Err(Error::DuplicateUid(uid.as_str().to_owned()));
        }
        messages.list.push(StoredMessage {
            uid,
            data: Bytes::from(data.into()),
        });
        Ok(())
    }

    /// Whether a session holds the session lock
    /// ([`Profile::LockSession`](crate::Profile::LockSession)).
    pub fn is_locked(&self) -> bool {
        self.inner.access.is_locked()
    }

    /// Removes the message with this UID at once, as another client's QUIT would, and
    /// returns whether it was there. Sessions already logged in keep their snapshot (they
    /// can still RETR it, and their DELE of it is harmless); sessions logging in later do
    /// not see it.
    pub fn remove(&self, uid: &str) -> bool {
        let mut messages = lock(&self.inner.messages);
        let before = messages.list.len();
        messages.list.retain(|m| m.uid.as_str() != uid);
        messages.list.len() != before
    }

    /// Whether a message with this UID is in the maildrop.
    pub fn contains(&self, uid: &str) -> bool {
        lock(&self.inner.messages)
            .list
            .iter()
            .any(|m| m.uid.as_str() == uid)
    }

    /// Removes every message with one of these UIDs (a session's QUIT).
    pub(crate) fn remove_all(&self, uids: &[Uid]) {
        lock(&self.inner.messages)
            .list
            .retain(|m| !uids.contains(&m.uid));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_uids_skip_taken_ones() -> Result<(), Error> {
        let maildrop = Maildrop::new();
        maildrop.push_with_uid("uid-000001", "A: 1\r\n\r\n")?;
        assert_eq!(maildrop.push("A: 2\r\n\r\n"), "uid-000002");
        assert!(matches!(
            maildrop.push_with_uid("uid-000002", "x"),
            Err(Error::DuplicateUid(_))
        ));
        assert!(matches!(
            maildrop.push_with_uid("has space", "x"),
            Err(Error::InvalidUid(_))
        ));
        assert!(matches!(
            maildrop.push_with_uid("", "x"),
            Err(Error::InvalidUid(_))
        ));
        assert_eq!(maildrop.len(), 2);
        Ok(())
    }

    #[test]
    fn clones_share_messages() {
        let a = Maildrop::new();
        let b = a.clone();
        a.push("A: 1\r\n\r\n");
        assert!(b.contains("uid-000001") && !b.is_empty());
        assert_eq!(b.messages()[0].data.as_ref(), b"A: 1\r\n\r\n");
        assert!(!b.remove("nope"));
    }
}
