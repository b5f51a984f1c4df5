//! The crate's error type.

use std::fmt;

use crate::response::{RespCode, Status};
use crate::sasl::SaslError;
use crate::state::State;

/// Which kind of line went over its configured limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineKind {
    /// A status line (`+OK ...` / `-ERR ...`) or the greeting.
    Status,
    /// A line of a CAPA, LIST, UIDL or LANG listing.
    Listing,
    /// A SASL challenge line (`+ base64`).
    Challenge,
}

impl fmt::Display for LineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Status => "status",
            Self::Listing => "listing",
            Self::Challenge => "SASL challenge",
        })
    }
}

/// A short, escaped copy of offending bytes, safe to print in a terminal or a log.
///
/// At most 80 bytes of the original are kept; control bytes and non-ASCII are
/// escaped so a hostile server cannot write terminal escape sequences into our logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Excerpt {
    bytes: Vec<u8>,
    truncated: bool,
}

impl Excerpt {
    const MAX: usize = 80;

    /// Keeps at most 80 bytes of `bytes`.
    pub fn new(bytes: &[u8]) -> Self {
        let truncated = bytes.len() > Self::MAX;
        Self {
            bytes: bytes[..bytes.len().min(Self::MAX)].to_vec(),
            truncated,
        }
    }

    /// The kept bytes (unescaped).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Whether there is nothing to quote (the offending line was empty).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// Where a malformed item was found, for [`Error::Malformed`]: the excerpt, quoted, or
/// "an empty line"; an empty excerpt is never quoted.
fn found_in(excerpt: &Excerpt) -> String {
    if excerpt.is_empty() {
        "an empty line".to_owned()
    } else {
        excerpt.to_string()
    }
}

impl fmt::Display for Excerpt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for &b in &self.bytes {
            // Printable ASCII as is (quotes included), everything else escaped.
            if b.is_ascii_graphic() || b == b' ' {
                write!(f, "{}", char::from(b))?;
            } else {
                write!(f, "{}", std::ascii::escape_default(b))?;
            }
        }
        f.write_str(if self.truncated { "\"..." } else { "\"" })
    }
}

impl fmt::Debug for Excerpt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Broad classes of [`Error`], for callers that map errors to exit codes or retry policies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The caller asked for something invalid (bad argument, wrong state). Nothing was sent.
    Usage,
    /// The server violated the protocol or exceeded a limit. The session is unusable.
    Protocol,
    /// The server refused the credentials.
    Auth,
    /// A security policy stopped the session (TLS missing, STLS refused, injection, plaintext).
    Security,
    /// The server answered `-ERR` to a command.
    Refused,
    /// The connection ended.
    Closed,
    /// The server refused for now (`[IN-USE]`, `[LOGIN-DELAY]`, `[SYS/TEMP]`): retry later.
    Temporary,
    /// A bug in this crate: an internal invariant did not hold.
    Internal,
}

/// Everything that can go wrong in the POP3 core.
///
/// Protocol errors carry an [`Excerpt`] of the offending bytes, in the spirit of h11:
/// an error is a value that says what was wrong, not a panic deep in a parser.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A command argument contains a byte that would break the line (CR, LF, NUL) or is
    /// otherwise unusable. Nothing was sent.
    #[error("invalid {field}: {reason}")]
    InvalidArgument {
        /// Which argument.
        field: &'static str,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The encoded command line would exceed the RFC 2449 limit of 255 octets.
    #[error("command line of {len} octets exceeds the {limit}-octet limit")]
    CommandTooLong {
        /// Encoded length including CRLF.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// A command was refused locally because the session is in the wrong state.
    #[error("{command} is not allowed in the {state} state")]
    NotAllowed {
        /// The command keyword.
        command: &'static str,
        /// The state the session is in.
        state: State,
    },
    /// A command was refused locally because an earlier command whose answer changes the
    /// session's state is still awaiting its response.
    #[error("{command} cannot be sent while {pending} awaits its response")]
    AwaitingResponse {
        /// The command keyword that was refused.
        command: &'static str,
        /// The in-flight command.
        pending: &'static str,
    },
    /// A line from the server is longer than the configured limit.
    #[error("{kind} line exceeds the {limit}-octet limit")]
    LineTooLong {
        /// What kind of line.
        kind: LineKind,
        /// The limit in octets.
        limit: usize,
    },
    /// A listing has more items than the configured limit.
    #[error("listing exceeds the limit of {limit} items")]
    TooManyItems {
        /// The limit.
        limit: usize,
    },
    /// A listing's lines together exceed the configured byte budget.
    #[error("listing exceeds the limit of {limit} bytes")]
    ListingTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The server sent a well-formed response that the exchange did not call for (an
    /// answer to a command that was not sent, a challenge after a cancel...).
    #[error("unexpected {response} from the server {context}")]
    UnexpectedResponse {
        /// What arrived.
        response: &'static str,
        /// When it arrived.
        context: &'static str,
    },
    /// The server sent something that is not valid POP3 where it was expected.
    #[error("malformed {what}: {reason} in {}", found_in(.excerpt))]
    Malformed {
        /// What was being parsed.
        what: &'static str,
        /// What was wrong with it.
        reason: &'static str,
        /// The offending bytes (empty when the offending line was: the message then says
        /// "an empty line" rather than quote nothing).
        excerpt: Excerpt,
    },
    /// A UIDL unique-id is not 1 to 70 characters in the range 0x21 to 0x7E.
    #[error("invalid unique-id {excerpt}: {reason}")]
    InvalidUid {
        /// Why it is invalid.
        reason: &'static str,
        /// The offending bytes.
        excerpt: Excerpt,
    },
    /// The server sent bytes while no response was expected.
    #[error("unsolicited data from the server: {excerpt}")]
    Unsolicited {
        /// The offending bytes.
        excerpt: Excerpt,
    },
    /// Bytes followed the server's `+OK` to STLS before the TLS handshake: an attempt to
    /// inject responses into the encrypted session (the "NO STARTTLS" attack class).
    #[error("{len} bytes arrived after the +OK to STLS, before TLS: possible command injection")]
    StartTlsInjection {
        /// How many unexpected bytes were buffered.
        len: usize,
    },
    /// TLS is required but the server does not advertise STLS.
    #[error("TLS is required but the server does not offer STLS (possible STLS stripping)")]
    StartTlsUnavailable,
    /// TLS is required but the server answered `-ERR` to STLS.
    #[error("TLS is required but the server refused STLS: {0}")]
    StartTlsRefused(Status),
    /// TLS is required but CAPA failed, so STLS support cannot be established.
    #[error("TLS is required but CAPA failed: {0}")]
    CapabilitiesUnavailable(Status),
    /// Credentials would cross an unencrypted connection and the caller did not allow it.
    #[error(
        "refusing to send credentials over an unencrypted connection (use TLS, or allow plaintext \
         authentication explicitly)"
    )]
    PlaintextAuthRefused,
    /// No authentication mechanism both offered by the server and allowed by policy.
    #[error("no usable authentication mechanism (server offers: {offered})")]
    NoMechanism {
        /// What the server offered, space separated.
        offered: String,
    },
    /// APOP was requested but the greeting carries no valid timestamp.
    #[error("APOP requested but the greeting has no valid <timestamp>")]
    NoApopTimestamp,
    /// The server refused the credentials.
    #[error("authentication failed: {0}")]
    AuthFailed(Status),
    /// The server refused the login for now (`[IN-USE]`, `[LOGIN-DELAY]`,
    /// `[SYS/TEMP]`): the credentials are not in doubt; retry later.
    #[error("the server refused the login for now (retry later): {0}")]
    LoginDeferred(Status),
    /// The requested mechanism is not offered by the server; nothing was sent.
    #[error("the server does not offer {mechanism} (it offers: {offered})")]
    MechanismNotOffered {
        /// The mechanism asked for.
        mechanism: String,
        /// What the server offers, space separated.
        offered: String,
    },
    /// The SASL exchange failed on our side (bad challenge, server signature mismatch...).
    #[error("SASL: {0}")]
    Sasl(#[from] SaslError),
    /// The greeting was `-ERR`.
    #[error("server refused the connection: {0}")]
    GreetingRefused(Status),
    /// The server answered `-ERR` to a command.
    #[error("server refused {command}: {status}")]
    Refused {
        /// The command keyword.
        command: &'static str,
        /// The server's status line.
        status: Status,
    },
    /// The connection was closed, by the server or after QUIT.
    #[error("connection closed {during}")]
    ConnectionClosed {
        /// What the session was doing.
        during: &'static str,
    },
    /// The session failed earlier and can no longer be used.
    #[error("the session failed earlier and cannot be used")]
    SessionFailed,
    /// An internal invariant of this crate did not hold: a bug, never the server's doing.
    #[error("internal error in pop3-proto ({0}); please report it")]
    Internal(&'static str),
}

impl Error {
    /// The broad class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidArgument { .. }
            | Self::CommandTooLong { .. }
            | Self::NotAllowed { .. }
            | Self::AwaitingResponse { .. }
            | Self::NoApopTimestamp
            | Self::NoMechanism { .. }
            | Self::MechanismNotOffered { .. } => ErrorKind::Usage,
            Self::LineTooLong { .. }
            | Self::TooManyItems { .. }
            | Self::ListingTooLarge { .. }
            | Self::UnexpectedResponse { .. }
            | Self::Malformed { .. }
            | Self::InvalidUid { .. }
            | Self::Unsolicited { .. }
            | Self::SessionFailed => ErrorKind::Protocol,
            Self::StartTlsInjection { .. }
            | Self::StartTlsUnavailable
            | Self::StartTlsRefused(_)
            | Self::CapabilitiesUnavailable(_)
            | Self::PlaintextAuthRefused => ErrorKind::Security,
            Self::Sasl(e) if e.is_security() => ErrorKind::Security,
            Self::AuthFailed(_) | Self::Sasl(_) => ErrorKind::Auth,
            Self::LoginDeferred(_) => ErrorKind::Temporary,
            Self::GreetingRefused(status)
                if status.code.as_ref().is_some_and(RespCode::is_temporary) =>
            {
                ErrorKind::Temporary
            }
            Self::GreetingRefused(_) | Self::Refused { .. } => ErrorKind::Refused,
            Self::ConnectionClosed { .. } => ErrorKind::Closed,
            Self::Internal(_) => ErrorKind::Internal,
        }
    }

    pub(crate) fn malformed(what: &'static str, reason: &'static str, bytes: &[u8]) -> Self {
        Self::Malformed {
            what,
            reason,
            excerpt: Excerpt::new(bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_escapes_and_truncates() {
        let e = Excerpt::new(b"\x1b[31mred\r\n");
        assert_eq!(e.to_string(), "\"\\x1b[31mred\\r\\n\"");
        let long = Excerpt::new(&[b'a'; 200]);
        assert!(long.to_string().ends_with("\"..."));
        assert_eq!(long.bytes().len(), 80);
    }

    #[test]
    fn malformed_never_quotes_an_empty_excerpt() {
        let empty = Error::malformed("status line", "expected +OK or -ERR", b"");
        assert_eq!(
            empty.to_string(),
            "malformed status line: expected +OK or -ERR in an empty line"
        );
        let blank = Error::malformed("status line", "expected +OK or -ERR", b"  ");
        assert_eq!(
            blank.to_string(),
            "malformed status line: expected +OK or -ERR in \"  \""
        );
    }
}
