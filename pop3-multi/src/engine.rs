//! The async driver's engine: sessions as futures polled together (no spawning, only
//! `futures` combinators), so one run works on tokio, async-std, smol or any executor.
//! What each kind of run does with a batch is a [`Work`]; which session does what is the
//! [`Plan`]'s decision.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use std::pin::pin;

use futures_util::future::{BoxFuture, Either, select};
use futures_util::stream::{FuturesUnordered, StreamExt as _};
use pop3_session::{AsyncSession, Connector, Error, Pipelining, Uid};

use crate::plan::{
    Job, LoginDecision, Number, Numbers, PipeliningTrust, Plan, SessionId, after_login_failure,
};
use crate::progress::{Progress, ProgressEvent};
use crate::report::{Deletion, DeletionOutcome};
use crate::stop::Stop;
use tracing::Instrument as _;

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The `tracing` span of one session's work, so that `-vv` dialogues of several
/// sessions can be told apart.
pub(crate) fn span(id: SessionId) -> tracing::Span {
    tracing::debug_span!("session", id = id.0)
}

/// A login in progress, started before the run was planned.
pub(crate) type Connecting<'a, S> = BoxFuture<'a, Result<S, Error>>;

/// How a session of a run starts.
pub(crate) enum Start<'a, S> {
    /// Logged in, with its snapshot: the session that listed the maildrop for the plan.
    Listed(S, Numbers),
    /// Its login, started alongside the first session's, ended (well or not) before the
    /// run was planned.
    Connected(Result<S, Error>),
    /// Its login, started alongside the first session's, is still under way.
    Connecting(Connecting<'a, S>),
    /// Not started: it connects now.
    Fresh,
}

/// What every session of a run shares.
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

    /// Records what became of a deletion unless something was recorded already.
    pub(crate) fn deletion_unless_recorded(&self, uid: &Uid, outcome: DeletionOutcome) {
        lock(&self.deletions).entry(uid.clone()).or_insert(outcome);
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
    /// It was opened ahead of the plan, which turned out to need fewer sessions: it
    /// logged out without listing anything.
    Surplus,
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
            // The session that listed the maildrop.
            opened: AtomicUsize::new(1),
        }
    }

    /// Runs the plan with `first` (logged in, its snapshot taken) and up to `wanted`
    /// sessions in all, as futures polled together by the caller's task; returns when
    /// every session has ended and the work settled. `early` are the logins started
    /// alongside the first session's: they become the next sessions, and those beyond
    /// `wanted` log out at once.
    pub(crate) async fn run(
        &self,
        first: (C::Session, Numbers),
        wanted: usize,
        early: Vec<Start<'a, C::Session>>,
    ) {
        let mut workers = FuturesUnordered::new();
        let mut next = 0;
        for (start, surplus) in starts(first, wanted, early) {
            let id = SessionId(next);
            workers.push(self.worker(id, start, surplus).instrument(span(id)));
            next += 1;
        }
        self.shared.running.store(workers.len(), Ordering::SeqCst);
        while let Some(end) = workers.next().await {
            if self.replace(end, workers.len()) {
                let id = SessionId(next);
                workers.push(self.worker(id, Start::Fresh, false).instrument(span(id)));
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
    /// block: the blocking adapter). Their logins cannot start before the first
    /// session's snapshot, which blocks its thread: there is no `early`.
    pub(crate) async fn run_threads(&self, first: (C::Session, Numbers), wanted: usize)
    where
        C::Session: Send,
    {
        std::thread::scope(|scope| {
            let (ended, ends) = std::sync::mpsc::channel();
            let spawn = |id: SessionId, start: Start<'a, C::Session>| {
                let ended = ended.clone();
                scope.spawn(move || {
                    let end = crate::blocking::block_on(
                        self.worker(id, start, false).instrument(span(id)),
                    );
                    let _ = ended.send(end);
                });
            };
            // Before any thread starts: the first one sizes its batch by the sessions
            // running, and on seeing only itself it would take every job in one batch.
            self.shared.running.store(wanted, Ordering::SeqCst);
            let mut next = 0;
            for (start, _) in starts(first, wanted, Vec::new()) {
                spawn(SessionId(next), start);
                next += 1;
            }
            let mut running = wanted;
            while running > 0 {
                // A worker thread always reports before it ends.
                let Ok(end) = ends.recv() else { break };
                running -= 1;
                if self.replace(end, running) {
                    spawn(SessionId(next), Start::Fresh);
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

    /// Makes a logged-in session ready for the plan: lockstep if the run fell back to
    /// it, and its own snapshot (message numbers are per session).
    async fn prepare(&self, mut session: C::Session) -> Result<(C::Session, Numbers), Error> {
        if self.shared.lockstep() {
            session.set_pipelining(Pipelining::Never).await?;
        }
        let entries = session.snapshot().await?;
        Ok((session, Numbers::of(&entries)))
    }

    /// Logs `start` in (unless it is the listing session already); a `surplus` one then
    /// logs out at once.
    async fn connected(&self, start: Start<'a, C::Session>) -> Result<C::Session, Error> {
        match start {
            Start::Connected(connected) => connected,
            Start::Connecting(connecting) => connecting.await,
            Start::Fresh => self.connector.connect().await,
            Start::Listed(session, _) => Ok(session),
        }
    }

    async fn worker(&self, id: SessionId, start: Start<'a, C::Session>, surplus: bool) -> End {
        if surplus {
            match self.connected(start).await {
                Ok(session) => {
                    let _ = session.quit().await;
                }
                // Still news: a server that refuses it may refuse more.
                Err(e) => self.login_failed(id, &e),
            }
            return End::Surplus;
        }
        let opened = match start {
            Start::Listed(session, numbers) => Ok((session, numbers)),
            start => {
                self.opened.fetch_add(1, Ordering::SeqCst);
                match self.connected(start).await {
                    Ok(session) => self.prepare(session).await,
                    Err(e) => Err(e),
                }
            }
        };
        let (mut session, numbers) = match opened {
            Ok(opened) => opened,
            Err(e) => {
                self.login_failed(id, &e);
                return End::Failed;
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
            // Sessions are futures polled together: one whose reads never wait (a fast
            // server) would otherwise run its whole share before the others, still
            // logging in, are polled at all.
            yield_now().await;
            let mut batch = Vec::with_capacity(jobs.len());
            for job in jobs {
                match numbers.get(&job.uid) {
                    Number::Known(msg) => batch.push((msg, job)),
                    Number::Unlisted => lock(&self.shared.plan).not_in_snapshot(id, &job.uid),
                    Number::Ambiguous => {
                        lock(&self.shared.plan).ambiguous_in_snapshot(id, &job.uid);
                    }
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
                // Whatever DELE it sent is rolled back with the session; the deletions
                // it held go back to the plan.
                lock(&self.shared.plan).session_failed(id, &e.to_string());
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
        let rolled_back = match &quit {
            Ok(q) if q.committed => None,
            Ok(q) => Some(format!("QUIT was refused: {}", q.status)),
            Err(e) => Some(format!("the session ended first: {e}")),
        };
        for uid in &accepted {
            let outcome = rolled_back
                .clone()
                .map_or(DeletionOutcome::Committed, DeletionOutcome::RolledBack);
            self.shared.deletion(uid, outcome);
        }
        // The jobs only QUIT completes (a `delete` run's) are done, or, rolled back, go
        // to another session within their attempts: the messages are still there.
        let end = {
            let mut plan = lock(&self.shared.plan);
            match &rolled_back {
                None => {
                    plan.session_committed(id);
                    End::Closed
                }
                Some(why) if plan.session_failed(id, why) > 0 => End::Failed,
                Some(_) => End::Closed,
            }
        };
        self.shared.live.fetch_sub(1, Ordering::SeqCst);
        match (&rolled_back, accepted.is_empty()) {
            (Some(why), false) => self.shared.report(&ProgressEvent::SessionFailed {
                session: id,
                reason: why.clone(),
            }),
            _ => self.shared.report(&ProgressEvent::SessionClosed(id)),
        }
        end
    }

    /// A session could not log in or list: no more are opened if the server said it
    /// allows no more.
    fn login_failed(&self, id: SessionId, error: &Error) {
        let live = self.shared.live.load(Ordering::SeqCst);
        if after_login_failure(error.kind(), live) == LoginDecision::StopOpening {
            self.shared.stop_opening.store(true, Ordering::SeqCst);
        }
        self.shared.report(&ProgressEvent::SessionFailed {
            session: id,
            reason: error.to_string(),
        });
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

    /// Sessions opened in all (the listing session included, surplus ones not).
    pub(crate) fn sessions_opened(&self) -> usize {
        self.opened.load(Ordering::SeqCst)
    }
}

/// Lets the other futures polled with this one run before it goes on.
async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await;
}

/// The starts of a run's first sessions, each with whether it is surplus: the listing
/// one, the early logins (those done first), then fresh ones up to `wanted`. Early
/// logins beyond `wanted` are surplus (they log out), and so are failed ones (reported,
/// not counted); after a failed early login no fresh one is tried, since a server that
/// refused one session at once would likely refuse another.
fn starts<S>(
    first: (S, Numbers),
    wanted: usize,
    early: Vec<Start<'_, S>>,
) -> Vec<(Start<'_, S>, bool)> {
    let (failed, mut usable): (Vec<_>, Vec<_>) = early
        .into_iter()
        .partition(|start| matches!(start, Start::Connected(Err(_))));
    usable.sort_by_key(|start| match start {
        Start::Connected(Ok(_)) => 0,
        _ => 1,
    });
    let refused = !failed.is_empty();
    let mut starts = vec![(Start::Listed(first.0, first.1), false)];
    for start in usable {
        let surplus = starts.len() >= wanted;
        starts.push((start, surplus));
    }
    while !refused && starts.len() < wanted {
        starts.push((Start::Fresh, false));
    }
    starts.extend(failed.into_iter().map(|start| (start, true)));
    starts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(starts: &[(Start<'_, u8>, bool)]) -> Vec<(&'static str, bool)> {
        starts
            .iter()
            .map(|(start, surplus)| {
                let kind = match start {
                    Start::Listed(..) => "listed",
                    Start::Connected(Ok(_)) => "connected",
                    Start::Connected(Err(_)) => "failed",
                    Start::Connecting(_) => "connecting",
                    Start::Fresh => "fresh",
                };
                (kind, *surplus)
            })
            .collect()
    }

    fn connecting<'a>() -> Start<'a, u8> {
        Start::Connecting(Box::pin(async { Ok(7) }))
    }

    fn failed<'a>() -> Start<'a, u8> {
        Start::Connected(Err(Error::Config("refused".into())))
    }

    #[test]
    fn early_logins_fill_the_run_done_ones_first_and_fresh_ones_complete_it() {
        let starts = starts(
            (0, Numbers::default()),
            4,
            vec![connecting(), Start::Connected(Ok(1))],
        );
        assert_eq!(
            kinds(&starts),
            [
                ("listed", false),
                ("connected", false),
                ("connecting", false),
                ("fresh", false)
            ]
        );
    }

    #[test]
    fn early_logins_beyond_the_plan_are_surplus() {
        let starts = starts(
            (0, Numbers::default()),
            2,
            vec![connecting(), Start::Connected(Ok(1)), connecting()],
        );
        assert_eq!(
            kinds(&starts),
            [
                ("listed", false),
                ("connected", false),
                ("connecting", true),
                ("connecting", true)
            ]
        );
    }

    #[test]
    fn a_refused_early_login_is_reported_and_no_fresh_one_tried() {
        let starts = starts((0, Numbers::default()), 5, vec![failed(), connecting()]);
        assert_eq!(
            kinds(&starts),
            [("listed", false), ("connecting", false), ("failed", true)]
        );
    }
}
