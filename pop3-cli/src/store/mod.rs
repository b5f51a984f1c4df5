//! Where fetched messages go: `.eml` files, a Maildir or an mbox, each committing a
//! message durably only once it is complete; and the state file of stored UIDs.

mod eml;
mod maildir;
mod mbox;
mod state;
mod transform;

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

pub(crate) use state::StateFile;

/// A destination for complete messages.
pub(crate) enum Destination {
    Eml(eml::EmlDir),
    Maildir(maildir::Maildir),
    Mbox(mbox::Mbox),
}

impl Destination {
    /// `.eml` files in `dir`.
    pub(crate) async fn eml(dir: &Path) -> io::Result<Self> {
        Ok(Self::Eml(eml::EmlDir::open(dir).await?))
    }

    /// A Maildir at `dir`, created if missing.
    pub(crate) async fn maildir(dir: &Path) -> io::Result<Self> {
        Ok(Self::Maildir(maildir::Maildir::open(dir).await?))
    }

    /// An mbox file, appended to.
    pub(crate) async fn mbox(file: &Path) -> io::Result<Self> {
        Ok(Self::Mbox(mbox::Mbox::open(file).await?))
    }

    /// The default state file for this destination.
    pub(crate) fn default_state(&self) -> PathBuf {
        match self {
            Self::Eml(d) => d.dir().join(".pop3-uidl"),
            Self::Maildir(m) => m.dir().join(".pop3-uidl"),
            Self::Mbox(m) => {
                let mut name = m.path().as_os_str().to_owned();
                name.push(".pop3-uidl");
                PathBuf::from(name)
            }
        }
    }

    /// Starts a message.
    pub(crate) async fn begin(&mut self, uid: &str) -> io::Result<()> {
        match self {
            Self::Eml(d) => d.begin(uid).await,
            Self::Maildir(m) => m.begin().await,
            Self::Mbox(m) => m.begin().await,
        }
    }

    /// Appends to the current message.
    pub(crate) async fn write(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            Self::Eml(d) => d.write(data).await,
            Self::Maildir(m) => m.write(data).await,
            Self::Mbox(m) => m.write(data).await,
        }
    }

    /// Makes the current message durable (fsync, then rename or append).
    pub(crate) async fn commit(&mut self) -> io::Result<()> {
        match self {
            Self::Eml(d) => d.commit().await,
            Self::Maildir(m) => m.commit().await,
            Self::Mbox(m) => m.commit().await,
        }
    }

    /// Drops the current message, leaving nothing behind.
    pub(crate) async fn abort(&mut self) {
        match self {
            Self::Eml(d) => d.abort().await,
            Self::Maildir(m) => m.abort().await,
            Self::Mbox(m) => m.abort().await,
        }
    }

    /// Makes renames durable (fsync of the directories).
    pub(crate) async fn finish(&mut self) -> io::Result<()> {
        match self {
            Self::Eml(d) => sync_dir(d.dir()).await,
            Self::Maildir(m) => sync_dir(&m.dir().join("new")).await,
            Self::Mbox(_) => Ok(()),
        }
    }
}

/// fsync of a directory, so that renames into it survive a crash.
pub(crate) async fn sync_dir(dir: &Path) -> io::Result<()> {
    tokio::fs::File::open(dir).await?.sync_all().await
}

/// A UID as a file name: every byte outside `[A-Za-z0-9._-]` percent-encoded.
pub(crate) fn uid_file_name(uid: &str) -> String {
    let mut name = String::with_capacity(uid.len());
    for b in uid.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-') {
            name.push(char::from(b));
        } else {
            let _ = write!(name, "%{b:02X}");
        }
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_file_names_are_safe() {
        assert_eq!(uid_file_name("000000016b04df8d"), "000000016b04df8d");
        assert_eq!(uid_file_name("a/b"), "a%2Fb");
        assert_eq!(uid_file_name("x:y+z=%"), "x%3Ay%2Bz%3D%25");
        assert_eq!(uid_file_name("QhdPYR:00WBw1Ph7x7"), "QhdPYR%3A00WBw1Ph7x7");
    }
}
