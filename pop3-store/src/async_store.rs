//! The async face of a [`Store`], for any executor: writers keep the executor's threads
//! free of file I/O by handing filled buffers to the store's I/O threads, and every wait
//! is a runtime-agnostic `futures-channel` oneshot.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;

use futures_channel::oneshot;

use crate::error::IoContext;
use crate::pool::{Pool, Worker};
use crate::ticket::answer;
use crate::writer::MessageWriter;
use crate::{
    Account, Durable, Pending, RecoveryReport, Store, StoreError, StoreOptions, StoreStats, Target,
};

/// Buffers an async writer may have queued for its I/O thread before `write` waits: the
/// bound that keeps a fast network from outrunning a slow disk with unbounded memory.
const MAX_IN_FLIGHT: usize = 2;

/// A [`Store`] for async callers, on any executor (tokio, async-std, smol, or
/// `futures::executor`): no method blocks the calling thread.
///
/// Dropping it asks the committer to finish and release the locks without waiting;
/// [`AsyncStore::close`] waits for that.
#[derive(Debug)]
pub struct AsyncStore {
    store: Store,
    pool: Pool,
}

impl AsyncStore {
    /// Wraps an open store, with `io_threads` threads (at least one) for writers' file
    /// I/O. Two to four are plenty: they mostly wait on fsync, and those of different
    /// messages overlap.
    pub fn new(store: Store, io_threads: usize) -> Result<Self, StoreError> {
        Ok(Self {
            store,
            pool: Pool::new(io_threads)?,
        })
    }

    /// [`Store::open`] on a thread of its own (it may wait for another run's locks), then
    /// [`AsyncStore::new`].
    pub fn open(
        options: StoreOptions,
        io_threads: usize,
    ) -> impl Future<Output = Result<Self, StoreError>> + Send + 'static {
        let (tx, rx) = oneshot::channel();
        let path = options.target().path().to_owned();
        let spawned = thread::Builder::new()
            .name("pop3-store-open".into())
            .spawn(move || {
                let _ = tx.send(Store::open(options).and_then(|s| Self::new(s, io_threads)));
            })
            .context("start a thread to open", path);
        async move {
            spawned?;
            answer(rx).await
        }
    }

    /// Starts writing message `uid` of `account` (see [`Store::begin`]).
    ///
    /// It never waits on the disk: the UID is claimed at once (an invalid UID, one already
    /// being written or a closed store is an error here), while the message's file is
    /// created on its I/O thread behind whatever that thread is doing, typically earlier
    /// messages' fsyncs. A failure to create it is returned by a later
    /// [`AsyncMessageWriter::write`] or by the commit. (A connection thus keeps receiving
    /// while earlier messages are made durable, instead of waiting a fsync per message.)
    pub fn begin(
        &self,
        account: &Account,
        uid: &str,
    ) -> impl Future<Output = Result<AsyncMessageWriter, StoreError>> + Send + 'static {
        let inner = self.store.inner();
        let writer = inner.claim(account, uid).map(|claim| {
            let worker = self.pool.worker();
            let slot = Arc::new(Mutex::new(None));
            let opened = {
                let slot = Arc::clone(&slot);
                worker.run(move || {
                    let writer = claim.start()?;
                    *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(writer);
                    // No buffer to give back.
                    Ok(Vec::new())
                })
            };
            let mut in_flight = VecDeque::with_capacity(MAX_IN_FLIGHT + 1);
            in_flight.push_back(opened);
            AsyncMessageWriter {
                uid: uid.to_owned(),
                slot,
                worker,
                raw: Vec::with_capacity(inner.cap),
                cap: inner.cap,
                in_flight,
                spare: Vec::new(),
                failure: None,
            }
        });
        std::future::ready(writer)
    }

    /// See [`Store::contains`] (answered from memory: never blocks for long).
    pub fn contains(&self, account: &Account, uid: &str) -> bool {
        self.store.contains(account, uid)
    }

    /// See [`Store::recorded`].
    pub fn recorded(&self, account: &Account) -> Vec<String> {
        self.store.recorded(account)
    }

    /// See [`Store::mark_seen`].
    pub fn mark_seen<I, S>(
        &self,
        account: &Account,
        uids: I,
    ) -> impl Future<Output = Result<(), StoreError>> + Send + 'static
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let rx = self.store.inner().seen_request(
            account,
            uids.into_iter().map(Into::into).collect(),
            false,
        );
        async move { answer(rx?).await }
    }

    /// See [`Store::forget`].
    pub fn forget<I, S>(
        &self,
        account: &Account,
        uids: I,
    ) -> impl Future<Output = Result<(), StoreError>> + Send + 'static
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let rx = self.store.inner().seen_request(
            account,
            uids.into_iter().map(Into::into).collect(),
            true,
        );
        async move { answer(rx?).await }
    }

    /// Resolves when every commit handed over before the call is durable and recorded
    /// (see [`Store::sync`]): await it before sending DELE.
    pub fn sync(&self) -> impl Future<Output = Result<Durable, StoreError>> + Send + 'static {
        let rx = self.store.inner().sync_request();
        async move { answer(rx?).await }
    }

    /// Waits for the writers' queued file work (the removal of aborted messages' files
    /// included), then finishes the queued commits and releases the locks.
    pub fn close(mut self) -> impl Future<Output = Result<(), StoreError>> + Send + 'static {
        let barrier = self.pool.barrier();
        async move {
            // Commits still on an I/O thread reach the committer before the close does.
            barrier.await;
            match self.store.close_detached() {
                Some(rx) => match answer(rx).await {
                    Err(StoreError::Closed) => Ok(()),
                    other => other,
                },
                None => Ok(()),
            }
        }
    }

    /// Stops at once, leaving the destination consistent (see [`Store::abort`]); does not
    /// wait for the writers' I/O threads. Resolves once the locks are released; closing
    /// or dropping the store afterwards does nothing more.
    pub fn abort(&self) -> impl Future<Output = Result<(), StoreError>> + Send + 'static {
        self.store.inner().abort();
        let rx = self.store.inner().close_request();
        async move {
            match rx {
                Ok(rx) => match answer(rx).await {
                    Err(StoreError::Closed) => Ok(()),
                    other => other,
                },
                // Already stopped.
                Err(_) => Ok(()),
            }
        }
    }

    /// See [`Store::recovery`].
    pub fn recovery(&self) -> &RecoveryReport {
        self.store.recovery()
    }

    /// See [`Store::stats`].
    pub fn stats(&self) -> StoreStats {
        self.store.stats()
    }

    /// The destination.
    pub fn target(&self) -> &Target {
        self.store.target()
    }
}

impl Drop for AsyncStore {
    fn drop(&mut self) {
        // Not joined: a drop on an executor thread must not wait for the last batch.
        let _ = self.store.close_detached();
    }
}

/// Writes one message from async code. Obtained from [`AsyncStore::begin`].
///
/// Chunks are collected into a buffer; each full buffer goes to the message's I/O thread,
/// which runs a blocking [`MessageWriter`] on it. At most a few buffers are in flight, so
/// `write` waits when the disk falls behind. Dropping it without commit aborts the
/// message (on the I/O thread).
#[derive(Debug)]
pub struct AsyncMessageWriter {
    uid: String,
    slot: Arc<Mutex<Option<MessageWriter>>>,
    worker: Worker,
    raw: Vec<u8>,
    cap: usize,
    in_flight: VecDeque<oneshot::Receiver<Result<Vec<u8>, StoreError>>>,
    spare: Vec<Vec<u8>>,
    failure: Option<StoreError>,
}

impl AsyncMessageWriter {
    /// The UID being written.
    pub fn uid(&self) -> &str {
        &self.uid
    }

    /// Adds the next chunk of the message (see [`MessageWriter::write`]).
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), StoreError> {
        if let Some(e) = &self.failure {
            return Err(e.clone());
        }
        let mut input = chunk;
        while !input.is_empty() {
            let take = (self.cap - self.raw.len()).min(input.len());
            self.raw.extend_from_slice(&input[..take]);
            input = &input[take..];
            if self.raw.len() == self.cap {
                self.ship().await?;
            }
        }
        Ok(())
    }

    /// Adds `chunk` at once if it fits in the buffer being filled, without handing a
    /// buffer to the I/O thread; returns whether it did. When it returns `false` nothing
    /// was taken: call [`AsyncMessageWriter::write`]. (For callers that get many small
    /// chunks, such as a dot-unstuffer's one per line starting with a dot: the common case
    /// then costs a copy, not a future.)
    pub fn try_write(&mut self, chunk: &[u8]) -> bool {
        // Strictly less: a full buffer is shipped by `write`, which may wait.
        let fits = self.failure.is_none() && self.raw.len() + chunk.len() < self.cap;
        if fits {
            self.raw.extend_from_slice(chunk);
        }
        fits
    }

    /// Hands the collected bytes to the I/O thread.
    async fn ship(&mut self) -> Result<(), StoreError> {
        while self.in_flight.len() >= MAX_IN_FLIGHT {
            self.settle_oldest().await?;
        }
        let next = self
            .spare
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(self.cap));
        let mut data = std::mem::replace(&mut self.raw, next);
        let slot = Arc::clone(&self.slot);
        let rx = self.worker.run(move || {
            let mut writer = slot.lock().unwrap_or_else(PoisonError::into_inner);
            writer.as_mut().ok_or(StoreError::Closed)?.write(&data)?;
            data.clear();
            Ok(data)
        });
        self.in_flight.push_back(rx);
        Ok(())
    }

    /// Waits for the oldest buffer in flight and keeps it for reuse.
    async fn settle_oldest(&mut self) -> Result<(), StoreError> {
        if let Some(rx) = self.in_flight.pop_front() {
            match answer(rx).await {
                Ok(buf) if buf.capacity() > 0 => self.spare.push(buf),
                Ok(_) => {}
                Err(e) => {
                    self.failure = Some(e.clone());
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Ends the message (see [`MessageWriter::commit`]); the fsync runs on the I/O
    /// thread. The returned [`Pending`] is a future too.
    pub async fn commit(mut self) -> Result<Pending, StoreError> {
        if let Some(e) = &self.failure {
            return Err(e.clone());
        }
        if !self.raw.is_empty() {
            self.ship().await?;
        }
        while !self.in_flight.is_empty() {
            self.settle_oldest().await?;
        }
        let slot = Arc::clone(&self.slot);
        let rx = self.worker.run(move || {
            let writer = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
            writer.ok_or(StoreError::Closed)?.commit()
        });
        answer(rx).await
    }

    /// Ends the message at once: the rest of its bytes and its commit are queued on the
    /// I/O thread now, and the returned future resolves with the [`Pending`] once the
    /// file is fsynced and handed to the committer. It needs no polling to make
    /// progress, so the caller can go on receiving the next message while this one is
    /// made durable (one connection's fsyncs then overlap its transfer).
    pub fn commit_now(
        mut self,
    ) -> impl Future<Output = Result<Pending, StoreError>> + Send + 'static {
        let failure = self.failure.take();
        let mut earlier = std::mem::take(&mut self.in_flight);
        if failure.is_none() && !self.raw.is_empty() {
            let data = std::mem::take(&mut self.raw);
            let slot = Arc::clone(&self.slot);
            earlier.push_back(self.worker.run(move || {
                let mut writer = slot.lock().unwrap_or_else(PoisonError::into_inner);
                writer.as_mut().ok_or(StoreError::Closed)?.write(&data)?;
                Ok(Vec::new())
            }));
        }
        let slot = Arc::clone(&self.slot);
        let committed = failure.is_none().then(|| {
            self.worker.run(move || {
                let writer = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
                writer.ok_or(StoreError::Closed)?.commit()
            })
        });
        // Dropping `self` now queues its abort behind the commit, where it finds
        // nothing left to abort.
        drop(self);
        async move {
            if let Some(e) = failure {
                return Err(e);
            }
            for write in earlier {
                answer(write).await?;
            }
            match committed {
                Some(rx) => answer(rx).await,
                None => Err(StoreError::Closed),
            }
        }
    }

    /// Drops the message; its temporary file is removed on the I/O thread.
    pub fn abort(self) {}

    /// Drops the message and resolves once it is gone: the same UID may then be begun
    /// again at once (by another connection retrying it, say).
    pub fn abort_now(self) -> impl Future<Output = ()> + Send + 'static {
        let slot = Arc::clone(&self.slot);
        let done = self.worker.run(move || {
            drop(slot.lock().unwrap_or_else(PoisonError::into_inner).take());
            Ok(())
        });
        drop(self);
        async move {
            let _ = answer(done).await;
        }
    }
}

impl Drop for AsyncMessageWriter {
    fn drop(&mut self) {
        let slot = Arc::clone(&self.slot);
        // The writer's own drop removes files: that belongs on the I/O thread too.
        drop(self.worker.run(move || {
            drop(slot.lock().unwrap_or_else(PoisonError::into_inner).take());
            Ok(())
        }));
    }
}
