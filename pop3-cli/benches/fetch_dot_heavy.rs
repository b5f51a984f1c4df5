//! End to end: `pop3 fetch` (the built binary, in its own process) against the test kit's
//! `TestServer` (in this process, over implicit TLS on loopback), for a dot-heavy mailbox
//! (a third of the lines start with `.`) and a dot-free one of the same size, into each
//! format, and an empty mailbox for the fixed cost of a run (process start, TLS, login).
//! Prints the median time of five runs, throughput, and the store's `write(2)`
//! calls per MB of mail (its `StoreStats`, which `pop3 -v fetch` logs; an mbox message
//! is written twice, to its spool and then appended), then the dot-heavy / dot-free time
//! ratio per format, also with the fixed cost subtracted. The goal: within 1.3×.
//!
//! The binary is the one Cargo builds for this bench (`CARGO_BIN_EXE_pop3`, which Cargo
//! sets for benches as for integration tests): the figure includes process start, TLS,
//! login, the server's dot-stuffing and the client's unstuffing, the store, and fsyncs.
//!
//! `cargo bench -p pop3-cli --bench fetch_dot_heavy` runs 8 MiB mailboxes; under
//! `cargo test --all-targets` (no `--bench` argument) a 1 MiB quick pass checks that it
//! works. Files go to `/dev/shm` when it exists, so that the figures show the client
//! rather than the disk's fsync latency; set `POP3_BENCH_DIR` to measure another file
//! system.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::cast_precision_loss)] // bench code: a panic is a failure report; figures are approximate

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use pop3_testkit::TestServer;

/// A mailbox of messages between 16 KiB and 1 MiB, `total` bytes in all; in the dot-heavy
/// one every third line starts with a dot, in the other the same line has an `x` instead.
fn mailbox(total: usize, dots: bool) -> Vec<Vec<u8>> {
    let sizes = [16 << 10, 64 << 10, 256 << 10, 1 << 20];
    let mut messages = Vec::new();
    let mut sum = 0;
    let mut state = 0x2545_f491_u32;
    while sum < total {
        let size = sizes[messages.len() % sizes.len()]
            .min(total - sum)
            .max(1024);
        let mut m = format!(
            "Return-Path: <bob@example.org>\r\nDate: Wed, 25 Nov 2026 12:00:00 +0000\r\n\
             Subject: message {}\r\n\r\n",
            messages.len()
        )
        .into_bytes();
        let mut line = 0;
        while m.len() < size {
            m.push(match (line % 3, dots) {
                (0, true) => b'.',
                (0, false) => b'x',
                _ => b'a',
            });
            for _ in 0..70 {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                m.push(b"abcdefghijklmnopqrstuvwxyz .,"[(state % 29) as usize]);
            }
            m.extend_from_slice(b"\r\n");
            line += 1;
        }
        sum += m.len();
        messages.push(m);
    }
    messages
}

/// One `pop3 fetch`: its time and the store's counters.
struct Run {
    time: Duration,
    write_calls: u64,
    state_write_calls: u64,
    fsyncs: u64,
}

/// A field `name=N` of the `store` line that `pop3 -v fetch` logs.
fn counter(log: &str, name: &str) -> u64 {
    let line = log
        .lines()
        .find(|l| l.contains(" store") && l.contains("write_calls"))
        .unwrap_or_else(|| panic!("no store line in:\n{log}"));
    // The log is coloured: drop the escape sequences first.
    let mut plain = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain
        .split_whitespace()
        .find_map(|field| field.strip_prefix(name)?.strip_prefix('='))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {plain}"))
}

/// Runs `pop3 -v fetch FLAG DIR` against `server` into a fresh directory.
fn fetch(server: &TestServer, ca: &Path, flag: &str, messages: usize) -> Run {
    let dir = tempfile::tempdir_in(bench_dir()).unwrap();
    let dest = dir.path().join("dest");
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_pop3"))
        .args(["--host", "127.0.0.1", "--port"])
        .arg(server.tls_addr().port().to_string())
        .arg("--ca-file")
        .arg(ca)
        .args(["--user", server.user(), "-v", "fetch", flag])
        .arg(&dest)
        .env("POP3_PASSWORD", server.password())
        .output()
        .unwrap();
    let time = started.elapsed();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains(&format!("fetched {messages} messages")),
        "{log}"
    );
    Run {
        time,
        write_calls: counter(&log, "write_calls"),
        state_write_calls: counter(&log, "state_write_calls"),
        fsyncs: counter(&log, "fsyncs"),
    }
}

fn bench_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("POP3_BENCH_DIR") {
        return dir.into();
    }
    let shm = PathBuf::from("/dev/shm");
    if shm.is_dir() {
        shm
    } else {
        std::env::temp_dir()
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (total, rounds) = if full { (8 << 20, 5) } else { (1 << 20, 1) };
    let mailboxes = [
        ("dot-free", mailbox(total, false)),
        ("dot-heavy", mailbox(total, true)),
        // The fixed cost of a run: process start, TLS, login, UIDL, state file, QUIT.
        ("empty", Vec::new()),
    ];
    let servers: Vec<TestServer> = mailboxes
        .iter()
        .map(|(_, m)| TestServer::builder().messages(m.clone()).start())
        .collect();
    let ca_dir = tempfile::tempdir().unwrap();
    let cas: Vec<PathBuf> = servers
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let path = ca_dir.path().join(format!("ca{i}.pem"));
            std::fs::write(&path, s.ca_pem()).unwrap();
            path
        })
        .collect();
    println!(
        "pop3 fetch end to end ({} mode): {:.1} MiB mailboxes of {} messages, median of {rounds}, files in {}",
        if full { "full" } else { "quick" },
        total as f64 / f64::from(1 << 20),
        mailboxes[0].1.len(),
        bench_dir().display()
    );
    println!(
        "{:<8} {:<9} {:>8} {:>7} {:>13} {:>15} {:>13} {:>7}",
        "format",
        "mailbox",
        "ms",
        "MB/s",
        "write calls",
        "write calls/MB",
        "state writes",
        "fsyncs"
    );
    let mut worst: f64 = 0.0;
    for (name, flag) in [
        ("eml", "--eml-dir"),
        ("maildir", "--maildir"),
        ("mbox", "--mbox"),
    ] {
        // Alternating runs share whatever else the machine is doing.
        let mut runs: [Vec<Run>; 3] = [Vec::new(), Vec::new(), Vec::new()];
        for _ in 0..rounds {
            for (k, runs) in runs.iter_mut().enumerate() {
                runs.push(fetch(&servers[k], &cas[k], flag, mailboxes[k].1.len()));
            }
        }
        let mut medians = Vec::new();
        for ((kind, messages), mut runs) in mailboxes.iter().zip(runs) {
            runs.sort_by_key(|r| r.time);
            let r = &runs[runs.len() / 2];
            // Per MB of mail (what the server holds), whatever the format writes.
            let mb = messages.iter().map(Vec::len).sum::<usize>() as f64 / 1e6;
            let (rate, per_mb) = if messages.is_empty() {
                ("-".to_owned(), "-".to_owned())
            } else {
                (
                    format!("{:.0}", mb / r.time.as_secs_f64()),
                    format!("{:.1}", r.write_calls as f64 / mb),
                )
            };
            println!(
                "{name:<8} {kind:<9} {:>8.1} {rate:>7} {:>13} {per_mb:>15} {:>13} {:>7}",
                r.time.as_secs_f64() * 1e3,
                r.write_calls,
                r.state_write_calls,
                r.fsyncs
            );
            medians.push(r.time.as_secs_f64());
        }
        let ratio = medians[1] / medians[0];
        let transfer = (medians[1] - medians[2]) / (medians[0] - medians[2]);
        worst = worst.max(ratio);
        println!(
            "{name:<8} dot-heavy / dot-free time: {ratio:.2}x (without the empty run's fixed cost: {transfer:.2}x)"
        );
    }
    println!(
        "worst ratio {worst:.2}x ({})",
        if worst <= 1.3 {
            "within 1.3x"
        } else {
            "OVER 1.3x"
        }
    );
}
