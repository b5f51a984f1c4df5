//! What a commit hands back: a [`Pending`] ticket that resolves, blocking or as a future on
//! any executor, once the message is durable and recorded.

use std::future::Future;
use std::path::PathBuf;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

use futures_channel::oneshot;

use crate::{Account, StoreError};

/// Where a committed message is.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Location {
    /// Its own file (Maildir `new/` or `.eml` directory).
    File(PathBuf),
    /// A record of an mbox: the `From ` line at `offset`, `len` bytes in all.
    Mbox {
        /// Byte offset of the record's `From ` line.
        offset: u64,
        /// The record's length, separator line and trailing blank line included.
        len: u64,
    },
}

/// A message that is durable and recorded in the state file.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Receipt {
    /// The account it was fetched for.
    pub account: Account,
    /// Its UID.
    pub uid: String,
    /// Where it is.
    pub location: Location,
}

/// Proof from [`crate::Store::sync`]: every commit handed over before the call (ticket
/// numbers up to the watermark) is durable and recorded, or has failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Durable {
    pub(crate) watermark: u64,
}

impl Durable {
    /// Whether the commit with this ticket number ([`Pending::ticket`]) was settled by the
    /// sync. A failed commit is settled too: its UID is then not
    /// [`crate::Store::contains`]ed.
    pub fn covers(&self, ticket: u64) -> bool {
        ticket <= self.watermark
    }
}

/// A handed-over commit. The message's own data is already fsynced; the ticket resolves
/// when the message is also in its final place durably and its UID durably recorded (or
/// when that failed).
///
/// Wait for it with [`Pending::wait`] (blocking) or `.await` it (on any executor). It can
/// also be dropped: the commit goes on, and [`crate::Store::sync`] covers it.
#[derive(Debug)]
#[must_use = "the commit goes on, but only the ticket (or a sync) says when it is durable"]
pub struct Pending {
    pub(crate) ticket: u64,
    pub(crate) rx: oneshot::Receiver<Result<Receipt, StoreError>>,
}

impl Pending {
    /// The commit's number, for [`Durable::covers`].
    pub fn ticket(&self) -> u64 {
        self.ticket
    }

    /// Blocks until the message is durable and recorded.
    pub fn wait(self) -> Result<Receipt, StoreError> {
        block_on(self)
    }
}

impl Future for Pending {
    type Output = Result<Receipt, StoreError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.rx)
            .poll(cx)
            .map(|r| r.unwrap_or(Err(StoreError::Closed)))
    }
}

/// Waits for a committer's answer: a dropped sender means the committer is gone.
pub(crate) async fn answer<T>(
    rx: oneshot::Receiver<Result<T, StoreError>>,
) -> Result<T, StoreError> {
    rx.await.unwrap_or(Err(StoreError::Closed))
}

/// Wakes a parked thread.
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs a future to completion on this thread (the blocking API's bridge to the one set of
/// runtime-agnostic channels).
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        thread::park();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_on_waits_for_another_thread() {
        let (tx, rx) = oneshot::channel::<u32>();
        let t = thread::spawn(move || {
            thread::sleep(std::time::Duration::from_millis(20));
            tx.send(7).unwrap();
        });
        assert_eq!(block_on(rx), Ok(7));
        t.join().unwrap();
    }

    #[test]
    fn a_vanished_committer_is_closed() {
        let (tx, rx) = oneshot::channel();
        drop(tx);
        let pending = Pending { ticket: 1, rx };
        assert!(matches!(pending.wait(), Err(StoreError::Closed)));
    }
}
