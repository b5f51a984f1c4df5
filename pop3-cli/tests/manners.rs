//! How `pop3` behaves with terminals, pipes, logs and servers that say no: what a new user
//! and a script see on stdout, on stderr and in the exit code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpStream;
use std::process::{Output, Stdio};

use pop3_testkit::{Profile, TestServer, mailbox};

mod support;
use support::{code, command, pop3, stderr, stdout};

/// A `TestServer` and its CA in a file, for `pop3 --host`.
struct Fixture {
    server: TestServer,
    dir: tempfile::TempDir,
    port: String,
    ca: String,
}

impl Fixture {
    fn new(server: TestServer) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, server.ca_pem()).unwrap();
        Self {
            port: server.tls_addr().port().to_string(),
            ca: ca.to_str().unwrap().to_owned(),
            server,
            dir,
        }
    }

    fn with_messages(count: usize) -> Self {
        Self::new(
            TestServer::builder()
                .messages(mailbox::generate(count, 500, 3))
                .start(),
        )
    }

    /// The arguments reaching this server over implicit TLS, then `args`.
    fn args<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let mut all = vec![
            "--host",
            "127.0.0.1",
            "--port",
            &self.port,
            "--ca-file",
            &self.ca,
            "--user",
            "alice",
        ];
        all.extend_from_slice(args);
        all
    }

    fn pop3(&self, args: &[&str]) -> Output {
        pop3(&self.args(args), Some(self.server.password()))
    }
}

#[test]
fn vv_shows_the_dialogue_without_credentials_or_colour() {
    let fixture = Fixture::with_messages(2);
    let out = fixture.pop3(&["-vv", "--auth", "user", "stat"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let log = stderr(&out);
    for expected in ["C: USER alice", "C: PASS <redacted>", "C: STAT", "S: +OK"] {
        assert!(log.contains(expected), "no {expected:?} in {log}");
    }
    assert!(!log.contains(fixture.server.password()), "{log}");
    // stderr is a pipe here: no escape codes, whatever the level.
    assert!(!log.contains('\x1b'), "{log:?}");
    // SASL data is redacted both ways.
    let out = fixture.pop3(&["-vv", "--auth", "plain", "stat"]);
    let log = stderr(&out);
    assert!(log.contains("C: AUTH PLAIN <redacted>"), "{log}");
    assert!(!log.contains(fixture.server.password()), "{log}");
}

/// `-vv` with stderr redirected to a file (not a pipe, not a terminal): the dialogue, and
/// no escape codes.
#[test]
fn vv_into_a_file_has_no_colour() {
    let fixture = Fixture::with_messages(1);
    let path = fixture.dir.path().join("stderr.log");
    let file = std::fs::File::create(&path).unwrap();
    let args = fixture.args(&["-vv", "--auth", "user", "stat"]);
    let out = command(&args, Some(fixture.server.password()))
        .env_remove("NO_COLOR")
        .stderr(Stdio::from(file))
        .output()
        .unwrap();
    assert_eq!(code(&out), 0);
    let log = std::fs::read_to_string(&path).unwrap();
    assert!(log.contains("C: STAT"), "{log}");
    assert!(!log.contains("\x1b["), "{log:?}");
}

/// A pseudo-terminal: the master to read, the terminal to give a child as its stderr.
/// `None` (after a skip notice, or a failure in CI) where there is none.
fn pseudo_terminal() -> Option<(std::fs::File, std::fs::File)> {
    use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
    use std::os::unix::ffi::OsStrExt as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let flags = OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC;
    let master = match openpt(flags) {
        Ok(master) => master,
        Err(e) => {
            pop3_testkit::skip::unavailable(&format!("no pseudo-terminal here ({e})"));
            return None;
        }
    };
    grantpt(&master).unwrap();
    unlockpt(&master).unwrap();
    let name = ptsname(&master, Vec::new()).unwrap();
    let terminal = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        // Never this process's controlling terminal.
        .custom_flags(i32::try_from(rustix::fs::OFlags::NOCTTY.bits()).unwrap())
        .open(std::ffi::OsStr::from_bytes(name.as_bytes()))
        .unwrap();
    Some((std::fs::File::from(master), terminal))
}

/// What `pop3 -vv stat` writes to stderr when stderr is a terminal, with `NO_COLOR` set
/// to `no_color` (or unset).
fn vv_on_a_terminal(fixture: &Fixture, no_color: Option<&str>) -> Option<String> {
    use std::io::Read as _;
    let (mut master, terminal) = pseudo_terminal()?;
    let args = fixture.args(&["-vv", "--auth", "user", "stat"]);
    let mut command = command(&args, Some(fixture.server.password()));
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(terminal));
    match no_color {
        Some(value) => command.env("NO_COLOR", value),
        None => command.env_remove("NO_COLOR"),
    };
    let mut child = command.spawn().unwrap();
    // The command holds our copy of the terminal: without it, reading the master ends
    // (with EIO on Linux) once the child has exited.
    drop(command);
    let mut log = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match master.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => log.extend_from_slice(&buffer[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            // EIO: the terminal is closed on the other side.
            Err(_) => break,
        }
    }
    let status = child.wait().unwrap();
    let log = String::from_utf8_lossy(&log).into_owned();
    assert!(status.success(), "{status}: {log}");
    assert!(log.contains("C: STAT"), "{log:?}");
    Some(log)
}

/// On a terminal the log is in colour, unless `NO_COLOR` is set (to anything).
#[test]
fn no_color_turns_the_colour_off_on_a_terminal() {
    let fixture = Fixture::with_messages(1);
    let Some(coloured) = vv_on_a_terminal(&fixture, None) else {
        return;
    };
    // The control: on a terminal, colour is what the check would see.
    assert!(coloured.contains("\x1b["), "{coloured:?}");
    for value in ["1", "true"] {
        let log = vv_on_a_terminal(&fixture, Some(value)).unwrap();
        assert!(!log.contains("\x1b["), "NO_COLOR={value}: {log:?}");
    }
}

#[test]
fn a_write_error_on_stdout_exits_1() {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = command(&["stat"], None)
        .stdout(Stdio::from(full))
        .output()
        .unwrap();
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("pop3: cannot write the output: "),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_closed_pipe_ends_the_output_quietly_without_masking_the_exit_code() {
    // `pop3 list | head -0`: the reader is gone before the first line.
    let mut child = command(&["-q", "list"], None)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    // A partial result stays partial.
    let fixture = Fixture::with_messages(3);
    let args = fixture.args(&["--json", "dele", "no-such-uid"]);
    let mut child = command(&args, Some(fixture.server.password()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(code(&out), 5, "{}", stderr(&out));
}

#[test]
fn quiet_hides_the_summary_and_twice_quiet_the_warnings() {
    let fixture = Fixture::with_messages(1);
    let dir = fixture.dir.path().join("eml");
    let dir = dir.to_str().unwrap();
    let out = fixture.pop3(&["fetch", "--eml-dir", dir]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with("fetched 1 message ("),
        "{}",
        stderr(&out)
    );
    let out = fixture.pop3(&["-q", "fetch", "--eml-dir", dir]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    let out = fixture.pop3(&["-q", "--insecure", "stat"]);
    assert!(
        stderr(&out).starts_with("pop3: warning: --insecure"),
        "{}",
        stderr(&out)
    );
    let out = fixture.pop3(&["-qq", "--insecure", "stat"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    // Errors always show.
    let out = fixture.pop3(&["-qq", "dele", "no-such-uid"]);
    assert_eq!(
        stderr(&out),
        "pop3: no such UID on the server: no-such-uid\n"
    );
}

#[test]
fn a_locked_maildrop_is_a_temporary_refusal() {
    let fixture = Fixture::new(
        TestServer::builder()
            .messages(mailbox::generate(2, 500, 4))
            .profile(Profile::LockSession)
            .start(),
    );
    // Another client holds the maildrop.
    let holder = TcpStream::connect(fixture.server.addr()).unwrap();
    let mut reader = BufReader::new(holder.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    (&holder)
        .write_all(format!("USER alice\r\nPASS {}\r\n", fixture.server.password()).as_bytes())
        .unwrap();
    for _ in 0..2 {
        line.clear();
        reader.read_line(&mut line).unwrap();
        assert!(line.starts_with("+OK"), "{line}");
    }
    for args in [&["stat"][..], &["list", "--headers"], &["dele", "x"]] {
        let out = fixture.pop3(args);
        assert_eq!(code(&out), 6, "{args:?}: {}", stderr(&out));
        assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
        assert!(stderr(&out).contains("IN-USE"), "{}", stderr(&out));
    }
}

#[test]
fn capa_on_a_server_older_than_capa_says_so() {
    let fixture = Fixture::new(
        TestServer::builder()
            .messages(mailbox::generate(1, 500, 5))
            .profile(Profile::Rfc1939Only)
            .start(),
    );
    let out = fixture.pop3(&["capa"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    assert!(
        stderr(&out).contains("predates RFC 2449"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_embedded_server_announces_itself_once() {
    let out = pop3(&["--port", "1", "stat"], None);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let notice = stderr(&out);
    assert_eq!(notice.lines().count(), 1, "{notice}");
    assert!(notice.contains("embedded demo server"), "{notice}");
    assert!(notice.contains("--port and --user"), "{notice}");
    let out = pop3(&["-q", "stat"], None);
    assert_eq!(stderr(&out), "");
}
