//! The three kinds of run: what a session does with a batch of jobs.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;

use pop3_session::{AsyncBodySink, AsyncSession, BodyEvent, Error, Uid};
use pop3_store::{Account, AsyncMessageWriter, AsyncStore, Pending, StoreError};

use crate::engine::{Shared, Work, lock};
use crate::headers::{MAX_HEADER, MessageInfo};
use crate::plan::{Failure, Job, Number, Numbers, SessionId};
use crate::progress::ProgressEvent;
use crate::report::DeletionOutcome;

/// A commit under way.
type Commit = Pin<Box<dyn Future<Output = Result<Pending, StoreError>> + Send>>;

/// Commits a session lets run ahead of its transfer: enough for the store to group their
/// fsyncs while the next messages arrive, few enough to bound the memory they hold.
const COMMITS_AHEAD: usize = 16;

/// DELE commands per pipelined batch: a stop is honoured between batches.
const DELE_BATCH: usize = 64;

/// What a DELE sent is until its session's QUIT is answered: a session that ends first
/// is rolled back by the server.
const ENDED_BEFORE_QUIT: &str = "the session ended before QUIT";

/// Records what the server refused in a batch.
fn refusals(outcomes: &[pop3_session::Outcome], jobs: &HashMap<u32, Job>, shared: &Shared<'_>) {
    for outcome in outcomes {
        if let (Err(status), Some(job)) = (&outcome.result, jobs.get(&outcome.msg)) {
            lock(&shared.plan).failed(&job.uid, Failure::Refused(status.to_string()));
        }
    }
}

/// `fetch`: RETR into the store; DELE what is durable when asked.
pub(crate) struct FetchWork<'a> {
    pub(crate) store: &'a AsyncStore,
    pub(crate) account: &'a Account,
    pub(crate) delete: bool,
    /// Durable before this run and selected: deleted by the first session.
    pub(crate) recorded_before: Vec<Uid>,
    /// Commits not yet known durable, by session: uid, bytes, and the commit under way
    /// (queued on the store's I/O thread: it progresses without being polled).
    pending: std::sync::Mutex<Vec<(SessionId, Uid, u64, Commit)>>,
    /// Messages stored durably: uid, bytes, session.
    pub(crate) stored: std::sync::Mutex<Vec<(Uid, u64, SessionId)>>,
    /// Durable messages each session has not yet sent DELE for.
    to_delete: std::sync::Mutex<HashMap<SessionId, Vec<Uid>>>,
}

impl<'a> FetchWork<'a> {
    pub(crate) fn new(
        store: &'a AsyncStore,
        account: &'a Account,
        delete: bool,
        recorded_before: Vec<Uid>,
    ) -> Self {
        Self {
            store,
            account,
            delete,
            recorded_before,
            pending: std::sync::Mutex::new(Vec::new()),
            stored: std::sync::Mutex::new(Vec::new()),
            to_delete: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// Waits for the commits of `session` (every session when `None`) to be durable.
    async fn settle_commits(&self, session: Option<SessionId>, shared: &Shared<'_>) {
        let mine: Vec<(SessionId, Uid, u64, Commit)> = {
            let mut pending = lock(&self.pending);
            let (mine, rest) = pending
                .drain(..)
                .partition(|(s, ..)| session.is_none_or(|wanted| *s == wanted));
            *pending = rest;
            mine
        };
        for (id, uid, bytes, commit) in mine {
            self.settle(id, uid, bytes, commit, shared).await;
        }
    }

    /// Waits for one commit and records what became of it.
    async fn settle(
        &self,
        id: SessionId,
        uid: Uid,
        bytes: u64,
        commit: Commit,
        shared: &Shared<'_>,
    ) {
        let durable: Result<Pending, StoreError> = commit.await;
        let durable = match durable {
            Ok(ticket) => ticket.await.map(drop),
            Err(e) => Err(e),
        };
        match durable {
            Ok(()) => {
                lock(&shared.plan).delivered(id, &uid);
                lock(&self.stored).push((uid.clone(), bytes, id));
                if self.delete {
                    lock(&self.to_delete)
                        .entry(id)
                        .or_default()
                        .push(uid.clone());
                }
                shared.report(&ProgressEvent::Message {
                    session: id,
                    uid,
                    bytes,
                });
            }
            Err(e) => lock(&shared.plan).failed(&uid, Failure::Store(e.to_string())),
        }
    }

    /// Waits for `session`'s oldest commit if it has too many under way.
    async fn bound_commits(&self, session: SessionId, shared: &Shared<'_>) {
        let oldest = {
            let mut pending = lock(&self.pending);
            let mine = pending.iter().filter(|(s, ..)| *s == session).count();
            if mine <= COMMITS_AHEAD {
                return;
            }
            let at = pending.iter().position(|(s, ..)| *s == session);
            at.map(|at| pending.remove(at))
        };
        if let Some((id, uid, bytes, commit)) = oldest {
            self.settle(id, uid, bytes, commit, shared).await;
        }
    }
}

/// Streams each message of a batch into its own store writer.
struct StoreSink<'s, 'a> {
    work: &'s FetchWork<'a>,
    shared: &'s Shared<'s>,
    id: SessionId,
    jobs: &'s HashMap<u32, Job>,
    current: Option<(Uid, AsyncMessageWriter, u64)>,
}

impl StoreSink<'_, '_> {
    fn fail(&mut self, uid: &Uid, error: &pop3_store::StoreError) {
        // Dropping the writer aborts it: nothing of the message is left behind.
        self.current = None;
        lock(&self.shared.plan).failed(uid, Failure::Store(error.to_string()));
    }
}

impl AsyncBodySink for StoreSink<'_, '_> {
    async fn body(&mut self, event: BodyEvent) -> io::Result<()> {
        match event {
            BodyEvent::Start { msg, .. } => {
                self.current = None;
                if let Some(job) = self.jobs.get(&msg) {
                    lock(&self.shared.plan).receiving(self.id, &job.uid);
                    match self
                        .work
                        .store
                        .begin(self.work.account, job.uid.as_str())
                        .await
                    {
                        Ok(writer) => self.current = Some((job.uid.clone(), writer, 0)),
                        Err(e) => self.fail(&job.uid.clone(), &e),
                    }
                }
            }
            BodyEvent::Data { chunk, .. } => {
                if let Some((uid, writer, bytes)) = &mut self.current {
                    *bytes += chunk.len() as u64;
                    // Most chunks fit the writer's buffer: a copy, no future.
                    if !writer.try_write(&chunk)
                        && let Err(e) = writer.write(&chunk).await
                    {
                        let uid = uid.clone();
                        self.fail(&uid, &e);
                    }
                }
            }
            BodyEvent::End { .. } => {
                if let Some((uid, writer, bytes)) = self.current.take() {
                    // Made durable on the store's threads while the next message arrives.
                    let commit: Commit = Box::pin(writer.commit_now());
                    lock(&self.shared.plan).committing(self.id, &uid);
                    lock(&self.work.pending).push((self.id, uid, bytes, commit));
                    self.work.bound_commits(self.id, self.shared).await;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

impl<S: AsyncSession> Work<S> for FetchWork<'_> {
    async fn batch(
        &self,
        session: &mut S,
        id: SessionId,
        batch: Vec<(u32, Job)>,
        shared: &Shared<'_>,
    ) -> Result<(), Error> {
        let msgs: Vec<u32> = batch.iter().map(|(msg, _)| *msg).collect();
        let jobs: HashMap<u32, Job> = batch.into_iter().collect();
        let mut sink = StoreSink {
            work: self,
            shared,
            id,
            jobs: &jobs,
            current: None,
        };
        let outcomes = match session.retr_many(&msgs, &mut sink).await {
            Ok(outcomes) => outcomes,
            Err(e) => {
                // The message cut off is dropped, and gone before the job goes back:
                // another session may begin the same UID at once.
                if let Some((_, writer, _)) = sink.current.take() {
                    writer.abort_now().await;
                }
                return Err(e);
            }
        };
        refusals(&outcomes, &jobs, shared);
        Ok(())
    }

    async fn finish(
        &self,
        session: &mut S,
        id: SessionId,
        numbers: &Numbers,
        shared: &Shared<'_>,
    ) -> Result<Vec<Uid>, Error> {
        if !self.delete {
            // Nothing waits on durability here: QUIT goes now, and the commits still in
            // flight are settled with the others at the end of the run (`settle`), their
            // fsyncs overlapping the QUIT's round trip.
            return Ok(Vec::new());
        }
        self.settle_commits(Some(id), shared).await;
        let mut durable = lock(&self.to_delete).remove(&id).unwrap_or_default();
        if id == SessionId(0) {
            durable.extend(self.recorded_before.iter().cloned());
        }
        // DELE only now: every message named is durable and recorded.
        let mut by_msg = HashMap::new();
        for uid in durable {
            match numbers.get(&uid) {
                Number::Known(msg) => {
                    by_msg.insert(msg, uid);
                }
                Number::Unlisted => shared.deletion(
                    &uid,
                    DeletionOutcome::NotSent("not in this session's snapshot".into()),
                ),
                Number::Ambiguous => shared.deletion(
                    &uid,
                    DeletionOutcome::NotSent(
                        "listed for more than one message in this session's snapshot".into(),
                    ),
                ),
            }
        }
        let mut msgs: Vec<u32> = by_msg.keys().copied().collect();
        msgs.sort_unstable();
        let mut accepted = Vec::new();
        // In batches, so that a stop sends no more of them while QUIT still commits
        // those sent, each for a durable message.
        for batch in msgs.chunks(DELE_BATCH) {
            if shared.stop.is_stopped() {
                break;
            }
            for msg in batch {
                shared.deletion(
                    &by_msg[msg],
                    DeletionOutcome::RolledBack(ENDED_BEFORE_QUIT.into()),
                );
            }
            for outcome in session.dele_many(batch).await? {
                let Some(uid) = by_msg.get(&outcome.msg) else {
                    continue;
                };
                match outcome.result {
                    Ok(()) => accepted.push(uid.clone()),
                    Err(status) => {
                        shared.deletion(uid, DeletionOutcome::Refused(status.to_string()));
                    }
                }
            }
        }
        Ok(accepted)
    }

    async fn settle(&self, shared: &Shared<'_>) {
        // Messages received whole by sessions that then failed are delivered all the same.
        self.settle_commits(None, shared).await;
    }
}

/// `list_messages`: `TOP n 0` and the parsed headers.
pub(crate) struct ListWork {
    /// Number and size of each UID in the snapshot the run was planned from.
    pub(crate) planned: HashMap<Uid, (u32, u64)>,
    pub(crate) infos: std::sync::Mutex<Vec<MessageInfo>>,
}

/// Keeps each message's header block, bounded.
struct HeaderSink<'s> {
    work: &'s ListWork,
    shared: &'s Shared<'s>,
    id: SessionId,
    jobs: &'s HashMap<u32, Job>,
    current: Vec<u8>,
}

impl AsyncBodySink for HeaderSink<'_> {
    fn body(&mut self, event: BodyEvent) -> impl Future<Output = io::Result<()>> + Send {
        match event {
            BodyEvent::Start { msg, .. } => {
                self.current.clear();
                if let Some(job) = self.jobs.get(&msg) {
                    lock(&self.shared.plan).receiving(self.id, &job.uid);
                }
            }
            BodyEvent::Data { chunk, .. } => {
                let room = MAX_HEADER.saturating_sub(self.current.len());
                self.current
                    .extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            BodyEvent::End { msg } => {
                if let Some(job) = self.jobs.get(&msg) {
                    let (number, size) = self
                        .work
                        .planned
                        .get(&job.uid)
                        .copied()
                        .unwrap_or((msg, job.size));
                    let info = MessageInfo::parse(number, job.uid.clone(), size, &self.current);
                    lock(&self.work.infos).push(info);
                    let mut plan = lock(&self.shared.plan);
                    plan.committing(self.id, &job.uid);
                    plan.delivered(self.id, &job.uid);
                    drop(plan);
                    self.shared.report(&ProgressEvent::Message {
                        session: self.id,
                        uid: job.uid.clone(),
                        bytes: size,
                    });
                }
            }
            _ => {}
        }
        std::future::ready(Ok(()))
    }
}

impl<S: AsyncSession> Work<S> for ListWork {
    async fn batch(
        &self,
        session: &mut S,
        id: SessionId,
        batch: Vec<(u32, Job)>,
        shared: &Shared<'_>,
    ) -> Result<(), Error> {
        let msgs: Vec<u32> = batch.iter().map(|(msg, _)| *msg).collect();
        let jobs: HashMap<u32, Job> = batch.into_iter().collect();
        let mut sink = HeaderSink {
            work: self,
            shared,
            id,
            jobs: &jobs,
            current: Vec::new(),
        };
        let outcomes = session.top_many(&msgs, 0, &mut sink).await?;
        refusals(&outcomes, &jobs, shared);
        Ok(())
    }

    async fn finish(
        &self,
        _: &mut S,
        _: SessionId,
        _: &Numbers,
        _: &Shared<'_>,
    ) -> Result<Vec<Uid>, Error> {
        Ok(Vec::new())
    }

    async fn settle(&self, _: &Shared<'_>) {}
}

/// `delete`: DELE, committed by each session's QUIT.
///
/// A job is done only once its session's QUIT commits it (see the engine's worker). A
/// session that ends before (it fails, its QUIT goes unanswered or is refused) is rolled
/// back by the server: its deletions are reported [`DeletionOutcome::RolledBack`] and go
/// back to the plan, to be deleted by another session. Retrying is safe (the message is
/// still there; a session that no longer lists it does not send DELE) and bounded like a
/// fetch: each session that ends after its DELE of a message was accepted uses up one of
/// that message's attempts.
pub(crate) struct DeleteWork {
    /// UIDs whose DELE each session's server accepted, committed at its QUIT.
    accepted: std::sync::Mutex<HashMap<SessionId, Vec<Uid>>>,
}

impl DeleteWork {
    pub(crate) fn new() -> Self {
        Self {
            accepted: std::sync::Mutex::new(HashMap::new()),
        }
    }
}

impl<S: AsyncSession> Work<S> for DeleteWork {
    async fn batch(
        &self,
        session: &mut S,
        id: SessionId,
        batch: Vec<(u32, Job)>,
        shared: &Shared<'_>,
    ) -> Result<(), Error> {
        let msgs: Vec<u32> = batch.iter().map(|(msg, _)| *msg).collect();
        // As `fetch --delete` does: until QUIT commits them, DELEs sent are rolled back
        // if the session ends.
        for (_, job) in &batch {
            shared.deletion(
                &job.uid,
                DeletionOutcome::RolledBack(ENDED_BEFORE_QUIT.into()),
            );
        }
        let jobs: HashMap<u32, Job> = batch.into_iter().collect();
        let outcomes = session.dele_many(&msgs).await?;
        for outcome in outcomes {
            let Some(job) = jobs.get(&outcome.msg) else {
                continue;
            };
            match outcome.result {
                // Still running in the plan until QUIT is answered; if the session ends
                // first, that uses up an attempt.
                Ok(()) => {
                    lock(&shared.plan).receiving(id, &job.uid);
                    lock(&self.accepted)
                        .entry(id)
                        .or_default()
                        .push(job.uid.clone());
                }
                Err(status) => {
                    let reason = status.to_string();
                    shared.deletion(&job.uid, DeletionOutcome::Refused(reason.clone()));
                    lock(&shared.plan).failed(&job.uid, Failure::Refused(reason));
                }
            }
        }
        Ok(())
    }

    async fn finish(
        &self,
        _: &mut S,
        id: SessionId,
        _: &Numbers,
        _: &Shared<'_>,
    ) -> Result<Vec<Uid>, Error> {
        Ok(lock(&self.accepted).remove(&id).unwrap_or_default())
    }

    async fn settle(&self, _: &Shared<'_>) {}
}
