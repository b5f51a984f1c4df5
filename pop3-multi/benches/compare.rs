//! The comparison benchmark of issue 8: `pop3-multi` in every mode beside Python's
//! `poplib` and `mpop`, listing headers and fetching a mailbox into a Maildir, against a
//! real Dovecot and the test kit's `TestServer`, behind a 20 ms round trip and on bare
//! loopback, all in one run so that every ratio compares figures taken side by side.
//!
//! `bash scripts/bench.sh` installs `python3` and `mpop` when missing and runs
//! `cargo bench -p pop3-multi --bench compare`: 2000 messages of about 10 kB, implicit TLS
//! everywhere, for each target (Dovecot through the proxy, `TestServer` through the proxy,
//! Dovecot bare, `TestServer` bare) our list modes, our fetch modes (with one mpop run
//! after each round), then poplib. Our modes run in rounds (one run of each mode per round,
//! each round starting one mode later than the last, five rounds) and report the median; a
//! mode slower than 5 s in the first round runs once (lockstep at 20 ms: ratios that large
//! need no median), and so does each poplib configuration. mpop runs once per round, beside
//! ours, so that its median and ours are taken over the same minutes.
//!
//! Without `--bench` (as `cargo test --all-targets` runs it) it is a quick check that the
//! bench works: 50 messages, `TestServer` on bare loopback, our modes only, one run each.
//!
//! Environment: `CONNECTIONS` (N for the "N sessions" modes, default 5), `MESSAGES` and
//! `RUNS` (to try the full bench on less: default 2000 and 5), `ROUTES` (`proxy`, `bare`
//! or both, default both), `OPERATIONS` (`list`, `fetch` or both, default both), `SERVERS`
//! (`dovecot`, `testserver` or both, default both), `IO_THREADS` (the store's, default 4), `BENCH_DIR`
//! (where the Maildirs go, default Cargo's target tmp dir: a real disk, so that fsync
//! costs what it costs), `PYTHON` (default `python3`), `MPOP` (default `mpop`).
//! Dovecot needs root; without it, or without Python or mpop, their rows are skipped with
//! a notice.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use pop3_multi::{FetchRequest, Multi, MultiConnectionMode, MultiOptions, plan};
use pop3_store::{Account, AsyncStore, StoreOptions, Target};
use pop3_testkit::{Dovecot, DovecotOptions, LatencyProxy, TestServer, mailbox};
use pop3_tokio::{ConnectOptions, Login, Pipelining, TlsMode};

/// The mailbox generator's seed (the number).
const SEED: u64 = 8;
/// About this many bytes per message.
const MESSAGE_SIZE: usize = 10_000;
/// I/O threads of the store by default (its documentation: two to four are plenty; the
/// `pop3` command uses four).
const IO_THREADS: usize = 4;
/// A mode or client slower than this in its first run is not run again.
const SLOW: Duration = Duration::from_secs(5);
/// Pipelined session counts tried besides N, to find the best fixed count.
const SWEEP: [usize; 6] = [1, 2, 3, 4, 6, 8];

/// What the bench runs.
struct Config {
    full: bool,
    count: usize,
    runs: usize,
    connections: usize,
    one_way: Duration,
    io_threads: usize,
    /// With the latency proxy, on bare loopback, or both (in that order).
    routes: Vec<bool>,
    operations: Vec<Operation>,
    /// Which servers: Dovecot, `TestServer`.
    servers: [bool; 2],
}

/// A server: where it listens (implicit TLS) and how to log in.
struct Server {
    name: &'static str,
    addr: SocketAddr,
    ca_file: PathBuf,
    ca_pem: String,
    user: String,
    password: String,
}

/// A server as reached by the clients: through a latency proxy or directly.
struct Endpoint<'a> {
    server: &'a Server,
    port: u16,
    label: String,
    /// Whether it is one of the targets (Dovecot) and which latency it has.
    dovecot: bool,
    latency: bool,
    /// The proxy in between, whose round-trip count each run reads.
    proxy: Option<&'a LatencyProxy>,
}

impl Endpoint<'_> {
    fn round_trips(&self) -> Option<usize> {
        self.proxy.map(LatencyProxy::round_trips)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Operation {
    List,
    Fetch,
}

impl Operation {
    fn name(self) -> &'static str {
        match self {
            Self::List => "list-with-headers",
            Self::Fetch => "fetch-all to a Maildir",
        }
    }
}

/// One of our modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// This many sessions, one command in flight each.
    Lockstep(usize),
    /// This many sessions, pipelined.
    Pipelined(usize),
    /// `MultiConnectionMode::Auto`, pipelined.
    Auto,
}

impl Mode {
    fn name(self) -> String {
        match self {
            Self::Lockstep(1) => "pop3-multi, single, lockstep".into(),
            Self::Pipelined(1) => "pop3-multi, single, pipelined".into(),
            Self::Lockstep(n) => format!("pop3-multi, {n} sessions, lockstep"),
            Self::Pipelined(n) => format!("pop3-multi, {n} sessions, pipelined"),
            Self::Auto => "pop3-multi, Auto".into(),
        }
    }

    fn options(self) -> MultiOptions {
        match self {
            Self::Lockstep(1) | Self::Pipelined(1) => {
                MultiOptions::new().mode(MultiConnectionMode::Disable)
            }
            Self::Lockstep(n) | Self::Pipelined(n) => MultiOptions::new()
                .mode(MultiConnectionMode::Enable)
                .connections(n),
            Self::Auto => MultiOptions::new().mode(MultiConnectionMode::Auto),
        }
    }

    fn pipelining(self) -> Pipelining {
        match self {
            Self::Lockstep(_) => Pipelining::Never,
            Self::Pipelined(_) | Self::Auto => Pipelining::Auto,
        }
    }

    fn is_fixed(self) -> bool {
        self != Self::Auto
    }
}

/// Who produced a row.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Client {
    Ours(Mode),
    Poplib(usize),
    Mpop,
}

impl Client {
    fn name(&self) -> String {
        match self {
            Self::Ours(mode) => mode.name(),
            Self::Poplib(1) => "Python poplib, single, lockstep".into(),
            Self::Poplib(n) => format!("Python poplib, {n} connections in threads, lockstep"),
            Self::Mpop => "mpop (pipelining auto)".into(),
        }
    }
}

/// The runs of one client on one endpoint and operation.
struct Row {
    client: Client,
    secs: Vec<f64>,
    sessions: Vec<usize>,
    /// Round trips through the proxy per run, summed over the run's connections.
    round_trips: Vec<usize>,
    /// Before each fetch: how long the disk took to fsync a small file, in ms.
    fsync_ms: Vec<f64>,
}

/// What is read just before a run: the proxy's round trips, the disk's fsync latency.
struct Before {
    round_trips: Option<usize>,
    fsync_ms: Option<f64>,
}

impl Before {
    fn take(endpoint: &Endpoint<'_>, operation: Operation, work: &Path) -> Self {
        Self {
            fsync_ms: (operation == Operation::Fetch).then(|| fsync_probe(work)),
            round_trips: endpoint.round_trips(),
        }
    }
}

/// The median of five write-and-fsync cycles of a 4 KiB file where the Maildirs go: how
/// much the disk (shared with whatever else runs) charges for a message's fsync now.
fn fsync_probe(work: &Path) -> f64 {
    use std::io::Write as _;
    let path = work.join("fsync-probe");
    let mut times: Vec<f64> = (0..5)
        .map(|_| {
            let started = Instant::now();
            let mut file = std::fs::File::create(&path).expect("fsync probe");
            file.write_all(&[b'x'; 4096]).expect("fsync probe");
            file.sync_all().expect("fsync probe");
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    let _ = std::fs::remove_file(&path);
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

impl Row {
    fn new(client: Client) -> Self {
        Self {
            client,
            secs: Vec::new(),
            sessions: Vec::new(),
            round_trips: Vec::new(),
            fsync_ms: Vec::new(),
        }
    }

    /// Records one run, with the round trips it took when `before` was counted.
    fn push(&mut self, secs: f64, sessions: usize, endpoint: &Endpoint<'_>, before: &Before) {
        self.secs.push(secs);
        self.sessions.push(sessions);
        if let (Some(before), Some(after)) = (before.round_trips, endpoint.round_trips()) {
            self.round_trips.push(after - before);
        }
        self.fsync_ms.extend(before.fsync_ms);
    }

    fn fsync_ms(&self) -> String {
        let mut ms = self.fsync_ms.clone();
        ms.sort_by(f64::total_cmp);
        ms.get(ms.len() / 2)
            .map_or_else(|| "–".into(), |ms| format!("{ms:.2}"))
    }

    fn round_trips(&self) -> String {
        let mut trips = self.round_trips.clone();
        trips.sort_unstable();
        trips
            .get(trips.len() / 2)
            .map_or_else(|| "–".into(), ToString::to_string)
    }

    fn median(&self) -> f64 {
        let mut secs = self.secs.clone();
        secs.sort_by(f64::total_cmp);
        secs[secs.len() / 2]
    }

    fn sessions(&self) -> String {
        let set: BTreeSet<usize> = self.sessions.iter().copied().collect();
        match (set.first(), set.last()) {
            (Some(a), Some(b)) if a == b => a.to_string(),
            (Some(a), Some(b)) => format!("{a}–{b}"),
            _ => "–".into(),
        }
    }
}

/// One table: an endpoint and an operation.
struct Table {
    endpoint: String,
    dovecot: bool,
    latency: bool,
    operation: Operation,
    rows: Vec<Row>,
}

impl Table {
    fn row(&self, client: &Client) -> Option<&Row> {
        self.rows
            .iter()
            .find(|r| r.client == *client && !r.secs.is_empty())
    }

    fn median(&self, client: &Client) -> Option<f64> {
        self.row(client).map(Row::median)
    }

    /// The fastest fixed mode of ours and its median.
    fn best_fixed(&self) -> Option<(Mode, f64)> {
        self.rows
            .iter()
            .filter_map(|r| match r.client {
                Client::Ours(mode) if mode.is_fixed() && !r.secs.is_empty() => {
                    Some((mode, r.median()))
                }
                _ => None,
            })
            .min_by(|a, b| a.1.total_cmp(&b.1))
    }

    fn print(&self, out: &mut String) {
        let _ = writeln!(out, "\n#### {}: {}\n", self.endpoint, self.operation.name());
        let baselines: Vec<(Client, &str)> = match self.operation {
            Operation::List => vec![
                (Client::Poplib(1), "vs poplib single lockstep"),
                (Client::Poplib(5), "vs poplib 5 connections"),
            ],
            Operation::Fetch => vec![(Client::Mpop, "vs mpop")],
        };
        let fetch = self.operation == Operation::Fetch;
        let _ = write!(
            out,
            "| client / mode | sessions | round trips |{} runs | median s |",
            if fetch { " fsync probe ms |" } else { "" }
        );
        for (_, title) in &baselines {
            let _ = write!(out, " {title} |");
        }
        let _ = write!(
            out,
            "\n|---|---|---|{}---|---|",
            if fetch { "---|" } else { "" }
        );
        for _ in &baselines {
            let _ = write!(out, "---|");
        }
        out.push('\n');
        for row in self.rows.iter().filter(|r| !r.secs.is_empty()) {
            let median = row.median();
            let _ = write!(
                out,
                "| {} | {} | {} |",
                row.client.name(),
                row.sessions(),
                row.round_trips(),
            );
            if fetch {
                let _ = write!(out, " {} |", row.fsync_ms());
            }
            let _ = write!(out, " {} | {median:.3} |", row.secs.len());
            for (client, _) in &baselines {
                match self.median(client) {
                    Some(base) => {
                        let _ = write!(out, " {:.2}× |", base / median);
                    }
                    None => out.push_str(" – |"),
                }
            }
            out.push('\n');
        }
    }
}

fn connect_options(endpoint: &Endpoint<'_>, pipelining: Pipelining) -> ConnectOptions {
    ConnectOptions::new("127.0.0.1")
        .port(endpoint.port)
        .tls(TlsMode::Implicit)
        .add_root_pem(endpoint.server.ca_pem.as_bytes())
        .expect("CA")
        .without_webpki_roots()
        .timeout(Duration::from_secs(120))
        .pipelining(pipelining)
}

/// A fresh, empty directory.
fn fresh(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).expect("create the Maildir's parent");
}

/// Files in a Maildir's `new/`.
fn delivered(maildir: &Path) -> usize {
    std::fs::read_dir(maildir.join("new")).map_or(0, |entries| {
        entries
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .count()
    })
}

/// One run of ours: seconds and sessions opened.
fn ours(
    runtime: &tokio::runtime::Runtime,
    config: &Config,
    endpoint: &Endpoint<'_>,
    operation: Operation,
    mode: Mode,
    work: &Path,
) -> (f64, usize) {
    let count = config.count;
    let server = endpoint.server;
    let maildir = work.join("maildir-ours");
    if operation == Operation::Fetch {
        fresh(&maildir);
    }
    let started = Instant::now();
    let connector = pop3_tokio::Client::connector(
        connect_options(endpoint, mode.pipelining()),
        Login::new(server.user.as_str(), server.password.as_str()),
    );
    let multi = Multi::new(connector).options(mode.options());
    let sessions = match operation {
        Operation::List => {
            let listing = runtime
                .block_on(multi.list_messages())
                .expect("list_messages");
            assert_eq!(listing.messages.len(), count, "{}", mode.name());
            assert!(listing.failed.is_empty(), "{:?}", listing.failed);
            listing.sessions
        }
        Operation::Fetch => {
            let account = Account::new(server.user.as_str(), "127.0.0.1", endpoint.port);
            let report = runtime.block_on(async {
                let store = AsyncStore::open(
                    StoreOptions::new(Target::Maildir(maildir.clone()), account.clone()),
                    config.io_threads,
                )
                .await
                .expect("open the store");
                let report = multi
                    .fetch(FetchRequest::new(&store, &account))
                    .await
                    .expect("fetch");
                store.close().await.expect("close the store");
                report
            });
            assert_eq!(report.stored.len(), count, "{}", mode.name());
            assert!(report.failed.is_empty(), "{:?}", report.failed);
            report.sessions
        }
    };
    let secs = started.elapsed().as_secs_f64();
    if operation == Operation::Fetch {
        assert_eq!(delivered(&maildir), count, "files in new/");
        let _ = std::fs::remove_dir_all(&maildir);
    }
    (secs, sessions)
}

/// One run of `scripts/poplib_bench.py`: seconds, or why not.
fn poplib(
    python: &str,
    endpoint: &Endpoint<'_>,
    operation: Operation,
    connections: usize,
    count: usize,
    work: &Path,
) -> Result<f64, String> {
    let server = endpoint.server;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/poplib_bench.py");
    let maildir = work.join("maildir-poplib");
    let mut command = Command::new(python);
    command
        .arg(&script)
        .arg("127.0.0.1")
        .arg(endpoint.port.to_string())
        .arg(&server.ca_file)
        .arg(&server.user)
        .arg(&server.password);
    match operation {
        Operation::List => {
            command.arg("list").arg(connections.to_string());
        }
        Operation::Fetch => {
            fresh(&maildir);
            command
                .arg("fetch")
                .arg(connections.to_string())
                .arg(&maildir);
        }
    }
    let output = command.output().map_err(|e| format!("{python}: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "poplib_bench.py failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut fields = stdout.split_whitespace();
    let secs: f64 = fields
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("poplib_bench.py printed {stdout:?}"))?;
    let done: usize = fields.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    if done != count {
        return Err(format!("poplib handled {done} messages of {count}"));
    }
    if operation == Operation::Fetch {
        let files = delivered(&maildir);
        let _ = std::fs::remove_dir_all(&maildir);
        if files != count {
            return Err(format!("poplib left {files} files of {count} in new/"));
        }
    }
    Ok(secs)
}

/// One run of mpop into a fresh Maildir: seconds, or why not.
fn run_mpop(
    binary: &str,
    endpoint: &Endpoint<'_>,
    count: usize,
    work: &Path,
) -> Result<f64, String> {
    use std::os::unix::fs::PermissionsExt;
    let server = endpoint.server;
    let maildir = work.join("maildir-mpop");
    fresh(&maildir);
    for sub in ["tmp", "new", "cur"] {
        std::fs::create_dir_all(maildir.join(sub)).map_err(|e| e.to_string())?;
    }
    let uidls = work.join("mpop-uidls");
    let _ = std::fs::remove_file(&uidls);
    let config = work.join("mpoprc");
    let text = format!(
        "defaults\n\
         timeout 120\n\
         account bench\n\
         host 127.0.0.1\n\
         port {port}\n\
         tls on\n\
         tls_starttls off\n\
         tls_trust_file {ca}\n\
         user {user}\n\
         auth plain\n\
         password {password}\n\
         delivery maildir {maildir}\n\
         keep on\n\
         only_new off\n\
         received_header off\n\
         uidls_file {uidls}\n\
         pipelining auto\n",
        port = endpoint.port,
        ca = server.ca_file.display(),
        user = server.user,
        password = server.password,
        maildir = maildir.display(),
        uidls = uidls.display(),
    );
    std::fs::write(&config, text).map_err(|e| e.to_string())?;
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let output = Command::new(binary)
        .arg("-C")
        .arg(&config)
        .arg("-q")
        .arg("bench")
        .output()
        .map_err(|e| format!("{binary}: {e}"))?;
    let secs = started.elapsed().as_secs_f64();
    if !output.status.success() {
        return Err(format!(
            "mpop failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let files = delivered(&maildir);
    let _ = std::fs::remove_dir_all(&maildir);
    if files != count {
        return Err(format!("mpop delivered {files} messages of {count}"));
    }
    Ok(secs)
}

/// Whether a program runs (`--version` or the given arguments succeed).
fn available(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The tools beside ours, when present.
struct Others {
    python: Option<String>,
    mpop: Option<String>,
}

/// Our modes, in the order of the tables.
fn modes(config: &Config) -> Vec<Mode> {
    let n = config.connections;
    let mut modes = vec![Mode::Lockstep(1)];
    if n > 1 {
        modes.push(Mode::Lockstep(n));
    }
    let counts: BTreeSet<usize> = if config.full {
        SWEEP.iter().copied().chain([n]).collect()
    } else {
        [1, n].into_iter().collect()
    };
    modes.extend(counts.into_iter().map(Mode::Pipelined));
    modes.push(Mode::Auto);
    modes
}

/// Our modes on one endpoint and operation, in rounds; for a fetch, one mpop run ends
/// each round, so that mpop's runs are spread over the same minutes as ours (the disk's
/// fsync latency drifts over minutes, and a ratio should not measure the drift).
fn our_rows(
    runtime: &tokio::runtime::Runtime,
    config: &Config,
    endpoint: &Endpoint<'_>,
    operation: Operation,
    mpop: Option<&str>,
    work: &Path,
    notices: &mut Vec<String>,
) -> Vec<Row> {
    let mut rows: Vec<Row> = modes(config)
        .into_iter()
        .map(|m| Row::new(Client::Ours(m)))
        .collect();
    let mut mpop_row = Row::new(Client::Mpop);
    let mut mpop = mpop.filter(|_| operation == Operation::Fetch);
    for round in 0..config.runs {
        // Each round starts one mode later: no mode always runs right after the same one
        // (after 8 sessions, say, whose server processes may still be exiting).
        let count = rows.len();
        for row in (0..count).map(|i| (i + round) % count) {
            let row = &mut rows[row];
            let Client::Ours(mode) = row.client else {
                continue;
            };
            if round > 0 && row.secs.first().is_some_and(|&s| s > SLOW.as_secs_f64()) {
                continue;
            }
            let before = Before::take(endpoint, operation, work);
            let (secs, sessions) = ours(runtime, config, endpoint, operation, mode, work);
            eprintln!(
                "  {} {}: {} {secs:.3} s, {sessions} sessions",
                endpoint.label,
                operation.name(),
                mode.name()
            );
            row.push(secs, sessions, endpoint, &before);
        }
        if let Some(binary) = mpop {
            let before = Before::take(endpoint, Operation::Fetch, work);
            match run_mpop(binary, endpoint, config.count, work) {
                Ok(secs) => {
                    eprintln!("  {} mpop run {round}: {secs:.3} s", endpoint.label);
                    mpop_row.push(secs, 1, endpoint, &before);
                }
                Err(e) => {
                    notices.push(format!("{}: mpop skipped: {e}", endpoint.label));
                    mpop_row.secs.clear();
                    mpop = None;
                }
            }
        }
    }
    rows.push(mpop_row);
    rows
}

/// Every client on one endpoint: the list table and the fetch table.
fn measure(
    runtime: &tokio::runtime::Runtime,
    config: &Config,
    others: &Others,
    endpoint: &Endpoint<'_>,
    work: &Path,
    notices: &mut Vec<String>,
) -> Vec<Table> {
    eprintln!("{}: warming up", endpoint.label);
    ours(
        runtime,
        config,
        endpoint,
        Operation::List,
        Mode::Pipelined(1),
        work,
    );
    let mut tables: Vec<Table> = config
        .operations
        .iter()
        .map(|&operation| Table {
            endpoint: endpoint.label.clone(),
            dovecot: endpoint.dovecot,
            latency: endpoint.latency,
            operation,
            rows: Vec::new(),
        })
        .collect();
    for table in &mut tables {
        table.rows = our_rows(
            runtime,
            config,
            endpoint,
            table.operation,
            others.mpop.as_deref(),
            work,
            notices,
        );
    }
    if let Some(python) = &others.python {
        for table in &mut tables {
            for connections in [1, 5] {
                let mut row = Row::new(Client::Poplib(connections));
                eprintln!(
                    "  {} {}: {} ...",
                    endpoint.label,
                    table.operation.name(),
                    row.client.name()
                );
                let before = Before::take(endpoint, table.operation, work);
                match poplib(
                    python,
                    endpoint,
                    table.operation,
                    connections,
                    config.count,
                    work,
                ) {
                    Ok(secs) => {
                        eprintln!("    {secs:.3} s");
                        row.push(secs, connections, endpoint, &before);
                    }
                    Err(e) => notices.push(format!(
                        "{} {}, {}: skipped: {e}",
                        endpoint.label,
                        table.operation.name(),
                        row.client.name()
                    )),
                }
                table.rows.push(row);
            }
        }
    }
    tables
}

/// A target line of the summary: `ours / baseline ≥ want`.
fn verdict(
    out: &mut String,
    what: &str,
    table: Option<&Table>,
    baseline: &Client,
    want: f64,
) -> Option<bool> {
    let table = table?;
    let auto = table.median(&Client::Ours(Mode::Auto))?;
    let Some(base) = table.median(baseline) else {
        let _ = writeln!(out, "- {what}: not judged ({} missing)", baseline.name());
        return None;
    };
    let ratio = base / auto;
    let pass = ratio >= want;
    let best = table
        .best_fixed()
        .map(|(mode, secs)| format!("; best fixed mode, {}: {:.2}×", mode.name(), base / secs))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "- {what}: Auto {auto:.3} s vs {} {base:.3} s = {ratio:.2}× (target ≥ {want}×): {}{best}",
        baseline.name(),
        if pass { "PASS" } else { "FAIL" },
    );
    Some(pass)
}

fn summary(tables: &[Table], out: &mut String) {
    let find = |dovecot: bool, latency: bool, operation: Operation| {
        tables
            .iter()
            .find(|t| t.dovecot == dovecot && t.latency == latency && t.operation == operation)
    };
    let _ = writeln!(out, "\n#### Targets (Dovecot, ratios within this run)\n");
    verdict(
        out,
        "list-with-headers, 20 ms: ≥ 150× poplib single lockstep",
        find(true, true, Operation::List),
        &Client::Poplib(1),
        150.0,
    );
    verdict(
        out,
        "list-with-headers, 20 ms: ≥ 30× poplib 5 connections",
        find(true, true, Operation::List),
        &Client::Poplib(5),
        30.0,
    );
    verdict(
        out,
        "fetch-all, 20 ms: ≥ 2× mpop",
        find(true, true, Operation::Fetch),
        &Client::Mpop,
        2.0,
    );
    verdict(
        out,
        "fetch-all, bare loopback: ≥ 1.5× mpop (every message fsynced before its rename)",
        find(true, false, Operation::Fetch),
        &Client::Mpop,
        1.5,
    );
    let _ = writeln!(
        out,
        "\n#### Auto against the best fixed count (median of the rounds; target: within 10%, at most {} sessions)\n",
        plan::MAX_AUTO_SESSIONS
    );
    for table in tables {
        let Some(auto) = table.row(&Client::Ours(Mode::Auto)) else {
            continue;
        };
        let Some((best, best_secs)) = table.best_fixed() else {
            continue;
        };
        let most = auto.sessions.iter().copied().max().unwrap_or(0);
        let over = auto.median() / best_secs - 1.0;
        let _ = writeln!(
            out,
            "- {}, {}: Auto {:.3} s with {} sessions; best fixed: {} {best_secs:.3} s; Auto is {:+.1}%: {}; sessions ≤ {}: {}",
            table.endpoint,
            table.operation.name(),
            auto.median(),
            auto.sessions(),
            best.name(),
            over * 100.0,
            if over <= 0.10 { "PASS" } else { "FAIL" },
            plan::MAX_AUTO_SESSIONS,
            if most <= plan::MAX_AUTO_SESSIONS {
                "PASS"
            } else {
                "FAIL"
            },
        );
    }
}

/// Where the Maildirs and the CA files go: `$BENCH_DIR` or Cargo's target tmp dir.
fn work_dir() -> PathBuf {
    let base = std::env::var_os("BENCH_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")), PathBuf::from);
    let dir = base.join(format!("compare-{}", std::process::id()));
    fresh(&dir);
    dir
}

fn server(
    name: &'static str,
    addr: SocketAddr,
    ca_pem: &str,
    user: &str,
    password: &str,
    work: &Path,
) -> Server {
    let ca_file = work.join(format!("ca-{}.pem", name.to_lowercase()));
    std::fs::write(&ca_file, ca_pem).expect("write the CA file");
    Server {
        name,
        addr,
        ca_file,
        ca_pem: ca_pem.to_owned(),
        user: user.to_owned(),
        password: password.to_owned(),
    }
}

/// A positive number from the environment, or the default.
fn number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .map_or(default, |n| {
            n.parse()
                .unwrap_or_else(|_| panic!("{name}: a number, not {n:?}"))
        })
        .max(1)
}

/// `ROUTES`: `proxy`, `bare` or both, comma-separated (default both).
fn routes() -> Vec<bool> {
    let value = std::env::var("ROUTES").unwrap_or_else(|_| "proxy,bare".into());
    let routes: Vec<bool> = value
        .split(',')
        .map(|route| match route.trim() {
            "proxy" => true,
            "bare" => false,
            other => panic!("ROUTES: proxy and/or bare, not {other:?}"),
        })
        .collect();
    assert!(!routes.is_empty(), "ROUTES: proxy and/or bare");
    routes
}

/// A comma-separated choice among `names` from the environment (default: all), as flags.
fn choice<const N: usize>(variable: &str, names: [&str; N]) -> [bool; N] {
    let Ok(value) = std::env::var(variable) else {
        return [true; N];
    };
    let mut chosen = [false; N];
    for word in value.split(',') {
        let word = word.trim();
        let Some(i) = names.iter().position(|n| *n == word) else {
            panic!("{variable}: some of {names:?}, not {word:?}");
        };
        chosen[i] = true;
    }
    assert!(chosen.contains(&true), "{variable}: some of {names:?}");
    chosen
}

#[allow(clippy::cast_precision_loss)] // 20 MB is far below 2^52
fn megabytes(bytes: usize) -> f64 {
    bytes as f64 / 1e6
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let connections = number("CONNECTIONS", 5);
    let config = if full {
        Config {
            full,
            count: number("MESSAGES", 2000),
            runs: number("RUNS", 5),
            connections,
            one_way: Duration::from_millis(10),
            io_threads: number("IO_THREADS", IO_THREADS),
            routes: routes(),
            operations: [Operation::List, Operation::Fetch]
                .into_iter()
                .zip(choice("OPERATIONS", ["list", "fetch"]))
                .filter_map(|(operation, chosen)| chosen.then_some(operation))
                .collect(),
            servers: choice("SERVERS", ["dovecot", "testserver"]),
        }
    } else {
        Config {
            full,
            count: 50,
            runs: 1,
            connections,
            one_way: Duration::ZERO,
            io_threads: number("IO_THREADS", IO_THREADS),
            routes: vec![false],
            operations: vec![Operation::List, Operation::Fetch],
            servers: [false, true],
        }
    };
    let work = work_dir();
    // As the `pop3` command runs: a multi-threaded runtime (the sessions are still one
    // task's futures; the runtime's other threads drive the sockets' readiness).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let messages = mailbox::generate(config.count, MESSAGE_SIZE, SEED);
    let bytes: usize = messages.iter().map(Vec::len).sum();
    let mut notices = Vec::new();

    let running = TestServer::builder().messages(messages.clone()).start();
    let test_server = server(
        "TestServer",
        running.tls_addr(),
        running.ca_pem(),
        running.user(),
        running.password(),
        &work,
    );

    let (dovecot, others) = if full {
        let dovecot = if config.servers[0] {
            match Dovecot::start(DovecotOptions {
                messages,
                ..DovecotOptions::default()
            }) {
                Ok(Some(d)) => Some(d),
                Ok(None) => {
                    notices
                        .push("Dovecot rows skipped: Dovecot is not installed or not root".into());
                    None
                }
                Err(e) => {
                    notices.push(format!("Dovecot rows skipped: {e}"));
                    None
                }
            }
        } else {
            None
        };
        let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
        let python = if available(&python, &["-c", "import poplib, ssl, threading"]) {
            Some(python)
        } else {
            notices.push(format!(
                "poplib rows skipped: {python} with poplib not found (bash scripts/bench.sh installs python3)"
            ));
            None
        };
        let mpop = std::env::var("MPOP").unwrap_or_else(|_| "mpop".into());
        let mpop = if available(&mpop, &["--version"]) {
            Some(mpop)
        } else {
            notices.push(format!(
                "mpop rows skipped: {mpop} not found (bash scripts/bench.sh installs mpop)"
            ));
            None
        };
        (dovecot, Others { python, mpop })
    } else {
        let none = Others {
            python: None,
            mpop: None,
        };
        (None, none)
    };
    let dovecot_server = dovecot.as_ref().map(|d| {
        server(
            "Dovecot",
            d.pop3s_addr(),
            d.ca_pem(),
            d.user(),
            d.password(),
            &work,
        )
    });

    // The run order of the issue: each target in turn, proxied ones first.
    let mut plans: Vec<(&Server, bool)> = Vec::new();
    for &latency in &config.routes {
        if let Some(d) = &dovecot_server {
            plans.push((d, latency));
        }
        if config.servers[1] {
            plans.push((&test_server, latency));
        }
    }

    let mut tables = Vec::new();
    for (server, latency) in plans {
        let proxy =
            latency.then(|| LatencyProxy::start(server.addr, config.one_way).expect("proxy"));
        let endpoint = Endpoint {
            server,
            port: proxy
                .as_ref()
                .map_or(server.addr.port(), |p| p.addr().port()),
            label: if latency {
                format!(
                    "{}, {} ms round trip",
                    server.name,
                    2 * config.one_way.as_millis()
                )
            } else {
                format!("{}, bare loopback", server.name)
            },
            dovecot: server.name == "Dovecot",
            latency,
            proxy: proxy.as_ref(),
        };
        tables.extend(measure(
            &runtime,
            &config,
            &others,
            &endpoint,
            &work,
            &mut notices,
        ));
        drop(proxy);
    }

    if let Some(d) = &dovecot {
        let on_disk = d.messages_on_disk();
        if on_disk != config.count {
            notices.push(format!(
                "Dovecot's mailbox changed: {on_disk} messages on disk, {} expected",
                config.count
            ));
        }
    }

    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n### Multi-connection\n\n`{}`: {} messages ({:.1} MB, `mailbox::generate({}, {MESSAGE_SIZE}, {SEED})`), implicit TLS, tokio adapter, N = {}, store with {} I/O threads; round trips: through the proxy, summed over a run's connections (median); fsync probe: median ms to write and fsync 4 KiB beside the Maildir just before each run (the disk is shared); our modes: median of {} rounds (a mode slower than {} s in the first round ran once); poplib: once per configuration; mpop: median of {} runs, one after each round of ours.",
        if full {
            "bash scripts/bench.sh"
        } else {
            "cargo test -p pop3-multi --bench compare (quick check)"
        },
        config.count,
        megabytes(bytes),
        config.count,
        config.connections,
        config.io_threads,
        config.runs,
        SLOW.as_secs(),
        config.runs,
    );
    for table in &tables {
        table.print(&mut out);
    }
    if full {
        summary(&tables, &mut out);
    } else {
        // The quick check proves the modes work; Auto's bound holds at any size.
        for table in &tables {
            let auto = table.row(&Client::Ours(Mode::Auto)).expect("Auto ran");
            assert!(
                auto.sessions
                    .iter()
                    .all(|&s| (1..=plan::MAX_AUTO_SESSIONS).contains(&s))
            );
        }
        let _ = writeln!(
            out,
            "\n(quick check: no latency, TestServer only, no poplib or mpop; `cargo bench` runs the full comparison)"
        );
    }
    if !notices.is_empty() {
        let _ = writeln!(out, "\nNotices:");
        for notice in &notices {
            let _ = writeln!(out, "- {notice}");
        }
    }
    println!("{out}");
    drop(dovecot);
    drop(running);
    let _ = std::fs::remove_dir_all(&work);
}
