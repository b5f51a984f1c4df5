//! The `pop3` binary against the test kit's `TestServer` (started by each test, in
//! process) and against a real Dovecot: the contract of CLI.md, byte-exact storage, exit
//! codes. Every scenario runs against both; without Dovecot its runs print a skip notice.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use pop3_store::{Account, RecoveryReport, Store, StoreOptions, Target};
use pop3_testkit::{
    Dovecot, DovecotOptions, Fault, Profile, TestServer, TestServerBuilder, mailbox,
};
use rustix::process::{Pid, Signal, kill_process};

mod support;
use support::{code, command, pop3, stderr, stdout};

fn sorted<S: ToString>(items: impl IntoIterator<Item = S>) -> Vec<String> {
    let mut v: Vec<String> = items.into_iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

/// The server a scenario runs against.
enum Backend {
    Embedded(TestServer),
    Dovecot(Dovecot),
}

/// A server with these messages, and the CA written to a file.
struct Server {
    backend: Backend,
    dir: tempfile::TempDir,
}

impl Server {
    fn new(backend: Backend) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let server = Self { backend, dir };
        std::fs::write(server.ca_file(), server.ca_pem()).unwrap();
        server
    }

    /// A real Dovecot; `None` (after a printed notice) where it cannot run, outside CI.
    fn dovecot(messages: Vec<Vec<u8>>) -> Option<Self> {
        let options = DovecotOptions {
            messages,
            ..Default::default()
        };
        Dovecot::start(options)
            .unwrap()
            .map(|d| Self::new(Backend::Dovecot(d)))
    }

    fn ca_pem(&self) -> &str {
        match &self.backend {
            Backend::Embedded(s) => s.ca_pem(),
            Backend::Dovecot(d) => d.ca_pem(),
        }
    }

    fn ca_file(&self) -> std::path::PathBuf {
        self.dir.path().join("ca.pem")
    }

    fn password(&self) -> &str {
        match &self.backend {
            Backend::Embedded(s) => s.password(),
            Backend::Dovecot(d) => d.password(),
        }
    }

    /// The implicit-TLS port.
    fn tls_port(&self) -> String {
        match &self.backend {
            Backend::Embedded(s) => s.tls_addr(),
            Backend::Dovecot(d) => d.pop3s_addr(),
        }
        .port()
        .to_string()
    }

    /// The plaintext port (STLS offered).
    fn plain_port(&self) -> String {
        match &self.backend {
            Backend::Embedded(s) => s.addr(),
            Backend::Dovecot(d) => d.pop3_addr(),
        }
        .port()
        .to_string()
    }

    /// Messages still in the maildrop.
    fn remaining(&self) -> usize {
        match &self.backend {
            Backend::Embedded(s) => {
                // The CLI has exited, but the server may still be finishing the session.
                assert!(s.wait_until_idle(std::time::Duration::from_secs(20)));
                s.mailbox().len()
            }
            Backend::Dovecot(d) => d.messages_on_disk(),
        }
    }

    /// The account `pop3` logs in to (the state file's key).
    fn account(&self) -> Account {
        Account::new("alice", "127.0.0.1", self.tls_port().parse().unwrap())
    }

    /// The UIDs the destination's state file records for this server's account, sorted;
    /// opening the store also checks that nothing was left to recover.
    fn recorded(&self, target: Target) -> Vec<String> {
        let store = Store::open(StoreOptions::new(target, self.account())).unwrap();
        assert_eq!(store.recovery(), &RecoveryReport::default());
        sorted(store.recorded(&self.account()))
    }

    /// `pop3` with the global options for this server (implicit TLS, trusted CA).
    fn pop3(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run pop3")
    }

    /// The `pop3` command line [`Server::pop3`] runs, to spawn it.
    fn command(&self, args: &[&str]) -> Command {
        let port = self.tls_port();
        let ca = self.ca_file();
        let mut all = vec![
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--ca-file",
            ca.to_str().unwrap(),
        ];
        all.extend_from_slice(&["--user", "alice"]);
        all.extend_from_slice(args);
        command(&all, Some(self.password()))
    }
}

/// Runs each scenario `fn name(server: &Server)` with its messages as two tests: against
/// the embedded `TestServer` and against Dovecot. An optional `; configure` closure adjusts
/// the `TestServer` (a slow profile, say).
macro_rules! against_both {
    ($($scenario:ident => $messages:expr $(; $configure:expr)?),* $(,)?) => {$(
        mod $scenario {
            use super::*;
            #[test]
            fn testserver() {
                let builder = TestServer::builder().messages($messages);
                $(let builder = ($configure)(builder);)?
                super::$scenario(&Server::new(Backend::Embedded(builder.start())));
            }
            #[test]
            fn dovecot() {
                if let Some(server) = Server::dovecot($messages) {
                    super::$scenario(&server);
                }
            }
        }
    )*};
}

/// UID of each message number, from `pop3 --json list`.
fn uids(server: &Server) -> Vec<String> {
    let out = server.pop3(&["--json", "list"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    stdout(&out)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["uid"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

fn file_name(uid: &str) -> String {
    uid.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn fetch_eml_dir_stores_byte_exact_copies_of_a_hostile_mailbox(server: &Server) {
    let messages = mailbox::hostile_mailbox();
    let out_dir = server.dir.path().join("out");
    let out = server.pop3(&["fetch", "--eml-dir", out_dir.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with(&format!("fetched {} messages (", messages.len())),
        "{}",
        stderr(&out)
    );
    for (uid, message) in uids(server).iter().zip(&messages) {
        let stored = std::fs::read(out_dir.join(format!("{}.eml", file_name(uid)))).unwrap();
        assert!(
            stored == *message,
            "{uid} differs from what was put in the maildir"
        );
    }
    let names: Vec<_> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|name| name != ".pop3-uidl")
        .collect();
    assert_eq!(
        names.len(),
        messages.len(),
        "no temporary files left: {names:?}"
    );
    // Every fetch records what it stored.
    assert_eq!(
        server.recorded(Target::EmlDir(out_dir.clone())),
        sorted(uids(server))
    );
}

fn capa_stat_and_list_follow_the_contract(server: &Server) {
    let messages = mailbox::generate(5, 1_000, 3);
    let out = server.pop3(&["capa"]);
    assert_eq!(code(&out), 0);
    assert!(
        stdout(&out).lines().any(|l| l == "PIPELINING"),
        "{}",
        stdout(&out)
    );

    let out = server.pop3(&["stat"]);
    let total: usize = messages.iter().map(Vec::len).sum();
    assert_eq!(stdout(&out), format!("5 {total}\n"));
    let out = server.pop3(&["--json", "stat"]);
    assert_eq!(
        stdout(&out),
        format!("{{\"count\":5,\"octets\":{total}}}\n")
    );

    let out = server.pop3(&["list"]);
    let lines: Vec<String> = stdout(&out).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 5);
    let fields: Vec<&str> = lines[0].split(' ').collect();
    assert_eq!(
        (fields[0], fields[2]),
        ("1", messages[0].len().to_string().as_str())
    );

    let out = server.pop3(&["--json", "list", "--headers"]);
    let first: serde_json::Value =
        serde_json::from_str(stdout(&out).lines().next().unwrap()).unwrap();
    let keys: Vec<&String> = first.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "number",
            "uid",
            "size",
            "date",
            "from",
            "to",
            "subject",
            "message_id"
        ]
    );
    assert!(
        first["message_id"]
            .as_str()
            .unwrap()
            .ends_with("@generated.pop3-testkit.invalid")
    );
    let out = server.pop3(&["list", "--headers"]);
    assert_eq!(stdout(&out).lines().next().unwrap().split('\t').count(), 4);
}

/// One message with `From ` lines to quote.
fn from_lines() -> Vec<Vec<u8>> {
    vec![b"Subject: from test\r\n\r\nFrom the start\r\n>From quoted\r\nend\r\n".to_vec()]
}

fn maildir_and_mbox_use_lf_and_quote_from_lines(server: &Server) {
    let maildir = server.dir.path().join("Maildir");
    let out = server.pop3(&["fetch", "--maildir", maildir.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let new: Vec<_> = std::fs::read_dir(maildir.join("new"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(new.len(), 1);
    assert_eq!(
        std::fs::read(&new[0]).unwrap(),
        b"Subject: from test\n\nFrom the start\n>From quoted\nend\n"
    );
    assert_eq!(std::fs::read_dir(maildir.join("tmp")).unwrap().count(), 0);

    let mbox = server.dir.path().join("mail.mbox");
    for _ in 0..2 {
        let out = server.pop3(&["fetch", "--mbox", mbox.to_str().unwrap()]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    }
    let text = String::from_utf8(std::fs::read(&mbox).unwrap()).unwrap();
    let separators = text
        .lines()
        .filter(|l| l.starts_with("From MAILER-DAEMON "))
        .count();
    assert_eq!(separators, 2, "appended twice:\n{text}");
    assert!(
        text.contains("\n>From the start\n>>From quoted\nend\n\n"),
        "{text}"
    );
}

fn new_skips_recorded_uids_and_delete_commits_only_durable_messages(server: &Server) {
    let out_dir = server.dir.path().join("eml");
    let dir = out_dir.to_str().unwrap();
    let uids = uids(server);
    let out = server.pop3(&[
        "--json",
        "fetch",
        "--eml-dir",
        dir,
        "--new",
        "--uid",
        &uids[0],
        "--uid",
        &uids[1],
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let summary: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(
        (summary["fetched"].as_u64(), summary["failed"].as_u64()),
        (Some(2), Some(0))
    );
    assert_eq!(
        server.recorded(Target::EmlDir(out_dir.clone())),
        sorted([&uids[0], &uids[1]])
    );

    // The next --new run fetches only the other two, then deletes all four: two stored now,
    // two recorded before.
    let out = server.pop3(&["--json", "fetch", "--eml-dir", dir, "--new", "--delete"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let summary = lines.last().unwrap();
    assert_eq!(
        (summary["fetched"].as_u64(), summary["deleted"].as_u64()),
        (Some(2), Some(4))
    );
    assert!(lines[..4].iter().all(|l| l["deleted"] == true));
    assert_eq!(server.remaining(), 0);
}

fn dele_by_uid(server: &Server) {
    let uids = uids(server);
    let out = server.pop3(&["dele", &uids[1], "no-such-uid"]);
    assert_eq!(code(&out), 5, "partial: {}", stderr(&out));
    assert_eq!(stdout(&out), format!("deleted {}\n", uids[1]));
    assert!(
        stderr(&out).contains("no such UID on the server: no-such-uid"),
        "{}",
        stderr(&out)
    );
    assert_eq!(server.remaining(), 2);
    // Only unknown UIDs: a partial result too, as with fetch --uid.
    let out = server.pop3(&["dele", "no-such-uid"]);
    assert_eq!(code(&out), 5, "{}", stderr(&out));
    assert_eq!(server.remaining(), 2);
}

fn exit_codes(server: &Server) {
    let port = server.tls_port();
    let plain_port = server.plain_port();
    let password = server.password();
    let ca = server.ca_file();
    let ca = ca.to_str().unwrap();
    let base = |port: &str| -> Vec<String> {
        ["--host", "127.0.0.1", "--port", port, "--user", "alice"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect()
    };
    let run = |extra: &[&str], password: Option<&str>, port: &str| {
        let mut args = base(port);
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        pop3(&args, password)
    };
    // 3: authentication refused.
    let out = run(&["--ca-file", ca, "stat"], Some("wrong"), &port);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert_eq!(
        stderr(&out).lines().count(),
        1,
        "one line: {}",
        stderr(&out)
    );
    // 4: certificate not trusted (webpki roots only).
    let out = run(&["stat"], Some(password), &port);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    // 4: plaintext credentials without --allow-plaintext-auth.
    let out = run(&["--tls", "none", "stat"], Some(password), &plain_port);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    // ... which works once allowed, and STLS works.
    assert_eq!(
        code(&run(
            &["--tls", "none", "--allow-plaintext-auth", "stat"],
            Some(password),
            &plain_port
        )),
        0
    );
    assert_eq!(
        code(&run(
            &["--tls", "starttls", "--ca-file", ca, "stat"],
            Some(password),
            &plain_port
        )),
        0
    );
    // --insecure works and warns.
    let out = run(&["--insecure", "stat"], Some(password), &port);
    assert_eq!(code(&out), 0);
    assert!(stderr(&out).contains("warning"));
    // 2: usage, and no password.
    assert_eq!(code(&run(&["fetch"], Some(password), &port)), 2);
    assert_eq!(code(&run(&["--ca-file", ca, "stat"], None, &port)), 2);
    // 1: connection refused.
    let out = run(&["stat"], Some(password), "1");
    assert_eq!(code(&out), 1, "{}", stderr(&out));
}

fn password_sources(server: &Server) {
    let port = server.tls_port();
    let ca = server.ca_file();
    let file = server.dir.path().join("password");
    std::fs::write(
        &file,
        format!("{}\nignored second line\n", server.password()),
    )
    .unwrap();
    let command = format!("echo {}", server.password());
    let common = [
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--ca-file",
        ca.to_str().unwrap(),
        "--user",
        "alice",
    ];
    let with = |extra: &[&str]| {
        let mut args = common.to_vec();
        args.extend_from_slice(extra);
        pop3(&args, None)
    };
    assert_eq!(
        code(&with(&["--password-file", file.to_str().unwrap(), "stat"])),
        0
    );
    assert_eq!(code(&with(&["--password-command", &command, "stat"])), 0);
    assert_eq!(code(&with(&["--password-command", "exit 3", "stat"])), 1);
}

/// Every JSON line of `pop3 --json` output.
fn json_lines(output: &Output) -> Vec<serde_json::Value> {
    stdout(output)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The `{"fetched":..}` summary, the last JSON line.
fn summary(output: &Output) -> serde_json::Value {
    json_lines(output).pop().expect("a summary line")
}

fn fetched(output: &Output) -> u64 {
    summary(output)["fetched"].as_u64().unwrap()
}

/// CRLF → LF, as Maildir and mbox store messages.
fn to_lf(bytes: &[u8]) -> Vec<u8> {
    String::from_utf8_lossy(bytes)
        .replace("\r\n", "\n")
        .into_bytes()
}

/// One mbox record as read back: its `From ` line and its message.
struct Record {
    from_line: String,
    message: Vec<u8>,
}

/// Reads an mboxrd file strictly: every record starts with a `From ` line (at the start
/// of the file or after a blank line) and ends with a blank line; `^>+From ` loses one
/// `>`. Anything else (an interleaved or partial record) fails the test.
fn read_mboxrd(bytes: &[u8]) -> Vec<Record> {
    let mut records: Vec<Record> = Vec::new();
    let mut prev_blank = true;
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        assert!(line.ends_with(b"\n"), "mbox ends in a partial line");
        if prev_blank && line.starts_with(b"From ") {
            if let Some(last) = records.last_mut() {
                assert_eq!(
                    last.message.pop(),
                    Some(b'\n'),
                    "record not ended by a blank line"
                );
            }
            records.push(Record {
                from_line: String::from_utf8_lossy(line).trim_end().to_owned(),
                message: Vec::new(),
            });
        } else {
            let record = records.last_mut().expect("data before the first From line");
            let quotes = line.iter().take_while(|&&b| b == b'>').count();
            if quotes > 0 && line[quotes..].starts_with(b"From ") {
                record.message.extend_from_slice(&line[1..]);
            } else {
                record.message.extend_from_slice(line);
            }
        }
        prev_blank = line == b"\n";
    }
    if let Some(last) = records.last_mut() {
        assert_eq!(
            last.message.pop(),
            Some(b'\n'),
            "last record not ended by a blank line"
        );
    }
    records
}

/// The messages a destination holds, as stored (LF for Maildir and mbox, exact for
/// `.eml`), in no particular order.
fn stored_messages(target: &Target) -> Vec<Vec<u8>> {
    match target {
        Target::Maildir(dir) => files(&dir.join("new")),
        Target::Mbox(file) => match std::fs::read(file) {
            Ok(bytes) => read_mboxrd(&bytes).into_iter().map(|r| r.message).collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => panic!("{e}"),
        },
        Target::EmlDir(dir) => files(dir).into_iter().collect::<Vec<_>>(),
        _ => unreachable!(),
    }
}

/// The contents of a directory's visible files (a Maildir's `new/`), or of its visible
/// `.eml` files only (an `.eml` directory).
fn files(dir: &Path) -> Vec<Vec<u8>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let eml_only = !dir.ends_with("new");
    entries
        .map(|e| e.unwrap().path())
        .filter(|path| {
            let hidden = path.file_name().unwrap().to_string_lossy().starts_with('.');
            !hidden && (!eml_only || path.extension().is_some_and(|e| e == "eml"))
        })
        .map(|path| std::fs::read(path).unwrap())
        .collect()
}

/// The messages as `target` would store them.
fn as_stored(target: &Target, message: &[u8]) -> Vec<u8> {
    match target {
        Target::EmlDir(_) => message.to_vec(),
        _ => to_lf(message),
    }
}

/// Checks that `target` holds whole messages of `expected` (UID → message), each at most
/// once, exactly those whose UIDs its state file records, and that opening it finds
/// nothing to recover; `temporaries_allowed` lets temporary files of writers killed
/// mid-write be (the next open removes them). Returns the UIDs stored.
fn check_destination(
    server: &Server,
    target: &Target,
    expected: &HashMap<String, Vec<u8>>,
    temporaries_allowed: bool,
) -> BTreeSet<String> {
    let by_content: HashMap<Vec<u8>, &String> = expected
        .iter()
        .map(|(uid, m)| (as_stored(target, m), uid))
        .collect();
    let mut stored = BTreeSet::new();
    for message in stored_messages(target) {
        let uid = by_content
            .get(&message)
            .unwrap_or_else(|| panic!("a partial or unknown message in {target:?}"));
        assert!(
            stored.insert((*uid).clone()),
            "{uid} stored twice in {target:?}"
        );
    }
    let store = Store::open(StoreOptions::new(target.clone(), server.account())).unwrap();
    let report = store.recovery();
    assert!(
        report.recorded.is_empty(),
        "stored but unrecorded: {report:?}"
    );
    assert!(report.abandoned.is_empty(), "unresolved: {report:?}");
    assert_eq!(
        report.truncated_bytes, 0,
        "a partial mbox record: {report:?}"
    );
    if !temporaries_allowed {
        assert!(
            report.removed.is_empty(),
            "temporary files left: {report:?}"
        );
    }
    let recorded: BTreeSet<String> = store.recorded(&server.account()).into_iter().collect();
    assert_eq!(recorded, stored, "state file and {target:?} disagree");
    stored
}

/// UID → message, from the server's listing and the messages it was given (in order).
fn by_uid(server: &Server, messages: &[Vec<u8>]) -> HashMap<String, Vec<u8>> {
    uids(server)
        .into_iter()
        .zip(messages.iter().cloned())
        .collect()
}

/// A Maildir, an mbox and an `.eml` directory under `dir`.
fn three_targets(dir: &Path) -> [Target; 3] {
    [
        Target::Maildir(dir.join("Maildir")),
        Target::Mbox(dir.join("mail").join("inbox")),
        Target::EmlDir(dir.join("eml")),
    ]
}

/// `fetch` arguments for a destination.
fn fetch_args<'a>(target: &'a Target, extra: &[&'a str]) -> Vec<&'a str> {
    let flag = match target {
        Target::Maildir(_) => "--maildir",
        Target::Mbox(_) => "--mbox",
        Target::EmlDir(_) => "--eml-dir",
        _ => unreachable!(),
    };
    let mut args = vec!["fetch", flag, target.path().to_str().unwrap()];
    args.extend_from_slice(extra);
    args
}

fn uid_delete_deletes_only_the_selection(server: &Server) {
    let uids = uids(server);
    let maildir = Target::Maildir(server.dir.path().join("Maildir"));
    // Every UID is recorded: the old bug deleted all of them.
    let out = server.pop3(&fetch_args(&maildir, &[]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let mut args = vec!["--json"];
    args.extend(fetch_args(&maildir, &["--uid", &uids[2], "--delete"]));
    let out = server.pop3(&args);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 2, "{}", stdout(&out));
    assert_eq!(
        lines[0],
        serde_json::json!({"uid": uids[2], "deleted": true})
    );
    assert_eq!(
        (lines[1]["fetched"].as_u64(), lines[1]["deleted"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(server.remaining(), uids.len() - 1);
    let left = self::uids(server);
    assert!(!left.contains(&uids[2]) && left.len() == uids.len() - 1);
}

fn concurrent_runs_store_each_message_once(server: &Server) {
    let expected = by_uid(server, &concurrent_mailbox());
    for target in three_targets(server.dir.path()) {
        // Two cron runs at once: one waits for the other's lock, then finds every UID
        // recorded.
        let runs: Vec<_> = (0..2)
            .map(|_| {
                server
                    .command(&fetch_args(&target, &["--new"]))
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for run in runs {
            let out = run.wait_with_output().unwrap();
            assert_eq!(code(&out), 0, "{}", stderr(&out));
        }
        let stored = check_destination(server, &target, &expected, false);
        assert_eq!(stored.len(), expected.len(), "{target:?}");
    }
}

fn concurrent_mailbox() -> Vec<Vec<u8>> {
    mailbox::generate(40, 30_000, 17)
}

fn a_busy_destination_is_waited_for_then_refused(server: &Server) {
    let mbox = server.dir.path().join("inbox");
    let target = Target::Mbox(mbox.clone());
    // Another run holds the destination.
    let holder = Store::open(StoreOptions::new(target.clone(), server.account())).unwrap();
    let mut args = vec!["--timeout", "1"];
    args.extend(fetch_args(&target, &[]));
    let out = server.pop3(&args);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        format!(
            "pop3: destination busy: {} is locked by another pop3 run\n",
            mbox.display()
        )
    );
    // A patient run proceeds once the holder is done.
    let run = server
        .command(&fetch_args(&target, &[]))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    holder.close().unwrap();
    let out = run.wait_with_output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(read_mboxrd(&std::fs::read(&mbox).unwrap()).len(), 3);
}

fn a_plain_fetch_is_recorded_for_new(server: &Server) {
    let count = uids(server).len();
    for target in three_targets(server.dir.path()) {
        let out = server.pop3(&fetch_args(&target, &[]));
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let mut args = vec!["--json"];
        args.extend(fetch_args(&target, &["--new"]));
        let out = server.pop3(&args);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        assert_eq!(fetched(&out), 0, "{target:?}: {}", stdout(&out));
        assert_eq!(stored_messages(&target).len(), count, "{target:?}");
    }
}

fn an_old_state_file_is_migrated(server: &Server) {
    let uids = uids(server);
    let target = Target::EmlDir(server.dir.path().join("eml"));
    std::fs::create_dir_all(target.path()).unwrap();
    // The old CLI's format: one UID per line, no account.
    std::fs::write(
        target.path().join(".pop3-uidl"),
        format!("{}\n{}\n", uids[0], uids[1]),
    )
    .unwrap();
    let mut args = vec!["--json"];
    args.extend(fetch_args(&target, &["--new"]));
    let out = server.pop3(&args);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(fetched(&out), uids.len() as u64 - 2);
    assert_eq!(server.recorded(target), sorted(&uids));
}

fn stored_mail_is_private_under_umask_022(server: &Server) {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    for target in three_targets(server.dir.path()) {
        // Run under umask 022 whatever the test runner's is.
        let mut args = vec![
            "-c",
            "umask 022 && exec \"$0\" \"$@\"",
            env!("CARGO_BIN_EXE_pop3"),
        ];
        let inner = server.command(&fetch_args(&target, &[]));
        let inner_args: Vec<String> = inner
            .get_args()
            .map(|a| a.to_str().unwrap().to_owned())
            .collect();
        args.extend(inner_args.iter().map(String::as_str));
        let out = Command::new("sh")
            .args(&args)
            .env("POP3_PASSWORD", server.password())
            .output()
            .unwrap();
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let (dirs, files): (Vec<PathBuf>, Vec<PathBuf>) = match &target {
            Target::Maildir(dir) => (
                ["", "new", "cur", "tmp"]
                    .iter()
                    .map(|s| dir.join(s))
                    .collect(),
                std::fs::read_dir(dir.join("new"))
                    .unwrap()
                    .map(|e| e.unwrap().path())
                    .chain([dir.join(".pop3-uidl")])
                    .collect(),
            ),
            Target::Mbox(file) => (
                vec![file.parent().unwrap().to_owned()],
                vec![
                    file.clone(),
                    PathBuf::from(format!("{}.pop3-uidl", file.display())),
                ],
            ),
            Target::EmlDir(dir) => (
                vec![dir.clone()],
                std::fs::read_dir(dir)
                    .unwrap()
                    .map(|e| e.unwrap().path())
                    .collect(),
            ),
            _ => unreachable!(),
        };
        assert!(files.len() > 1);
        for dir in dirs {
            assert_eq!(mode(&dir), 0o700, "{}", dir.display());
        }
        for file in files {
            assert_eq!(mode(&file), 0o600, "{}", file.display());
        }
    }
}

fn two_accounts_with_colliding_uids_are_both_stored(server: &Server) {
    let alice = by_uid(server, &mailbox::generate(3, 600, 21));
    // Bob's server gives other messages the very same UIDs.
    let bob_messages: Vec<(String, Vec<u8>)> = alice
        .keys()
        .zip(mailbox::generate(3, 700, 22))
        .map(|(uid, m)| (uid.clone(), m))
        .collect();
    let bob = TestServer::builder()
        .user("bob", "hunter2")
        .messages_with_uids(bob_messages.clone())
        .start();
    let bob_ca = server.dir.path().join("bob-ca.pem");
    std::fs::write(&bob_ca, bob.ca_pem()).unwrap();
    let bob_port = bob.tls_addr().port().to_string();
    let as_bob = |args: &[&str]| {
        let mut all = vec![
            "--host",
            "127.0.0.1",
            "--port",
            &bob_port,
            "--ca-file",
            bob_ca.to_str().unwrap(),
            "--user",
            "bob",
        ];
        all.extend_from_slice(args);
        pop3(&all, Some("hunter2"))
    };
    let bob_account = Account::new("bob", "127.0.0.1", bob.tls_addr().port());
    let mut everything: Vec<Vec<u8>> = alice.values().cloned().collect();
    everything.extend(bob_messages.iter().map(|(_, m)| m.clone()));
    for target in three_targets(server.dir.path()) {
        let out = server.pop3(&fetch_args(&target, &["--new"]));
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        // Alice's UIDs are recorded, but not for Bob: --new fetches all of his.
        let mut args = vec!["--json"];
        args.extend(fetch_args(&target, &["--new"]));
        let out = as_bob(&args);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        assert_eq!(fetched(&out), 3, "{target:?}");
        let mut stored = stored_messages(&target);
        stored.sort();
        let mut want: Vec<Vec<u8>> = everything.iter().map(|m| as_stored(&target, m)).collect();
        want.sort();
        assert!(stored == want, "{target:?} lacks a message");
        let store = Store::open(StoreOptions::new(target.clone(), server.account())).unwrap();
        assert_eq!(
            sorted(store.recorded(&server.account())),
            sorted(alice.keys())
        );
        assert_eq!(sorted(store.recorded(&bob_account)), sorted(alice.keys()));
        drop(store);
        let out = as_bob(&args);
        assert_eq!(fetched(&out), 0, "{target:?}");
    }
}

fn mark_seen_records_without_downloading(server: &Server) {
    let uids = uids(server);
    let [maildir, mbox, _] = three_targets(server.dir.path());
    // Only the --uid selection.
    let mut args = vec!["--json"];
    args.extend(fetch_args(&maildir, &["--mark-seen", "--uid", &uids[0]]));
    let out = server.pop3(&args);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(summary(&out)["marked"], 1);
    assert!(stored_messages(&maildir).is_empty());
    let mut args = vec!["--json"];
    args.extend(fetch_args(&maildir, &["--new"]));
    let out = server.pop3(&args);
    assert_eq!(fetched(&out), uids.len() as u64 - 1);
    // Every current UID.
    let mut args = vec!["--json"];
    args.extend(fetch_args(&mbox, &["--mark-seen"]));
    let out = server.pop3(&args);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        (summary(&out)["marked"].as_u64(), fetched(&out)),
        (Some(uids.len() as u64), 0)
    );
    let mut args = vec!["--json"];
    args.extend(fetch_args(&mbox, &["--new"]));
    let out = server.pop3(&args);
    assert_eq!(fetched(&out), 0);
    assert!(stored_messages(&mbox).is_empty());
    // Deleting what was never downloaded is refused.
    let out = server.pop3(&fetch_args(&mbox, &["--mark-seen", "--delete"]));
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert_eq!(server.remaining(), uids.len());
}

fn an_unknown_uid_is_a_partial_result(server: &Server) {
    let uids = uids(server);
    let target = Target::Maildir(server.dir.path().join("Maildir"));
    let mut args = vec!["--json"];
    args.extend(fetch_args(
        &target,
        &["--uid", "no-such-uid", "--uid", &uids[0]],
    ));
    let out = server.pop3(&args);
    assert_eq!(code(&out), 5, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no such UID on the server: no-such-uid"),
        "{}",
        stderr(&out)
    );
    let summary = summary(&out);
    assert_eq!(
        (summary["fetched"].as_u64(), summary["failed"].as_u64()),
        (Some(1), Some(1))
    );
    let out = server.pop3(&fetch_args(&target, &["--uid", "no-such-uid"]));
    assert_eq!(code(&out), 5, "{}", stderr(&out));
}

/// Messages whose envelope the mbox `From ` line must come from.
fn envelope_messages() -> Vec<Vec<u8>> {
    vec![
        b"Return-Path: <bounces+1@lists.example.org>\r\nDate: Wed, 25 Nov 2026 14:00:00 +0200\r\n\
          Subject: with an envelope\r\n\r\nFrom the body, not the envelope\r\n"
            .to_vec(),
        b"Date: Thu, 01 Jan 2004 00:00:00 +0000\r\nSubject: no return path\r\n\r\nbody\r\n"
            .to_vec(),
    ]
}

fn mbox_from_lines_come_from_return_path_and_date(server: &Server) {
    let mbox = server.dir.path().join("inbox");
    let out = server.pop3(&fetch_args(&Target::Mbox(mbox.clone()), &[]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let mut records = read_mboxrd(&std::fs::read(&mbox).unwrap());
    // Messages are appended in the order they are made durable, which the fetch does not
    // promise to be the server's (the plan fetches largest first, on I/O threads that
    // finish in any order): match each record to its message by the From line instead.
    records.sort_by(|a, b| b.from_line.cmp(&a.from_line));
    let from_lines: Vec<&str> = records.iter().map(|r| r.from_line.as_str()).collect();
    assert_eq!(
        from_lines,
        [
            "From bounces+1@lists.example.org Wed Nov 25 12:00:00 2026",
            "From MAILER-DAEMON Thu Jan  1 00:00:00 2004",
        ]
    );
    assert!(
        records[0]
            .message
            .ends_with(b"\nFrom the body, not the envelope\n")
    );
}

fn password_file_permissions_are_checked(server: &Server) {
    use std::os::unix::fs::PermissionsExt as _;
    let port = server.tls_port();
    let ca = server.ca_file();
    let file = server.dir.path().join("password");
    std::fs::write(&file, format!("{}\n", server.password())).unwrap();
    let run = |mode: u32| {
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
        let out = pop3(
            &[
                "--host",
                "127.0.0.1",
                "--port",
                &port,
                "--ca-file",
                ca.to_str().unwrap(),
                "--user",
                "alice",
                "--password-file",
                file.to_str().unwrap(),
                "stat",
            ],
            None,
        );
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        stderr(&out)
    };
    assert_eq!(run(0o600), "");
    assert_eq!(run(0o400), "");
    let warning = run(0o644);
    assert_eq!(warning.lines().count(), 1, "{warning}");
    assert!(
        warning.starts_with("pop3: warning: password file ")
            && warning.contains("readable by group and others (mode 0644)"),
        "{warning}"
    );
    assert!(run(0o640).contains("readable by its group (mode 0640)"));
}

/// A small deterministic generator for interrupt delays (seeded, and the seed printed,
/// so that a failing sequence can be replayed with `POP3_TEST_SEED`).
struct XorShift(u64);

impl XorShift {
    fn seeded() -> Self {
        let seed = std::env::var("POP3_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            });
        eprintln!("interrupt delays: POP3_TEST_SEED={seed}");
        Self(seed | 1)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        f64::from((self.0 >> 32) as u32) / (f64::from(u32::MAX) + 1.0)
    }
}

fn interrupt_mailbox() -> Vec<Vec<u8>> {
    mailbox::generate(40, 50_000, 23)
}

/// A link slow enough that interrupts land while messages are arriving.
fn trickling(builder: TestServerBuilder) -> TestServerBuilder {
    builder.profile(Profile::Trickle {
        bytes: 16 * 1024,
        pause: Duration::from_millis(10),
    })
}

/// How long a whole fetch takes here: interrupts are spread over that span. (Time places
/// the interrupts; it judges nothing.)
fn fetch_span(server: &Server) -> Duration {
    let calibration = Target::Maildir(server.dir.path().join("calibration"));
    let started = std::time::Instant::now();
    let out = server.pop3(&fetch_args(&calibration, &[]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    started.elapsed()
}

/// How an interrupted run ended.
#[derive(Debug, Default)]
struct Landings {
    /// The run had finished before the interrupt.
    finished: usize,
    /// The interrupt stopped the run (exit 130).
    stopped: usize,
    /// The interrupt came before pop3 handled signals, and killed it.
    killed: usize,
}

/// Runs `pop3 args`, sends it SIGINT at a random point of `span` (and, `twice`, another
/// soon after); returns whether it may have left temporary files (a second interrupt or
/// a kill can stop a writer mid-file; the next open removes them).
fn interrupted_run(
    server: &Server,
    args: &[&str],
    span: Duration,
    rng: &mut XorShift,
    twice: bool,
    landings: &mut Landings,
) -> bool {
    use std::os::unix::process::ExitStatusExt as _;
    let child = server
        .command(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = Pid::from_child(&child);
    std::thread::sleep(span.mul_f64(rng.unit()));
    // The child is not reaped before wait, so its pid cannot be reused meanwhile.
    let _ = kill_process(pid, Signal::INT);
    if twice {
        std::thread::sleep(Duration::from_millis(5).mul_f64(rng.unit()));
        let _ = kill_process(pid, Signal::INT);
    }
    let out = child.wait_with_output().unwrap();
    match (out.status.code(), out.status.signal()) {
        (Some(0), _) => landings.finished += 1,
        (Some(130), _) => landings.stopped += 1,
        (None, Some(2)) => landings.killed += 1,
        _ => panic!("{:?}: {}", out.status, stderr(&out)),
    }
    twice || out.status.code().is_none()
}

fn interrupts_never_leave_half_a_message(server: &Server) {
    let expected = by_uid(server, &interrupt_mailbox());
    let span = fetch_span(server);
    let mut rng = XorShift::seeded();
    let mut landings = Landings::default();
    for run in 0..24 {
        let dir = server.dir.path().join(format!("run{run}"));
        let target = three_targets(&dir)[run % 3].clone();
        // Every fourth run gets a second interrupt soon after the first.
        let twice = run % 4 == 3;
        let args = fetch_args(&target, &["--new"]);
        let temporaries = interrupted_run(server, &args, span, &mut rng, twice, &mut landings);
        // Whole messages only, each recorded, nothing to recover.
        check_destination(server, &target, &expected, temporaries);
        // The next --new run completes the set and delivers nothing twice.
        let out = server.pop3(&args);
        assert_eq!(code(&out), 0, "run {run}: {}", stderr(&out));
        let stored = check_destination(server, &target, &expected, false);
        assert_eq!(stored.len(), expected.len(), "run {run}: {target:?}");
    }
    eprintln!("interrupts: {landings:?}");
    assert!(landings.stopped > 0, "no interrupt landed during a run");
}

fn interrupted_deletions_never_lose_a_message(server: &Server) {
    let expected = by_uid(server, &interrupt_mailbox());
    let mut rng = XorShift::seeded();
    let mut landings = Landings::default();
    // Cron runs of `fetch --new --delete` into one mbox, each interrupted somewhere. Each
    // run takes a few messages (--uid), so that interrupts land in the DELE and QUIT
    // phase too, not only while messages arrive.
    let target = Target::Mbox(server.dir.path().join("inbox"));
    let per_run = 4;
    let selection = |uids: &BTreeSet<String>| -> Vec<String> {
        uids.iter()
            .take(per_run)
            .flat_map(|uid| ["--uid".to_owned(), uid.clone()])
            .collect()
    };
    let all: BTreeSet<String> = expected.keys().cloned().collect();
    let calibration = Target::Maildir(server.dir.path().join("calibration"));
    let uid_args = selection(&all);
    let mut args: Vec<&str> = uid_args.iter().map(String::as_str).collect();
    let started = std::time::Instant::now();
    let out = server.pop3(&fetch_args(&calibration, &args));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let span = started.elapsed();
    for run in 0..16 {
        let before: BTreeSet<String> = uids(server).into_iter().collect();
        if before.is_empty() {
            break;
        }
        let uid_args = selection(&before);
        args = uid_args.iter().map(String::as_str).collect();
        args.extend(["--new", "--delete"]);
        let fetch = fetch_args(&target, &args);
        let temporaries =
            interrupted_run(server, &fetch, span, &mut rng, run % 4 == 3, &mut landings);
        let after: BTreeSet<String> = uids(server).into_iter().collect();
        let stored = check_destination(server, &target, &expected, temporaries);
        // Deleted only once stored and recorded.
        let lost: Vec<_> = before
            .difference(&after)
            .filter(|uid| !stored.contains(*uid))
            .collect();
        assert!(
            lost.is_empty(),
            "run {run}: deleted but not stored: {lost:?}"
        );
    }
    let out = server.pop3(&fetch_args(&target, &["--new", "--delete"]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let stored = check_destination(server, &target, &expected, false);
    assert_eq!(stored.len(), expected.len());
    assert_eq!(server.remaining(), 0);
    eprintln!("interrupts: {landings:?}");
}

/// The bench's JSON lines: one object per mode, in the contract's order.
fn bench_modes(out: &Output) -> Vec<serde_json::Value> {
    assert_eq!(code(out), 0, "{}", stderr(out));
    let modes: Vec<serde_json::Value> = stdout(out)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let ids: Vec<&str> = modes.iter().map(|m| m["mode"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "single-lockstep",
            "single-pipelined",
            "multi-lockstep",
            "multi-pipelined",
            "auto"
        ]
    );
    for mode in &modes {
        assert!(mode["seconds"].as_f64().unwrap() > 0.0, "{mode}");
        assert!(mode["speedup"].as_f64().unwrap() > 0.0, "{mode}");
        assert!(mode["connections"].as_u64().unwrap() >= 1, "{mode}");
        assert!(mode["pipelining"].is_boolean(), "{mode}");
        assert!(mode.get("error").is_none(), "{mode}");
    }
    assert_eq!(modes[0]["speedup"], 1.0);
    modes
}

/// `bench` against a real server only lists: every message is still there after it.
fn bench_against_a_server_is_read_only(server: &Server) {
    let before = server.remaining();
    let modes = bench_modes(&server.pop3(&["--json", "--connections", "2", "bench"]));
    assert_eq!(modes[2]["connections"], 2);
    assert_eq!(modes[3]["pipelining"], true);
    // No proxy in front of a real server: no round trips counted.
    assert!(modes[0].get("round_trips").is_none());
    assert_eq!(server.remaining(), before);
    let out = server.pop3(&["--connections", "2", "bench"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("127.0.0.1:"), "{text}");
    assert!(
        text.lines().any(|l| l.starts_with("2 pipelined ")),
        "{text}"
    );
    assert_eq!(server.remaining(), before);
}

against_both!(
    bench_against_a_server_is_read_only => mailbox::generate(12, 800, 23),
    fetch_eml_dir_stores_byte_exact_copies_of_a_hostile_mailbox => mailbox::hostile_mailbox(),
    capa_stat_and_list_follow_the_contract => mailbox::generate(5, 1_000, 3),
    maildir_and_mbox_use_lf_and_quote_from_lines => from_lines(),
    new_skips_recorded_uids_and_delete_commits_only_durable_messages => mailbox::generate(4, 800, 5),
    dele_by_uid => mailbox::generate(3, 500, 9),
    exit_codes => mailbox::generate(1, 500, 1),
    password_sources => mailbox::generate(1, 500, 1),
    uid_delete_deletes_only_the_selection => mailbox::generate(6, 800, 11),
    concurrent_runs_store_each_message_once => concurrent_mailbox(),
    a_busy_destination_is_waited_for_then_refused => mailbox::generate(3, 500, 12),
    a_plain_fetch_is_recorded_for_new => mailbox::generate(4, 900, 14),
    stored_mail_is_private_under_umask_022 => mailbox::generate(2, 500, 15),
    an_old_state_file_is_migrated => mailbox::generate(4, 500, 19),
    two_accounts_with_colliding_uids_are_both_stored => mailbox::generate(3, 600, 21),
    mark_seen_records_without_downloading => mailbox::generate(4, 500, 16),
    an_unknown_uid_is_a_partial_result => mailbox::generate(2, 500, 18),
    mbox_from_lines_come_from_return_path_and_date => envelope_messages(),
    password_file_permissions_are_checked => mailbox::generate(1, 500, 1),
    interrupts_never_leave_half_a_message => interrupt_mailbox(); trickling,
    interrupted_deletions_never_lose_a_message => interrupt_mailbox(); trickling,
);

/// A run asked to delete that could not is a partial result. Every QUIT is dropped before
/// the server processes it, so it rolls the deletions back: `fetch --delete` stores
/// everything, reports each UID not deleted and why, and exits 5; `dele` (which tries
/// again on new sessions, within its attempts) too. Nothing is gone from the server.
#[test]
fn deletions_rolled_back_at_quit_are_a_partial_result() {
    let embedded = TestServer::builder()
        .messages(mailbox::generate(3, 500, 24))
        .fault(Fault::DropOnQuit)
        .start();
    let uids = sorted(embedded.mailbox().uids());
    let server = Server::new(Backend::Embedded(embedded));
    let target = Target::EmlDir(server.dir.path().join("eml"));
    let not_deleted = |out: &Output, uids: &[String]| {
        for uid in uids {
            assert!(
                stderr(out).contains(&format!("not deleted {uid}: rolled back: ")),
                "{}",
                stderr(out)
            );
        }
    };
    let mut args = vec!["--connections", "1"];
    args.extend(fetch_args(&target, &["--delete"]));
    let out = server.pop3(&args);
    assert_eq!(code(&out), 5, "{}", stderr(&out));
    not_deleted(&out, &uids);
    assert_eq!(server.remaining(), 3);
    // Recorded before, deleted now: nothing to fetch, and still partial.
    let mut args = vec!["--json", "--connections", "1"];
    args.extend(fetch_args(&target, &["--new", "--delete"]));
    let out = server.pop3(&args);
    assert_eq!(code(&out), 5, "{}", stderr(&out));
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 4, "{}", stdout(&out));
    for line in &lines[..3] {
        assert_eq!(line["deleted"], false, "{line}");
    }
    assert_eq!(
        (
            lines[3]["fetched"].as_u64(),
            lines[3]["deleted"].as_u64(),
            lines[3]["failed"].as_u64()
        ),
        (Some(0), Some(0), Some(0))
    );
    assert_eq!(server.recorded(target), uids);
    assert_eq!(server.remaining(), 3);

    let out = server.pop3(&["dele", &uids[0], &uids[1]]);
    assert_eq!(code(&out), 5, "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    not_deleted(&out, &uids[..2]);
    assert_eq!(server.remaining(), 3);
}

#[test]
fn bench_json_counts_a_round_trip_per_message_only_in_lockstep() {
    let out = pop3(
        &["--json", "bench", "--messages", "40", "--latency-ms", "2"],
        None,
    );
    let modes = bench_modes(&out);
    let trips = |i: usize| modes[i]["round_trips"].as_u64().unwrap();
    // Lockstep: one round trip per TOP, whatever the number of sessions.
    assert!(trips(0) >= 40, "{modes:?}");
    assert!(trips(2) >= 40, "{modes:?}");
    // Pipelined: a handful per session.
    assert!(trips(1) < 20, "{modes:?}");
    assert_eq!(modes[2]["connections"], 5);
}

#[test]
fn demo_prints_the_comparison_and_the_ratio() {
    let out = pop3(&["demo", "--messages", "30", "--latency-ms", "2"], None);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("pop3 demo: "), "{text}");
    // The header states the setup in use: the values given here, and N (the default 5,
    // as the clap definition's unit test checks with the other defaults).
    assert!(
        text.contains("a fresh generated mailbox of 30 messages"),
        "{text}"
    );
    assert!(text.contains("adding a 2 ms round trip"), "{text}");
    assert!(text.contains("one connection or 5 "), "{text}");
    let header = text
        .lines()
        .find(|l| l.starts_with("mode "))
        .expect("a table header");
    for (label, pipelining) in [
        ("single lockstep ", "off"),
        ("single pipelined ", "on"),
        ("5 lockstep ", "off"),
        ("5 pipelined ", "on"),
        ("auto ", "on"),
    ] {
        let row = text
            .lines()
            .find(|l| l.starts_with(label))
            .unwrap_or_else(|| panic!("no {label:?} row in {text}"));
        assert_eq!(row.len(), header.len(), "{row}");
        assert!(row.split_whitespace().any(|w| w == pipelining), "{row}");
        assert!(row.ends_with('x'), "{row}");
    }
    assert!(
        text.contains("performanceRelation (single lockstep / 5 pipelined): "),
        "{text}"
    );
    assert!(
        text.contains("pop3 --host HOST --user USER bench"),
        "{text}"
    );
}

/// `demo --json`: one object per mode, with what a row of the table says (connections,
/// pipelining, seconds, round trips, speed-up) and nothing else on stdout.
#[test]
fn demo_json_has_one_object_per_mode_with_the_tables_fields() {
    let out = pop3(
        &["demo", "--json", "--messages", "30", "--latency-ms", "2"],
        None,
    );
    let modes = bench_modes(&out);
    for mode in &modes {
        let mut fields: Vec<&str> = mode
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        fields.sort_unstable();
        assert_eq!(
            fields,
            [
                "connections",
                "mode",
                "pipelining",
                "round_trips",
                "seconds",
                "speedup"
            ],
            "{mode}"
        );
        // The embedded server is behind the proxy, which counts round trips.
        assert!(mode["round_trips"].as_u64().unwrap() >= 1, "{mode}");
    }
    let pipelining: Vec<bool> = modes
        .iter()
        .map(|m| m["pipelining"].as_bool().unwrap())
        .collect();
    assert_eq!(pipelining, [false, true, false, true, true]);
    assert_eq!(modes[0]["connections"], 1);
    assert_eq!(modes[1]["connections"], 1);
    assert_eq!(modes[2]["connections"], 5);
    assert_eq!(modes[3]["connections"], 5);
}

#[test]
fn without_host_the_embedded_server_answers() {
    let out = pop3(&["stat"], None);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let count: usize = stdout(&out).split(' ').next().unwrap().parse().unwrap();
    assert_eq!(count, 2000);
}
