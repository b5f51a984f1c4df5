#![doc = include_str!("../README.md")]
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
