//! The `pop3` command-line tool. Its flags, output formats and exit codes are a contract
//! (`CLI.md` beside this crate): list, fetch to `.eml` files, a Maildir or an
//! mbox, delete by UID; without `--host` it runs against an embedded demo server.
#![forbid(unsafe_code)]

mod advice;
mod args;
mod commands;
mod connect;
mod error;
mod interrupt;
mod limit;
mod output;
mod progress;

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    init_logging(cli.verbose, cli.quiet);
    output::set_quiet(cli.quiet);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("pop3: cannot start the async runtime: {e}");
            return ExitCode::from(error::exit::ERROR);
        }
    };
    let server = cli.server_address();
    let code = match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            output::error(&e.one_line_at(server.as_deref()));
            e.exit_code()
        }
    };
    match output::finish() {
        Ok(()) => code,
        Err(e) => {
            output::error(&format!("cannot write the output: {e}"));
            // A run that was otherwise fine (or partial) failed to deliver its output.
            if code == ExitCode::SUCCESS || code == ExitCode::from(error::exit::PARTIAL) {
                ExitCode::from(error::exit::ERROR)
            } else {
                code
            }
        }
    }
}

/// Logs go to stderr. `-v` adds what the command does, `-vv` the POP3 dialogue (commands
/// and status lines, credentials and SASL data redacted, no message contents), `-vvv`
/// everything (TLS internals included); `-q` keeps warnings and errors, `-qq` errors only.
/// `RUST_LOG`, when set, overrides the level. Colour only on a terminal, and never with
/// `NO_COLOR` set.
fn init_logging(verbose: u8, quiet: u8) {
    use std::io::IsTerminal as _;
    use tracing_subscriber::EnvFilter;
    let directives = match i16::from(verbose) - i16::from(quiet) {
        i16::MIN..=-2 => "error",
        -1 | 0 => "warn",
        1 => "info",
        2 => "info,pop3=debug,pop3_multi=debug,pop3_session=debug",
        _ => "trace",
    };
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|value| EnvFilter::try_new(value).ok())
        .unwrap_or_else(|| EnvFilter::new(directives));
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal() && !no_color)
        .with_target(false)
        .without_time()
        .init();
}
