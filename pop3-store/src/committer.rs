//! The committer: one thread per store that owns the state file, the mbox handle and the
//! locks, and makes handed-over messages durable and recorded in batches (group commit).
//!
//! Per batch, in this order (each step's fsync orders it before the next step):
//! 1. intent lines for every message (where it will be), appended; state fsync;
//! 2. each message put in place: Maildir/`.eml` rename, or mbox append;
//! 3. one fsync of the directory (Maildir `new/`, `.eml` directory) or of the mbox;
//! 4. `D` (done) lines, plus mark-seen and forget lines; state fsync;
//! 5. the index updated, tickets answered.
//!
//! A UID is thus written to the state file only after its message is durable (step 4
//! after step 3), and a crash anywhere leaves at worst an intent without its `D` line,
//! which the next open resolves (see `recovery`). A batch is whatever queued while the
//! previous one ran, so fsyncs per message fall as the load rises.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::Receiver;

use futures_channel::oneshot;

use crate::Account;
use crate::error::{IoContext, StoreError};
use crate::fsutil::{self, write_counted};
use crate::hash::{ContentHash, record_hash};
use crate::lock::DotLock;
use crate::names::uid_file_name;
use crate::state::{Intent, Line, MboxSpan, Recorded, StateFile, Target as IntentTarget};
use crate::stats::Written;
use crate::store::{CrashPoint, Inner, Permit};
use crate::target::Target;
use crate::ticket::{Durable, Location, Receipt};
use crate::writer::Spool;

/// The most requests taken into one batch.
const MAX_BATCH: usize = 1024;

/// Where a committer's answer goes.
pub(crate) type Responder<T> = oneshot::Sender<Result<T, StoreError>>;

/// What the committer is asked to do.
pub(crate) enum Request {
    /// Make a message durable and record it.
    Commit {
        job: CommitJob,
        done: Responder<Receipt>,
    },
    /// Record UIDs without a message (`--mark-seen`).
    Seen {
        account: String,
        uids: Vec<String>,
        done: Responder<()>,
    },
    /// Stop recording UIDs.
    Forget {
        account: String,
        uids: Vec<String>,
        done: Responder<()>,
    },
    /// Answer once everything queued before is settled.
    Sync {
        watermark: u64,
        done: Responder<Durable>,
    },
    /// Finish what is queued, release the locks, stop.
    Close { done: Responder<()> },
}

/// A complete message whose data is on disk (or in memory, for an mbox), handed over.
pub(crate) struct CommitJob {
    pub(crate) account: Account,
    pub(crate) key: String,
    pub(crate) uid: String,
    pub(crate) payload: Payload,
    /// Bounds the queue's memory (mbox records carry up to a buffer each).
    pub(crate) _permit: Permit,
}

/// The format-specific part of a [`CommitJob`].
pub(crate) enum Payload {
    /// `tmp/NAME`, fsynced.
    Maildir { name: String },
    /// `DIR/TMP`, fsynced; the committer picks the final name.
    Eml { tmp: String },
    /// An mbox record to append.
    Mbox(MboxRecord),
}

/// An mbox record: `From ` line, then the (transformed) body in the spool file and/or the
/// in-memory tail, which ends with the separating blank line.
pub(crate) struct MboxRecord {
    pub(crate) from_line: Vec<u8>,
    pub(crate) spool: Option<Spool>,
    pub(crate) tail: Vec<u8>,
    /// Length of spool + tail.
    pub(crate) rest_len: u64,
    /// [`ContentHash`] of spool + tail.
    pub(crate) rest_hash: u64,
}

/// How an mbox append ended, when it did not fail.
enum Appended {
    Done,
    /// A simulated crash cut it short: stop at once.
    Crashed,
    /// [`crate::Store::abort`] stopped it: the partial record must be cut back.
    Aborted,
}

/// Whether the committer goes on after a batch.
enum Flow {
    Continue,
    /// A simulated crash: stop at once, answer nothing more.
    Crash,
    /// Closed: answer this after releasing everything.
    Close(Responder<()>),
}

/// One request of a batch, in arrival order.
#[expect(
    clippy::large_enum_variant,
    reason = "a batch's ops live only while it is processed"
)]
enum Op {
    Commit {
        job: CommitJob,
        done: Responder<Receipt>,
        intent: Option<Intent>,
        outcome: Option<Result<Location, StoreError>>,
    },
    Seen {
        account: String,
        uids: Vec<String>,
        done: Responder<()>,
    },
    Forget {
        account: String,
        uids: Vec<String>,
        done: Responder<()>,
    },
}

/// The committer's state: everything a run must own exclusively.
pub(crate) struct Committer {
    pub(crate) inner: Arc<Inner>,
    pub(crate) state: StateFile,
    /// The locked mbox, for an mbox target.
    pub(crate) mbox: Option<File>,
    /// Held for its drop, which removes the lock file.
    pub(crate) _dotlock: Option<DotLock>,
    /// The Maildir or `.eml` directory, open only for its `flock`.
    pub(crate) _directory: Option<std::fs::File>,
    pub(crate) crash: Option<CrashPoint>,
    pub(crate) poisoned: Option<String>,
    /// Staging for mbox appends: one write per small record.
    pub(crate) copy_buf: Vec<u8>,
    /// Messages put in place so far (for [`CrashPoint::AbortAfterPlacing`]).
    pub(crate) placed: usize,
}

impl Committer {
    /// Serves requests until closed, crashed, or every sender is gone.
    pub(crate) fn run(mut self, requests: &Receiver<Request>) {
        while let Ok(first) = requests.recv() {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match requests.try_recv() {
                    Ok(r) => batch.push(r),
                    Err(_) => break,
                }
            }
            if self.inner.is_aborting() {
                self.stop(batch, requests);
                return;
            }
            match self.process(batch) {
                Flow::Continue => {}
                Flow::Crash => return,
                Flow::Close(done) => {
                    for request in self.inner.close_queue(requests) {
                        self.refuse(request, &StoreError::Closed);
                    }
                    // Locks go before the answer: whoever waits for close may reopen.
                    drop(self);
                    let _ = done.send(Ok(()));
                    return;
                }
            }
        }
    }

    /// After an abort: refuses everything queued (removing the messages' temporary files),
    /// releases the locks, then answers the closes.
    fn stop(self, batch: Vec<Request>, requests: &Receiver<Request>) {
        let mut closes = Vec::new();
        let rest = self.inner.close_queue(requests);
        for request in batch.into_iter().chain(rest) {
            match request {
                Request::Close { done } => closes.push(done),
                other => self.refuse(other, &StoreError::Closed),
            }
        }
        // Locks go before the answers: whoever waits for the abort may reopen.
        drop(self);
        for done in closes {
            let _ = done.send(Ok(()));
        }
    }

    /// Answers a request that will not be served; a commit's message is removed.
    fn refuse(&self, request: Request, error: &StoreError) {
        match request {
            Request::Commit { job, done } => {
                self.inner.discard(&job.payload);
                let _ = done.send(Err(error.clone()));
            }
            Request::Seen { done, .. } | Request::Forget { done, .. } | Request::Close { done } => {
                let _ = done.send(Err(error.clone()));
            }
            Request::Sync { done, .. } => {
                let _ = done.send(Err(error.clone()));
            }
        }
    }

    fn process(&mut self, batch: Vec<Request>) -> Flow {
        let mut ops = Vec::with_capacity(batch.len());
        let mut syncs = Vec::new();
        let mut close = None;
        for request in batch {
            if close.is_some() {
                self.refuse(request, &StoreError::Closed);
                continue;
            }
            match request {
                Request::Commit { job, done } => ops.push(Op::Commit {
                    job,
                    done,
                    intent: None,
                    outcome: None,
                }),
                Request::Seen {
                    account,
                    uids,
                    done,
                } => ops.push(Op::Seen {
                    account,
                    uids,
                    done,
                }),
                Request::Forget {
                    account,
                    uids,
                    done,
                } => {
                    ops.push(Op::Forget {
                        account,
                        uids,
                        done,
                    });
                }
                Request::Sync { watermark, done } => syncs.push((watermark, done)),
                Request::Close { done } => close = Some(done),
            }
        }
        let result = match &self.poisoned {
            Some(reason) => Err(StoreError::Poisoned {
                reason: reason.clone(),
            }),
            None => self.commit(&mut ops),
        };
        let result = match result {
            Ok(true) => Ok(()),
            Ok(false) => return Flow::Crash,
            Err(e) => {
                self.poisoned.get_or_insert_with(|| e.to_string());
                Err(e)
            }
        };
        // Counted before anyone hears back, so a caller's view of the stats is current.
        let committed = ops
            .iter()
            .filter(|op| {
                matches!(
                    op,
                    Op::Commit {
                        outcome: Some(Ok(_)),
                        ..
                    }
                )
            })
            .count();
        self.inner
            .stats
            .batch(if result.is_ok() { committed } else { 0 });
        for op in ops {
            match op {
                Op::Commit {
                    job, done, outcome, ..
                } => {
                    let answer = match (&result, outcome) {
                        (Err(e), _) => Err(e.clone()),
                        (Ok(()), Some(Ok(location))) => Ok(Receipt {
                            account: job.account,
                            uid: job.uid,
                            location,
                        }),
                        (Ok(()), Some(Err(e))) => Err(e),
                        (Ok(()), None) => Err(StoreError::Closed),
                    };
                    let _ = done.send(answer);
                }
                Op::Seen { done, .. } | Op::Forget { done, .. } => {
                    let _ = done.send(result.clone());
                }
            }
        }
        for (watermark, done) in syncs {
            let _ = done.send(result.clone().map(|()| Durable { watermark }));
        }
        close.map_or(Flow::Continue, Flow::Close)
    }

    /// Steps 1–5 for a batch. `Ok(false)`: a simulated crash stopped it.
    fn commit(&mut self, ops: &mut [Op]) -> Result<bool, StoreError> {
        let inner = Arc::clone(&self.inner);
        let stats = &inner.stats;
        // 1. Intents.
        let mut intents = Vec::new();
        let mut mbox_end = match &self.mbox {
            Some(f) => f
                .metadata()
                .context("stat", self.inner.target.path())?
                .len(),
            None => 0,
        };
        let mut names_in_batch = HashSet::new();
        for op in ops.iter_mut() {
            if let Op::Commit { job, intent, .. } = op {
                let target = match &job.payload {
                    Payload::Maildir { name } => IntentTarget::Maildir { name: name.clone() },
                    Payload::Eml { tmp } => IntentTarget::Eml {
                        tmp: tmp.clone(),
                        name: self.eml_name(&job.key, &job.uid, &mut names_in_batch),
                    },
                    Payload::Mbox(record) => {
                        let from_hash = ContentHash::of(&record.from_line);
                        let span = MboxSpan {
                            offset: mbox_end,
                            len: record.from_line.len() as u64 + record.rest_len,
                            from_len: record.from_line.len() as u64,
                            from_hash,
                            hash: record_hash(from_hash, record.rest_hash),
                        };
                        mbox_end += span.len;
                        IntentTarget::Mbox(span)
                    }
                };
                let i = Intent {
                    seq: self.state.next_seq(),
                    account: job.key.clone(),
                    uid: job.uid.clone(),
                    target,
                };
                intents.push(Line::Intent(i.clone()));
                *intent = Some(i);
            }
        }
        if !intents.is_empty() {
            self.state.append(&intents, stats)?;
            self.state.sync(stats)?;
        }
        if self.crash == Some(CrashPoint::AfterIntent) && !intents.is_empty() {
            return Ok(false);
        }

        // 2. Put each message in place; after an abort, none of the rest.
        let mut mbox_failed: Option<StoreError> = None;
        let mut placed = false;
        let mut truncated = false;
        for op in ops.iter_mut() {
            let Op::Commit {
                job,
                intent: Some(intent),
                outcome,
                ..
            } = op
            else {
                continue;
            };
            if self.inner.is_aborting() {
                self.inner.discard(&job.payload);
                *outcome = Some(Err(StoreError::Closed));
                continue;
            }
            let result = match (&mut job.payload, &intent.target) {
                (Payload::Maildir { name }, _) => Self::place_file(
                    &self.inner.target.path().join("tmp").join(&*name),
                    self.inner.target.path().join("new").join(&*name),
                ),
                (Payload::Eml { tmp }, IntentTarget::Eml { name, .. }) => Self::place_file(
                    &self.inner.target.path().join(&*tmp),
                    self.inner.target.path().join(name),
                ),
                // Later records' offsets assumed this one: none of them may go in.
                (Payload::Mbox(_), IntentTarget::Mbox(_)) if mbox_failed.is_some() => {
                    Err(mbox_failed.clone().unwrap_or(StoreError::Closed))
                }
                (Payload::Mbox(record), IntentTarget::Mbox(span)) => {
                    let appended = self.append(record, span);
                    if matches!(appended, Ok(Appended::Aborted) | Err(_)) {
                        // A partial record must not stay. If it cannot be cut back, the
                        // batch fails unrecorded and the next open's recovery truncates it.
                        if let Some(mbox) = &self.mbox {
                            mbox.set_len(span.offset)
                                .context("truncate", self.inner.target.path())?;
                        }
                        truncated = true;
                    }
                    match appended {
                        Ok(Appended::Done) => Ok(Location::Mbox {
                            offset: span.offset,
                            len: span.len,
                        }),
                        Ok(Appended::Crashed) => return Ok(false),
                        Ok(Appended::Aborted) => {
                            mbox_failed = Some(StoreError::Closed);
                            Err(StoreError::Closed)
                        }
                        Err(e) => {
                            mbox_failed = Some(e.clone());
                            Err(e)
                        }
                    }
                }
                _ => Err(StoreError::Closed),
            };
            if result.is_ok() {
                placed = true;
                self.placed += 1;
                if self.crash == Some(CrashPoint::AbortAfterPlacing(self.placed)) {
                    self.inner.abort();
                }
            }
            *outcome = Some(result);
        }

        // 3. One fsync makes every placement (and cut-back) of the batch durable.
        if placed || truncated {
            match (&self.inner.target, &self.mbox) {
                (Target::Maildir(dir), _) => fsutil::sync_dir(&dir.join("new"), stats)?,
                (Target::EmlDir(dir), _) => fsutil::sync_dir(dir, stats)?,
                (Target::Mbox(path), Some(mbox)) => {
                    stats.fsync();
                    mbox.sync_data().context("fsync", path)?;
                }
                (Target::Mbox(_), None) => {}
            }
        }
        if self.crash == Some(CrashPoint::AfterDurable) && placed {
            return Ok(false);
        }

        // 4. Record, in arrival order.
        let mut lines = Vec::new();
        let mut index_changes: Vec<(String, String, Option<Option<String>>)> = Vec::new();
        {
            let index = self.inner.read_index();
            let mut seen_now = HashSet::new();
            for op in ops.iter() {
                match op {
                    Op::Commit {
                        job,
                        intent: Some(intent),
                        outcome: Some(outcome),
                        ..
                    } => {
                        if outcome.is_ok() {
                            lines.push(Line::Done(intent.seq));
                            let name = match &intent.target {
                                IntentTarget::Eml { name, .. } => Some(name.clone()),
                                _ => None,
                            };
                            seen_now.insert((job.key.clone(), job.uid.clone()));
                            index_changes.push((job.key.clone(), job.uid.clone(), Some(name)));
                        } else {
                            lines.push(Line::Abandoned(intent.seq));
                        }
                    }
                    Op::Commit { .. } => {}
                    Op::Seen { account, uids, .. } => {
                        for uid in uids {
                            let fresh = !index.contains(account, uid)
                                && seen_now.insert((account.clone(), uid.clone()));
                            if fresh {
                                lines.push(Line::Seen {
                                    account: account.clone(),
                                    uid: uid.clone(),
                                    name: None,
                                });
                                index_changes.push((account.clone(), uid.clone(), Some(None)));
                            }
                        }
                    }
                    Op::Forget { account, uids, .. } => {
                        for uid in uids {
                            let known = index.contains(account, uid)
                                || seen_now.remove(&(account.clone(), uid.clone()));
                            if known {
                                lines.push(Line::Forget {
                                    account: account.clone(),
                                    uid: uid.clone(),
                                });
                                index_changes.push((account.clone(), uid.clone(), None));
                            }
                        }
                    }
                }
            }
        }
        if !lines.is_empty() {
            self.state.append(&lines, stats)?;
            self.state.sync(stats)?;
        }

        // 5. Only now may `contains` say yes.
        let mut index = self.inner.write_index();
        for (account, uid, change) in index_changes {
            match change {
                Some(name) => index.insert(&account, &uid, name),
                None => index.remove(&account, &uid),
            }
        }
        Ok(true)
    }

    /// Renames a fsynced temporary file into place (made durable by step 3). On failure the
    /// temporary file is removed: the message is not stored.
    fn place_file(from: &std::path::Path, to: PathBuf) -> Result<Location, StoreError> {
        match fs::rename(from, &to) {
            Ok(()) => Ok(Location::File(to)),
            Err(e) => {
                let _ = fs::remove_file(from);
                Err(StoreError::io("rename into place", &to, e))
            }
        }
    }

    /// Picks the `.eml` name for a UID of an account: the file it had before (a re-fetch
    /// replaces it), else `<UID>.eml`, else the first free `<UID>~N.eml`. A file nobody's
    /// entry explains, or another account's, is never overwritten. (`~` is always
    /// percent-encoded in UIDs, so suffixed names cannot collide with a UID's name.)
    fn eml_name(&self, key: &str, uid: &str, in_batch: &mut HashSet<String>) -> String {
        let index = self.inner.read_index();
        let base = uid_file_name(uid);
        let plain = format!("{base}.eml");
        let dir = self.inner.target.path();
        let name = match index.entry(key, uid) {
            Some(Recorded { name: Some(name) }) => Some(name.to_owned()),
            // Recorded without a name (migrated, or marked seen): a `<UID>.eml` that no
            // other entry holds is this account's.
            Some(Recorded { name: None })
                if !index.is_claimed(&plain) && !in_batch.contains(&plain) =>
            {
                Some(plain.clone())
            }
            _ => None,
        };
        let name = name.unwrap_or_else(|| {
            let free = |candidate: &String| {
                !index.is_claimed(candidate)
                    && !in_batch.contains(candidate)
                    && fs::symlink_metadata(dir.join(candidate)).is_err()
            };
            let mut candidate = plain.clone();
            let mut n = 1u64;
            while !free(&candidate) {
                n += 1;
                candidate = format!("{base}~{n}.eml");
            }
            candidate
        });
        in_batch.insert(name.clone());
        name
    }

    /// Appends an mbox record, checking for an abort before every block it writes.
    fn append(&mut self, record: &mut MboxRecord, span: &MboxSpan) -> Result<Appended, StoreError> {
        let path = self.inner.target.path().to_owned();
        let Some(file) = self.mbox.as_mut() else {
            return Err(StoreError::Closed);
        };
        let mut out = Appender {
            file,
            buf: &mut self.copy_buf,
            filled: 0,
            written: 0,
            limit: match self.crash {
                Some(CrashPoint::MidAppend(n)) => Some(n as u64),
                _ => None,
            },
            abort_at: match self.crash {
                Some(CrashPoint::AbortMidAppend(n)) => Some(n as u64),
                _ => None,
            },
            aborted: false,
            inner: &self.inner,
        };
        let result = (|| {
            out.put(&record.from_line)?;
            if let Some(spool) = &mut record.spool {
                spool.file.seek(SeekFrom::Start(0))?;
                out.copy_from(&mut spool.file)?;
            }
            out.put(&record.tail)?;
            out.flush()
        })();
        match result {
            Ok(()) if out.written == span.len => Ok(Appended::Done),
            Ok(()) => Err(StoreError::io(
                "append to",
                &path,
                io::Error::other(format!(
                    "spool held {} bytes, not {}",
                    out.written, span.len
                )),
            )),
            Err(_) if out.aborted => Ok(Appended::Aborted),
            Err(e) if e.kind() == io::ErrorKind::Interrupted && out.limit.is_some() => {
                Ok(Appended::Crashed)
            }
            Err(e) => Err(StoreError::io("append to", &path, e)),
        }
    }
}

/// Coalesces an mbox record into buffer-sized writes.
struct Appender<'a> {
    file: &'a mut File,
    buf: &'a mut Vec<u8>,
    filled: usize,
    written: u64,
    /// Simulated crash: stop after this many bytes.
    limit: Option<u64>,
    /// Simulated abort: request one after this many bytes.
    abort_at: Option<u64>,
    /// Whether an abort stopped the append.
    aborted: bool,
    inner: &'a Inner,
}

impl Appender<'_> {
    fn put(&mut self, data: &[u8]) -> io::Result<()> {
        if self.filled + data.len() > self.buf.len() {
            self.flush()?;
        }
        if data.len() > self.buf.len() {
            return self.write(data);
        }
        self.buf[self.filled..self.filled + data.len()].copy_from_slice(data);
        self.filled += data.len();
        Ok(())
    }

    fn copy_from(&mut self, spool: &mut File) -> io::Result<()> {
        loop {
            if self.filled == self.buf.len() {
                self.flush()?;
            }
            let n = match spool.read(&mut self.buf[self.filled..]) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if n == 0 {
                return Ok(());
            }
            self.filled += n;
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        let filled = std::mem::take(&mut self.filled);
        let data = std::mem::take(self.buf);
        let result = self.write(&data[..filled]);
        *self.buf = data;
        result
    }

    fn write(&mut self, data: &[u8]) -> io::Result<()> {
        let stats = &self.inner.stats;
        if self.inner.is_aborting() {
            self.aborted = true;
            return Err(io::ErrorKind::Interrupted.into());
        }
        let mut data = data;
        if let Some(at) = self.abort_at {
            let room = usize::try_from(at.saturating_sub(self.written)).unwrap_or(usize::MAX);
            if data.len() >= room {
                write_counted(self.file, &data[..room], stats, Written::Message)?;
                self.written += room as u64;
                // As if the abort arrived while the rest was being written.
                self.inner.abort();
                self.aborted = true;
                return Err(io::ErrorKind::Interrupted.into());
            }
        }
        if let Some(limit) = self.limit {
            let room = usize::try_from(limit.saturating_sub(self.written)).unwrap_or(usize::MAX);
            if data.len() >= room {
                data = &data[..room];
                write_counted(self.file, data, stats, Written::Message)?;
                self.written += data.len() as u64;
                // The simulated crash: the rest never reaches the file.
                return Err(io::ErrorKind::Interrupted.into());
            }
        }
        write_counted(self.file, data, stats, Written::Message)?;
        self.written += data.len() as u64;
        Ok(())
    }
}
