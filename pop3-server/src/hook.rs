//! The extension point: a [`ConnectionHook`] watches and changes one connection.
//!
//! A server calls [`ServerBuilder::connection_hook`](crate::ServerBuilder::connection_hook)'s
//! factory once per accepted connection; the hook it returns sees that connection's
//! traffic at four points, each a provided method that does nothing by default:
//!
//! | method | when | can |
//! |---|---|---|
//! | [`on_read`](ConnectionHook::on_read) | bytes arrived from the client | close the connection |
//! | [`on_command`](ConnectionHook::on_command) | a whole client line, before the server handles it | answer it instead, close |
//! | [`on_login`](ConnectionHook::on_login) | a login opened the maildrop | act while other logins wait |
//! | [`on_response`](ConnectionHook::on_response) | output is about to be written | replace, cut or extend it, close after it |
//!
//! This is how a test kit injects faults (a cut in the middle of a body, garbage after
//! login, a STARTTLS command injection...) without a copy of the server. A hook that
//! cuts the third command's answer short:
//!
//! ```
//! use pop3_server::hook::{ConnectionHook, Flow, Response};
//! use pop3_server::Server;
//!
//! #[derive(Default)]
//! struct CutThird {
//!     answered: usize,
//! }
//!
//! impl ConnectionHook for CutThird {
//!     fn on_response(&mut self, response: &mut Response<'_>) -> Flow {
//!         if response.is_greeting() || !response.is_first() {
//!             return Flow::Continue;
//!         }
//!         self.answered += 1;
//!         if self.answered == 3 {
//!             response.bytes_mut().truncate(2);
//!             return Flow::Abort;
//!         }
//!         Flow::Continue
//!     }
//! }
//!
//! let server = Server::builder()
//!     .connection_hook(|_| Box::new(CutThird::default()))
//!     .start()?;
//! # drop(server);
//! # Ok::<(), pop3_server::Error>(())
//! ```

use std::fmt;
use std::io::Read;
use std::net::SocketAddr;

pub use pop3_proto::Command;
use pop3_proto::Uid;

/// Watches and changes one connection; see the [module documentation](self).
///
/// Every method has a default that changes nothing. A hook runs on its connection's
/// thread; it may share state with the test (through an `Arc`) and with the hooks of
/// other connections.
pub trait ConnectionHook: Send {
    /// Bytes just read from the client (after TLS decryption), before they are split into
    /// lines. [`Flow::Close`] or [`Flow::Abort`] end the connection at once: complete
    /// lines among the bytes received so far are recorded (see
    /// [`Server::received`](crate::Server::received)) but not answered.
    fn on_read(&mut self, bytes: &[u8]) -> Flow {
        let _ = bytes;
        Flow::Continue
    }

    /// A complete client line (a command or a SASL response), before the server handles
    /// it. See [`Intercept`] for what the hook may do instead.
    fn on_command(&mut self, line: &Line<'_>) -> Intercept {
        let _ = line;
        Intercept::Execute
    }

    /// A login succeeded and took its snapshot of the maildrop. Other logins on the same
    /// store wait until this returns, so a change made here (say, removing a message from
    /// a [`Maildrop`](crate::Maildrop)) is seen by every later session and by no earlier
    /// one. Do not log in from here.
    fn on_login(&mut self, login: &LoginInfo<'_>) {
        let _ = login;
    }

    /// A piece of output about to be written: the greeting, or a chunk of the answer to a
    /// line (from the server, or from an [`Intercept::Reply`]). Long answers come in
    /// chunks of about 64 KiB; [`Response::is_first`] and [`Response::is_last`] tell
    /// where a chunk lies. The hook may change the bytes; the [`Flow`] says what happens
    /// once they are written.
    fn on_response(&mut self, response: &mut Response<'_>) -> Flow {
        let _ = response;
        Flow::Continue
    }
}

/// What happens to a connection after a hook has run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Carry on.
    Continue,
    /// Write what is pending, then close politely (TLS `close_notify`, wait briefly for
    /// the client to hang up).
    Close,
    /// Write what is pending, then shut the socket down at once.
    Abort,
}

/// What the server does with a client line; returned by [`ConnectionHook::on_command`].
pub enum Intercept {
    /// Handle it as usual.
    Execute,
    /// Do not handle it: send what this reader yields instead, in chunks of at most
    /// 64 KiB (so a huge answer is never held in memory), each through
    /// [`ConnectionHook::on_response`]. A read error ends the answer.
    Reply(Box<dyn Read + Send>),
    /// Do not handle it: write what is pending and close politely.
    Close,
    /// Do not handle it: write what is pending and shut the socket down at once.
    Abort,
}

impl Intercept {
    /// [`Intercept::Reply`] with these bytes.
    pub fn reply(bytes: impl Into<Vec<u8>>) -> Self {
        Self::Reply(Box::new(std::io::Cursor::new(bytes.into())))
    }
}

impl fmt::Debug for Intercept {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Execute => f.write_str("Execute"),
            Self::Reply(_) => f.write_str("Reply(..)"),
            Self::Close => f.write_str("Close"),
            Self::Abort => f.write_str("Abort"),
        }
    }
}

/// A new connection, as the hook factory sees it.
#[derive(Clone, Debug)]
pub struct ConnectionInfo {
    pub(crate) number: usize,
    pub(crate) peer: Option<SocketAddr>,
    pub(crate) implicit_tls: bool,
}

impl ConnectionInfo {
    /// The connection's number: 1 for the first the server accepted (on either port).
    pub fn number(&self) -> usize {
        self.number
    }

    /// The client's address, when the socket knows it.
    pub fn peer(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// Whether it came in on the implicit-TLS port.
    pub fn is_implicit_tls(&self) -> bool {
        self.implicit_tls
    }
}

/// A client line, as [`ConnectionHook::on_command`] sees it.
#[derive(Debug)]
pub struct Line<'a> {
    pub(crate) text: &'a [u8],
    pub(crate) command: Option<&'a Command>,
    pub(crate) number: usize,
    pub(crate) sasl: bool,
    pub(crate) logged_in: bool,
    pub(crate) tls: bool,
}

impl Line<'_> {
    /// The line without its line end.
    pub fn text(&self) -> &[u8] {
        self.text
    }

    /// The command, if the line is one (`None` for SASL responses and for lines that do
    /// not parse, which the server refuses).
    pub fn command(&self) -> Option<&Command> {
        self.command
    }

    /// Which line of the connection this is: 1 for the first.
    pub fn number(&self) -> usize {
        self.number
    }

    /// Whether the line answers a SASL challenge rather than being a command.
    pub fn is_sasl_response(&self) -> bool {
        self.sasl
    }

    /// Whether the session is logged in (in the transaction state).
    pub fn is_logged_in(&self) -> bool {
        self.logged_in
    }

    /// Whether the connection is encrypted (implicit TLS, or after STLS).
    pub fn is_tls(&self) -> bool {
        self.tls
    }
}

/// A successful login, as [`ConnectionHook::on_login`] sees it.
#[derive(Debug)]
pub struct LoginInfo<'a> {
    pub(crate) user: &'a str,
    pub(crate) logins: usize,
    pub(crate) messages: usize,
}

impl LoginInfo<'_> {
    /// The user who logged in.
    pub fn user(&self) -> &str {
        self.user
    }

    /// Successful logins on this store so far, by any session of any server sharing it,
    /// this one included (so 1 for the first).
    pub fn logins(&self) -> usize {
        self.logins
    }

    /// How many messages the session's snapshot holds.
    pub fn messages(&self) -> usize {
        self.messages
    }
}

/// A piece of output, as [`ConnectionHook::on_response`] sees it.
#[derive(Debug)]
pub struct Response<'a> {
    pub(crate) bytes: &'a mut Vec<u8>,
    pub(crate) command: Option<&'a Command>,
    pub(crate) greeting: bool,
    pub(crate) first: bool,
    pub(crate) last: bool,
    pub(crate) tls: bool,
    pub(crate) snapshot: &'a [Uid],
}

impl Response<'_> {
    /// The bytes about to be written (before TLS encryption).
    pub fn bytes(&self) -> &[u8] {
        self.bytes
    }

    /// The bytes, to change: truncate them, replace them, append to them.
    pub fn bytes_mut(&mut self) -> &mut Vec<u8> {
        self.bytes
    }

    /// The command being answered (`None` for the greeting, SASL responses and lines that
    /// do not parse).
    pub fn command(&self) -> Option<&Command> {
        self.command
    }

    /// Whether this is the greeting.
    pub fn is_greeting(&self) -> bool {
        self.greeting
    }

    /// Whether this chunk starts the answer (it holds the status line).
    pub fn is_first(&self) -> bool {
        self.first
    }

    /// Whether this chunk ends the answer (for a multi-line answer, it holds the
    /// terminating `.` line).
    pub fn is_last(&self) -> bool {
        self.last
    }

    /// Whether the connection is encrypted (implicit TLS, or after STLS).
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The UID of message `msg` in this session's snapshot (message numbers are per
    /// session); `None` before login or for a number out of range.
    pub fn uid(&self, msg: u32) -> Option<&str> {
        let index = usize::try_from(msg).ok()?.checked_sub(1)?;
        self.snapshot.get(index).map(Uid::as_str)
    }
}
