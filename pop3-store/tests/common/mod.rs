//! Helpers shared by the integration tests: stores in temporary directories, generated
//! messages, a small mboxrd reader, and reference transformations.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use pop3_store::{Account, MessageWriter, Store, StoreOptions, Target};

pub fn alice() -> Account {
    Account::new("alice", "pop.example.com", 995)
}

pub fn bob() -> Account {
    Account::new("bob smith@corp", "pop.example.com", 995)
}

/// Options for a store that does not wait for locks unless told.
pub fn options(target: Target, account: &Account) -> StoreOptions {
    StoreOptions::new(target, account.clone()).lock_timeout(Duration::from_millis(0))
}

pub fn open(target: Target, account: &Account) -> Store {
    Store::open(options(target, account)).expect("open store")
}

/// A message as POP3 delivers it after dot-unstuffing: CRLF lines, with the lines mboxrd
/// must quote, dots, a lone CR, and `seed`-dependent filler up to about `size` bytes.
pub fn message(seed: usize, size: usize) -> Vec<u8> {
    let mut m = format!(
        "Return-Path: <sender{seed}@example.org>\r\nDate: Wed, 25 Nov 2026 12:00:00 +0000\r\n\
         Subject: message {seed}\r\nMessage-ID: <{seed}@example.org>\r\n\r\n"
    )
    .into_bytes();
    let lines: [&[u8]; 8] = [
        b"From the start of a line\r\n",
        b">From already quoted\r\n",
        b">>From twice\r\n",
        b".a line that was dot-stuffed\r\n",
        b"plain text, lone \r cr inside\r\n",
        b"\r\n",
        b"From\r\n",
        b"Fro",
    ];
    let mut i = seed;
    while m.len() < size {
        m.extend_from_slice(lines[i % lines.len()]);
        m.extend_from_slice(format!("filler {seed} {i}\r\n").as_bytes());
        i = i.wrapping_mul(31).wrapping_add(7) % 1_000_003;
    }
    m.extend_from_slice(b"end\r\n");
    m
}

/// CRLF → LF, the obvious way.
pub fn to_lf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\r' && bytes.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// One mbox record, as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub from_line: String,
    /// The body with mboxrd quoting undone and the separating blank line removed.
    pub body: Vec<u8>,
}

/// Reads an mboxrd file: a record starts at a `From ` line at the start of the file or
/// after a blank line; `^>+From ` loses one `>`.
pub fn read_mboxrd(bytes: &[u8]) -> Vec<Record> {
    let mut records: Vec<Record> = Vec::new();
    let mut prev_blank = true;
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        if prev_blank && line.starts_with(b"From ") {
            if let Some(last) = records.last_mut() {
                assert_eq!(
                    last.body.pop(),
                    Some(b'\n'),
                    "record not ended by a blank line"
                );
            }
            records.push(Record {
                from_line: String::from_utf8_lossy(line).trim_end().to_owned(),
                body: Vec::new(),
            });
        } else {
            let record = records.last_mut().expect("data before the first From line");
            let gts = line.iter().take_while(|&&b| b == b'>').count();
            if gts > 0 && line[gts..].starts_with(b"From ") {
                record.body.extend_from_slice(&line[1..]);
            } else {
                record.body.extend_from_slice(line);
            }
        }
        prev_blank = line == b"\n";
    }
    if let Some(last) = records.last_mut() {
        assert_eq!(
            last.body.pop(),
            Some(b'\n'),
            "last record not ended by a blank line"
        );
    }
    records
}

/// Writes `data` in chunks of the given sizes, cycling.
pub fn write_chunked(writer: &mut MessageWriter, data: &[u8], sizes: &[usize]) {
    let mut rest = data;
    let mut sizes = sizes.iter().copied().cycle();
    while !rest.is_empty() {
        let n = sizes.next().unwrap_or(1).clamp(1, rest.len());
        writer.write(&rest[..n]).expect("write");
        rest = &rest[n..];
    }
}

/// Stores one message and waits until it is durable.
pub fn store_one(store: &Store, account: &Account, uid: &str, data: &[u8]) {
    let mut w = store.begin(account, uid).expect("begin");
    w.write(data).expect("write");
    w.commit().expect("commit").wait().expect("durable");
}

/// The contents of the files in a directory, sorted.
pub fn files_in(dir: &Path) -> Vec<Vec<u8>> {
    let mut all: Vec<Vec<u8>> = paths_in(dir).iter().map(|p| fs::read(p).unwrap()).collect();
    all.sort();
    all
}

pub fn paths_in(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    paths
}

pub fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}
