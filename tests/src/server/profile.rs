//! How a [`TestServer`](super::TestServer) behaves: server profiles and injected faults.

use std::time::Duration;

/// A server personality. Several profiles can be combined, and any profile combines
/// with any [`Fault`].
///
/// Every variant but [`BreaksPipelining`](Self::BreaksPipelining) is a
/// [`pop3_server::Profile`], configuration a real server may have; that one is a fault
/// the test kit injects.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Profile {
    /// The default, modelled on Dovecot 2.3: CAPA lists `TOP UIDL RESP-CODES PIPELINING
    /// AUTH-RESP-CODE STLS USER SASL ...`, the greeting carries an APOP timestamp,
    /// concurrent sessions on one maildrop are allowed. Adding it changes nothing.
    DovecotLike,
    /// PIPELINING is not advertised (the server still answers pipelined commands in
    /// order, as every RFC 1939 server must).
    NoPipelining,
    /// Dovecot's `pop3_lock_session = yes`: while one session is logged in, a second
    /// login on the same maildrop is refused with `-ERR [IN-USE] ...`. The lock is
    /// released by QUIT or when the connection ends.
    LockSession,
    /// Bare LF line ends everywhere (greeting, responses, bodies), like some sloppy
    /// servers.
    LfOnly,
    /// Waits this long before every write of responses.
    Slow(Duration),
    /// A slow link: responses go out in pieces of at most `bytes`, with `pause` before
    /// each, so that a long response (a message body) is seen arriving for a while.
    Trickle {
        /// The most bytes written at once.
        bytes: usize,
        /// The wait before each piece.
        pause: Duration,
    },
    /// An RFC 1939-only server: no CAPA (answered with `-ERR`). STLS still works for a
    /// client that tries it blindly.
    Rfc1939Only,
    /// RFC 6856: CAPA lists `UTF8 USER` and the UTF8 command is accepted before login.
    Utf8,
    /// RFC 2449 `LOGIN-DELAY`: CAPA lists `LOGIN-DELAY <seconds>` (the delay rounded
    /// up), and a login with good credentials less than this long after the previous
    /// successful login on the maildrop, by any session, is refused with
    /// `-ERR [LOGIN-DELAY] ...`. The first login always works; refused logins do not
    /// restart the delay. Tests need no clock: a long delay (an hour) keeps every later
    /// login inside it, [`Duration::ZERO`] advertises the capability and refuses nothing.
    /// With [`LockSession`](Self::LockSession) too, `[IN-USE]` is checked first.
    LoginDelay(Duration),
    /// Advertises PIPELINING but cannot take it, as some real servers: when more than
    /// `max_burst` complete command lines (SASL responses included) arrive in one read,
    /// the server closes the connection abruptly, answering none of them. A lockstep
    /// client (one command in flight) never sends more than one line at a time, so it
    /// works as ever; a login that pipelines USER with PASS is a burst too.
    /// [`TestServer::pipelining_drops`](super::TestServer::pipelining_drops) counts the
    /// connections dropped this way. Combined with
    /// [`NoPipelining`](Self::NoPipelining), PIPELINING is not advertised.
    BreaksPipelining {
        /// The most command lines one read may bring; 0 drops on any command.
        max_burst: usize,
    },
}

/// A misbehaviour injected into sessions, to test how clients cope.
///
/// Faults added with [`TestServerBuilder::fault`](super::TestServerBuilder::fault) hit
/// every connection; those added with
/// [`fault_once`](super::TestServerBuilder::fault_once) hit only the first connection
/// where they trigger (to test retries).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Send this many bytes (server to client, greeting included, counted before TLS
    /// encryption), then close the connection abruptly. The greeting and login vary in
    /// length; to cut inside a given message's body, use
    /// [`CloseDuringRetr`](Self::CloseDuringRetr).
    CloseAfterBytes(usize),
    /// Append these bytes to the `+OK` answering STLS, in the same write (the "NO
    /// STARTTLS" command injection attack), then proceed with the TLS handshake. A
    /// correct client fails with `StartTlsInjection` and never handshakes.
    InjectAfterStls(Vec<u8>),
    /// Close the connection in the middle of the first multi-line response to RETR,
    /// TOP, LIST or UIDL, after sending its `+OK` line and part of its body (never its
    /// terminating `.` line). A `-ERR` answer does not trigger it.
    TruncateMultiline,
    /// Answer the first command after a successful login with these bytes instead of its
    /// response (the command is not executed).
    Garbage(Vec<u8>),
    /// Remove STLS from the CAPA answer before TLS, as a downgrade attacker would.
    StripStls,
    /// Answer STLS with `-ERR`.
    RefuseStls,
    /// Answer CAPA with `-ERR`.
    FailCapa,
    /// Answer the first command (after the greeting) with `+OK ` and this many bytes
    /// without any line end, streamed in 64 KiB writes (never allocated at once), then
    /// close the connection.
    HugeStatusLine(usize),
    /// Close the connection (gracefully) once this many commands have been answered
    /// (SASL responses count as commands). When the last one is an accepted STLS, the
    /// connection closes right after the `+OK`, before the TLS handshake.
    CloseAfterCommands(usize),
    /// Drop the connection when QUIT arrives in the transaction state, without
    /// answering it: the session's deletions are not committed, as when a connection
    /// dies just before QUIT is processed.
    DropOnQuit,
    /// Close the connection abruptly in the middle of the RETR of the message with this
    /// UID, after its `+OK` line and `offset` bytes of its body as sent (dot-stuffed,
    /// with the profile's line ends). The terminating `.` line is never sent: an offset
    /// at or past the end of the body cuts just before it. The message is named by UID
    /// because message numbers differ between sessions. Acts once per connection; with
    /// [`fault_once`](super::TestServerBuilder::fault_once), only in the first
    /// connection that retrieves the message, so that a retry on a new connection gets
    /// it whole.
    CloseDuringRetr {
        /// The UID of the message whose retrieval is cut.
        uid: String,
        /// Body bytes sent before the cut.
        offset: usize,
    },
}

/// A profile, sorted: what the server is configured with, or what the test kit injects.
pub(crate) enum Resolved {
    /// A personality of the embedded server.
    Server(pop3_server::Profile),
    /// [`Profile::BreaksPipelining`]'s `max_burst`.
    BreaksPipelining(usize),
}

impl Profile {
    pub(crate) fn resolve(&self) -> Resolved {
        use pop3_server::Profile as P;
        Resolved::Server(match self {
            Self::DovecotLike => P::DovecotLike,
            Self::NoPipelining => P::NoPipelining,
            Self::LockSession => P::LockSession,
            Self::LfOnly => P::LfOnly,
            Self::Slow(delay) => P::Slow(*delay),
            Self::Trickle { bytes, pause } => P::Trickle {
                bytes: *bytes,
                pause: *pause,
            },
            Self::Rfc1939Only => P::Rfc1939Only,
            Self::Utf8 => P::Utf8,
            Self::LoginDelay(delay) => P::LoginDelay(*delay),
            Self::BreaksPipelining { max_burst } => return Resolved::BreaksPipelining(*max_burst),
        })
    }
}
