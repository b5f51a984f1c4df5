//! Slow and hostile servers, on every adapter and runtime: a status or listing line must
//! complete within the line timeout of its first byte (a server trickling a byte now and
//! then is never idle), while a message body only has to keep moving (the idle timer).
//!
//! The servers here are slow by construction; the tests assert the typed error. A trickle
//! goes on until the client hangs up, so a loaded machine can only make it longer; time
//! bounds it only as a safety net (a trickle the client never gives up on stops after a
//! minute, which fails the assertion instead of hanging the test), and every server keeps
//! its connection open until the client closes it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use common::Session;
use pop3_session::{AuthMethod, ConnectOptions, Error, ErrorKind, Login, TlsMode};
use pop3_testkit::{Profile, TestServer};

/// The pause between trickled bytes.
const PAUSE: Duration = Duration::from_millis(50);
/// How long an endless trickle goes on, if the client never hangs up, before the server
/// gives up (the safety net; a correct client hangs up after [`LINE`]).
const SAFETY_NET: Duration = Duration::from_secs(60);
/// The line deadline the clients use.
const LINE: Duration = Duration::from_secs(1);

/// What the scripted server sends: `now` at once, then `trickle` a byte at a time,
/// then, if `endless`, one more byte every pause until the client hangs up (a write
/// fails) or the safety net.
#[derive(Default)]
struct Answer {
    now: Vec<u8>,
    trickle: Vec<u8>,
    endless: bool,
}

impl Answer {
    fn now(bytes: &[u8]) -> Self {
        Self {
            now: bytes.to_vec(),
            ..Self::default()
        }
    }

    fn send(&self, stream: &mut TcpStream) -> std::io::Result<()> {
        stream.write_all(&self.now)?;
        for byte in &self.trickle {
            std::thread::sleep(PAUSE);
            stream.write_all(&[*byte])?;
        }
        let started = Instant::now();
        while self.endless && started.elapsed() < SAFETY_NET {
            std::thread::sleep(PAUSE);
            stream.write_all(b"x")?;
        }
        Ok(())
    }
}

/// A plaintext server: the greeting, then an answer per command line.
fn scripted(greeting: Answer, answer: impl Fn(&str) -> Answer + Send + 'static) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let Ok((mut stream, _)) = listener.accept() else {
            return;
        };
        if greeting.send(&mut stream).is_err() || greeting.endless {
            return;
        }
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
            let reply = answer(line.trim_end());
            if reply.send(&mut stream).is_err() || reply.endless {
                return;
            }
            line.clear();
        }
    });
    addr
}

fn plain(addr: SocketAddr) -> ConnectOptions {
    ConnectOptions::new("127.0.0.1")
        .port(addr.port())
        .tls(TlsMode::Plain)
        .timeout(Duration::from_secs(20))
        .line_timeout(LINE)
}

fn login() -> Login {
    Login::new("alice", "secret")
        .method(AuthMethod::User)
        .allow_plaintext(true)
}

/// Logged-in answers for the scripted servers; `retr` and `list` answer those commands.
fn mailbox(retr: fn() -> Answer, list: fn() -> Answer) -> impl Fn(&str) -> Answer {
    move |command| match command {
        "CAPA" => Answer::now(b"+OK\r\nUSER\r\nUIDL\r\n.\r\n"),
        "LIST" => list(),
        "RETR 1" => retr(),
        "QUIT" => Answer::now(b"+OK bye\r\n"),
        _ => Answer::now(b"+OK\r\n"),
    }
}

fn assert_line_timeout(error: &Error, context: &str) {
    assert!(
        matches!(error, Error::LineTimeout { after, received } if *after == LINE && *received > 0),
        "{context}: {error}"
    );
    assert_eq!(error.kind(), ErrorKind::Timeout);
}

/// A greeting sent one byte at a time, without end: never idle, but its line never
/// completes in time.
async fn a_trickled_greeting_meets_the_line_deadline<S: Session>() {
    let greeting = Answer {
        now: b"+OK".to_vec(),
        endless: true,
        ..Answer::default()
    };
    let addr = scripted(greeting, |_| Answer::now(b"+OK\r\n"));
    let error = S::dial(&plain(addr))
        .await
        .err()
        .expect("the greeting never ends");
    assert_line_timeout(&error, S::NAME);
}

/// The same over implicit TLS, through the test kit's trickling profile: one byte of
/// plaintext per TLS record.
async fn a_trickled_greeting_over_tls<S: Session>() {
    let server = TestServer::builder()
        .profile(Profile::Trickle {
            bytes: 1,
            pause: PAUSE,
        })
        .greeting("a greeting long enough to take more than a second at this pace")
        .start();
    let options =
        common::options(server.tls_addr(), TlsMode::Implicit, server.ca_pem()).line_timeout(LINE);
    let error = S::dial(&options).await.err().expect("too slow");
    assert_line_timeout(&error, S::NAME);
}

/// A TLS server whose greeting is one large record, sent a byte at a time: nothing
/// decrypts until the record is whole, yet the line is under way from its first byte.
fn trickled_record() -> (SocketAddr, String) {
    tls_greeter(|stream, record| {
        let started = Instant::now();
        for byte in record {
            if started.elapsed() > SAFETY_NET || stream.write_all(&[byte]).is_err() {
                return;
            }
            std::thread::sleep(PAUSE);
        }
    })
}

/// A TLS server that completes the handshake (session tickets included), then hands
/// its greeting, encrypted as one record, to `send`. Returns its address and CA.
fn tls_greeter(send: fn(&mut TcpStream, Vec<u8>)) -> (SocketAddr, String) {
    let certs = pop3_testkit::certs::TestCertificates::generate().unwrap();
    let config = certs.server_config().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let Ok((mut stream, _)) = listener.accept() else {
            return;
        };
        let mut tls = rustls::ServerConnection::new(config).unwrap();
        while tls.is_handshaking() {
            if tls.complete_io(&mut stream).is_err() {
                return;
            }
        }
        // Whole records without application data go out at once: session tickets, and
        // a key update (a record the client receives after its handshake is over).
        let _ = tls.refresh_traffic_keys();
        while tls.wants_write() {
            if tls.write_tls(&mut stream).is_err() {
                return;
            }
        }
        let mut greeting = b"+OK ".to_vec();
        greeting.resize(3_000, b'x');
        greeting.extend_from_slice(b"\r\n");
        tls.writer().write_all(&greeting).unwrap();
        let mut record = Vec::new();
        while tls.wants_write() {
            tls.write_tls(&mut record).unwrap();
        }
        send(&mut stream, record);
        // Keep the connection open until the client closes it, however long it takes to
        // read: closing first could reset the connection before the greeting is read.
        let _ = std::io::copy(&mut stream, &mut std::io::sink());
    });
    (addr, certs.ca_pem().to_owned())
}

async fn a_trickled_tls_record_meets_the_line_deadline<S: Session>() {
    let (addr, ca) = trickled_record();
    let options = common::options(addr, TlsMode::Implicit, &ca).line_timeout(LINE);
    let error = S::dial(&options).await.err().expect("too slow");
    assert!(
        matches!(error, Error::LineTimeout { after, received: 0 } if after == LINE),
        "{}: {error}",
        S::NAME
    );
}

/// A server slow to greet after the handshake (records without application data, a key
/// update, arrive at once) is idle, not trickling: the line deadline does not start
/// before the greeting does. The pause only lets a wrong client fail: a right one passes
/// whatever the load, the greeting arriving whole within the idle timeout.
async fn a_late_greeting_is_not_a_trickled_line<S: Session>() {
    let (addr, ca) = tls_greeter(|stream, record| {
        std::thread::sleep(LINE * 2);
        let _ = stream.write_all(&record);
    });
    let options = common::options(addr, TlsMode::Implicit, &ca).line_timeout(LINE);
    let session = S::dial(&options)
        .await
        .expect("the greeting came in one piece");
    assert!(session.greeting().is_some_and(|g| g.status.is_ok()));
}

/// A listing whose second line trickles without end.
async fn a_trickled_listing_line_meets_the_line_deadline<S: Session>() {
    let list = || Answer {
        now: b"+OK 2 messages\r\n1 120\r\n2".to_vec(),
        endless: true,
        ..Answer::default()
    };
    let addr = scripted(
        Answer::now(b"+OK ready\r\n"),
        mailbox(|| Answer::now(b"-ERR\r\n"), list),
    );
    let mut session = S::dial(&plain(addr)).await.unwrap();
    session.login(login()).await.unwrap();
    let error = session.list().await.unwrap_err();
    assert_line_timeout(&error, S::NAME);
}

/// A body that takes longer than the line deadline but never stalls is received whole:
/// bodies keep the idle timer, even for a body line slower than the line deadline. A
/// loaded machine only makes the trickle slower, which a right client still accepts.
async fn a_slow_body_keeps_the_idle_timer<S: Session>() {
    let retr = || Answer {
        now: b"+OK 60 octets\r\n".to_vec(),
        // 63 bytes at 50 ms: over three seconds; its third line alone, 32 bytes, takes
        // 1.6 s, more than the line deadline.
        trickle: BODY.iter().chain(b".\r\n").copied().collect(),
        endless: false,
    };
    let addr = scripted(
        Answer::now(b"+OK ready\r\n"),
        mailbox(retr, || Answer::now(b"-ERR\r\n")),
    );
    let mut session = S::dial(&plain(addr)).await.unwrap();
    session.login(login()).await.unwrap();
    let body = session.retr(1).await.unwrap();
    assert_eq!(body, BODY);
    session.quit().await.unwrap();
}

/// The slow body: a header, a blank line, a line slower than the line deadline, another.
const BODY: &[u8] = b"Subject: slow\r\n\r\na line of thirty characters...\r\nten bytes\r\n";

on_every_runtime!(
    a_trickled_greeting_meets_the_line_deadline,
    a_trickled_greeting_over_tls,
    a_trickled_tls_record_meets_the_line_deadline,
    a_late_greeting_is_not_a_trickled_line,
    a_trickled_listing_line_meets_the_line_deadline,
    a_slow_body_keeps_the_idle_timer,
);
