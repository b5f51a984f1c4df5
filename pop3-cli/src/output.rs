//! Printing results: text lines, or one JSON object per line with `--json`.
//!
//! Output is buffered (a listing of a million messages is a few hundred writes, not a
//! million), flushed per line on a terminal and by [`flush`] where progress should show.
//! A closed pipe (`pop3 list | head`) ends the output quietly and the run goes on to its
//! own exit code; any other write error (`pop3 stat >/dev/full`) is reported by
//! [`finish`], which makes the run fail.

use std::io::{self, BufWriter, IsTerminal as _, Write as _};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{LazyLock, Mutex, MutexGuard, PoisonError};

/// Standard output and what became of it.
struct Stdout {
    writer: BufWriter<io::Stdout>,
    /// A terminal: each line is shown at once.
    interactive: bool,
    /// The reader went away: nothing more is written.
    closed: bool,
    /// A write failed for another reason.
    failed: Option<io::Error>,
}

static STDOUT: LazyLock<Mutex<Stdout>> = LazyLock::new(|| {
    let stdout = io::stdout();
    Mutex::new(Stdout {
        interactive: stdout.is_terminal(),
        writer: BufWriter::with_capacity(64 * 1024, stdout),
        closed: false,
        failed: None,
    })
});

fn stdout() -> MutexGuard<'static, Stdout> {
    STDOUT.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Stdout {
    fn write(&mut self, f: impl FnOnce(&mut BufWriter<io::Stdout>) -> io::Result<()>) {
        if self.closed || self.failed.is_some() {
            return;
        }
        if let Err(e) = f(&mut self.writer) {
            if e.kind() == io::ErrorKind::BrokenPipe {
                self.closed = true;
            } else {
                self.failed = Some(e);
            }
        }
    }
}

/// Prints one line on stdout.
pub(crate) fn line(text: &str) {
    let mut out = stdout();
    let interactive = out.interactive;
    out.write(|w| {
        writeln!(w, "{text}")?;
        if interactive { w.flush() } else { Ok(()) }
    });
}

/// Prints bytes as they are (a generated script or page).
pub(crate) fn raw(bytes: &[u8]) {
    stdout().write(|w| w.write_all(bytes));
}

/// Prints one JSON object on its own line.
pub(crate) fn json(value: &serde_json::Value) {
    line(&value.to_string());
}

/// Writes out what is buffered (a bench row that should show before the next one).
pub(crate) fn flush() {
    stdout().write(io::Write::flush);
}

/// Flushes the output at the end of the run; the error if it could not all be written
/// (a closed pipe is not one).
pub(crate) fn finish() -> io::Result<()> {
    let mut out = stdout();
    out.write(io::Write::flush);
    match out.failed.take() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// How quiet stderr is: 0 normal, 1 (`-q`) no summaries, 2 (`-qq`) errors only.
static QUIET: AtomicU8 = AtomicU8::new(0);

/// Sets the `-q` count.
pub(crate) fn set_quiet(count: u8) {
    QUIET.store(count, Ordering::Relaxed);
}

/// Whether summaries and progress are wanted (no `-q`).
pub(crate) fn chatty() -> bool {
    QUIET.load(Ordering::Relaxed) == 0
}

/// A summary or an informational line on stderr (`fetched 3 messages ...`); `-q` hides it.
pub(crate) fn note(text: &str) {
    if chatty() {
        eprintln!("{text}");
    }
}

/// A warning on stderr; `-qq` hides it.
pub(crate) fn warn(text: &str) {
    if QUIET.load(Ordering::Relaxed) < 2 {
        eprintln!("pop3: warning: {text}");
    }
}

/// An error on stderr, one line, always shown.
pub(crate) fn error(text: &str) {
    eprintln!("pop3: {text}");
}

/// "s" unless `count` is 1.
pub(crate) fn plural(count: usize) -> &'static str {
    if count == 1 { "" } else { "s" }
}

/// Server-provided text made safe for a terminal line: control characters (tabs and line
/// breaks included) become spaces.
pub(crate) fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn clean_removes_control_characters() {
        assert_eq!(super::clean("a\tb\r\nc\x1b[2J"), "a b  c [2J");
    }
}
