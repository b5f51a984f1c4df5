//! `pop3 bench` and `pop3 demo`: the commercial libraries' comparison, in one command.
//!
//! Aspose.Email's tutorial lists a mailbox with `ListMessages` on one connection, then with
//! `UseMultiConnection` and five connections, and prints the ratio of the two times as
//! `performanceRelation`. The bench does that in every mode a POP3 client can run: one
//! connection or N, each in lockstep (one command in flight, what every library without
//! pipelining does) or pipelined, and Auto. It only lists (`TOP n 0`): it never deletes.
//!
//! Without `--host` the server is the embedded one, with a generated mailbox behind a
//! proxy that adds the round trip of a real network; the proxy also counts the round
//! trips each mode takes, which is what the times follow.

use pop3_tokio::AsyncSession as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pop3_multi::{MultiConnectionMode, MultiOptions};
use pop3_proto::Pipelining;

use crate::args::BenchArgs;
use crate::connect::{DemoSetup, Target, fixed_sessions};
use crate::error::{CliError, exit};
use crate::output::{self, plural};
use crate::progress::Bar;

/// N when `--connections` is `auto`: the commercial library's example.
const DEFAULT_CONNECTIONS: usize = 5;

/// One way of running list-with-headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    SingleLockstep,
    SinglePipelined,
    MultiLockstep,
    MultiPipelined,
    Auto,
}

impl Mode {
    /// The modes run with N connections, baseline first (N = 1 leaves out the repeats).
    fn all(n: usize) -> Vec<Self> {
        let mut modes = vec![Self::SingleLockstep, Self::SinglePipelined];
        if n > 1 {
            modes.extend([Self::MultiLockstep, Self::MultiPipelined]);
        }
        modes.push(Self::Auto);
        modes
    }

    /// The stable name in JSON.
    fn id(self) -> &'static str {
        match self {
            Self::SingleLockstep => "single-lockstep",
            Self::SinglePipelined => "single-pipelined",
            Self::MultiLockstep => "multi-lockstep",
            Self::MultiPipelined => "multi-pipelined",
            Self::Auto => "auto",
        }
    }

    /// The name in the table.
    fn label(self, n: usize) -> String {
        match self {
            Self::SingleLockstep => "single lockstep".into(),
            Self::SinglePipelined => "single pipelined".into(),
            Self::MultiLockstep => format!("{n} lockstep"),
            Self::MultiPipelined => format!("{n} pipelined"),
            Self::Auto => "auto".into(),
        }
    }

    fn pipelined(self) -> bool {
        self != Self::SingleLockstep && self != Self::MultiLockstep
    }

    /// The coordinator's options and the sessions' pipelining policy.
    fn setup(self, n: usize) -> (MultiOptions, Pipelining) {
        let options = match self {
            Self::SingleLockstep | Self::SinglePipelined => fixed_sessions(1),
            Self::MultiLockstep | Self::MultiPipelined => fixed_sessions(n),
            Self::Auto => MultiOptions::new().mode(MultiConnectionMode::Auto),
        };
        let pipelining = if self.pipelined() {
            Pipelining::Auto
        } else {
            Pipelining::Never
        };
        (options, pipelining)
    }
}

/// How one mode went.
#[derive(Debug)]
struct Run {
    mode: Mode,
    /// Sessions the run opened (Auto's choice, or fewer than asked if the server
    /// refused some).
    connections: usize,
    /// Whether its commands were pipelined: a pipelined mode against a server that does
    /// not advertise PIPELINING runs in lockstep.
    pipelined: bool,
    seconds: f64,
    /// Round trips counted by the proxy (embedded server only).
    round_trips: Option<usize>,
    /// Messages whose headers could not be listed, or why the run failed as a whole.
    trouble: Option<String>,
}

/// `pop3 bench` (`demo` false) and `pop3 demo`.
pub(crate) async fn run(
    target: &Target,
    args: &BenchArgs,
    demo: bool,
    json: bool,
    quiet: bool,
) -> Result<ExitCode, CliError> {
    let n = target.connections().unwrap_or(DEFAULT_CONNECTIONS);
    // One session first: credentials and TLS fail here, once, rather than in every mode.
    let mut client = target.session().await?;
    let size = client.stat().await?;
    let advertised = client
        .protocol()
        .capabilities()
        .is_some_and(pop3_proto::Capabilities::pipelining);
    client.quit().await?;
    let human = !json;
    if human {
        describe(target, args, demo, n, size.messages, size.octets);
        if !advertised {
            output::line(
                "note: the server does not advertise PIPELINING, so the pipelined modes run \
                 in lockstep",
            );
        }
        output::line(&header());
        output::flush();
    }
    let mut runs: Vec<Run> = Vec::new();
    for mode in Mode::all(n) {
        let run = time(target, mode, n, advertised, human && !quiet).await?;
        // Single lockstep runs first: it is its own baseline.
        let baseline = runs.first().unwrap_or(&run);
        let speedup = (baseline.trouble.is_none() && run.trouble.is_none())
            .then(|| baseline.seconds / run.seconds.max(f64::EPSILON));
        if json {
            output::json(&as_json(&run, speedup));
        } else {
            output::line(&row(&run, n, speedup));
        }
        output::flush();
        runs.push(run);
    }
    if human {
        conclude(&runs, n, demo);
    }
    Ok(if runs.iter().all(|r| r.trouble.is_none()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(exit::PARTIAL)
    })
}

/// The setup for `bench` and `demo` without `--host`.
pub(crate) fn demo_setup(args: &BenchArgs) -> DemoSetup {
    DemoSetup {
        messages: args.messages as usize,
        message_size: args.size as usize,
        round_trip: Duration::from_millis(u64::from(args.latency_ms)),
    }
}

/// Lists the maildrop's headers in `mode`, timing the whole run: connecting, TLS and
/// login included, as a user waits for them.
async fn time(
    target: &Target,
    mode: Mode,
    n: usize,
    advertised: bool,
    show_progress: bool,
) -> Result<Run, CliError> {
    let pipelined = mode.pipelined() && advertised;
    let (options, pipelining) = mode.setup(n);
    let bar = Arc::new(Bar::new(show_progress, true));
    let events = Arc::clone(&bar);
    let multi = target
        .multi_with(options, pipelining)?
        .on_progress(move |event| events.event(event));
    let trips_before = target.round_trips();
    let started = Instant::now();
    let listing = multi.list_messages().await;
    let seconds = started.elapsed().as_secs_f64();
    bar.finish();
    let round_trips = target
        .round_trips()
        .zip(trips_before)
        .map(|(after, before)| after - before);
    Ok(match listing {
        Ok(listing) => Run {
            mode,
            connections: listing.sessions,
            pipelined,
            seconds,
            round_trips,
            trouble: (!listing.failed.is_empty()).then(|| {
                format!(
                    "{} of {} messages not listed",
                    listing.failed.len(),
                    listing.failed.len() + listing.messages.len()
                )
            }),
        },
        Err(e) => Run {
            mode,
            connections: 0,
            pipelined,
            seconds,
            round_trips,
            trouble: Some(output::clean(&CliError::from(e).one_line())),
        },
    })
}

/// What is about to be measured, and with which defaults.
fn describe(target: &Target, args: &BenchArgs, demo: bool, n: usize, count: u32, octets: u64) {
    let mailbox = format!(
        "{count} message{} ({}.{} MB)",
        plural(count as usize),
        octets / 1_000_000,
        octets / 100_000 % 10
    );
    let server = if target.is_embedded() {
        format!(
            "the embedded server on 127.0.0.1 with a fresh generated mailbox of {mailbox}, \
             behind a proxy adding a {} ms round trip ({} ms each way)",
            args.latency_ms,
            f64::from(args.latency_ms) / 2.0
        )
    } else {
        format!("{} ({mailbox})", target.address())
    };
    if demo {
        output::line(&format!(
            "pop3 demo: listing every message with its headers (TOP n 0, as Aspose.Email's \
             ListMessages does) from {server}, over {}.",
            target.tls_words()
        ));
        output::line(&format!(
            "Five ways: one connection or {n} (the commercial library's \
             ConnectionsQuantity example), each in lockstep (one command in flight, as \
             poplib and most libraries do) or pipelined (RFC 2449), and auto (the library's \
             default: it picks the number of connections). Nothing is deleted."
        ));
    } else {
        output::line(&format!(
            "list-with-headers from {server}, over {}; N = {n}",
            target.tls_words()
        ));
    }
}

fn header() -> String {
    format!(
        "{:<18} {:>11} {:>10} {:>9} {:>11} {:>9}",
        "mode", "connections", "pipelining", "seconds", "round trips", "speed-up"
    )
}

fn row(run: &Run, n: usize, speedup: Option<f64>) -> String {
    let trips = run
        .round_trips
        .map_or_else(|| "-".to_owned(), |t| t.to_string());
    let speedup = speedup.map_or_else(|| "-".to_owned(), |x| format!("{x:.1}x"));
    let mut line = format!(
        "{:<18} {:>11} {:>10} {:>9.3} {:>11} {:>9}",
        run.mode.label(n),
        run.connections,
        if run.pipelined { "on" } else { "off" },
        run.seconds,
        trips,
        speedup
    );
    if let Some(trouble) = &run.trouble {
        line.push_str("  ");
        line.push_str(trouble);
    }
    line
}

fn as_json(run: &Run, speedup: Option<f64>) -> serde_json::Value {
    let mut object = serde_json::json!({
        "mode": run.mode.id(),
        "connections": run.connections,
        "pipelining": run.pipelined,
        "seconds": (run.seconds * 1000.0).round() / 1000.0,
        "speedup": speedup.map(|x| (x * 100.0).round() / 100.0),
    });
    if let Some(trips) = run.round_trips {
        object["round_trips"] = trips.into();
    }
    if let Some(trouble) = &run.trouble {
        object["error"] = trouble.clone().into();
    }
    object
}

/// The ratio the commercial tutorial prints, and for the demo what to try next.
fn conclude(runs: &[Run], n: usize, demo: bool) {
    let ok = |mode: Mode| runs.iter().find(|r| r.mode == mode && r.trouble.is_none());
    if let (Some(single), Some(best)) = (
        ok(Mode::SingleLockstep),
        ok(Mode::MultiPipelined).or_else(|| ok(Mode::SinglePipelined)),
    ) {
        output::line(&format!(
            "performanceRelation (single lockstep / {}): {:.1}",
            best.mode.label(n),
            single.seconds / best.seconds.max(f64::EPSILON)
        ));
    }
    if let (Some(lockstep), Some(pipelined)) = (ok(Mode::MultiLockstep), ok(Mode::MultiPipelined)) {
        output::line(&format!(
            "with {n} connections, pipelining alone is another {:.1}x",
            lockstep.seconds / pipelined.seconds.max(f64::EPSILON)
        ));
    }
    if demo {
        output::line(
            "Measure your own server (read-only): pop3 --host HOST --user USER bench \
             (password from POP3_PASSWORD or --password-file)",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_put_the_baseline_first_and_skip_repeats_for_one_connection() {
        assert_eq!(Mode::all(5).first(), Some(&Mode::SingleLockstep));
        assert_eq!(Mode::all(5).len(), 5);
        assert_eq!(
            Mode::all(1),
            [Mode::SingleLockstep, Mode::SinglePipelined, Mode::Auto]
        );
    }

    #[test]
    fn lockstep_modes_never_pipeline() {
        for mode in Mode::all(5) {
            let (_, pipelining) = mode.setup(5);
            assert_eq!(
                pipelining == Pipelining::Never,
                !mode.pipelined(),
                "{mode:?}"
            );
        }
        assert_eq!(
            Mode::MultiPipelined.setup(7).0.connection_mode(),
            MultiConnectionMode::Enable
        );
        assert_eq!(Mode::MultiPipelined.setup(7).0.connection_count(), 7);
        assert_eq!(
            Mode::SinglePipelined.setup(7).0.connection_mode(),
            MultiConnectionMode::Disable
        );
    }

    /// The demo's defaults, which its header states when they are not overridden (the
    /// CLI suite checks the header with the values given): 2000 messages, a 20 ms round
    /// trip, N = 5.
    #[test]
    fn the_demo_defaults_to_2000_messages_20_ms_and_5_connections() {
        use clap::Parser as _;
        let cli = crate::args::Cli::try_parse_from(["pop3", "demo"]).unwrap();
        let crate::args::Command::Demo(args) = &cli.command else {
            panic!("not the demo: {:?}", cli.command);
        };
        assert_eq!(args.messages, 2000);
        assert_eq!(args.latency_ms, 20);
        let setup = demo_setup(args);
        assert_eq!(setup.messages, 2000);
        assert_eq!(setup.round_trip, Duration::from_millis(20));
        // `--connections` defaults to auto, where the bench's N is this.
        assert_eq!(cli.connections, crate::args::Connections::Auto);
        assert_eq!(DEFAULT_CONNECTIONS, 5);
    }

    #[test]
    fn rows_align_with_the_header() {
        let run = Run {
            mode: Mode::MultiPipelined,
            connections: 5,
            pipelined: true,
            seconds: 0.25,
            round_trips: Some(12),
            trouble: None,
        };
        let line = row(&run, 5, Some(160.04));
        assert_eq!(line.len(), header().len(), "{line}\n{}", header());
        assert!(line.starts_with("5 pipelined "), "{line}");
        assert!(line.ends_with("160.0x"), "{line}");
        let value = as_json(&run, Some(160.04));
        assert_eq!(value["mode"], "multi-pipelined");
        assert_eq!(value["pipelining"], true);
        assert_eq!(value["speedup"], 160.04);
        assert_eq!(value["round_trips"], 12);
    }
}
