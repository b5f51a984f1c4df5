//! What a run reports while it goes.

use pop3_session::Uid;

use crate::plan::SessionId;

/// One step of a run, handed to the progress callback as it happens.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProgressEvent {
    /// The run is planned: this many messages and bytes to go.
    Planned {
        /// Messages.
        messages: usize,
        /// Bytes (the sizes the server listed).
        bytes: u64,
    },
    /// A session logged in and took its share.
    SessionOpened(SessionId),
    /// A session could not log in, or failed; its unfinished work went back.
    SessionFailed {
        /// Which.
        session: SessionId,
        /// Why.
        reason: String,
    },
    /// A message is done (stored durably, listed, or marked for deletion).
    Message {
        /// By which session.
        session: SessionId,
        /// Which message.
        uid: Uid,
        /// Its bytes.
        bytes: u64,
    },
    /// A session finished its share and logged out.
    SessionClosed(SessionId),
}

/// A progress callback: called from the run's own task or threads, so it must be quick.
pub type Progress = dyn Fn(&ProgressEvent) + Send + Sync;

/// Messages and bytes done so far, in total and per session, folded from
/// [`ProgressEvent`]s (for a progress bar).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Messages planned.
    pub planned_messages: usize,
    /// Bytes planned.
    pub planned_bytes: u64,
    /// Messages done.
    pub messages: usize,
    /// Bytes done.
    pub bytes: u64,
    /// Per session: messages and bytes done.
    pub sessions: Vec<(usize, u64)>,
}

impl Totals {
    /// Folds one event in.
    pub fn add(&mut self, event: &ProgressEvent) {
        match event {
            ProgressEvent::Planned { messages, bytes } => {
                self.planned_messages = *messages;
                self.planned_bytes = *bytes;
            }
            ProgressEvent::Message { session, bytes, .. } => {
                self.messages += 1;
                self.bytes += bytes;
                if self.sessions.len() <= session.0 {
                    self.sessions.resize(session.0 + 1, (0, 0));
                }
                let entry = &mut self.sessions[session.0];
                entry.0 += 1;
                entry.1 += bytes;
            }
            _ => {}
        }
    }
}
