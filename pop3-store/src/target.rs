//! Destinations, their default state files, and the names of the temporary files the store
//! makes in them (recognisable later, so that a crashed run's leftovers can be removed).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::StoreError;
use crate::fsutil;

/// Where messages go.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Target {
    /// A Maildir (created if missing): each message written to `tmp/`, fsynced, renamed
    /// into `new/`. LF line ends.
    Maildir(PathBuf),
    /// An mboxrd file, appended to (created if missing). LF line ends, `From ` lines
    /// quoted, each message preceded by a `From ` separator line. Messages are appended in
    /// the order they are committed, which for concurrent writers is not the server's.
    Mbox(PathBuf),
    /// A directory of `<UID>.eml` files holding exactly the bytes received (CRLF kept).
    EmlDir(PathBuf),
}

impl Target {
    /// The directory or file.
    pub fn path(&self) -> &Path {
        match self {
            Self::Maildir(p) | Self::Mbox(p) | Self::EmlDir(p) => p,
        }
    }

    /// The state file used unless another is chosen: `DIR/.pop3-uidl` for a Maildir or an
    /// `.eml` directory, `FILE.pop3-uidl` for an mbox.
    pub fn default_state_path(&self) -> PathBuf {
        match self {
            Self::Maildir(dir) | Self::EmlDir(dir) => dir.join(".pop3-uidl"),
            Self::Mbox(file) => fsutil::with_suffix(file, ".pop3-uidl"),
        }
    }

    /// Creates what must exist before the first message: directories with mode 0700.
    pub(crate) fn prepare(&self) -> Result<(), StoreError> {
        match self {
            Self::Maildir(dir) => {
                for sub in ["tmp", "new", "cur"] {
                    fsutil::create_private_dirs(&dir.join(sub))?;
                }
                Ok(())
            }
            Self::EmlDir(dir) => fsutil::create_private_dirs(dir),
            Self::Mbox(file) => fsutil::create_private_dirs(&fsutil::parent_dir(file)),
        }
    }
}

/// Distinguishes temporary files within one process.
static SERIAL: AtomicU64 = AtomicU64::new(0);

fn serial() -> u64 {
    SERIAL.fetch_add(1, Ordering::Relaxed)
}

/// A Maildir file name, `SECS.MMICROSPPIDQN_pop3.HOST`: the usual unique-name recipe,
/// marked `_pop3` so that a crashed run's files in tmp/ can be told from other
/// deliverers'.
pub(crate) fn maildir_name(host: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format!(
        "{}.M{}P{}Q{}_pop3.{host}",
        now.as_secs(),
        now.subsec_micros(),
        std::process::id(),
        serial()
    )
}

/// The writer's process of a Maildir file name of ours on `host`.
pub(crate) fn maildir_name_pid(name: &str, host: &str) -> Option<u32> {
    let unique = name.strip_suffix(host)?.strip_suffix("_pop3.")?;
    let (_, after_p) = unique.rsplit_once('P')?;
    after_p.split_once('Q')?.0.parse().ok()
}

/// A temporary `.eml` name: `.<name>.pop3-PID-N.tmp` (hidden, so that readers of
/// `*.eml` never see a partial message).
pub(crate) fn eml_tmp_name(file_name: &str) -> String {
    format!(".{file_name}.pop3-{}-{}.tmp", std::process::id(), serial())
}

/// The writer's process of a temporary `.eml` name of ours.
pub(crate) fn eml_tmp_pid(name: &str) -> Option<u32> {
    let middle = name.strip_prefix('.')?.strip_suffix(".tmp")?;
    let (_, tag) = middle.rsplit_once(".pop3-")?;
    tag.split_once('-')?.0.parse().ok()
}

/// The spool file of an mbox message that outgrew memory: `.FILE.pop3-spool-PID-N`, next
/// to the mbox so that the append can be a same-file-system copy.
pub(crate) fn spool_path(mbox: &Path) -> PathBuf {
    let name = mbox
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    fsutil::parent_dir(mbox).join(format!(
        ".{name}.pop3-spool-{}-{}",
        std::process::id(),
        serial()
    ))
}

/// The writer's process of a spool file of ours for `mbox_name`.
pub(crate) fn spool_pid(name: &str, mbox_name: &str) -> Option<u32> {
    let tag = name
        .strip_prefix('.')?
        .strip_prefix(mbox_name)?
        .strip_prefix(".pop3-spool-")?;
    tag.split_once('-')?.0.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_state_paths() {
        assert_eq!(
            Target::Maildir("/m".into()).default_state_path(),
            Path::new("/m/.pop3-uidl")
        );
        assert_eq!(
            Target::EmlDir("/e".into()).default_state_path(),
            Path::new("/e/.pop3-uidl")
        );
        assert_eq!(
            Target::Mbox("/x/inbox".into()).default_state_path(),
            Path::new("/x/inbox.pop3-uidl")
        );
    }

    #[test]
    fn temporary_names_carry_their_pid() {
        let pid = std::process::id();
        let m = maildir_name("host.example");
        assert_eq!(maildir_name_pid(&m, "host.example"), Some(pid));
        assert_eq!(maildir_name_pid(&m, "other"), None);
        assert_eq!(
            maildir_name_pid("1.M2P3Q4.host.example", "host.example"),
            None
        );
        let e = eml_tmp_name("a%2Fb");
        assert!(e.starts_with(".a%2Fb.pop3-"));
        assert_eq!(eml_tmp_pid(&e), Some(pid));
        assert_eq!(eml_tmp_pid("a.eml"), None);
        let s = spool_path(Path::new("/x/inbox"));
        let s = s.file_name().unwrap().to_str().unwrap();
        assert_eq!(spool_pid(s, "inbox"), Some(pid));
        assert_eq!(spool_pid(s, "inbo"), None);
    }
}
