//! The one error type of the crate.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Everything that can go wrong while storing mail.
///
/// It is `Clone` because one failure (a failed directory fsync, say) must be reported to
/// every message of the batch it hit; the I/O cause is shared behind an [`Arc`].
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Another run holds the destination or its state file, and the lock timeout ran out.
    #[error("destination busy: {} is locked by another pop3 run", path.display())]
    Busy {
        /// The destination (mbox file, Maildir or `.eml` directory).
        path: PathBuf,
    },
    /// A file-system operation failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done, as a verb phrase (`"create"`, `"fsync"`, ...).
        action: &'static str,
        /// The file or directory it was done to.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: Arc<io::Error>,
    },
    /// A UID that RFC 1939 does not allow (1 to 70 characters in 0x21 to 0x7E).
    #[error("invalid UID {uid:?}: a UID is 1 to 70 characters in the range 0x21 to 0x7E")]
    InvalidUid {
        /// The offending UID (lossily printable).
        uid: String,
    },
    /// The same UID of the same account is already being written by another writer.
    #[error("UID {uid} of {account} is already being written")]
    InProgress {
        /// The account, in its state-file spelling.
        account: String,
        /// The UID.
        uid: String,
    },
    /// The state file was written by a newer version of this crate.
    #[error("state file {}: unsupported format {header:?}", path.display())]
    StateVersion {
        /// The state file.
        path: PathBuf,
        /// Its first line.
        header: String,
    },
    /// An earlier fsync failed, so what the kernel holds for these files is unknown; the
    /// store refuses further commits rather than record anything it cannot vouch for.
    #[error("the store stopped after an earlier failure: {reason}")]
    Poisoned {
        /// The first failure.
        reason: String,
    },
    /// The store was closed or aborted (or stopped by a simulated crash) before the
    /// request was done.
    #[error("the store is closed")]
    Closed,
}

impl StoreError {
    /// An [`StoreError::Io`] for `path`.
    pub(crate) fn io(action: &'static str, path: impl AsRef<Path>, source: io::Error) -> Self {
        Self::Io {
            action,
            path: path.as_ref().to_owned(),
            source: Arc::new(source),
        }
    }
}

/// Attaches an action and a path to an [`io::Result`].
pub(crate) trait IoContext<T> {
    /// Maps the error to [`StoreError::Io`].
    fn context(self, action: &'static str, path: impl AsRef<Path>) -> Result<T, StoreError>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn context(self, action: &'static str, path: impl AsRef<Path>) -> Result<T, StoreError> {
        self.map_err(|e| StoreError::io(action, path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_message_is_exact() {
        let e = StoreError::Busy {
            path: PathBuf::from("/home/u/mail/inbox"),
        };
        assert_eq!(
            e.to_string(),
            "destination busy: /home/u/mail/inbox is locked by another pop3 run"
        );
    }

    #[test]
    fn io_errors_name_the_path() {
        let e = StoreError::io("fsync", "/x/new", io::Error::other("boom"));
        assert_eq!(e.to_string(), "cannot fsync /x/new: boom");
        assert!(std::error::Error::source(&e).is_some());
    }
}
