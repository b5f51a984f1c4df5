#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod connection;
mod error;
pub mod hook;
pub mod mailbox;
mod profile;
mod proxy;
mod server;
mod store;
mod tls;

pub use error::Error;
pub use hook::ConnectionHook;
pub use pop3_proto::sasl::MechanismKind;
pub use pop3_proto::server::session::StoredMessage;
pub use profile::Profile;
pub use proxy::LatencyProxy;
pub use server::{DEFAULT_PASSWORD, DEFAULT_USER, Server, ServerBuilder};
pub use store::{Maildir, Maildrop};
pub use tls::{Certificates, SERVER_NAMES};
