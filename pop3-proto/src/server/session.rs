//! A sans-IO POP3 server session over the server codec.
//!
//! Meant for test servers (the test kit wraps it in TCP and TLS), for fuzzing the client
//! against a real peer, and for examples. It answers every command of the client side,
//! with USER/PASS, APOP and SASL (PLAIN, LOGIN, CRAM-MD5, SCRAM-SHA-1/256, XOAUTH2,
//! OAUTHBEARER), STLS and pipelining.

use bytes::Bytes;

use crate::capability::Capability;
use crate::command::Command;
use crate::dot::DotEncoder;
use crate::response::{
    ApopTimestamp, MaildropSize, RespCode, ScanListing, Status, Uid, UidListing, encode_challenge,
};
use crate::sasl::MechanismKind;
use crate::secret::Secret;
use crate::server::sasl as server_sasl;
use crate::server::{
    LineReader, encode_capabilities, encode_greeting, encode_scan_listings, encode_uid_listings,
};

/// A message as stored by a [`Backend`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredMessage {
    /// Its unique-id.
    pub uid: Uid,
    /// Its content, with CRLF line ends.
    pub data: Bytes,
}

/// Where a [`Session`] finds users and messages.
pub trait Backend {
    /// The user's password (or OAuth token), `None` for an unknown user.
    fn password(&self, user: &str) -> Option<Secret>;
    /// Opens the maildrop after a successful login. `Err` (e.g. `-ERR [IN-USE]`) refuses it.
    fn open(&mut self, user: &str) -> Result<Vec<StoredMessage>, Status>;
    /// Removes the messages deleted in the session (QUIT in the transaction state) and
    /// releases the maildrop.
    fn commit(&mut self, user: &str, deleted: &[Uid]) -> Result<(), Status>;
    /// Releases the maildrop without changes (the session ended without QUIT).
    fn release(&mut self, user: &str);
}

/// A single-user, in-memory [`Backend`].
#[derive(Clone, Debug)]
pub struct MemoryBackend {
    /// The user name.
    pub user: String,
    /// The password.
    pub password: Secret,
    /// The messages.
    pub messages: Vec<StoredMessage>,
}

impl Backend for MemoryBackend {
    fn password(&self, user: &str) -> Option<Secret> {
        (user == self.user).then(|| self.password.clone())
    }

    fn open(&mut self, _: &str) -> Result<Vec<StoredMessage>, Status> {
        Ok(self.messages.clone())
    }

    fn commit(&mut self, _: &str, deleted: &[Uid]) -> Result<(), Status> {
        self.messages.retain(|m| !deleted.contains(&m.uid));
        Ok(())
    }

    fn release(&mut self, _: &str) {}
}

/// What a [`Session`] offers.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// Greeting text (an APOP timestamp is appended when set).
    pub greeting: String,
    /// The APOP timestamp; `None` disables APOP.
    pub apop: Option<ApopTimestamp>,
    /// Offer and accept USER/PASS.
    pub user_pass: bool,
    /// SASL mechanisms offered.
    pub sasl: Vec<MechanismKind>,
    /// Offer STLS (the driver must be able to do the handshake).
    pub stls: bool,
    /// Advertise PIPELINING.
    pub pipelining: bool,
    /// Answer CAPA (`false` plays an RFC 1939-only server).
    pub capa: bool,
    /// Send LF instead of CRLF (sloppy servers), bodies included.
    pub lf_only: bool,
    /// PBKDF2 iterations for SCRAM.
    pub scram_iterations: u32,
    /// Offer `UTF8` (RFC 6856) and accept the UTF8 command before login.
    pub utf8: bool,
    /// List `LOGIN-DELAY <seconds>` (RFC 2449) in CAPA, in both states. Only the
    /// advertisement: refusing early logins with `-ERR [LOGIN-DELAY]` is the
    /// [`Backend`]'s job, since only it knows when the maildrop was last opened.
    pub login_delay: Option<u32>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            greeting: "POP3 server ready".into(),
            apop: ApopTimestamp::new("<1896.697170952@pop3.test>"),
            user_pass: true,
            sasl: vec![
                MechanismKind::Plain,
                MechanismKind::Login,
                MechanismKind::CramMd5,
            ],
            stls: false,
            pipelining: true,
            capa: true,
            lf_only: false,
            scram_iterations: 4096,
            utf8: false,
            login_delay: None,
        }
    }
}

/// What the driver of a [`Session`] must do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerAction {
    /// Send these bytes.
    Send(Vec<u8>),
    /// STLS was accepted: do the TLS handshake (server side), then call
    /// [`Session::tls_established`].
    StartTls,
    /// Close the connection.
    Close,
    /// Read more from the client and call [`Session::receive`].
    NeedInput,
}

#[derive(Debug)]
enum Phase {
    Authorization,
    Transaction,
    Closed,
}

/// How a SCRAM exchange finds the password.
type PasswordLookup = Box<dyn FnMut(&str) -> Option<Secret> + Send>;

/// A SASL exchange in progress.
enum Exchange {
    Plain,
    LoginUser,
    LoginPassword(String),
    CramMd5(Vec<u8>),
    ScramFirst(MechanismKind),
    ScramFinal(server_sasl::ScramServer<PasswordLookup>),
    /// SCRAM succeeded; the client must acknowledge the server-final message.
    ScramAck(String),
    Bearer(MechanismKind),
}

#[derive(Debug)]
struct Body {
    data: Bytes,
    pos: usize,
    encoder: DotEncoder,
    lf_only: bool,
}

/// Largest chunk of a body handed out per [`ServerAction::Send`].
const CHUNK: usize = 64 * 1024;
/// Longest client line outside SASL (RFC 2449) and inside it (RFC 4954's 12288).
const COMMAND_LIMIT: usize = 255;
const SASL_LIMIT: usize = 12288;

/// A POP3 server session, sans I/O.
///
/// ```
/// use pop3_proto::server::session::{MemoryBackend, ServerAction, ServerOptions, Session};
/// let backend = MemoryBackend { user: "alice".into(), password: "pw".into(), messages: vec![] };
/// let mut s = Session::new(backend, ServerOptions::default());
/// assert!(matches!(s.progress(), ServerAction::Send(g) if g.starts_with(b"+OK")));
/// s.receive(b"USER alice\r\nPASS pw\r\nSTAT\r\n");
/// assert_eq!(s.progress(), ServerAction::Send(b"+OK\r\n+OK Logged in.\r\n+OK 0 0\r\n".to_vec()));
/// ```
pub struct Session<B: Backend> {
    backend: B,
    options: ServerOptions,
    reader: LineReader,
    out: Vec<u8>,
    phase: Phase,
    tls: bool,
    start_tls: bool,
    close: bool,
    user: Option<String>,
    logged_in: Option<String>,
    messages: Vec<StoredMessage>,
    deleted: Vec<bool>,
    exchange: Option<Exchange>,
    body: Option<Body>,
    nonce_counter: u64,
}

impl<B: Backend> std::fmt::Debug for Session<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("phase", &self.phase)
            .field("user", &self.logged_in)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl<B: Backend> Session<B> {
    /// A session that has queued its greeting.
    pub fn new(backend: B, options: ServerOptions) -> Self {
        let mut session = Self {
            backend,
            reader: LineReader::new(COMMAND_LIMIT),
            out: Vec::new(),
            phase: Phase::Authorization,
            tls: false,
            start_tls: false,
            close: false,
            user: None,
            logged_in: None,
            messages: Vec::new(),
            deleted: Vec::new(),
            exchange: None,
            body: None,
            nonce_counter: 0,
            options,
        };
        let mut greeting = Vec::new();
        // Option text is the operator's; a CR/LF in it is refused by the encoder.
        if encode_greeting(
            &session.options.greeting,
            session.options.apop.as_ref(),
            &mut greeting,
        )
        .is_err()
        {
            greeting = b"+OK POP3 server ready\r\n".to_vec();
        }
        session.emit_raw(&greeting);
        session
    }

    /// The backend.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// The backend, mutably.
    pub fn backend_mut(&mut self) -> &mut B {
        &mut self.backend
    }

    /// Whether the session is over TLS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The user logged in, once the session is in the transaction state.
    pub fn authenticated_user(&self) -> Option<&str> {
        self.logged_in.as_deref()
    }

    /// Whether a SASL exchange awaits the client's next response.
    pub fn in_sasl_exchange(&self) -> bool {
        self.exchange.is_some()
    }

    /// Marks the transport as TLS from the start (implicit TLS, port 995).
    pub fn set_implicit_tls(&mut self) {
        self.tls = true;
    }

    /// Appends bytes received from the client.
    pub fn receive(&mut self, bytes: &[u8]) {
        self.reader.push(bytes);
    }

    /// Bytes received but not yet processed as commands.
    pub fn buffered(&self) -> &[u8] {
        self.reader.buffered()
    }

    /// The TLS handshake after STLS is done. Bytes the client sent before it are
    /// discarded (RFC 2595 §4).
    pub fn tls_established(&mut self) {
        self.tls = true;
        self.reader.clear();
    }

    /// The session ended (connection closed): releases the maildrop if QUIT did not.
    pub fn connection_closed(&mut self) {
        if let Some(user) = self.logged_in.take() {
            self.backend.release(&user);
        }
        self.phase = Phase::Closed;
    }

    /// Processes what can be processed and says what to do.
    pub fn progress(&mut self) -> ServerAction {
        loop {
            if self.out.len() >= CHUNK {
                return ServerAction::Send(std::mem::take(&mut self.out));
            }
            if self.body.is_some() {
                self.continue_body();
                continue;
            }
            if !self.out.is_empty() && (self.start_tls || self.close) {
                return ServerAction::Send(std::mem::take(&mut self.out));
            }
            if std::mem::take(&mut self.start_tls) {
                return ServerAction::StartTls;
            }
            if self.close {
                return ServerAction::Close;
            }
            match self.reader.next_line() {
                Ok(Some(line)) => self.handle_line(&line),
                Ok(None) if self.out.is_empty() => return ServerAction::NeedInput,
                Ok(None) => return ServerAction::Send(std::mem::take(&mut self.out)),
                Err(_) => {
                    self.status(&Status::err(None, "Line too long"));
                    self.close = true;
                }
            }
        }
    }

    /// Appends protocol bytes, converting CRLF to LF for LF-only servers.
    fn emit_raw(&mut self, bytes: &[u8]) {
        if self.options.lf_only {
            self.out.extend(crlf_to_lf(bytes));
        } else {
            self.out.extend_from_slice(bytes);
        }
    }

    fn status(&mut self, status: &Status) {
        let mut line = Vec::new();
        if status.encode(&mut line).is_err() {
            line = b"-ERR\r\n".to_vec();
        }
        self.emit_raw(&line);
    }

    fn ok(&mut self, text: &str) {
        self.status(&Status::ok(text));
    }

    fn err(&mut self, code: Option<RespCode>, text: &str) {
        self.status(&Status::err(code, text));
    }

    fn handle_line(&mut self, line: &[u8]) {
        if let Some(exchange) = self.exchange.take() {
            self.continue_exchange(exchange, line);
            return;
        }
        let Ok(command) = Command::parse(line) else {
            self.err(None, "Unknown command.");
            return;
        };
        match self.phase {
            Phase::Authorization => self.authorization(command),
            Phase::Transaction => self.transaction(&command),
            Phase::Closed => {}
        }
    }

    fn capabilities(&self) -> Vec<Capability> {
        let mut caps = vec![Capability::Top, Capability::Uidl, Capability::RespCodes];
        if self.options.pipelining {
            caps.push(Capability::Pipelining);
        }
        caps.push(Capability::AuthRespCode);
        if let Some(seconds) = self.options.login_delay {
            caps.push(Capability::LoginDelay {
                seconds,
                per_user: false,
            });
        }
        if matches!(self.phase, Phase::Authorization) {
            if self.options.stls && !self.tls {
                caps.push(Capability::Stls);
            }
            if self.options.user_pass {
                caps.push(Capability::User);
            }
            if self.options.utf8 {
                caps.push(Capability::Utf8 { user: true });
            }
            if !self.options.sasl.is_empty() {
                caps.push(Capability::Sasl(
                    self.options
                        .sasl
                        .iter()
                        .map(|m| m.name().to_owned())
                        .collect(),
                ));
            }
        }
        caps
    }

    fn authorization(&mut self, command: Command) {
        match command {
            Command::Capa if self.options.capa => {
                let mut out = Vec::new();
                match encode_capabilities(&self.capabilities(), &mut out) {
                    Ok(()) => self.emit_raw(&out),
                    Err(_) => self.err(None, "CAPA failed"),
                }
            }
            Command::User(user) if self.options.user_pass => {
                self.user = Some(user);
                self.ok("");
            }
            Command::Pass(password) if self.options.user_pass => match self.user.take() {
                Some(user) => {
                    let valid = self.backend.password(&user).is_some_and(|p| p == password);
                    self.finish_login(&user, valid);
                }
                None => self.err(None, "No username given."),
            },
            Command::Apop { user, digest } => {
                let valid = match (&self.options.apop, self.backend.password(&user)) {
                    (Some(ts), Some(pw)) => server_sasl::apop_verify(ts.as_str(), &digest, &pw),
                    _ => false,
                };
                self.finish_login(&user, valid);
            }
            Command::Auth {
                mechanism,
                initial_response,
            } => {
                self.start_exchange(&mechanism, initial_response);
            }
            Command::Utf8 if self.options.utf8 => self.ok("UTF8 enabled"),
            Command::Stls if self.options.stls && !self.tls => {
                self.ok("Begin TLS negotiation now.");
                self.start_tls = true;
            }
            Command::Quit => {
                self.ok("Logging out");
                self.close = true;
                self.phase = Phase::Closed;
            }
            _ => self.err(None, "Unknown command."),
        }
    }

    fn finish_login(&mut self, user: &str, valid: bool) {
        if !valid {
            self.err(Some(RespCode::Auth), "Authentication failed.");
            return;
        }
        match self.backend.open(user) {
            Ok(messages) => {
                self.deleted = vec![false; messages.len()];
                self.messages = messages;
                self.logged_in = Some(user.to_owned());
                self.phase = Phase::Transaction;
                self.ok("Logged in.");
            }
            Err(status) => self.status(&status),
        }
    }

    fn start_exchange(&mut self, mechanism: &str, initial: Option<Secret>) {
        let Some(kind) =
            MechanismKind::from_name(mechanism).filter(|k| self.options.sasl.contains(k))
        else {
            self.err(None, "Unsupported authentication mechanism.");
            return;
        };
        let exchange = match kind {
            MechanismKind::Plain => Exchange::Plain,
            MechanismKind::Login => Exchange::LoginUser,
            MechanismKind::CramMd5 => {
                Exchange::CramMd5(format!("<{}@pop3.test>", self.fresh_nonce()).into_bytes())
            }
            MechanismKind::ScramSha1 | MechanismKind::ScramSha256 => Exchange::ScramFirst(kind),
            MechanismKind::XOAuth2 | MechanismKind::OAuthBearer => Exchange::Bearer(kind),
        };
        match (initial, exchange) {
            (
                Some(ir),
                exchange @ (Exchange::Plain | Exchange::ScramFirst(_) | Exchange::Bearer(_)),
            ) => {
                self.continue_exchange_with(exchange, ir.expose());
            }
            (Some(_), _) => self.err(None, "This mechanism has no initial response."),
            (None, exchange) => {
                let challenge: &[u8] = match &exchange {
                    Exchange::LoginUser => b"Username:",
                    Exchange::CramMd5(c) => c,
                    _ => b"",
                };
                let mut line = Vec::new();
                encode_challenge(challenge, &mut line);
                self.emit_raw(&line);
                self.reader.set_limit(SASL_LIMIT);
                self.exchange = Some(exchange);
            }
        }
    }

    fn continue_exchange(&mut self, exchange: Exchange, line: &[u8]) {
        self.reader.set_limit(COMMAND_LIMIT);
        match Command::parse_auth_response(line) {
            Ok(Command::AuthResponse(response)) => {
                self.continue_exchange_with(exchange, response.expose());
            }
            Ok(_) => self.err(None, "Authentication aborted by client."),
            Err(_) => self.err(None, "Invalid base64 data in continued response"),
        }
    }

    fn challenge(&mut self, exchange: Exchange, data: &[u8]) {
        let mut line = Vec::new();
        encode_challenge(data, &mut line);
        self.emit_raw(&line);
        self.reader.set_limit(SASL_LIMIT);
        self.exchange = Some(exchange);
    }

    fn continue_exchange_with(&mut self, exchange: Exchange, response: &[u8]) {
        let lookup = |s: &Self, user: &str| s.backend.password(user);
        match exchange {
            Exchange::Plain => match server_sasl::decode_plain(response) {
                Ok(creds) => {
                    let valid = lookup(self, &creds.user).is_some_and(|p| p == creds.password);
                    self.finish_login(&creds.user, valid);
                }
                Err(_) => self.err(Some(RespCode::Auth), "Authentication failed."),
            },
            Exchange::LoginUser => {
                let user = String::from_utf8_lossy(response).into_owned();
                self.challenge(Exchange::LoginPassword(user), b"Password:");
            }
            Exchange::LoginPassword(user) => {
                let valid = lookup(self, &user).is_some_and(|p| p.expose() == response);
                self.finish_login(&user, valid);
            }
            Exchange::CramMd5(challenge) => {
                let user = server_sasl::verify_cram_md5(response, &challenge, |u| lookup(self, u));
                match user {
                    Some(user) => self.finish_login(&user, true),
                    None => self.err(Some(RespCode::Auth), "Authentication failed."),
                }
            }
            Exchange::ScramFirst(kind) => self.scram_first(kind, response),
            Exchange::ScramFinal(mut server) => match server.last(response) {
                Ok((user, server_final)) => self.challenge(Exchange::ScramAck(user), &server_final),
                Err(e) => {
                    // Dovecot-style: the error travels as a failed command.
                    let _ = e.server_final;
                    self.err(Some(RespCode::Auth), "Authentication failed.");
                }
            },
            Exchange::ScramAck(user) => {
                if response.is_empty() {
                    self.finish_login(&user, true);
                } else {
                    self.err(Some(RespCode::Auth), "Authentication failed.");
                }
            }
            Exchange::Bearer(kind) => {
                let creds = if kind == MechanismKind::XOAuth2 {
                    server_sasl::decode_xoauth2(response)
                } else {
                    server_sasl::decode_oauthbearer(response)
                };
                match creds {
                    Ok(c) => {
                        let user = c.user.unwrap_or_default();
                        let valid = lookup(self, &user).is_some_and(|p| p == c.token);
                        self.finish_login(&user, valid);
                    }
                    Err(_) => self.err(Some(RespCode::Auth), "Authentication failed."),
                }
            }
        }
    }

    fn scram_first(&mut self, kind: MechanismKind, client_first: &[u8]) {
        let password = scram_user(client_first).and_then(|u| self.backend.password(&u));
        let nonce = self.fresh_nonce();
        let lookup: PasswordLookup = Box::new(move |_: &str| password.clone());
        let salt = b"pop3-proto-salt".to_vec();
        let iterations = self.options.scram_iterations;
        let mut server = if kind == MechanismKind::ScramSha1 {
            server_sasl::ScramServer::sha1(lookup, salt, iterations, nonce)
        } else {
            server_sasl::ScramServer::sha256(lookup, salt, iterations, nonce)
        };
        match server.first(client_first) {
            Ok(server_first) => self.challenge(Exchange::ScramFinal(server), &server_first),
            Err(_) => self.err(Some(RespCode::Auth), "Authentication failed."),
        }
    }

    /// A nonce for CRAM-MD5 and SCRAM: random, so exchanges cannot be replayed; a
    /// counter keeps it unique should the OS random source fail.
    fn fresh_nonce(&mut self) -> String {
        self.nonce_counter += 1;
        crate::sasl::random_nonce().map_or_else(
            |_| format!("nonce{}", self.nonce_counter),
            |n| n.replace(['+', '/', '='], "x"),
        )
    }

    /// The message, if `msg` names one that exists and is not deleted.
    fn message(&mut self, msg: u32) -> Option<usize> {
        let index = usize::try_from(msg).ok()?.checked_sub(1)?;
        if index >= self.messages.len() {
            self.err(None, &format!("There's no message {msg}."));
            return None;
        }
        if self.deleted[index] {
            self.err(None, "Message is deleted.");
            return None;
        }
        Some(index)
    }

    fn live(&self) -> impl Iterator<Item = (u32, &StoredMessage)> {
        self.messages
            .iter()
            .zip(&self.deleted)
            .enumerate()
            .filter(|(_, (_, deleted))| !**deleted)
            .map(|(i, (m, _))| (u32::try_from(i + 1).unwrap_or(u32::MAX), m))
    }

    fn transaction(&mut self, command: &Command) {
        match *command {
            Command::Capa if self.options.capa => self.authorization(Command::Capa),
            Command::Stat => {
                let (messages, octets) = self.live().fold((0u32, 0u64), |(n, o), (_, m)| {
                    (n + 1, o + m.data.len() as u64)
                });
                let mut out = Vec::new();
                MaildropSize { messages, octets }.encode(&mut out);
                self.emit_raw(&out);
            }
            Command::List(None) => {
                let items: Vec<ScanListing> = self
                    .live()
                    .map(|(msg, m)| ScanListing {
                        msg,
                        octets: m.data.len() as u64,
                    })
                    .collect();
                let mut out = Vec::new();
                match encode_scan_listings(&items, &mut out) {
                    Ok(()) => self.emit_raw(&out),
                    Err(_) => self.err(None, "LIST failed"),
                }
            }
            Command::List(Some(n)) => {
                if let Some(i) = self.message(n) {
                    let size = self.messages[i].data.len();
                    self.ok(&format!("{n} {size}"));
                }
            }
            Command::Uidl(None) => {
                let items: Vec<UidListing> = self
                    .live()
                    .map(|(msg, m)| UidListing {
                        msg,
                        uid: m.uid.clone(),
                    })
                    .collect();
                let mut out = Vec::new();
                match encode_uid_listings(&items, &mut out) {
                    Ok(()) => self.emit_raw(&out),
                    Err(_) => self.err(None, "UIDL failed"),
                }
            }
            Command::Uidl(Some(n)) => {
                if let Some(i) = self.message(n) {
                    let uid = self.messages[i].uid.clone();
                    self.ok(&format!("{n} {uid}"));
                }
            }
            Command::Retr(n) => {
                if let Some(i) = self.message(n) {
                    let data = self.messages[i].data.clone();
                    self.ok(&format!("{} octets", data.len()));
                    self.start_body(data);
                }
            }
            Command::Top { msg, lines } => {
                if let Some(i) = self.message(msg) {
                    let data = self.messages[i].data.clone();
                    let end = top_length(&data, lines);
                    self.ok("");
                    self.start_body(data.slice(..end));
                }
            }
            Command::Dele(n) => {
                if let Some(i) = self.message(n) {
                    self.deleted[i] = true;
                    self.ok("Marked to be deleted.");
                }
            }
            Command::Noop => self.ok(""),
            Command::Rset => {
                self.deleted.iter_mut().for_each(|d| *d = false);
                self.ok("");
            }
            Command::Quit => {
                let deleted: Vec<Uid> = self
                    .messages
                    .iter()
                    .zip(&self.deleted)
                    .filter(|(_, d)| **d)
                    .map(|(m, _)| m.uid.clone())
                    .collect();
                let user = self.logged_in.take().unwrap_or_default();
                match self.backend.commit(&user, &deleted) {
                    Ok(()) => self.ok("Logging out."),
                    Err(status) => self.status(&status),
                }
                self.close = true;
                self.phase = Phase::Closed;
            }
            _ => self.err(None, "Unknown command."),
        }
    }

    fn start_body(&mut self, data: Bytes) {
        let encoder = if self.options.lf_only {
            DotEncoder::lf_only()
        } else {
            DotEncoder::new()
        };
        self.body = Some(Body {
            data,
            pos: 0,
            encoder,
            lf_only: self.options.lf_only,
        });
    }

    fn continue_body(&mut self) {
        let Some(mut body) = self.body.take() else {
            return;
        };
        let mut end = (body.pos + CHUNK).min(body.data.len());
        if body.lf_only && end < body.data.len() && body.data[end - 1] == b'\r' {
            end += 1; // never split a CRLF that is about to become LF
        }
        let chunk = &body.data[body.pos..end];
        if body.lf_only {
            body.encoder.encode(&crlf_to_lf(chunk), &mut self.out);
        } else {
            body.encoder.encode(chunk, &mut self.out);
        }
        body.pos = end;
        if body.pos == body.data.len() {
            body.encoder.finish(&mut self.out);
        } else {
            self.body = Some(body);
        }
    }
}

/// Drops the CR of every CRLF.
fn crlf_to_lf(chunk: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(chunk.len());
    for (i, &b) in chunk.iter().enumerate() {
        if b == b'\r' && chunk.get(i + 1) == Some(&b'\n') {
            continue;
        }
        out.push(b);
    }
    out
}

/// The length of the header plus `lines` body lines.
fn top_length(data: &[u8], lines: u32) -> usize {
    let header_end = memchr::memmem::find(data, b"\r\n\r\n")
        .map(|i| i + 4)
        .or_else(|| memchr::memmem::find(data, b"\n\n").map(|i| i + 2))
        .unwrap_or(data.len());
    let mut end = header_end;
    for _ in 0..lines {
        match memchr::memchr(b'\n', &data[end..]) {
            Some(i) => end += i + 1,
            None => return data.len(),
        }
    }
    end
}

/// The user name of a SCRAM client-first message (`n,,n=user,r=...`), unescaped.
fn scram_user(client_first: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(client_first).ok()?;
    let name = text.split(',').nth(2)?.strip_prefix("n=")?;
    Some(name.replace("=2C", ",").replace("=3D", "="))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(options: ServerOptions) -> Session<MemoryBackend> {
        let messages = vec![
            StoredMessage {
                uid: Uid::new("a1").unwrap(),
                data: Bytes::from_static(b"Subject: 1\r\n\r\nbody\r\n.dot\r\n"),
            },
            StoredMessage {
                uid: Uid::new("b2").unwrap(),
                data: Bytes::from_static(b"Subject: 2\r\n\r\nx\r\ny\r\n"),
            },
        ];
        let backend = MemoryBackend {
            user: "alice".into(),
            password: "pw".into(),
            messages,
        };
        let mut s = Session::new(backend, options);
        let _ = s.progress();
        s
    }

    fn exchange(s: &mut Session<MemoryBackend>, input: &[u8]) -> Vec<u8> {
        s.receive(input);
        let mut out = Vec::new();
        loop {
            match s.progress() {
                ServerAction::Send(b) => out.extend(b),
                _ => return out,
            }
        }
    }

    #[test]
    fn serves_a_session() {
        let mut s = session(ServerOptions::default());
        assert_eq!(
            exchange(&mut s, b"USER alice\r\nPASS pw\r\n"),
            b"+OK\r\n+OK Logged in.\r\n"
        );
        assert_eq!(exchange(&mut s, b"STAT\r\n"), b"+OK 2 46\r\n");
        assert_eq!(
            exchange(&mut s, b"RETR 1\r\n"),
            b"+OK 26 octets\r\nSubject: 1\r\n\r\nbody\r\n..dot\r\n.\r\n"
        );
        assert_eq!(
            exchange(&mut s, b"TOP 2 1\r\n"),
            b"+OK\r\nSubject: 2\r\n\r\nx\r\n.\r\n"
        );
        assert_eq!(
            exchange(&mut s, b"DELE 1\r\nRETR 1\r\n"),
            b"+OK Marked to be deleted.\r\n-ERR Message is deleted.\r\n"
        );
        assert_eq!(exchange(&mut s, b"UIDL\r\n"), b"+OK\r\n2 b2\r\n.\r\n");
        assert_eq!(exchange(&mut s, b"QUIT\r\n"), b"+OK Logging out.\r\n");
        assert_eq!(s.backend().messages.len(), 1);
    }

    #[test]
    fn lf_only_profile() {
        let mut s = session(ServerOptions {
            lf_only: true,
            ..ServerOptions::default()
        });
        exchange(&mut s, b"USER alice\r\nPASS pw\r\n");
        assert_eq!(
            exchange(&mut s, b"RETR 2\r\n"),
            b"+OK 20 octets\nSubject: 2\n\nx\ny\n.\n"
        );
    }

    #[test]
    fn login_delay_is_advertised_before_and_after_login() {
        let mut s = session(ServerOptions {
            login_delay: Some(900),
            ..ServerOptions::default()
        });
        let before = exchange(&mut s, b"CAPA\r\n");
        assert!(
            before.windows(17).any(|w| w == b"\r\nLOGIN-DELAY 900"),
            "{}",
            String::from_utf8_lossy(&before)
        );
        exchange(&mut s, b"USER alice\r\nPASS pw\r\n");
        let after = exchange(&mut s, b"CAPA\r\n");
        assert!(after.windows(17).any(|w| w == b"\r\nLOGIN-DELAY 900"));
        let mut plain = session(ServerOptions::default());
        let capa = exchange(&mut plain, b"CAPA\r\n");
        assert!(!capa.windows(11).any(|w| w == b"LOGIN-DELAY"));
    }

    #[test]
    fn top_length_counts_body_lines() {
        assert_eq!(top_length(b"H: 1\r\n\r\na\r\nb\r\n", 0), 8);
        assert_eq!(top_length(b"H: 1\r\n\r\na\r\nb\r\n", 1), 11);
        assert_eq!(top_length(b"H: 1\r\n\r\na\r\nb\r\n", 9), 14);
        assert_eq!(top_length(b"no header end", 0), 13);
    }
}
