//! The state file: one UID per line, appended (and fsynced) after each durable store.

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};

use tokio::io::AsyncWriteExt;

/// UIDs stored by earlier runs, and the file new ones are appended to.
pub(crate) struct StateFile {
    path: PathBuf,
    known: HashSet<String>,
    file: Option<tokio::fs::File>,
}

impl StateFile {
    /// Loads `path` (a missing file is an empty state).
    pub(crate) async fn load(path: &Path) -> io::Result<Self> {
        let known = match tokio::fs::read_to_string(path).await {
            Ok(text) => text
                .lines()
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => HashSet::new(),
            Err(e) => return Err(e),
        };
        Ok(Self {
            path: path.to_owned(),
            known,
            file: None,
        })
    }

    /// Whether `uid` was stored before.
    pub(crate) fn contains(&self, uid: &str) -> bool {
        self.known.contains(uid)
    }

    /// Records `uid` as stored, durably.
    pub(crate) async fn record(&mut self, uid: &str) -> io::Result<()> {
        if !self.known.insert(uid.to_owned()) {
            return Ok(());
        }
        if self.file.is_none() {
            let file = tokio::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .await?;
            self.file = Some(file);
        }
        if let Some(file) = &mut self.file {
            file.write_all(format!("{uid}\n").as_bytes()).await?;
            file.flush().await?;
            file.sync_data().await?;
        }
        Ok(())
    }
}
