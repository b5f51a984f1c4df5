#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod certs;
#[cfg(unix)]
pub mod dovecot;
pub mod server;
pub mod skip;
pub mod tls_front;
pub mod wire;

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

/// The repository's README.md: its examples compile (and the loopback ones run) as
/// doc-tests of this crate, which has every other crate among its dependencies.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct RepositoryReadme;
