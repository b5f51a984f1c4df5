//! [`Dovecot`]: a real Dovecot POP3 server on loopback, for tests against the real thing.
//!
//! [`Dovecot::start`] writes a private directory (configuration from a verified template,
//! certificates, users file, a Maildir with your messages), starts `dovecot -c` on two
//! free loopback ports (plaintext with STLS, and implicit TLS) and waits for its greeting.
//! Dropping the handle stops Dovecot and removes the directory. Several instances can
//! run at once.
//!
//! Dovecot must be installed (Debian: `dovecot-core` and `dovecot-pop3d`) and the tests
//! must run as root (Dovecot switches users). When it cannot run, `start` returns
//! `Ok(None)` and prints a `SKIPPED ...` notice past the test harness's capture (see
//! [`skip`](crate::skip)), except when the environment variable `CI` is set: then it is
//! an error, so that CI cannot silently skip.
//!
//! ```no_run
//! use pop3_testkit::{dovecot_or_skip, DovecotOptions};
//!
//! # fn test() {
//! let dovecot = dovecot_or_skip!(DovecotOptions {
//!     messages: vec![b"Subject: hi\r\n\r\nhello\r\n".to_vec()],
//!     ..DovecotOptions::default()
//! });
//! // Connect to dovecot.pop3_addr() (STLS) or dovecot.pop3s_addr(), trusting
//! // dovecot.ca_pem(); log in as dovecot.user() / dovecot.password().
//! assert_eq!(dovecot.messages_on_disk(), 1);
//! # }
//! ```

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::certs::{CertError, TestCertificates};

/// The verified configuration template (see its header for the pitfalls it avoids).
pub const CONFIG_TEMPLATE: &str = include_str!("../dovecot/dovecot.conf.template");

/// The uid and gid owning the mail (`nobody:nogroup` on Debian).
const MAIL_OWNER: u32 = 65534;
/// How long to wait for Dovecot to greet.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// What to put in the Dovecot instance.
#[derive(Clone, Debug)]
pub struct DovecotOptions {
    /// Messages (CRLF line ends) written to `Maildir/new`, in order.
    pub messages: Vec<Vec<u8>>,
    /// `pop3_lock_session = yes`: a second concurrent session gets `-ERR [IN-USE]`, after
    /// Dovecot has waited about 10 s for the lock (so allow a read timeout above that).
    pub lock_session: bool,
    /// The user name (default `alice`).
    pub user: String,
    /// The password (default `secret`).
    pub password: String,
}

impl Default for DovecotOptions {
    fn default() -> Self {
        Self {
            messages: Vec::new(),
            lock_session: false,
            user: "alice".into(),
            password: "secret".into(),
        }
    }
}

/// Why Dovecot could not be started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DovecotError {
    /// Dovecot cannot run here and `CI` is set.
    #[error(
        "Dovecot is required in CI: install dovecot-core and dovecot-pop3d and run as root ({0})"
    )]
    Required(String),
    /// The options cannot be written to a passwd-file or a path.
    #[error("invalid Dovecot option: {0}")]
    InvalidOption(&'static str),
    /// Preparing the instance directory failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        source: io::Error,
    },
    /// Certificate generation failed.
    #[error(transparent)]
    Certificates(#[from] CertError),
    /// Dovecot did not start or did not greet in time.
    #[error("Dovecot did not start: {reason}\n--- tail of {log} ---\n{tail}")]
    Start {
        /// What went wrong.
        reason: String,
        /// The log file.
        log: String,
        /// Its last lines.
        tail: String,
    },
}

fn io_context(context: impl Into<String>) -> impl FnOnce(io::Error) -> DovecotError {
    let context = context.into();
    move |source| DovecotError::Io { context, source }
}

/// A running Dovecot; stopped and cleaned up when dropped.
#[derive(Debug)]
pub struct Dovecot {
    dir: PathBuf,
    pop3: SocketAddr,
    pop3s: SocketAddr,
    ca_pem: String,
    user: String,
    password: String,
    master: Option<Child>,
}

/// Starts a [`Dovecot`] or skips the test: evaluates to the `Dovecot`, or returns from
/// the enclosing function when Dovecot is not available outside CI (with the second
/// argument as the return value, e.g. `Ok(())`). Panics on any other error.
///
/// ```no_run
/// # use pop3_testkit::{dovecot_or_skip, DovecotOptions};
/// fn a_test() -> Result<(), Box<dyn std::error::Error>> {
///     let dovecot = dovecot_or_skip!(DovecotOptions::default(), Ok(()));
///     let _ = std::net::TcpStream::connect(dovecot.pop3_addr())?;
///     Ok(())
/// }
/// ```
#[macro_export]
macro_rules! dovecot_or_skip {
    ($options:expr) => {
        $crate::dovecot_or_skip!($options, ())
    };
    ($options:expr, $skipped:expr) => {
        match $crate::dovecot::Dovecot::start($options) {
            Ok(Some(dovecot)) => dovecot,
            Ok(None) => return $skipped,
            Err(e) => panic!("{e}"),
        }
    };
}

impl Dovecot {
    /// Starts Dovecot with these options (see the [module documentation](self) for the
    /// availability policy).
    pub fn start(options: DovecotOptions) -> Result<Option<Self>, DovecotError> {
        let Some(binary) = policy(availability(), crate::skip::in_ci(), crate::skip::notice)?
        else {
            return Ok(None);
        };
        validate(&options)?;
        let DovecotOptions {
            messages,
            lock_session,
            user,
            password,
        } = options;
        let dir = unique_dir()?;
        let mut dovecot = Self {
            dir,
            pop3: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            pop3s: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            ca_pem: String::new(),
            user,
            password,
            master: None,
        };
        // From here on, dropping `dovecot` cleans up whatever was created.
        dovecot.prepare(&messages)?;
        dovecot.launch(&binary, lock_session)?;
        Ok(Some(dovecot))
    }

    /// The plaintext POP3 port (offers STLS).
    pub fn pop3_addr(&self) -> SocketAddr {
        self.pop3
    }

    /// The implicit-TLS POP3 port.
    pub fn pop3s_addr(&self) -> SocketAddr {
        self.pop3s
    }

    /// The CA certificate (PEM) clients should trust; the server certificate names
    /// `localhost`, `127.0.0.1` and `::1`.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The user name.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The password.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// The instance directory (configuration, log, certificates, mail).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The user's Maildir.
    pub fn maildir(&self) -> PathBuf {
        self.dir.join("mail").join(&self.user).join("Maildir")
    }

    /// The number of message files in `new/` and `cur/` (to check deletions).
    pub fn messages_on_disk(&self) -> usize {
        let maildir = self.maildir();
        // `new` before `cur`, counting each unique name once (without its `:2,` flags): a
        // message Dovecot moves from new/ to cur/ meanwhile is then counted once, not
        // twice or never.
        ["new", "cur"]
            .iter()
            .filter_map(|sub| std::fs::read_dir(maildir.join(sub)).ok())
            .flatten()
            .filter_map(Result::ok)
            .filter(|entry| entry.file_type().is_ok_and(|t| t.is_file()))
            .filter_map(|entry| {
                let name = entry.file_name().into_string().ok()?;
                Some(name.split(':').next().unwrap_or_default().to_owned())
            })
            .collect::<std::collections::HashSet<_>>()
            .len()
    }

    /// The process id of the Dovecot master (run in the foreground as our child).
    pub fn pid(&self) -> Option<u32> {
        self.master.as_ref().map(Child::id)
    }

    /// The last `lines` lines of Dovecot's log.
    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.dir.join("dovecot.log"), lines)
    }

    /// Writes certificates, users file and Maildir.
    fn prepare(&mut self, messages: &[Vec<u8>]) -> Result<(), DovecotError> {
        let certs = TestCertificates::generate()?;
        let cert_dir = self.dir.join("certs");
        create_dir(&cert_dir, 0o755)?;
        write_file(
            &cert_dir.join("cert.pem"),
            certs.cert_pem().as_bytes(),
            0o644,
        )?;
        write_file(&cert_dir.join("key.pem"), certs.key_pem().as_bytes(), 0o600)?;
        certs.ca_pem().clone_into(&mut self.ca_pem);

        let home = self.dir.join("mail").join(&self.user);
        write_file(
            &self.dir.join("users"),
            format!(
                "{}:{{PLAIN}}{}:{MAIL_OWNER}:{MAIL_OWNER}::{}\n",
                self.user,
                self.password,
                home.display()
            )
            .as_bytes(),
            0o644,
        )?;

        let maildir = home.join("Maildir");
        create_dir(&self.dir.join("mail"), 0o755)?;
        create_dir(&home, 0o700)?;
        create_dir(&maildir, 0o700)?;
        for sub in ["new", "cur", "tmp"] {
            create_dir(&maildir.join(sub), 0o700)?;
        }
        let pid = std::process::id();
        for (i, message) in messages.iter().enumerate() {
            // No ",S=<size>" in the name: a wrong size makes Dovecot fail the session.
            // Increasing timestamps keep Dovecot's order (it sorts new mail by name).
            let name = format!("{}.M{i:06}P{pid}.pop3-testkit", 1_700_000_000 + i);
            write_file(&maildir.join("new").join(name), message, 0o600)?;
        }
        chown_recursive(&self.dir.join("mail"))?;
        Ok(())
    }

    /// Writes the configuration and starts Dovecot in the foreground (`-F`, so that it
    /// is our child and gets reaped), retrying with other ports if one was taken in the
    /// meantime.
    fn launch(&mut self, binary: &Path, lock_session: bool) -> Result<(), DovecotError> {
        let mut last = None;
        for _ in 0..3 {
            let (pop3, pop3s) = free_ports()?;
            self.pop3 = pop3;
            self.pop3s = pop3s;
            let config = CONFIG_TEMPLATE
                .replace("$DIR", &self.dir.display().to_string())
                .replace("$TLSPORT", &pop3s.port().to_string())
                .replace("$PORT", &pop3.port().to_string())
                .replace("$LOCK", if lock_session { "yes" } else { "no" });
            let conf = self.dir.join("dovecot.conf");
            write_file(&conf, config.as_bytes(), 0o644)?;
            let output_path = self.dir.join("dovecot.out");
            let output = File::create(&output_path)
                .map_err(io_context(format!("creating {}", output_path.display())))?;
            let errors = output
                .try_clone()
                .map_err(io_context(format!("opening {}", output_path.display())))?;
            let child = Command::new(binary)
                .arg("-F")
                .arg("-c")
                .arg(&conf)
                .stdin(Stdio::null())
                .stdout(Stdio::from(output))
                .stderr(Stdio::from(errors))
                .spawn()
                .map_err(io_context(format!("running {}", binary.display())))?;
            self.master = Some(child);
            match self.wait_ready() {
                Ok(()) => return Ok(()),
                Err(Ready::Failed(error)) => return Err(error),
                Err(Ready::Exited(error)) => {
                    let output = std::fs::read_to_string(&output_path).unwrap_or_default();
                    let in_use = output.contains("in use") || self.log_tail(20).contains("in use");
                    if !in_use {
                        return Err(error);
                    }
                    last = Some(error);
                }
            }
        }
        Err(last.unwrap_or_else(|| self.start_error("no free ports")))
    }

    fn start_error(&self, reason: &str) -> DovecotError {
        let log = self.dir.join("dovecot.log");
        let output = std::fs::read_to_string(self.dir.join("dovecot.out")).unwrap_or_default();
        DovecotError::Start {
            reason: format!(
                "{reason}{}{}",
                if output.is_empty() { "" } else { "; output: " },
                output.trim()
            ),
            tail: tail(&log, 30),
            log: log.display().to_string(),
        }
    }

    /// Waits until both ports accept and the plaintext one greets with `+OK`.
    fn wait_ready(&mut self) -> Result<(), Ready> {
        let deadline = Instant::now() + START_TIMEOUT;
        let mut last = String::from("no attempt");
        while Instant::now() < deadline {
            if let Some(child) = self.master.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.master = None;
                return Err(Ready::Exited(
                    self.start_error(&format!("dovecot exited with {status}")),
                ));
            }
            match greeting(self.pop3).and_then(|g| {
                TcpStream::connect_timeout(&self.pop3s, Duration::from_millis(500))?;
                Ok(g)
            }) {
                // Dovecot's own greeting: the port was free a moment ago, and a server
                // of a test running alongside could have taken it since.
                Ok(line) if line.starts_with("+OK") && line.contains("Dovecot") => {
                    return Ok(());
                }
                Ok(line) => last = format!("unexpected greeting {line:?}"),
                Err(e) => last = e.to_string(),
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(Ready::Failed(self.start_error(&format!(
            "no greeting within {START_TIMEOUT:?} on {} ({last})",
            self.pop3
        ))))
    }

    /// SIGTERM, then SIGKILL for the master and its children if needed.
    fn stop(&mut self) {
        let Some(mut master) = self.master.take() else {
            return;
        };
        let pid = master.id();
        let initial = children(pid);
        signal("TERM", &[pid]);
        let deadline = Instant::now() + STOP_GRACE;
        loop {
            match master.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                // Dovecot 2.3 can hang on shutdown (stats-writer).
                _ => {
                    let mut all = children(pid);
                    all.push(pid);
                    signal("KILL", &all);
                    let _ = master.wait();
                    break;
                }
            }
        }
        // Children outliving their master must go too.
        let stragglers: Vec<u32> = initial.into_iter().filter(|&c| is_alive(c)).collect();
        if !stragglers.is_empty() {
            signal("KILL", &stragglers);
        }
    }
}

/// Why [`Dovecot::wait_ready`] gave up.
enum Ready {
    /// Dovecot exited (perhaps a port was taken: worth retrying).
    Exited(DovecotError),
    /// It runs but does not greet.
    Failed(DovecotError),
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What to do when Dovecot is (not) available: run it, skip the test (giving `notice`
/// the reason), or fail in CI.
fn policy(
    available: Result<PathBuf, String>,
    ci: bool,
    notice: impl FnOnce(&str),
) -> Result<Option<PathBuf>, DovecotError> {
    crate::skip::decide(
        available,
        "Dovecot not installed or not usable",
        DovecotError::Required,
        ci,
        notice,
    )
}

/// The Dovecot binary, if it is installed and we are root.
fn availability() -> Result<PathBuf, String> {
    let binary = find_binary("dovecot").ok_or("no dovecot binary in PATH or /usr/sbin")?;
    if !is_root() {
        return Err("not running as root".into());
    }
    Ok(binary)
}

fn find_binary(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| {
            candidate
                .metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

fn is_root() -> bool {
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        // "Uid:\treal\teffective\tsaved\tfs"
        if let Some(uids) = status.lines().find_map(|l| l.strip_prefix("Uid:")) {
            return uids.split_whitespace().nth(1) == Some("0");
        }
    }
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn validate(options: &DovecotOptions) -> Result<(), DovecotError> {
    let bad = |s: &str| s.is_empty() || s.contains([':', '\n', '\r', '\0']);
    if bad(&options.user) || options.user.contains('/') || options.user.starts_with('.') {
        return Err(DovecotError::InvalidOption(
            "user must be non-empty, without ':', '/', line ends or a leading '.'",
        ));
    }
    if bad(&options.password) {
        return Err(DovecotError::InvalidOption(
            "password must be non-empty, without ':' or line ends",
        ));
    }
    Ok(())
}

/// A new, world-traversable directory under the system temp dir.
fn unique_dir() -> Result<PathBuf, DovecotError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    // Short: Dovecot's UNIX sockets live below it and socket paths are limited.
    let dir = std::env::temp_dir().join(format!(
        "p3tk-{}-{}-{nanos:x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    ));
    create_dir(&dir, 0o755)?;
    Ok(dir)
}

fn create_dir(path: &Path, mode: u32) -> Result<(), DovecotError> {
    std::fs::create_dir(path).map_err(io_context(format!("creating {}", path.display())))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(io_context(format!("chmod {}", path.display())))
}

fn write_file(path: &Path, data: &[u8], mode: u32) -> Result<(), DovecotError> {
    std::fs::write(path, data).map_err(io_context(format!("writing {}", path.display())))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(io_context(format!("chmod {}", path.display())))
}

fn chown_recursive(path: &Path) -> Result<(), DovecotError> {
    std::os::unix::fs::chown(path, Some(MAIL_OWNER), Some(MAIL_OWNER))
        .map_err(io_context(format!("chown {}", path.display())))?;
    if path.is_dir() {
        let entries =
            std::fs::read_dir(path).map_err(io_context(format!("listing {}", path.display())))?;
        for entry in entries {
            let entry = entry.map_err(io_context(format!("listing {}", path.display())))?;
            chown_recursive(&entry.path())?;
        }
    }
    Ok(())
}

/// Two loopback ports that were free a moment ago.
fn free_ports() -> Result<(SocketAddr, SocketAddr), DovecotError> {
    let bind = || {
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .map_err(io_context("finding a free port"))
    };
    // Both bound before either is released, so they differ.
    let first =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(io_context("finding a free port"))?;
    let second = bind()?;
    let first = first
        .local_addr()
        .map_err(io_context("finding a free port"))?;
    Ok((first, second))
}

/// Connects and reads the greeting line.
fn greeting(addr: SocketAddr) -> io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line)?;
    let _ = stream.write_all(b"QUIT\r\n");
    Ok(line)
}

/// The last lines of a file.
fn tail(path: &Path, lines: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            let mut out = String::new();
            for line in &all[all.len().saturating_sub(lines)..] {
                let _ = writeln!(out, "{line}");
            }
            out
        }
        Err(e) => format!("(cannot read: {e})"),
    }
}

fn children(pid: u32) -> Vec<u32> {
    Command::new("pgrep")
        .arg("-P")
        .arg(pid.to_string())
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

fn signal(name: &str, pids: &[u32]) {
    let _ = Command::new("kill")
        .arg(format!("-{name}"))
        .args(pids.iter().map(u32::to_string))
        .output();
}

/// Whether a process exists and is not a zombie.
fn is_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // "pid (comm) state ..."; comm may contain spaces and parentheses.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => {
            if Path::new("/proc/self").exists() {
                false
            } else {
                Command::new("kill")
                    .arg("-0")
                    .arg(pid.to_string())
                    .output()
                    .is_ok_and(|o| o.status.success())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_has_every_placeholder() {
        for placeholder in ["$DIR", "$PORT", "$TLSPORT", "$LOCK"] {
            assert!(CONFIG_TEMPLATE.contains(placeholder), "{placeholder}");
        }
    }

    #[test]
    fn options_are_validated() {
        let bad_user = DovecotOptions {
            user: "a:b".into(),
            ..DovecotOptions::default()
        };
        assert!(validate(&bad_user).is_err());
        let bad_password = DovecotOptions {
            password: "x\ny".into(),
            ..DovecotOptions::default()
        };
        assert!(validate(&bad_password).is_err());
        assert!(validate(&DovecotOptions::default()).is_ok());
    }

    #[test]
    fn unavailable_dovecot_skips_outside_ci_and_fails_in_ci() {
        let missing = || Err("no dovecot binary".to_owned());
        let mut said = None;
        let skipped = policy(missing(), false, |reason| said = Some(reason.to_owned()));
        assert!(matches!(skipped, Ok(None)), "{skipped:?}");
        let said = said.expect("a skip notice");
        assert!(said.contains("no dovecot binary"), "{said}");
        let in_ci = |_: &str| panic!("a skip notice in CI");
        match policy(missing(), true, in_ci) {
            Err(e @ DovecotError::Required(_)) => {
                let message = e.to_string();
                assert!(
                    message.contains("install dovecot-core and dovecot-pop3d"),
                    "{message}"
                );
            }
            other => panic!("expected Required, got {other:?}"),
        }
        let found = policy(Ok(PathBuf::from("/usr/sbin/dovecot")), true, in_ci);
        assert!(matches!(found, Ok(Some(p)) if p.ends_with("dovecot")));
    }

    #[test]
    fn liveness_of_self_and_of_nothing() {
        assert!(is_alive(std::process::id()));
        assert!(!is_alive(u32::MAX - 1));
    }
}
