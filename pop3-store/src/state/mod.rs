//! The UIDL state file: loaded (and migrated from the old one-UID-per-line format) at
//! open, then owned by the committer, which appends to it and fsyncs it per batch.

mod index;
mod line;

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

pub(crate) use index::{Index, Recorded};
pub(crate) use line::{HEADER, Intent, Line, MboxSpan, Target};

use crate::Account;
use crate::error::{IoContext, StoreError};
use crate::fsutil::{self, write_counted};
use crate::lock::{self, Wait};
use crate::names::check_uid;
use crate::stats::{Stats, Written};

/// What the file held when it was opened.
#[derive(Debug, Default)]
pub(crate) struct Loaded {
    /// The recorded UIDs.
    pub(crate) index: Index,
    /// Intents with neither `D` nor `X`: a run stopped between making a message durable and
    /// recording it, or before the message was durable. Recovery decides which.
    pub(crate) unresolved: Vec<Intent>,
    /// Entries taken over from an old-format file.
    pub(crate) migrated: usize,
}

/// The locked, open state file.
#[derive(Debug)]
pub(crate) struct StateFile {
    path: PathBuf,
    file: File,
    /// Lines in the file (header included), to decide when to compact.
    lines: usize,
    next_seq: u64,
}

impl StateFile {
    /// Locks and loads the state file at `path` (missing: created empty).
    ///
    /// An old-format file (one UID per line, no header) is migrated: its UIDs are given to
    /// `legacy_owner`, the account of the first run that opens it, because the old format
    /// never said whose they were; the file is rewritten atomically in the new format.
    pub(crate) fn open(
        path: &Path,
        legacy_owner: &Account,
        wait: &Wait,
        stats: &Stats,
    ) -> Result<(Self, Loaded), StoreError> {
        let mut file = lock::lock_state_file(path, wait)?;
        let mut raw = Vec::new();
        file.seek(SeekFrom::Start(0))
            .and_then(|_| file.read_to_end(&mut raw))
            .context("read", path)?;
        // A write torn by a crash leaves a last line without its newline: it is ignored,
        // and cut off so that the next append starts on a line of its own.
        let complete = raw.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        if complete < raw.len() {
            file.set_len(complete as u64)
                .context("truncate torn line of", path)?;
            raw.truncate(complete);
        }
        let mut state = Self {
            path: path.to_owned(),
            file,
            lines: 0,
            next_seq: 1,
        };
        let text = String::from_utf8_lossy(&raw);
        let mut lines = text.lines();
        let loaded = match lines.next() {
            None => {
                state.append(&[], stats)?;
                Loaded::default()
            }
            Some(HEADER) => state.load(lines),
            Some(first) if first.starts_with("pop3-uidl ") => {
                return Err(StoreError::StateVersion {
                    path: path.to_owned(),
                    header: first.to_owned(),
                });
            }
            Some(first) => {
                let owner = legacy_owner.key();
                let mut index = Index::default();
                for uid in std::iter::once(first).chain(lines).map(str::trim) {
                    if check_uid(uid).is_ok() {
                        index.insert(&owner, uid, None);
                    }
                }
                state.rewrite(&index, stats)?;
                Loaded {
                    migrated: index.len(),
                    index,
                    unresolved: Vec::new(),
                }
            }
        };
        Ok((state, loaded))
    }

    /// Replays format-2 lines.
    fn load<'a>(&mut self, lines: impl Iterator<Item = &'a str>) -> Loaded {
        let mut index = Index::default();
        let mut open = BTreeMap::new();
        self.lines = 1;
        for text in lines {
            self.lines += 1;
            match Line::parse(text) {
                Some(Line::Seen { account, uid, name }) => index.insert(&account, &uid, name),
                Some(Line::Forget { account, uid }) => index.remove(&account, &uid),
                Some(Line::Intent(intent)) => {
                    self.next_seq = self.next_seq.max(intent.seq + 1);
                    open.insert(intent.seq, intent);
                }
                Some(Line::Done(seq)) => {
                    if let Some(intent) = open.remove(&seq) {
                        let name = match intent.target {
                            Target::Eml { name, .. } => Some(name),
                            _ => None,
                        };
                        index.insert(&intent.account, &intent.uid, name);
                    }
                }
                Some(Line::Abandoned(seq)) => {
                    open.remove(&seq);
                }
                None => {}
            }
        }
        Loaded {
            index,
            unresolved: open.into_values().collect(),
            migrated: 0,
        }
    }

    /// A fresh intent sequence number.
    pub(crate) fn next_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    /// Appends `lines` in one write (the header first if the file is empty). Not durable
    /// until [`StateFile::sync`].
    pub(crate) fn append(&mut self, lines: &[Line], stats: &Stats) -> Result<(), StoreError> {
        let mut text = String::with_capacity(64 * lines.len() + HEADER.len() + 1);
        if self.lines == 0 {
            text.push_str(HEADER);
            text.push('\n');
            self.lines = 1;
        }
        for line in lines {
            line.write_to(&mut text);
        }
        self.lines += lines.len();
        write_counted(&mut self.file, text.as_bytes(), stats, Written::State)
            .context("append to", &self.path)
    }

    /// fsync: everything appended so far is durable.
    pub(crate) fn sync(&mut self, stats: &Stats) -> Result<(), StoreError> {
        stats.fsync();
        self.file.sync_data().context("fsync", &self.path)
    }

    /// Whether the file has grown well past its content (resolved intents, forgotten
    /// entries) and deserves [`StateFile::rewrite`].
    pub(crate) fn wants_compaction(&self, index: &Index) -> bool {
        self.lines > 2 * index.len() + 1024
    }

    /// Replaces the file atomically with one `+` line per entry of `index`: written to a
    /// temporary file (locked before it gets the name, so that the lock never lapses),
    /// fsynced, renamed over the old one, and the directory fsynced.
    pub(crate) fn rewrite(&mut self, index: &Index, stats: &Stats) -> Result<(), StoreError> {
        let tmp = fsutil::with_suffix(&self.path, ".tmp");
        match fs::remove_file(&tmp) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::io("remove", &tmp, e)),
        }
        let mut file = fsutil::create_new_private(&tmp)?;
        file.try_lock()
            .map_err(|e| StoreError::io("lock", &tmp, std::io::Error::other(e.to_string())))?;
        let mut text = String::with_capacity(64 * index.len() + HEADER.len() + 1);
        text.push_str(HEADER);
        text.push('\n');
        for (account, uid, name) in index.entries() {
            Line::Seen {
                account: account.to_owned(),
                uid: uid.to_owned(),
                name: name.map(str::to_owned),
            }
            .write_to(&mut text);
        }
        write_counted(&mut file, text.as_bytes(), stats, Written::State).context("write", &tmp)?;
        stats.fsync();
        file.sync_all().context("fsync", &tmp)?;
        fs::rename(&tmp, &self.path).context("rename into place", &self.path)?;
        fsutil::sync_dir(&fsutil::parent_dir(&self.path), stats)?;
        self.file = file;
        self.lines = 1 + index.len();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn open(path: &Path, owner: &Account) -> (StateFile, Loaded) {
        StateFile::open(
            path,
            owner,
            &Wait::new(Duration::ZERO, path),
            &Stats::default(),
        )
        .unwrap()
    }

    #[test]
    fn old_format_is_migrated_to_the_first_opener() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".pop3-uidl");
        // The last line, without its newline, is a torn write: not a UID.
        fs::write(&path, "uid-1\nuid-2\n\nnot a uid\nuid-3\nuid-").unwrap();
        let alice = Account::new("alice", "pop.example.com", 995);
        let (state, loaded) = open(&path, &alice);
        assert_eq!(loaded.migrated, 3);
        assert!(loaded.index.contains(&alice.key(), "uid-3"));
        assert!(!loaded.index.contains(&alice.key(), "uid-"));
        drop(state);
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("pop3-uidl 2\n"), "{text}");
        // Reopened by another account: the entries stay alice's.
        let bob = Account::new("bob", "pop.example.com", 995);
        let (_, loaded) = open(&path, &bob);
        assert_eq!(loaded.migrated, 0);
        assert!(loaded.index.contains(&alice.key(), "uid-1"));
        assert!(!loaded.index.contains(&bob.key(), "uid-1"));
    }

    #[test]
    fn torn_last_line_is_ignored_and_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let a = Account::new("a", "h", 1).key();
        fs::write(&path, format!("pop3-uidl 2\n+ {a} one\n+ {a} tw")).unwrap();
        let (mut state, loaded) = open(&path, &Account::new("a", "h", 1));
        assert!(loaded.index.contains(&a, "one"));
        assert!(!loaded.index.contains(&a, "tw"));
        state
            .append(
                &[Line::Seen {
                    account: a.clone(),
                    uid: "two".into(),
                    name: None,
                }],
                &Stats::default(),
            )
            .unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            format!("pop3-uidl 2\n+ {a} one\n+ {a} two\n")
        );
    }

    #[test]
    fn intents_resolve_by_sequence() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let a = Account::new("a", "h", 1).key();
        fs::write(
            &path,
            format!(
                "pop3-uidl 2\nI 1 {a} u1 M n1\nI 2 {a} u2 M n2\nI 3 {a} u3 E .t u3.eml\nD 1\nX 2\n- {a} u0\n"
            ),
        )
        .unwrap();
        let (mut state, loaded) = open(&path, &Account::new("a", "h", 1));
        assert!(loaded.index.contains(&a, "u1"));
        assert!(!loaded.index.contains(&a, "u2"));
        assert_eq!(loaded.unresolved.len(), 1);
        assert_eq!(loaded.unresolved[0].uid, "u3");
        assert_eq!(state.next_seq(), 4);
    }

    #[test]
    fn newer_formats_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        fs::write(&path, "pop3-uidl 3\n").unwrap();
        let err = StateFile::open(
            &path,
            &Account::new("a", "h", 1),
            &Wait::new(Duration::ZERO, &path),
            &Stats::default(),
        )
        .unwrap_err();
        assert!(matches!(err, StoreError::StateVersion { .. }), "{err}");
        assert_eq!(fs::read_to_string(&path).unwrap(), "pop3-uidl 3\n");
    }
}
