//! Opening new, logged-in sessions: what a multi-connection coordinator needs.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::{Mutex, PoisonError};

use pop3_proto::task::Login;

use crate::{AsyncSession, BlockingSession, ConnectOptions, Error};

/// Opens new sessions, logged in and ready for commands.
pub trait Connector: Send + Sync {
    /// The sessions it opens.
    type Session: AsyncSession;

    /// Connects, logs in, and returns the session.
    fn connect(&self) -> impl Future<Output = Result<Self::Session, Error>> + Send;
}

/// Opens new blocking sessions, logged in and ready for commands.
pub trait BlockingConnector: Send + Sync {
    /// The sessions it opens.
    type Session: BlockingSession;

    /// Connects, logs in, and returns the session.
    fn connect(&self) -> Result<Self::Session, Error>;
}

/// A session type that can open its own connection from options (TCP, then TLS as the
/// options say, then the greeting).
pub trait Dial: AsyncSession + Sized {
    /// Connects and reads the greeting.
    fn dial(options: &ConnectOptions) -> impl Future<Output = Result<Self, Error>> + Send;
}

/// The blocking twin of [`Dial`].
pub trait BlockingDial: BlockingSession + Sized {
    /// Connects and reads the greeting.
    fn dial(options: &ConnectOptions) -> Result<Self, Error>;
}

/// A [`Connector`] (and [`BlockingConnector`]) from options and a login: each session
/// dials with the options, then runs a copy of the login.
///
/// ```no_run
/// # async fn example<S: pop3_session::Dial>() -> Result<(), pop3_session::Error> {
/// use pop3_session::{ConnectOptions, Connector, Login, LoginConnector};
///
/// let connector = LoginConnector::<S>::new(
///     ConnectOptions::new("pop.example.com"),
///     Login::new("alice", "secret"),
/// );
/// let first = connector.connect().await?;
/// let second = connector.connect().await?; // shares the TLS configuration and cache
/// # let _ = (first, second);
/// # Ok(())
/// # }
/// ```
pub struct LoginConnector<S> {
    options: ConnectOptions,
    // Each session gets a clone; a Mutex makes the connector Sync although a login
    // (which may hold a SASL mechanism) is only Send.
    login: Mutex<Login>,
    session: PhantomData<fn() -> S>,
}

impl<S> fmt::Debug for LoginConnector<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginConnector")
            .field("address", &self.options.address())
            .finish_non_exhaustive()
    }
}

impl<S> LoginConnector<S> {
    /// Sessions to `options`, logged in with copies of `login`.
    pub fn new(options: ConnectOptions, login: Login) -> Self {
        Self {
            options,
            login: Mutex::new(login),
            session: PhantomData,
        }
    }

    /// The options sessions are opened with.
    pub fn options(&self) -> &ConnectOptions {
        &self.options
    }

    fn login(&self) -> Login {
        self.login
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl<S: Dial> Connector for LoginConnector<S> {
    type Session = S;

    async fn connect(&self) -> Result<S, Error> {
        let login = self.login();
        let mut session = S::dial(&self.options).await?;
        session.login(login).await?;
        Ok(session)
    }
}

impl<S: BlockingDial> BlockingConnector for LoginConnector<S> {
    type Session = S;

    fn connect(&self) -> Result<S, Error> {
        let mut session = S::dial(&self.options)?;
        session.login(self.login())?;
        Ok(session)
    }
}
