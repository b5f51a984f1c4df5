//! [`Store`]: one run's exclusive hold on a destination and its state file, handing out a
//! writer per message to any number of threads.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use futures_channel::oneshot;

use crate::Account;
use crate::committer::{CommitJob, Committer, Payload, Request};
use crate::error::{IoContext, StoreError};
use crate::fsutil;
use crate::lock::{self, DotLock, Wait};
use crate::names::check_uid;
use crate::recovery::{self, RecoveryReport};
use crate::state::{Index, StateFile};
use crate::stats::{Stats, StoreStats};
use crate::target::Target;
use crate::ticket::{Durable, Pending, answer, block_on};
use crate::writer::MessageWriter;

/// A writer's buffer size unless set: large enough that write calls are few, small enough
/// that hundreds of concurrent messages stay cheap.
pub const DEFAULT_BUFFER_CAPACITY: usize = 128 * 1024;

/// The smallest buffer a store accepts.
pub const MIN_BUFFER_CAPACITY: usize = 4096;

/// How long [`Store::open`] waits for another run's locks unless set.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(30);

/// Commits queued for the committer at most; a writer committing beyond this waits. Bounds
/// memory (an mbox commit carries up to one buffer).
const MAX_QUEUED_COMMITS: usize = 256;

/// A point where the committer can be made to stop as if the process had been killed: it
/// drops its files and locks without another write and answers nothing more. For crash
/// recovery tests; not part of the supported API.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrashPoint {
    /// After the batch's intents are durable, before any message is put in place.
    AfterIntent,
    /// After the batch's messages are durable, before their UIDs are recorded.
    AfterDurable,
    /// During an mbox append, after this many bytes of the record.
    MidAppend(usize),
    /// Not a crash: [`Store::abort`] arriving during an mbox append, after this many
    /// bytes of the record.
    AbortMidAppend(usize),
    /// Not a crash: [`Store::abort`] arriving right after this many messages (counted
    /// over the store's life) were put in place.
    AbortAfterPlacing(usize),
}

/// How to open a [`Store`].
#[derive(Clone, Debug)]
pub struct StoreOptions {
    target: Target,
    account: Account,
    state_path: Option<PathBuf>,
    lock_timeout: Duration,
    buffer_capacity: usize,
    crash: Option<CrashPoint>,
}

impl StoreOptions {
    /// A store on `target` for a run of `account`.
    ///
    /// `account` is also who inherits the entries of an old-format state file (one UID per
    /// line, no account): the first run that opens such a file takes them over.
    pub fn new(target: Target, account: Account) -> Self {
        Self {
            target,
            account,
            state_path: None,
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
            buffer_capacity: DEFAULT_BUFFER_CAPACITY,
            crash: None,
        }
    }

    /// Uses `path` as the state file instead of [`Target::default_state_path`].
    pub fn state_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.state_path = Some(path.into());
        self
    }

    /// How long to wait for another run to release the destination before failing with
    /// [`StoreError::Busy`] ([`DEFAULT_LOCK_TIMEOUT`] unless set; zero tries once).
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// Each writer's buffer, in bytes (at least [`MIN_BUFFER_CAPACITY`];
    /// [`DEFAULT_BUFFER_CAPACITY`] unless set). An mbox message larger than this is spooled
    /// to a temporary file until its append.
    pub fn buffer_capacity(mut self, bytes: usize) -> Self {
        self.buffer_capacity = bytes.max(MIN_BUFFER_CAPACITY);
        self
    }

    /// Makes the committer stop at `point` as if killed (tests only).
    #[doc(hidden)]
    pub fn crash_at(mut self, point: CrashPoint) -> Self {
        self.crash = Some(point);
        self
    }

    /// The destination.
    pub fn target(&self) -> &Target {
        &self.target
    }
}

/// Bounds the commits in flight to the committer.
#[derive(Debug)]
pub(crate) struct Gate {
    queued: Mutex<usize>,
    freed: Condvar,
}

/// One queued commit's place; frees it when dropped, however the commit ends.
#[derive(Debug)]
pub(crate) struct Permit(Arc<Gate>);

impl Gate {
    fn enter(self: &Arc<Self>) -> Permit {
        let mut queued = self.queued.lock().unwrap_or_else(PoisonError::into_inner);
        while *queued >= MAX_QUEUED_COMMITS {
            queued = self
                .freed
                .wait(queued)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *queued += 1;
        Permit(Arc::clone(self))
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        *self.0.queued.lock().unwrap_or_else(PoisonError::into_inner) -= 1;
        self.0.freed.notify_one();
    }
}

/// The committer's queue and the ticket counter, under one lock so that ticket order is
/// queue order (what makes a sync's watermark exact).
#[derive(Debug)]
struct Queue {
    tx: Sender<Request>,
    next_ticket: u64,
    /// Set by the committer as it stops: from then on requests are refused here, so none
    /// can slip into the channel after its last look and be lost with its files.
    closed: bool,
}

/// What writers, the store and the committer share.
#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) target: Target,
    pub(crate) cap: usize,
    /// This host, as Maildir names spell it.
    pub(crate) host: String,
    pub(crate) stats: Stats,
    index: RwLock<Index>,
    /// (account key, UID) of open writers.
    writing: Mutex<HashSet<(String, String)>>,
    queue: Mutex<Queue>,
    gate: Arc<Gate>,
    /// Set by [`Store::abort`]: the committer stops at the next safe point.
    aborting: AtomicBool,
}

/// A UID claimed for one writer (see [`Inner::claim`]): released when dropped, unless a
/// writer took it over.
pub(crate) struct Claim {
    inner: Arc<Inner>,
    account: Account,
    key: String,
    uid: String,
    /// Whether dropping this releases the UID (no writer has taken it over).
    held: bool,
}

impl Claim {
    /// Makes the writer (which creates its temporary file: blocking work), handing it the
    /// claim. On failure the claim is released.
    pub(crate) fn start(mut self) -> Result<MessageWriter, StoreError> {
        let writer = MessageWriter::start(Arc::clone(&self.inner), &self.account, &self.uid)?;
        self.held = false;
        Ok(writer)
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if self.held {
            self.inner.release(&self.key, &self.uid);
        }
    }
}

impl Inner {
    /// Asks the committer to stop at the next safe point (see [`Store::abort`]).
    pub(crate) fn abort(&self) {
        self.aborting.store(true, Ordering::SeqCst);
    }

    /// Whether [`Store::abort`] was called.
    pub(crate) fn is_aborting(&self) -> bool {
        self.aborting.load(Ordering::SeqCst)
    }

    pub(crate) fn read_index(&self) -> RwLockReadGuard<'_, Index> {
        self.index.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn write_index(&self) -> RwLockWriteGuard<'_, Index> {
        self.index.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts a writer for `uid` of `account`.
    pub(crate) fn begin(
        self: &Arc<Self>,
        account: &Account,
        uid: &str,
    ) -> Result<MessageWriter, StoreError> {
        self.claim(account, uid)?.start()
    }

    /// Claims `uid` of `account` for one writer: in memory only, so it never waits on the
    /// disk. The writer itself is made by [`Claim::start`].
    pub(crate) fn claim(
        self: &Arc<Self>,
        account: &Account,
        uid: &str,
    ) -> Result<Claim, StoreError> {
        check_uid(uid)?;
        // An aborted store takes no new work: its committer is gone or going.
        if self.is_aborting() {
            return Err(StoreError::Closed);
        }
        let key = account.key();
        let fresh = self
            .writing
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert((key.clone(), uid.to_owned()));
        if !fresh {
            return Err(StoreError::InProgress {
                account: key,
                uid: uid.to_owned(),
            });
        }
        Ok(Claim {
            inner: Arc::clone(self),
            account: account.clone(),
            key,
            uid: uid.to_owned(),
            held: true,
        })
    }

    /// Ends a writer's claim on its UID.
    pub(crate) fn release(&self, key: &str, uid: &str) {
        self.writing
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&(key.to_owned(), uid.to_owned()));
    }

    /// Queues a commit; its temporary file is removed if the committer is gone.
    pub(crate) fn submit_commit(
        &self,
        account: &Account,
        key: &str,
        uid: &str,
        payload: Payload,
    ) -> Result<Pending, StoreError> {
        let permit = self.gate.enter();
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        if queue.closed {
            drop(queue);
            self.discard(&payload);
            return Err(StoreError::Closed);
        }
        let (done, rx) = oneshot::channel();
        let job = CommitJob {
            account: account.clone(),
            key: key.to_owned(),
            uid: uid.to_owned(),
            payload,
            _permit: permit,
        };
        let ticket = queue.next_ticket;
        match queue.tx.send(Request::Commit { job, done }) {
            Ok(()) => {
                queue.next_ticket += 1;
                Ok(Pending { ticket, rx })
            }
            Err(mpsc::SendError(request)) => {
                if let Request::Commit { job, .. } = request {
                    self.discard(&job.payload);
                }
                Err(StoreError::Closed)
            }
        }
    }

    /// Removes a message that will never be committed.
    pub(crate) fn discard(&self, payload: &Payload) {
        let path = match (payload, &self.target) {
            (Payload::Maildir { name }, Target::Maildir(dir)) => dir.join("tmp").join(name),
            (Payload::Eml { tmp }, Target::EmlDir(dir)) => dir.join(tmp),
            // A spool file removes itself.
            _ => return,
        };
        let _ = std::fs::remove_file(path);
    }

    /// Queues a request that is not a commit.
    pub(crate) fn send(&self, make: impl FnOnce(u64) -> Request) -> Result<(), StoreError> {
        let queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        if queue.closed {
            return Err(StoreError::Closed);
        }
        // Every ticket handed out so far is below `next_ticket`.
        let watermark = queue.next_ticket.saturating_sub(1);
        queue
            .tx
            .send(make(watermark))
            .map_err(|_| StoreError::Closed)
    }

    /// Closes the queue for good and hands back what is still in it: the committer's last
    /// act before it stops.
    pub(crate) fn close_queue(&self, requests: &Receiver<Request>) -> Vec<Request> {
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        queue.closed = true;
        std::iter::from_fn(|| requests.try_recv().ok()).collect()
    }

    pub(crate) fn sync_request(
        &self,
    ) -> Result<oneshot::Receiver<Result<Durable, StoreError>>, StoreError> {
        let (done, rx) = oneshot::channel();
        self.send(|watermark| Request::Sync { watermark, done })?;
        Ok(rx)
    }

    pub(crate) fn seen_request(
        &self,
        account: &Account,
        uids: Vec<String>,
        forget: bool,
    ) -> Result<oneshot::Receiver<Result<(), StoreError>>, StoreError> {
        for uid in &uids {
            check_uid(uid)?;
        }
        let (done, rx) = oneshot::channel();
        let account = account.key();
        self.send(|_| {
            if forget {
                Request::Forget {
                    account,
                    uids,
                    done,
                }
            } else {
                Request::Seen {
                    account,
                    uids,
                    done,
                }
            }
        })?;
        Ok(rx)
    }

    pub(crate) fn close_request(
        &self,
    ) -> Result<oneshot::Receiver<Result<(), StoreError>>, StoreError> {
        let (done, rx) = oneshot::channel();
        self.send(|_| Request::Close { done })?;
        Ok(rx)
    }
}

/// A destination and its UIDL state file, held exclusively for one run.
///
/// Open it, then [`Store::begin`] a [`MessageWriter`] per message, from as many threads as
/// there are sessions; commit each, and call [`Store::sync`] before sending DELE for what
/// was committed. The blocking API is on this type; [`crate::AsyncStore`] wraps it for
/// async callers on any executor.
///
/// Dropping the store is [`Store::close`] with the error ignored.
#[derive(Debug)]
pub struct Store {
    inner: Arc<Inner>,
    state_path: PathBuf,
    committer: Option<JoinHandle<()>>,
    recovery: RecoveryReport,
}

impl Store {
    /// Opens `options.target()`: creates what is missing (directories 0700, files 0600),
    /// takes the locks (waiting up to the lock timeout), loads and if needed migrates the
    /// state file, and recovers from an interrupted earlier run (see
    /// [`Store::recovery`]).
    pub fn open(options: StoreOptions) -> Result<Self, StoreError> {
        let StoreOptions {
            target,
            account,
            state_path,
            lock_timeout,
            buffer_capacity,
            crash,
        } = options;
        let state_path = state_path.unwrap_or_else(|| target.default_state_path());
        target.prepare()?;
        fsutil::create_private_dirs(&fsutil::parent_dir(&state_path))?;
        let wait = Wait::new(lock_timeout, target.path());
        let stats = Stats::default();

        // The dotlock first, by convention; then flock on the destination (the mbox, or the
        // directory itself: runs with different state files still never share one), then
        // on the state file. Every run takes them in this order.
        let (dotlock, mut mbox, directory) = match &target {
            Target::Mbox(path) => {
                let dotlock = DotLock::acquire(path, &wait)?;
                let file = fsutil::open_append_private(path)?;
                lock::flock(&file, path, &wait)?;
                (Some(dotlock), Some(file), None)
            }
            Target::Maildir(dir) | Target::EmlDir(dir) => {
                let handle = std::fs::File::open(dir).context("open", dir)?;
                lock::flock(&handle, dir, &wait)?;
                (None, None, Some(handle))
            }
        };
        let (mut state, mut loaded) = StateFile::open(&state_path, &account, &wait, &stats)?;
        let host = fsutil::maildir_host();
        let mut recovery = recovery::recover(
            &target,
            &host,
            &mut state,
            &mut loaded,
            mbox.as_mut(),
            &stats,
        )?;
        recovery.migrated = loaded.migrated;
        if state.wants_compaction(&loaded.index) {
            state.rewrite(&loaded.index, &stats)?;
        }

        let (tx, rx) = mpsc::channel();
        let inner = Arc::new(Inner {
            target,
            cap: buffer_capacity,
            host,
            stats,
            index: RwLock::new(loaded.index),
            writing: Mutex::new(HashSet::new()),
            queue: Mutex::new(Queue {
                tx,
                next_ticket: 1,
                closed: false,
            }),
            gate: Arc::new(Gate {
                queued: Mutex::new(0),
                freed: Condvar::new(),
            }),
            aborting: AtomicBool::new(false),
        });
        let committer = Committer {
            inner: Arc::clone(&inner),
            state,
            mbox,
            _dotlock: dotlock,
            _directory: directory,
            crash,
            poisoned: None,
            copy_buf: vec![0; buffer_capacity],
            placed: 0,
        };
        let handle = thread::Builder::new()
            .name("pop3-store-commit".into())
            .spawn(move || committer.run(&rx))
            .context("start the committer thread for", &state_path)?;
        Ok(Self {
            inner,
            state_path,
            committer: Some(handle),
            recovery,
        })
    }

    /// Starts writing message `uid` of `account`. Any number of writers may be open at
    /// once, from any threads, but only one per (account, UID).
    pub fn begin(&self, account: &Account, uid: &str) -> Result<MessageWriter, StoreError> {
        self.inner.begin(account, uid)
    }

    /// Whether `uid` of `account` is recorded: stored (durably) by this or an earlier run,
    /// or marked seen. `true` means durable, so it is safe to DELE.
    pub fn contains(&self, account: &Account, uid: &str) -> bool {
        self.inner.read_index().contains(&account.key(), uid)
    }

    /// The UIDs recorded for `account`, in no particular order: with the server's current
    /// UIDL listing, what [`Store::forget`] may drop.
    pub fn recorded(&self, account: &Account) -> Vec<String> {
        self.inner
            .read_index()
            .uids(&account.key())
            .map(str::to_owned)
            .collect()
    }

    /// Records UIDs as seen without storing them (`--mark-seen`), durably, before
    /// returning.
    pub fn mark_seen<I, S>(&self, account: &Account, uids: I) -> Result<(), StoreError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let rx =
            self.inner
                .seen_request(account, uids.into_iter().map(Into::into).collect(), false)?;
        block_on(answer(rx))
    }

    /// Stops recording UIDs (for instance those no longer on the server), durably.
    pub fn forget<I, S>(&self, account: &Account, uids: I) -> Result<(), StoreError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let rx =
            self.inner
                .seen_request(account, uids.into_iter().map(Into::into).collect(), true)?;
        block_on(answer(rx))
    }

    /// Blocks until every commit handed over so far is durable and recorded (or failed,
    /// which its ticket and [`Store::contains`] tell): the call to make before DELE.
    ///
    /// The committer makes each batch durable as it goes, so this costs no extra fsync;
    /// it waits for the batches in flight.
    pub fn sync(&self) -> Result<Durable, StoreError> {
        let rx = self.inner.sync_request()?;
        block_on(answer(rx))
    }

    /// Finishes the queued commits, releases the locks and stops the committer.
    pub fn close(mut self) -> Result<(), StoreError> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<(), StoreError> {
        let Some(handle) = self.committer.take() else {
            return Ok(());
        };
        let result = self
            .inner
            .close_request()
            .and_then(|rx| block_on(answer(rx)));
        let _ = handle.join();
        // A committer that crashed (simulated) is simply gone: nothing left to close.
        match result {
            Err(StoreError::Closed) => Ok(()),
            other => other,
        }
    }

    /// Stops as soon as the destination is consistent, without finishing what is queued:
    /// for a run told to stop at once (a second Ctrl-C).
    ///
    /// The committer finishes putting in place the message it is renaming, or cuts back
    /// the mbox record it is appending (so no partial record is left), records what is in
    /// place, marks the rest of its batch abandoned, and refuses every later request
    /// ([`StoreError::Closed`]; their temporary files are removed). Then it releases the
    /// locks. Nothing is left for the next open to recover, except temporary files of
    /// writers still running, which that open removes. Returns once the locks are
    /// released; closing or dropping the store afterwards does nothing more.
    ///
    /// It takes `&self` so that whoever learns of the stop (a signal handler's task, say)
    /// can abort while writers are still at work on other threads.
    pub fn abort(&self) -> Result<(), StoreError> {
        self.inner.abort();
        match self
            .inner
            .close_request()
            .and_then(|rx| block_on(answer(rx)))
        {
            // Already stopped.
            Err(StoreError::Closed) => Ok(()),
            other => other,
        }
    }

    /// Asks the committer to stop without waiting for it (for async owners, which must
    /// not block). The answer resolves once the locks are released.
    pub(crate) fn close_detached(&mut self) -> Option<oneshot::Receiver<Result<(), StoreError>>> {
        self.committer.take()?;
        // An error means the committer is gone already, its locks released.
        self.inner.close_request().ok()
    }

    /// What opening found and repaired of an interrupted earlier run.
    pub fn recovery(&self) -> &RecoveryReport {
        &self.recovery
    }

    /// Counters since the store was opened.
    pub fn stats(&self) -> StoreStats {
        self.inner.stats.snapshot()
    }

    /// The destination.
    pub fn target(&self) -> &Target {
        &self.inner.target
    }

    /// The state file in use.
    pub fn state_path(&self) -> &Path {
        &self.state_path
    }

    pub(crate) fn inner(&self) -> &Arc<Inner> {
        &self.inner
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}
