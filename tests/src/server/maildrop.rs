//! The shared in-memory maildrop and the per-connection [`Backend`] over it.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use pop3_proto::server::session::{Backend, StoredMessage};
use pop3_proto::{RespCode, Secret, Status, Uid};

#[derive(Debug, Default)]
struct State {
    messages: Vec<StoredMessage>,
    next_uid: u64,
    locked: bool,
}

/// A cloneable handle on a [`TestServer`](super::TestServer)'s maildrop: the messages
/// every new session sees, and what QUIT deleted.
///
/// ```
/// use pop3_testkit::TestServer;
///
/// let server = TestServer::builder().messages(vec![b"Subject: hi\r\n\r\nyo\r\n".to_vec()]).start();
/// let maildrop = server.mailbox();
/// assert_eq!(maildrop.uids(), ["uid-000001"]);
/// maildrop.push(b"Subject: more\r\n\r\n\r\n".to_vec());
/// assert_eq!(maildrop.len(), 2);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Maildrop {
    inner: Arc<Mutex<State>>,
}

impl Maildrop {
    fn state(&self) -> MutexGuard<'_, State> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The current messages, in order, with their UIDs.
    pub fn messages(&self) -> Vec<StoredMessage> {
        self.state().messages.clone()
    }

    /// The current UIDs, in order.
    pub fn uids(&self) -> Vec<String> {
        self.state()
            .messages
            .iter()
            .map(|m| m.uid.as_str().to_owned())
            .collect()
    }

    /// The number of messages.
    pub fn len(&self) -> usize {
        self.state().messages.len()
    }

    /// Whether the maildrop is empty.
    pub fn is_empty(&self) -> bool {
        self.state().messages.is_empty()
    }

    /// Appends a message with the next generated UID (`uid-000001`, `uid-000002`, ...)
    /// and returns that UID. Sessions already logged in do not see it.
    pub fn push(&self, data: impl Into<Vec<u8>>) -> String {
        let mut state = self.state();
        state.next_uid += 1;
        let uid = format!("uid-{:06}", state.next_uid);
        let stored = StoredMessage {
            // Always valid: printable ASCII, far below 70 characters.
            uid: Uid::new(&uid).unwrap_or_else(|_| unreachable!("generated UID is valid")),
            data: Bytes::from(data.into()),
        };
        state.messages.push(stored);
        uid
    }

    /// Appends a message with a UID of your choice (1 to 70 characters in 0x21..=0x7E).
    pub fn push_with_uid(
        &self,
        uid: &str,
        data: impl Into<Vec<u8>>,
    ) -> Result<(), pop3_proto::Error> {
        let uid = Uid::new(uid)?;
        self.state().messages.push(StoredMessage {
            uid,
            data: Bytes::from(data.into()),
        });
        Ok(())
    }

    /// Whether a session holds the maildrop lock ([`Profile::LockSession`](super::Profile)).
    pub fn is_locked(&self) -> bool {
        self.state().locked
    }
}

/// One connection's view: the [`Backend`] a session runs on.
#[derive(Debug)]
pub(crate) struct ConnBackend {
    maildrop: Maildrop,
    user: String,
    password: Secret,
    lock_session: bool,
    holds_lock: bool,
    /// A login succeeded in this session.
    pub(crate) opened: bool,
}

impl ConnBackend {
    pub(crate) fn new(maildrop: Maildrop, user: &str, password: &str, lock_session: bool) -> Self {
        Self {
            maildrop,
            user: user.to_owned(),
            password: Secret::from(password),
            lock_session,
            holds_lock: false,
            opened: false,
        }
    }

    fn unlock(&mut self) {
        if std::mem::take(&mut self.holds_lock) {
            self.maildrop.state().locked = false;
        }
    }
}

impl Backend for ConnBackend {
    fn password(&self, user: &str) -> Option<Secret> {
        (user == self.user).then(|| self.password.clone())
    }

    fn open(&mut self, _user: &str) -> Result<Vec<StoredMessage>, Status> {
        let mut state = self.maildrop.state();
        if self.lock_session {
            if state.locked {
                return Err(Status::err(
                    Some(RespCode::InUse),
                    "Mailbox is locked by another POP3 session.",
                ));
            }
            state.locked = true;
            self.holds_lock = true;
        }
        self.opened = true;
        Ok(state.messages.clone())
    }

    fn commit(&mut self, _user: &str, deleted: &[Uid]) -> Result<(), Status> {
        self.maildrop
            .state()
            .messages
            .retain(|m| !deleted.contains(&m.uid));
        self.unlock();
        Ok(())
    }

    fn release(&mut self, _user: &str) {
        self.unlock();
    }
}

impl Drop for ConnBackend {
    fn drop(&mut self) {
        self.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_is_exclusive_and_released() {
        let maildrop = Maildrop::default();
        maildrop.push(b"A: b\r\n\r\n".to_vec());
        let mut first = ConnBackend::new(maildrop.clone(), "u", "p", true);
        let mut second = ConnBackend::new(maildrop.clone(), "u", "p", true);
        assert_eq!(first.open("u").map(|m| m.len()), Ok(1));
        let refused = second.open("u").expect_err("locked");
        assert_eq!(refused.code, Some(RespCode::InUse));
        assert!(maildrop.is_locked());
        first.release("u");
        assert!(!maildrop.is_locked());
        assert!(second.open("u").is_ok());
        drop(second);
        assert!(!maildrop.is_locked());
    }

    #[test]
    fn commit_deletes_by_uid() {
        let maildrop = Maildrop::default();
        let a = maildrop.push(b"A: 1\r\n\r\n".to_vec());
        maildrop.push(b"A: 2\r\n\r\n".to_vec());
        let mut conn = ConnBackend::new(maildrop.clone(), "u", "p", false);
        conn.open("u").expect("open");
        let uid = Uid::new(&a).expect("uid");
        conn.commit("u", &[uid]).expect("commit");
        assert_eq!(maildrop.uids(), ["uid-000002"]);
        assert!(conn.password("u").is_some() && conn.password("x").is_none());
    }
}
