//! Printing results: text lines, or one JSON object per line with `--json`.

use std::io::Write as _;

/// Prints one line on stdout. A closed pipe (`pop3 list | head`) ends output quietly.
pub(crate) fn line(text: &str) {
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{text}").is_err() {
        std::process::exit(0);
    }
}

/// Prints one JSON object on its own line.
pub(crate) fn json(value: &serde_json::Value) {
    line(&value.to_string());
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
