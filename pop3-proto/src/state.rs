//! The session state, a leaf that the client and the errors both name.

use std::fmt;

/// The session state (RFC 1939 §3, with the STLS and SASL sub-states).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum State {
    /// Waiting for the server greeting.
    Greeting,
    /// Authorization: before login.
    Authorization,
    /// A SASL exchange (AUTH) is in progress.
    Authenticating,
    /// The server accepted STLS; the driver must do the TLS handshake and then call
    /// [`Client::tls_established`](crate::Client::tls_established).
    StartTls,
    /// Transaction: logged in.
    Transaction,
    /// QUIT was answered, or the session failed; nothing more can be sent.
    Closed,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Greeting => "greeting",
            Self::Authorization => "authorization",
            Self::Authenticating => "authenticating",
            Self::StartTls => "STLS handshake",
            Self::Transaction => "transaction",
            Self::Closed => "closed",
        })
    }
}
