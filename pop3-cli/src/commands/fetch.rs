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
//!
//! `--max-time` stops the run as the first interrupt does, and exits 5 (partial); if
//! winding down takes longer than `limit::GRACE`, the store is aborted as by the second
//! interrupt.

use pop3_tokio::AsyncSession as _;
use std::collections::HashSet;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pop3_multi::plan::Failure;
use pop3_multi::{DeletionOutcome, FetchRequest, MultiError, Selection, Stop};
use pop3_store::{Account, AsyncStore, StoreOptions, Target as Destination};

use super::NO_SUCH_UID;
use crate::args::FetchArgs;
use crate::connect::Target;
use crate::error::{CliError, exit};
use crate::interrupt::{self, Interrupts};
use crate::limit::RunLimit;
use crate::output::{self, plural};
use crate::progress::Bar;

/// Threads for the writers' file I/O. They mostly wait on fsync, and the fsyncs of
/// different messages overlap.
const IO_THREADS: usize = 4;

/// What a fetch did, for the report.
#[derive(Default)]
struct Report {
    /// Messages stored: their UIDs' sizes, in bytes.
    stored: Vec<u64>,
    /// UID and reason of every selected message that was not stored.
    failed: Vec<(String, String)>,
    /// Selected messages left alone because of an interrupt or `--max-time`.
    not_fetched: usize,
    /// With `--delete`: each durable UID of the selection, and whether QUIT committed its
    /// deletion.
    deletions: Vec<(String, Result<(), String>)>,
    /// With `--mark-seen`: how many UIDs were recorded.
    marked: Option<usize>,
    /// Whether messages were to be retrieved at all.
    any_selected: bool,
    interrupted: bool,
    /// `--max-time` was reached (and no interrupt came).
    out_of_time: bool,
}

impl Report {
    /// Stopped before any session was open.
    fn stopped(stops: Stops<'_>) -> Self {
        let mut report = Self::default();
        report.note_stops(stops);
        report
    }

    /// Records whether an interrupt or the time limit cut the run short.
    fn note_stops(&mut self, stops: Stops<'_>) {
        self.interrupted = stops.interrupts.is_set();
        self.out_of_time = !self.interrupted && stops.limit.is_reached();
    }
}

/// What may stop a fetch early: interrupts, and `--max-time`.
#[derive(Clone, Copy)]
pub(crate) struct Stops<'a> {
    pub(crate) interrupts: &'a Interrupts,
    pub(crate) limit: &'a RunLimit,
}

impl Stops<'_> {
    /// Resolves when the run must stop taking new work.
    async fn stop(&self) {
        tokio::select! {
            () = self.interrupts.reached(1) => {}
            () = self.limit.reached() => {}
        }
    }
}

/// Why a fetch was cut at once.
enum Cut {
    SecondInterrupt,
    OutOfTime,
}

pub(crate) async fn run(
    target: &Target,
    args: &FetchArgs,
    json: bool,
    lock_timeout: Duration,
    stops: Stops<'_>,
    show_progress: bool,
) -> Result<ExitCode, CliError> {
    let Stops { interrupts, limit } = stops;
    let started = Instant::now();
    let account = target.account()?;
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
            output::error("interrupted before anything was fetched");
            return Ok(ExitCode::from(interrupt::EXIT));
        }
        () = limit.reached() => {
            output::error(&format!(
                "{} reached before the destination could be opened: nothing fetched",
                limit.describe()
            ));
            return Ok(ExitCode::from(exit::PARTIAL));
        }
    };
    report_recovery(&store);

    let fetched = tokio::select! {
        biased;
        () = interrupts.reached(2) => Err(Cut::SecondInterrupt),
        () = limit.grace_over() => Err(Cut::OutOfTime),
        fetched = fetch(target, args, &store, &account, stops, show_progress, json) => Ok(fetched),
    };
    let fetched = match fetched {
        Ok(fetched) => fetched,
        Err(cut) => {
            // Stop now; the store still ends on whole, recorded messages.
            let aborted = store.abort().await;
            let code = match cut {
                Cut::SecondInterrupt => {
                    output::error("interrupted again: stopped at once");
                    interrupt::EXIT
                }
                Cut::OutOfTime => {
                    output::error(&format!(
                        "{} reached, and winding down took too long: stopped at once; what \
                         was stored is kept",
                        limit.describe()
                    ));
                    exit::PARTIAL
                }
            };
            aborted?;
            return Ok(ExitCode::from(code));
        }
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
    summarise(&report, started.elapsed().as_secs_f64(), json)
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
        let (recorded, abandoned) = (recovery.recorded.len(), recovery.abandoned.len());
        let cut = usize::try_from(recovery.truncated_bytes).unwrap_or(usize::MAX);
        tracing::warn!(
            "an earlier run on {} was interrupted: {recorded} stored message{} recorded now, \
             {abandoned} unfinished one{} dropped, {cut} byte{} of a partial mbox record cut off",
            store.target().path().display(),
            plural(recorded),
            plural(abandoned),
            plural(cut),
        );
    }
    if recovery.migrated > 0 {
        tracing::info!(
            entries = recovery.migrated,
            "old-format state file migrated to this account"
        );
    }
}

/// Connects, selects, retrieves into the store with as many sessions as `--connections`
/// allows, and deletes what the selection holds durably; returns what happened.
async fn fetch(
    target: &Target,
    args: &FetchArgs,
    store: &AsyncStore,
    account: &Account,
    stops: Stops<'_>,
    show_progress: bool,
    json: bool,
) -> Result<Report, CliError> {
    if args.mark_seen {
        return mark_seen(target, args, store, account, stops).await;
    }
    let selection = if args.uids.is_empty() {
        Selection::All
    } else {
        Selection::Uids(args.uids.clone())
    };
    let request = FetchRequest::new(store, account)
        .selection(selection)
        .new_only(args.new)
        .delete(args.delete);
    let stop = Stop::new();
    let bar = Arc::new(Bar::new(show_progress, false));
    let events = Arc::clone(&bar);
    let multi = target
        .multi()?
        .stop_on(stop.clone())
        .on_progress(move |event| events.event(event));
    // The first interrupt, or --max-time, stops the run: no new work, what arrived whole
    // is kept.
    let fetched = tokio::select! {
        fetched = multi.fetch(request) => fetched,
        () = async {
            stops.stop().await;
            stop.stop();
            std::future::pending::<()>().await;
        } => unreachable!("never resolves"),
    };
    bar.finish();
    let fetched = match fetched {
        Ok(fetched) => fetched,
        Err(MultiError::Login(e) | MultiError::Snapshot(e))
            if stops.interrupts.is_set() || stops.limit.is_reached() =>
        {
            tracing::debug!("stopped while connecting: {e}");
            return Ok(Report::stopped(stops));
        }
        Err(e) => return Err(e.into()),
    };
    tracing::info!(
        sessions = fetched.sessions,
        lockstep = fetched.fell_back_to_lockstep,
        "fetched"
    );
    let mut report = Report::default();
    for uid in &fetched.unknown {
        super::report_unknown_uid(uid, false);
        report.failed.push((uid.clone(), NO_SUCH_UID.into()));
    }
    report.any_selected = !fetched.stored.is_empty() || !fetched.failed.is_empty();
    for (uid, bytes, session) in &fetched.stored {
        tracing::debug!(uid = uid.as_str(), bytes, session = session.0, "stored");
        report.stored.push(*bytes);
    }
    for (uid, failure) in &fetched.failed {
        match failure {
            Failure::Stopped => report.not_fetched += 1,
            other => report.failed.push((uid.to_string(), other.to_string())),
        }
    }
    for deletion in &fetched.deletions {
        let result = match &deletion.outcome {
            DeletionOutcome::Committed => Ok(()),
            other => Err(super::why_not_deleted(other)),
        };
        super::report_deletion(deletion.uid.as_str(), &result, json, false);
        report.deletions.push((deletion.uid.to_string(), result));
    }
    // An interrupt (or the time limit) that arrived at any point cut something short
    // (the rest of the messages, or of the deletions).
    report.note_stops(stops);
    Ok(report)
}

/// `--mark-seen`: records the selection as seen, downloading nothing (one session).
async fn mark_seen(
    target: &Target,
    args: &FetchArgs,
    store: &AsyncStore,
    account: &Account,
    stops: Stops<'_>,
) -> Result<Report, CliError> {
    let mut client = target.session().await?;
    let entries = client.snapshot().await?;
    let mut report = Report::default();
    let present: HashSet<&str> = entries.iter().map(|e| e.uid.as_str()).collect();
    let mut named = HashSet::new();
    for uid in &args.uids {
        if named.insert(uid.as_str()) && !present.contains(uid.as_str()) {
            super::report_unknown_uid(uid, false);
            report.failed.push((uid.clone(), NO_SUCH_UID.into()));
        }
    }
    let selection: Vec<&str> = entries
        .iter()
        .map(|e| e.uid.as_str())
        .filter(|uid| named.is_empty() || named.contains(uid))
        .collect();
    store.mark_seen(account, selection.iter().copied()).await?;
    report.marked = Some(selection.len());
    client.quit().await?;
    report.note_stops(stops);
    Ok(report)
}

/// Prints the summary and failures; returns the exit code.
fn summarise(report: &Report, seconds: f64, json: bool) -> Result<ExitCode, CliError> {
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
        if report.out_of_time {
            summary["max_time_reached"] = true.into();
        }
        output::json(&summary);
    }
    if let Some(marked) = report.marked {
        output::note(&format!(
            "marked {marked} message{} as seen",
            plural(marked)
        ));
    }
    output::note(&format!(
        "fetched {fetched} message{} ({bytes} byte{}) in {seconds:.2} s",
        plural(fetched),
        plural(usize::try_from(bytes).unwrap_or(usize::MAX))
    ));
    for (uid, reason) in &report.failed {
        // Unknown UIDs were reported when found.
        if reason != NO_SUCH_UID {
            output::error(&format!(
                "failed {}: {}",
                output::clean(uid),
                output::clean(reason)
            ));
        }
    }
    // How a cut-short run ends its one line: what it did not delete, if it was deleting.
    let deletions = if report.deletions.is_empty() {
        String::new()
    } else {
        format!(", {} not deleted", report.deletions.len() - deleted)
    };
    if report.interrupted {
        output::error(&format!(
            "interrupted: {} selected message{} not fetched{deletions}",
            report.not_fetched,
            plural(report.not_fetched)
        ));
        return Ok(ExitCode::from(interrupt::EXIT));
    }
    if report.out_of_time {
        output::error(&format!(
            "--max-time reached: {} selected message{} not fetched{deletions}; what was \
             fetched is stored",
            report.not_fetched,
            plural(report.not_fetched)
        ));
        return Ok(ExitCode::from(exit::PARTIAL));
    }
    let unknown = report
        .failed
        .iter()
        .filter(|(_, reason)| reason == NO_SUCH_UID)
        .count();
    // Each was reported when known; a run asked to delete that could not is partial.
    let not_deleted = report.deletions.len() - deleted;
    match () {
        () if fetched == 0 && report.any_selected && failed > unknown => {
            Err(CliError::Other("no message could be stored".into()))
        }
        () if failed > 0 || not_deleted > 0 => Ok(ExitCode::from(exit::PARTIAL)),
        () => Ok(ExitCode::SUCCESS),
    }
}
