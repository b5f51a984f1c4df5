//! `--mbox`: mboxrd, appended, LF line ends, `From ` lines quoted.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::io::AsyncWriteExt;

use super::transform::{CrlfToLf, FromQuoter};

/// An mbox file being appended to.
pub(crate) struct Mbox {
    path: PathBuf,
    file: tokio::fs::File,
    /// The length before the current message, to cut a failed message off.
    start: Option<u64>,
    lf: CrlfToLf,
    quoter: FromQuoter,
    last_byte: Option<u8>,
}

impl Mbox {
    pub(crate) async fn open(path: &Path) -> io::Result<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(parent).await?;
        }
        let file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .await?;
        Ok(Self {
            path: path.to_owned(),
            file,
            start: None,
            lf: CrlfToLf::default(),
            quoter: FromQuoter::default(),
            last_byte: None,
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) async fn begin(&mut self) -> io::Result<()> {
        self.file.flush().await?;
        self.start = Some(self.file.metadata().await?.len());
        self.lf = CrlfToLf::default();
        self.quoter = FromQuoter::default();
        self.last_byte = None;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let separator = format!("From MAILER-DAEMON {}\n", asctime(now));
        self.file.write_all(separator.as_bytes()).await
    }

    async fn emit(&mut self, lf_text: &[u8]) -> io::Result<()> {
        let mut quoted = Vec::with_capacity(lf_text.len() + 8);
        self.quoter.push(lf_text, &mut quoted);
        if let Some(&b) = quoted.last() {
            self.last_byte = Some(b);
        }
        self.file.write_all(&quoted).await
    }

    pub(crate) async fn write(&mut self, data: &[u8]) -> io::Result<()> {
        let mut lf = Vec::with_capacity(data.len());
        self.lf.push(data, &mut lf);
        self.emit(&lf).await
    }

    pub(crate) async fn commit(&mut self) -> io::Result<()> {
        let mut tail = Vec::new();
        self.lf.finish(&mut tail);
        self.emit(&tail).await?;
        let mut end = Vec::new();
        self.quoter.finish(&mut end);
        if let Some(&b) = end.last() {
            self.last_byte = Some(b);
        }
        if self.last_byte != Some(b'\n') {
            end.push(b'\n');
        }
        end.push(b'\n'); // the blank line before the next "From "
        self.file.write_all(&end).await?;
        self.file.flush().await?;
        self.file.sync_data().await?;
        self.start = None;
        Ok(())
    }

    pub(crate) async fn abort(&mut self) {
        if let Some(start) = self.start.take() {
            let _ = self.file.flush().await;
            let _ = self.file.set_len(start).await;
        }
    }
}

/// `asctime`-style UTC date for the `From ` separator line: `Thu Jan  1 00:00:00 1970`.
fn asctime(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = i64::try_from(days).unwrap_or(0) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{} {} {day:2} {:02}:{:02}:{:02} {year}",
        DAYS[(days % 7) as usize],
        MONTHS[usize::try_from(month - 1).unwrap_or(0)],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::asctime;

    #[test]
    fn asctime_dates() {
        assert_eq!(asctime(0), "Thu Jan  1 00:00:00 1970");
        assert_eq!(asctime(951_782_400), "Tue Feb 29 00:00:00 2000");
        assert_eq!(asctime(1_795_608_000), "Wed Nov 25 12:00:00 2026");
    }
}
