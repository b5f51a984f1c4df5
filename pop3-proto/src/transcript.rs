//! The dialogue as `tracing` debug events (target `pop3::wire`): what a `-vv` user or a
//! debugging developer sees. Credentials never appear: PASS, the APOP digest, SASL
//! initial responses, responses and challenges are shown as `<redacted>`; message
//! contents (listings and bodies) are not logged at all.

use crate::command::Command;
use crate::response::Status;

/// The `tracing` target of the dialogue.
pub(crate) const TARGET: &str = "pop3::wire";

/// Logs a command as queued; `wire` is its encoding.
pub(crate) fn sent(command: &Command, wire: &[u8]) {
    if !tracing::enabled!(target: TARGET, tracing::Level::DEBUG) {
        return;
    }
    let shown = match command {
        Command::Pass(_) => "PASS <redacted>".to_owned(),
        Command::Apop { user, .. } => format!("APOP {user} <redacted>"),
        Command::Auth {
            mechanism,
            initial_response: Some(_),
        } => format!("AUTH {mechanism} <redacted>"),
        Command::AuthResponse(_) => "<redacted>".to_owned(),
        _ => String::from_utf8_lossy(wire.strip_suffix(b"\r\n").unwrap_or(wire))
            .chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .collect(),
    };
    tracing::debug!(target: TARGET, "C: {shown}");
}

/// Logs a status line (greetings included).
pub(crate) fn status(status: &Status) {
    tracing::debug!(target: TARGET, "S: {status}");
}

/// Logs a SASL challenge, without its data.
pub(crate) fn challenge() {
    tracing::debug!(target: TARGET, "S: + <redacted>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Secret;

    /// Collects what `sent` would log, by formatting the same way.
    fn shown(command: &Command) -> String {
        let mut wire = Vec::new();
        command.encode(&mut wire).unwrap();
        let subscriber = Capture::default();
        let lines = subscriber.lines.clone();
        tracing::subscriber::with_default(subscriber, || sent(command, &wire));
        let lines = lines.lock().unwrap();
        assert_eq!(lines.len(), 1, "{lines:?}");
        lines[0].clone()
    }

    #[test]
    fn secrets_never_reach_the_log() {
        assert_eq!(shown(&Command::User("alice".into())), "C: USER alice");
        assert_eq!(
            shown(&Command::Pass(Secret::from("hunter2"))),
            "C: PASS <redacted>"
        );
        assert_eq!(
            shown(&Command::Auth {
                mechanism: "PLAIN".into(),
                initial_response: Some(Secret::from("\0alice\0hunter2")),
            }),
            "C: AUTH PLAIN <redacted>"
        );
        assert_eq!(
            shown(&Command::AuthResponse(Secret::from("hunter2"))),
            "C: <redacted>"
        );
        assert_eq!(
            shown(&Command::Apop {
                user: "alice".into(),
                digest: "c4c9334bac560ecc979e58001b3e22fb".into()
            }),
            "C: APOP alice <redacted>"
        );
        assert_eq!(shown(&Command::Retr(7)), "C: RETR 7");
    }

    /// A subscriber keeping the message of every event.
    #[derive(Clone, Default)]
    struct Capture {
        lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    }

    struct Message<'a>(&'a mut String);

    impl tracing::field::Visit for Message<'_> {
        fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
            if field.name() == "message" {
                *self.0 = format!("{value:?}");
            }
        }
    }

    impl tracing::Subscriber for Capture {
        fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
            tracing::span::Id::from_u64(1)
        }
        fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
        fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
        fn event(&self, event: &tracing::Event<'_>) {
            let mut line = String::new();
            event.record(&mut Message(&mut line));
            self.lines.lock().unwrap().push(line);
        }
        fn enter(&self, _: &tracing::span::Id) {}
        fn exit(&self, _: &tracing::span::Id) {}
    }
}
