//! Start-up recovery: resolving the intents an interrupted run left open, and removing its
//! temporary files.
//!
//! An intent is durable before its message is put in place, so an intent without `D` or
//! `X` means the run stopped somewhere between "about to place" and "recorded". What is on
//! disk decides:
//! - Maildir: `new/NAME` (or a `cur/NAME:2,...` a reader moved it to) exists → the
//!   message is there: record its UID. Otherwise abandon it. `tmp/NAME` is removed.
//! - `.eml`: the temporary file still exists → the rename never happened: remove it and
//!   abandon. Else the final file exists → record.
//! - mbox: the bytes at the recorded offset hash to the recorded record → record. A
//!   partial record of ours (recognised by its `From ` line's hash) at the end of the file
//!   → truncate it away (fsynced) and abandon. Anything else is not ours: left alone.
//!
//! An abandoned UID is simply not recorded, so the next fetch downloads it again.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::Account;
use crate::error::{IoContext, StoreError};
use crate::fsutil;
use crate::hash::{ContentHash, record_hash};
use crate::state::{Intent, Line, Loaded, MboxSpan, StateFile, Target as IntentTarget};
use crate::stats::Stats;
use crate::target::{self, Target};

/// What [`crate::Store::open`] found of an interrupted earlier run, and did about it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecoveryReport {
    /// Messages found durable but unrecorded: now recorded, so not delivered again.
    pub recorded: Vec<(Account, String)>,
    /// Messages interrupted before they were durable: not stored, fetched again next time.
    pub abandoned: Vec<(Account, String)>,
    /// Bytes of partial mbox records cut off the end of the mbox.
    pub truncated_bytes: u64,
    /// Temporary files of crashed runs that were removed.
    pub removed: Vec<PathBuf>,
    /// Entries taken over from an old-format state file (given to the opening account).
    pub migrated: usize,
}

/// What an mbox intent's bytes turned out to be.
enum MboxFound {
    Complete,
    Partial,
    NotOurs,
}

/// Resolves `loaded.unresolved` against the destination and records the outcome durably.
pub(crate) fn recover(
    target: &Target,
    host: &str,
    state: &mut StateFile,
    loaded: &mut Loaded,
    mut mbox: Option<&mut File>,
    stats: &Stats,
) -> Result<RecoveryReport, StoreError> {
    let mut report = RecoveryReport::default();
    let mut lines = Vec::new();
    for intent in std::mem::take(&mut loaded.unresolved) {
        let record = match (&intent.target, target, mbox.as_deref_mut()) {
            (IntentTarget::Maildir { name }, Target::Maildir(dir), _) => {
                remove_if_present(&dir.join("tmp").join(name), &mut report)?;
                in_maildir(dir, name)?
            }
            (IntentTarget::Eml { tmp, name }, Target::EmlDir(dir), _) => {
                let renamed = !remove_if_present(&dir.join(tmp), &mut report)?;
                renamed && exists(&dir.join(name))?
            }
            (IntentTarget::Mbox(span), Target::Mbox(path), Some(file)) => {
                match examine_mbox(file, span).context("read", path)? {
                    MboxFound::Complete => true,
                    MboxFound::Partial => {
                        let len = file.metadata().context("stat", path)?.len();
                        file.set_len(span.offset).context("truncate", path)?;
                        stats.fsync();
                        file.sync_data().context("fsync", path)?;
                        report.truncated_bytes += len - span.offset;
                        false
                    }
                    MboxFound::NotOurs => false,
                }
            }
            // An intent for another kind of destination: the state file was used with a
            // different target; nothing of it can be checked here.
            _ => false,
        };
        resolve(intent, record, loaded, &mut lines, &mut report);
    }
    if !lines.is_empty() {
        state.append(&lines, stats)?;
        state.sync(stats)?;
    }
    remove_stale_temporaries(target, host, &mut report)?;
    Ok(report)
}

fn resolve(
    intent: Intent,
    record: bool,
    loaded: &mut Loaded,
    lines: &mut Vec<Line>,
    report: &mut RecoveryReport,
) {
    let account = Account::from_key(&intent.account);
    if record {
        lines.push(Line::Done(intent.seq));
        let name = match intent.target {
            IntentTarget::Eml { name, .. } => Some(name),
            _ => None,
        };
        loaded.index.insert(&intent.account, &intent.uid, name);
        if let Some(account) = account {
            report.recorded.push((account, intent.uid));
        }
    } else {
        lines.push(Line::Abandoned(intent.seq));
        if let Some(account) = account {
            report.abandoned.push((account, intent.uid));
        }
    }
}

fn exists(path: &Path) -> Result<bool, StoreError> {
    match fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(StoreError::io("stat", path, e)),
    }
}

/// Removes `path` if it exists; whether it did.
fn remove_if_present(path: &Path, report: &mut RecoveryReport) -> Result<bool, StoreError> {
    match fs::remove_file(path) {
        Ok(()) => {
            report.removed.push(path.to_owned());
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(StoreError::io("remove", path, e)),
    }
}

/// Whether a Maildir message named `name` was delivered: in `new/`, or moved to `cur/` by
/// a reader (`NAME:2,FLAGS`).
fn in_maildir(dir: &Path, name: &str) -> Result<bool, StoreError> {
    if exists(&dir.join("new").join(name))? {
        return Ok(true);
    }
    let cur = dir.join("cur");
    let entries = fs::read_dir(&cur).context("read directory", &cur)?;
    for entry in entries {
        let entry = entry.context("read directory", &cur)?;
        let file = entry.file_name();
        let file = file.to_string_lossy();
        if file == name
            || file
                .strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(':'))
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Decides what the mbox holds where an intent said a record would go.
fn examine_mbox(file: &mut File, span: &MboxSpan) -> io::Result<MboxFound> {
    let len = file.metadata()?.len();
    if len <= span.offset {
        return Ok(MboxFound::NotOurs);
    }
    let end = span.offset + span.len;
    if len >= end && hash_record(file, span)? == span.hash {
        return Ok(MboxFound::Complete);
    }
    // Only the very end of the file is ever cut, and only if it starts as ours did.
    if len > end {
        return Ok(MboxFound::NotOurs);
    }
    let present = len - span.offset;
    let ours = if present >= span.from_len {
        let from = fsutil::read_at(
            file,
            span.offset,
            usize::try_from(span.from_len).unwrap_or(0),
        )?;
        ContentHash::of(&from) == span.from_hash
    } else {
        let head = fsutil::read_at(file, span.offset, usize::try_from(present).unwrap_or(0))?;
        b"From ".starts_with(&head[..head.len().min(5)])
    };
    Ok(if ours {
        MboxFound::Partial
    } else {
        MboxFound::NotOurs
    })
}

/// [`record_hash`] of the bytes in `span`, read in blocks.
fn hash_record(file: &mut File, span: &MboxSpan) -> io::Result<u64> {
    file.seek(SeekFrom::Start(span.offset))?;
    let mut from = ContentHash::default();
    let mut rest = ContentHash::default();
    let mut buf = vec![0; 128 * 1024];
    let mut at = 0u64;
    let mut reader = file.take(span.len);
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let block = &buf[..n];
        let split = usize::try_from(span.from_len.saturating_sub(at)).map_or(n, |s| s.min(n));
        from.update(&block[..split]);
        rest.update(&block[split..]);
        at += n as u64;
    }
    Ok(record_hash(from.finish(), rest.finish()))
}

/// Reads the writer's PID out of a temporary file's name, if the name is one of ours.
type PidOf = Box<dyn Fn(&str) -> Option<u32>>;

/// Removes temporary files that our own naming marks as a store's, written by a process
/// of this host that no longer exists (another live run, or this process, is left alone).
fn remove_stale_temporaries(
    target: &Target,
    host: &str,
    report: &mut RecoveryReport,
) -> Result<(), StoreError> {
    let (dir, owner): (PathBuf, PidOf) = match target {
        Target::Maildir(dir) => {
            let host = host.to_owned();
            (
                dir.join("tmp"),
                Box::new(move |n| target::maildir_name_pid(n, &host)),
            )
        }
        Target::EmlDir(dir) => (dir.clone(), Box::new(target::eml_tmp_pid)),
        Target::Mbox(file) => {
            let mbox_name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (
                fsutil::parent_dir(file),
                Box::new(move |n| target::spool_pid(n, &mbox_name)),
            )
        }
    };
    let me = std::process::id();
    let entries = fs::read_dir(&dir).context("read directory", &dir)?;
    for entry in entries {
        let entry = entry.context("read directory", &dir)?;
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(&owner) else {
            continue;
        };
        if pid != me && !fsutil::pid_alive(pid) {
            remove_if_present(&entry.path(), report)?;
        }
    }
    Ok(())
}
