//! One module per subcommand.

mod capa;
mod dele;
mod fetch;
mod info;
mod list;

use pop3_tokio::AsyncSession as _;
use std::process::ExitCode;
use std::time::Duration;

use pop3_multi::DeletionOutcome;

use crate::args::{Cli, Command};
use crate::connect::Target;
use crate::error::{CliError, exit};
use crate::interrupt::{self, Interrupts};
use crate::limit::RunLimit;
use crate::output;

/// Runs the subcommand; `Ok` carries the exit code (0, 5 for partial success, 130 when
/// interrupted).
pub(crate) async fn run(cli: Cli) -> Result<ExitCode, CliError> {
    let limit = RunLimit::new(cli.max_time);
    let interrupts = Interrupts::listen().map_err(CliError::io("cannot handle signals"))?;
    let target = Target::from_cli(&cli)?;
    if target.is_embedded() {
        tracing::info!("no --host: using the embedded demo server");
    }
    let command = async {
        match &cli.command {
            Command::Capa => capa::run(&target, cli.json).await,
            Command::Info => info::run(&target, cli.json).await,
            Command::Stat => stat(&target, cli.json).await,
            Command::List(args) => list::run(&target, args, cli.json, cli.quiet > 0).await,
            Command::Fetch(args) => {
                let lock_timeout = Duration::from_secs(cli.timeout);
                let show_progress = !cli.json && cli.quiet == 0;
                let stops = fetch::Stops {
                    interrupts: &interrupts,
                    limit: &limit,
                };
                fetch::run(&target, args, cli.json, lock_timeout, stops, show_progress).await
            }
            Command::Dele(args) => dele::run(&target, args, cli.json).await,
        }
    };
    if matches!(cli.command, Command::Fetch(_)) {
        // fetch winds down by itself, so that nothing half-written is left.
        return command.await;
    }
    tokio::select! {
        biased;
        result = command => result,
        () = interrupts.reached(1) => {
            eprintln!("pop3: interrupted");
            Ok(ExitCode::from(interrupt::EXIT))
        }
        () = limit.reached() => {
            eprintln!("pop3: {} reached before the command finished", limit.describe());
            Ok(ExitCode::from(exit::PARTIAL))
        }
    }
}

async fn stat(target: &Target, json: bool) -> Result<ExitCode, CliError> {
    let mut client = target.session().await?;
    let size = client.stat().await?;
    client.quit().await?;
    if json {
        output::json(&serde_json::json!({"count": size.messages, "octets": size.octets}));
    } else {
        output::line(&format!("{} {}", size.messages, size.octets));
    }
    Ok(ExitCode::SUCCESS)
}

/// Why a deletion was not committed, in words.
pub(crate) fn why_not_deleted(outcome: &DeletionOutcome) -> String {
    match outcome {
        DeletionOutcome::Committed => "deleted".to_owned(),
        DeletionOutcome::RolledBack(why) => format!("rolled back: {why}"),
        DeletionOutcome::Refused(status) => status.clone(),
        DeletionOutcome::NotSent(why) => why.clone(),
        // Outcomes a newer coordinator may add.
        other => format!("{other:?}"),
    }
}

/// Reports one UID's deletion: a JSON object on stdout, or `deleted UID` (on stdout when
/// the deletion is the command's output, else on stderr) and failures on stderr.
pub(crate) fn report_deletion(uid: &str, result: &Result<(), String>, json: bool, to_stdout: bool) {
    match result {
        _ if json => output::json(&serde_json::json!({ "uid": uid, "deleted": result.is_ok() })),
        Ok(()) if to_stdout => output::line(&format!("deleted {uid}")),
        Ok(()) => eprintln!("deleted {uid}"),
        Err(why) => eprintln!("pop3: not deleted {uid}: {}", output::clean(why)),
    }
}
