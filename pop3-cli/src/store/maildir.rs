//! `--maildir`: tmp/ → fsync → new/, LF line ends.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::io::AsyncWriteExt;

use super::transform::CrlfToLf;

/// Distinguishes deliveries within one process (Maildir unique names).
static DELIVERIES: AtomicU64 = AtomicU64::new(0);

/// A Maildir.
pub(crate) struct Maildir {
    dir: PathBuf,
    host: String,
    current: Option<(tokio::fs::File, String, CrlfToLf)>,
}

impl Maildir {
    pub(crate) async fn open(dir: &Path) -> io::Result<Self> {
        for sub in ["tmp", "new", "cur"] {
            tokio::fs::create_dir_all(dir.join(sub)).await?;
        }
        let host = std::fs::read_to_string("/etc/hostname")
            .ok()
            .map(|h| h.trim().replace(['/', ':'], "_"))
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".into());
        Ok(Self {
            dir: dir.to_owned(),
            host,
            current: None,
        })
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// A unique name: `seconds.MmicrosPpidQn.host` (the Maildir convention).
    fn unique_name(&self) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let n = DELIVERIES.fetch_add(1, Ordering::Relaxed);
        format!(
            "{}.M{}P{}Q{n}.{}",
            now.as_secs(),
            now.subsec_micros(),
            std::process::id(),
            self.host
        )
    }

    pub(crate) async fn begin(&mut self) -> io::Result<()> {
        let name = self.unique_name();
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(self.dir.join("tmp").join(&name))
            .await?;
        self.current = Some((file, name, CrlfToLf::default()));
        Ok(())
    }

    pub(crate) async fn write(&mut self, data: &[u8]) -> io::Result<()> {
        let Some((file, _, lf)) = &mut self.current else {
            return Err(io::Error::other("no message started"));
        };
        let mut out = Vec::with_capacity(data.len());
        lf.push(data, &mut out);
        file.write_all(&out).await
    }

    pub(crate) async fn commit(&mut self) -> io::Result<()> {
        let Some((mut file, name, mut lf)) = self.current.take() else {
            return Err(io::Error::other("no message started"));
        };
        let mut tail = Vec::new();
        lf.finish(&mut tail);
        file.write_all(&tail).await?;
        file.flush().await?;
        file.sync_all().await?;
        drop(file);
        tokio::fs::rename(
            self.dir.join("tmp").join(&name),
            self.dir.join("new").join(&name),
        )
        .await
    }

    pub(crate) async fn abort(&mut self) {
        if let Some((file, name, _)) = self.current.take() {
            drop(file);
            let _ = tokio::fs::remove_file(self.dir.join("tmp").join(name)).await;
        }
    }
}
