//! Where fetched POP3 messages go: a Maildir, an mboxrd file or a directory of `.eml`
//! files, with a per-account UIDL state file, exclusive locking and crash recovery.
//! Independent of any async runtime.
//!
//! # Shape
//! A [`Store`] is one run's exclusive hold on a destination. [`Store::begin`] hands out a
//! [`MessageWriter`] per message; any number may be open at once, from any threads (one
//! per POP3 session, say). A writer takes the message's chunks, then commits or aborts.
//! A commit hands the message to the store's committer thread, the single owner of the
//! state file and of the mbox, which makes messages durable and records their UIDs in
//! batches. [`Store::sync`] waits until everything committed so far is durable and
//! recorded: call it before sending DELE. [`AsyncStore`] offers the same to async code on
//! any executor, doing the file I/O on a small thread pool.
//!
//! ```
//! use pop3_store::{Account, Store, StoreOptions, Target};
//! # fn main() -> Result<(), pop3_store::StoreError> {
//! # let dir = tempfile::tempdir().unwrap();
//! let account = Account::new("alice", "pop.example.com", 995);
//! let store = Store::open(StoreOptions::new(Target::Maildir(dir.path().join("Mail")), account.clone()))?;
//! if !store.contains(&account, "uid-1") {
//!     let mut writer = store.begin(&account, "uid-1")?;
//!     writer.write(b"Subject: hi\r\n\r\nHello\r\n")?;
//!     writer.commit()?;
//! }
//! store.sync()?; // now DELE of uid-1 is safe
//! assert!(store.contains(&account, "uid-1"));
//! # Ok(()) }
//! ```
//!
//! # Durability
//! Maildir and `.eml` messages are written to a temporary file and fsynced by their
//! writer (so fsyncs of concurrent messages overlap); mbox messages are spooled (in the
//! writer's buffer, spilling to a temporary file beside the mbox) and appended whole by
//! the committer. Each committer batch then: appends an *intent* line per message (where
//! it will be) to the state file and fsyncs it; renames the files into place or appends
//! the mbox records; fsyncs the directory or the mbox once; appends a *done* line per
//! message and fsyncs the state file once more. A UID is therefore never recorded before
//! its message is durable, and fsyncs per message fall as the load rises. A crash leaves
//! at worst an intent without its done line, which the next [`Store::open`] resolves by
//! looking at the destination (see [`RecoveryReport`]): a message that made it is recorded
//! (and so not delivered again), a partial mbox record is truncated away, temporary files
//! are removed.
//!
//! # Stopping at once
//! [`Store::abort`] (and [`AsyncStore::abort`]) is for a run told to stop now (a second
//! Ctrl-C): the committer stops at the next point where the destination is consistent. A
//! rename in progress completes; an mbox record being appended is cut back to where it
//! started, so no partial message is left; what was put in place is recorded, the rest
//! abandoned, every later commit refused and its temporary file removed. The next open
//! then has nothing to recover.
//!
//! # Locking
//! A store holds `flock` on its state file for its lifetime, and for an mbox also `flock`
//! on the mbox and the dotlock `FILE.lock` (created whole, holding the PID, by a hard link
//! that fails if it exists, like `O_EXCL`; a dotlock older than
//! ten minutes or naming a process that is gone is broken as stale). A second store on the
//! same destination waits up to its lock timeout, then fails with [`StoreError::Busy`]:
//! `destination busy: <path> is locked by another pop3 run`.
//!
//! # State file
//! `DIR/.pop3-uidl` (Maildir, `.eml`) or `FILE.pop3-uidl` (mbox) unless chosen. Entries
//! are keyed by [`Account`] (user, host, port), so accounts sharing a destination never
//! skip each other's UIDs. The format is line-based, append-only, with a version header,
//! and tolerates a torn last line; the old format (one UID per line) is migrated on first
//! open, its entries given to the opening account.
//!
//! # Privacy
//! Files the store creates are mode 0600 and directories 0700, set explicitly after
//! creation so the umask cannot widen them (std has no safe way to set the umask itself).
//! Existing files and directories keep their modes.
//!
//! # Formats
//! - Maildir and mbox store LF line ends (CRLF converted); `.eml` keeps the bytes exactly.
//! - mbox is mboxrd: lines matching `^>*From ` get one more `>`; each record starts with
//!   `From SENDER DATE`, the sender from `Return-Path` (else `MAILER-DAEMON`) and the date
//!   from `Date` in UTC (else the time of receipt), and ends with a blank line.
//! - `.eml` files are named [`uid_file_name`]`(uid) + ".eml"`; if that name holds another
//!   account's message (or a file no entry explains) the name gets a `~N` suffix instead
//!   of overwriting it.
//!
//! Transformations work a block at a time (`memchr`), keeping state across chunk
//! boundaries, into a bounded per-message buffer written out in buffer-sized blocks, so
//! the cost follows the bytes, not the lines or the chunking.

#![forbid(unsafe_code)]

mod async_store;
mod committer;
mod envelope;
mod error;
mod fsutil;
mod hash;
mod lock;
mod names;
mod pool;
mod recovery;
mod state;
mod stats;
mod store;
mod target;
mod ticket;
mod transform;
mod writer;

pub use async_store::{AsyncMessageWriter, AsyncStore};
pub use error::StoreError;
pub use names::{Account, uid_file_name};
pub use recovery::RecoveryReport;
pub use stats::StoreStats;
#[doc(hidden)]
pub use store::CrashPoint;
pub use store::{
    DEFAULT_BUFFER_CAPACITY, DEFAULT_LOCK_TIMEOUT, MIN_BUFFER_CAPACITY, Store, StoreOptions,
};
pub use target::Target;
pub use ticket::{Durable, Location, Pending, Receipt};
pub use writer::MessageWriter;

/// How long a dotlock may stand before it is taken to be left by a crash.
pub const DOTLOCK_STALE_AFTER: std::time::Duration = lock::DOTLOCK_STALE_AFTER;
