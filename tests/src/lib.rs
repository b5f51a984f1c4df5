//! A test kit for POP3 clients, in the spirit of `GreenMail`: start a server in your test,
//! point your client at it, check what happened.
//!
//! The server itself is the embeddable [`pop3_server`] crate; this kit adds what only
//! tests need, through the server's [`ConnectionHook`](pop3_server::ConnectionHook)
//! extension point, and re-exports the rest under its historical names.
//!
//! * [`TestServer`] ([`server`]): `pop3_server`'s server on loopback with STLS and
//!   implicit TLS, SASL, APOP, server [`Profile`]s (Dovecot-like, no pipelining, session
//!   lock, LF-only, slow, trickling, RFC 1939 only) and injected [`Fault`]s (truncation,
//!   garbage, STLS stripping and injection, endless lines...).
//!
//!   For clients that open several sessions on one maildrop at once: a server that
//!   refuses logins too close together ([`Profile::LoginDelay`]), one that advertises
//!   PIPELINING but drops a connection sending a burst of commands
//!   ([`Profile::BreaksPipelining`]), messages that vanish between sessions
//!   ([`TestServerBuilder::expunge_after_logins`], [`Maildrop::remove`]), a cut at a
//!   chosen offset inside one message's body ([`Fault::CloseDuringRetr`]), and counts
//!   of logins and of sessions logged in at once ([`TestServer::logins`],
//!   [`TestServer::max_concurrent_sessions`]).
//! * [`LatencyProxy`] ([`proxy`], from `pop3_server`): a loopback TCP proxy adding a
//!   one-way delay in each direction, without throttling pipelined traffic.
//! * [`Dovecot`] ([`dovecot`], Unix): starts a real Dovecot on loopback from a verified
//!   configuration, when it is installed.
//! * [`mailbox`] (from `pop3_server`): hostile and realistic message sets.
//! * [`certs`]: throw-away CA and server certificates, trusted and untrusted.
//! * [`tls_front`]: a TLS front serving a certificate of your choice (one made by running
//!   `openssl req -x509`, say) before any plaintext server.
//!
//! Everything is blocking std code with its own threads, so it works under any async
//! runtime, and everything stops when dropped.
//!
//! ```
//! use pop3_testkit::{Fault, TestServer, mailbox};
//!
//! let server = TestServer::builder()
//!     .messages(mailbox::hostile_mailbox())
//!     .fault(Fault::StripStls)
//!     .start();
//! // Point the client under test at server.addr() (STLS) or server.tls_addr(),
//! // trusting server.ca_pem(); then check server.mailbox() and server.received().
//! assert_eq!(server.mailbox().len(), mailbox::hostile_mailbox().len());
//! ```
#![forbid(unsafe_code)]

pub mod certs;
#[cfg(unix)]
pub mod dovecot;
pub mod server;
pub mod tls_front;

pub use pop3_server::mailbox;

/// [`LatencyProxy`]: a loopback TCP proxy that delays every chunk by a fixed one-way
/// latency in each direction (`pop3_server`'s, re-exported).
pub mod proxy {
    pub use pop3_server::LatencyProxy;
}

#[cfg(unix)]
pub use dovecot::{Dovecot, DovecotError, DovecotOptions};
pub use proxy::LatencyProxy;
pub use server::{Fault, Maildrop, Profile, TestServer, TestServerBuilder};
pub use tls_front::TlsFront;
