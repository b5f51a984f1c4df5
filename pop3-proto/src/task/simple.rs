//! Tasks of one command and one reply.

use crate::capability::Capabilities;
use crate::client::{Client, CommandId, Event, Reply};
use crate::command::Command;
use crate::error::Error;
use crate::response::{Greeting, MaildropSize, ScanListing, Status, UidListing};
use crate::task::{BodyEvent, Step, Task, unexpected};

/// Sends one command and matches its reply.
#[derive(Debug)]
struct OneShot {
    command: Option<Command>,
    keyword: &'static str,
    id: Option<CommandId>,
}

impl OneShot {
    fn new(command: Command) -> Self {
        Self {
            keyword: command.keyword(),
            command: Some(command),
            id: None,
        }
    }

    fn start(&mut self, client: &mut Client) -> Result<(), Error> {
        if let Some(command) = self.command.take() {
            self.id = Some(client.send(command)?);
        }
        Ok(())
    }

    /// The reply for our command; `-ERR` becomes [`Error::Refused`].
    fn reply(&self, event: Event) -> Result<Reply, Error> {
        match event {
            Event::Ok { id, reply } if Some(id) == self.id => Ok(reply),
            Event::Err { id, status } if Some(id) == self.id => Err(Error::Refused {
                command: self.keyword,
                status,
            }),
            other => Err(unexpected(&other)),
        }
    }
}

/// The core types each reply by the command it answers, so this cannot happen.
fn wrong_reply(reply: &Reply) -> Error {
    let _ = reply;
    Error::Internal("a reply typed for another command")
}

/// Declares a task that sends one fixed command and maps its typed reply.
macro_rules! one_shot {
    ($(#[$doc:meta])* $name:ident => $output:ty, $reply:pat => $value:expr) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name(OneShot);

        impl Task for $name {
            type Output = $output;

            fn start(&mut self, client: &mut Client) -> Result<Step<$output>, Error> {
                self.0.start(client)?;
                Ok(Step::Continue)
            }

            fn handle(&mut self, _: &mut Client, event: Event) -> Result<Step<$output>, Error> {
                match self.0.reply(event)? {
                    $reply => Ok(Step::Done($value)),
                    #[allow(unreachable_patterns)]
                    other => Err(wrong_reply(&other)),
                }
            }
        }
    };
}

one_shot! {
    /// `STAT`: number of messages and total size.
    Stat => MaildropSize, Reply::Stat(size) => size
}
one_shot! {
    /// `LIST`: every message's number and size.
    List => Vec<ScanListing>, Reply::ScanListings(v) => v
}
one_shot! {
    /// `LIST n`: one message's size.
    ListOne => ScanListing, Reply::Scan(s) => s
}
one_shot! {
    /// `UIDL`: every message's unique-id.
    Uidl => Vec<UidListing>, Reply::UidListings(v) => v
}
one_shot! {
    /// `UIDL n`: one message's unique-id.
    UidlOne => UidListing, Reply::Uid(u) => u
}
one_shot! {
    /// `DELE n`: marks a message deleted (committed only by QUIT).
    Dele => Status, Reply::Done(s) => s
}
one_shot! {
    /// `RSET`: unmarks every message marked deleted.
    Rset => Status, Reply::Done(s) => s
}
one_shot! {
    /// `NOOP`.
    Noop => Status, Reply::Done(s) => s
}
one_shot! {
    /// `CAPA`: the server's capabilities (the client remembers them too).
    Capa => Capabilities, Reply::Capabilities(c) => c
}

impl Stat {
    /// The STAT task.
    pub fn new() -> Self {
        Self(OneShot::new(Command::Stat))
    }
}

impl List {
    /// The LIST task.
    pub fn new() -> Self {
        Self(OneShot::new(Command::List(None)))
    }
}

impl ListOne {
    /// The `LIST msg` task.
    pub fn new(msg: u32) -> Self {
        Self(OneShot::new(Command::List(Some(msg))))
    }
}

impl Uidl {
    /// The UIDL task.
    pub fn new() -> Self {
        Self(OneShot::new(Command::Uidl(None)))
    }
}

impl UidlOne {
    /// The `UIDL msg` task.
    pub fn new(msg: u32) -> Self {
        Self(OneShot::new(Command::Uidl(Some(msg))))
    }
}

impl Dele {
    /// The `DELE msg` task.
    pub fn new(msg: u32) -> Self {
        Self(OneShot::new(Command::Dele(msg)))
    }
}

impl Rset {
    /// The RSET task.
    pub fn new() -> Self {
        Self(OneShot::new(Command::Rset))
    }
}

impl Noop {
    /// The NOOP task.
    pub fn new() -> Self {
        Self(OneShot::new(Command::Noop))
    }
}

impl Capa {
    /// The CAPA task.
    pub fn new() -> Self {
        Self(OneShot::new(Command::Capa))
    }
}

macro_rules! default_via_new {
    ($($name:ident),*) => {$(
        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }
    )*};
}
default_via_new!(Stat, List, Uidl, Rset, Noop, Capa);

/// Waits for the server greeting (done at once if it was already received).
#[derive(Clone, Copy, Debug, Default)]
pub struct Greet;

impl Greet {
    fn outcome(greeting: &Greeting) -> Result<Step<Greeting>, Error> {
        if greeting.status.is_ok() {
            Ok(Step::Done(greeting.clone()))
        } else {
            Err(Error::GreetingRefused(greeting.status.clone()))
        }
    }
}

impl Task for Greet {
    type Output = Greeting;

    fn start(&mut self, client: &mut Client) -> Result<Step<Greeting>, Error> {
        client.greeting().map_or(Ok(Step::Continue), Self::outcome)
    }

    fn handle(&mut self, _: &mut Client, event: Event) -> Result<Step<Greeting>, Error> {
        match event {
            Event::Greeting(g) => Self::outcome(&g),
            other => Err(unexpected(&other)),
        }
    }
}

/// The result of QUIT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuitOutcome {
    /// Whether the server answered `+OK`: in the transaction state, that means every
    /// message marked with DELE is now removed. `-ERR` means some were not removed.
    pub committed: bool,
    /// The server's status line.
    pub status: Status,
}

/// `QUIT`: ends the session; in the transaction state it commits the deletions.
#[derive(Debug)]
pub struct Quit(OneShot);

impl Quit {
    /// The QUIT task.
    pub fn new() -> Self {
        Self(OneShot::new(Command::Quit))
    }
}

impl Default for Quit {
    fn default() -> Self {
        Self::new()
    }
}

impl Task for Quit {
    type Output = QuitOutcome;

    fn start(&mut self, client: &mut Client) -> Result<Step<QuitOutcome>, Error> {
        self.0.start(client)?;
        Ok(Step::Continue)
    }

    fn handle(&mut self, _: &mut Client, event: Event) -> Result<Step<QuitOutcome>, Error> {
        match self.0.reply(event) {
            Ok(Reply::Done(status)) => Ok(Step::Done(QuitOutcome {
                committed: true,
                status,
            })),
            Err(Error::Refused { status, .. }) => Ok(Step::Done(QuitOutcome {
                committed: false,
                status,
            })),
            Ok(other) => Err(wrong_reply(&other)),
            Err(e) => Err(e),
        }
    }
}

/// Any single command, with its typed [`Reply`]; for RETR and TOP the body is streamed
/// as [`BodyEvent`]s and the reply returned at its end, and after STLS the TLS handshake
/// is requested before the reply is returned.
///
/// This is the raw path: it applies none of [`Login`](super::Login)'s security policy
/// (plaintext credentials, required STLS). AUTH is refused: its challenges need `Login`
/// or your own task.
///
/// ```
/// use pop3_proto::{Command, task::RawCommand};
/// let task = RawCommand::new(Command::Utf8);
/// # let _ = task;
/// ```
#[derive(Debug)]
pub struct RawCommand {
    shot: OneShot,
    msg: u32,
    /// The reply held back until the body or the TLS handshake is done.
    pending: Option<Reply>,
    stls: bool,
    auth: bool,
}

impl RawCommand {
    /// Runs `command`.
    pub fn new(command: Command) -> Self {
        let msg = match command {
            Command::Retr(n) | Command::Top { msg: n, .. } => n,
            _ => 0,
        };
        let stls = command == Command::Stls;
        let auth = matches!(command, Command::Auth { .. });
        Self {
            shot: OneShot::new(command),
            msg,
            pending: None,
            stls,
            auth,
        }
    }
}

impl Task for RawCommand {
    type Output = Reply;

    fn start(&mut self, client: &mut Client) -> Result<Step<Reply>, Error> {
        if self.auth {
            return Err(Error::InvalidArgument {
                field: "command",
                reason: "AUTH needs a task that answers challenges (Login)",
            });
        }
        self.shot.start(client)?;
        Ok(Step::Continue)
    }

    fn handle(&mut self, _: &mut Client, event: Event) -> Result<Step<Reply>, Error> {
        let msg = self.msg;
        match event {
            Event::TlsEstablished if self.stls => self
                .pending
                .take()
                .map(Step::Done)
                .ok_or_else(|| unexpected(&event)),
            Event::Body { id, chunk } if Some(id) == self.shot.id => {
                Ok(Step::Body(BodyEvent::Data { msg, chunk }))
            }
            Event::BodyEnd { id } if Some(id) == self.shot.id => {
                let reply = self.pending.take().ok_or_else(|| unexpected(&event))?;
                Ok(Step::BodyThenDone(BodyEvent::End { msg }, reply))
            }
            event => match self.shot.reply(event)? {
                Reply::BodyFollows(status) => {
                    self.pending = Some(Reply::BodyFollows(status.clone()));
                    Ok(Step::Body(BodyEvent::Start { msg, status }))
                }
                reply if self.stls => {
                    self.pending = Some(reply);
                    Ok(Step::StartTls)
                }
                reply => Ok(Step::Done(reply)),
            },
        }
    }
}

/// Changes the session's pipelining policy from the next command on (see
/// [`Client::set_pipelining`]). Sends nothing.
#[derive(Clone, Copy, Debug)]
pub struct SetPipelining(pub crate::client::Pipelining);

impl Task for SetPipelining {
    type Output = ();

    fn start(&mut self, client: &mut Client) -> Result<Step<()>, Error> {
        client.set_pipelining(self.0);
        Ok(Step::Done(()))
    }

    fn handle(&mut self, _: &mut Client, event: Event) -> Result<Step<()>, Error> {
        Err(unexpected(&event))
    }
}
