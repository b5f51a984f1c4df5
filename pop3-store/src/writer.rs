//! The per-message writer (blocking): chunks in, transformed into a bounded buffer, written
//! in buffer-sized blocks; then committed (fsynced and handed to the committer) or aborted.

use std::fs::{self, File};
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use crate::Account;
use crate::committer::{MboxRecord, Payload};
use crate::envelope::HeaderScan;
use crate::error::{IoContext, StoreError};
use crate::fsutil::{self, write_counted};
use crate::hash::ContentHash;
use crate::names::uid_file_name;
use crate::stats::Written;
use crate::store::Inner;
use crate::target::{self, Target};
use crate::ticket::Pending;
use crate::transform::{CrlfToLf, Transform};

/// A spool file: an mbox message that outgrew its buffer. Removed when dropped (after the
/// append, or when the message is aborted).
#[derive(Debug)]
pub(crate) struct Spool {
    pub(crate) file: File,
    pub(crate) path: PathBuf,
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Where a writer's blocks go.
#[derive(Debug)]
enum Sink {
    /// The message's own temporary file (Maildir `tmp/NAME`, `.eml` `DIR/.NAME.tmp`).
    File {
        file: File,
        path: PathBuf,
        /// Maildir: the name in tmp/ and new/. `.eml`: the temporary name.
        name: String,
    },
    /// mbox: in the buffer only, until it overflows into a spool file.
    Spool(Option<Spool>),
}

/// Writes one message. Obtained from [`crate::Store::begin`].
///
/// Feed it the message's bytes in chunks of any size ([`MessageWriter::write`], or
/// [`std::io::Write`]), exactly as received after dot-unstuffing (CRLF line ends); then
/// [`MessageWriter::commit`] it, or drop or [`MessageWriter::abort`] it, which leaves
/// nothing behind. Memory stays within the store's buffer capacity whatever the message's
/// size, and file writes come in buffer-sized blocks whatever the chunking.
#[derive(Debug)]
pub struct MessageWriter {
    inner: Arc<Inner>,
    account: Account,
    key: String,
    uid: String,
    transform: Transform,
    buf: Vec<u8>,
    /// Small chunks gathered before they are transformed (not for `.eml`, whose
    /// transformation is the copy into `buf`): a dot-unstuffer hands out a chunk per line
    /// starting with a dot, and the transformation's fixed cost per call would otherwise
    /// make such messages markedly slower than others.
    stage: Vec<u8>,
    /// The most `buf` has held, published to the stats when it is written out.
    peak: usize,
    /// `None` once committed or failed.
    sink: Option<Sink>,
    failure: Option<StoreError>,
    /// mbox only: the header, for the `From ` line.
    header: Option<HeaderScan>,
    received: SystemTime,
    /// mbox only: hash and length of what went to the spool.
    hash: ContentHash,
    body_len: u64,
    last_byte: Option<u8>,
}

impl MessageWriter {
    /// Starts a message: creates its temporary file (Maildir, `.eml`) or nothing yet (mbox).
    pub(crate) fn start(
        inner: Arc<Inner>,
        account: &Account,
        uid: &str,
    ) -> Result<Self, StoreError> {
        let cap = inner.cap;
        let (transform, sink, header) = match &inner.target {
            Target::Maildir(dir) => {
                let name = target::maildir_name(&inner.host);
                let path = dir.join("tmp").join(&name);
                let file = fsutil::create_new_private(&path)?;
                (
                    Transform::Lf(CrlfToLf::default()),
                    Sink::File { file, path, name },
                    None,
                )
            }
            Target::EmlDir(dir) => {
                let name = target::eml_tmp_name(&uid_file_name(uid));
                let path = dir.join(&name);
                let file = fsutil::create_new_private(&path)?;
                (Transform::Exact, Sink::File { file, path, name }, None)
            }
            Target::Mbox(_) => (
                Transform::mboxrd(cap),
                Sink::Spool(None),
                Some(HeaderScan::default()),
            ),
        };
        Ok(Self {
            account: account.clone(),
            key: account.key(),
            uid: uid.to_owned(),
            transform,
            buf: Vec::with_capacity(cap),
            stage: Vec::new(),
            peak: 0,
            sink: Some(sink),
            failure: None,
            header,
            received: SystemTime::now(),
            hash: ContentHash::default(),
            body_len: 0,
            last_byte: None,
            inner,
        })
    }

    /// The UID being written.
    pub fn uid(&self) -> &str {
        &self.uid
    }

    /// The account it is written for.
    pub fn account(&self) -> &Account {
        &self.account
    }

    /// Adds the next chunk of the message.
    ///
    /// After an error the writer is spent: further calls and [`MessageWriter::commit`]
    /// return the same error, and dropping it removes what was written.
    pub fn write(&mut self, chunk: &[u8]) -> Result<(), StoreError> {
        if let Some(e) = &self.failure {
            return Err(e.clone());
        }
        // An exact copy that fits: straight into the buffer, the whole cost of a chunk.
        if matches!(self.transform, Transform::Exact)
            && chunk.len() <= self.inner.cap - self.buf.len()
        {
            self.buf.extend_from_slice(chunk);
            self.peak = self.peak.max(self.buf.len());
            return Ok(());
        }
        if let Some(header) = &mut self.header {
            header.push(chunk);
        }
        let stage_cap = self.stage_cap();
        let result = if chunk.len() <= stage_cap / 2 {
            if self.stage.len() + chunk.len() > stage_cap {
                let result = self.drain_stage();
                self.fail_on(result)?;
            }
            if self.stage.capacity() == 0 {
                self.stage.reserve_exact(stage_cap);
            }
            self.stage.extend_from_slice(chunk);
            Ok(())
        } else {
            self.drain_stage().and_then(|()| self.push(chunk))
        };
        self.fail_on(result)
    }

    /// How many bytes of small chunks are gathered before transforming (0: none).
    fn stage_cap(&self) -> usize {
        match self.transform {
            Transform::Exact => 0,
            _ => (self.inner.cap / 8).min(16 * 1024),
        }
    }

    /// Transforms the gathered small chunks.
    fn drain_stage(&mut self) -> Result<(), StoreError> {
        if self.stage.is_empty() {
            return Ok(());
        }
        let stage = std::mem::take(&mut self.stage);
        let result = self.push(&stage);
        self.stage = stage;
        self.stage.clear();
        result
    }

    fn push(&mut self, mut input: &[u8]) -> Result<(), StoreError> {
        let cap = self.inner.cap;
        while !input.is_empty() {
            // A large chunk of an exact copy need not pass through the buffer at all.
            if matches!(self.transform, Transform::Exact)
                && self.buf.is_empty()
                && input.len() >= cap
            {
                return self.emit(input);
            }
            let fit = self.transform.input_fitting(cap - self.buf.len());
            // Take the whole chunk or at least an eighth of a buffer; else write first,
            // so that writes stay near buffer size.
            if fit < input.len().min(cap / 8) {
                self.flush()?;
                continue;
            }
            let take = fit.min(input.len());
            self.transform.push(&input[..take], &mut self.buf);
            self.peak = self.peak.max(self.buf.len());
            input = &input[take..];
        }
        Ok(())
    }

    /// Reports the largest any of the writer's buffers has been.
    fn publish_peak(&self) {
        let scratch = self.transform.scratch_capacity();
        self.inner
            .stats
            .buffer_len(self.peak.max(scratch).max(self.stage.capacity()));
    }

    /// Writes the buffer out.
    fn flush(&mut self) -> Result<(), StoreError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.publish_peak();
        let buf = std::mem::take(&mut self.buf);
        let result = self.emit(&buf);
        self.buf = buf;
        self.buf.clear();
        result
    }

    /// Sends transformed bytes to the sink.
    fn emit(&mut self, data: &[u8]) -> Result<(), StoreError> {
        let stats = &self.inner.stats;
        match &mut self.sink {
            Some(Sink::File { file, path, .. }) => {
                write_counted(file, data, stats, Written::Message).context("write", path)
            }
            Some(Sink::Spool(spool)) => {
                self.hash.update(data);
                self.body_len += data.len() as u64;
                self.last_byte = data.last().copied().or(self.last_byte);
                let spool = if let Some(spool) = spool {
                    spool
                } else {
                    let path = target::spool_path(self.inner.target.path());
                    let file = fsutil::create_new_private(&path)?;
                    spool.insert(Spool { file, path })
                };
                write_counted(&mut spool.file, data, stats, Written::Message)
                    .context("write", &spool.path)
            }
            None => Err(StoreError::Closed),
        }
    }

    fn fail_on<T>(&mut self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        if let Err(e) = &result {
            self.failure = Some(e.clone());
        }
        result
    }

    /// Ends the message: its data is fsynced (Maildir, `.eml`) or complete in memory and
    /// spool (mbox), and it is handed to the committer, which puts it in place and records
    /// its UID, in a batch with others. The returned ticket says when that is durable.
    ///
    /// Blocks only for the fsync, and, when many commits are already queued, until the
    /// committer has caught up.
    pub fn commit(mut self) -> Result<Pending, StoreError> {
        if let Some(e) = &self.failure {
            return Err(e.clone());
        }
        let result = self.finish();
        let payload = self.fail_on(result)?;
        let inner = Arc::clone(&self.inner);
        inner.submit_commit(&self.account, &self.key, &self.uid, payload)
    }

    /// Flushes the transformation and prepares the committer's part.
    fn finish(&mut self) -> Result<Payload, StoreError> {
        self.drain_stage()?;
        self.publish_peak();
        let cap = self.inner.cap;
        // Held bytes (a CR, a partial `From`) and the mbox trailer need a few bytes.
        if cap - self.buf.len() < 16 {
            self.flush()?;
        }
        self.transform.finish(&mut self.buf);
        match self.sink.take() {
            Some(Sink::File { file, path, name }) => {
                let mut file = file;
                let buf = std::mem::take(&mut self.buf);
                write_counted(&mut file, &buf, &self.inner.stats, Written::Message)
                    .context("write", &path)?;
                self.inner.stats.fsync();
                file.sync_all().context("fsync", &path)?;
                // Closed here so the committer's rename races nothing.
                drop(file);
                Ok(match self.inner.target {
                    Target::Maildir(_) => Payload::Maildir { name },
                    _ => Payload::Eml { tmp: name },
                })
            }
            Some(Sink::Spool(spool)) => {
                // mboxrd: the body ends with a newline, then a blank line separates it from
                // the next `From `.
                let last = self.buf.last().copied().or(self.last_byte);
                if last.is_some_and(|b| b != b'\n') {
                    self.buf.push(b'\n');
                }
                self.buf.push(b'\n');
                // A spilled message goes to the committer whole in its spool file.
                let spilled = spool.is_some();
                self.sink = Some(Sink::Spool(spool));
                if spilled {
                    self.flush()?;
                }
                let spool = match self.sink.take() {
                    Some(Sink::Spool(spool)) => spool,
                    _ => None,
                };
                let tail = std::mem::take(&mut self.buf);
                self.hash.update(&tail);
                let from_line = self
                    .header
                    .as_ref()
                    .map(|h| h.separator(self.received))
                    .unwrap_or_default()
                    .into_bytes();
                Ok(Payload::Mbox(MboxRecord {
                    from_line,
                    spool,
                    rest_len: self.body_len + tail.len() as u64,
                    rest_hash: self.hash.finish(),
                    tail,
                }))
            }
            None => Err(StoreError::Closed),
        }
    }

    /// Drops the message, removing its temporary file.
    pub fn abort(self) {}
}

impl io::Write for MessageWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        MessageWriter::write(self, buf).map_err(io::Error::other)?;
        Ok(buf.len())
    }

    /// Data is written out at commit; a flush before that has nothing durable to offer.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for MessageWriter {
    fn drop(&mut self) {
        // Committed writers have taken their sink; anything left is an aborted message.
        if let Some(Sink::File { file, path, .. }) = self.sink.take() {
            drop(file);
            let _ = fs::remove_file(path);
        }
        self.inner.release(&self.key, &self.uid);
    }
}
