//! The progress bar of `fetch` and `list --headers`, on stderr when it is a terminal.

use std::io::IsTerminal as _;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use pop3_multi::{ProgressEvent, Totals};

use crate::output::plural;

/// A bar fed by the coordinator's progress events; nothing when stderr is not a
/// terminal (a log, a pipe) or output is JSON or quiet.
pub(crate) struct Bar {
    indicator: ProgressBar,
    tally: Mutex<Tally>,
    /// Counts messages, not bytes (listing headers).
    messages: bool,
}

/// What the bar has seen so far.
#[derive(Default)]
struct Tally {
    totals: Totals,
    open_sessions: usize,
}

impl Bar {
    /// A bar for a run; `messages` when the unit is messages rather than bytes.
    pub(crate) fn new(shown: bool, messages: bool) -> Self {
        let shown = shown && std::io::stderr().is_terminal();
        let indicator = if shown {
            ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
        } else {
            ProgressBar::hidden()
        };
        let template = if messages {
            "{spinner} {pos}/{len} {msg} [{elapsed}]"
        } else {
            "{spinner} {bytes}/{total_bytes} ({bytes_per_sec}) {msg} [{elapsed}]"
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            indicator.set_style(style);
        }
        indicator.enable_steady_tick(Duration::from_millis(200));
        Self {
            indicator,
            tally: Mutex::new(Tally::default()),
            messages,
        }
    }

    /// Folds in one event.
    pub(crate) fn event(&self, event: &ProgressEvent) {
        let mut tally = self
            .tally
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        tally.totals.add(event);
        match event {
            ProgressEvent::Planned { messages, bytes } => {
                self.indicator.set_length(if self.messages {
                    *messages as u64
                } else {
                    *bytes
                });
            }
            ProgressEvent::SessionOpened(_) => tally.open_sessions += 1,
            ProgressEvent::SessionClosed(_) | ProgressEvent::SessionFailed { .. } => {
                tally.open_sessions = tally.open_sessions.saturating_sub(1);
            }
            _ => {}
        }
        let Tally {
            totals,
            open_sessions,
        } = &*tally;
        self.indicator.set_position(if self.messages {
            totals.messages as u64
        } else {
            totals.bytes
        });
        self.indicator.set_message(format!(
            "· {} of {} message{} · {open_sessions} connection{}",
            totals.messages,
            totals.planned_messages,
            plural(totals.planned_messages),
            plural(*open_sessions),
        ));
    }

    /// Removes the bar.
    pub(crate) fn finish(&self) {
        self.indicator.finish_and_clear();
    }
}
