//! The crate's error type.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

/// The error source of a failed TLS setup, kept opaque so that the TLS and certificate
/// libraries stay an implementation detail.
pub(crate) type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a server, a store or a certificate could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's reason.
        #[source]
        source: io::Error,
    },
    /// An I/O error, e.g. reading or writing a Maildir.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, and on which path.
        context: String,
        /// The operating system's reason.
        #[source]
        source: io::Error,
    },
    /// The directory is not a Maildir (it lacks `new/` or `cur/`).
    #[error("{} is not a Maildir: it has no {missing}/ directory", path.display())]
    NotMaildir {
        /// The directory.
        path: PathBuf,
        /// The missing subdirectory.
        missing: &'static str,
    },
    /// A UID is not valid: 1 to 70 characters in 0x21..=0x7E (and, in a Maildir, usable
    /// as a file name).
    #[error("invalid UID {0:?}")]
    InvalidUid(String),
    /// Two messages have the same UID.
    #[error("duplicate UID {0:?}")]
    DuplicateUid(String),
    /// Certificate generation failed.
    #[error("cannot generate a certificate: {0}")]
    Certificate(#[source] Source),
    /// The TLS configuration was refused (e.g. a certificate or key PEM that does not parse
    /// or match).
    #[error("invalid TLS configuration: {0}")]
    Tls(#[source] Source),
    /// A setting is not usable, e.g. a greeting with a line break.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// A thread could not be started.
    #[error("cannot start a thread: {0}")]
    Thread(#[source] io::Error),
}

impl Error {
    /// An I/O error with what was being done.
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(io::Error) -> Self {
        let context = context.into();
        move |source| Self::Io { context, source }
    }
}
