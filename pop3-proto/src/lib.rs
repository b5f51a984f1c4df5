//! A sans-IO POP3 client core.
//!
//! `pop3-proto` knows POP3 and nothing else: bytes in, bytes out, events. It never
//! touches a socket, a clock, a thread, a file or a TLS library, so the same core drives
//! blocking, tokio and futures-io adapters, fuzzers and tests alike.
//!
//! * [`Command`] encodes every client command, refusing arguments that could inject a
//!   second command; [`Status`], [`Greeting`], the listings and [`Capability`] parse
//!   what servers send.
//! * [`DotDecoder`] unstuffs multi-line bodies incrementally over arbitrary chunks.
//! * [`Client`] is the connection state machine: greeting, authorization, STLS,
//!   transaction; it matches responses to commands in order and pipelines within a
//!   bounded [`Window`] when the server allows.
//! * [`task`] turns that into operations (`Login`, `Stat`, `Retr`, batches...) that an
//!   adapter runs with one generic loop; [`sasl`] has the mechanisms.
//! * `server` (cargo feature `server`, off by default) is the server side: the codec
//!   and a complete sans-IO server session, for test servers and fuzzers.
//!
//! Driving the core by hand:
//!
//! ```
//! use pop3_proto::{Client, Command, Config, Event, Interrupt, Io, Reply};
//!
//! let mut client = Client::new(Config::default());
//! let mut wire = Vec::new(); // what we would write to the socket
//! let mut next = |client: &mut Client, server: &[u8]| loop {
//!     match client.progress() {
//!         Ok(event) => return event,
//!         Err(Interrupt::Io(Io::Output(bytes))) => wire.extend(bytes),
//!         Err(Interrupt::Io(Io::NeedMoreInput)) => client.enqueue_input(server),
//!         Err(Interrupt::Error(e)) => panic!("{e}"),
//!     }
//! };
//! next(&mut client, b"+OK POP3 ready\r\n"); // the greeting
//! client.send(Command::User("alice".into()))?;
//! next(&mut client, b"+OK\r\n");
//! client.send(Command::Pass("secret".into()))?;
//! next(&mut client, b"+OK logged in\r\n");
//! client.send(Command::Retr(1))?;
//! assert!(matches!(next(&mut client, b"+OK\r\n..dot\r\n.\r\n"), Event::Ok { reply: Reply::BodyFollows(_), .. }));
//! let Event::Body { chunk, .. } = next(&mut client, b"") else { panic!() };
//! assert_eq!(&chunk[..], b".dot\r\n");
//! assert_eq!(wire, b"USER alice\r\nPASS secret\r\nRETR 1\r\n");
//! # Ok::<(), pop3_proto::Error>(())
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod capability;
mod client;
mod command;
mod dot;
mod error;
mod response;
pub mod sasl;
mod secret;
#[cfg(feature = "server")]
pub mod server;
mod state;
pub mod task;
mod transcript;

pub use capability::{Capabilities, Capability, Expire};
pub use client::{
    Client, CommandId, Config, Event, Interrupt, Io, Limits, PendingLine, Pipelining, Reply,
    TlsMode, Window,
};
pub use command::{Command, MAX_COMMAND_LINE};
pub use dot::{Decoded, DotDecoder, DotEncoder};
pub use error::{Error, ErrorKind, Excerpt, LineKind};
pub use response::{
    ApopTimestamp, Greeting, Language, MaildropSize, RespCode, ScanListing, Status, StatusKind,
    Uid, UidListing,
};
pub use secret::Secret;
pub use state::State;
pub use task::{AuthMethod, Login, LoginOutcome};
