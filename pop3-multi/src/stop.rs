//! Stopping a run early (an interrupt): no new work is handed out, messages received
//! whole are still made durable, no DELE is sent any more.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

#[derive(Debug, Default)]
struct Inner {
    stopped: AtomicBool,
    wakers: Mutex<Vec<Waker>>,
}

/// Asks running coordinators to stop, from anywhere (a signal handler's task, another
/// thread). Clones share the request.
///
/// A stopped run hands out no more work; a session receiving a pipelined batch drops its
/// connection (the message it was receiving is dropped whole, and no DELE had been sent
/// on it); messages already received whole are still made durable and recorded; no
/// further DELE is sent, and sessions that sent some end with QUIT, so that what is
/// deleted is exactly what the report says.
///
/// ```
/// let stop = pop3_multi::Stop::new();
/// let handle = stop.clone();
/// handle.stop();
/// assert!(stop.is_stopped());
/// ```
#[derive(Clone, Debug, Default)]
pub struct Stop(Arc<Inner>);

impl Stop {
    /// A stop not yet requested.
    pub fn new() -> Self {
        Self::default()
    }

    /// Requests the stop.
    pub fn stop(&self) {
        self.0.stopped.store(true, Ordering::SeqCst);
        let wakers =
            std::mem::take(&mut *self.0.wakers.lock().unwrap_or_else(PoisonError::into_inner));
        for waker in wakers {
            waker.wake();
        }
    }

    /// Whether the stop was requested.
    pub fn is_stopped(&self) -> bool {
        self.0.stopped.load(Ordering::SeqCst)
    }

    /// Resolves once the stop is requested.
    pub(crate) fn requested(&self) -> Requested<'_> {
        Requested(self)
    }
}

/// The future of [`Stop::requested`].
pub(crate) struct Requested<'a>(&'a Stop);

impl Future for Requested<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0.is_stopped() {
            return Poll::Ready(());
        }
        let mut wakers = self
            .0
            .0
            .wakers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Checked again under the lock: a stop between the two checks wakes us.
        if self.0.is_stopped() {
            return Poll::Ready(());
        }
        if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
            wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}
