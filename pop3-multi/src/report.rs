//! What a run did, message by message.

use pop3_session::Uid;

use crate::headers::MessageInfo;
use crate::plan::{Failure, SessionId};

/// What happened to one deletion.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeletionOutcome {
    /// DELE was accepted and the session's QUIT committed it: the message is gone.
    Committed,
    /// DELE was accepted but the session ended without a successful QUIT (it failed,
    /// or QUIT answered `-ERR`): the server rolled it back; the message is still there.
    RolledBack(String),
    /// The server refused DELE.
    Refused(String),
    /// No DELE was sent: the message was not durable (not stored), or no session that
    /// has it was left to send it.
    NotSent(String),
}

impl DeletionOutcome {
    /// Whether the message is gone from the server.
    pub fn is_committed(&self) -> bool {
        *self == Self::Committed
    }
}

/// One message's deletion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deletion {
    /// The message.
    pub uid: Uid,
    /// What became of its deletion.
    pub outcome: DeletionOutcome,
}

/// The result of `list_messages`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Listing {
    /// Every message listed, by number (in the snapshot the run was planned from).
    pub messages: Vec<MessageInfo>,
    /// Messages whose headers could not be listed, and why.
    pub failed: Vec<(Uid, Failure)>,
    /// Sessions that logged in.
    pub sessions: usize,
}

/// The result of `fetch`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FetchReport {
    /// Messages stored durably this run, with their bytes and the session that fetched
    /// them.
    pub stored: Vec<(Uid, u64, SessionId)>,
    /// Messages selected but not stored, and why.
    pub failed: Vec<(Uid, Failure)>,
    /// UIDs asked for that the server does not have.
    pub unknown: Vec<String>,
    /// With deletion asked for: every durable message of the selection, and what became
    /// of its DELE.
    pub deletions: Vec<Deletion>,
    /// Sessions that logged in.
    pub sessions: usize,
    /// Whether pipelining broke and the run went on in lockstep.
    pub fell_back_to_lockstep: bool,
}

impl FetchReport {
    /// Bytes stored.
    pub fn bytes(&self) -> u64 {
        self.stored.iter().map(|(_, bytes, _)| bytes).sum()
    }
}

/// The result of `delete`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeleteReport {
    /// Every selected message, and what became of its DELE.
    pub deletions: Vec<Deletion>,
    /// UIDs asked for that the server does not have.
    pub unknown: Vec<String>,
    /// Sessions that logged in.
    pub sessions: usize,
}
