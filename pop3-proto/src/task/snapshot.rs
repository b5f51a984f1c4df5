//! UIDL and LIST together: the maildrop as one session sees it.

use crate::client::{Client, CommandId, Event, Reply};
use crate::command::Command;
use crate::error::Error;
use crate::response::{ScanListing, Uid, UidListing};
use crate::task::{Step, Task, unexpected};

/// One message of a [`Snapshot`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Its number in this session (numbers differ between sessions; the UID does not).
    pub msg: u32,
    /// Its unique-id, the identity across sessions.
    pub uid: Uid,
    /// Its size in octets, as the server counts them.
    pub size: u64,
}

/// `UIDL` and `LIST`, pipelined when the server allows (one round trip), joined by
/// message number: every message with its number, UID and size.
///
/// A message the two listings do not both name is left out (a server that expunges
/// between the two answers is not guessed about).
///
/// ```
/// use pop3_proto::task::Snapshot;
/// let task = Snapshot::new();
/// # let _ = task;
/// ```
#[derive(Debug, Default)]
pub struct Snapshot {
    uidl: Option<CommandId>,
    list: Option<CommandId>,
    uids: Option<Vec<UidListing>>,
    sizes: Option<Vec<ScanListing>>,
    /// A refusal, reported once the other answer is in too (so that no answer is left
    /// for the next task).
    refused: Option<Error>,
    answers: u8,
}

impl Snapshot {
    /// The snapshot task.
    pub fn new() -> Self {
        Self::default()
    }

    fn joined(&mut self) -> Option<Vec<Entry>> {
        let (uids, sizes) = (self.uids.as_ref()?, self.sizes.as_ref()?);
        let mut sizes: Vec<&ScanListing> = sizes.iter().collect();
        sizes.sort_unstable_by_key(|s| s.msg);
        let entries = uids
            .iter()
            .filter_map(|u| {
                let at = sizes.binary_search_by_key(&u.msg, |s| s.msg).ok()?;
                Some(Entry {
                    msg: u.msg,
                    uid: u.uid.clone(),
                    size: sizes[at].octets,
                })
            })
            .collect();
        Some(entries)
    }
}

impl Task for Snapshot {
    type Output = Vec<Entry>;

    fn start(&mut self, client: &mut Client) -> Result<Step<Vec<Entry>>, Error> {
        self.uidl = Some(client.send(Command::Uidl(None))?);
        self.list = Some(client.send(Command::List(None))?);
        Ok(Step::Continue)
    }

    fn handle(&mut self, _: &mut Client, event: Event) -> Result<Step<Vec<Entry>>, Error> {
        match event {
            Event::Ok {
                id,
                reply: Reply::UidListings(uids),
            } if Some(id) == self.uidl => self.uids = Some(uids),
            Event::Ok {
                id,
                reply: Reply::ScanListings(sizes),
            } if Some(id) == self.list => self.sizes = Some(sizes),
            Event::Err { id, status } if Some(id) == self.uidl || Some(id) == self.list => {
                let command = if Some(id) == self.uidl {
                    "UIDL"
                } else {
                    "LIST"
                };
                self.refused
                    .get_or_insert(Error::Refused { command, status });
            }
            other => return Err(unexpected(&other)),
        }
        self.answers += 1;
        if self.answers < 2 {
            return Ok(Step::Continue);
        }
        if let Some(refused) = self.refused.take() {
            return Err(refused);
        }
        self.joined()
            .map(Step::Done)
            .ok_or(Error::Internal("both answers in, a listing missing"))
    }
}
