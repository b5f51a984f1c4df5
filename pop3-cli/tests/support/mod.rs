//! What the `pop3` binary's test suites share: running it, reading what it said.
#![allow(dead_code, missing_docs)] // each suite uses part of it

use std::process::{Command, Output};

/// Runs `pop3` with `args` (no `POP3_USER` from the environment) and `POP3_PASSWORD` set
/// to `password` if given.
pub(crate) fn pop3(args: &[&str], password: Option<&str>) -> Output {
    command(args, password).output().expect("run pop3")
}

/// The command [`pop3`] runs, to spawn it.
pub(crate) fn command(args: &[&str], password: Option<&str>) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pop3"));
    command
        .args(args)
        .env_remove("POP3_USER")
        .env_remove("POP3_PASSWORD")
        .env_remove("RUST_LOG");
    if let Some(password) = password {
        command.env("POP3_PASSWORD", password);
    }
    command
}

pub(crate) fn code(output: &Output) -> i32 {
    output.status.code().expect("exit code")
}

pub(crate) fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub(crate) fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
