//! From arguments to a logged-in session: options, credentials, the embedded server.

use pop3_tokio::AsyncSession as _;
use std::io::IsTerminal as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use pop3_multi::{Multi, MultiConnectionMode, MultiOptions};
use pop3_proto::sasl::MechanismKind;
use pop3_proto::task::{AuthMethod, Login};
use pop3_proto::{Pipelining, Secret};
use pop3_server::{LatencyProxy, Server, mailbox};
use pop3_session::LoginConnector;
use pop3_session::{ConnectOptions, TlsMode};
use pop3_store::Account;
use pop3_tokio::Client;

use crate::args::{AuthArg, Cli, Connections, PipeliningArg};
use crate::error::CliError;
use crate::output;

/// The embedded demo server's mailbox and link, when no `--host` is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DemoSetup {
    /// Messages in the generated mailbox.
    pub(crate) messages: usize,
    /// Approximate size of each message, in bytes.
    pub(crate) message_size: usize,
    /// The round trip a proxy adds in front of the server (half each way); zero for none.
    pub(crate) round_trip: Duration,
}

impl Default for DemoSetup {
    /// 2000 messages of about 10 kB (a realistic plain-text mail size), no added latency.
    fn default() -> Self {
        Self {
            messages: 2000,
            message_size: 10_000,
            round_trip: Duration::ZERO,
        }
    }
}

/// The embedded server, and the proxy adding latency in front of it if any: both live as
/// long as the command.
struct Embedded {
    server: Server,
    proxy: Option<LatencyProxy>,
}

impl Embedded {
    /// Starts the server with `setup`'s mailbox; returns it with the port to connect to.
    fn start(setup: DemoSetup, mode: TlsMode) -> Result<(Self, u16), CliError> {
        let server = Server::builder()
            .messages(mailbox::generate(setup.messages, setup.message_size, 1))
            .start()
            .map_err(|e| CliError::Other(format!("cannot start the embedded server: {e}")))?;
        let addr = match server.tls_addr() {
            Some(tls_addr) if mode == TlsMode::Implicit => tls_addr,
            _ => server.addr(),
        };
        let proxy = if setup.round_trip.is_zero() {
            None
        } else {
            Some(
                LatencyProxy::start(addr, setup.round_trip / 2)
                    .map_err(CliError::io("cannot start the latency proxy"))?,
            )
        };
        let port = proxy.as_ref().map_or(addr, LatencyProxy::addr).port();
        Ok((Self { server, proxy }, port))
    }
}

/// Where to connect and as whom. Credentials are looked for only when a command logs
/// in (`capa` and `info` work without them).
pub(crate) struct Target {
    pub(crate) options: ConnectOptions,
    user: Option<String>,
    password: Password,
    method: AuthArg,
    allow_plaintext: bool,
    connections: Connections,
    /// Keeps the embedded server alive for the command's duration.
    embedded: Option<Embedded>,
}

impl Target {
    /// The server named by `--host`, or the embedded demo server set up as `demo` says.
    pub(crate) fn from_cli(cli: &Cli, demo: DemoSetup) -> Result<Self, CliError> {
        let mode = cli.tls.mode();
        let pipelining = match cli.pipelining {
            PipeliningArg::Auto => Pipelining::Auto,
            PipeliningArg::On => Pipelining::Always,
            PipeliningArg::Off => Pipelining::Never,
        };
        let (host, port, user, password, embedded) = if let Some(host) = &cli.host {
            let password = Password::from_cli(cli, host);
            (host.clone(), cli.port, cli.user.clone(), password, None)
        } else {
            let (embedded, port) = Embedded::start(demo, mode)?;
            let user = Some(embedded.server.user().to_owned());
            let password = Password::known(Secret::from(embedded.server.password()));
            (
                "127.0.0.1".to_owned(),
                Some(port),
                user,
                password,
                Some(embedded),
            )
        };
        let mut options = ConnectOptions::new(host)
            .tls(mode)
            .timeout(Duration::from_secs(cli.timeout))
            .pipelining(pipelining);
        if let Some(port) = port {
            options = options.port(port);
        }
        if let Some(ca_pem) = embedded.as_ref().and_then(|e| e.server.ca_pem()) {
            options = options.add_root_pem(ca_pem.as_bytes())?;
        }
        if let Some(path) = &cli.ca_file {
            let pem = std::fs::read(path)
                .map_err(CliError::io(format!("cannot read {}", path.display())))?;
            options = options.add_root_pem(&pem)?;
        }
        for fingerprint in &cli.tls_fingerprint {
            options = options.pin_certificate(*fingerprint);
        }
        if cli.insecure {
            output::warn(
                "--insecure: the server certificate is not verified; anyone on the path can \
                 read and change this session, password included",
            );
            options = options.dangerous_accept_invalid_certificates(true);
        }
        Ok(Self {
            options,
            user,
            password,
            method: cli.auth,
            allow_plaintext: cli.allow_plaintext_auth,
            connections: cli.connections,
            embedded,
        })
    }

    /// The account this run logs in to, as the store keys its state: the user, and the
    /// host and port really connected to (the embedded server's loopback port included).
    pub(crate) fn account(&self) -> Result<Account, CliError> {
        Ok(Account::new(
            self.user()?.to_owned(),
            self.options.host(),
            self.options.effective_port(),
        ))
    }

    /// The login name; a usage error without one.
    fn user(&self) -> Result<&str, CliError> {
        self.user
            .as_deref()
            .ok_or_else(|| CliError::Usage("no user name: pass --user or set POP3_USER".into()))
    }

    /// A connector opening logged-in sessions to this target (what pop3-multi drives).
    pub(crate) fn connector(&self) -> Result<LoginConnector<Client>, CliError> {
        Ok(Client::connector(self.options.clone(), self.login()?))
    }

    /// The coordinator for this target, with `--connections`.
    pub(crate) fn multi(&self) -> Result<Multi<LoginConnector<Client>>, CliError> {
        let options = match self.connections {
            Connections::Auto => MultiOptions::new(),
            Connections::Count(n) => fixed_sessions(n),
        };
        Ok(Multi::new(self.connector()?).options(options))
    }

    /// A coordinator with these options and this pipelining policy, whatever
    /// `--connections` and `--pipelining` say (the bench's modes).
    pub(crate) fn multi_with(
        &self,
        options: MultiOptions,
        pipelining: Pipelining,
    ) -> Result<Multi<LoginConnector<Client>>, CliError> {
        let connect = self.options.clone().pipelining(pipelining);
        Ok(Multi::new(Client::connector(connect, self.login()?)).options(options))
    }

    /// The `--connections` given, if not `auto`.
    pub(crate) fn connections(&self) -> Option<usize> {
        match self.connections {
            Connections::Auto => None,
            Connections::Count(n) => Some(n),
        }
    }

    /// The proxy's count of round trips so far, when the embedded server is behind one.
    pub(crate) fn round_trips(&self) -> Option<usize> {
        let proxy = self.embedded.as_ref()?.proxy.as_ref()?;
        Some(proxy.round_trips())
    }

    /// `host:port`, as connected to.
    pub(crate) fn address(&self) -> String {
        format!("{}:{}", self.options.host(), self.options.effective_port())
    }

    /// The transport security, in words.
    pub(crate) fn tls_words(&self) -> &'static str {
        match self.options.tls_mode() {
            TlsMode::Implicit => "implicit TLS",
            TlsMode::StartTls => "STLS",
            TlsMode::Plain => "plaintext",
        }
    }

    /// Whether this is the embedded demo server.
    pub(crate) fn is_embedded(&self) -> bool {
        self.embedded.is_some()
    }

    /// The login task for these credentials; a usage error when the user name or the
    /// password is missing (nothing is sent then).
    pub(crate) fn login(&self) -> Result<Login, CliError> {
        let user = self.user()?.to_owned();
        let password = self.password.get()?;
        let method = match self.method {
            AuthArg::Auto => AuthMethod::Auto,
            AuthArg::User => AuthMethod::User,
            AuthArg::Apop => AuthMethod::Apop,
            AuthArg::Plain => AuthMethod::Sasl(MechanismKind::Plain),
            AuthArg::Login => AuthMethod::Sasl(MechanismKind::Login),
            AuthArg::CramMd5 => AuthMethod::Sasl(MechanismKind::CramMd5),
            AuthArg::Xoauth2 => AuthMethod::Sasl(MechanismKind::XOAuth2),
            AuthArg::Oauthbearer => AuthMethod::Sasl(MechanismKind::OAuthBearer),
            AuthArg::ScramSha1 => AuthMethod::Sasl(MechanismKind::ScramSha1),
            AuthArg::ScramSha256 => AuthMethod::Sasl(MechanismKind::ScramSha256),
        };
        Ok(Login::new(user, password)
            .method(method)
            .allow_plaintext(self.allow_plaintext))
    }

    /// Connects (TLS as configured) and reads the greeting.
    pub(crate) async fn connect(&self) -> Result<Client, CliError> {
        tracing::info!(
            host = self.options.host(),
            port = self.options.effective_port(),
            tls = ?self.options.tls_mode(),
            "connecting"
        );
        Ok(Client::connect(&self.options).await?)
    }

    /// Connects and logs in (credentials are checked before connecting).
    pub(crate) async fn session(&self) -> Result<Client, CliError> {
        let login = self.login()?;
        let mut client = self.connect().await?;
        let outcome = client.login(login).await?;
        tracing::info!(
            method = outcome.method,
            pipelining = client.protocol().is_pipelining(),
            "logged in"
        );
        Ok(client)
    }
}

/// Options for exactly `n` sessions (`Disable` for one).
pub(crate) fn fixed_sessions(n: usize) -> MultiOptions {
    if n == 1 {
        MultiOptions::new().mode(MultiConnectionMode::Disable)
    } else {
        MultiOptions::new()
            .mode(MultiConnectionMode::Enable)
            .connections(n)
    }
}

/// Warns (one line on stderr) when a password file can be read by group or others.
fn warn_if_exposed(path: &Path) {
    let Ok(metadata) = std::fs::metadata(path) else {
        return;
    };
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o044 != 0 {
        output::warn(&format!(
            "password file {} is readable by {} (mode {mode:04o}); \
             restrict it with chmod 600",
            path.display(),
            match (mode & 0o040 != 0, mode & 0o004 != 0) {
                (true, true) => "group and others",
                (true, false) => "its group",
                _ => "others",
            }
        ));
    }
}

/// Where the password comes from, read on first use (so that `capa` and `info` never
/// run `--password-command`, nor ask for it).
struct Password {
    file: Option<PathBuf>,
    command: Option<String>,
    /// Who and where, for the terminal prompt.
    account: String,
    value: OnceLock<Secret>,
}

impl Password {
    fn from_cli(cli: &Cli, host: &str) -> Self {
        Self {
            file: cli.password_file.clone(),
            command: cli.password_command.clone(),
            account: format!("{} on {host}", cli.user.as_deref().unwrap_or("you")),
            value: OnceLock::new(),
        }
    }

    fn known(secret: Secret) -> Self {
        Self {
            file: None,
            command: None,
            account: String::new(),
            value: OnceLock::from(secret),
        }
    }

    fn get(&self) -> Result<Secret, CliError> {
        if let Some(secret) = self.value.get() {
            return Ok(secret.clone());
        }
        let secret = password(self.file.as_ref(), self.command.as_ref(), &self.account)?;
        Ok(self.value.get_or_init(|| secret).clone())
    }
}

/// The password from `--password-file`, `--password-command` or `POP3_PASSWORD`, else
/// asked on the terminal (for `account`) when there is one.
fn password(
    file: Option<&PathBuf>,
    command: Option<&String>,
    account: &str,
) -> Result<Secret, CliError> {
    let first_line = |text: &str| text.lines().next().unwrap_or_default().to_owned();
    match (file, command) {
        (Some(_), Some(_)) => Err(CliError::Usage(
            "give either --password-file or --password-command, not both".into(),
        )),
        (Some(path), None) => {
            let text = std::fs::read_to_string(path)
                .map_err(CliError::io(format!("cannot read {}", path.display())))?;
            warn_if_exposed(path);
            Ok(Secret::from(first_line(&text)))
        }
        (None, Some(command)) => {
            let output = std::process::Command::new("sh")
                .arg("-c")
                .arg(command)
                .stderr(std::process::Stdio::inherit())
                .output()
                .map_err(CliError::io("cannot run --password-command"))?;
            if !output.status.success() {
                return Err(CliError::Other(format!(
                    "--password-command failed ({})",
                    output.status
                )));
            }
            Ok(Secret::from(first_line(&String::from_utf8_lossy(
                &output.stdout,
            ))))
        }
        (None, None) => match std::env::var("POP3_PASSWORD") {
            Ok(password) => Ok(Secret::from(password)),
            Err(_) if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() => {
                prompt(&format!("password for {account}: "))
            }
            Err(_) => Err(CliError::Usage(
                "no password: set POP3_PASSWORD, or pass --password-file or --password-command"
                    .into(),
            )),
        },
    }
}

/// Asks for the password on the terminal, without echo.
fn prompt(question: &str) -> Result<Secret, CliError> {
    rpassword::prompt_password(format!("pop3: {question}"))
        .map(Secret::from)
        .map_err(CliError::io("cannot read the password from the terminal"))
}
