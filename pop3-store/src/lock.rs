//! Exclusive locks for one run: `flock` on the destination (the mbox, or the Maildir or
//! `.eml` directory itself) and on the state file, and the dotlock
//! convention (`FILE.lock`, created with `O_EXCL`) for mbox readers that do not use
//! `flock`. A busy lock is retried until a deadline, then reported as
//! [`StoreError::Busy`].

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Write as _};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::{IoContext, StoreError};
use crate::fsutil::{self, FILE_MODE};

/// A dotlock older than this is taken to be left by a crash and removed. Holders never
/// refresh it, so this must exceed any run's length... which no bound can promise; the
/// PID check below catches most stale locks long before.
pub(crate) const DOTLOCK_STALE_AFTER: Duration = Duration::from_secs(10 * 60);

/// When to give up waiting, and what to call busy then.
#[derive(Clone, Debug)]
pub(crate) struct Wait {
    deadline: Instant,
    destination: PathBuf,
}

impl Wait {
    /// Waits at most `timeout`; a busy error names `destination`.
    pub(crate) fn new(timeout: Duration, destination: &Path) -> Self {
        Self {
            deadline: Instant::now() + timeout,
            destination: destination.to_owned(),
        }
    }

    /// Calls `attempt` until it returns `Some`, sleeping between tries (10 ms, doubling to
    /// 100 ms), and fails with [`StoreError::Busy`] once the deadline has passed.
    fn retry<T>(
        &self,
        mut attempt: impl FnMut() -> Result<Option<T>, StoreError>,
    ) -> Result<T, StoreError> {
        let mut pause = Duration::from_millis(10);
        loop {
            if let Some(done) = attempt()? {
                return Ok(done);
            }
            let now = Instant::now();
            if now >= self.deadline {
                return Err(StoreError::Busy {
                    path: self.destination.clone(),
                });
            }
            thread::sleep(pause.min(self.deadline - now));
            pause = (pause * 2).min(Duration::from_millis(100));
        }
    }
}

/// Takes `flock(LOCK_EX)` on `file`, waiting as `wait` allows.
pub(crate) fn flock(file: &File, path: &Path, wait: &Wait) -> Result<(), StoreError> {
    wait.retry(|| match file.try_lock() {
        Ok(()) => Ok(Some(())),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(StoreError::io("lock", path, e)),
    })
}

/// Opens (creating with mode 0600) and locks the state file.
///
/// The state file is replaced by rename when it is migrated or compacted, so a lock won on
/// a file descriptor may belong to an inode that no longer has the name: after winning, the
/// descriptor is compared with the path, and a stale one is dropped and the lock retried.
pub(crate) fn lock_state_file(path: &Path, wait: &Wait) -> Result<File, StoreError> {
    wait.retry(|| {
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(FILE_MODE)
            .open(path)
            .context("open", path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Ok(None),
            Err(TryLockError::Error(e)) => return Err(StoreError::io("lock", path, e)),
        }
        let held = file.metadata().context("stat", path)?;
        match fs::metadata(path) {
            Ok(now) if now.dev() == held.dev() && now.ino() == held.ino() => Ok(Some(file)),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io("stat", path, e)),
        }
    })
}

/// A held `FILE.lock`, removed on drop if it is still ours.
#[derive(Debug)]
pub(crate) struct DotLock {
    path: PathBuf,
}

impl DotLock {
    /// Takes the dotlock for `mbox`.
    ///
    /// Stale locks are broken: one older than [`DOTLOCK_STALE_AFTER`], or one naming a
    /// process that no longer exists on this host (a lock from another host sharing the
    /// file over NFS would be misjudged by the PID test; such setups should not share an
    /// mbox with this store).
    pub(crate) fn acquire(mbox: &Path, wait: &Wait) -> Result<Self, StoreError> {
        let path = fsutil::with_suffix(mbox, ".lock");
        let pid = std::process::id();
        wait.retry(|| {
            // A second try right after breaking a stale lock, without waiting.
            for _ in 0..2 {
                if create_with_pid(&path, pid)? {
                    return Ok(Some(Self { path: path.clone() }));
                }
                if !is_stale(&path) {
                    break;
                }
                match fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(StoreError::io("remove stale lock", &path, e)),
                }
            }
            Ok(None)
        })
    }
}

/// Creates the dotlock at `path` holding `pid`; `false` if it exists.
///
/// The PID is written to a private file first, which is then hard-linked to the lock's
/// name (the link fails if the name exists, as `O_EXCL` would). So the lock is never seen
/// empty, even if the process exits right after creating it (an exit while another
/// thread opens the store): an empty lock could only be judged stale by its age, and
/// would hold every later run off for minutes. Where hard links are not supported, the
/// lock is created with `O_EXCL` and written after.
fn create_with_pid(path: &Path, pid: u32) -> Result<bool, StoreError> {
    // Unique per attempt, not only per process: two stores opened at once by one process
    // (two threads) must not share it.
    static ATTEMPT: AtomicU64 = AtomicU64::new(0);
    let content = format!("{pid}\n");
    let attempt = ATTEMPT.fetch_add(1, Ordering::Relaxed);
    let private = fsutil::with_suffix(path, &format!(".{pid}.{attempt}"));
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(&private)
        .context("create", &private)?;
    file.write_all(content.as_bytes())
        .context("write", &private)?;
    drop(file);
    let linked = fs::hard_link(&private, path);
    let _ = fs::remove_file(&private);
    match linked {
        Ok(()) => return Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(false),
        // No hard links here (some FUSE and FAT file systems): O_EXCL, then write.
        Err(_) => {}
    }
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(path)
    {
        Ok(mut file) => {
            file.write_all(content.as_bytes()).context("write", path)?;
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(StoreError::io("create", path, e)),
    }
}

/// Whether the dotlock at `path` was left behind by a crash.
fn is_stale(path: &Path) -> bool {
    if fsutil::age(path).is_some_and(|age| age > DOTLOCK_STALE_AFTER) {
        return true;
    }
    // An empty file may be a holder between create and write: judged by age alone.
    fs::read_to_string(path)
        .ok()
        .and_then(|text| text.trim().parse::<u32>().ok())
        .is_some_and(|pid| !fsutil::pid_alive(pid))
}

impl Drop for DotLock {
    fn drop(&mut self) {
        // Only our own lock: if it was broken as stale, the file may now be someone else's.
        let ours = fs::read_to_string(&self.path)
            .ok()
            .and_then(|text| text.trim().parse::<u32>().ok())
            == Some(std::process::id());
        if ours {
            let _ = fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotlock_waits_then_reports_busy() {
        let dir = tempfile::tempdir().unwrap();
        let mbox = dir.path().join("mbox");
        let first = DotLock::acquire(&mbox, &Wait::new(Duration::ZERO, &mbox)).unwrap();
        let started = Instant::now();
        let err =
            DotLock::acquire(&mbox, &Wait::new(Duration::from_millis(150), &mbox)).unwrap_err();
        assert!(started.elapsed() >= Duration::from_millis(150));
        assert!(matches!(err, StoreError::Busy { .. }), "{err}");
        drop(first);
        assert!(!dir.path().join("mbox.lock").exists());
        DotLock::acquire(&mbox, &Wait::new(Duration::ZERO, &mbox)).unwrap();
    }

    #[test]
    fn dotlock_of_a_dead_process_is_broken() {
        let dir = tempfile::tempdir().unwrap();
        let mbox = dir.path().join("mbox");
        fs::write(dir.path().join("mbox.lock"), "2147483000\n").unwrap();
        let lock = DotLock::acquire(&mbox, &Wait::new(Duration::ZERO, &mbox)).unwrap();
        let text = fs::read_to_string(dir.path().join("mbox.lock")).unwrap();
        assert_eq!(text, format!("{}\n", std::process::id()));
        drop(lock);
    }

    #[test]
    fn dotlock_is_created_whole_and_leaves_no_private_file() {
        let dir = tempfile::tempdir().unwrap();
        let mbox = dir.path().join("mbox");
        let lock = DotLock::acquire(&mbox, &Wait::new(Duration::ZERO, &mbox)).unwrap();
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["mbox.lock"]);
        // A lock whose name exists is not taken, whatever else is there.
        assert!(!create_with_pid(&dir.path().join("mbox.lock"), 1).unwrap());
        drop(lock);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn state_lock_follows_a_replaced_file() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let first = lock_state_file(&state, &Wait::new(Duration::ZERO, dir.path())).unwrap();
        assert!(lock_state_file(&state, &Wait::new(Duration::ZERO, dir.path())).is_err());
        // The holder replaces the file (as a migration does) and locks the new one first.
        let tmp = dir.path().join("state.tmp");
        let second = File::create(&tmp).unwrap();
        second.try_lock().unwrap();
        fs::rename(&tmp, &state).unwrap();
        drop(first);
        // The old inode is free now, but the name points at a locked file: still busy.
        assert!(
            lock_state_file(&state, &Wait::new(Duration::from_millis(50), dir.path())).is_err()
        );
        drop(second);
        lock_state_file(&state, &Wait::new(Duration::ZERO, dir.path())).unwrap();
    }
}
