//! `--eml-dir`: one `<UID>.eml` file per message, bytes exactly as the server sent them.

use std::io;
use std::path::{Path, PathBuf};

use tokio::io::AsyncWriteExt;

use super::uid_file_name;

/// A directory of `.eml` files.
pub(crate) struct EmlDir {
    dir: PathBuf,
    current: Option<(tokio::fs::File, PathBuf, PathBuf)>,
}

impl EmlDir {
    pub(crate) async fn open(dir: &Path) -> io::Result<Self> {
        tokio::fs::create_dir_all(dir).await?;
        Ok(Self {
            dir: dir.to_owned(),
            current: None,
        })
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    pub(crate) async fn begin(&mut self, uid: &str) -> io::Result<()> {
        let name = uid_file_name(uid);
        let final_path = self.dir.join(format!("{name}.eml"));
        // A hidden temporary name: an interrupted run never leaves a partial .eml.
        let partial = self.dir.join(format!(".{name}.eml.part"));
        let file = tokio::fs::File::create(&partial).await?;
        self.current = Some((file, partial, final_path));
        Ok(())
    }

    pub(crate) async fn write(&mut self, data: &[u8]) -> io::Result<()> {
        match &mut self.current {
            Some((file, _, _)) => file.write_all(data).await,
            None => Err(io::Error::other("no message started")),
        }
    }

    pub(crate) async fn commit(&mut self) -> io::Result<()> {
        let Some((mut file, partial, final_path)) = self.current.take() else {
            return Err(io::Error::other("no message started"));
        };
        file.flush().await?;
        file.sync_all().await?;
        drop(file);
        tokio::fs::rename(&partial, &final_path).await
    }

    pub(crate) async fn abort(&mut self) {
        if let Some((file, partial, _)) = self.current.take() {
            drop(file);
            let _ = tokio::fs::remove_file(partial).await;
        }
    }
}
