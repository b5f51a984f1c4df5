//! One module per subcommand.

mod capa;
mod dele;
mod fetch;
mod list;

use std::process::ExitCode;

use crate::args::{Cli, Command};
use crate::connect::Target;
use crate::error::CliError;
use crate::output;

/// Runs the subcommand; `Ok` carries the exit code (0, or 5 for partial success).
pub(crate) async fn run(cli: Cli) -> Result<ExitCode, CliError> {
    let target = Target::from_cli(&cli)?;
    if target.is_embedded() {
        tracing::info!("no --host: using the embedded demo server");
    }
    match &cli.command {
        Command::Capa => capa::run(&target, cli.json).await,
        Command::Stat => stat(&target, cli.json).await,
        Command::List(args) => list::run(&target, args, cli.json).await,
        Command::Fetch(args) => fetch::run(&target, args, cli.json).await,
        Command::Dele(args) => dele::run(&target, args, cli.json).await,
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
