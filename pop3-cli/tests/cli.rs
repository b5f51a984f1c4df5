//! The `pop3` binary against the test kit's `TestServer` (started by each test, in
//! process) and against a real Dovecot: the contract of CLI.md, byte-exact storage, exit
//! codes. Every scenario runs against both; without Dovecot its runs print a skip notice.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};

use pop3_store::{Account, RecoveryReport, Store, StoreOptions, Target};
use pop3_testkit::{Dovecot, DovecotOptions, TestServer, mailbox};

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

    /// The in-process test server.
    fn embedded(messages: Vec<Vec<u8>>) -> Self {
        Self::new(Backend::Embedded(
            TestServer::builder().messages(messages).start(),
        ))
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
        pop3(&all, Some(self.password()))
    }
}

/// Runs each scenario `fn name(messages) -> Vec<Vec<u8>>` + `fn name(server: &Server)` pair
/// as two tests: against the embedded `TestServer` and against Dovecot.
macro_rules! against_both {
    ($($scenario:ident => $messages:expr),* $(,)?) => {$(
        mod $scenario {
            use super::*;
            #[test]
            fn testserver() {
                super::$scenario(&Server::embedded($messages));
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

fn pop3(args: &[&str], password: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pop3"));
    command
        .args(args)
        .env_remove("POP3_USER")
        .env_remove("POP3_PASSWORD");
    if let Some(password) = password {
        command.env("POP3_PASSWORD", password);
    }
    command.output().expect("run pop3")
}

fn code(output: &Output) -> i32 {
    output.status.code().expect("exit code")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
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
    assert!(stderr(&out).contains("not deleted no-such-uid"));
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

against_both!(
    fetch_eml_dir_stores_byte_exact_copies_of_a_hostile_mailbox => mailbox::hostile_mailbox(),
    capa_stat_and_list_follow_the_contract => mailbox::generate(5, 1_000, 3),
    maildir_and_mbox_use_lf_and_quote_from_lines => from_lines(),
    new_skips_recorded_uids_and_delete_commits_only_durable_messages => mailbox::generate(4, 800, 5),
    dele_by_uid => mailbox::generate(3, 500, 9),
    exit_codes => mailbox::generate(1, 500, 1),
    password_sources => mailbox::generate(1, 500, 1),
);

#[test]
fn without_host_the_embedded_server_answers() {
    let out = pop3(&["stat"], None);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let count: usize = stdout(&out).split(' ').next().unwrap().parse().unwrap();
    assert_eq!(count, 2000);
}
