//! The `pop3` command-line tool. Its flags, output formats and exit codes are a contract
//! (`CLI.md` in the project's shared docs): list, fetch to `.eml` files, a Maildir or an
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
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("pop3: {}", e.one_line());
            e.exit_code()
        }
    }
}

/// Logs go to stderr; `-v`/`-q` move the level. Credentials are never logged: the
/// library's `Secret` prints as `<redacted>`.
fn init_logging(verbose: u8, quiet: u8) {
    use tracing_subscriber::filter::LevelFilter;
    let level = match i16::from(verbose) - i16::from(quiet) {
        i16::MIN..=-2 => LevelFilter::OFF,
        -1 => LevelFilter::ERROR,
        0 => LevelFilter::WARN,
        1 => LevelFilter::INFO,
        2 => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .with_target(false)
        .without_time()
        .init();
}
