//! CPU cost of listing and planning a big maildrop: 100 000 messages' UIDL and LIST
//! answers parsed by the core (fed as a server would send them), joined into a
//! snapshot, selected against a set of UIDs, planned, and handed out in batches.
//!
//! `cargo bench -p pop3-multi --bench plan_100k` (100 000 messages, best of 5); under
//! `cargo test` a quick check with 2 000.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use pop3_multi::plan::{Plan, SessionId};
use pop3_session::proto::task::{Action, Execution, Snapshot};
use pop3_session::proto::{Client, Config, Pipelining};

/// The server's answers to UIDL and LIST for `count` messages.
fn answers(count: u32) -> Vec<u8> {
    let mut out = b"+OK\r\n".to_vec();
    for n in 1..=count {
        out.extend_from_slice(format!("{n} 0000{n:08x}.uid-{n}\r\n").as_bytes());
    }
    out.extend_from_slice(b".\r\n+OK\r\n");
    for n in 1..=count {
        out.extend_from_slice(format!("{n} {}\r\n", 1_000 + u64::from(n % 97) * 1_000).as_bytes());
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// A client past the greeting and a login, ready for transaction commands.
fn logged_in() -> Client {
    let mut client = Client::new(Config::new().pipelining(Pipelining::Always));
    let login = [
        pop3_session::proto::Command::User("a".into()),
        pop3_session::proto::Command::Pass("b".into()),
    ];
    client.enqueue_input(b"+OK\r\n+OK\r\n+OK\r\n");
    let _ = client.progress();
    for command in login {
        client.send(command).expect("send");
        while client.progress().is_err() {}
    }
    client
}

/// Parses, joins, selects, plans and hands out; returns the CPU-bound time.
fn run(count: u32, wire: &[u8]) -> Duration {
    let mut client = logged_in();
    let started = Instant::now();
    let mut exec = Execution::new(Snapshot::new());
    let mut fed = false;
    let entries = loop {
        match exec.step(&mut client).expect("snapshot") {
            Action::Read if !fed => {
                // One read holds the whole answer: the parser's cost, not the feeding's.
                client.enqueue_input(wire);
                fed = true;
            }
            Action::Done(entries) => break entries,
            Action::Write(_) | Action::Read | Action::Body(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(entries.len(), count as usize);
    // --new: half the UIDs were fetched before.
    let seen: HashSet<&str> = entries.iter().step_by(2).map(|e| e.uid.as_str()).collect();
    let fresh: Vec<_> = entries
        .iter()
        .filter(|e| !seen.contains(e.uid.as_str()))
        .cloned()
        .collect();
    let mut plan = Plan::from_snapshot(&fresh, 3);
    let sessions = 5;
    for s in 0..sessions {
        plan.session_opened(SessionId(s));
    }
    let mut handed = 0;
    let mut s = 0;
    while plan.has_pending() {
        let size = plan.batch_size(sessions);
        let batch = plan.take(SessionId(s % sessions), size);
        for job in &batch {
            plan.receiving(SessionId(s % sessions), &job.uid);
            plan.committing(SessionId(s % sessions), &job.uid);
            plan.delivered(SessionId(s % sessions), &job.uid);
        }
        handed += batch.len();
        s += 1;
    }
    assert_eq!(handed, fresh.len());
    assert!(plan.is_complete());
    started.elapsed()
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (count, runs) = if full { (100_000, 5) } else { (2_000, 1) };
    let wire = answers(count);
    let best = (0..runs).map(|_| run(count, &wire)).min().expect("a run");
    println!(
        "listed and planned {count} messages ({} KiB of UIDL and LIST answers) in {:.1} ms of CPU (best of {runs})",
        wire.len() / 1024,
        best.as_secs_f64() * 1000.0
    );
}
