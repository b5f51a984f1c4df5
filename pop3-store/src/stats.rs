//! Counters of what the store asked of the kernel: the evidence for the write-path and
//! group-commit claims (write calls per MB, fsyncs per message, buffer high-water mark).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// What a counted write went to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Written {
    /// Message data: temporary files, spool files, mbox appends.
    Message,
    /// The state file.
    State,
}

/// Live counters, shared by a store's writers and its committer.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    write_calls: AtomicU64,
    state_write_calls: AtomicU64,
    bytes_written: AtomicU64,
    fsyncs: AtomicU64,
    batches: AtomicU64,
    committed: AtomicU64,
    peak_buffer: AtomicUsize,
}

impl Stats {
    pub(crate) fn write_call(&self, target: Written) {
        self.write_calls.fetch_add(1, Ordering::Relaxed);
        if target == Written::State {
            self.state_write_calls.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn bytes_written(&self, n: usize) {
        self.bytes_written.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn fsync(&self) {
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn batch(&self, committed: usize) {
        if committed == 0 {
            return;
        }
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.committed
            .fetch_add(committed as u64, Ordering::Relaxed);
    }

    pub(crate) fn buffer_len(&self, len: usize) {
        self.peak_buffer.fetch_max(len, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> StoreStats {
        StoreStats {
            write_calls: self.write_calls.load(Ordering::Relaxed),
            state_write_calls: self.state_write_calls.load(Ordering::Relaxed),
            bytes_written: self.bytes_written.load(Ordering::Relaxed),
            fsyncs: self.fsyncs.load(Ordering::Relaxed),
            batches: self.batches.load(Ordering::Relaxed),
            committed: self.committed.load(Ordering::Relaxed),
            peak_buffer: self.peak_buffer.load(Ordering::Relaxed),
        }
    }
}

/// A snapshot of a store's counters since it was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreStats {
    /// `write(2)` calls issued for message data, spool files, mbox appends and state lines.
    pub write_calls: u64,
    /// Of those, the calls that appended to (or rewrote) the state file: about two per
    /// batch. The rest carried message data.
    pub state_write_calls: u64,
    /// Bytes those calls wrote.
    pub bytes_written: u64,
    /// fsyncs of files and directories.
    pub fsyncs: u64,
    /// Group commits done (each makes a batch of messages durable and recorded).
    pub batches: u64,
    /// Messages made durable and recorded.
    pub committed: u64,
    /// The largest number of bytes any writer's buffer (or transformation scratch space)
    /// held: the memory-bound evidence; it never exceeds the configured capacity.
    pub peak_buffer: usize,
}
