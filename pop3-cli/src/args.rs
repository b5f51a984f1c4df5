//! Command-line arguments, exactly as `CLI.md` (beside this crate) specifies them; a test
//! keeps the two in step.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use pop3_session::Fingerprint;

/// Shown after the options by `--help`.
const EXAMPLES: &str = "\
Examples:
  The comparison (lockstep vs pipelined, 1 vs 5 connections) on an embedded server:
    pop3 demo
  What a server offers, and the certificate fingerprint to pin:
    pop3 --host pop.example.com info
  Messages with their headers:
    POP3_PASSWORD=... pop3 --host pop.example.com --user alice list --headers
  New mail into a Maildir, deleting what is safely stored:
    pop3 --host pop.example.com --user alice --password-file ~/.pop3pass \\
         fetch --maildir ~/Maildir --new --delete
  A read-only speed test of your server, as JSON:
    pop3 --host pop.example.com --user alice --json bench
  STLS on port 110 with a private CA:
    pop3 --host mail.local --tls starttls --ca-file ca.pem --user alice stat

Password: POP3_PASSWORD, --password-file or --password-command; asked on a terminal otherwise.
Exit codes: 0 ok, 1 error, 2 usage, 3 authentication refused, 4 TLS or security refusal,
5 partial (some messages failed or were not deleted), 6 temporary refusal (retry later),
130 interrupted.";

/// POP3 client: list, fetch and delete mail; without `--host`, runs against an embedded
/// demo server.
#[derive(Debug, Parser)]
#[command(name = "pop3", version, about, long_about = None, after_help = EXAMPLES)]
pub(crate) struct Cli {
    /// Server to talk to; without it every command runs against the embedded demo server.
    #[arg(long, global = true, value_name = "HOST")]
    pub(crate) host: Option<String>,

    /// TCP port [default: 995 for implicit TLS, 110 otherwise].
    #[arg(long, global = true, value_name = "PORT")]
    pub(crate) port: Option<u16>,

    /// Implicit TLS, STLS upgrade (required, never opportunistic), or plaintext.
    #[arg(long, global = true, value_enum, default_value_t = TlsArg::Implicit)]
    pub(crate) tls: TlsArg,

    /// Extra trust anchors (PEM, one or more certificates). A self-signed server
    /// certificate given here is trusted as itself.
    #[arg(long = "ca-file", global = true, value_name = "PEM")]
    pub(crate) ca_file: Option<PathBuf>,

    /// Trust exactly the server certificate with this SHA-256 fingerprint (hex, colons
    /// optional, as `pop3 info` shows it), instead of a chain. Repeatable.
    #[arg(
        long = "tls-fingerprint",
        global = true,
        value_name = "SHA256",
        value_parser = parse_fingerprint,
        conflicts_with_all = ["ca_file", "insecure"]
    )]
    pub(crate) tls_fingerprint: Vec<Fingerprint>,

    /// Skip certificate verification (prints a warning).
    #[arg(long, global = true)]
    pub(crate) insecure: bool,

    /// Permit credentials over an unencrypted connection.
    #[arg(long = "allow-plaintext-auth", global = true)]
    pub(crate) allow_plaintext_auth: bool,

    /// Login name.
    #[arg(long, global = true, env = "POP3_USER", value_name = "USER")]
    pub(crate) user: Option<String>,

    /// Read the password from the first line of this file (else env `POP3_PASSWORD`).
    #[arg(long = "password-file", global = true, value_name = "FILE")]
    pub(crate) password_file: Option<PathBuf>,

    /// Run this shell command and use the first line of its output as the password.
    #[arg(long = "password-command", global = true, value_name = "CMD")]
    pub(crate) password_command: Option<String>,

    /// Authentication mechanism; auto picks the strongest the server offers.
    #[arg(long, global = true, value_enum, default_value_t = AuthArg::Auto)]
    pub(crate) auth: AuthArg,

    /// Parallel sessions: a number, or auto.
    #[arg(long, global = true, value_name = "N", default_value = "auto", value_parser = parse_connections)]
    pub(crate) connections: Connections,

    /// auto pipelines when CAPA lists PIPELINING; off is strict lockstep.
    #[arg(long, global = true, value_enum, default_value_t = PipeliningArg::Auto)]
    pub(crate) pipelining: PipeliningArg,

    /// Connect and handshake timeout; a status or listing line must complete within it
    /// from its first byte, and bodies must not stall longer; also how long fetch waits
    /// for another run to release the destination. In seconds, at least 1.
    #[arg(
        long,
        global = true,
        value_name = "SECS",
        default_value_t = 60,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub(crate) timeout: u64,

    /// Bound on the whole run, in seconds (decimals allowed): when it is reached, no
    /// new work starts, what completed is kept (fetch stores whole messages only), and
    /// the exit code is 5.
    #[arg(long = "max-time", global = true, value_name = "SECS", value_parser = parse_seconds)]
    pub(crate) max_time: Option<Duration>,

    /// Machine-readable output: one JSON object per line.
    #[arg(long, global = true)]
    pub(crate) json: bool,

    /// More logging on stderr (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,

    /// Less logging on stderr (repeat for less).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) quiet: u8,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum TlsArg {
    Implicit,
    Starttls,
    None,
}

impl TlsArg {
    /// The library's mode for this flag value.
    pub(crate) fn mode(self) -> pop3_session::TlsMode {
        match self {
            Self::Implicit => pop3_session::TlsMode::Implicit,
            Self::Starttls => pop3_session::TlsMode::StartTls,
            Self::None => pop3_session::TlsMode::Plain,
        }
    }
}

impl Cli {
    /// `host:port` of the server named by `--host` (the port by default for the TLS
    /// mode), for messages; `None` for the embedded server.
    pub(crate) fn server_address(&self) -> Option<String> {
        let host = self.host.as_ref()?;
        let mut options = pop3_session::ConnectOptions::new(host.as_str()).tls(self.tls.mode());
        if let Some(port) = self.port {
            options = options.port(port);
        }
        Some(options.address())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum AuthArg {
    Auto,
    User,
    Apop,
    Plain,
    Login,
    #[value(name = "cram-md5")]
    CramMd5,
    Xoauth2,
    Oauthbearer,
    #[value(name = "scram-sha-1")]
    ScramSha1,
    #[value(name = "scram-sha-256")]
    ScramSha256,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum PipeliningArg {
    Auto,
    On,
    Off,
}

/// `--connections`: a count, or `auto`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Connections {
    Auto,
    Count(usize),
}

fn parse_fingerprint(value: &str) -> Result<Fingerprint, String> {
    value
        .parse()
        .map_err(|e: pop3_session::InvalidFingerprint| e.to_string())
}

/// A positive number of seconds, decimals allowed.
fn parse_seconds(value: &str) -> Result<Duration, String> {
    match value.trim().parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs > 0.0 && secs <= 1e9 => {
            Ok(Duration::from_secs_f64(secs))
        }
        _ => Err("expected a number of seconds greater than 0".into()),
    }
}

fn parse_connections(value: &str) -> Result<Connections, String> {
    if value.eq_ignore_ascii_case("auto") {
        return Ok(Connections::Auto);
    }
    match value.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(Connections::Count(n)),
        _ => Err("expected a number of connections (1 or more) or 'auto'".into()),
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// The server's capabilities, one per line, as sent (after STLS with --tls starttls).
    Capa,
    /// What the server is: greeting, TLS, certificate (with the fingerprint to pin),
    /// capabilities in words, and whether it accepts a second concurrent session
    /// (needs credentials). Prints what it learned even when the certificate is refused,
    /// then exits 4.
    Info,
    /// Number of messages and total size: COUNT OCTETS.
    Stat,
    /// One line per message: NUMBER UID SIZE.
    List(ListArgs),
    /// Download messages to .eml files, a Maildir or an mbox.
    Fetch(FetchArgs),
    /// Delete messages by UID.
    Dele(DeleArgs),
    /// Time list-with-headers in lockstep and pipelined, on one and on N connections,
    /// and with auto; print each mode's speed-up over single lockstep. Read-only.
    Bench(BenchArgs),
    /// Start the embedded server (a fresh generated mailbox behind a 20 ms round trip) and
    /// run bench against it, saying what it does; with --host, run bench against that.
    Demo(BenchArgs),
    /// Print a shell completion script (bash, zsh, fish...) on stdout.
    Completions(CompletionsArgs),
    /// Print the man page (roff) on stdout: `pop3 man | man -l -`; or write every page.
    Man(ManArgs),
}

/// Which man page.
#[derive(Debug, Args)]
pub(crate) struct ManArgs {
    /// A command's own page (pop3-COMMAND(1)) instead of pop3(1).
    #[arg(value_name = "COMMAND", conflicts_with = "out_dir")]
    pub(crate) command: Option<String>,
    /// Write pop3.1 and every pop3-COMMAND.1 into this directory instead.
    #[arg(long = "out-dir", value_name = "DIR")]
    pub(crate) out_dir: Option<PathBuf>,
}

/// Which shell to complete for.
#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub(crate) shell: clap_complete::Shell,
}

/// The bench's setup; the mailbox and latency options shape the embedded server only.
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// Messages in the embedded server's generated mailbox.
    #[arg(long, value_name = "N", default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) messages: u32,
    /// Approximate size of each generated message, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 10_000)]
    pub(crate) size: u32,
    /// Round trip the proxy in front of the embedded server adds (half each way), in ms.
    #[arg(long = "latency-ms", value_name = "MS", default_value_t = 20)]
    pub(crate) latency_ms: u32,
}

#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// Also show date, from and subject (decoded), tab-separated.
    #[arg(long)]
    pub(crate) headers: bool,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("destination").required(true).args(["eml_dir", "maildir", "mbox"])))]
pub(crate) struct FetchArgs {
    /// Store each message as an `.eml` file named after its UID.
    #[arg(
        long = "eml-dir",
        value_name = "DIR",
        help = "Store each message as DIR/<UID>.eml, exactly as the server sent it (CRLF)"
    )]
    pub(crate) eml_dir: Option<PathBuf>,
    /// Store into a Maildir (created if missing), LF line ends.
    #[arg(long, value_name = "DIR")]
    pub(crate) maildir: Option<PathBuf>,
    /// Append to an mboxrd file, LF line ends.
    #[arg(long, value_name = "FILE")]
    pub(crate) mbox: Option<PathBuf>,
    /// Skip UIDs recorded in the state file for this account.
    #[arg(long)]
    pub(crate) new: bool,
    /// Record every current UID (or the --uid selection) as seen, without downloading.
    #[arg(long = "mark-seen", conflicts_with = "delete")]
    pub(crate) mark_seen: bool,
    /// The state file [default: DIR/.pop3-uidl, or FILE.pop3-uidl for mbox].
    #[arg(long, value_name = "FILE")]
    pub(crate) state: Option<PathBuf>,
    /// Delete the selected messages that are stored durably (this run, or recorded
    /// before), and commit with QUIT.
    #[arg(long)]
    pub(crate) delete: bool,
    /// Only these UIDs (repeatable).
    #[arg(long = "uid", value_name = "UID")]
    pub(crate) uids: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct DeleArgs {
    /// The UIDs to delete.
    #[arg(required = true, value_name = "UID")]
    pub(crate) uids: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// The in-repository reference, `CLI.md`.
    const REFERENCE: &str = include_str!("../CLI.md");

    /// The text of `## title` in the reference, up to the next section.
    fn section(title: &str) -> &'static str {
        let start = REFERENCE
            .find(&format!("\n## {title}\n"))
            .unwrap_or_else(|| panic!("no section {title}"));
        let rest = &REFERENCE[start + title.len() + 5..];
        &rest[..rest.find("\n## ").unwrap_or(rest.len())]
    }

    /// Every `--flag` spelled in `text`.
    fn flags(text: &str) -> std::collections::BTreeSet<String> {
        let mut found = std::collections::BTreeSet::new();
        let mut rest = text;
        while let Some(at) = rest.find("--") {
            let name: String = rest[at + 2..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            if !name.is_empty() {
                found.insert(name);
            }
            rest = &rest[at + 2..];
        }
        found
    }

    /// Long flags of a command's own arguments (globals excluded).
    fn defined(command: &clap::Command) -> std::collections::BTreeSet<String> {
        command
            .get_arguments()
            .filter(|a| !a.is_global_set())
            .filter_map(|a| a.get_long().map(str::to_owned))
            .filter(|name| name != "help" && name != "version")
            .collect()
    }

    #[test]
    fn the_reference_matches_the_definition() {
        let mut cli = Cli::command();
        cli.build();
        // Global options: the table's first column, both ways.
        let table: String = section("Global options")
            .lines()
            .filter_map(|line| line.strip_prefix("| `"))
            .map(|line| line.split('|').next().unwrap_or_default().to_owned())
            .collect();
        let globals: std::collections::BTreeSet<String> = cli
            .get_arguments()
            .filter_map(|a| a.get_long().map(str::to_owned))
            .filter(|name| name != "help" && name != "version")
            .collect();
        assert_eq!(flags(&table), globals, "global options");
        // Commands: one bullet each, naming every flag the command has, and no other.
        let commands = format!("\n{}", section("Commands"));
        let bullets: Vec<&str> = commands.split("\n- `").skip(1).collect();
        let mut documented = Vec::new();
        for sub in cli.get_subcommands().filter(|c| c.get_name() != "help") {
            let name = sub.get_name();
            let bullet = bullets
                .iter()
                .find(|b| b.starts_with(&format!("{name}`")) || b.starts_with(&format!("{name} ")))
                .unwrap_or_else(|| panic!("`{name}` is not in CLI.md"));
            let mentioned: std::collections::BTreeSet<String> = flags(bullet)
                .into_iter()
                .filter(|f| cli.get_arguments().all(|g| g.get_long() != Some(f)))
                .collect();
            assert_eq!(mentioned, defined(sub), "flags of `{name}`");
            documented.push(name.to_owned());
        }
        assert_eq!(
            bullets.len(),
            documented.len(),
            "commands in CLI.md: {bullets:?}"
        );
        // Exit codes: every code the command uses is explained.
        let codes = section("Exit codes");
        for code in [
            crate::error::exit::ERROR,
            crate::error::exit::USAGE,
            crate::error::exit::AUTH,
            crate::error::exit::SECURITY,
            crate::error::exit::PARTIAL,
            crate::error::exit::TEMPORARY,
            crate::interrupt::EXIT,
        ] {
            assert!(codes.contains(&format!("`{code}`")), "exit code {code}");
        }
    }

    #[test]
    fn the_contract_parses() {
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from([
            "pop3",
            "--host",
            "h",
            "--tls",
            "starttls",
            "--auth",
            "scram-sha-256",
            "--connections",
            "4",
            "--pipelining",
            "off",
            "--json",
            "-vv",
            "fetch",
            "--maildir",
            "m",
            "--new",
            "--uid",
            "a",
            "--uid",
            "b",
        ])
        .unwrap();
        assert_eq!(cli.connections, Connections::Count(4));
        assert_eq!(cli.verbose, 2);
        let Command::Fetch(fetch) = cli.command else {
            panic!()
        };
        assert_eq!(fetch.uids, ["a", "b"]);
        assert!(
            Cli::try_parse_from(["pop3", "fetch"]).is_err(),
            "a destination is required"
        );
        assert!(Cli::try_parse_from(["pop3", "--connections", "0", "stat"]).is_err());
        assert!(
            Cli::try_parse_from(["pop3", "--password", "x", "stat"]).is_err(),
            "no argv password"
        );
    }

    #[test]
    fn times_and_fingerprints() {
        let usage = |args: &[&str]| {
            let error = Cli::try_parse_from(args).unwrap_err();
            assert_eq!(error.exit_code(), 2, "{args:?}");
        };
        usage(&["pop3", "--timeout", "0", "stat"]);
        usage(&["pop3", "--max-time", "0", "stat"]);
        usage(&["pop3", "--max-time", "-1", "stat"]);
        usage(&["pop3", "--max-time", "soon", "stat"]);
        usage(&["pop3", "--tls-fingerprint", "AB:CD", "info"]);
        let pin = pop3_session::Fingerprint::of(b"cert").to_string();
        usage(&["pop3", "--tls-fingerprint", &pin, "--insecure", "info"]);
        usage(&[
            "pop3",
            "--tls-fingerprint",
            &pin,
            "--ca-file",
            "ca.pem",
            "info",
        ]);
        let cli = Cli::try_parse_from([
            "pop3",
            "--max-time",
            "1.5",
            "--tls-fingerprint",
            &pin.to_lowercase().replace(':', ""),
            "info",
        ])
        .unwrap();
        assert_eq!(cli.max_time, Some(Duration::from_millis(1500)));
        assert_eq!(
            cli.tls_fingerprint,
            [pop3_session::Fingerprint::of(b"cert")]
        );
        assert!(matches!(cli.command, Command::Info));
    }
}
