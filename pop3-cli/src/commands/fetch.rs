//! `pop3 fetch`: download into `.eml` files, a Maildir or an mbox through `pop3-store`
//! (locked against other runs, durable, recorded per account); optionally only new
//! messages, optionally deleting what is durably stored.
//!
//! Order of events, which is what makes `--delete` safe: messages stream into the store's
//! writers and are committed as they complete; every commit is awaited (durable and
//! recorded) and the store synced before the first DELE; DELE goes only to messages of
//! the selection the store holds; QUIT commits.
//!
//! Interrupts (SIGINT, SIGTERM): the first stops taking new work. A message still being
//! received is dropped (its writer removes what it wrote), the messages already handed to
//! the store are committed and recorded, and the session ends with QUIT when it is
//! between commands (mid-RETR-batch the connection is dropped instead, before any DELE
//! was sent, so the server keeps everything). DELE goes out in small batches, so an
//! interrupt during deletion lets QUIT commit the DELEs already sent, each for a durable
//! message, and sends no more. The second interrupt aborts the store, which stops at the
//! next consistent point (no partial mbox record, nothing placed but unrecorded), and
//! exits at once.

use pop3_tokio::AsyncSession as _;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::process::ExitCode;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use pop3_proto::task::{BodyEvent, Outcome, QuitOutcome};
use pop3_session::AsyncBodySink;
use pop3_store::{
    Account, AsyncMessageWriter, AsyncStore, Receipt, StoreError, StoreOptions,
    Target as Destination,
};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::args::FetchArgs;
use crate::connect::Target;
use crate::error::{CliError, exit};
use crate::interrupt::{self, Interrupts};
use crate::output;

/// Threads for the writers' file I/O. They mostly wait on fsync, and the fsyncs of
/// different messages overlap.
const IO_THREADS: usize = 2;

/// Commits handed to the store and not yet durable, at most: enough for the committer to
/// group their fsyncs, few enough to bound memory (each holds up to one buffer).
const COMMITS_IN_FLIGHT: usize = 16;

/// DELE commands per pipelined batch. An interrupt is honoured between batches, so QUIT
/// can commit what was sent while nothing more is.
const DELE_BATCH: usize = 64;

/// Why a UID that `--uid` named was not fetched.
const NO_SUCH_UID: &str = "no such UID on the server";

/// The message being received.
struct Receiving {
    msg: u32,
    /// `None` once it failed: the writer was dropped, which removed what it wrote.
    writer: Option<AsyncMessageWriter>,
    bytes: u64,
}

/// A message handed to the store, committing on a task of its own so that its fsync
/// overlaps the next message's transfer.
struct Committing {
    msg: u32,
    bytes: u64,
    task: JoinHandle<Result<Receipt, StoreError>>,
}

/// Streams each message into a store writer and commits it when complete.
struct FetchSink<'a> {
    store: &'a AsyncStore,
    account: &'a Account,
    uids: &'a HashMap<u32, String>,
    /// Whether commits must reach the store in server order (mbox records do).
    ordered: bool,
    /// Resolves when the previous commit has been handed over (`ordered` only).
    previous: Option<oneshot::Receiver<()>>,
    current: Option<Receiving>,
    committing: VecDeque<Committing>,
    /// Message number and size of every message stored this run.
    stored: Vec<(u32, u64)>,
    failed: Vec<(u32, String)>,
}

impl<'a> FetchSink<'a> {
    fn new(store: &'a AsyncStore, account: &'a Account, uids: &'a HashMap<u32, String>) -> Self {
        Self {
            store,
            account,
            uids,
            ordered: matches!(store.target(), Destination::Mbox(_)),
            previous: None,
            current: None,
            committing: VecDeque::new(),
            stored: Vec::new(),
            failed: Vec::new(),
        }
    }

    fn uid(&self, msg: u32) -> &str {
        self.uids.get(&msg).map_or("?", String::as_str)
    }

    fn fail(&mut self, msg: u32, reason: String) {
        tracing::warn!(uid = self.uid(msg), "not stored: {reason}");
        self.failed.push((msg, reason));
    }

    async fn handle(&mut self, event: BodyEvent) {
        match event {
            BodyEvent::Start { msg, .. } => {
                // Nothing can be half-received here; if it were, it is dropped, not stored.
                self.current = None;
                let mut receiving = Receiving {
                    msg,
                    writer: None,
                    bytes: 0,
                };
                match self.uids.get(&msg) {
                    Some(uid) => match self.store.begin(self.account, uid).await {
                        Ok(writer) => receiving.writer = Some(writer),
                        Err(e) => self.fail(msg, format!("cannot start storing it: {e}")),
                    },
                    None => self.fail(msg, "the server listed no UID for it".into()),
                }
                self.current = Some(receiving);
            }
            BodyEvent::Data { msg, chunk } => {
                let Some(receiving) = self.current.as_mut().filter(|r| r.msg == msg) else {
                    return;
                };
                let Some(writer) = receiving.writer.as_mut() else {
                    return;
                };
                match writer.write(&chunk).await {
                    Ok(()) => receiving.bytes += chunk.len() as u64,
                    Err(e) => {
                        receiving.writer = None;
                        self.fail(msg, format!("cannot write it: {e}"));
                    }
                }
            }
            BodyEvent::End { msg } => {
                let Some(receiving) = self.current.take() else {
                    return;
                };
                if let (true, Some(writer)) = (receiving.msg == msg, receiving.writer) {
                    self.commit(msg, receiving.bytes, writer).await;
                }
            }
            BodyEvent::Refused { msg, status } => {
                self.fail(msg, format!("the server refused it: {status}"));
            }
            // Events a newer core may add say nothing about storing.
            _ => {}
        }
    }

    /// Hands a complete message to the store on a task of its own, which goes on even if
    /// the transfer is interrupted. Waits only when many commits are in flight.
    async fn commit(&mut self, msg: u32, bytes: u64, writer: AsyncMessageWriter) {
        let previous = self.previous.take();
        let handed_over = if self.ordered {
            let (tx, rx) = oneshot::channel();
            self.previous = Some(rx);
            Some(tx)
        } else {
            None
        };
        let task = tokio::spawn(async move {
            if let Some(previous) = previous {
                // Sent, or dropped by a failed commit: either way, our turn.
                let _ = previous.await;
            }
            let pending = writer.commit().await;
            if let Some(tx) = handed_over {
                let _ = tx.send(());
            }
            pending?.await
        });
        self.committing.push_back(Committing { msg, bytes, task });
        while self.committing.len() > COMMITS_IN_FLIGHT {
            self.settle_oldest().await;
        }
    }

    /// Waits for the oldest commit in flight. Cancel-safe: the commit stays queued until
    /// its outcome is known.
    async fn settle_oldest(&mut self) {
        let Some(oldest) = self.committing.front_mut() else {
            return;
        };
        let result = (&mut oldest.task).await;
        let Some(Committing { msg, bytes, .. }) = self.committing.pop_front() else {
            return;
        };
        match result {
            Ok(Ok(_)) => self.stored.push((msg, bytes)),
            Ok(Err(e)) => self.fail(msg, format!("cannot store it: {e}")),
            Err(e) => self.fail(msg, format!("its commit did not finish: {e}")),
        }
    }

    /// Waits until every message handed to the store is durable and recorded, or failed.
    async fn settle_all(&mut self) {
        while !self.committing.is_empty() {
            self.settle_oldest().await;
        }
    }
}

impl FetchSink<'_> {
    /// Takes a chunk of the current message if that needs no waiting: the common case,
    /// once per line that started with a dot in a dot-stuffed body. Returns the event
    /// when it needs [`FetchSink::handle`].
    fn take_at_once(&mut self, event: BodyEvent) -> Option<BodyEvent> {
        let BodyEvent::Data { msg, chunk } = &event else {
            return Some(event);
        };
        let Some(receiving) = self.current.as_mut().filter(|r| r.msg == *msg) else {
            return Some(event);
        };
        // A failed message's data goes nowhere.
        let writer = receiving.writer.as_mut()?;
        if writer.try_write(chunk) {
            receiving.bytes += chunk.len() as u64;
            None
        } else {
            Some(event)
        }
    }
}

/// What [`FetchSink`] returns per event: done at once (most body chunks), or a boxed
/// future for the events that may wait (a message's start and end, a full buffer).
enum SinkFuture<'a> {
    Done,
    Waiting(Pin<Box<dyn Future<Output = ()> + Send + 'a>>),
}

impl Future for SinkFuture<'_> {
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Done => Poll::Ready(Ok(())),
            Self::Waiting(future) => future.as_mut().poll(cx).map(Ok),
        }
    }
}

impl AsyncBodySink for FetchSink<'_> {
    fn body(&mut self, event: BodyEvent) -> impl Future<Output = io::Result<()>> + Send {
        // Storage failures fail one message, never the session: the batch goes on.
        match self.take_at_once(event) {
            None => SinkFuture::Done,
            Some(event) => SinkFuture::Waiting(Box::pin(self.handle(event))),
        }
    }
}

/// What a fetch did, for the report.
#[derive(Default)]
struct Report {
    /// Messages stored: their UIDs' sizes, in bytes.
    stored: Vec<u64>,
    /// UID and reason of every selected message that was not stored.
    failed: Vec<(String, String)>,
    /// Selected messages left alone because of an interrupt.
    not_fetched: usize,
    /// With `--delete`: each durable UID of the selection, and whether QUIT committed its
    /// deletion.
    deletions: Vec<(String, Result<(), String>)>,
    /// With `--mark-seen`: how many UIDs were recorded.
    marked: Option<usize>,
    /// The session broke while retrieving.
    session_error: Option<pop3_session::Error>,
    /// Whether messages were to be retrieved at all.
    any_selected: bool,
    interrupted: bool,
    /// A failure after the messages were stored (the sync before DELE, DELE, QUIT).
    late_error: Option<CliError>,
}

impl Report {
    fn interrupted() -> Self {
        Self {
            interrupted: true,
            ..Self::default()
        }
    }
}

pub(crate) async fn run(
    target: &Target,
    args: &FetchArgs,
    json: bool,
    lock_timeout: Duration,
    interrupts: &Interrupts,
) -> Result<ExitCode, CliError> {
    let started = Instant::now();
    let account = target.account();
    let mut options = StoreOptions::new(destination(args)?, account.clone())
        // Another run on this destination is waited for as long as a slow server would be.
        .lock_timeout(lock_timeout);
    if let Some(path) = &args.state {
        options = options.state_path(path);
    }
    let store = tokio::select! {
        biased;
        opened = AsyncStore::open(options, IO_THREADS) => opened?,
        () = interrupts.reached(1) => {
            eprintln!("pop3: interrupted before anything was fetched");
            return Ok(ExitCode::from(interrupt::EXIT));
        }
    };
    report_recovery(&store);

    let fetched = tokio::select! {
        biased;
        () = interrupts.reached(2) => None,
        fetched = fetch(target, args, &store, &account, interrupts, json) => Some(fetched),
    };
    let Some(fetched) = fetched else {
        // Stop now; the store still ends on whole, recorded messages.
        let aborted = store.abort().await;
        eprintln!("pop3: interrupted again: stopped at once");
        aborted?;
        return Ok(ExitCode::from(interrupt::EXIT));
    };
    let stats = store.stats();
    let closed = store.close().await;
    let report = fetched?;
    closed?;
    tracing::info!(
        write_calls = stats.write_calls,
        state_write_calls = stats.state_write_calls,
        bytes_written = stats.bytes_written,
        fsyncs = stats.fsyncs,
        batches = stats.batches,
        committed = stats.committed,
        peak_buffer = stats.peak_buffer,
        "store"
    );
    summarise(report, started.elapsed().as_secs_f64(), json)
}

/// The destination the arguments name.
fn destination(args: &FetchArgs) -> Result<Destination, CliError> {
    if let Some(dir) = &args.eml_dir {
        Ok(Destination::EmlDir(dir.clone()))
    } else if let Some(dir) = &args.maildir {
        Ok(Destination::Maildir(dir.clone()))
    } else if let Some(file) = &args.mbox {
        Ok(Destination::Mbox(file.clone()))
    } else {
        Err(CliError::Usage(
            "choose --eml-dir, --maildir or --mbox".into(),
        ))
    }
}

/// Says what opening the store repaired of an interrupted earlier run.
fn report_recovery(store: &AsyncStore) {
    let recovery = store.recovery();
    if !recovery.recorded.is_empty()
        || !recovery.abandoned.is_empty()
        || recovery.truncated_bytes > 0
    {
        tracing::warn!(
            "an earlier run on {} was interrupted: {} stored message(s) recorded now, \
             {} unfinished one(s) dropped, {} byte(s) of a partial mbox record cut off",
            store.target().path().display(),
            recovery.recorded.len(),
            recovery.abandoned.len(),
            recovery.truncated_bytes
        );
    }
    if recovery.migrated > 0 {
        tracing::info!(
            entries = recovery.migrated,
            "old-format state file migrated to this account"
        );
    }
}

/// Connects, selects, retrieves into the store, and deletes what the selection holds
/// durably; returns what happened.
async fn fetch(
    target: &Target,
    args: &FetchArgs,
    store: &AsyncStore,
    account: &Account,
    interrupts: &Interrupts,
    json: bool,
) -> Result<Report, CliError> {
    let connected = tokio::select! {
        biased;
        connected = async {
            let mut client = target.session().await?;
            let listing = client.uidl().await?;
            Ok::<_, CliError>((client, listing))
        } => Some(connected?),
        () = interrupts.reached(1) => None,
    };
    let Some((mut client, listing)) = connected else {
        return Ok(Report::interrupted());
    };
    let uids: HashMap<u32, String> = listing.iter().map(|u| (u.msg, u.uid.to_string())).collect();
    let mut report = Report::default();
    let mut named: Vec<&String> = Vec::new();
    for uid in &args.uids {
        if !named.contains(&uid) {
            named.push(uid);
        }
    }
    for uid in named {
        if !listing.iter().any(|u| u.uid.as_str() == uid) {
            eprintln!("pop3: {NO_SUCH_UID}: {}", output::clean(uid));
            report.failed.push((uid.clone(), NO_SUCH_UID.into()));
        }
    }
    // The selection: every message, or those named by --uid.
    let selection: Vec<(u32, &str)> = listing
        .iter()
        .filter(|u| args.uids.is_empty() || args.uids.iter().any(|w| w == u.uid.as_str()))
        .map(|u| (u.msg, u.uid.as_str()))
        .collect();

    if args.mark_seen {
        store
            .mark_seen(account, selection.iter().map(|(_, uid)| *uid))
            .await?;
        report.marked = Some(selection.len());
        client.quit().await?;
        report.interrupted = interrupts.is_set();
        return Ok(report);
    }

    let to_fetch: Vec<u32> = selection
        .iter()
        .filter(|(_, uid)| !(args.new && store.contains(account, uid)))
        .map(|(msg, _)| *msg)
        .collect();
    report.any_selected = !to_fetch.is_empty();
    tracing::info!(selected = to_fetch.len(), total = listing.len(), "fetching");

    let mut sink = FetchSink::new(store, account, &uids);
    let retrieved = tokio::select! {
        biased;
        retrieved = client.retr_many(&to_fetch, &mut sink) => Some(retrieved),
        () = interrupts.reached(1) => None,
    };
    // A message still being received is dropped here: its writer removes its file.
    sink.current = None;
    sink.settle_all().await;
    let synced = store.sync().await;

    for (msg, bytes) in &sink.stored {
        tracing::debug!(uid = sink.uid(*msg), bytes, "stored");
        report.stored.push(*bytes);
    }
    let stored: Vec<u32> = sink.stored.iter().map(|(msg, _)| *msg).collect();
    let mut failed: Vec<u32> = Vec::new();
    for (msg, reason) in std::mem::take(&mut sink.failed) {
        failed.push(msg);
        report.failed.push((sink.uid(msg).to_owned(), reason));
    }
    let undelivered = to_fetch
        .iter()
        .filter(|msg| !stored.contains(msg) && !failed.contains(msg));
    match &retrieved {
        Some(Err(e)) => {
            for msg in undelivered {
                report
                    .failed
                    .push((sink.uid(*msg).to_owned(), format!("not delivered: {e}")));
            }
        }
        _ => report.not_fetched = undelivered.count(),
    }

    // Durable messages of the selection: stored now, or recorded before. `contains` is
    // true only once a message is durable and its UID recorded.
    let durable: Vec<(u32, &str)> = match &synced {
        Ok(_) => selection
            .iter()
            .filter(|(_, uid)| store.contains(account, uid))
            .copied()
            .collect(),
        Err(_) => Vec::new(),
    };
    match retrieved {
        // Dropped mid-batch: no DELE was sent, so the server keeps every message.
        None => {
            drop(client);
            if args.delete {
                report.deletions = not_deleted(&durable, "interrupted before DELE");
            }
        }
        Some(Err(e)) => {
            if args.delete {
                report.deletions = not_deleted(&durable, "the session failed before DELE");
            }
            report.session_error = Some(e);
        }
        Some(Ok(_)) => {
            if let Err(e) = synced {
                // Nothing can be vouched for: delete nothing, and say why.
                if args.delete {
                    report.deletions = not_deleted(&durable, "the store could not be synced");
                }
                report.late_error = Some(e.into());
                if let Err(e) = client.quit().await {
                    tracing::warn!("QUIT failed: {e}");
                }
            } else if args.delete {
                let (deletions, error) = delete(client, &durable, interrupts).await;
                report.deletions = deletions;
                report.late_error = error.map(CliError::from);
            } else if let Err(e) = client.quit().await {
                report.late_error = Some(e.into());
            }
        }
    }
    for (uid, result) in &report.deletions {
        super::report_deletion(uid, result, json, false);
    }
    // An interrupt that arrived at any point cut something short (the rest of the
    // messages, or of the deletions).
    report.interrupted = interrupts.is_set();
    Ok(report)
}

fn not_deleted(durable: &[(u32, &str)], why: &str) -> Vec<(String, Result<(), String>)> {
    durable
        .iter()
        .map(|(_, uid)| ((*uid).to_owned(), Err(why.to_owned())))
        .collect()
}

/// DELE the durable messages in batches, then QUIT; returns each UID's outcome, and the
/// session's error if it broke.
async fn delete(
    mut client: pop3_tokio::Client,
    durable: &[(u32, &str)],
    interrupts: &Interrupts,
) -> (
    Vec<(String, Result<(), String>)>,
    Option<pop3_session::Error>,
) {
    let mut outcomes: Vec<Outcome> = Vec::new();
    let mut broken = None;
    for batch in durable.chunks(DELE_BATCH) {
        if interrupts.is_set() {
            break;
        }
        let msgs: Vec<u32> = batch.iter().map(|(msg, _)| *msg).collect();
        match client.dele_many(&msgs).await {
            Ok(batch) => outcomes.extend(batch),
            Err(e) => {
                broken = Some(e);
                break;
            }
        }
    }
    let quit: Result<QuitOutcome, String> = match &broken {
        Some(e) => Err(format!("the session failed before QUIT: {e}")),
        None => client.quit().await.map_err(|e| {
            let text = format!("QUIT failed: {e}");
            broken = Some(e);
            text
        }),
    };
    let deletions = durable
        .iter()
        .map(|(msg, uid)| {
            let outcome = outcomes.iter().find(|o| o.msg == *msg);
            let result = match (&quit, outcome) {
                (Err(why), _) => Err(why.clone()),
                (Ok(_), None) => Err("interrupted before DELE".to_owned()),
                (Ok(quit), Some(outcome)) => super::deletion(Some(outcome), quit),
            };
            ((*uid).to_owned(), result)
        })
        .collect();
    (deletions, broken)
}

/// Prints the summary and failures; returns the exit code.
fn summarise(report: Report, seconds: f64, json: bool) -> Result<ExitCode, CliError> {
    let fetched = report.stored.len();
    let bytes: u64 = report.stored.iter().sum();
    let deleted = report.deletions.iter().filter(|(_, r)| r.is_ok()).count();
    let failed = report.failed.len() + report.not_fetched;
    if json {
        let mut summary = serde_json::json!({
            "fetched": fetched, "bytes": bytes, "seconds": (seconds * 1000.0).round() / 1000.0,
            "deleted": deleted, "failed": failed,
        });
        if let Some(marked) = report.marked {
            summary["marked"] = marked.into();
        }
        if report.interrupted {
            summary["interrupted"] = true.into();
        }
        output::json(&summary);
    }
    if let Some(marked) = report.marked {
        eprintln!("marked {marked} messages as seen");
    }
    eprintln!("fetched {fetched} messages ({bytes} bytes) in {seconds:.2} s");
    for (uid, reason) in &report.failed {
        // Unknown UIDs were reported when found.
        if reason != NO_SUCH_UID {
            eprintln!(
                "pop3: failed {}: {}",
                output::clean(uid),
                output::clean(reason)
            );
        }
    }
    if report.interrupted {
        let not_deleted = report.deletions.len() - deleted;
        let deletions = if report.deletions.is_empty() {
            String::new()
        } else {
            format!(", {not_deleted} not deleted")
        };
        eprintln!(
            "pop3: interrupted: {} selected message(s) not fetched{deletions}",
            report.not_fetched
        );
        return Ok(ExitCode::from(interrupt::EXIT));
    }
    if let Some(e) = report.late_error {
        return Err(e);
    }
    let unknown = report
        .failed
        .iter()
        .filter(|(_, reason)| reason == NO_SUCH_UID)
        .count();
    match report.session_error {
        Some(e) if fetched == 0 => Err(e.into()),
        _ if fetched == 0 && report.any_selected && failed > unknown => {
            Err(CliError::Other("no message could be stored".into()))
        }
        Some(_) => Ok(ExitCode::from(exit::PARTIAL)),
        None if failed > 0 => Ok(ExitCode::from(exit::PARTIAL)),
        None => Ok(ExitCode::SUCCESS),
    }
}
