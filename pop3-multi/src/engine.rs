//! The async driver's engine: sessions as futures polled together (no spawning, only
//! `futures` combinators), so one run works on tokio, async-std, smol or any executor.
//! What each kind of run does with a batch is a [`Work`]; which session does what is the
//! [`Plan`]'s decision.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use std::pin::pin;

use futures_util::future::{Either, select};
use futures_util::stream::{FuturesUnordered, StreamExt as _};
use pop3_session::{AsyncSession, Connector, Entry, Error, Pipelining, Uid};

use crate::plan::{Job, LoginDecision, PipeliningTrust, Plan, SessionId, after_login_failure};
use crate::progress::{Progress, ProgressEvent};
use crate::report::{Deletion, DeletionOutcome};
use crate::stop::Stop;
use tracing::Instrument as _;

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A session's numbers: UID → message number in its own snapshot.
pub(crate) type Numbers = HashMap<Uid, u32>;

pub(crate) fn numbers(entries: &[Entry]) -> Numbers {
    entries.iter().map(|e| (e.uid.clone(), e.msg)).collect()
}

/// What every session of a run shares.
/// The `tracing` span of one session's work, so that `-vv` dialogues of several
/// sessions can be told apart.
pub(crate) fn span(id: SessionId) -> tracing::Span {
    tracing::debug_span!("session", id = id.0)
}

pub(crate) struct Shared<'p> {
    pub(crate) plan: Mutex<Plan>,
    trust: Mutex<PipeliningTrust>,
    /// Sessions logged in and not yet closed or failed.
    live: AtomicUsize,
    /// Sessions of the run not yet ended: logged in, or still logging in. Batches are
    /// cut for this many, so that the first session, which starts alone, does not take
    /// the share of those still logging in.
    running: AtomicUsize,
    stop_opening: AtomicBool,
    deletions: Mutex<HashMap<Uid, DeletionOutcome>>,
    progress: Option<&'p Progress>,
    pub(crate) stop: Stop,
}

impl<'p> Shared<'p> {
    /// `lockstep`: pipelining already broke (the first session's snapshot needed a retry).
    pub(crate) fn new(
        plan: Plan,
        progress: Option<&'p Progress>,
        lockstep: bool,
        stop: Stop,
    ) -> Self {
        let mut trust = PipeliningTrust::default();
        trust.session_failed(lockstep);
        Self {
            plan: Mutex::new(plan),
            trust: Mutex::new(trust),
            live: AtomicUsize::new(0),
            running: AtomicUsize::new(1),
            stop_opening: AtomicBool::new(false),
            deletions: Mutex::new(HashMap::new()),
            progress,
            stop,
        }
    }

    pub(crate) fn report(&self, event: &ProgressEvent) {
        if let Some(progress) = self.progress {
            progress(event);
        }
    }

    /// Records what became of a deletion; a committed one stays committed.
    pub(crate) fn deletion(&self, uid: &Uid, outcome: DeletionOutcome) {
        let mut deletions = lock(&self.deletions);
        let entry = deletions
            .entry(uid.clone())
            .or_insert(DeletionOutcome::NotSent(String::new()));
        if !entry.is_committed() {
            *entry = outcome;
        }
    }

    pub(crate) fn deletions(&self, order: &[Uid]) -> Vec<Deletion> {
        let deletions = lock(&self.deletions);
        order
            .iter()
            .filter_map(|uid| {
                deletions.get(uid).map(|outcome| Deletion {
                    uid: uid.clone(),
                    outcome: outcome.clone(),
                })
            })
            .collect()
    }

    pub(crate) fn lockstep(&self) -> bool {
        lock(&self.trust).lockstep()
    }
}

/// What one kind of run does with a batch of jobs on one session.
pub(crate) trait Work<S: AsyncSession>: Sync {
    /// Runs a batch; each job is paired with its number in `session`'s snapshot. Every
    /// message's result goes to the plan; an `Err` means the session is unusable.
    fn batch(
        &self,
        session: &mut S,
        id: SessionId,
        batch: Vec<(u32, Job)>,
        shared: &Shared<'_>,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// After the session's last batch: waits for what must be durable and sends what
    /// QUIT will commit. Returns the UIDs whose DELE the server accepted.
    fn finish(
        &self,
        session: &mut S,
        id: SessionId,
        numbers: &Numbers,
        shared: &Shared<'_>,
    ) -> impl Future<Output = Result<Vec<Uid>, Error>> + Send;

    /// After every session ended: settles what failed sessions left half done.
    fn settle(&self, shared: &Shared<'_>) -> impl Future<Output = ()> + Send;
}

/// How a worker ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    /// It finished its share and logged out.
    Closed,
    /// It could not log in, or failed on the way.
    Failed,
    /// The run was stopped while it was receiving: its connection was dropped.
    Stopped,
}

/// One run: the connector, the work, the shared state.
pub(crate) struct Engine<'a, C, W> {
    connector: &'a C,
    work: &'a W,
    pub(crate) shared: Shared<'a>,
    /// Sessions that may be opened in all, replacements included.
    budget: usize,
    opened: AtomicUsize,
}

impl<'a, C, W> Engine<'a, C, W>
where
    C: Connector,
    W: Work<C::Session>,
{
    pub(crate) fn new(connector: &'a C, work: &'a W, shared: Shared<'a>, budget: usize) -> Self {
        Self {
            connector,
            work,
            shared,
            budget,
            opened: AtomicUsize::new(0),
        }
    }

    /// Runs the plan with `first` (logged in, its snapshot taken) and up to `wanted`
    /// sessions in all, as futures polled together by the caller's task; returns when
    /// every session has ended and the work settled.
    pub(crate) async fn run(&self, first: (C::Session, Numbers), wanted: usize) {
        self.opened.store(1, Ordering::SeqCst);
        let mut workers = FuturesUnordered::new();
        workers.push(
            self.worker(SessionId(0), Some(first))
                .instrument(span(SessionId(0))),
        );
        for id in 1..wanted {
            workers.push(
                self.worker(SessionId(id), None)
                    .instrument(span(SessionId(id))),
            );
        }
        self.shared.running.store(wanted, Ordering::SeqCst);
        let mut next = wanted;
        while let Some(end) = workers.next().await {
            if self.replace(end, workers.len()) {
                workers.push(
                    self.worker(SessionId(next), None)
                        .instrument(span(SessionId(next))),
                );
                next += 1;
            }
            self.shared.running.store(workers.len(), Ordering::SeqCst);
            // Work done and every session that had some closed: sessions still logging
            // in (a server holding them in a lock wait, say) are not waited for.
            let live = self.shared.live.load(Ordering::SeqCst);
            if live == 0 && lock(&self.shared.plan).is_idle() {
                break;
            }
        }
        drop(workers);
        self.work.settle(&self.shared).await;
        self.after_stop();
    }

    /// What a stop left undone is reported as such.
    fn after_stop(&self) {
        if self.shared.stop.is_stopped() {
            lock(&self.shared.plan).stopped();
        }
    }

    /// The same, with each session on a thread of its own (for sessions whose calls
    /// block: the blocking adapter).
    pub(crate) async fn run_threads(&self, first: (C::Session, Numbers), wanted: usize)
    where
        C::Session: Send,
    {
        self.opened.store(1, Ordering::SeqCst);
        std::thread::scope(|scope| {
            let (ended, ends) = std::sync::mpsc::channel();
            let spawn = |id: SessionId, opened: Option<(C::Session, Numbers)>| {
                let ended = ended.clone();
                scope.spawn(move || {
                    let end =
                        crate::blocking::block_on(self.worker(id, opened).instrument(span(id)));
                    let _ = ended.send(end);
                });
            };
            spawn(SessionId(0), Some(first));
            for id in 1..wanted {
                spawn(SessionId(id), None);
            }
            self.shared.running.store(wanted, Ordering::SeqCst);
            let (mut running, mut next) = (wanted, wanted);
            while running > 0 {
                // A worker thread always reports before it ends.
                let Ok(end) = ends.recv() else { break };
                running -= 1;
                if self.replace(end, running) {
                    spawn(SessionId(next), None);
                    next += 1;
                    running += 1;
                }
                self.shared.running.store(running, Ordering::SeqCst);
            }
        });
        self.work.settle(&self.shared).await;
        self.after_stop();
    }

    /// After a worker ended, with `running` others still going: whether to open a new
    /// session. A failed session's work went back to the plan: the run goes on with a
    /// new session (in lockstep if pipelining was to blame), within the budget; with
    /// no session left and work pending, the work is abandoned.
    fn replace(&self, end: End, running: usize) -> bool {
        if self.shared.stop.is_stopped() {
            return false;
        }
        let pending = lock(&self.shared.plan).has_pending();
        let replace = pending
            && (end == End::Failed || running == 0)
            && (running == 0 || !self.shared.stop_opening.load(Ordering::SeqCst))
            && self.opened.load(Ordering::SeqCst) < self.budget;
        if !replace && running == 0 && pending {
            lock(&self.shared.plan).abandon("no session was left to take it");
        }
        replace
    }

    /// Connects, logs in and takes the session's snapshot.
    pub(crate) async fn open(&self) -> Result<(C::Session, Numbers), Error> {
        let mut session = self.connector.connect().await?;
        if self.shared.lockstep() {
            session.set_pipelining(Pipelining::Never).await?;
        }
        let entries = session.snapshot().await?;
        Ok((session, numbers(&entries)))
    }

    async fn worker(&self, id: SessionId, opened: Option<(C::Session, Numbers)>) -> End {
        let (mut session, numbers) = if let Some(opened) = opened {
            opened
        } else {
            self.opened.fetch_add(1, Ordering::SeqCst);
            match self.open().await {
                Ok(opened) => opened,
                Err(e) => {
                    let live = self.shared.live.load(Ordering::SeqCst);
                    if after_login_failure(e.kind(), live) == LoginDecision::StopOpening {
                        self.shared.stop_opening.store(true, Ordering::SeqCst);
                    }
                    self.shared.report(&ProgressEvent::SessionFailed {
                        session: id,
                        reason: e.to_string(),
                    });
                    return End::Failed;
                }
            }
        };
        self.shared.live.fetch_add(1, Ordering::SeqCst);
        lock(&self.shared.plan).session_opened(id);
        self.shared.report(&ProgressEvent::SessionOpened(id));
        loop {
            if self.shared.lockstep()
                && session.is_pipelining()
                && let Err(e) = session.set_pipelining(Pipelining::Never).await
            {
                return self.failed(id, false, &e);
            }
            if self.shared.stop.is_stopped() {
                break;
            }
            let jobs = {
                let mut plan = lock(&self.shared.plan);
                // In lockstep every command costs a round trip however many are taken:
                // one at a time keeps the sessions busy to the end.
                let size = if session.is_pipelining() {
                    let sessions = self.shared.running.load(Ordering::SeqCst);
                    plan.batch_size(sessions.max(self.shared.live.load(Ordering::SeqCst)))
                } else {
                    1
                };
                plan.take(id, size)
            };
            if jobs.is_empty() {
                break;
            }
            let mut batch = Vec::with_capacity(jobs.len());
            for job in jobs {
                match numbers.get(&job.uid) {
                    Some(&msg) => batch.push((msg, job)),
                    None => lock(&self.shared.plan).not_in_snapshot(id, &job.uid),
                }
            }
            if batch.is_empty() {
                continue;
            }
            let pipelined = batch.len() > 1 && session.is_pipelining();
            let received = {
                let batch = pin!(self.work.batch(&mut session, id, batch, &self.shared));
                let stopped = pin!(self.shared.stop.requested());
                match select(batch, stopped).await {
                    Either::Left((received, _)) => Some(received),
                    Either::Right(((), _)) => None,
                }
            };
            match received {
                Some(Ok(())) => {}
                Some(Err(e)) => return self.failed(id, pipelined, &e),
                None => {
                    // Stopped in the middle of a batch: the connection goes, with the
                    // message it was receiving; no DELE was sent on it.
                    self.shared.live.fetch_sub(1, Ordering::SeqCst);
                    self.shared.report(&ProgressEvent::SessionClosed(id));
                    return End::Stopped;
                }
            }
        }
        let accepted = self
            .work
            .finish(&mut session, id, &numbers, &self.shared)
            .await;
        lock(&self.shared.plan).session_closed(id);
        let accepted = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Whatever DELE it sent is rolled back with the session.
                self.shared.live.fetch_sub(1, Ordering::SeqCst);
                self.shared.report(&ProgressEvent::SessionFailed {
                    session: id,
                    reason: e.to_string(),
                });
                return End::Failed;
            }
        };
        // Still live until QUIT is answered and recorded: the run does not end under it.
        let quit = session.quit().await;
        for uid in &accepted {
            let outcome = match &quit {
                Ok(q) if q.committed => DeletionOutcome::Committed,
                Ok(q) => DeletionOutcome::RolledBack(format!("QUIT was refused: {}", q.status)),
                Err(e) => DeletionOutcome::RolledBack(format!("the session ended first: {e}")),
            };
            self.shared.deletion(uid, outcome);
        }
        self.shared.live.fetch_sub(1, Ordering::SeqCst);
        self.shared.report(&ProgressEvent::SessionClosed(id));
        End::Closed
    }

    fn failed(&self, id: SessionId, pipelined: bool, error: &Error) -> End {
        lock(&self.shared.plan).session_failed(id, &error.to_string());
        lock(&self.shared.trust).session_failed(pipelined);
        self.shared.live.fetch_sub(1, Ordering::SeqCst);
        self.shared.report(&ProgressEvent::SessionFailed {
            session: id,
            reason: error.to_string(),
        });
        End::Failed
    }

    /// Whether the run fell back to lockstep.
    pub(crate) fn fell_back(&self) -> bool {
        self.shared.lockstep()
    }

    /// Sessions opened in all.
    pub(crate) fn sessions_opened(&self) -> usize {
        self.opened.load(Ordering::SeqCst)
    }
}
