//! A dot-heavy mailbox (a third of the lines start with `.`) against a dot-free one of the
//! same size, through each format, fed exactly as a POP3 client would: the dot-stuffed wire
//! bytes go through `pop3_proto::DotDecoder` in 16 KiB reads, and every slice it returns is
//! handed to the writer as one chunk (the decoder splits a chunk at each line starting
//! with a dot). Prints time, throughput, chunks, `write(2)` calls for message data (per
//! MB) and for the state file, fsyncs, and the dot-heavy / dot-free time ratio per format
//! (the goal: within 1.3×). A mailbox holds about two dozen messages of 16 KiB to 1 MiB,
//! so the per-message writes (one at least, plus the mbox spool's) are in the figures.
//!
//! `cargo bench -p pop3-store --bench dot_heavy` runs the full 8 MiB mailboxes, best of
//! several runs; under `cargo test` (no `--bench` argument) a 1 MiB quick pass checks it
//! works. Files go to `/dev/shm` when it exists, so that the numbers show the write path
//! rather than the disk's fsync latency (fsyncs are counted and printed too); set
//! `POP3_STORE_BENCH_DIR` to measure another file system.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::cast_precision_loss)] // bench code: a panic is a failure report; figures are approximate

use std::path::PathBuf;
use std::time::{Duration, Instant};

use pop3_proto::{DotDecoder, DotEncoder};
use pop3_store::{Account, Store, StoreOptions, StoreStats, Target};

/// How the bytes arrive from a socket.
const READ: usize = 16 * 1024;

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

/// One message's bytes as the server sends them: dot-stuffed and terminated.
fn wire(messages: &[Vec<u8>]) -> Vec<Vec<u8>> {
    messages
        .iter()
        .map(|m| {
            let mut w = Vec::with_capacity(m.len() + m.len() / 64 + 8);
            DotEncoder::encode_all(m, &mut w);
            w
        })
        .collect()
}

/// Makes a destination inside a directory.
type MakeTarget = dyn Fn(&std::path::Path) -> Target;

/// What one run measured.
struct Run {
    time: Duration,
    chunks: u64,
    body_bytes: u64,
    stats: StoreStats,
}

/// Decodes every message as a client does, handing each chunk to `sink`.
fn decode(bytes: &[u8], mut sink: impl FnMut(&[u8])) {
    let mut decoder = DotDecoder::new();
    let (mut start, mut visible) = (0, READ.min(bytes.len()));
    loop {
        let step = decoder.decode(&bytes[start..visible]);
        if !step.data.is_empty() {
            sink(step.data);
        }
        start += step.consumed;
        if step.finished {
            break;
        }
        if step.consumed == 0 {
            // The next 16 KiB "read" from the socket.
            visible = (visible + READ).min(bytes.len());
        }
    }
}

/// The decoder alone, the part of each run that is not the store's.
fn decode_only(wire: &[Vec<u8>]) -> Duration {
    let started = Instant::now();
    let mut total = 0usize;
    for bytes in wire {
        decode(bytes, |chunk| total += std::hint::black_box(chunk).len());
    }
    std::hint::black_box(total);
    started.elapsed()
}

/// Stores every message of `wire` into a fresh `target`, decoding as a client does.
fn run(make_target: &MakeTarget, wire: &[Vec<u8>]) -> Run {
    let dir = tempfile::tempdir_in(bench_dir()).unwrap();
    let account = Account::new("bench", "localhost", 110);
    let store = Store::open(StoreOptions::new(make_target(dir.path()), account.clone())).unwrap();
    let (mut chunks, mut body_bytes) = (0u64, 0u64);
    let started = Instant::now();
    for (n, bytes) in wire.iter().enumerate() {
        let mut writer = store.begin(&account, &format!("uid-{n}")).unwrap();
        decode(bytes, |chunk| {
            writer.write(chunk).unwrap();
            chunks += 1;
            body_bytes += chunk.len() as u64;
        });
        drop(writer.commit().unwrap());
    }
    store.sync().unwrap();
    let time = started.elapsed();
    let stats = store.stats();
    store.close().unwrap();
    Run {
        time,
        chunks,
        body_bytes,
        stats,
    }
}

fn bench_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("POP3_STORE_BENCH_DIR") {
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
    let (total, rounds) = if full { (8 << 20, 25) } else { (1 << 20, 1) };
    let heavy = wire(&mailbox(total, true));
    let free = wire(&mailbox(total, false));
    println!(
        "pop3-store dot_heavy ({} mode): {:.1} MiB mailboxes, {} KiB reads, best of {rounds}, files in {}",
        if full { "full" } else { "quick" },
        total as f64 / f64::from(1 << 20),
        READ / 1024,
        bench_dir().display()
    );
    let formats: [(&str, &MakeTarget); 3] = [
        ("eml", &|d| Target::EmlDir(d.join("eml"))),
        ("maildir", &|d| Target::Maildir(d.join("Maildir"))),
        ("mbox", &|d| Target::Mbox(d.join("mbox"))),
    ];
    let decoding: Vec<f64> = [&free, &heavy]
        .iter()
        .map(|w| {
            (0..rounds)
                .map(|_| decode_only(w))
                .min()
                .unwrap_or_default()
                .as_secs_f64()
        })
        .collect();
    println!(
        "decoder alone: dot-free {:.2} ms, dot-heavy {:.2} ms (included in the times below)",
        decoding[0] * 1e3,
        decoding[1] * 1e3
    );
    println!(
        "{:<8} {:<9} {:>7} {:>7} {:>7} {:>12} {:>14} {:>13} {:>7}",
        "format",
        "mailbox",
        "ms",
        "MB/s",
        "chunks",
        "data writes",
        "data writes/MB",
        "state writes",
        "fsyncs"
    );
    let mut worst: f64 = 0.0;
    for (name, target) in formats {
        // Alternating runs share whatever else the machine is doing.
        let mut runs: [Vec<Run>; 2] = [Vec::new(), Vec::new()];
        for _ in 0..rounds {
            runs[0].push(run(target, &free));
            runs[1].push(run(target, &heavy));
        }
        let mut best = Vec::new();
        for (kind, runs) in ["dot-free", "dot-heavy"].into_iter().zip(runs) {
            let r = runs.into_iter().min_by_key(|r| r.time).unwrap();
            let mb = r.body_bytes as f64 / 1e6;
            let data_writes = r.stats.write_calls - r.stats.state_write_calls;
            println!(
                "{name:<8} {kind:<9} {:>7.2} {:>7.0} {:>7} {:>12} {:>14.1} {:>13} {:>7}",
                r.time.as_secs_f64() * 1e3,
                mb / r.time.as_secs_f64(),
                r.chunks,
                data_writes,
                data_writes as f64 / mb,
                r.stats.state_write_calls,
                r.stats.fsyncs
            );
            best.push(r.time.as_secs_f64());
        }
        let ratio = best[1] / best[0];
        let store_ratio = (best[1] - decoding[1]) / (best[0] - decoding[0]);
        worst = worst.max(ratio);
        println!(
            "{name:<8} dot-heavy / dot-free time: {ratio:.2}x (store alone, decoder subtracted: {store_ratio:.2}x)"
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
