//! SIGINT and SIGTERM. The first asks the running command to take no new work and wind
//! down (a fetch finishes committing what it received, records it, and quits if it can);
//! the second asks it to stop at once. Either way the exit code is 130.

use std::io;

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

/// The exit code of an interrupted run (128 + SIGINT, as shells report it).
pub(crate) const EXIT: u8 = 130;

/// How many interrupts have arrived, shared by whoever needs to know.
#[derive(Clone, Debug)]
pub(crate) struct Interrupts {
    count: watch::Receiver<u32>,
}

impl Interrupts {
    /// Starts counting SIGINT and SIGTERM. From here on they no longer kill the process:
    /// the commands decide what stopping means, so that no half-written message is left.
    pub(crate) fn listen() -> io::Result<Self> {
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        let (tx, count) = watch::channel(0);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    Some(()) = int.recv() => {}
                    Some(()) = term.recv() => {}
                    else => return,
                }
                tx.send_modify(|n| *n += 1);
            }
        });
        Ok(Self { count })
    }

    /// How many interrupts have arrived so far.
    pub(crate) fn count(&self) -> u32 {
        *self.count.borrow()
    }

    /// Whether the run was asked to stop.
    pub(crate) fn is_set(&self) -> bool {
        self.count() > 0
    }

    /// Resolves once `n` interrupts have arrived (at once if they already have).
    pub(crate) async fn reached(&self, n: u32) {
        let mut count = self.count.clone();
        if count.wait_for(|&c| c >= n).await.is_err() {
            // The listener is gone: no interrupt will ever arrive.
            std::future::pending::<()>().await;
        }
    }
}
