//! The login task: greeting, CAPA, STLS, authentication, all under a security policy.

use std::fmt;
use std::sync::Arc;

use crate::capability::Capabilities;
use crate::client::{Client, CommandId, Event};
use crate::command::Command;
use crate::error::Error;
use crate::response::{RespCode, Status};
use crate::sasl::{self, Mechanism, MechanismKind, SaslError};
use crate::secret::Secret;
use crate::task::negotiate::Negotiation;
use crate::task::{Negotiate, Step, Task, unexpected};

/// Makes a fresh instance of your own SASL mechanism for each login attempt, so that one
/// [`Login`] can open many sessions.
pub type MechanismFactory = Arc<dyn Fn() -> Box<dyn Mechanism> + Send + Sync>;

/// How to authenticate.
#[derive(Clone)]
#[non_exhaustive]
pub enum AuthMethod {
    /// The best method the server offers. SCRAM-SHA-256, then SCRAM-SHA-1, wherever
    /// offered. Then, under TLS (the password is protected either way), the fewest round
    /// trips: PLAIN, USER/PASS when pipelined, CRAM-MD5, USER/PASS, LOGIN; over plaintext
    /// (when explicitly allowed), the password kept off the wire where possible: CRAM-MD5,
    /// PLAIN, USER/PASS, LOGIN. APOP only when nothing else is offered; USER/PASS against
    /// a server without CAPA.
    Auto,
    /// `USER` / `PASS`.
    User,
    /// `APOP` (needs a timestamp in the greeting).
    Apop,
    /// A SASL mechanism of this crate, used even if CAPA does not list it.
    Sasl(MechanismKind),
    /// Your own SASL mechanism, made by a factory (see [`AuthMethod::custom`]).
    Custom(MechanismFactory),
}

impl AuthMethod {
    /// Your own SASL mechanism: `make` is called once per login attempt.
    ///
    /// ```
    /// use pop3_proto::sasl::Plain;
    /// use pop3_proto::task::{AuthMethod, Login};
    ///
    /// let method = AuthMethod::custom(|| Box::new(Plain::new(None, "alice", &"secret".into())));
    /// let login = Login::new("alice", "secret").method(method);
    /// # let _ = login;
    /// ```
    pub fn custom(make: impl Fn() -> Box<dyn Mechanism> + Send + Sync + 'static) -> Self {
        Self::Custom(Arc::new(make))
    }
}

impl fmt::Debug for AuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Auto => f.write_str("Auto"),
            Self::User => f.write_str("User"),
            Self::Apop => f.write_str("Apop"),
            Self::Sasl(kind) => write!(f, "Sasl({})", kind.name()),
            Self::Custom(make) => write!(f, "Custom({})", make().name()),
        }
    }
}

/// What a successful login established.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginOutcome {
    /// The method used: `USER`, `APOP` or the SASL mechanism name.
    pub method: String,
    /// The capabilities known when the login succeeded (`None` if the server does not
    /// support CAPA). A CAPA sent along with the credentials updates
    /// [`Client::capabilities`] when its answer arrives, without a round trip of its own.
    pub capabilities: Option<Capabilities>,
}

#[derive(Debug)]
enum Stage {
    /// Greeting, CAPA, STLS.
    Negotiating(Negotiate),
    /// USER sent; PASS too when `pass` is set (pipelined).
    User {
        pass: Option<CommandId>,
    },
    /// USER was refused while a pipelined PASS is unanswered: report once it is.
    UserRefused(Status),
    /// PASS or APOP sent.
    Pass,
    Auth,
    /// We cancelled the exchange because of this error; waiting for the server's -ERR.
    Cancelling(SaslError),
}

/// Logs in: waits for the greeting, asks CAPA, upgrades with STLS when the connection's
/// [`TlsMode`](crate::TlsMode) is `StartTls`, enables UTF-8 when the server offers it,
/// authenticates, and asks CAPA again (along with the credentials, so it costs no round
/// trip of its own).
///
/// Secure by default: credentials never cross an unencrypted connection unless
/// [`Login::allow_plaintext`] is set, and with STLS required a missing STLS capability,
/// a failing CAPA or an `-ERR` to STLS stop the login before any credential is sent. A
/// method the server does not offer is refused before anything is sent.
///
/// [`AuthMethod::Auto`] takes SCRAM-SHA-256, then SCRAM-SHA-1, when offered. Otherwise,
/// under TLS, the mechanism with the fewest round trips (PLAIN, then USER/PASS when they
/// can be pipelined, CRAM-MD5, USER/PASS, LOGIN); without TLS (only when allowed), a
/// challenge-response one (CRAM-MD5) before those that send the password. APOP only
/// when nothing else is offered, since servers that keep hashed passwords advertise a
/// timestamp they cannot use.
///
/// A refusal the server marks as temporary (`[IN-USE]`, `[LOGIN-DELAY]`, `[SYS/TEMP]`)
/// is [`Error::LoginDeferred`], not [`Error::AuthFailed`]: the credentials are not in
/// doubt.
///
/// ```
/// use pop3_proto::{AuthMethod, Login};
/// let login = Login::new("alice", "secret").method(AuthMethod::Auto);
/// # let _ = login;
/// ```
pub struct Login {
    user: String,
    secret: Secret,
    authzid: Option<String>,
    method: AuthMethod,
    allow_plaintext: bool,
    utf8: bool,
    oauth_initial_response: bool,
    stage: Stage,
    pending: Option<CommandId>,
    mechanism: Option<Box<dyn Mechanism>>,
    /// An initial response sent after the empty challenge rather than on the AUTH line.
    held_response: Option<Secret>,
    method_name: String,
}

impl fmt::Debug for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Login")
            .field("user", &self.user)
            .field("method", &self.method)
            .field("allow_plaintext", &self.allow_plaintext)
            .field("utf8", &self.utf8)
            .field("stage", &self.stage)
            .finish_non_exhaustive()
    }
}

/// A copy of the settings, ready to run again (on another connection, say); the
/// progress of a running login is not copied.
impl Clone for Login {
    fn clone(&self) -> Self {
        let mut copy = Self::new(self.user.clone(), self.secret.clone());
        copy.authzid.clone_from(&self.authzid);
        copy.method = self.method.clone();
        copy.allow_plaintext = self.allow_plaintext;
        copy.utf8 = self.utf8;
        copy.oauth_initial_response = self.oauth_initial_response;
        copy
    }
}

impl Login {
    /// Logs in as `user` with a password (or, for the OAuth mechanisms, a token).
    pub fn new(user: impl Into<String>, secret: impl Into<Secret>) -> Self {
        Self {
            user: user.into(),
            secret: secret.into(),
            authzid: None,
            method: AuthMethod::Auto,
            allow_plaintext: false,
            utf8: true,
            oauth_initial_response: false,
            stage: Stage::Negotiating(Negotiate::new()),
            pending: None,
            mechanism: None,
            held_response: None,
            method_name: String::new(),
        }
    }

    /// The authentication method (default [`AuthMethod::Auto`]).
    pub fn method(mut self, method: AuthMethod) -> Self {
        self.method = method;
        self
    }

    /// Allow credentials over an unencrypted connection. Off by default.
    pub fn allow_plaintext(mut self, allow: bool) -> Self {
        self.allow_plaintext = allow;
        self
    }

    /// Authorization identity for SASL PLAIN.
    pub fn authzid(mut self, authzid: impl Into<String>) -> Self {
        self.authzid = Some(authzid.into());
        self
    }

    /// Send `UTF8` (RFC 6856) when CAPA lists it (the default). Servers in UTF-8 mode
    /// serve messages with raw UTF-8 headers as they are; without it, some (Courier)
    /// rewrite them, and the size then differs from LIST.
    pub fn utf8(mut self, enable: bool) -> Self {
        self.utf8 = enable;
        self
    }

    /// Put the token on the `AUTH XOAUTH2` / `AUTH OAUTHBEARER` line. Off by default:
    /// the token is sent after the server's empty challenge, the form every provider
    /// accepts (Office 365 closes the connection on the one-line form, and tokens are
    /// often longer than a command line may be).
    pub fn oauth_initial_response(mut self, inline: bool) -> Self {
        self.oauth_initial_response = inline;
        self
    }

    fn send(&mut self, client: &mut Client, command: Command) -> Result<(), Error> {
        self.pending = Some(client.send(command)?);
        Ok(())
    }

    fn authenticate(&mut self, client: &mut Client) -> Result<Step<LoginOutcome>, Error> {
        if !client.is_tls() && !self.allow_plaintext {
            return Err(Error::PlaintextAuthRefused);
        }
        let method = match &self.method {
            AuthMethod::Auto => Self::choose(client)?,
            other => {
                Self::check_offered(client, other)?;
                other.clone()
            }
        };
        if self.utf8 && client.capabilities().is_some_and(Capabilities::utf8) {
            client.send_background(Command::Utf8)?;
        }
        match method {
            AuthMethod::User => {
                self.method_name = "USER".into();
                self.send(client, Command::User(self.user.clone()))?;
                // Pipelined, PASS costs no round trip of its own (RFC 2449).
                let pass = if client.is_pipelining() {
                    Some(client.send(Command::Pass(self.secret.clone()))?)
                } else {
                    None
                };
                self.stage = Stage::User { pass };
                if pass.is_some() {
                    Self::after_credentials(client)?;
                }
            }
            AuthMethod::Apop => {
                let timestamp = client
                    .greeting()
                    .and_then(|g| g.timestamp.clone())
                    .ok_or(Error::NoApopTimestamp)?;
                let digest = sasl::apop_digest(timestamp.as_str(), &self.secret);
                self.method_name = "APOP".into();
                self.stage = Stage::Pass;
                self.send(
                    client,
                    Command::Apop {
                        user: self.user.clone(),
                        digest,
                    },
                )?;
                Self::after_credentials(client)?;
            }
            AuthMethod::Sasl(kind) => {
                let mechanism = self.mechanism_for(kind);
                self.start_sasl(client, mechanism)?;
            }
            AuthMethod::Custom(make) => self.start_sasl(client, make())?,
            AuthMethod::Auto => return Err(Error::Internal("Auto chose Auto")),
        }
        Ok(Step::Continue)
    }

    /// After PASS or APOP: CAPA rides along (it is valid whatever their outcome).
    fn after_credentials(client: &mut Client) -> Result<(), Error> {
        if client.is_pipelining() {
            client.send_background(Command::Capa)?;
        }
        Ok(())
    }

    /// What the server offers, for messages: `USER`, `APOP`, the SASL mechanisms.
    fn offered(client: &Client) -> String {
        let mut offered = Vec::new();
        let caps = client.capabilities();
        if caps.is_none_or(Capabilities::user) {
            offered.push("USER".to_owned());
        }
        if client.greeting().is_some_and(|g| g.timestamp.is_some()) {
            offered.push("APOP".to_owned());
        }
        if let Some(caps) = caps {
            offered.extend(caps.sasl().into_iter().map(str::to_owned));
        }
        offered.join(" ")
    }

    /// Refuses, before anything is sent, a method the server does not offer. USER counts
    /// as offered by every server, APOP by every greeting with a timestamp.
    fn check_offered(client: &Client, method: &AuthMethod) -> Result<(), Error> {
        let name = match method {
            AuthMethod::Auto | AuthMethod::User => return Ok(()),
            AuthMethod::Apop => {
                return if client.greeting().is_some_and(|g| g.timestamp.is_some()) {
                    Ok(())
                } else {
                    Err(Error::NoApopTimestamp)
                };
            }
            AuthMethod::Sasl(kind) => kind.name().to_owned(),
            AuthMethod::Custom(make) => make().name().to_owned(),
        };
        if client.capabilities().is_some_and(|c| c.has_sasl(&name)) {
            Ok(())
        } else {
            Err(Error::MechanismNotOffered {
                mechanism: name,
                offered: Self::offered(client),
            })
        }
    }

    /// The method [`AuthMethod::Auto`] picks (see [`Login`]).
    fn choose(client: &Client) -> Result<AuthMethod, Error> {
        use MechanismKind as M;
        let has_timestamp = client.greeting().is_some_and(|g| g.timestamp.is_some());
        let Some(caps) = client.capabilities() else {
            // No CAPA (an RFC 1939-only server): USER/PASS is the common denominator.
            return Ok(AuthMethod::User);
        };
        let sasl = |kind: M| caps.has_sasl(kind.name()).then_some(AuthMethod::Sasl(kind));
        let user = |ok: bool| (ok && caps.user()).then_some(AuthMethod::User);
        let pipelined_user = user(client.is_pipelining());
        let chosen = sasl(M::ScramSha256)
            .or_else(|| sasl(M::ScramSha1))
            .or_else(|| {
                if client.is_tls() {
                    // Fewest round trips: the password is protected by TLS either way.
                    sasl(M::Plain)
                        .or(pipelined_user)
                        .or_else(|| sasl(M::CramMd5))
                        .or_else(|| user(true))
                        .or_else(|| sasl(M::Login))
                } else {
                    // Plaintext (explicitly allowed): keep the password off the wire if we can.
                    sasl(M::CramMd5)
                        .or_else(|| sasl(M::Plain))
                        .or_else(|| user(true))
                        .or_else(|| sasl(M::Login))
                }
            });
        match chosen {
            Some(method) => Ok(method),
            None if has_timestamp => Ok(AuthMethod::Apop),
            None => Err(Error::NoMechanism {
                offered: caps.lines().collect::<Vec<_>>().join(", "),
            }),
        }
    }

    fn mechanism_for(&self, kind: MechanismKind) -> Box<dyn Mechanism> {
        let (user, secret) = (self.user.as_str(), &self.secret);
        match kind {
            MechanismKind::Plain => {
                Box::new(sasl::Plain::new(self.authzid.as_deref(), user, secret))
            }
            MechanismKind::Login => Box::new(sasl::LoginMechanism::new(user, secret)),
            MechanismKind::CramMd5 => Box::new(sasl::CramMd5::new(user, secret)),
            MechanismKind::XOAuth2 => Box::new(sasl::XOAuth2::new(user, secret)),
            MechanismKind::OAuthBearer => Box::new(sasl::OAuthBearer::new(user, secret)),
            MechanismKind::ScramSha1 => Box::new(sasl::Scram::sha1(user, secret)),
            MechanismKind::ScramSha256 => Box::new(sasl::Scram::sha256(user, secret)),
        }
    }

    fn start_sasl(
        &mut self,
        client: &mut Client,
        mut mechanism: Box<dyn Mechanism>,
    ) -> Result<(), Error> {
        let name = mechanism.name().to_owned();
        let initial = mechanism.initial_response()?;
        let oauth = matches!(name.as_str(), "XOAUTH2" | "OAUTHBEARER");
        let initial_response = match initial {
            Some(ir) if oauth && !self.oauth_initial_response => {
                // Two steps: AUTH, the server's empty challenge, then the token.
                self.held_response = Some(ir);
                None
            }
            Some(ir) if Command::auth_fits(&name, ir.expose()) => Some(ir),
            Some(ir) => {
                // RFC 5034 §4: too long for the AUTH line; send it after the empty challenge.
                self.held_response = Some(ir);
                None
            }
            None => None,
        };
        self.method_name.clone_from(&name);
        self.mechanism = Some(mechanism);
        self.stage = Stage::Auth;
        self.send(
            client,
            Command::Auth {
                mechanism: name,
                initial_response,
            },
        )
    }

    fn on_challenge(
        &mut self,
        client: &mut Client,
        data: &[u8],
    ) -> Result<Step<LoginOutcome>, Error> {
        if let Some(held) = self.held_response.take() {
            client.send(Command::AuthResponse(held))?;
            return Ok(Step::Continue);
        }
        let Some(mechanism) = self.mechanism.as_mut() else {
            return Err(Error::Internal("a SASL challenge without a mechanism"));
        };
        match mechanism.step(data) {
            Ok(response) => {
                client.send(Command::AuthResponse(response))?;
            }
            Err(e) => {
                // Tell the server we give up, and report why once it acknowledges.
                client.send(Command::AuthCancel)?;
                self.stage = Stage::Cancelling(e);
            }
        }
        Ok(Step::Continue)
    }

    fn logged_in(&mut self, client: &mut Client) -> Result<Step<LoginOutcome>, Error> {
        if let Some(mechanism) = self.mechanism.as_mut() {
            // SCRAM: a server that never proved it knows the password is not trusted, and
            // neither is the session it just accepted.
            if let Err(e) = mechanism.complete() {
                client.abort();
                return Err(e.into());
            }
            // After AUTH, CAPA goes now; it rides along with the next operation.
            client.send_background(Command::Capa)?;
        } else if !client.is_pipelining() {
            // Lockstep: CAPA could not follow PASS/APOP; it goes now, answered before
            // the next command as lockstep requires anyway.
            client.send_background(Command::Capa)?;
        }
        Ok(Step::Done(LoginOutcome {
            method: std::mem::take(&mut self.method_name),
            capabilities: client.capabilities().cloned(),
        }))
    }

    /// Passes the negotiation's steps through; authenticates once it is done.
    fn after_negotiation(
        &mut self,
        client: &mut Client,
        negotiation: Negotiation,
    ) -> Result<Step<LoginOutcome>, Error> {
        match negotiation {
            Negotiation::Done(_capabilities) => self.authenticate(client),
            Negotiation::Continue => Ok(Step::Continue),
            Negotiation::StartTls => Ok(Step::StartTls),
        }
    }
}

/// A refusal of the credentials, or of the login for now.
fn refused(status: Status) -> Error {
    if status.code.as_ref().is_some_and(RespCode::is_temporary) {
        Error::LoginDeferred(status)
    } else {
        Error::AuthFailed(status)
    }
}

impl Task for Login {
    type Output = LoginOutcome;

    fn start(&mut self, client: &mut Client) -> Result<Step<LoginOutcome>, Error> {
        self.stage = Stage::Negotiating(Negotiate::new());
        let negotiation = match &mut self.stage {
            Stage::Negotiating(negotiate) => negotiate.begin(client)?,
            _ => Negotiation::Continue,
        };
        self.after_negotiation(client, negotiation)
    }

    fn handle(&mut self, client: &mut Client, event: Event) -> Result<Step<LoginOutcome>, Error> {
        if let Stage::Negotiating(negotiate) = &mut self.stage {
            let negotiation = negotiate.advance(client, event)?;
            return self.after_negotiation(client, negotiation);
        }
        let ours = |id: &CommandId| Some(*id) == self.pending;
        match (&self.stage, event) {
            (Stage::User { pass: None }, Event::Ok { id, .. }) if ours(&id) => {
                self.stage = Stage::Pass;
                self.send(client, Command::Pass(self.secret.clone()))?;
                Ok(Step::Continue)
            }
            (&Stage::User { pass: Some(pass) }, Event::Ok { id, .. }) if ours(&id) => {
                self.pending = Some(pass);
                self.stage = Stage::Pass;
                Ok(Step::Continue)
            }
            (&Stage::User { pass: Some(pass) }, Event::Err { id, status }) if ours(&id) => {
                // The pipelined PASS is answered next; the refusal of USER is the news.
                self.pending = Some(pass);
                self.stage = Stage::UserRefused(status);
                Ok(Step::Continue)
            }
            (Stage::UserRefused(_), Event::Ok { id, .. } | Event::Err { id, .. }) if ours(&id) => {
                match std::mem::replace(&mut self.stage, Stage::Pass) {
                    Stage::UserRefused(status) => Err(refused(status)),
                    _ => Err(Error::Internal("the USER refusal was lost")),
                }
            }
            (Stage::User { .. } | Stage::Pass | Stage::Auth, Event::Err { id, status })
                if ours(&id) =>
            {
                Err(refused(status))
            }
            (Stage::Pass | Stage::Auth, Event::Ok { id, .. }) if ours(&id) => {
                self.logged_in(client)
            }
            (Stage::Auth, Event::Challenge { id, data }) if ours(&id) => {
                self.on_challenge(client, &data)
            }
            (Stage::Cancelling(_), event @ (Event::Err { .. } | Event::Ok { .. })) if matches!(&event, Event::Err { id, .. } | Event::Ok { id, .. } if ours(id)) =>
            {
                if matches!(event, Event::Ok { .. }) {
                    // Logged in although we gave up: that session must not be used.
                    client.abort();
                }
                match std::mem::replace(&mut self.stage, Stage::Pass) {
                    Stage::Cancelling(e) => Err(e.into()),
                    _ => Err(Error::Internal("the cancelled exchange lost its cause")),
                }
            }
            (Stage::Cancelling(_), Event::Challenge { id, .. }) if ours(&id) => {
                // A server that answers '*' with another challenge is broken.
                Err(Error::UnexpectedResponse {
                    response: "SASL challenge",
                    context: "after the client cancelled the exchange",
                })
            }
            (_, other) => Err(unexpected(&other)),
        }
    }
}
