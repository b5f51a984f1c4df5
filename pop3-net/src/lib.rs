//! What the pop3 runtime adapters share: connection options, the rustls client
//! configuration, the error type and the body sink traits.
//!
//! `pop3-sync`, `pop3-tokio` and `pop3-futures` re-export these, so the three adapters
//! have the same options, the same errors and the same sinks, and contain nothing but the
//! code that moves bytes between a socket and the `pop3-proto` core.
//!
//! ```
//! use pop3_net::{ConnectOptions, TlsMode};
//! use std::time::Duration;
//!
//! let options = ConnectOptions::new("pop.example.com")
//!     .tls(TlsMode::StartTls)
//!     .timeout(Duration::from_secs(30));
//! assert_eq!(options.effective_port(), 110);
//! ```
#![forbid(unsafe_code)]

mod error;
mod methods;
mod options;
mod sink;
mod tls;

pub use error::{Error, ErrorKind};
pub use options::{ConnectOptions, Timeouts, TlsMode};
pub use sink::{AsyncBodySink, BodySink, Discard, MessageBuffer};

/// Items the adapters' generated methods refer to. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use pop3_proto::Capabilities;
    pub use pop3_proto::Client;
    pub use pop3_proto::response::{Greeting, MaildropSize, ScanListing, Status, UidListing};
    pub use pop3_proto::task::{
        Action, BodyEvent, Capa, Dele, DeleMany, Execution, List, ListOne, Login, LoginOutcome,
        Noop, Outcome, Quit, QuitOutcome, Retr, RetrMany, Rset, Stat, Task, Top, TopMany, Uidl,
        UidlOne,
    };
}
