//! Streaming RETR/TOP, and pipelined batches of RETR, TOP and DELE.

use std::collections::VecDeque;

use crate::client::{Client, CommandId, Event, Reply};
use crate::command::Command;
use crate::error::Error;
use crate::response::Status;
use crate::task::{BodyEvent, Step, Task, unexpected};

/// What happened to one message of a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Message number.
    pub msg: u32,
    /// `Ok` when the server accepted the command (and, for RETR/TOP, the whole body was
    /// handed out); the `-ERR` line otherwise.
    pub result: Result<(), Status>,
}

/// A batch of one kind of command, one per message, pipelined within the client's
/// window. Commands are queued only as the window opens, so a batch of a million
/// messages costs no more memory than a batch of ten.
#[derive(Debug)]
struct Batch {
    msgs: Vec<u32>,
    next: usize,
    kind: Kind,
    sent: VecDeque<(CommandId, u32)>,
    outcomes: Vec<Outcome>,
}

impl Batch {
    fn new(msgs: Vec<u32>, kind: Kind) -> Self {
        Self {
            outcomes: Vec::with_capacity(msgs.len()),
            msgs,
            next: 0,
            kind,
            sent: VecDeque::new(),
        }
    }

    fn start(&mut self, client: &mut Client) -> Result<(), Error> {
        if self.msgs.contains(&0) {
            return Err(Error::InvalidArgument {
                field: "message number",
                reason: "POP3 numbers messages from 1; 0 is not a message",
            });
        }
        self.fill(client)
    }

    fn fill(&mut self, client: &mut Client) -> Result<(), Error> {
        // With nothing of ours outstanding, one command is queued even if the window
        // is full (of a background CAPA, say): its answer is what calls us back.
        while self.next < self.msgs.len() && (client.has_window_room() || self.sent.is_empty()) {
            let msg = self.msgs[self.next];
            let id = client.send(self.kind.command(msg))?;
            self.sent.push_back((id, msg));
            self.next += 1;
        }
        Ok(())
    }

    fn is_done(&self) -> bool {
        self.outcomes.len() == self.msgs.len()
    }

    /// The message the event is about: always the oldest unanswered command.
    fn current(&self, id: CommandId) -> Option<u32> {
        self.sent
            .front()
            .filter(|(sent, _)| *sent == id)
            .map(|(_, msg)| *msg)
    }

    /// Records the oldest command as answered and queues more.
    fn finish_current(
        &mut self,
        client: &mut Client,
        result: Result<(), Status>,
    ) -> Result<(), Error> {
        if let Some((_, msg)) = self.sent.pop_front() {
            self.outcomes.push(Outcome { msg, result });
        }
        self.fill(client)
    }

    /// The step for an event that ends one message's exchange.
    fn ended(&mut self, event: BodyEvent) -> Fetched {
        if self.is_done() {
            Fetched::Last(event, std::mem::take(&mut self.outcomes))
        } else {
            Fetched::More(event)
        }
    }

    fn handle_fetch(&mut self, client: &mut Client, event: Event) -> Result<Fetched, Error> {
        let id = match &event {
            Event::Ok { id, .. }
            | Event::Err { id, .. }
            | Event::Body { id, .. }
            | Event::BodyEnd { id } => *id,
            _ => return Err(unexpected(&event)),
        };
        let Some(msg) = self.current(id) else {
            return Err(unexpected(&event));
        };
        match event {
            Event::Ok {
                reply: Reply::BodyFollows(status),
                ..
            } => Ok(Fetched::More(BodyEvent::Start { msg, status })),
            Event::Body { chunk, .. } => Ok(Fetched::More(BodyEvent::Data { msg, chunk })),
            Event::BodyEnd { .. } => {
                self.finish_current(client, Ok(()))?;
                Ok(self.ended(BodyEvent::End { msg }))
            }
            Event::Err { status, .. } => {
                self.finish_current(client, Err(status.clone()))?;
                Ok(self.ended(BodyEvent::Refused { msg, status }))
            }
            other => Err(unexpected(&other)),
        }
    }
}

/// What one event of a RETR/TOP batch amounts to.
enum Fetched {
    /// A body event, and more to come.
    More(BodyEvent),
    /// The event that ends the batch, and every message's outcome.
    Last(BodyEvent, Vec<Outcome>),
}

/// The command a batch sends for each message.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Retr,
    Top { lines: u32 },
    Dele,
}

impl Kind {
    fn command(self, msg: u32) -> Command {
        match self {
            Self::Retr => Command::Retr(msg),
            Self::Top { lines } => Command::Top { msg, lines },
            Self::Dele => Command::Dele(msg),
        }
    }
}

/// One message, streamed: the body arrives as [`BodyEvent`]s, never accumulated.
#[derive(Debug)]
pub struct Retr(Batch);

impl Retr {
    /// `RETR msg`.
    pub fn new(msg: u32) -> Self {
        Self(Batch::new(vec![msg], Kind::Retr))
    }
}

/// The header and the first lines of one message, streamed like [`Retr`].
#[derive(Debug)]
pub struct Top(Batch);

impl Top {
    /// `TOP msg lines`.
    pub fn new(msg: u32, lines: u32) -> Self {
        Self(Batch::new(vec![msg], Kind::Top { lines }))
    }
}

/// Many messages, pipelined: `RETR` for each, bodies streamed in order.
#[derive(Debug)]
pub struct RetrMany(Batch);

impl RetrMany {
    /// RETR every message in `msgs`, in that order.
    pub fn new(msgs: Vec<u32>) -> Self {
        Self(Batch::new(msgs, Kind::Retr))
    }
}

/// Many messages' headers (and `lines` body lines), pipelined.
#[derive(Debug)]
pub struct TopMany(Batch);

impl TopMany {
    /// `TOP msg lines` for every message in `msgs` (`lines` 0: headers only).
    pub fn new(msgs: Vec<u32>, lines: u32) -> Self {
        Self(Batch::new(msgs, Kind::Top { lines }))
    }
}

/// Many DELEs, pipelined. The deletions are committed only by a successful QUIT.
#[derive(Debug)]
pub struct DeleMany(Batch);

impl DeleMany {
    /// DELE every message in `msgs`.
    pub fn new(msgs: Vec<u32>) -> Self {
        Self(Batch::new(msgs, Kind::Dele))
    }
}

/// Single-message tasks: the batch outcome becomes `()` or [`Error::Refused`].
macro_rules! single_fetch {
    ($name:ident, $keyword:literal) => {
        impl Task for $name {
            type Output = ();

            fn start(&mut self, client: &mut Client) -> Result<Step<()>, Error> {
                self.0.start(client)?;
                Ok(Step::Continue)
            }

            fn handle(&mut self, client: &mut Client, event: Event) -> Result<Step<()>, Error> {
                match self.0.handle_fetch(client, event)? {
                    Fetched::Last(BodyEvent::Refused { status, .. }, _) => Err(Error::Refused {
                        command: $keyword,
                        status,
                    }),
                    Fetched::Last(event, _) => Ok(Step::BodyThenDone(event, ())),
                    Fetched::More(event) => Ok(Step::Body(event)),
                }
            }
        }
    };
}
single_fetch!(Retr, "RETR");
single_fetch!(Top, "TOP");

macro_rules! batch_fetch {
    ($name:ident) => {
        impl Task for $name {
            type Output = Vec<Outcome>;

            fn start(&mut self, client: &mut Client) -> Result<Step<Vec<Outcome>>, Error> {
                self.0.start(client)?;
                Ok(if self.0.is_done() {
                    Step::Done(Vec::new())
                } else {
                    Step::Continue
                })
            }

            fn handle(
                &mut self,
                client: &mut Client,
                event: Event,
            ) -> Result<Step<Vec<Outcome>>, Error> {
                Ok(match self.0.handle_fetch(client, event)? {
                    Fetched::More(event) => Step::Body(event),
                    Fetched::Last(event, outcomes) => Step::BodyThenDone(event, outcomes),
                })
            }
        }
    };
}
batch_fetch!(RetrMany);
batch_fetch!(TopMany);

impl Task for DeleMany {
    type Output = Vec<Outcome>;

    fn start(&mut self, client: &mut Client) -> Result<Step<Vec<Outcome>>, Error> {
        self.0.start(client)?;
        Ok(if self.0.is_done() {
            Step::Done(Vec::new())
        } else {
            Step::Continue
        })
    }

    fn handle(&mut self, client: &mut Client, event: Event) -> Result<Step<Vec<Outcome>>, Error> {
        let (id, result) = match event {
            Event::Ok {
                id,
                reply: Reply::Done(_),
            } => (id, Ok(())),
            Event::Err { id, status } => (id, Err(status)),
            other => return Err(unexpected(&other)),
        };
        if self.0.current(id).is_none() {
            return Err(Error::UnexpectedResponse {
                response: "answer",
                context: "to a DELE that was not sent",
            });
        }
        self.0.finish_current(client, result)?;
        Ok(if self.0.is_done() {
            Step::Done(std::mem::take(&mut self.0.outcomes))
        } else {
            Step::Continue
        })
    }
}
