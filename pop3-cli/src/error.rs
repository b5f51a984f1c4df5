//! The command's errors and exit codes (`CLI.md`, beside this crate).

use std::process::ExitCode;

use pop3_session::ErrorKind;

/// Exit codes of the contract.
pub(crate) mod exit {
    pub(crate) const ERROR: u8 = 1;
    pub(crate) const USAGE: u8 = 2;
    pub(crate) const AUTH: u8 = 3;
    pub(crate) const SECURITY: u8 = 4;
    pub(crate) const PARTIAL: u8 = 5;
    pub(crate) const TEMPORARY: u8 = 6;
}

/// What can stop a command.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// The POP3 session failed.
    #[error("{0}")]
    Pop3(#[from] pop3_session::Error),
    /// A multi-connection run could not be done at all.
    #[error("{0}")]
    Multi(#[from] pop3_multi::MultiError),
    /// The destination or its state file failed (or is locked by another run).
    #[error("{0}")]
    Store(#[from] pop3_store::StoreError),
    /// A local file operation failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// The invocation cannot work (missing user or password...).
    #[error("{0}")]
    Usage(String),
    /// Anything else, already phrased.
    #[error("{0}")]
    Other(String),
}

impl CliError {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let context = context.into();
        move |source| Self::Io { context, source }
    }

    /// The exit code for this error.
    pub(crate) fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            Self::Pop3(e) => session_exit_code(e),
            Self::Multi(e) => e.session_error().map_or(exit::ERROR, session_exit_code),
            Self::Usage(_) => exit::USAGE,
            Self::Store(_) | Self::Io { .. } | Self::Other(_) => exit::ERROR,
        })
    }

    /// The session error behind this one, if any.
    pub(crate) fn session_error(&self) -> Option<&pop3_session::Error> {
        match self {
            Self::Pop3(e) => Some(e),
            Self::Multi(e) => e.session_error(),
            _ => None,
        }
    }

    /// One line, no backtrace; server text is already escaped by the library. A TLS
    /// failure ends with what to do about it, by flag.
    pub(crate) fn one_line(&self) -> String {
        let mut text = self.to_string();
        let mut source = std::error::Error::source(self);
        // Include causes the top message does not already show.
        while let Some(cause) = source {
            let cause_text = cause.to_string();
            if !text.contains(&cause_text) {
                text = format!("{text}: {cause_text}");
            }
            source = cause.source();
        }
        if let Some(advice) = self.session_error().and_then(crate::advice::tls) {
            text = format!("{text}; {advice}");
        }
        text.replace(['\r', '\n'], " ")
    }

    /// [`CliError::one_line`], saying which server when the failure came from it and the
    /// text does not already name it (`server` is `host:port`).
    pub(crate) fn one_line_at(&self, server: Option<&str>) -> String {
        let text = self.one_line();
        match server {
            Some(server) if self.session_error().is_some() && !text.contains(server) => {
                format!("{server}: {text}")
            }
            _ => text,
        }
    }
}

/// The exit code for a session error, by what kind of failure it is.
fn session_exit_code(e: &pop3_session::Error) -> u8 {
    match e.kind() {
        ErrorKind::Auth => exit::AUTH,
        ErrorKind::Temporary => exit::TEMPORARY,
        ErrorKind::Security => exit::SECURITY,
        ErrorKind::Usage | ErrorKind::Config => exit::USAGE,
        _ => exit::ERROR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_contract() {
        let auth = CliError::Pop3(pop3_session::Error::Protocol(
            pop3_proto::Error::AuthFailed(pop3_proto::Status::err(None, "no")),
        ));
        assert_eq!(auth.exit_code(), ExitCode::from(3));
        let tls = CliError::Pop3(pop3_session::Error::Protocol(
            pop3_proto::Error::StartTlsUnavailable,
        ));
        assert_eq!(tls.exit_code(), ExitCode::from(4));
        assert_eq!(CliError::Usage("x".into()).exit_code(), ExitCode::from(2));
        assert_eq!(CliError::Other("x".into()).exit_code(), ExitCode::from(1));
        let busy = CliError::Store(pop3_store::StoreError::Busy {
            path: "/m/inbox".into(),
        });
        assert_eq!(busy.exit_code(), ExitCode::from(1));
        let login = CliError::Multi(pop3_multi::MultiError::Login(
            pop3_session::Error::Protocol(pop3_proto::Error::AuthFailed(pop3_proto::Status::err(
                None, "no",
            ))),
        ));
        assert_eq!(login.exit_code(), ExitCode::from(3));
        assert_eq!(
            busy.one_line(),
            "destination busy: /m/inbox is locked by another pop3 run"
        );
        // Not the server's doing: no address.
        assert_eq!(
            busy.one_line_at(Some("pop.example.com:995")),
            busy.one_line()
        );
    }

    #[test]
    fn server_failures_name_the_server_once() {
        let stalled = CliError::Pop3(pop3_session::Error::LineTimeout {
            after: std::time::Duration::from_secs(2),
            received: 3,
        });
        assert!(
            stalled
                .one_line_at(Some("pop.example.com:995"))
                .starts_with("pop.example.com:995: the server took more than 2 s"),
            "{}",
            stalled.one_line_at(Some("pop.example.com:995"))
        );
        let refused = CliError::Pop3(pop3_session::Error::Connect {
            address: "pop.example.com:995".into(),
            source: std::io::ErrorKind::ConnectionRefused.into(),
        });
        let line = refused.one_line_at(Some("pop.example.com:995"));
        assert_eq!(line.matches("pop.example.com:995").count(), 1, "{line}");
    }
}
