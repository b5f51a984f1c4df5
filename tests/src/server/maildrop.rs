//! The shared in-memory maildrop and the per-connection [`Backend`] over it.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use pop3_proto::server::session::{Backend, StoredMessage};
use pop3_proto::{RespCode, Secret, Status, Uid};

#[derive(Debug, Default)]
struct State {
    messages: Vec<StoredMessage>,
    next_uid: u64,
    locked: bool,
    /// When the last successful login opened the maildrop ([`Profile::LoginDelay`](super::Profile)).
    last_login: Option<Instant>,
    stats: SessionStats,
    /// Messages another client "expunges" once `logins` reaches the count.
    expunges: Vec<(Uid, usize)>,
}

/// Counts of logins and logged-in sessions on one maildrop.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SessionStats {
    /// Successful logins (the maildrop was opened).
    pub(crate) logins: usize,
    /// Logins with good credentials refused for now (`[IN-USE]`, `[LOGIN-DELAY]`).
    pub(crate) refused: usize,
    /// Sessions logged in and not ended yet.
    pub(crate) open: usize,
    /// The most sessions logged in at once.
    pub(crate) max_open: usize,
}

impl State {
    /// Removes the messages whose expunge is due, so that only sessions that log in
    /// from now on miss them.
    fn run_due_expunges(&mut self) {
        let logins = self.stats.logins;
        let (due, later) = std::mem::take(&mut self.expunges)
            .into_iter()
            .partition::<Vec<_>, _>(|(_, at)| *at <= logins);
        self.expunges = later;
        self.messages
            .retain(|m| !due.iter().any(|(uid, _)| *uid == m.uid));
    }
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

    /// Removes the message with this UID at once, as another client's QUIT would, and
    /// returns whether it was there. Sessions already logged in keep their snapshot (they
    /// can still RETR it, and their DELE of it is harmless); sessions logging in later do
    /// not see it.
    pub fn remove(&self, uid: &str) -> bool {
        let mut state = self.state();
        let before = state.messages.len();
        state.messages.retain(|m| m.uid.as_str() != uid);
        state.messages.len() != before
    }

    /// Whether a message with this UID is in the maildrop.
    pub fn contains(&self, uid: &str) -> bool {
        self.state().messages.iter().any(|m| m.uid.as_str() == uid)
    }

    /// Schedules the removal of `uid` right after the `logins`-th successful login has
    /// taken its snapshot (counted from the server's start; at once if already reached).
    pub(crate) fn expunge_after_logins(&self, uid: Uid, logins: usize) {
        let mut state = self.state();
        state.expunges.push((uid, logins));
        state.run_due_expunges();
    }

    pub(crate) fn stats(&self) -> SessionStats {
        self.state().stats
    }
}

/// What a [`ConnBackend`] enforces at login, from the server's profiles.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct LoginPolicy {
    /// [`Profile::LockSession`](super::Profile::LockSession).
    pub(crate) lock_session: bool,
    /// [`Profile::LoginDelay`](super::Profile::LoginDelay).
    pub(crate) login_delay: Option<Duration>,
}

/// One connection's view: the [`Backend`] a session runs on.
#[derive(Debug)]
pub(crate) struct ConnBackend {
    maildrop: Maildrop,
    user: String,
    password: Secret,
    policy: LoginPolicy,
    holds_lock: bool,
    /// Counted in the maildrop's open sessions until the session ends.
    counted_open: bool,
    /// A login succeeded in this session.
    pub(crate) opened: bool,
    /// The UIDs of this session's snapshot, by message number - 1.
    snapshot: Vec<Uid>,
}

impl ConnBackend {
    pub(crate) fn new(maildrop: Maildrop, user: &str, password: &str, policy: LoginPolicy) -> Self {
        Self {
            maildrop,
            user: user.to_owned(),
            password: Secret::from(password),
            policy,
            holds_lock: false,
            counted_open: false,
            opened: false,
            snapshot: Vec::new(),
        }
    }

    /// The UID of message `msg` in this session's snapshot.
    pub(crate) fn uid_of(&self, msg: u32) -> Option<&Uid> {
        let index = usize::try_from(msg).ok()?.checked_sub(1)?;
        self.snapshot.get(index)
    }

    /// Ends the session's hold on the maildrop (lock and open-session count), once.
    fn end_session(&mut self) {
        let unlock = std::mem::take(&mut self.holds_lock);
        let counted = std::mem::take(&mut self.counted_open);
        if unlock || counted {
            let mut state = self.maildrop.state();
            if unlock {
                state.locked = false;
            }
            if counted {
                state.stats.open = state.stats.open.saturating_sub(1);
            }
        }
    }
}

impl Backend for ConnBackend {
    fn password(&self, user: &str) -> Option<Secret> {
        (user == self.user).then(|| self.password.clone())
    }

    fn open(&mut self, _user: &str) -> Result<Vec<StoredMessage>, Status> {
        let mut state = self.maildrop.state();
        // Decided before anything changes, so that a refused login leaves no trace but
        // its count.
        let refusal = if self.policy.lock_session && state.locked {
            Some(Status::err(
                Some(RespCode::InUse),
                "Mailbox is locked by another POP3 session.",
            ))
        } else if let Some(delay) = self.policy.login_delay
            && state.last_login.is_some_and(|last| last.elapsed() < delay)
        {
            Some(Status::err(
                Some(RespCode::LoginDelay),
                "Logged in too recently; try again later.",
            ))
        } else {
            None
        };
        if let Some(status) = refusal {
            state.stats.refused += 1;
            return Err(status);
        }
        if self.policy.lock_session {
            state.locked = true;
            self.holds_lock = true;
        }
        state.last_login = Some(Instant::now());
        state.stats.logins += 1;
        state.stats.open += 1;
        state.stats.max_open = state.stats.max_open.max(state.stats.open);
        self.counted_open = true;
        self.opened = true;
        let snapshot = state.messages.clone();
        // After the snapshot: this session keeps what later ones will miss.
        state.run_due_expunges();
        self.snapshot = snapshot.iter().map(|m| m.uid.clone()).collect();
        Ok(snapshot)
    }

    fn commit(&mut self, _user: &str, deleted: &[Uid]) -> Result<(), Status> {
        self.maildrop
            .state()
            .messages
            .retain(|m| !deleted.contains(&m.uid));
        self.end_session();
        Ok(())
    }

    fn release(&mut self, _user: &str) {
        self.end_session();
    }
}

impl Drop for ConnBackend {
    fn drop(&mut self) {
        self.end_session();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_is_exclusive_and_released() {
        let maildrop = Maildrop::default();
        maildrop.push(b"A: b\r\n\r\n".to_vec());
        let policy = LoginPolicy {
            lock_session: true,
            login_delay: None,
        };
        let mut first = ConnBackend::new(maildrop.clone(), "u", "p", policy);
        let mut second = ConnBackend::new(maildrop.clone(), "u", "p", policy);
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
        let mut conn = ConnBackend::new(maildrop.clone(), "u", "p", LoginPolicy::default());
        conn.open("u").expect("open");
        let uid = Uid::new(&a).expect("uid");
        conn.commit("u", &[uid]).expect("commit");
        assert_eq!(maildrop.uids(), ["uid-000002"]);
        assert!(conn.password("u").is_some() && conn.password("x").is_none());
    }

    #[test]
    fn open_sessions_are_counted_once_each() {
        let maildrop = Maildrop::default();
        let mut a = ConnBackend::new(maildrop.clone(), "u", "p", LoginPolicy::default());
        let mut b = ConnBackend::new(maildrop.clone(), "u", "p", LoginPolicy::default());
        a.open("u").expect("open");
        b.open("u").expect("open");
        let stats = maildrop.stats();
        assert_eq!((stats.logins, stats.open, stats.max_open), (2, 2, 2));
        // QUIT commits, then the connection closes and the backend is dropped: one end.
        a.commit("u", &[]).expect("commit");
        a.release("u");
        drop(a);
        assert_eq!(maildrop.stats().open, 1);
        drop(b);
        let stats = maildrop.stats();
        assert_eq!((stats.logins, stats.open, stats.max_open), (2, 0, 2));
    }

    #[test]
    fn login_delay_refuses_until_it_has_passed() {
        let maildrop = Maildrop::default();
        let policy = |delay| LoginPolicy {
            lock_session: false,
            login_delay: Some(delay),
        };
        let long = policy(Duration::from_secs(3600));
        ConnBackend::new(maildrop.clone(), "u", "p", long)
            .open("u")
            .expect("the first login");
        let refused = ConnBackend::new(maildrop.clone(), "u", "p", long)
            .open("u")
            .expect_err("too soon");
        assert_eq!(refused.code, Some(RespCode::LoginDelay));
        assert_eq!(maildrop.stats().refused, 1);
        // The same clock with no delay to wait for.
        ConnBackend::new(maildrop.clone(), "u", "p", policy(Duration::ZERO))
            .open("u")
            .expect("no delay");
        assert_eq!(maildrop.stats().logins, 2);
    }

    #[test]
    fn expunge_happens_after_the_snapshot_of_the_chosen_login() {
        let maildrop = Maildrop::default();
        maildrop.push(b"A: 1\r\n\r\n".to_vec());
        let gone = maildrop.push(b"A: 2\r\n\r\n".to_vec());
        maildrop.expunge_after_logins(Uid::new(&gone).expect("uid"), 2);
        let mut first = ConnBackend::new(maildrop.clone(), "u", "p", LoginPolicy::default());
        let mut second = ConnBackend::new(maildrop.clone(), "u", "p", LoginPolicy::default());
        let mut third = ConnBackend::new(maildrop.clone(), "u", "p", LoginPolicy::default());
        assert_eq!(first.open("u").map(|m| m.len()), Ok(2));
        assert!(maildrop.contains(&gone));
        assert_eq!(second.open("u").map(|m| m.len()), Ok(2));
        assert!(!maildrop.contains(&gone));
        assert_eq!(third.open("u").map(|m| m.len()), Ok(1));
        assert_eq!(second.uid_of(2).map(Uid::as_str), Some(gone.as_str()));
        assert_eq!(third.uid_of(2), None);
        assert!(!maildrop.remove(&gone));
        assert!(maildrop.remove("uid-000001") && maildrop.is_empty());
    }
}
