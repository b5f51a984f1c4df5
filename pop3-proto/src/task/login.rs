//! The login task: greeting, CAPA, STLS, authentication, all under a security policy.

use std::fmt;
use std::sync::Arc;

use crate::capability::Capabilities;
use crate::client::{Client, CommandId, Event, Reply};
use crate::command::Command;
use crate::error::Error;
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
    /// The strongest method the server offers: SCRAM-SHA-256, SCRAM-SHA-1, CRAM-MD5,
    /// PLAIN, LOGIN, USER/PASS, and APOP only when nothing else is offered.
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
    /// The capabilities after login (`None` if the server does not support CAPA).
    pub capabilities: Option<Capabilities>,
}

#[derive(Debug)]
enum Stage {
    /// Greeting, CAPA, STLS.
    Negotiating(Negotiate),
    User,
    Pass,
    Auth,
    /// We cancelled the exchange because of this error; waiting for the server's -ERR.
    Cancelling(SaslError),
    CapaAfterLogin,
}

/// Logs in: waits for the greeting, asks CAPA, upgrades with STLS when required,
/// authenticates, and asks CAPA again.
///
/// Secure by default: credentials never cross an unencrypted connection unless
/// [`Login::allow_plaintext`] is set, and when the client's
/// [`TlsMode`](crate::TlsMode) is `StartTls` a missing STLS capability, a failing CAPA
/// or an `-ERR` to STLS stop the login before any credential is sent.
///
/// ```
/// use pop3_proto::task::{AuthMethod, Login};
/// let login = Login::new("alice", "secret").method(AuthMethod::Auto);
/// # let _ = login;
/// ```
pub struct Login {
    user: String,
    secret: Secret,
    authzid: Option<String>,
    method: Option<AuthMethod>,
    allow_plaintext: bool,
    stage: Stage,
    pending: Option<CommandId>,
    mechanism: Option<Box<dyn Mechanism>>,
    /// An initial response too long for the AUTH line, sent after the empty challenge.
    held_response: Option<Secret>,
    method_name: String,
}

impl fmt::Debug for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Login")
            .field("user", &self.user)
            .field("method", &self.method)
            .field("allow_plaintext", &self.allow_plaintext)
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
        copy.method.clone_from(&self.method);
        copy.allow_plaintext = self.allow_plaintext;
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
            method: Some(AuthMethod::Auto),
            allow_plaintext: false,
            stage: Stage::Negotiating(Negotiate::new()),
            pending: None,
            mechanism: None,
            held_response: None,
            method_name: String::new(),
        }
    }

    /// The authentication method (default [`AuthMethod::Auto`]).
    pub fn method(mut self, method: AuthMethod) -> Self {
        self.method = Some(method);
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

    fn send(&mut self, client: &mut Client, command: Command) -> Result<(), Error> {
        self.pending = Some(client.send(command)?);
        Ok(())
    }

    fn ask_capa(&mut self, client: &mut Client, stage: Stage) -> Result<Step<LoginOutcome>, Error> {
        self.stage = stage;
        self.send(client, Command::Capa)?;
        Ok(Step::Continue)
    }

    fn authenticate(&mut self, client: &mut Client) -> Result<Step<LoginOutcome>, Error> {
        if !client.is_tls() && !self.allow_plaintext {
            return Err(Error::PlaintextAuthRefused);
        }
        let method = self.method.clone().unwrap_or(AuthMethod::Auto);
        let method = match method {
            AuthMethod::Auto => Self::choose(client)?,
            other => other,
        };
        match method {
            AuthMethod::User => {
                self.method_name = "USER".into();
                self.stage = Stage::User;
                self.send(client, Command::User(self.user.clone()))?;
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
            }
            AuthMethod::Sasl(kind) => {
                let mechanism = self.mechanism_for(kind);
                self.start_sasl(client, mechanism)?;
            }
            AuthMethod::Custom(make) => self.start_sasl(client, make())?,
            AuthMethod::Auto => {
                return Err(Error::NoMechanism {
                    offered: String::new(),
                });
            }
        }
        Ok(Step::Continue)
    }

    /// The strongest method the server offers.
    fn choose(client: &Client) -> Result<AuthMethod, Error> {
        const PREFERENCE: [MechanismKind; 5] = [
            MechanismKind::ScramSha256,
            MechanismKind::ScramSha1,
            MechanismKind::CramMd5,
            MechanismKind::Plain,
            MechanismKind::Login,
        ];
        let has_timestamp = client.greeting().is_some_and(|g| g.timestamp.is_some());
        let Some(caps) = client.capabilities() else {
            // No CAPA (an RFC 1939-only server): USER/PASS is the common denominator.
            return Ok(AuthMethod::User);
        };
        if let Some(kind) = PREFERENCE.into_iter().find(|k| caps.has_sasl(k.name())) {
            return Ok(AuthMethod::Sasl(kind));
        }
        if caps.user() {
            return Ok(AuthMethod::User);
        }
        if has_timestamp {
            return Ok(AuthMethod::Apop);
        }
        Err(Error::NoMechanism {
            offered: caps.lines().collect::<Vec<_>>().join(", "),
        })
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
        let initial_response = match initial {
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
        }
        self.ask_capa(client, Stage::CapaAfterLogin)
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

    fn outcome(&mut self, client: &Client) -> LoginOutcome {
        LoginOutcome {
            method: std::mem::take(&mut self.method_name),
            capabilities: client.capabilities().cloned(),
        }
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
            (Stage::User, Event::Ok { id, .. }) if ours(&id) => {
                self.stage = Stage::Pass;
                self.send(client, Command::Pass(self.secret.clone()))?;
                Ok(Step::Continue)
            }
            (Stage::User | Stage::Pass | Stage::Auth, Event::Err { id, status }) if ours(&id) => {
                Err(Error::AuthFailed(status))
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
                match std::mem::replace(&mut self.stage, Stage::CapaAfterLogin) {
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
            (
                Stage::CapaAfterLogin,
                Event::Ok {
                    id,
                    reply: Reply::Capabilities(_),
                }
                | Event::Err { id, .. },
            ) if ours(&id) => Ok(Step::Done(self.outcome(client))),
            (_, other) => Err(unexpected(&other)),
        }
    }
}
