//! The client connection state machine.
//!
//! [`Client`] owns no socket. The driver feeds it bytes with [`Client::enqueue_input`]
//! and asks it what happened with [`Client::progress`], which returns either an
//! [`Event`] or an [`Interrupt`] saying which I/O to do next. Commands are queued with
//! [`Client::send`]; responses are matched to them in order.

use std::collections::VecDeque;
use std::fmt;

use bytes::{Bytes, BytesMut};

use crate::capability::{Capabilities, Capability};
use crate::command::Command;
use crate::dot::DotDecoder;
use crate::error::{Error, Excerpt, LineKind};
use crate::response::{
    Greeting, Language, MaildropSize, ScanListing, Status, StatusKind, UidListing, is_challenge,
    parse_challenge,
};
use crate::state::State;
use crate::transcript;

/// Size limits on what the server may send, so a hostile server cannot make the client
/// allocate without bound. Bodies are streamed and need no limit.
///
/// ```
/// use pop3_proto::Limits;
/// const STRICT: Limits = Limits::new().status_line(512).listing_items(10_000);
/// # let _ = STRICT;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub(crate) status_line: usize,
    pub(crate) listing_line: usize,
    pub(crate) listing_items: usize,
    pub(crate) sasl_challenge: usize,
    pub(crate) capabilities: usize,
    pub(crate) listing_bytes: usize,
}

impl Limits {
    /// The defaults: 4 KiB status lines, 1 KiB listing lines, a million listing items
    /// and 64 MiB per listing, 16 KiB SASL challenges, 256 CAPA lines.
    pub const fn new() -> Self {
        Self {
            status_line: 4096,
            listing_line: 1024,
            listing_items: 1_000_000,
            sasl_challenge: 16 * 1024,
            capabilities: 256,
            listing_bytes: 64 * 1024 * 1024,
        }
    }

    /// Longest status line or greeting, line end included (RFC 2449 allows 512).
    #[must_use]
    pub const fn status_line(mut self, octets: usize) -> Self {
        self.status_line = octets;
        self
    }

    /// Longest line of a CAPA, LIST, UIDL or LANG listing.
    #[must_use]
    pub const fn listing_line(mut self, octets: usize) -> Self {
        self.listing_line = octets;
        self
    }

    /// Most items in one listing.
    #[must_use]
    pub const fn listing_items(mut self, items: usize) -> Self {
        self.listing_items = items;
        self
    }

    /// Longest SASL challenge line (base64 encoded).
    #[must_use]
    pub const fn sasl_challenge(mut self, octets: usize) -> Self {
        self.sasl_challenge = octets;
        self
    }

    /// Most lines in a CAPA answer (each line can carry many arguments, so this is much
    /// lower than the listing items).
    #[must_use]
    pub const fn capabilities(mut self, lines: usize) -> Self {
        self.capabilities = lines;
        self
    }

    /// Most bytes in one listing, all lines together.
    #[must_use]
    pub const fn listing_bytes(mut self, octets: usize) -> Self {
        self.listing_bytes = octets;
        self
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::new()
    }
}

/// The pipelining window: how much may be in flight at once.
///
/// It bounds memory (one small record per command in flight, and the command bytes not
/// yet written), not the socket buffers: the adapters read while they write, so a
/// batch of any size cannot deadlock against a server that answers before it reads.
/// The default (4096 commands, 128 KiB) lets one pass over a mailbox of a few thousand
/// messages go out at once, so listing their headers costs about one round trip: about
/// 230 KiB of bookkeeping at most.
///
/// ```
/// use pop3_proto::Window;
/// let small = Window::new().commands(64).bytes(4096);
/// # let _ = small;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub(crate) commands: usize,
    pub(crate) bytes: usize,
}

impl Window {
    /// The default window: 4096 commands, 128 KiB.
    pub const fn new() -> Self {
        Self {
            commands: 4096,
            bytes: 128 * 1024,
        }
    }

    /// Most commands in flight.
    #[must_use]
    pub const fn commands(mut self, commands: usize) -> Self {
        self.commands = commands;
        self
    }

    /// Most command bytes in flight (one command is always allowed).
    #[must_use]
    pub const fn bytes(mut self, bytes: usize) -> Self {
        self.bytes = bytes;
        self
    }
}

impl Default for Window {
    fn default() -> Self {
        Self::new()
    }
}

/// When to pipeline commands (RFC 2449 §6.6).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Pipelining {
    /// Pipeline once CAPA lists `PIPELINING`; lockstep before and without it.
    #[default]
    Auto,
    /// Pipeline even if the server does not advertise it.
    Always,
    /// Strict lockstep: one command in flight.
    Never,
}

/// How the connection is secured, which decides when credentials may be sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsMode {
    /// TLS from the first byte (POP3S, port 995), or a stream the caller already
    /// secured.
    Implicit,
    /// Plaintext, then a required STLS upgrade before any credential (port 110). Never
    /// opportunistic: a server that cannot upgrade fails the login.
    StartTls,
    /// No TLS at all (port 110). Credentials are refused unless the login explicitly
    /// allows plaintext authentication.
    Plain,
}

impl TlsMode {
    /// The standard port: 995 for implicit TLS, 110 otherwise.
    pub fn default_port(self) -> u16 {
        match self {
            Self::Implicit => 995,
            Self::StartTls | Self::Plain => 110,
        }
    }
}

/// Client configuration.
///
/// ```
/// use pop3_proto::{Config, Pipelining, TlsMode, Window};
/// let config = Config::new()
///     .tls(TlsMode::Implicit)
///     .pipelining(Pipelining::Never)
///     .window(Window::new().commands(16));
/// # let _ = config;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    pub(crate) limits: Limits,
    pub(crate) window: Window,
    pub(crate) pipelining: Pipelining,
    pub(crate) tls: TlsMode,
}

impl Config {
    /// The defaults: default limits and window, [`Pipelining::Auto`], and
    /// [`TlsMode::Plain`] (the core cannot see the transport, so it assumes nothing is
    /// encrypted until told).
    pub const fn new() -> Self {
        Self {
            limits: Limits::new(),
            window: Window::new(),
            pipelining: Pipelining::Auto,
            tls: TlsMode::Plain,
        }
    }

    /// Limits on server input.
    #[must_use]
    pub const fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The pipelining window.
    #[must_use]
    pub const fn window(mut self, window: Window) -> Self {
        self.window = window;
        self
    }

    /// The pipelining policy.
    #[must_use]
    pub const fn pipelining(mut self, pipelining: Pipelining) -> Self {
        self.pipelining = pipelining;
        self
    }

    /// How the connection is secured: encrypted from the start, upgraded with a
    /// required STLS during login, or plaintext.
    #[must_use]
    pub const fn tls(mut self, tls: TlsMode) -> Self {
        self.tls = tls;
        self
    }
}

impl Default for Config {
    fn default() -> Self {
        Self::new()
    }
}

/// Identifies a command sent with [`Client::send`]; events carry it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommandId(u64);

/// A positive reply, typed by the command it answers.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reply {
    /// `+OK` with nothing more to it (USER, PASS, DELE, NOOP, RSET, QUIT, STLS, ...).
    Done(Status),
    /// The answer to `STAT`.
    Stat(MaildropSize),
    /// The answer to `LIST n`.
    Scan(ScanListing),
    /// The answer to `UIDL n`.
    Uid(UidListing),
    /// The answer to `LIST`.
    ScanListings(Vec<ScanListing>),
    /// The answer to `UIDL`.
    UidListings(Vec<UidListing>),
    /// The answer to `CAPA`.
    Capabilities(Capabilities),
    /// The answer to `LANG` without argument.
    Languages(Vec<Language>),
    /// The `+OK` to RETR or TOP: [`Event::Body`] chunks and one [`Event::BodyEnd`] follow.
    BodyFollows(Status),
}

/// What [`Client::progress`] reports.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The server greeting (`-ERR` ends the session).
    Greeting(Greeting),
    /// A positive reply to a command.
    Ok {
        /// The command answered.
        id: CommandId,
        /// The typed reply.
        reply: Reply,
    },
    /// `-ERR` to a command.
    Err {
        /// The command answered.
        id: CommandId,
        /// The status line.
        status: Status,
    },
    /// A SASL challenge (decoded): answer it with [`Command::AuthResponse`] or
    /// [`Command::AuthCancel`].
    Challenge {
        /// The AUTH command.
        id: CommandId,
        /// The decoded challenge.
        data: Vec<u8>,
    },
    /// A chunk of a RETR or TOP body, dot-unstuffed. Never accumulated by the client.
    Body {
        /// The RETR or TOP command.
        id: CommandId,
        /// The bytes.
        chunk: Bytes,
    },
    /// The end of a RETR or TOP body.
    BodyEnd {
        /// The RETR or TOP command.
        id: CommandId,
    },
    /// The driver reported the TLS handshake after STLS as done; capabilities were reset.
    TlsEstablished,
}

/// The I/O the driver must do before calling [`Client::progress`] again.
///
/// `Debug` shows the length of output, not its bytes (they may carry credentials).
#[derive(Clone, PartialEq, Eq)]
#[must_use]
pub enum Io {
    /// Write these bytes to the server, all of them, in one write where possible.
    Output(Vec<u8>),
    /// Read from the server and call [`Client::enqueue_input`].
    NeedMoreInput,
}

impl fmt::Debug for Io {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Output(bytes) => write!(f, "Output({} bytes)", bytes.len()),
            Self::NeedMoreInput => f.write_str("NeedMoreInput"),
        }
    }
}

/// Why [`Client::progress`] did not return an event.
#[derive(Debug)]
#[must_use]
pub enum Interrupt {
    /// I/O is needed.
    Io(Io),
    /// The session failed; it cannot be used any more.
    Error(Error),
}

impl From<Error> for Interrupt {
    fn from(e: Error) -> Self {
        Self::Error(e)
    }
}

/// What the first line of a response is parsed as, and what follows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    Simple,
    Stat,
    /// `LIST n`: the answer must be about message n.
    Scan(u32),
    /// `UIDL n`: the answer must be about message n.
    Uid(u32),
    ScanListings,
    UidListings,
    Capabilities,
    Languages,
    Body,
    /// USER: single line, but login is not done yet.
    User,
    /// PASS or APOP: success enters the transaction state.
    Login,
    /// AUTH: challenges, then success enters the transaction state.
    Auth,
    Stls,
    Quit,
}

impl Expect {
    fn of(cmd: &Command) -> Self {
        match cmd {
            Command::User(_) => Self::User,
            Command::Pass(_) | Command::Apop { .. } => Self::Login,
            Command::Auth { .. } => Self::Auth,
            Command::Stls => Self::Stls,
            Command::Capa => Self::Capabilities,
            Command::Stat => Self::Stat,
            Command::List(None) => Self::ScanListings,
            Command::List(Some(n)) => Self::Scan(*n),
            Command::Uidl(None) => Self::UidListings,
            Command::Uidl(Some(n)) => Self::Uid(*n),
            Command::Retr(_) | Command::Top { .. } => Self::Body,
            Command::Quit => Self::Quit,
            Command::Lang(None) => Self::Languages,
            Command::AuthResponse(_)
            | Command::AuthCancel
            | Command::Dele(_)
            | Command::Noop
            | Command::Rset
            | Command::Utf8
            | Command::Lang(Some(_)) => Self::Simple,
        }
    }

    /// Commands after which nothing may be sent until they are answered, because their
    /// answer decides the state the next command would run in.
    fn is_barrier(self) -> bool {
        matches!(self, Self::Login | Self::Auth | Self::Stls | Self::Quit)
    }
}

#[derive(Debug)]
struct InFlight {
    id: CommandId,
    keyword: &'static str,
    expect: Expect,
    len: usize,
    /// Sent with [`Client::send_background`]: the core consumes the answer itself.
    background: bool,
}

/// A command whose answer decides the state of what follows, not answered yet.
#[derive(Debug)]
struct Barrier {
    id: CommandId,
    expect: Expect,
    keyword: &'static str,
}

struct Queued {
    flight: InFlight,
    bytes: Vec<u8>,
}

/// A multi-line response being received, and the command it answers.
#[derive(Debug)]
enum Receiving {
    /// A listing and the bytes it took so far.
    Listing(CommandId, Listing, usize),
    Body(CommandId, DotDecoder),
}

/// A listing being accumulated (bounded by [`Limits::listing_items`]).
#[derive(Debug)]
enum Listing {
    Scan(Vec<ScanListing>),
    Uid(Vec<UidListing>),
    Capabilities(Capabilities),
    Languages(Vec<Language>),
}

/// The POP3 client connection, sans I/O.
///
/// ```
/// use pop3_proto::{Client, Command, Config, Event, Interrupt, Io, Reply};
///
/// let mut client = Client::new(Config::default());
/// client.enqueue_input(b"+OK ready\r\n");
/// assert!(matches!(client.progress(), Ok(Event::Greeting(_))));
///
/// let id = client.send(Command::Capa)?;
/// let Err(Interrupt::Io(Io::Output(bytes))) = client.progress() else { panic!() };
/// assert_eq!(bytes, b"CAPA\r\n");
/// client.enqueue_input(b"+OK\r\nTOP\r\nPIPELINING\r\n.\r\n");
/// let Ok(Event::Ok { id: got, reply: Reply::Capabilities(caps) }) = client.progress() else {
///     panic!()
/// };
/// assert_eq!(got, id);
/// assert!(caps.pipelining());
/// # Ok::<(), pop3_proto::Error>(())
/// ```
pub struct Client {
    config: Config,
    state: State,
    tls: bool,
    failed: bool,
    input: BytesMut,
    output: Vec<u8>,
    queued: VecDeque<Queued>,
    in_flight: VecDeque<InFlight>,
    in_flight_bytes: usize,
    receiving: Option<Receiving>,
    /// A challenge was delivered and awaits its AuthResponse/AuthCancel.
    challenge_open: bool,
    tls_event: bool,
    next_id: u64,
    greeting: Option<Greeting>,
    capabilities: Option<Capabilities>,
    /// The unanswered barrier (PASS, APOP, AUTH, STLS, QUIT), if any.
    barrier: Option<Barrier>,
    /// Bytes taken in with [`Client::enqueue_input`] since the start of the connection.
    received: u64,
}

/// The line the core is waiting for: a greeting, status, listing or SASL challenge line
/// (never a message body). Drivers use it to bound how long one line may take to arrive
/// from its first byte (a line deadline), which an idle timer cannot: a server that
/// sends one byte a second is never idle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingLine {
    /// Where the line starts, in bytes from the start of the connection (after TLS):
    /// a new value means a new line.
    pub start: u64,
    /// How many bytes of it have arrived (0: it has not started).
    pub received: usize,
}

/// Shows the session's shape, never the bytes: queued and written commands may carry a
/// password or a SASL response.
impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("state", &self.state)
            .field("tls", &self.tls)
            .field("failed", &self.failed)
            .field("pipelining", &self.is_pipelining())
            .field(
                "in_flight",
                &self.in_flight.iter().map(|f| f.keyword).collect::<Vec<_>>(),
            )
            .field("queued", &self.queued.len())
            .field("output_bytes", &self.output.len())
            .field("input_bytes", &self.input.len())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client waiting for the server greeting.
    pub fn new(config: Config) -> Self {
        Self {
            config,
            state: State::Greeting,
            tls: config.tls == TlsMode::Implicit,
            failed: false,
            input: BytesMut::with_capacity(16 * 1024),
            output: Vec::new(),
            queued: VecDeque::new(),
            in_flight: VecDeque::new(),
            in_flight_bytes: 0,
            receiving: None,
            challenge_open: false,
            tls_event: false,
            next_id: 0,
            greeting: None,
            capabilities: None,
            barrier: None,
            received: 0,
        }
    }

    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Whether the transport is encrypted (implicit TLS, or STLS completed).
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The greeting, once received.
    pub fn greeting(&self) -> Option<&Greeting> {
        self.greeting.as_ref()
    }

    /// The capabilities from the last successful CAPA, forgotten when TLS starts.
    pub fn capabilities(&self) -> Option<&Capabilities> {
        self.capabilities.as_ref()
    }

    /// Changes the pipelining policy from the next command on: a coordinator that saw a
    /// server break under a burst falls back to [`Pipelining::Never`].
    pub fn set_pipelining(&mut self, pipelining: Pipelining) {
        self.config.pipelining = pipelining;
    }

    /// Whether commands are currently pipelined.
    pub fn is_pipelining(&self) -> bool {
        match self.config.pipelining {
            Pipelining::Always => true,
            Pipelining::Never => false,
            Pipelining::Auto => self
                .capabilities
                .as_ref()
                .is_some_and(Capabilities::pipelining),
        }
    }

    /// Number of commands sent and not yet answered, plus those queued locally.
    pub fn outstanding(&self) -> usize {
        self.in_flight.len() + self.queued.len()
    }

    /// Whether a command sent now would go out at once rather than wait in the local
    /// queue. Batch tasks use this to keep the queue, and so memory, small.
    pub fn has_window_room(&self) -> bool {
        self.queued.is_empty() && self.window_admits(0)
    }

    fn window_admits(&self, len: usize) -> bool {
        if self.in_flight.is_empty() {
            return true;
        }
        // What may follow an unanswered barrier is decided in `send`.
        self.is_pipelining()
            && self.in_flight.len() < self.config.window.commands
            && self.in_flight_bytes + len <= self.config.window.bytes
    }

    /// Appends bytes read from the server. Any split of the stream is fine.
    ///
    /// Call it only after [`Io::NeedMoreInput`], so that the buffer stays bounded by the
    /// configured limits plus one read.
    pub fn enqueue_input(&mut self, bytes: &[u8]) {
        self.input.extend_from_slice(bytes);
        self.received += bytes.len() as u64;
    }

    /// The line the core is waiting for, when it is waiting for one: the greeting, the
    /// status line answering the oldest command in flight, the next line of a listing
    /// (CAPA, LIST, UIDL, LANG) or a SASL challenge. `None` while a message body is
    /// being received (bodies are bounded by an idle timer, not by a line deadline),
    /// while nothing is awaited, during the TLS handshake after STLS, and once the
    /// session ended.
    ///
    /// Meaningful when [`Client::progress`] has just asked for input: every complete
    /// line has then been consumed, and what is buffered is the start of this line.
    ///
    /// ```
    /// use pop3_proto::{Client, Config, Interrupt, Io, PendingLine};
    ///
    /// let mut client = Client::new(Config::default());
    /// assert_eq!(client.pending_line(), Some(PendingLine { start: 0, received: 0 }));
    /// client.enqueue_input(b"+OK rea");
    /// assert!(matches!(client.progress(), Err(Interrupt::Io(Io::NeedMoreInput))));
    /// assert_eq!(client.pending_line(), Some(PendingLine { start: 0, received: 7 }));
    /// ```
    pub fn pending_line(&self) -> Option<PendingLine> {
        let awaiting = !self.failed
            && match &self.receiving {
                Some(Receiving::Body(..)) => false,
                Some(Receiving::Listing(..)) => true,
                None => {
                    self.state == State::Greeting
                        || (!matches!(self.state, State::StartTls | State::Closed)
                            && !self.in_flight.is_empty())
                }
            };
        awaiting.then(|| PendingLine {
            start: self.received - self.input.len() as u64,
            received: self.input.len(),
        })
    }

    /// Queues a command. It is validated and encoded now (errors mean nothing was sent),
    /// and written when the window allows.
    #[allow(clippy::needless_pass_by_value)] // ownership keeps call sites clone-free
    pub fn send(&mut self, command: Command) -> Result<CommandId, Error> {
        self.queue(&command, false)
    }

    /// Queues a command whose answer the core consumes itself, so that it can ride
    /// along with others instead of costing a round trip: `CAPA` (the answer updates
    /// [`Client::capabilities`]; it may follow an unanswered PASS or APOP, since it is
    /// valid whatever their outcome), `UTF8` and `NOOP`. No event reports the answer.
    #[allow(clippy::needless_pass_by_value)] // as `send`
    pub fn send_background(&mut self, command: Command) -> Result<CommandId, Error> {
        if !matches!(command, Command::Capa | Command::Utf8 | Command::Noop) {
            return Err(Error::InvalidArgument {
                field: "background command",
                reason: "only CAPA, UTF8 and NOOP answers are consumed by the core",
            });
        }
        self.queue(&command, true)
    }

    fn queue(&mut self, command: &Command, background: bool) -> Result<CommandId, Error> {
        let keyword = command.keyword();
        if self.failed {
            return Err(Error::SessionFailed);
        }
        let expect = Expect::of(command);
        if matches!(command, Command::AuthResponse(_) | Command::AuthCancel) {
            return self.answer_challenge(command, keyword);
        }
        if let Some(barrier) = &self.barrier {
            // CAPA is valid whether PASS or APOP succeed or fail.
            let may_follow =
                background && *command == Command::Capa && barrier.expect == Expect::Login;
            if !may_follow {
                return Err(Error::AwaitingResponse {
                    command: keyword,
                    pending: barrier.keyword,
                });
            }
        }
        self.check_state(command, keyword)?;
        let mut bytes = Vec::with_capacity(16);
        command.encode(&mut bytes)?;
        transcript::sent(command, &bytes);
        let id = self.allocate_id();
        if expect.is_barrier() {
            self.barrier = Some(Barrier {
                id,
                expect,
                keyword,
            });
        }
        let flight = InFlight {
            id,
            keyword,
            expect,
            len: bytes.len(),
            background,
        };
        self.queued.push_back(Queued { flight, bytes });
        self.release_queued();
        Ok(id)
    }

    fn allocate_id(&mut self) -> CommandId {
        self.next_id += 1;
        CommandId(self.next_id)
    }

    fn answer_challenge(
        &mut self,
        command: &Command,
        keyword: &'static str,
    ) -> Result<CommandId, Error> {
        let auth = self.in_flight.front().filter(|f| f.expect == Expect::Auth);
        match auth {
            Some(flight) if self.challenge_open => {
                let id = flight.id;
                let start = self.output.len();
                command.encode(&mut self.output)?;
                transcript::sent(command, &self.output[start..]);
                self.challenge_open = false;
                Ok(id)
            }
            _ => Err(Error::NotAllowed {
                command: keyword,
                state: self.state,
            }),
        }
    }

    fn check_state(&self, command: &Command, keyword: &'static str) -> Result<(), Error> {
        use Command as C;
        let state = self.state;
        let authorization = matches!(state, State::Greeting | State::Authorization);
        let allowed = match command {
            C::User(_) | C::Pass(_) | C::Apop { .. } | C::Auth { .. } | C::Utf8 => authorization,
            C::Stls => authorization && !self.tls,
            C::Capa | C::Lang(_) | C::Quit => authorization || state == State::Transaction,
            C::Stat
            | C::List(_)
            | C::Uidl(_)
            | C::Retr(_)
            | C::Top { .. }
            | C::Dele(_)
            | C::Noop
            | C::Rset => state == State::Transaction,
            C::AuthResponse(_) | C::AuthCancel => false,
        };
        if allowed {
            Ok(())
        } else {
            Err(Error::NotAllowed {
                command: keyword,
                state,
            })
        }
    }

    /// Moves queued commands to the output as far as the window allows.
    fn release_queued(&mut self) {
        if self.state == State::Greeting {
            return;
        }
        while let Some(next) = self.queued.front() {
            // AUTH and STLS wait for every earlier answer: what follows them on the wire
            // is not a command. PASS, APOP and QUIT are ordinary commands there.
            let barrier_must_wait = matches!(next.flight.expect, Expect::Auth | Expect::Stls)
                && !self.in_flight.is_empty();
            if barrier_must_wait || !self.window_admits(next.flight.len) {
                break;
            }
            let Some(Queued { flight, bytes }) = self.queued.pop_front() else {
                break;
            };
            self.output.extend_from_slice(&bytes);
            if flight.expect == Expect::Auth {
                self.state = State::Authenticating;
            }
            self.in_flight_bytes += flight.len;
            self.in_flight.push_back(flight);
        }
    }

    /// Reports that the TLS handshake after STLS completed. Every capability learnt
    /// before TLS is forgotten (RFC 2595 §4): it may have been forged.
    pub fn tls_established(&mut self) -> Result<(), Error> {
        if self.state != State::StartTls {
            return Err(Error::NotAllowed {
                command: "TLS handshake",
                state: self.state,
            });
        }
        self.tls = true;
        self.capabilities = None;
        self.state = State::Authorization;
        self.tls_event = true;
        Ok(())
    }

    /// The error to report when the server closed the connection, which also ends the
    /// session. After QUIT was answered this is the normal end.
    pub fn connection_closed(&mut self) -> Error {
        let refused = self.greeting.as_ref().is_some_and(|g| !g.status.is_ok());
        let during = if refused {
            "after the server refused the session"
        } else if self.state == State::Closed && !self.failed {
            "after QUIT"
        } else if self.state == State::Greeting {
            "before the greeting"
        } else if self.receiving.is_some() {
            "in the middle of a multi-line response"
        } else if !self.in_flight.is_empty() {
            "while awaiting a response"
        } else {
            "while idle"
        };
        self.fail();
        Error::ConnectionClosed { during }
    }

    fn fail(&mut self) {
        self.failed = true;
        self.state = State::Closed;
    }

    /// Ends the session locally: nothing more is sent or accepted. For a session that
    /// must not be trusted (e.g. a server that failed to authenticate itself) or whose
    /// exchange was abandoned half-way; the driver should close the connection.
    pub fn abort(&mut self) {
        self.fail();
        self.queued.clear();
        self.output.clear();
        self.barrier = None;
    }

    /// Advances the session: returns the next event, or the I/O needed to get one.
    pub fn progress(&mut self) -> Result<Event, Interrupt> {
        if self.failed {
            return Err(Interrupt::Error(Error::SessionFailed));
        }
        loop {
            // The answer to a background command was consumed where it was parsed.
            let background = self
                .in_flight
                .front()
                .filter(|f| f.background)
                .map(|f| f.id);
            return match self.progress_inner() {
                Ok(Event::Ok { id, .. } | Event::Err { id, .. }) if Some(id) == background => {
                    continue;
                }
                Err(Interrupt::Error(e)) => {
                    self.fail();
                    Err(Interrupt::Error(e))
                }
                other => other,
            };
        }
    }

    fn progress_inner(&mut self) -> Result<Event, Interrupt> {
        self.release_queued();
        if !self.output.is_empty() {
            return Err(Interrupt::Io(Io::Output(std::mem::take(&mut self.output))));
        }
        if std::mem::take(&mut self.tls_event) {
            return Ok(Event::TlsEstablished);
        }
        match self.state {
            State::StartTls if !self.input.is_empty() => {
                return Err(Error::StartTlsInjection {
                    len: self.input.len(),
                }
                .into());
            }
            State::Greeting => return self.read_greeting(),
            _ => {}
        }
        if let Some(receiving) = self.receiving.take() {
            return self.continue_multi_line(receiving);
        }
        let Some(front) = self.in_flight.front() else {
            if self.input.is_empty() {
                return Err(Interrupt::Io(Io::NeedMoreInput));
            }
            let excerpt = Excerpt::new(&self.input);
            return Err(Error::Unsolicited { excerpt }.into());
        };
        let (id, expect) = (front.id, front.expect);
        let (limit, kind) = if expect == Expect::Auth {
            (
                self.config
                    .limits
                    .sasl_challenge
                    .max(self.config.limits.status_line),
                LineKind::Challenge,
            )
        } else {
            (self.config.limits.status_line, LineKind::Status)
        };
        let Some(line) = self.take_line(limit, kind)? else {
            return Err(Interrupt::Io(Io::NeedMoreInput));
        };
        if expect == Expect::Auth && is_challenge(&line) {
            if self.challenge_open {
                return Err(Error::malformed(
                    "SASL exchange",
                    "challenge before our response",
                    &line,
                )
                .into());
            }
            let data = parse_challenge(&line)?;
            transcript::challenge();
            self.challenge_open = true;
            return Ok(Event::Challenge { id, data });
        }
        if line.len() + 2 > self.config.limits.status_line {
            return Err(Error::LineTooLong {
                kind: LineKind::Status,
                limit: self.config.limits.status_line,
            }
            .into());
        }
        let status = Status::parse(&line)?;
        transcript::status(&status);
        self.status_received(id, expect, status, &line)
    }

    fn read_greeting(&mut self) -> Result<Event, Interrupt> {
        let Some(line) = self.take_line(self.config.limits.status_line, LineKind::Status)? else {
            return Err(Interrupt::Io(Io::NeedMoreInput));
        };
        let greeting = Greeting::parse(&line)?;
        transcript::status(&greeting.status);
        if greeting.status.is_ok() {
            self.state = State::Authorization;
        } else {
            self.state = State::Closed;
            self.queued.clear();
        }
        self.greeting = Some(greeting.clone());
        Ok(Event::Greeting(greeting))
    }

    fn complete_front(&mut self) {
        if let Some(done) = self.in_flight.pop_front() {
            self.in_flight_bytes -= done.len;
            if self.barrier.as_ref().is_some_and(|b| b.id == done.id) {
                self.barrier = None;
            }
        }
    }

    fn status_received(
        &mut self,
        id: CommandId,
        expect: Expect,
        status: Status,
        line: &[u8],
    ) -> Result<Event, Interrupt> {
        let ok = status.kind == StatusKind::Ok;
        self.challenge_open = false;
        // State transitions decided by this answer.
        match (expect, ok) {
            (Expect::Login | Expect::Auth, true) => self.state = State::Transaction,
            (Expect::Login | Expect::Auth, false) => self.state = State::Authorization,
            (Expect::Stls, true) => {
                // Anything already buffered would be read as if it came over TLS.
                if !self.input.is_empty() {
                    return Err(Error::StartTlsInjection {
                        len: self.input.len(),
                    }
                    .into());
                }
                self.state = State::StartTls;
            }
            (Expect::Quit, _) => self.state = State::Closed,
            _ => {}
        }
        if !ok {
            self.complete_front();
            return Ok(Event::Err { id, status });
        }
        let single = |reply| Ok(Event::Ok { id, reply });
        let text = status.text.as_bytes();
        let reply = match expect {
            Expect::Stat => {
                Reply::Stat(MaildropSize::parse(text).map_err(|_| {
                    Error::malformed("STAT reply", "expected '+OK count size'", line)
                })?)
            }
            Expect::Scan(n) => Reply::Scan(about(n, ScanListing::parse(text)?, |s| s.msg, line)?),
            Expect::Uid(n) => Reply::Uid(about(n, UidListing::parse(text)?, |u| u.msg, line)?),
            Expect::ScanListings => return self.read_listing(id, Listing::Scan(vec![]), 0),
            Expect::UidListings => return self.read_listing(id, Listing::Uid(vec![]), 0),
            Expect::Capabilities => {
                return self.read_listing(id, Listing::Capabilities(Capabilities::default()), 0);
            }
            Expect::Languages => return self.read_listing(id, Listing::Languages(vec![]), 0),
            Expect::Body => {
                self.receiving = Some(Receiving::Body(id, DotDecoder::new()));
                return single(Reply::BodyFollows(status));
            }
            Expect::Simple
            | Expect::User
            | Expect::Login
            | Expect::Auth
            | Expect::Stls
            | Expect::Quit => Reply::Done(status),
        };
        self.complete_front();
        single(reply)
    }

    fn continue_multi_line(&mut self, receiving: Receiving) -> Result<Event, Interrupt> {
        match receiving {
            Receiving::Body(id, decoder) => self.read_body(id, decoder),
            Receiving::Listing(id, listing, bytes) => self.read_listing(id, listing, bytes),
        }
    }

    fn read_body(&mut self, id: CommandId, mut decoder: DotDecoder) -> Result<Event, Interrupt> {
        loop {
            let step = decoder.decode(&self.input);
            if step.finished {
                let _ = self.input.split_to(step.consumed);
                self.complete_front();
                return Ok(Event::BodyEnd { id });
            }
            if step.consumed == 0 {
                self.receiving = Some(Receiving::Body(id, decoder));
                return Err(Interrupt::Io(Io::NeedMoreInput));
            }
            let skip = step.consumed - step.data.len();
            let chunk = self.input.split_to(step.consumed).freeze().slice(skip..);
            if !chunk.is_empty() {
                self.receiving = Some(Receiving::Body(id, decoder));
                return Ok(Event::Body { id, chunk });
            }
        }
    }

    fn read_listing(
        &mut self,
        id: CommandId,
        mut listing: Listing,
        mut bytes: usize,
    ) -> Result<Event, Interrupt> {
        let limits = self.config.limits;
        let max_items = match listing {
            Listing::Capabilities(_) => limits.capabilities,
            _ => limits.listing_items,
        };
        loop {
            let Some(line) = self.take_line(limits.listing_line, LineKind::Listing)? else {
                self.receiving = Some(Receiving::Listing(id, listing, bytes));
                return Err(Interrupt::Io(Io::NeedMoreInput));
            };
            if line.as_ref() == b"." {
                break;
            }
            bytes += line.len() + 2;
            if bytes > limits.listing_bytes {
                return Err(Error::ListingTooLarge {
                    limit: limits.listing_bytes,
                }
                .into());
            }
            let line = line.strip_prefix(b".").unwrap_or(&line);
            let count = match &mut listing {
                Listing::Scan(v) => {
                    v.push(ScanListing::parse(line)?);
                    v.len()
                }
                Listing::Uid(v) => {
                    v.push(UidListing::parse(line)?);
                    v.len()
                }
                Listing::Capabilities(caps) => {
                    // Blank lines carry nothing; tolerate them.
                    if line.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    let text = String::from_utf8_lossy(line.trim_ascii()).into_owned();
                    caps.push(Capability::parse(line)?, text);
                    caps.len()
                }
                Listing::Languages(v) => {
                    v.push(Language::parse(line)?);
                    v.len()
                }
            };
            if count > max_items {
                return Err(Error::TooManyItems { limit: max_items }.into());
            }
        }
        self.complete_front();
        let reply = match listing {
            Listing::Scan(v) => {
                unique(&v, |s| s.msg, "scan listing", "message number listed twice")?;
                Reply::ScanListings(v)
            }
            Listing::Uid(v) => {
                // UIDs identify messages across sessions (deletion by UID relies on it):
                // RFC 1939 §7 requires them, and the numbers, to be unique.
                unique(&v, |u| u.msg, "UIDL listing", "message number listed twice")?;
                unique(
                    &v,
                    |u| u.uid.as_str(),
                    "UIDL listing",
                    "unique-id listed twice",
                )?;
                Reply::UidListings(v)
            }
            Listing::Capabilities(caps) => {
                self.capabilities = Some(caps.clone());
                Reply::Capabilities(caps)
            }
            Listing::Languages(v) => Reply::Languages(v),
        };
        Ok(Event::Ok { id, reply })
    }

    /// Takes one line (without its line end) if complete, enforcing `limit` (line end
    /// included) before the line is complete so that an endless line costs no memory.
    fn take_line(&mut self, limit: usize, kind: LineKind) -> Result<Option<BytesMut>, Error> {
        let window = &self.input[..self.input.len().min(limit)];
        match memchr::memchr(b'\n', window) {
            Some(end) => {
                let mut line = self.input.split_to(end + 1);
                line.truncate(end);
                if line.last() == Some(&b'\r') {
                    line.truncate(end - 1);
                }
                Ok(Some(line))
            }
            None if self.input.len() >= limit => Err(Error::LineTooLong { kind, limit }),
            None => Ok(None),
        }
    }
}

/// A single-message answer must be about the message asked for.
fn about<T>(asked: u32, item: T, msg: impl Fn(&T) -> u32, line: &[u8]) -> Result<T, Error> {
    if msg(&item) == asked {
        Ok(item)
    } else {
        Err(Error::malformed(
            "listing",
            "answer is about another message",
            line,
        ))
    }
}

/// Fails if two items of a listing share a key, quoting the key.
fn unique<'a, T, K: Ord + fmt::Display + 'a>(
    items: &'a [T],
    key: impl Fn(&'a T) -> K,
    what: &'static str,
    reason: &'static str,
) -> Result<(), Error> {
    let mut keys: Vec<K> = items.iter().map(key).collect();
    keys.sort_unstable();
    match keys.windows(2).find(|pair| pair[0] == pair[1]) {
        Some(pair) => Err(Error::malformed(
            what,
            reason,
            pair[0].to_string().as_bytes(),
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests;
