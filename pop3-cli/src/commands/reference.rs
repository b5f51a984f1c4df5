//! `pop3 completions SHELL` and `pop3 man`: generated from the clap definition, so they
//! never disagree with what the command accepts.

use std::process::ExitCode;

use clap::CommandFactory as _;

use crate::args::{Cli, ManArgs};
use crate::error::CliError;
use crate::output;

/// Prints the completion script for `shell`.
pub(crate) fn completions(shell: clap_complete::Shell) -> ExitCode {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "pop3", &mut script);
    output::raw(&script);
    ExitCode::SUCCESS
}

/// Prints pop3(1) or a command's page, or writes them all into a directory (for
/// packagers: `pop3 man --out-dir target/man`).
pub(crate) fn man_page(args: &ManArgs) -> Result<ExitCode, CliError> {
    // `pop3 help COMMAND` is the same text as the pages themselves.
    let mut top = Cli::command().disable_help_subcommand(true);
    top.build();
    if let Some(dir) = &args.out_dir {
        std::fs::create_dir_all(dir)
            .map_err(CliError::io(format!("cannot create {}", dir.display())))?;
        clap_mangen::generate_to(top, dir).map_err(CliError::io(format!(
            "cannot write the pages into {}",
            dir.display()
        )))?;
        return Ok(ExitCode::SUCCESS);
    }
    let page = match &args.command {
        None => top,
        Some(name) => top
            .get_subcommands()
            .find(|c| c.get_name() == name)
            .cloned()
            // Built: its display name is pop3-NAME, as pop3(1) refers to it.
            .ok_or_else(|| CliError::Usage(format!("no such command: {name}")))?,
    };
    let mut roff = Vec::new();
    clap_mangen::Man::new(page)
        .render(&mut roff)
        .map_err(CliError::io("cannot render the man page"))?;
    output::raw(&roff);
    Ok(ExitCode::SUCCESS)
}
