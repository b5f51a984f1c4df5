//! The coordinator's errors: what stops a whole run (one message's failure does not).

/// Why a run could not be done at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MultiError {
    /// No session could log in.
    #[error("{0}")]
    Login(#[source] pop3_session::Error),
    /// The first session could not list the maildrop.
    #[error("cannot list the maildrop: {0}")]
    Snapshot(#[source] pop3_session::Error),
    /// The destination failed as a whole.
    #[error("{0}")]
    Store(#[from] pop3_store::StoreError),
}

impl MultiError {
    /// The session error, if that is what stopped the run (for exit codes).
    pub fn session_error(&self) -> Option<&pop3_session::Error> {
        match self {
            Self::Login(e) | Self::Snapshot(e) => Some(e),
            Self::Store(_) => None,
        }
    }
}
