//! High-level operations as sans-IO tasks.
//!
//! A [`Task`] queues commands on a [`Client`] and turns its events into one result. An
//! adapter runs *any* task with one generic loop over [`Execution::step`]:
//!
//! ```
//! use pop3_proto::server::session::{MemoryBackend, ServerAction, ServerOptions, Session};
//! use pop3_proto::task::{Action, Execution, Login, Stat, Task};
//! use pop3_proto::{Client, Config, Error};
//!
//! /// The adapter's whole job, with an in-memory server standing in for the socket.
//! fn run<T: Task>(client: &mut Client, server: &mut Session<MemoryBackend>, task: T)
//!     -> Result<T::Output, Error>
//! {
//!     let mut exec = Execution::new(task);
//!     loop {
//!         match exec.step(client)? {
//!             Action::Write(bytes) => server.receive(&bytes),  // socket.write_all
//!             Action::Read => match server.progress() {         // socket.read
//!                 ServerAction::Send(bytes) => client.enqueue_input(&bytes),
//!                 _ => return Err(client.connection_closed()),
//!             },
//!             Action::StartTls => unreachable!("no STLS in this example"),
//!             Action::Body(_event) => {}                        // sink.write_all
//!             Action::Done(output) => return Ok(output),
//!             _ => return Err(Error::Internal("an action this driver does not know")),
//!         }
//!     }
//! }
//!
//! let backend = MemoryBackend { user: "alice".into(), password: "pw".into(), messages: vec![] };
//! let mut server = Session::new(backend, ServerOptions::default());
//! let mut client = Client::new(Config::default());
//! // Plaintext only because this example has no TLS: the default refuses it.
//! let login = run(&mut client, &mut server, Login::new("alice", "pw").allow_plaintext(true))?;
//! assert_eq!(login.method, "CRAM-MD5"); // the strongest the server offers
//! let size = run(&mut client, &mut server, Stat::new())?;
//! assert_eq!((size.messages, size.octets), (0, 0));
//! # Ok::<(), Error>(())
//! ```

mod batch;
mod login;
mod negotiate;
mod simple;
mod snapshot;

use bytes::Bytes;

use crate::client::{Client, Event, Interrupt, Io};
use crate::error::Error;
use crate::response::Status;

pub use batch::{DeleMany, Outcome, Retr, RetrMany, Top, TopMany};
pub use login::{AuthMethod, Login, LoginOutcome, MechanismFactory};
pub use negotiate::Negotiate;
pub use simple::{
    Capa, Dele, Greet, List, ListOne, Noop, Quit, QuitOutcome, RawCommand, Rset, SetPipelining,
    Stat, Uidl, UidlOne,
};
pub use snapshot::{Entry, Snapshot};

/// Part of a message body, handed to the caller's sink as it arrives.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BodyEvent {
    /// The server accepted RETR/TOP for this message; data follows.
    Start {
        /// Message number.
        msg: u32,
        /// The `+OK` line (often carries the size).
        status: Status,
    },
    /// A chunk of the (dot-unstuffed) message.
    Data {
        /// Message number.
        msg: u32,
        /// The bytes.
        chunk: Bytes,
    },
    /// The message is complete.
    End {
        /// Message number.
        msg: u32,
    },
    /// In a batch, the server refused this message (`-ERR`); the batch goes on.
    Refused {
        /// Message number.
        msg: u32,
        /// The `-ERR` line.
        status: Status,
    },
}

/// What a task wants after handling an event.
#[derive(Debug)]
#[non_exhaustive]
pub enum Step<O> {
    /// Keep driving the client.
    Continue,
    /// Hand this body event to the sink, then keep driving.
    Body(BodyEvent),
    /// Hand this body event to the sink; then the task is done with this output.
    BodyThenDone(BodyEvent, O),
    /// The server accepted STLS: do the TLS handshake, then call
    /// [`Client::tls_established`].
    StartTls,
    /// The task is complete.
    Done(O),
}

/// A high-level operation: queues commands and folds the client's events into a result.
pub trait Task {
    /// The result.
    type Output;

    /// Called once, first: queue the initial commands.
    fn start(&mut self, client: &mut Client) -> Result<Step<Self::Output>, Error>;

    /// Called with every event the client produces until the task is done.
    fn handle(&mut self, client: &mut Client, event: Event) -> Result<Step<Self::Output>, Error>;
}

/// What the driver must do next for an [`Execution`].
///
/// `Debug` shows the length of `Write`, not its bytes (they may carry credentials).
#[must_use]
#[non_exhaustive]
pub enum Action<O> {
    /// Write these bytes to the server (in one write, then flush).
    Write(Vec<u8>),
    /// Read from the server and pass the bytes to [`Client::enqueue_input`]. A read of
    /// zero bytes means the server closed: report [`Client::connection_closed`].
    Read,
    /// Do the TLS handshake on the raw connection, then call [`Client::tls_established`].
    StartTls,
    /// Hand a piece of a message to the sink.
    Body(BodyEvent),
    /// The task is complete.
    Done(O),
}

impl<O: std::fmt::Debug> std::fmt::Debug for Action<O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Write(bytes) => write!(f, "Write({} bytes)", bytes.len()),
            Self::Read => f.write_str("Read"),
            Self::StartTls => f.write_str("StartTls"),
            Self::Body(event) => f.debug_tuple("Body").field(event).finish(),
            Self::Done(output) => f.debug_tuple("Done").field(output).finish(),
        }
    }
}

/// Runs one task on a client; the adapter's whole job is to perform its [`Action`]s.
#[derive(Debug)]
pub struct Execution<T: Task> {
    task: T,
    started: bool,
    deferred: Option<T::Output>,
    /// This execution asked the driver for a TLS handshake; its completion is ours.
    awaiting_tls: bool,
}

impl<T: Task> Execution<T> {
    /// Prepares to run `task`.
    pub fn new(task: T) -> Self {
        Self {
            task,
            started: false,
            deferred: None,
            awaiting_tls: false,
        }
    }

    /// The task, e.g. to read its progress.
    pub fn task(&self) -> &T {
        &self.task
    }

    /// Advances until the driver has something to do.
    pub fn step(&mut self, client: &mut Client) -> Result<Action<T::Output>, Error> {
        if let Some(output) = self.deferred.take() {
            return Ok(Action::Done(output));
        }
        let mut step = if self.started {
            Step::Continue
        } else {
            self.started = true;
            self.task.start(client)?
        };
        loop {
            match step {
                Step::Continue => {}
                Step::Body(event) => return Ok(Action::Body(event)),
                Step::BodyThenDone(event, output) => {
                    self.deferred = Some(output);
                    return Ok(Action::Body(event));
                }
                Step::StartTls => {
                    self.awaiting_tls = true;
                    return Ok(Action::StartTls);
                }
                Step::Done(output) => return Ok(Action::Done(output)),
            }
            step = match client.progress() {
                // A handshake someone else asked for (e.g. STLS sent by hand): not ours.
                Ok(Event::TlsEstablished) if !self.awaiting_tls => Step::Continue,
                Ok(event) => {
                    if event == Event::TlsEstablished {
                        self.awaiting_tls = false;
                    }
                    self.task.handle(client, event)?
                }
                Err(Interrupt::Io(Io::Output(bytes))) => return Ok(Action::Write(bytes)),
                Err(Interrupt::Io(Io::NeedMoreInput)) => return Ok(Action::Read),
                Err(Interrupt::Error(e)) => return Err(e),
            };
        }
    }
}

/// The error for an event a task did not ask for.
pub(crate) fn unexpected(event: &Event) -> Error {
    let response = match event {
        Event::Greeting(_) => "greeting",
        Event::Ok { .. } => "+OK",
        Event::Err { .. } => "-ERR",
        Event::Challenge { .. } => "SASL challenge",
        Event::Body { .. } | Event::BodyEnd { .. } => "message body",
        Event::TlsEstablished => "TLS handshake",
    };
    Error::UnexpectedResponse {
        response,
        context: "for the running operation",
    }
}
