//! A small pool of I/O threads: where async writers' blocking file work (writes, fsyncs,
//! creating and removing files) runs, so that no executor thread ever blocks on a disk.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;

use futures_channel::oneshot;

use crate::StoreError;
use crate::error::IoContext;

type Job = Box<dyn FnOnce() + Send>;

/// I/O threads, each serving its own FIFO queue; a message's jobs all go to one thread, so
/// they run in order, while different messages' writes and fsyncs overlap.
#[derive(Debug)]
pub(crate) struct Pool {
    workers: Vec<Worker>,
    next: AtomicUsize,
}

/// One I/O thread's queue. The thread ends when every handle to its queue is gone.
#[derive(Clone, Debug)]
pub(crate) struct Worker(mpsc::Sender<Job>);

impl Pool {
    /// Starts `threads` (at least one) I/O threads.
    pub(crate) fn new(threads: usize) -> Result<Self, StoreError> {
        let workers = (0..threads.max(1))
            .map(|i| {
                let (tx, rx) = mpsc::channel::<Job>();
                thread::Builder::new()
                    .name(format!("pop3-store-io-{i}"))
                    .spawn(move || {
                        while let Ok(job) = rx.recv() {
                            job();
                        }
                    })
                    .context("start an I/O thread", "pop3-store")?;
                Ok(Worker(tx))
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(Self {
            workers,
            next: AtomicUsize::new(0),
        })
    }

    /// Resolves once every job queued on any worker so far has run (writers' aborts
    /// remove their files in such jobs).
    pub(crate) fn barrier(&self) -> impl std::future::Future<Output = ()> + Send + use<> {
        let waits: Vec<_> = self.workers.iter().map(|w| w.run(|| Ok(()))).collect();
        async move {
            for wait in waits {
                // A worker that is gone has nothing queued.
                let _ = wait.await;
            }
        }
    }

    /// The next worker, round robin.
    pub(crate) fn worker(&self) -> Worker {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.workers.len();
        self.workers[i].clone()
    }
}

impl Worker {
    /// Runs `job` on this worker's thread; the receiver resolves with its result (or with
    /// cancellation, read as [`StoreError::Closed`], if the thread is gone).
    pub(crate) fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
    ) -> oneshot::Receiver<Result<T, StoreError>> {
        let (tx, rx) = oneshot::channel();
        let _ = self.0.send(Box::new(move || {
            let _ = tx.send(job());
        }));
        rx
    }
}
