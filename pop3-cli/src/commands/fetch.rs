//! `pop3 fetch`: download to `.eml` files, a Maildir or an mbox; optionally only new
//! messages, optionally deleting what is durably stored.

use pop3_tokio::AsyncSession as _;
use std::collections::HashMap;
use std::io;
use std::process::ExitCode;
use std::time::Instant;

use pop3_proto::task::BodyEvent;
use pop3_session::AsyncBodySink;

use crate::args::FetchArgs;
use crate::connect::Target;
use crate::error::{CliError, exit};
use crate::output;
use crate::store::{Destination, StateFile};

/// Streams each message into the destination and commits it when complete.
struct FetchSink<'a> {
    destination: &'a mut Destination,
    uids: &'a HashMap<u32, String>,
    state: Option<&'a mut StateFile>,
    /// The message being received: number, and whether it is still good.
    current: Option<(u32, bool)>,
    bytes: u64,
    stored: Vec<u32>,
    failed: Vec<(u32, String)>,
}

impl FetchSink<'_> {
    fn uid(&self, msg: u32) -> &str {
        self.uids.get(&msg).map_or("?", String::as_str)
    }

    async fn fail(&mut self, msg: u32, reason: String) {
        self.destination.abort().await;
        tracing::warn!(uid = self.uid(msg), "not stored: {reason}");
        self.failed.push((msg, reason));
        self.current = Some((msg, false));
    }

    async fn handle(&mut self, event: BodyEvent) {
        match event {
            BodyEvent::Start { msg, .. } => {
                let uid = self.uid(msg).to_owned();
                self.current = Some((msg, true));
                if let Err(e) = self.destination.begin(&uid).await {
                    self.fail(msg, format!("cannot create the file: {e}")).await;
                }
            }
            BodyEvent::Data { msg, chunk } if self.current == Some((msg, true)) => {
                match self.destination.write(&chunk).await {
                    Ok(()) => self.bytes += chunk.len() as u64,
                    Err(e) => self.fail(msg, format!("write failed: {e}")).await,
                }
            }
            BodyEvent::End { msg } => {
                if self.current.take() != Some((msg, true)) {
                    return;
                }
                if let Err(e) = self.destination.commit().await {
                    self.fail(msg, format!("cannot commit: {e}")).await;
                    return;
                }
                self.stored.push(msg);
                let uid = self.uid(msg).to_owned();
                tracing::debug!(uid, "stored");
                if let Some(state) = self.state.as_deref_mut()
                    && let Err(e) = state.record(&uid).await
                {
                    tracing::warn!(uid, "stored, but the state file cannot record it: {e}");
                }
            }
            BodyEvent::Refused { msg, status } => {
                self.failed.push((msg, format!("server refused: {status}")));
            }
            _ => {}
        }
    }
}

impl AsyncBodySink for FetchSink<'_> {
    async fn body(&mut self, event: BodyEvent) -> io::Result<()> {
        self.handle(event).await;
        Ok(())
    }
}

pub(crate) async fn run(
    target: &Target,
    args: &FetchArgs,
    json: bool,
) -> Result<ExitCode, CliError> {
    let started = Instant::now();
    let mut destination = open_destination(args).await?;
    let mut state = if args.new || args.delete || args.state.is_some() {
        let path = args
            .state
            .clone()
            .unwrap_or_else(|| destination.default_state());
        Some(
            StateFile::load(&path)
                .await
                .map_err(CliError::io(format!("cannot read {}", path.display())))?,
        )
    } else {
        None
    };

    let mut client = target.session().await?;
    let listing = client.uidl().await?;
    let uids: HashMap<u32, String> = listing.iter().map(|u| (u.msg, u.uid.to_string())).collect();
    let unknown: Vec<&String> = args
        .uids
        .iter()
        .filter(|u| !uids.values().any(|v| v == *u))
        .collect();
    for uid in &unknown {
        tracing::warn!(uid = uid.as_str(), "no such UID on the server");
    }
    let selected: Vec<u32> = listing
        .iter()
        .filter(|u| args.uids.is_empty() || args.uids.iter().any(|w| w == u.uid.as_str()))
        .filter(|u| !(args.new && state.as_ref().is_some_and(|s| s.contains(u.uid.as_str()))))
        .map(|u| u.msg)
        .collect();
    tracing::info!(selected = selected.len(), total = listing.len(), "fetching");

    let mut sink = FetchSink {
        destination: &mut destination,
        uids: &uids,
        state: state.as_mut(),
        current: None,
        bytes: 0,
        stored: Vec::new(),
        failed: Vec::new(),
    };
    let session_error = client.retr_many(&selected, &mut sink).await.err();
    if session_error.is_some() {
        sink.destination.abort().await;
    }
    let (stored, bytes, mut failed) = (sink.stored, sink.bytes, sink.failed);
    // Whatever the broken session did not deliver failed too.
    for msg in &selected {
        if !stored.contains(msg) && !failed.iter().any(|(m, _)| m == msg) {
            let reason = session_error
                .as_ref()
                .map_or("not delivered".into(), ToString::to_string);
            failed.push((*msg, reason));
        }
    }
    if let Err(e) = destination.finish().await {
        return Err(CliError::io("cannot sync the destination directory")(e));
    }

    let mut deleted = 0;
    if session_error.is_none() {
        if args.delete {
            // Durable this run, or recorded as stored by an earlier run.
            let durable: Vec<u32> = listing
                .iter()
                .filter(|u| {
                    stored.contains(&u.msg)
                        || state.as_ref().is_some_and(|s| s.contains(u.uid.as_str()))
                })
                .map(|u| u.msg)
                .collect();
            deleted = delete(client, &durable, &uids, json).await?;
        } else {
            client.quit().await?;
        }
    }

    let seconds = started.elapsed().as_secs_f64();
    if json {
        output::json(&serde_json::json!({
            "fetched": stored.len(), "bytes": bytes, "seconds": (seconds * 1000.0).round() / 1000.0,
            "deleted": deleted, "failed": failed.len(),
        }));
    }
    eprintln!(
        "fetched {} messages ({bytes} bytes) in {seconds:.2} s",
        stored.len()
    );
    for (msg, reason) in &failed {
        eprintln!(
            "pop3: failed {}: {}",
            uids.get(msg).map_or("?", String::as_str),
            output::clean(reason)
        );
    }
    match (session_error, failed.is_empty(), stored.is_empty()) {
        (None, true, _) => Ok(ExitCode::SUCCESS),
        (Some(e), _, true) => Err(e.into()),
        (_, _, true) if !selected.is_empty() => {
            Err(CliError::Other("no message could be stored".into()))
        }
        _ => Ok(ExitCode::from(exit::PARTIAL)),
    }
}

async fn open_destination(args: &FetchArgs) -> Result<Destination, CliError> {
    let (path, opened) = if let Some(dir) = &args.eml_dir {
        (dir, Destination::eml(dir).await)
    } else if let Some(dir) = &args.maildir {
        (dir, Destination::maildir(dir).await)
    } else if let Some(file) = &args.mbox {
        (file, Destination::mbox(file).await)
    } else {
        return Err(CliError::Usage(
            "choose --eml-dir, --maildir or --mbox".into(),
        ));
    };
    opened.map_err(CliError::io(format!("cannot open {}", path.display())))
}

/// DELE the durable messages and QUIT; reports each. Returns how many deletions the
/// server committed.
async fn delete(
    mut client: pop3_tokio::Client,
    msgs: &[u32],
    uids: &HashMap<u32, String>,
    json: bool,
) -> Result<usize, CliError> {
    let outcomes = client.dele_many(msgs).await?;
    let quit = client.quit().await?;
    let mut deleted = 0;
    for outcome in &outcomes {
        let uid = uids.get(&outcome.msg).map_or("?", String::as_str);
        let result = super::deletion(Some(outcome), &quit);
        deleted += usize::from(result.is_ok());
        super::report_deletion(uid, &result, json, false);
    }
    Ok(deleted)
}
