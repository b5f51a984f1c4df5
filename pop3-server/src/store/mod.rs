//! Where messages live ([`Maildrop`] in memory, [`Maildir`] on disk), what every store
//! shares (the session lock, login times, counts), and the per-connection [`Backend`]
//! that the sans-IO session runs on.

mod maildir;
mod memory;

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use pop3_proto::server::session::{Backend, StoredMessage};
use pop3_proto::{RespCode, Secret, Status, Uid};

use crate::hook::{ConnectionHook, LoginInfo};

pub use maildir::Maildir;
pub use memory::Maildrop;

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Counts of logins and logged-in sessions on one store.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Stats {
    /// Successful logins (the maildrop was opened).
    pub(crate) logins: usize,
    /// Logins with good credentials refused for now (`[IN-USE]`, `[LOGIN-DELAY]`).
    pub(crate) refused: usize,
    /// Sessions logged in and not ended yet.
    pub(crate) open: usize,
    /// The most sessions logged in at once.
    pub(crate) max_open: usize,
}

#[derive(Debug, Default)]
struct AccessState {
    locked: bool,
    /// When the last successful login opened the store.
    last_login: Option<Instant>,
    stats: Stats,
}

/// What the sessions of one store share besides its messages.
#[derive(Debug, Default)]
pub(crate) struct Access {
    /// Held through a whole login (checks, snapshot, counts, the hook), so that logins
    /// are atomic with respect to one another. Nothing else takes it.
    gate: Mutex<()>,
    state: Mutex<AccessState>,
}

impl Access {
    pub(crate) fn is_locked(&self) -> bool {
        lock(&self.state).locked
    }

    pub(crate) fn stats(&self) -> Stats {
        lock(&self.state).stats
    }
}

/// A store, whichever kind.
#[derive(Clone, Debug)]
pub(crate) enum Store {
    Memory(Maildrop),
    Maildir(Maildir),
}

impl Store {
    pub(crate) fn access(&self) -> &Access {
        match self {
            Self::Memory(m) => m.access(),
            Self::Maildir(m) => m.access(),
        }
    }

    /// The messages a session logging in now sees.
    fn snapshot(&self) -> Result<Vec<StoredMessage>, Status> {
        match self {
            Self::Memory(m) => Ok(m.messages()),
            Self::Maildir(m) => m
                .snapshot()
                .map_err(|_| Status::err(Some(RespCode::SysTemp), "Cannot open the maildrop.")),
        }
    }

    /// Removes the messages a session deleted.
    fn remove(&self, uids: &[Uid]) -> Result<(), Status> {
        match self {
            Self::Memory(m) => {
                m.remove_all(uids);
                Ok(())
            }
            Self::Maildir(m) => m.remove_all(uids).map_err(|_| {
                Status::err(
                    Some(RespCode::SysTemp),
                    "Some deleted messages were not removed.",
                )
            }),
        }
    }
}

/// What a [`ConnBackend`] enforces at login, from the server's profiles.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct LoginPolicy {
    pub(crate) lock_session: bool,
    pub(crate) login_delay: Option<Duration>,
}

/// One connection's view of the store: the [`Backend`] its session runs on. It also
/// carries the connection's hook, which the login calls.
pub(crate) struct ConnBackend {
    store: Store,
    user: String,
    password: Secret,
    policy: LoginPolicy,
    holds_lock: bool,
    /// Counted in the store's open sessions until the session ends.
    counted_open: bool,
    /// The UIDs of this session's snapshot, by message number - 1.
    snapshot: Vec<Uid>,
    hook: Box<dyn ConnectionHook>,
}

impl std::fmt::Debug for ConnBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnBackend")
            .field("user", &self.user)
            .field("holds_lock", &self.holds_lock)
            .field("messages", &self.snapshot.len())
            .finish_non_exhaustive()
    }
}

impl ConnBackend {
    pub(crate) fn new(
        store: Store,
        user: &str,
        password: &str,
        policy: LoginPolicy,
        hook: Box<dyn ConnectionHook>,
    ) -> Self {
        Self {
            store,
            user: user.to_owned(),
            password: Secret::from(password),
            policy,
            holds_lock: false,
            counted_open: false,
            snapshot: Vec::new(),
            hook,
        }
    }

    /// The hook and this session's snapshot, together (the hook's contexts need both).
    pub(crate) fn hook(&mut self) -> (&mut dyn ConnectionHook, &[Uid]) {
        (self.hook.as_mut(), &self.snapshot)
    }

    /// Ends the session's hold on the store (lock and open-session count), once.
    fn end_session(&mut self) {
        let unlock = std::mem::take(&mut self.holds_lock);
        let counted = std::mem::take(&mut self.counted_open);
        if unlock || counted {
            let mut state = lock(&self.store.access().state);
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

    fn open(&mut self, user: &str) -> Result<Vec<StoredMessage>, Status> {
        let store = self.store.clone();
        let access = store.access();
        let _gate = lock(&access.gate);
        {
            // Decided before anything changes, so that a refused login leaves no trace
            // but its count.
            let mut state = lock(&access.state);
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
        }
        let messages = store.snapshot()?;
        let logins = {
            let mut state = lock(&access.state);
            if self.policy.lock_session {
                state.locked = true;
                self.holds_lock = true;
            }
            state.last_login = Some(Instant::now());
            state.stats.logins += 1;
            state.stats.open += 1;
            state.stats.max_open = state.stats.max_open.max(state.stats.open);
            state.stats.logins
        };
        self.counted_open = true;
        self.snapshot = messages.iter().map(|m| m.uid.clone()).collect();
        self.hook.on_login(&LoginInfo {
            user,
            logins,
            messages: messages.len(),
        });
        Ok(messages)
    }

    fn commit(&mut self, _user: &str, deleted: &[Uid]) -> Result<(), Status> {
        let result = self.store.remove(deleted);
        self.end_session();
        result
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
    use crate::hook::ConnectionHook;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Quiet;
    impl ConnectionHook for Quiet {}

    fn conn(maildrop: &Maildrop, policy: LoginPolicy) -> ConnBackend {
        ConnBackend::new(
            Store::Memory(maildrop.clone()),
            "u",
            "p",
            policy,
            Box::new(Quiet),
        )
    }

    #[test]
    fn lock_is_exclusive_and_released() {
        let maildrop = Maildrop::new();
        maildrop.push(b"A: b\r\n\r\n".to_vec());
        let policy = LoginPolicy {
            lock_session: true,
            login_delay: None,
        };
        let mut first = conn(&maildrop, policy);
        let mut second = conn(&maildrop, policy);
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
        let maildrop = Maildrop::new();
        let a = maildrop.push(b"A: 1\r\n\r\n".to_vec());
        maildrop.push(b"A: 2\r\n\r\n".to_vec());
        let mut conn = conn(&maildrop, LoginPolicy::default());
        conn.open("u").expect("open");
        let uid = Uid::new(&a).expect("uid");
        conn.commit("u", &[uid]).expect("commit");
        assert_eq!(maildrop.uids(), ["uid-000002"]);
        assert!(conn.password("u").is_some() && conn.password("x").is_none());
    }

    #[test]
    fn open_sessions_are_counted_once_each() {
        let maildrop = Maildrop::new();
        let mut a = conn(&maildrop, LoginPolicy::default());
        let mut b = conn(&maildrop, LoginPolicy::default());
        a.open("u").expect("open");
        b.open("u").expect("open");
        let stats = maildrop.access().stats();
        assert_eq!((stats.logins, stats.open, stats.max_open), (2, 2, 2));
        // QUIT commits, then the connection closes and the backend is dropped: one end.
        a.commit("u", &[]).expect("commit");
        a.release("u");
        drop(a);
        assert_eq!(maildrop.access().stats().open, 1);
        drop(b);
        let stats = maildrop.access().stats();
        assert_eq!((stats.logins, stats.open, stats.max_open), (2, 0, 2));
    }

    #[test]
    fn login_delay_refuses_until_it_has_passed() {
        let maildrop = Maildrop::new();
        let policy = |delay| LoginPolicy {
            lock_session: false,
            login_delay: Some(delay),
        };
        let long = policy(Duration::from_secs(3600));
        conn(&maildrop, long).open("u").expect("the first login");
        let refused = conn(&maildrop, long).open("u").expect_err("too soon");
        assert_eq!(refused.code, Some(RespCode::LoginDelay));
        assert_eq!(maildrop.access().stats().refused, 1);
        // The same clock with no delay to wait for.
        conn(&maildrop, policy(Duration::ZERO))
            .open("u")
            .expect("no delay");
        assert_eq!(maildrop.access().stats().logins, 2);
    }

    /// Removes a message when it sees the chosen login, as a test kit's fault would.
    struct RemoveAt {
        maildrop: Maildrop,
        uid: String,
        at: usize,
        calls: Arc<AtomicUsize>,
    }

    impl ConnectionHook for RemoveAt {
        fn on_login(&mut self, login: &LoginInfo<'_>) {
            self.calls.fetch_add(1, Ordering::SeqCst);
            assert_eq!(login.user(), "u");
            // The store's accessors work from inside the hook.
            let _ = self.maildrop.is_locked();
            if login.logins() == self.at {
                self.maildrop.remove(&self.uid);
            }
        }
    }

    #[test]
    fn the_login_hook_runs_after_the_snapshot() {
        let maildrop = Maildrop::new();
        maildrop.push(b"A: 1\r\n\r\n".to_vec());
        let gone = maildrop.push(b"A: 2\r\n\r\n".to_vec());
        let calls = Arc::new(AtomicUsize::new(0));
        let backend = || {
            ConnBackend::new(
                Store::Memory(maildrop.clone()),
                "u",
                "p",
                LoginPolicy::default(),
                Box::new(RemoveAt {
                    maildrop: maildrop.clone(),
                    uid: gone.clone(),
                    at: 1,
                    calls: Arc::clone(&calls),
                }),
            )
        };
        let mut first = backend();
        assert_eq!(first.open("u").map(|m| m.len()), Ok(2));
        assert!(!maildrop.contains(&gone));
        assert_eq!(backend().open("u").map(|m| m.len()), Ok(1));
        assert_eq!(first.hook().1.len(), 2);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
