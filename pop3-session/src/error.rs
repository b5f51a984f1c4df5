//! The adapters' error type.

use std::fmt;
use std::io;
use std::time::Duration;

use crate::{TlsInfo, UtcTime};

/// Everything that can go wrong in a POP3 session over a real connection.
///
/// Every message is plain words: no Rust `Debug` rendering of a library's internals.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The protocol core refused or failed (server errors, policy, malformed input).
    #[error(transparent)]
    Protocol(#[from] pop3_proto::Error),
    /// TLS with the server failed: its certificate was refused, it did not speak TLS
    /// where it should have (or did where it should not), or the handshake or a record
    /// failed.
    #[error("TLS with {address}: {error}")]
    Tls {
        /// `host:port`.
        address: String,
        /// What went wrong.
        error: TlsError,
    },
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
    #[error("{what} timed out after {}", Seconds(*after))]
    Timeout {
        /// What timed out.
        what: &'static str,
        /// The limit.
        after: Duration,
    },
    /// A status or listing line (or the greeting, or a SASL challenge) did not complete
    /// within the line timeout of its first byte: the server is trickling it, a byte now
    /// and then, which an idle timer alone would wait for without end.
    #[error(
        "the server took more than {} to send one line ({received} byte{} of it arrived): \
         it is stalling",
        Seconds(*after),
        if *received == 1 { "" } else { "s" }
    )]
    LineTimeout {
        /// The limit.
        after: Duration,
        /// How much of the line had arrived.
        received: usize,
    },
    /// The options cannot be used (bad PEM, bad server name...).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Writing a message to the caller's sink failed. The session itself is still in a
    /// defined state: the rest of the response was read and discarded.
    #[error("the message sink failed: {0}")]
    Sink(#[source] io::Error),
}

/// A duration in words for messages: `60 s`, `0.5 s`.
struct Seconds(Duration);

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.subsec_nanos() == 0 {
            write!(f, "{} s", self.0.as_secs())
        } else {
            write!(f, "{} s", self.0.as_secs_f64())
        }
    }
}

/// What went wrong with TLS; see [`Error::Tls`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum TlsError {
    /// The server's certificate was refused. The handshake stopped there, but what the
    /// server presented is kept, so that it can be shown (and, once checked, pinned).
    Certificate {
        /// Why it was refused.
        problem: CertificateProblem,
        /// The TLS version and cipher suite negotiated so far, and the certificates the
        /// server presented (end entity first; empty if it presented none).
        session: Box<TlsInfo>,
    },
    /// Where a TLS handshake was expected, the server answered in plaintext.
    Plaintext {
        /// The start of what it sent, control characters replaced.
        excerpt: String,
        /// It looks like POP3 (`+OK` or `-ERR`): a plaintext POP3 port.
        pop3: bool,
        /// It happened after the server accepted STLS: it claimed to start TLS and did
        /// not (a broken server, or an attacker on the path).
        after_stls: bool,
    },
    /// Plaintext POP3 was expected (STLS or no TLS), but the server expects TLS from its
    /// first byte, as on port 995.
    ExpectsImplicitTls {
        /// What gave it away.
        evidence: TlsEvidence,
    },
    /// Anything else: the server refused the handshake, no version or cipher suite in
    /// common, a record that failed to decrypt...
    Failed(rustls::Error),
}

/// How a server showed that it expects implicit TLS; see
/// [`TlsError::ExpectsImplicitTls`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsEvidence {
    /// It sent a TLS record where the greeting should have been.
    TlsRecord,
    /// On the implicit-TLS port (995), it sent nothing for this long: it waits for our
    /// TLS handshake.
    Silence(Duration),
    /// On the implicit-TLS port, it closed the connection without a greeting.
    Closed,
}

/// Why a server certificate was refused, in words.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CertificateProblem {
    /// Not signed by a trusted certificate authority.
    UnknownIssuer,
    /// Self-signed, and not among the trusted certificates.
    SelfSigned,
    /// Past its expiry.
    Expired {
        /// When it expired, if it could be read.
        not_after: Option<UtcTime>,
    },
    /// Not valid yet.
    NotYetValid {
        /// When it becomes valid, if it could be read.
        not_before: Option<UtcTime>,
    },
    /// It does not name the server we connected to.
    WrongName {
        /// The name we connected to.
        expected: String,
        /// The names it carries.
        names: Vec<String>,
    },
    /// Its SHA-256 fingerprint is not a pinned one.
    NotPinned,
    /// Its issuer revoked it.
    Revoked,
    /// It is not meant for TLS servers (its extended key usage says otherwise).
    NotForServers,
    /// A signature in its chain is invalid.
    BadSignature,
    /// It is signed with an algorithm this client does not support.
    UnsupportedAlgorithm,
    /// The server presented none.
    NotPresented,
    /// It could not be read.
    Malformed,
    /// Anything else, in words.
    Other(String),
}

impl fmt::Display for CertificateProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownIssuer => {
                f.write_str("it is not signed by a trusted certificate authority")
            }
            Self::SelfSigned => {
                f.write_str("it is self-signed, and not among the trusted certificates")
            }
            Self::Expired {
                not_after: Some(at),
            } => write!(f, "it expired at {at}"),
            Self::Expired { not_after: None } => f.write_str("it has expired"),
            Self::NotYetValid {
                not_before: Some(at),
            } => write!(f, "it is not valid before {at}"),
            Self::NotYetValid { not_before: None } => f.write_str("it is not valid yet"),
            Self::WrongName { expected, names } if names.is_empty() => {
                write!(f, "it does not name {expected}")
            }
            Self::WrongName { expected, names } => {
                write!(f, "it is for {}, not for {expected}", names.join(", "))
            }
            Self::NotPinned => f.write_str("its SHA-256 fingerprint is not the pinned one"),
            Self::Revoked => f.write_str("it has been revoked"),
            Self::NotForServers => f.write_str("it is not meant for TLS servers"),
            Self::BadSignature => f.write_str("a signature in its chain is invalid"),
            Self::UnsupportedAlgorithm => {
                f.write_str("it is signed with an algorithm this client does not support")
            }
            Self::NotPresented => f.write_str("the server presented none"),
            Self::Malformed => f.write_str("it could not be read"),
            Self::Other(words) => f.write_str(words),
        }
    }
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Certificate { problem, session } => {
                match session.certificate() {
                    Some(cert) => write!(f, "the certificate {} is not trusted", cert.subject)?,
                    None => f.write_str("the server certificate is not trusted")?,
                }
                write!(f, ": {problem}")
            }
            Self::Plaintext {
                excerpt,
                after_stls: true,
                ..
            } => write!(
                f,
                "the server accepted STLS but then answered in plaintext (\"{excerpt}\") \
                 instead of starting TLS"
            ),
            Self::Plaintext {
                excerpt,
                pop3: true,
                ..
            } => write!(
                f,
                "the server answered in plaintext POP3 (\"{excerpt}\") where a TLS handshake \
                 was expected: this port is not for implicit TLS"
            ),
            Self::Plaintext { excerpt, .. } => write!(
                f,
                "the server answered with something other than TLS (\"{excerpt}\") where a \
                 TLS handshake was expected"
            ),
            Self::ExpectsImplicitTls { evidence } => match evidence {
                TlsEvidence::TlsRecord => f.write_str(
                    "the server sent TLS where a plaintext POP3 greeting was expected: it \
                     wants implicit TLS on this port",
                ),
                TlsEvidence::Silence(waited) => write!(
                    f,
                    "no greeting after {} on the implicit-TLS port (995): the server is \
                     waiting for a TLS handshake",
                    Seconds(*waited)
                ),
                TlsEvidence::Closed => f.write_str(
                    "the server closed the connection without a greeting on the implicit-TLS \
                     port (995): it was waiting for a TLS handshake",
                ),
            },
            Self::Failed(error) => f.write_str(&in_words(error)),
        }
    }
}

/// A rustls error in words (its own `Display` shows `Debug` renderings of its enums).
fn in_words(error: &rustls::Error) -> String {
    use rustls::Error as E;
    match error {
        E::AlertReceived(alert) => {
            let name = alert.as_str().map_or_else(|| "unknown".to_owned(), spaced);
            let why = match alert {
                rustls::AlertDescription::HandshakeFailure
                | rustls::AlertDescription::InsufficientSecurity => {
                    ": no TLS version or cipher suite in common"
                }
                rustls::AlertDescription::ProtocolVersion => ": no TLS version in common",
                rustls::AlertDescription::UnrecognisedName => {
                    ": it does not serve the name we connected to"
                }
                _ => "",
            };
            format!("the server ended the TLS session (alert: {name}){why}")
        }
        E::InvalidMessage(_)
        | E::InappropriateMessage { .. }
        | E::InappropriateHandshakeMessage { .. }
        | E::PeerSentOversizedRecord => "the server sent data that is not valid TLS".to_owned(),
        E::DecryptError => {
            "a TLS record failed to decrypt: the connection was corrupted or tampered with"
                .to_owned()
        }
        E::PeerIncompatible(_) => {
            "the server's TLS is incompatible with this client (no version, cipher suite or \
             signature scheme in common)"
                .to_owned()
        }
        E::PeerMisbehaved(_) => "the server broke the TLS protocol".to_owned(),
        E::NoCertificatesPresented => "the server presented no certificate".to_owned(),
        E::General(text) => text.clone(),
        _ => "the TLS session failed".to_owned(),
    }
}

/// `HandshakeFailure` as `handshake failure`.
fn spaced(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push(' ');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
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
    /// A security policy, a certificate check or TLS stopped the session.
    Security,
    /// The server answered `-ERR`.
    Refused,
    /// The connection closed.
    Closed,
    /// Network failure (connect, read, write).
    Io,
    /// A timeout: a step took too long, or a line did not complete in time.
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
    /// The broad class of the error. Every [`Error::Tls`] is
    /// [`ErrorKind::Security`]: a session whose TLS failed cannot be trusted.
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
            Self::Tls { .. } => ErrorKind::Security,
            Self::Connect { .. } | Self::Io { .. } => ErrorKind::Io,
            Self::Timeout { .. } | Self::LineTimeout { .. } => ErrorKind::Timeout,
            Self::Sink(_) => ErrorKind::Sink,
            Self::Config(_) => ErrorKind::Config,
        }
    }

    /// A socket error.
    pub fn io(during: &'static str, source: io::Error) -> Self {
        Self::Io { during, source }
    }

    /// The TLS failure, if this is one.
    pub fn tls(&self) -> Option<&TlsError> {
        match self {
            Self::Tls { error, .. } => Some(error),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tls(error: TlsError) -> Error {
        Error::Tls {
            address: "pop.example.com:995".into(),
            error,
        }
    }

    #[test]
    fn kinds() {
        assert_eq!(
            tls(TlsError::Failed(rustls::Error::DecryptError)).kind(),
            ErrorKind::Security
        );
        let reset = io::Error::from(io::ErrorKind::ConnectionReset);
        assert_eq!(Error::io("reading", reset).kind(), ErrorKind::Io);
        assert_eq!(
            Error::Protocol(pop3_proto::Error::PlaintextAuthRefused).kind(),
            ErrorKind::Security
        );
        let stalled = Error::LineTimeout {
            after: Duration::from_secs(2),
            received: 3,
        };
        assert_eq!(stalled.kind(), ErrorKind::Timeout);
        assert_eq!(
            stalled.to_string(),
            "the server took more than 2 s to send one line (3 bytes of it arrived): it is \
             stalling"
        );
        let one = Error::LineTimeout {
            after: Duration::from_secs(1),
            received: 1,
        };
        assert!(one.to_string().contains("(1 byte of it"), "{one}");
        let timeout = Error::Timeout {
            what: "waiting for the server",
            after: Duration::from_millis(1500),
        };
        assert_eq!(
            timeout.to_string(),
            "waiting for the server timed out after 1.5 s"
        );
    }

    /// Messages are words, never `Debug` renderings of rustls' enums.
    #[test]
    fn tls_errors_in_words() {
        let cases = [
            (
                TlsError::Failed(rustls::Error::InvalidMessage(
                    rustls::InvalidMessage::InvalidContentType,
                )),
                "TLS with pop.example.com:995: the server sent data that is not valid TLS",
            ),
            (
                TlsError::Failed(rustls::Error::AlertReceived(
                    rustls::AlertDescription::HandshakeFailure,
                )),
                "TLS with pop.example.com:995: the server ended the TLS session (alert: \
                 handshake failure): no TLS version or cipher suite in common",
            ),
            (
                TlsError::Plaintext {
                    excerpt: "+OK ready".into(),
                    pop3: true,
                    after_stls: false,
                },
                "TLS with pop.example.com:995: the server answered in plaintext POP3 (\"+OK \
                 ready\") where a TLS handshake was expected: this port is not for implicit TLS",
            ),
            (
                TlsError::ExpectsImplicitTls {
                    evidence: TlsEvidence::Silence(Duration::from_secs(5)),
                },
                "TLS with pop.example.com:995: no greeting after 5 s on the implicit-TLS port \
                 (995): the server is waiting for a TLS handshake",
            ),
            (
                TlsError::Certificate {
                    problem: CertificateProblem::WrongName {
                        expected: "pop.example.com".into(),
                        names: vec!["localhost".into(), "127.0.0.1".into()],
                    },
                    session: Box::default(),
                },
                "TLS with pop.example.com:995: the server certificate is not trusted: it is for \
                 localhost, 127.0.0.1, not for pop.example.com",
            ),
        ];
        for (error, text) in cases {
            let error = tls(error);
            assert_eq!(error.to_string(), text);
            assert!(std::error::Error::source(&error).is_none());
            assert_eq!(error.kind(), ErrorKind::Security);
        }
        let unknown = tls(TlsError::Failed(rustls::Error::AlertReceived(
            rustls::AlertDescription::Unknown(200),
        )));
        assert!(!unknown.to_string().contains("Unknown("), "{unknown}");
    }
}
