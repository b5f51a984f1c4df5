//! Skipping a test whose real peer or privilege is missing here: visibly, and never in CI.
//!
//! The test harness captures what `print!` and `eprint!` write for a passing test, which
//! would hide a skip; [`notice`] writes to the process's stderr directly, so the skip
//! shows in the output of `cargo test`. Where the environment variable `CI` is set,
//! nothing may be skipped: [`unavailable`] fails the test instead.
//!
//! ```
//! fn a_test_needing_port_995() {
//!     let Ok(listener) = std::net::TcpListener::bind("127.0.0.1:995") else {
//!         pop3_testkit::skip::unavailable("cannot listen on 127.0.0.1:995 (not root?)");
//!         return;
//!     };
//!     // ...
//! #   drop(listener);
//! }
//! ```

use std::io::Write as _;

/// Whether this is a CI run (the environment variable `CI` is set), where a missing tool
/// or privilege is a failure, not a skip.
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some()
}

/// Prints `SKIPPED <test>: <reason>; CI runs it` straight to the process's stderr, past
/// the test harness's capture, so that the skip shows in the output of a passing run.
/// `<test>` is the current thread's name, which the harness sets to the test's.
pub fn notice(reason: &str) {
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("a test");
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {reason}; CI runs it");
}

/// The current test cannot run here, for `reason`: in CI ([`in_ci`]) that fails it (this
/// panics); elsewhere it prints a [`notice`], and the caller returns.
///
/// # Panics
///
/// In CI, always.
pub fn unavailable(reason: &str) {
    assert!(!in_ci(), "required in CI (CI is set): {reason}");
    notice(reason);
}

/// What a test needs, `found` or not (`Err` says why): in CI a missing one is the error
/// `required` makes of the reason; elsewhere `notice` gets "`what` (reason)" and the
/// answer is `Ok(None)`, for the test to skip. (`ci` and `notice` are parameters so that
/// each caller's policy can be tested both ways.)
pub(crate) fn decide<T, E>(
    found: Result<T, String>,
    what: &str,
    required: impl FnOnce(String) -> E,
    ci: bool,
    notice: impl FnOnce(&str),
) -> Result<Option<T>, E> {
    match found {
        Ok(found) => Ok(Some(found)),
        Err(reason) if ci => Err(required(reason)),
        Err(reason) => {
            notice(&format!("{what} ({reason})"));
            Ok(None)
        }
    }
}
