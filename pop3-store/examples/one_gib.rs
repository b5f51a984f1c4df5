//! Streams one large message (1 GiB unless told) into a store and reports the process's
//! peak resident memory: the footprint stays at the buffers' size, not the message's.
//!
//! ```text
//! cargo run --release -p pop3-store --example one_gib -- maildir|mbox|eml [BYTES] [DIR]
//! ```
//!
//! The message arrives the way a POP3 client hands it over: in chunks of at most 16 KiB,
//! split at every line that started with a dot on the wire (a third of the lines here).
//! DIR defaults to a temporary directory under the system's; it is removed afterwards.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::cast_precision_loss)] // example code: a panic is a failure report; figures are approximate

use std::time::Instant;

use pop3_store::{Account, Store, StoreOptions, Target};

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let format = args.next().unwrap_or_else(|| "maildir".into());
    let size: u64 = args.next().map_or(1 << 30, |s| s.parse().expect("BYTES"));
    let base = args.next().map_or_else(std::env::temp_dir, Into::into);
    let dir = tempfile::tempdir_in(base).unwrap();
    let target = match format.as_str() {
        "maildir" => Target::Maildir(dir.path().join("Maildir")),
        "mbox" => Target::Mbox(dir.path().join("mbox")),
        "eml" => Target::EmlDir(dir.path().join("eml")),
        other => panic!("unknown format {other:?}: maildir, mbox or eml"),
    };
    let account = Account::new("big", "localhost", 110);
    let store = Store::open(StoreOptions::new(target, account.clone())).unwrap();
    let rss_before = peak_rss_kib();

    // 16 KiB "reads": two plain lines, then one that the dot-unstuffer cut off.
    let plain = b"a line of a very large message, as plain as any other line is\r\n";
    let dotted = b"a line that started with a dot on the wire: its chunk is cut\r\n";
    let mut read = Vec::with_capacity(16 * 1024);
    while read.len() + 2 * plain.len() <= read.capacity() {
        read.extend_from_slice(plain);
        read.extend_from_slice(plain);
    }
    let started = Instant::now();
    let mut writer = store.begin(&account, "big-1").unwrap();
    writer.write(b"Subject: one big message\r\n\r\n").unwrap();
    let mut written = 0u64;
    while written < size {
        writer.write(&read).unwrap();
        writer.write(dotted).unwrap();
        written += (read.len() + dotted.len()) as u64;
    }
    writer.commit().unwrap().wait().unwrap();
    let elapsed = started.elapsed();
    let stats = store.stats();
    store.close().unwrap();

    println!(
        "{format}: {:.2} GiB in {:.1} s ({:.0} MB/s); peak RSS {} KiB (before writing: {} KiB); \
         largest buffer {} KiB; {} write calls, {} fsyncs",
        written as f64 / f64::from(1 << 30),
        elapsed.as_secs_f64(),
        written as f64 / 1e6 / elapsed.as_secs_f64(),
        peak_rss_kib().map_or_else(|| "?".into(), |k| k.to_string()),
        rss_before.map_or_else(|| "?".into(), |k| k.to_string()),
        stats.peak_buffer / 1024,
        stats.write_calls,
        stats.fsyncs,
    );
}
