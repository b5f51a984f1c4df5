//! A real Dovecot on loopback: skipped (with a notice) where Dovecot is not installed,
//! required when `CI` is set.
#![cfg(unix)]

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use pop3_proto::task::{DeleMany, Login, Quit, RetrMany, Stat};
use pop3_testkit::certs::client_config;
use pop3_testkit::mailbox::{self, hostile_messages};
use pop3_testkit::{Dovecot, DovecotOptions, dovecot_or_skip};
use support::Conn;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A line-oriented raw session.
struct Raw {
    stream: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Raw {
    fn connect(dovecot: &Dovecot) -> std::io::Result<(Self, String)> {
        let stream = TcpStream::connect(dovecot.pop3_addr())?;
        // Dovecot waits up to 10 s for a locked maildrop before answering [IN-USE].
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut raw = Self {
            reader: BufReader::new(stream.try_clone()?),
            stream,
        };
        let greeting = raw.line()?;
        Ok((raw, greeting))
    }

    fn line(&mut self) -> std::io::Result<String> {
        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        Ok(line)
    }

    fn command(&mut self, command: &str) -> std::io::Result<String> {
        self.stream.write_all(format!("{command}\r\n").as_bytes())?;
        self.line()
    }

    fn login(&mut self, dovecot: &Dovecot) -> std::io::Result<String> {
        let user = self.command(&format!("USER {}", dovecot.user()))?;
        assert!(user.starts_with("+OK"), "{user}");
        self.command(&format!("PASS {}", dovecot.password()))
    }
}

#[test]
fn user_pass_stat_dele_quit() -> TestResult {
    let messages = mailbox::generate(3, 500, 9);
    let octets: usize = messages.iter().map(Vec::len).sum();
    let dovecot = dovecot_or_skip!(
        DovecotOptions {
            messages,
            ..DovecotOptions::default()
        },
        Ok(())
    );
    assert_eq!(dovecot.messages_on_disk(), 3);
    let (mut raw, greeting) = Raw::connect(&dovecot)?;
    assert!(
        greeting.starts_with("+OK") && greeting.trim_end().ends_with('>'),
        "{greeting}"
    );
    let logged_in = raw.login(&dovecot)?;
    assert!(logged_in.starts_with("+OK"), "{logged_in}");
    assert_eq!(raw.command("STAT")?, format!("+OK 3 {octets}\r\n"));
    assert!(raw.command("DELE 2")?.starts_with("+OK"));
    assert!(raw.command("QUIT")?.starts_with("+OK"));
    // Dovecot expunges at QUIT; poll until it has finished the rename/unlink.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while dovecot.messages_on_disk() != 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(dovecot.messages_on_disk(), 2);
    Ok(())
}

#[test]
fn lock_session_gives_in_use_to_a_second_session() -> TestResult {
    let dovecot = dovecot_or_skip!(
        DovecotOptions {
            messages: mailbox::generate(2, 300, 1),
            lock_session: true,
            ..DovecotOptions::default()
        },
        Ok(())
    );
    let (mut first, _) = Raw::connect(&dovecot)?;
    assert!(first.login(&dovecot)?.starts_with("+OK"));
    let (mut second, _) = Raw::connect(&dovecot)?;
    let refused = second.login(&dovecot)?;
    assert!(refused.starts_with("-ERR [IN-USE]"), "{refused}");
    assert!(first.command("QUIT")?.starts_with("+OK"));
    let (mut third, _) = Raw::connect(&dovecot)?;
    let mut answer = third.login(&dovecot)?;
    // The lock is released when the first session has fully ended: poll for it.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !answer.starts_with("+OK") && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        let (mut again, _) = Raw::connect(&dovecot)?;
        answer = again.login(&dovecot)?;
        third = again;
    }
    assert!(answer.starts_with("+OK"), "{answer}");
    drop(third);
    Ok(())
}

#[test]
fn hostile_mailbox_is_byte_exact_over_tls_and_stls() -> TestResult {
    let hostile = hostile_messages();
    let dovecot = dovecot_or_skip!(
        DovecotOptions {
            messages: hostile.iter().map(|m| m.data.clone()).collect(),
            ..DovecotOptions::default()
        },
        Ok(())
    );
    let tls = client_config(dovecot.ca_pem())?;
    let count = u32::try_from(hostile.len())?;

    let mut conn = Conn::implicit(dovecot.pop3s_addr(), tls.clone())?;
    conn.run(Login::new(dovecot.user(), dovecot.password()))
        .map_err(|f| format!("{f:?}"))?;
    let (outcomes, bodies) = conn
        .fetch_each(RetrMany::new((1..=count).collect()))
        .map_err(|f| format!("{f:?}"))?;
    assert!(outcomes.iter().all(|o| o.result.is_ok()), "{outcomes:?}");
    for (message, body) in hostile.iter().zip(&bodies) {
        assert!(
            body == &message.data,
            "{} differs: {} vs {} bytes",
            message.name,
            body.len(),
            message.data.len()
        );
    }

    let mut conn = Conn::stls(dovecot.pop3_addr(), tls)?;
    let outcome = conn
        .run(Login::new(dovecot.user(), dovecot.password()))
        .map_err(|f| format!("{f:?}"))?;
    assert_eq!(outcome.method, "PLAIN");
    let size = conn.run(Stat::new()).map_err(|f| format!("{f:?}"))?;
    assert_eq!(size.messages, count);
    conn.run(DeleMany::new(vec![1, 2]))
        .map_err(|f| format!("{f:?}"))?;
    assert!(
        conn.run(Quit::new())
            .map_err(|f| format!("{f:?}"))?
            .committed
    );
    assert_eq!(dovecot.messages_on_disk(), hostile.len() - 2);
    Ok(())
}

#[test]
fn instances_run_side_by_side_and_clean_up() -> TestResult {
    let starts: Vec<_> = (0..2)
        .map(|_| std::thread::spawn(|| Dovecot::start(DovecotOptions::default())))
        .collect();
    let mut instances = Vec::new();
    for start in starts {
        match start.join().map_err(|_| "start panicked")?? {
            Some(dovecot) => instances.push(dovecot),
            None => return Ok(()),
        }
    }
    let [a, b] = &instances[..] else {
        return Err("expected two instances".into());
    };
    assert_ne!(a.pop3_addr(), b.pop3_addr());
    assert_ne!(a.dir(), b.dir());
    assert!(a.maildir().join("new").is_dir());
    for dovecot in &instances {
        let (_, greeting) = Raw::connect(dovecot)?;
        assert!(greeting.starts_with("+OK"));
        let master = std::fs::read_to_string(dovecot.dir().join("run/master.pid"))?;
        assert_eq!(Some(master.trim().parse()?), dovecot.pid());
    }
    let dirs: Vec<_> = instances.iter().map(|d| d.dir().to_owned()).collect();
    let addr = a.pop3_addr();
    drop(instances);
    for dir in dirs {
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
    assert!(TcpStream::connect(addr).is_err(), "Dovecot still listening");
    Ok(())
}
