//! The session layer every pop3 runtime adapter shares: the session traits, the
//! transport, connection options, errors and body sinks.
//!
//! * [`AsyncSession`] and its blocking twin [`BlockingSession`]: one required method
//!   (run a `pop3-proto` task with a sink) and every POP3 operation provided on top.
//! * [`Connector`]: opens new logged-in sessions ([`LoginConnector`]), which is what a
//!   multi-connection coordinator needs.
//! * [`transport`]: TLS (rustls, sans I/O) and the full-duplex pump, written once; an
//!   async adapter supplies only a [`Socket`](transport::Socket) and a
//!   [`Runtime`](transport::Runtime).
//! * [`ConnectOptions`]: TLS mode, trust (anchors, pinned [`Fingerprint`]s), timeouts
//!   (a line deadline among them); the rustls configuration is built once and shared.
//! * [`Error`]: typed, in words; TLS failures say what the server did
//!   ([`TlsError`]), and a refused certificate comes with what the server presented
//!   ([`CertificateInfo`], to show and pin).
//!
//! `pop3-sync`, `pop3-tokio` and `pop3-futures` re-export what their API takes and
//! returns, so applications depend on one adapter only.
//!
//! ```
//! use pop3_session::{ConnectOptions, TlsMode};
//! use std::time::Duration;
//!
//! let options = ConnectOptions::new("pop.example.com")
//!     .tls(TlsMode::StartTls)
//!     .timeout(Duration::from_secs(30));
//! assert_eq!(options.effective_port(), 110);
//! ```
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
