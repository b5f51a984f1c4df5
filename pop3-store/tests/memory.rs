//! A message many times the buffer streams through each format with the buffer never
//! growing past its cap (the memory-bound proxy), and with writes that follow the bytes,
//! not the chunks. The full 1 GiB run with peak RSS is `examples/one_gib.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use std::fs;

use common::{alice, options};
use pop3_store::{Store, Target};

const CAP: usize = 64 * 1024;
const SIZE: usize = 24 * 1024 * 1024;

/// Feeds `SIZE` bytes of dot-heavy text in the chunk sizes a dot-unstuffer produces (one
/// chunk per line that started with a dot, up to 16 KiB otherwise).
fn feed(w: &mut pop3_store::MessageWriter) -> usize {
    w.write(b"Subject: big\r\n\r\n").unwrap();
    let line = b".a line that started with a dot on the wire, and some more text\r\n";
    let mut fed = 16;
    let mut block = Vec::new();
    while fed < SIZE {
        // Two lines that arrive in one chunk, then one whose dot split the chunk.
        block.clear();
        block.extend_from_slice(&line[1..]);
        block.extend_from_slice(&line[1..]);
        w.write(&block).unwrap();
        w.write(&line[1..]).unwrap();
        fed += block.len() + line.len() - 1;
    }
    fed
}

#[test]
fn large_messages_stay_within_the_buffer_and_write_in_blocks() {
    for (kind, target) in [
        ("eml", Target::EmlDir("e".into())),
        ("maildir", Target::Maildir("m".into())),
        ("mbox", Target::Mbox("x".into())),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let target = match target {
            Target::EmlDir(p) => Target::EmlDir(dir.path().join(p)),
            Target::Maildir(p) => Target::Maildir(dir.path().join(p)),
            Target::Mbox(p) => Target::Mbox(dir.path().join(p)),
            _ => unreachable!(),
        };
        let store = Store::open(options(target.clone(), &alice()).buffer_capacity(CAP)).unwrap();
        let mut w = store.begin(&alice(), "big").unwrap();
        let fed = feed(&mut w);
        w.commit().unwrap().wait().unwrap();
        let stats = store.stats();
        store.close().unwrap();

        assert!(stats.peak_buffer <= CAP, "{kind}: {stats:?}");
        assert!(
            stats.peak_buffer >= CAP / 2,
            "{kind}: the buffer was not used: {stats:?}"
        );
        // One write per (nearly) full buffer; mbox writes twice (spool, then append).
        let passes = if kind == "mbox" { 2 } else { 1 };
        let max_writes = passes * (SIZE / (CAP * 3 / 4) + 2) + 8;
        assert!(
            stats.write_calls <= max_writes as u64,
            "{kind}: {stats:?} > {max_writes}"
        );
        let on_disk: u64 = match &target {
            Target::EmlDir(d) => fs::metadata(d.join("big.eml")).unwrap().len(),
            Target::Maildir(d) => fs::metadata(common::paths_in(&d.join("new")).pop().unwrap())
                .unwrap()
                .len(),
            _ => fs::metadata(target.path()).unwrap().len(),
        };
        let expected_min = if kind == "eml" { fed } else { fed * 64 / 66 };
        assert!(
            on_disk as usize >= expected_min,
            "{kind}: {on_disk} < {expected_min}"
        );
    }
}
