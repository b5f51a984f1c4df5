#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod certificate;
mod connector;
mod error;
mod options;
mod session;
mod sink;
mod tls;
pub mod transport;

pub use certificate::{CertificateInfo, Fingerprint, InvalidFingerprint, UtcTime};
pub use connector::{BlockingConnector, BlockingDial, Connector, Dial, LoginConnector};
pub use error::{CertificateProblem, Error, ErrorKind, TlsError, TlsEvidence};
pub use options::{ConnectOptions, Timeouts};
pub use session::{AsyncSession, BlockingSession};
pub use sink::{AsyncBodySink, BodySink, Discard, MessageBuffer};
pub use transport::TlsInfo;

// What the session API takes and returns, so that an application needs only its
// adapter in Cargo.toml. The adapters re-export all of this.
pub use pop3_proto::sasl::{Mechanism, MechanismKind};
pub use pop3_proto::task::{
    AuthMethod, BodyEvent, Entry, Login, LoginOutcome, Outcome, QuitOutcome, Task,
};
pub use pop3_proto::{MaildropSize, ScanListing, UidListing};
/// The whole protocol core, for what the curated items above do not cover (the
/// [`Client`](proto::Client) state machine that [`AsyncSession::protocol`] returns,
/// other tasks, the wire codec).
pub mod proto {
    pub use pop3_proto::*;
}
pub use pop3_proto::{
    Capabilities, Capability, Config, Greeting, Limits, Pipelining, RespCode, Secret, Status,
    TlsMode, Uid, Window,
};
