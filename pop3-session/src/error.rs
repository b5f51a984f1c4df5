//! The adapters' error type.

use std::io;
use std::time::Duration;

/// Everything that can go wrong in a POP3 session over a real connection.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The protocol core refused or failed (server errors, policy, malformed input).
    #[error(transparent)]
    Protocol(#[from] pop3_proto::Error),
    /// The TLS layer failed (certificate not trusted, handshake failure, bad record).
    #[error("TLS: {0}")]
    Tls(#[source] rustls::Error),
    /// Could not open the TCP connection.
    #[error("cannot connect to {address}: {source}")]
    Connect {
        /// `host:port`.
        address: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A socket operation failed.
    #[error("I/O error while {during}: {source}")]
    Io {
        /// What we were doing.
        during: &'static str,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A step took longer than its timeout.
    #[error("{what} timed out after {after:?}")]
    Timeout {
        /// What timed out.
        what: &'static str,
        /// The limit.
        after: Duration,
    },
    /// The options cannot be used (bad PEM, bad server name...).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Writing a message to the caller's sink failed. The session itself is still in a
    /// defined state: the rest of the response was read and discarded.
    #[error("the message sink failed: {0}")]
    Sink(#[source] io::Error),
}

/// Broad classes of [`Error`], e.g. for exit codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The caller asked for something invalid; nothing was sent.
    Usage,
    /// The server broke the protocol or a limit.
    Protocol,
    /// The credentials were refused.
    Auth,
    /// A security policy or certificate check stopped the session.
    Security,
    /// The server answered `-ERR`.
    Refused,
    /// The connection closed.
    Closed,
    /// Network failure (connect, read, write).
    Io,
    /// A timeout.
    Timeout,
    /// The caller's sink failed.
    Sink,
    /// Invalid options.
    Config,
    /// The server refused for now (`[IN-USE]`, `[LOGIN-DELAY]`, `[SYS/TEMP]`): retry
    /// later; the credentials are not in doubt.
    Temporary,
    /// A bug in these crates: an internal invariant did not hold.
    Internal,
}

impl Error {
    /// The broad class of the error.
    pub fn kind(&self) -> ErrorKind {
        use pop3_proto::ErrorKind as P;
        match self {
            Self::Protocol(e) => match e.kind() {
                P::Usage => ErrorKind::Usage,
                P::Auth => ErrorKind::Auth,
                P::Security => ErrorKind::Security,
                P::Refused => ErrorKind::Refused,
                P::Closed => ErrorKind::Closed,
                P::Internal => ErrorKind::Internal,
                P::Temporary => ErrorKind::Temporary,
                // Protocol, and kinds added later.
                _ => ErrorKind::Protocol,
            },
            Self::Tls(
                rustls::Error::InvalidCertificate(_)
                | rustls::Error::NoCertificatesPresented
                | rustls::Error::UnsupportedNameType,
            ) => ErrorKind::Security,
            Self::Tls(_) => ErrorKind::Protocol,
            Self::Connect { .. } | Self::Io { .. } => ErrorKind::Io,
            Self::Timeout { .. } => ErrorKind::Timeout,
            Self::Sink(_) => ErrorKind::Sink,
            Self::Config(_) => ErrorKind::Config,
        }
    }

    /// A socket error: rustls errors surfacing through `io::Error` become
    /// [`Error::Tls`], everything else [`Error::Io`].
    pub fn io(during: &'static str, source: io::Error) -> Self {
        if let Some(tls) = source
            .get_ref()
            .and_then(|e| e.downcast_ref::<rustls::Error>())
        {
            return Self::Tls(tls.clone());
        }
        Self::Io { during, source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        let cert = Error::Tls(rustls::Error::InvalidCertificate(
            rustls::CertificateError::UnknownIssuer,
        ));
        assert_eq!(cert.kind(), ErrorKind::Security);
        let wrapped = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::NoCertificatesPresented,
        );
        assert_eq!(Error::io("handshake", wrapped).kind(), ErrorKind::Security);
        let reset = io::Error::from(io::ErrorKind::ConnectionReset);
        assert_eq!(Error::io("reading", reset).kind(), ErrorKind::Io);
        assert_eq!(
            Error::Protocol(pop3_proto::Error::PlaintextAuthRefused).kind(),
            ErrorKind::Security
        );
    }
}
