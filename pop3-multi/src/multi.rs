//! [`Multi`]: the async coordinator.

use std::collections::HashMap;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;

use futures_util::FutureExt as _;
use futures_util::future::{Either, select};
use futures_util::stream::{FuturesUnordered, StreamExt as _};

use pop3_session::{AsyncSession, Connector, Entry, Error, ErrorKind, Pipelining, Uid};
use pop3_store::{Account, AsyncStore};

use crate::engine::{Connecting, Engine, Shared, Start, Work, lock, span};
use crate::error::MultiError;
use crate::options::{MultiConnectionMode, MultiOptions};
use crate::plan::{Job, Numbers, Operation, Plan, SessionId, auto_head_start, auto_sessions};
use crate::progress::{Progress, ProgressEvent};
use crate::report::{DeleteReport, Deletion, DeletionOutcome, FetchReport, Listing};
use crate::selection::Selection;
use crate::stop::Stop;
use crate::works::{DeleteWork, FetchWork, ListWork};
use tracing::Instrument as _;

/// What `fetch` stores and deletes.
#[derive(Clone, Debug)]
pub struct FetchRequest<'a> {
    store: &'a AsyncStore,
    account: &'a Account,
    selection: Selection,
    new_only: bool,
    delete: bool,
}

impl<'a> FetchRequest<'a> {
    /// Every message into `store`, recorded for `account`.
    pub fn new(store: &'a AsyncStore, account: &'a Account) -> Self {
        Self {
            store,
            account,
            selection: Selection::All,
            new_only: false,
            delete: false,
        }
    }

    /// Only these messages.
    #[must_use]
    pub fn selection(mut self, selection: Selection) -> Self {
        self.selection = selection;
        self
    }

    /// Skip messages the store has recorded for the account (`--new`).
    #[must_use]
    pub fn new_only(mut self, new_only: bool) -> Self {
        self.new_only = new_only;
        self
    }

    /// Delete, within the selection, every message that is durable: stored by this run
    /// or recorded before. DELE is sent only once a message is durable and recorded.
    #[must_use]
    pub fn delete(mut self, delete: bool) -> Self {
        self.delete = delete;
        self
    }
}

/// The multi-connection coordinator, over any [`Connector`] (so any runtime).
///
/// Sessions are futures polled together by the caller's task: no spawning, nothing
/// runtime-specific. The first session lists the maildrop (UIDL and LIST, one round
/// trip), the run is planned from that snapshot (largest messages first), and up to
/// the chosen number of sessions take batches of it, pipelined when the server allows.
/// Message numbers are per session: every session maps UIDs through its own snapshot.
///
/// ```no_run
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// use pop3_multi::{Multi, MultiConnectionMode, MultiOptions};
/// use pop3_tokio::{Client, ConnectOptions, Login};
///
/// let connector = Client::connector(ConnectOptions::new("pop.example.com"), Login::new("alice", "secret"));
/// let multi = Multi::new(connector)
///     .options(MultiOptions::new().mode(MultiConnectionMode::Enable).connections(5));
/// for message in multi.list_messages().await?.messages {
///     println!("{} {:?}", message.number, message.subject);
/// }
/// # Ok(())
/// # }
/// ```
pub struct Multi<C> {
    connector: C,
    options: MultiOptions,
    progress: Option<Arc<Progress>>,
    /// Each session on a thread of its own (the thread driver), rather than futures
    /// polled together.
    threads: bool,
    stop: Stop,
}

impl<C> std::fmt::Debug for Multi<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Multi")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl<C: Connector> Multi<C> {
    /// A coordinator opening sessions with `connector`, in [`MultiConnectionMode::Auto`].
    pub fn new(connector: C) -> Self {
        Self {
            connector,
            options: MultiOptions::new(),
            progress: None,
            threads: false,
            stop: Stop::new(),
        }
    }

    /// Stops when `stop` is requested (see [`Stop`]).
    #[must_use]
    pub fn stop_on(mut self, stop: Stop) -> Self {
        self.stop = stop;
        self
    }

    pub(crate) fn on_threads(mut self) -> Self {
        self.threads = true;
        self
    }

    /// The options.
    #[must_use]
    pub fn options(mut self, options: MultiOptions) -> Self {
        self.options = options;
        self
    }

    /// Calls `progress` as messages are done and sessions come and go.
    #[must_use]
    pub fn on_progress(
        mut self,
        progress: impl Fn(&ProgressEvent) + Send + Sync + 'static,
    ) -> Self {
        self.progress = Some(Arc::new(progress));
        self
    }

    fn report(&self, event: &ProgressEvent) {
        if let Some(progress) = &self.progress {
            progress(event);
        }
    }

    /// How many sessions a run of `operation` over `jobs` uses.
    fn wanted(&self, operation: Operation, jobs: &[Job]) -> usize {
        let bytes = jobs.iter().map(|j| j.size).sum();
        let wanted = match self.options.connection_mode() {
            MultiConnectionMode::Disable => 1,
            MultiConnectionMode::Enable => self.options.connection_count(),
            MultiConnectionMode::Auto => auto_sessions(operation, jobs.len(), bytes),
        };
        wanted.clamp(1, jobs.len().max(1))
    }

    /// Logins started before the run is planned, besides the first: with several
    /// sessions asked for, they log in while the first lists the maildrop, instead of
    /// after. None for one session, and none for the thread driver (whose first
    /// session blocks its thread).
    fn head_start(&self, operation: Operation) -> usize {
        if self.threads {
            return 0;
        }
        match self.options.connection_mode() {
            MultiConnectionMode::Disable => 0,
            MultiConnectionMode::Enable => self.options.connection_count() - 1,
            MultiConnectionMode::Auto => auto_head_start(operation),
        }
    }

    /// The first session to log in and its snapshot, with the logins started alongside
    /// it (see [`head_start`](Self::head_start)): whichever logs in first lists the
    /// maildrop (so a server that locks the maildrop serves the winner). A session that
    /// fails taking the snapshot while pipelining is retried once in lockstep (servers
    /// exist that break under even two pipelined commands).
    async fn first(&self, operation: Operation) -> Result<First<'_, C::Session>, MultiError> {
        let mut opening: FuturesUnordered<Connecting<'_, C::Session>> = (0..=self
            .head_start(operation))
            .map(|n| {
                self.connector
                    .connect()
                    .instrument(span(SessionId(n)))
                    .boxed()
            })
            .collect();
        let mut done = Vec::new();
        let session = loop {
            match opening.next().await {
                Some(Ok(session)) => break session,
                Some(Err(e)) => done.push(Err(e)),
                None => {
                    // Every login failed; they usually share a cause: report the first.
                    let first = done.into_iter().find_map(Result::err);
                    return Err(MultiError::Login(
                        first.expect("at least one login was started"),
                    ));
                }
            }
        };
        let mut session = session;
        let pipelining = session.is_pipelining();
        let listed = alongside(session.snapshot(), &mut opening, &mut done)
            .instrument(span(SessionId(0)))
            .await;
        let (session, entries, lockstep) = match listed {
            Ok(entries) => (session, entries, false),
            Err(e) if pipelining && retry_in_lockstep(&e) => {
                let retry = async {
                    let mut session = self.connector.connect().await.map_err(MultiError::Login)?;
                    session
                        .set_pipelining(Pipelining::Never)
                        .await
                        .map_err(MultiError::Snapshot)?;
                    let entries = session.snapshot().await.map_err(MultiError::Snapshot)?;
                    Ok::<_, MultiError>((session, entries))
                };
                let (session, entries) = alongside(retry, &mut opening, &mut done)
                    .instrument(span(SessionId(0)))
                    .await?;
                (session, entries, true)
            }
            Err(e) => return Err(MultiError::Snapshot(e)),
        };
        let early = done
            .into_iter()
            .map(Start::Connected)
            .chain(opening.into_iter().map(Start::Connecting))
            .collect();
        Ok(First {
            session,
            entries,
            lockstep,
            early,
        })
    }

    fn budget(&self, wanted: usize) -> usize {
        wanted + self.options.attempts() as usize + 1
    }

    /// Every message's number, UID, size and headers (`TOP n 0` parsed with
    /// `mail-parser`), listed by as many sessions as the mode gives: Aspose.Email's
    /// `ListMessages`.
    pub async fn list_messages(&self) -> Result<Listing, MultiError> {
        let First {
            session,
            entries,
            lockstep,
            early,
        } = self.first(Operation::ListHeaders).await?;
        let jobs: Vec<Job> = entries.iter().map(job).collect();
        let wanted = self.wanted(Operation::ListHeaders, &jobs);
        self.planned(&jobs);
        let work = ListWork {
            planned: entries
                .iter()
                .map(|e| (e.uid.clone(), (e.msg, e.size)))
                .collect(),
            infos: std::sync::Mutex::new(Vec::new()),
        };
        // Headers are small: the order of the snapshot is the order to hand them out.
        let plan = Plan::new(
            jobs.iter().map(|j| Job {
                size: 1,
                ..j.clone()
            }),
            self.options.attempts(),
        );
        let engine = Engine::new(
            &self.connector,
            &work,
            Shared::new(plan, self.progress.as_deref(), lockstep, self.stop.clone()),
            self.budget(wanted),
        );
        self.drive(&engine, (session, Numbers::of(&entries)), wanted, early)
            .await;
        let plan = lock(&engine.shared.plan);
        let failed = failures(&plan);
        drop(plan);
        let mut messages = std::mem::take(&mut *lock(&work.infos));
        messages.sort_by_key(|m| m.number);
        Ok(Listing {
            messages,
            failed,
            sessions: engine.sessions_opened(),
        })
    }

    /// Streams the selected messages into `request`'s store, each exactly once (by UID),
    /// committed only whole, with as many sessions as the mode gives; with deletion
    /// asked for, DELE each durable message of the selection and report whether QUIT
    /// committed it.
    pub async fn fetch(&self, request: FetchRequest<'_>) -> Result<FetchReport, MultiError> {
        let First {
            session,
            entries,
            lockstep,
            early,
        } = self.first(Operation::Fetch).await?;
        let (selected, unknown) = request.selection.apply(&entries);
        let (recorded, jobs): (Vec<&Entry>, Vec<&Entry>) = selected.into_iter().partition(|e| {
            request.new_only && request.store.contains(request.account, e.uid.as_str())
        });
        let recorded_before: Vec<Uid> = if request.delete {
            recorded.iter().map(|e| e.uid.clone()).collect()
        } else {
            Vec::new()
        };
        let jobs: Vec<Job> = jobs.into_iter().map(job).collect();
        let wanted = self.wanted(Operation::Fetch, &jobs);
        self.planned(&jobs);
        let work = FetchWork::new(
            request.store,
            request.account,
            request.delete,
            recorded_before.clone(),
        );
        let plan = Plan::new(jobs.iter().cloned(), self.options.attempts());
        let engine = Engine::new(
            &self.connector,
            &work,
            Shared::new(plan, self.progress.as_deref(), lockstep, self.stop.clone()),
            self.budget(wanted),
        );
        self.drive(&engine, (session, Numbers::of(&entries)), wanted, early)
            .await;
        let plan = lock(&engine.shared.plan);
        let failed = failures(&plan);
        drop(plan);
        let stored = std::mem::take(&mut *lock(&work.stored));
        let deletions = if request.delete {
            // Every durable message of the selection, in snapshot order.
            let durable: std::collections::HashSet<&Uid> = recorded_before
                .iter()
                .chain(stored.iter().map(|(uid, ..)| uid))
                .collect();
            let order: Vec<Uid> = entries
                .iter()
                .filter(|e| durable.contains(&e.uid))
                .map(|e| e.uid.clone())
                .collect();
            complete_deletions(&engine.shared, &order)
        } else {
            Vec::new()
        };
        Ok(FetchReport {
            stored,
            failed,
            unknown,
            deletions,
            sessions: engine.sessions_opened(),
            fell_back_to_lockstep: engine.fell_back(),
        })
    }

    /// Deletes the selected messages (`DELE` by UID, each committed by its session's
    /// `QUIT`) and reports, per UID, whether the deletion was committed, rolled back
    /// (and why), refused or not sent. A deletion rolled back (its session ended before
    /// QUIT committed it) is sent again by another session, within
    /// [`MultiOptions::max_attempts`]; the report gives the last outcome.
    pub async fn delete(&self, selection: &Selection) -> Result<DeleteReport, MultiError> {
        let First {
            session,
            entries,
            lockstep,
            early,
        } = self.first(Operation::Delete).await?;
        let (selected, unknown) = selection.apply(&entries);
        let jobs: Vec<Job> = selected.into_iter().map(job).collect();
        let order: Vec<Uid> = jobs.iter().map(|j| j.uid.clone()).collect();
        let wanted = self.wanted(Operation::Delete, &jobs);
        self.planned(&jobs);
        let work = DeleteWork::new();
        let plan = Plan::new(jobs, self.options.attempts());
        let engine = Engine::new(
            &self.connector,
            &work,
            Shared::new(plan, self.progress.as_deref(), lockstep, self.stop.clone()),
            self.budget(wanted),
        );
        self.drive(&engine, (session, Numbers::of(&entries)), wanted, early)
            .await;
        let plan = lock(&engine.shared.plan);
        for (uid, failure) in failures(&plan) {
            // A DELE sent keeps its outcome (refused, rolled back); others were not sent.
            engine
                .shared
                .deletion_unless_recorded(&uid, DeletionOutcome::NotSent(failure.to_string()));
        }
        drop(plan);
        Ok(DeleteReport {
            deletions: complete_deletions(&engine.shared, &order),
            unknown,
            sessions: engine.sessions_opened(),
        })
    }

    async fn drive<'a, W: Work<C::Session>>(
        &'a self,
        engine: &Engine<'a, C, W>,
        first: (C::Session, Numbers),
        wanted: usize,
        early: Vec<Start<'a, C::Session>>,
    ) {
        if self.threads {
            engine.run_threads(first, wanted).await;
        } else {
            engine.run(first, wanted, early).await;
        }
    }

    fn planned(&self, jobs: &[Job]) {
        self.report(&ProgressEvent::Planned {
            messages: jobs.len(),
            bytes: jobs.iter().map(|j| j.size).sum(),
        });
    }
}

/// The first session to log in, its snapshot, and the other logins started with it.
struct First<'a, S> {
    session: S,
    entries: Vec<Entry>,
    /// Pipelining broke while listing: the run is in lockstep.
    lockstep: bool,
    early: Vec<Start<'a, S>>,
}

/// Runs `work` to its end while the logins in `opening` go on; those that end meanwhile
/// are kept in `done`.
async fn alongside<S, T>(
    work: impl Future<Output = T>,
    opening: &mut FuturesUnordered<Connecting<'_, S>>,
    done: &mut Vec<Result<S, Error>>,
) -> T {
    let mut work = pin!(work);
    loop {
        if opening.is_empty() {
            return work.await;
        }
        match select(work.as_mut(), opening.next()).await {
            Either::Left((output, _)) => return output,
            Either::Right((Some(login), _)) => done.push(login),
            Either::Right((None, _)) => {}
        }
    }
}

/// Transport failures mid-batch: the server may have choked on the pipeline.
fn retry_in_lockstep(error: &Error) -> bool {
    matches!(
        error.kind(),
        ErrorKind::Closed | ErrorKind::Io | ErrorKind::Protocol | ErrorKind::Timeout
    )
}

fn job(entry: &Entry) -> Job {
    Job {
        uid: entry.uid.clone(),
        size: entry.size,
    }
}

fn failures(plan: &Plan) -> Vec<(Uid, crate::plan::Failure)> {
    plan.results()
        .into_iter()
        .filter_map(|(uid, result)| result.err().map(|failure| (uid, failure)))
        .collect()
}

/// Every UID of `order` (once) with its deletion's outcome; those no session recorded
/// were never sent.
fn complete_deletions(shared: &Shared<'_>, order: &[Uid]) -> Vec<Deletion> {
    let recorded: HashMap<Uid, DeletionOutcome> = shared
        .deletions(order)
        .into_iter()
        .map(|d| (d.uid, d.outcome))
        .collect();
    let mut seen = std::collections::HashSet::new();
    order
        .iter()
        .filter(|uid| seen.insert(*uid))
        .map(|uid| Deletion {
            uid: uid.clone(),
            outcome: recorded.get(uid).cloned().unwrap_or_else(|| {
                DeletionOutcome::NotSent("its session ended before it could delete it".into())
            }),
        })
        .collect()
}
