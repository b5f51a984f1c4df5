//! Greeting, CAPA and the STLS upgrade: everything before authentication.

use crate::capability::Capabilities;
use crate::client::{Client, CommandId, Event, Reply, TlsMode};
use crate::command::Command;
use crate::error::Error;
use crate::response::Status;
use crate::task::{Step, Task, unexpected};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Greeting,
    Capa,
    Stls,
    AwaitTls,
    CapaAfterTls,
}

/// Waits for the greeting, asks CAPA and, when the client's [`TlsMode`] is
/// [`StartTls`](TlsMode::StartTls), upgrades with STLS and asks CAPA again (pre-TLS
/// capabilities are forgotten: they may have been forged).
///
/// With STLS required, a failing CAPA, a CAPA without STLS (stripping) or `-ERR` to STLS
/// are errors. The output is the last CAPA answer, `None` if the server refused CAPA (an
/// RFC 1939-only server, acceptable when no upgrade is required). [`Login`](super::Login)
/// starts with this task.
///
/// ```
/// use pop3_proto::task::Negotiate;
/// let task = Negotiate::new();
/// # let _ = task;
/// ```
#[derive(Debug)]
pub struct Negotiate {
    stage: Stage,
    pending: Option<CommandId>,
}

impl Default for Negotiate {
    fn default() -> Self {
        Self::new()
    }
}

impl Negotiate {
    /// Negotiates as the client's configuration requires.
    pub fn new() -> Self {
        Self {
            stage: Stage::Greeting,
            pending: None,
        }
    }

    fn send(
        &mut self,
        client: &mut Client,
        stage: Stage,
        command: Command,
    ) -> Result<Negotiation, Error> {
        self.stage = stage;
        self.pending = Some(client.send(command)?);
        Ok(Negotiation::Continue)
    }

    /// After the first CAPA: upgrade if required, else done.
    fn after_capa(
        &mut self,
        client: &mut Client,
        failed: Option<Status>,
    ) -> Result<Negotiation, Error> {
        if client.config().tls != TlsMode::StartTls || client.is_tls() {
            return Ok(Negotiation::Done(client.capabilities().cloned()));
        }
        if let Some(status) = failed {
            return Err(Error::CapabilitiesUnavailable(status));
        }
        if !client.capabilities().is_some_and(Capabilities::stls) {
            return Err(Error::StartTlsUnavailable);
        }
        self.send(client, Stage::Stls, Command::Stls)
    }
}

/// Where a negotiation stands; [`Login`](super::Login) runs one inside.
#[derive(Debug)]
pub(crate) enum Negotiation {
    Continue,
    StartTls,
    /// The last CAPA answer, `None` if the server refused CAPA.
    Done(Option<Capabilities>),
}

impl From<Negotiation> for Step<Option<Capabilities>> {
    fn from(negotiation: Negotiation) -> Self {
        match negotiation {
            Negotiation::Continue => Step::Continue,
            Negotiation::StartTls => Step::StartTls,
            Negotiation::Done(caps) => Step::Done(caps),
        }
    }
}

impl Task for Negotiate {
    type Output = Option<Capabilities>;

    fn start(&mut self, client: &mut Client) -> Result<Step<Self::Output>, Error> {
        self.begin(client).map(Into::into)
    }

    fn handle(&mut self, client: &mut Client, event: Event) -> Result<Step<Self::Output>, Error> {
        self.advance(client, event).map(Into::into)
    }
}

impl Negotiate {
    pub(crate) fn begin(&mut self, client: &mut Client) -> Result<Negotiation, Error> {
        match client.greeting() {
            None => Ok(Negotiation::Continue),
            Some(g) if g.status.is_ok() => self.send(client, Stage::Capa, Command::Capa),
            Some(g) => Err(Error::GreetingRefused(g.status.clone())),
        }
    }

    pub(crate) fn advance(
        &mut self,
        client: &mut Client,
        event: Event,
    ) -> Result<Negotiation, Error> {
        let ours = |id: &CommandId| Some(*id) == self.pending;
        match (self.stage, event) {
            (Stage::Greeting, Event::Greeting(g)) if g.status.is_ok() => {
                self.send(client, Stage::Capa, Command::Capa)
            }
            (Stage::Greeting, Event::Greeting(g)) => Err(Error::GreetingRefused(g.status)),
            (
                Stage::Capa,
                Event::Ok {
                    id,
                    reply: Reply::Capabilities(_),
                },
            ) if ours(&id) => self.after_capa(client, None),
            (Stage::Capa, Event::Err { id, status }) if ours(&id) => {
                self.after_capa(client, Some(status))
            }
            (Stage::Stls, Event::Ok { id, .. }) if ours(&id) => {
                self.stage = Stage::AwaitTls;
                Ok(Negotiation::StartTls)
            }
            (Stage::Stls, Event::Err { id, status }) if ours(&id) => {
                Err(Error::StartTlsRefused(status))
            }
            (Stage::AwaitTls, Event::TlsEstablished) => {
                self.send(client, Stage::CapaAfterTls, Command::Capa)
            }
            (
                Stage::CapaAfterTls,
                Event::Ok {
                    id,
                    reply: Reply::Capabilities(caps),
                },
            ) if ours(&id) => Ok(Negotiation::Done(Some(caps))),
            (Stage::CapaAfterTls, Event::Err { id, .. }) if ours(&id) => {
                Ok(Negotiation::Done(None))
            }
            (_, other) => Err(unexpected(&other)),
        }
    }
}
