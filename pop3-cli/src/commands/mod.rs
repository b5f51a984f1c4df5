//! One module per subcommand.

mod bench;
mod capa;
mod dele;
mod fetch;
mod info;
mod list;
mod reference;

use pop3_tokio::AsyncSession as _;
use std::process::ExitCode;
use std::time::Duration;

use pop3_multi::DeletionOutcome;

use crate::args::{Cli, Command};
use crate::connect::{DemoSetup, Target};
use crate::error::{CliError, exit};
use crate::interrupt::{self, Interrupts};
use crate::limit::RunLimit;
use crate::output;

/// Runs the subcommand; `Ok` carries the exit code (0, 5 for partial success, 130 when
/// interrupted).
pub(crate) async fn run(cli: Cli) -> Result<ExitCode, CliError> {
    // Commands about the command itself: no server, no signals.
    if matches!(cli.command, Command::Completions(_) | Command::Man(_)) {
        return about_itself(&cli.command);
    }
    let limit = RunLimit::new(cli.max_time);
    let interrupts = Interrupts::listen().map_err(CliError::io("cannot handle signals"))?;
    let demo = match &cli.command {
        Command::Bench(args) | Command::Demo(args) => bench::demo_setup(args),
        _ => DemoSetup::default(),
    };
    let target = Target::from_cli(&cli, demo)?;
    if target.is_embedded() && !matches!(cli.command, Command::Demo(_)) {
        output::note(
            "pop3: no --host: using the embedded demo server, with a fresh generated mailbox \
             that is gone when the command ends (--port and --user apply to --host only)",
        );
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
            Command::Bench(args) => bench::run(&target, args, false, cli.json, cli.quiet > 0).await,
            Command::Demo(args) => bench::run(&target, args, true, cli.json, cli.quiet > 0).await,
            Command::Completions(_) | Command::Man(_) => about_itself(&cli.command),
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
            output::error("interrupted");
            Ok(ExitCode::from(interrupt::EXIT))
        }
        () = limit.reached() => {
            output::error(&format!("{} reached before the command finished", limit.describe()));
            Ok(ExitCode::from(exit::PARTIAL))
        }
    }
}

/// `completions` and `man`.
fn about_itself(command: &Command) -> Result<ExitCode, CliError> {
    match command {
        Command::Completions(args) => Ok(reference::completions(args.shell)),
        Command::Man(args) => reference::man_page(args),
        _ => Err(CliError::Other("not a command about pop3 itself".into())),
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

/// What a UID that is not on the server is reported as, by `fetch --uid` and `dele`.
pub(crate) const NO_SUCH_UID: &str = "no such UID on the server";

/// Reports a UID named on the command line that the server does not have: one line on
/// stderr, and with `--json` an object on stdout.
pub(crate) fn report_unknown_uid(uid: &str, json: bool) {
    output::error(&format!("{NO_SUCH_UID}: {}", output::clean(uid)));
    if json {
        output::json(&serde_json::json!({ "uid": uid, "error": NO_SUCH_UID }));
    }
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
        Ok(()) => output::note(&format!("deleted {uid}")),
        Err(why) => output::error(&format!("not deleted {uid}: {}", output::clean(why))),
    }
}
