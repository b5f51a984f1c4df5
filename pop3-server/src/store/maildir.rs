//! [`Maildir`]: serve an existing Maildir's messages.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use pop3_proto::Uid;
use pop3_proto::server::session::StoredMessage;
use sha2::{Digest, Sha256};

use super::Access;
use crate::Error;

/// The folders whose messages are served, in this order before sorting.
const FOLDERS: [&str; 2] = ["new", "cur"];

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    access: Access,
}

/// A Maildir served by a [`Server`](crate::Server): the messages in its `new/` and `cur/`
/// folders. A cloneable handle; clones share the session lock and the login counts.
///
/// * **UIDs** are the unique part of each file name (before the `:2,` flags), so they
///   stay the same when another program marks a message seen or moves it from `new/` to
///   `cur/`. A unique part that is not a valid POP3 UID (longer than 70 characters, or
///   with bytes outside 0x21..=0x7E) is replaced by the hex SHA-256 of it, as stable.
/// * **Line ends**: files with bare LF line ends (as most Maildir writers store them) are
///   sent with CRLF, dot-stuffed; sizes (STAT, LIST) count the message as sent.
/// * **Deletion**: DELE removes nothing until QUIT commits it; the files are then
///   removed, wherever they are now. A session that ends without QUIT removes nothing.
/// * **Snapshots**: a session reads the messages when it logs in and keeps them for its
///   life, as Dovecot does: messages removed by another session meanwhile can still be
///   retrieved, and messages delivered meanwhile are seen by the next session. The
///   snapshot is held in memory, which suits test and demo mailboxes rather than huge
///   ones.
/// * **Order**: messages are numbered by file modification time, then by file name.
///
/// The server only reads, except for the removals at QUIT; `tmp/` is never read.
///
/// ```
/// use pop3_server::Maildir;
///
/// let dir = tempfile::tempdir()?;
/// let maildir = Maildir::create(dir.path())?;
/// let uid = maildir.deliver("Subject: hi\n\nLF-only, sent with CRLF\n")?;
/// assert_eq!(maildir.uids()?, [uid]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Maildir {
    inner: Arc<Inner>,
}

/// A message file found in the Maildir.
#[derive(Debug)]
struct Entry {
    path: PathBuf,
    name: OsString,
    uid: Uid,
    modified: SystemTime,
}

impl Maildir {
    /// An existing Maildir: `path` must hold `new/` and `cur/` folders.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref().to_path_buf();
        for missing in FOLDERS {
            if !path.join(missing).is_dir() {
                return Err(Error::NotMaildir { path, missing });
            }
        }
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                access: Access::default(),
            }),
        })
    }

    /// Creates the Maildir's `tmp/`, `new/` and `cur/` folders (and `path` itself) where
    /// missing, then opens it.
    pub fn create(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        for folder in ["tmp", "new", "cur"] {
            let dir = path.join(folder);
            fs::create_dir_all(&dir)
                .map_err(Error::io(format!("cannot create {}", dir.display())))?;
        }
        Self::open(path)
    }

    /// The Maildir's folder.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    pub(crate) fn access(&self) -> &Access {
        &self.inner.access
    }

    /// Whether a session holds the session lock
    /// ([`Profile::LockSession`](crate::Profile::LockSession)).
    pub fn is_locked(&self) -> bool {
        self.inner.access.is_locked()
    }

    /// Delivers a message into `new/` (written in `tmp/`, then linked into place) under
    /// a fresh unique name, and returns its UID. The data is stored as given, LF or CRLF
    /// line ends alike. It is not synced to disk: this is for setting up tests.
    pub fn deliver(&self, data: impl AsRef<[u8]>) -> Result<String, Error> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        loop {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            let name = format!(
                "{:010}.M{:06}P{}Q{:09}.pop3-server",
                now.as_secs(),
                now.subsec_micros(),
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            );
            match self.deliver_as(&name, data.as_ref()) {
                Err(Error::DuplicateUid(_)) => {}
                other => return other.map(|()| name),
            }
        }
    }

    /// Delivers a message into `new/` under a file name that is exactly `uid`, which must
    /// be a valid POP3 UID (1 to 70 characters in 0x21..=0x7E), usable as a Maildir file
    /// name (no `/`, `\` or `:`, not starting with `.`), and not in the Maildir yet.
    pub fn deliver_with_uid(&self, uid: &str, data: impl AsRef<[u8]>) -> Result<(), Error> {
        let usable =
            Uid::new(uid).is_ok() && !uid.starts_with('.') && !uid.contains(['/', '\\', ':']);
        if !usable {
            return Err(Error::InvalidUid(uid.to_owned()));
        }
        if self.scan()?.iter().any(|e| e.uid.as_str() == uid) {
            return Err(Error::DuplicateUid(uid.to_owned()));
        }
        self.deliver_as(uid, data.as_ref())
    }

    /// Writes `tmp/name` and links it to `new/name`; `DuplicateUid` if that exists.
    fn deliver_as(&self, name: &str, data: &[u8]) -> Result<(), Error> {
        let tmp_dir = self.inner.path.join("tmp");
        fs::create_dir_all(&tmp_dir)
            .map_err(Error::io(format!("cannot create {}", tmp_dir.display())))?;
        let tmp = tmp_dir.join(name);
        let target = self.inner.path.join("new").join(name);
        let written = fs::File::create_new(&tmp).and_then(|mut file| file.write_all(data));
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            if e.kind() == io::ErrorKind::AlreadyExists {
                return Err(Error::DuplicateUid(name.to_owned()));
            }
            return Err(Error::io(format!("cannot write {}", tmp.display()))(e));
        }
        // A hard link never replaces an existing message, as a rename would.
        let linked = match fs::hard_link(&tmp, &target) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let _ = fs::remove_file(&tmp);
                return Err(Error::DuplicateUid(name.to_owned()));
            }
            Err(_) if !target.exists() => fs::rename(&tmp, &target),
            other => other,
        };
        let _ = fs::remove_file(&tmp);
        linked.map_err(Error::io(format!("cannot deliver to {}", target.display())))
    }

    /// The UIDs of the messages a session logging in now would see, in order.
    pub fn uids(&self) -> Result<Vec<String>, Error> {
        Ok(self
            .scan()?
            .into_iter()
            .map(|e| e.uid.as_str().to_owned())
            .collect())
    }

    /// The message files in `new/` and `cur/`, in serving order, one per UID.
    fn scan(&self) -> Result<Vec<Entry>, Error> {
        let mut entries = Vec::new();
        for folder in FOLDERS {
            let dir = self.inner.path.join(folder);
            let listing =
                fs::read_dir(&dir).map_err(Error::io(format!("cannot read {}", dir.display())))?;
            for entry in listing {
                let entry = entry.map_err(Error::io(format!("cannot read {}", dir.display())))?;
                let name = entry.file_name();
                if name.as_encoded_bytes().starts_with(b".") {
                    continue;
                }
                let path = entry.path();
                // Follows symbolic links; a file that vanished meanwhile is skipped.
                let Ok(metadata) = fs::metadata(&path) else {
                    continue;
                };
                if !metadata.is_file() {
                    continue;
                }
                entries.push(Entry {
                    uid: uid_of(name.as_encoded_bytes()),
                    modified: metadata.modified().unwrap_or(UNIX_EPOCH),
                    path,
                    name,
                });
            }
        }
        entries.sort_by(|a, b| (a.modified, &a.name).cmp(&(b.modified, &b.name)));
        let mut seen = HashSet::new();
        entries.retain(|e| seen.insert(e.uid.clone()));
        Ok(entries)
    }

    /// Reads every message, with CRLF line ends: what a session logging in sees.
    pub(crate) fn snapshot(&self) -> Result<Vec<StoredMessage>, Error> {
        let mut messages = Vec::new();
        for entry in self.scan()? {
            match fs::read(&entry.path) {
                Ok(data) => messages.push(StoredMessage {
                    uid: entry.uid,
                    data: Bytes::from(to_crlf(data)),
                }),
                // Moved or removed by another program since the scan.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(Error::io(format!("cannot read {}", entry.path.display()))(
                        e,
                    ));
                }
            }
        }
        Ok(messages)
    }

    /// Removes the files of these UIDs, wherever they are now. Files already gone are no
    /// error; the first other failure is reported after trying every file.
    pub(crate) fn remove_all(&self, uids: &[Uid]) -> Result<(), Error> {
        if uids.is_empty() {
            return Ok(());
        }
        let mut result = Ok(());
        for entry in self.scan()? {
            if !uids.contains(&entry.uid) {
                continue;
            }
            match fs::remove_file(&entry.path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    if result.is_ok() {
                        result =
                            Err(Error::io(format!("cannot remove {}", entry.path.display()))(e));
                    }
                }
            }
        }
        result
    }
}

/// The UID of a Maildir file name: its unique part (before `:`), or the hex SHA-256 of
/// that part when it is not a valid POP3 UID.
fn uid_of(name: &[u8]) -> Uid {
    let unique = name.split(|&b| b == b':').next().unwrap_or(name);
    if let Some(uid) = std::str::from_utf8(unique)
        .ok()
        .and_then(|s| Uid::new(s).ok())
    {
        return uid;
    }
    let mut hex = String::with_capacity(64);
    for byte in Sha256::digest(unique) {
        let _ = write!(hex, "{byte:02x}");
    }
    Uid::new(&hex).unwrap_or_else(|_| unreachable!("64 hex digits are a valid UID"))
}

/// Turns every bare LF into CRLF; CRLF stays as it is.
fn to_crlf(data: Vec<u8>) -> Vec<u8> {
    let bare = memchr::memchr_iter(b'\n', &data)
        .filter(|&i| i == 0 || data[i - 1] != b'\r')
        .count();
    if bare == 0 {
        return data;
    }
    let mut out = Vec::with_capacity(data.len() + bare);
    let mut start = 0;
    for i in memchr::memchr_iter(b'\n', &data) {
        if i == 0 || data[i - 1] != b'\r' {
            out.extend_from_slice(&data[start..i]);
            out.extend_from_slice(b"\r\n");
            start = i + 1;
        }
    }
    out.extend_from_slice(&data[start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_ends_become_crlf() {
        assert_eq!(to_crlf(b"a\nb\r\nc\n".to_vec()), b"a\r\nb\r\nc\r\n");
        assert_eq!(to_crlf(b"\n\n".to_vec()), b"\r\n\r\n");
        assert_eq!(to_crlf(b"no end".to_vec()), b"no end");
        assert_eq!(to_crlf(b"x\r\n".to_vec()), b"x\r\n");
        assert_eq!(to_crlf(b"bare\rcr\n".to_vec()), b"bare\rcr\r\n");
        assert_eq!(to_crlf(Vec::new()), b"");
    }

    #[test]
    fn uids_come_from_the_unique_part() {
        assert_eq!(uid_of(b"1700.M1P2.host:2,S").as_str(), "1700.M1P2.host");
        assert_eq!(uid_of(b"1700.M1P2.host").as_str(), "1700.M1P2.host");
        let long = [b'x'; 71];
        let hashed = uid_of(&long);
        assert_eq!(hashed.as_str().len(), 64);
        assert_eq!(hashed, uid_of(&long), "stable");
        assert_ne!(uid_of(b"caf\xc3\xa9"), uid_of(b"caf\xc3\xa8"));
        assert_eq!(uid_of(b":2,S").as_str().len(), 64, "empty unique part");
    }

    #[test]
    fn open_refuses_a_folder_that_is_not_a_maildir() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        fs::create_dir(dir.path().join("new"))?;
        assert!(matches!(
            Maildir::open(dir.path()),
            Err(Error::NotMaildir { missing: "cur", .. })
        ));
        Ok(())
    }

    #[test]
    fn scan_merges_new_and_cur_and_skips_the_rest() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let maildir = Maildir::create(dir.path())?;
        fs::write(dir.path().join("new/b"), "B\n")?;
        fs::write(dir.path().join("cur/a:2,S"), "A\n")?;
        fs::write(dir.path().join("cur/.hidden"), "H\n")?;
        fs::write(dir.path().join("tmp/t"), "T\n")?;
        fs::create_dir(dir.path().join("cur/sub"))?;
        // The same unique part twice: served once.
        fs::write(dir.path().join("cur/b:2,S"), "B again\n")?;
        let mut uids = maildir.uids()?;
        uids.sort();
        assert_eq!(uids, ["a", "b"]);
        let snapshot = maildir.snapshot()?;
        assert_eq!(snapshot.len(), 2);
        assert!(snapshot.iter().all(|m| m.data.ends_with(b"\r\n")));
        Ok(())
    }

    #[test]
    fn deliveries_get_unique_names_and_chosen_uids_are_checked()
    -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let maildir = Maildir::create(dir.path())?;
        let a = maildir.deliver("A\n")?;
        let b = maildir.deliver("B\n")?;
        assert_ne!(a, b);
        maildir.deliver_with_uid("chosen", "C\n")?;
        for bad in ["", ".dot", "a/b", "a:b", "has space"] {
            assert!(
                matches!(
                    maildir.deliver_with_uid(bad, "x"),
                    Err(Error::InvalidUid(_))
                ),
                "{bad:?}"
            );
        }
        assert!(matches!(
            maildir.deliver_with_uid("chosen", "again"),
            Err(Error::DuplicateUid(_))
        ));
        assert_eq!(maildir.uids()?.len(), 3);
        assert_eq!(fs::read_dir(dir.path().join("tmp"))?.count(), 0);
        let uid = Uid::new(&a)?;
        maildir.remove_all(std::slice::from_ref(&uid))?;
        maildir.remove_all(&[uid])?; // already gone: no error
        assert_eq!(maildir.uids()?.len(), 2);
        Ok(())
    }
}
