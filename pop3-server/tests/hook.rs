//! The extension point: what a [`ConnectionHook`] sees and what it can change.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use pop3_server::hook::{
    Command, ConnectionHook, ConnectionInfo, Flow, Intercept, Line, LoginInfo, Response,
};
use pop3_server::{Maildrop, Server};
use pop3_sync::{BlockingSession, Client, ConnectOptions, Error, ErrorKind, Login};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A bound against hanging, never a measure.
const SETTLE: Duration = Duration::from_secs(30);

/// A log shared between a test and its hooks.
type Log<T> = Arc<Mutex<Vec<T>>>;

fn push<T>(log: &Log<T>, item: T) {
    log.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(item);
}

fn entries<T: Clone>(log: &Log<T>) -> Vec<T> {
    log.lock().unwrap_or_else(PoisonError::into_inner).clone()
}

fn options(server: &Server) -> Result<ConnectOptions, Error> {
    ConnectOptions::new("127.0.0.1")
        .port(server.tls_addr().map_or(0, |a| a.port()))
        .timeout(SETTLE)
        .add_root_pem(server.ca_pem().unwrap_or_default().as_bytes())
}

fn login(server: &Server) -> Result<Client, Error> {
    let mut client = Client::connect(&options(server)?)?;
    client.login(Login::new(server.user(), server.password()))?;
    Ok(client)
}

/// A plaintext connection that has read the greeting; returns it too.
fn raw(server: &Server) -> io::Result<(TcpStream, BufReader<TcpStream>, String)> {
    let stream = TcpStream::connect(server.addr())?;
    stream.set_read_timeout(Some(SETTLE))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut greeting = String::new();
    reader.read_line(&mut greeting)?;
    Ok((stream, reader, greeting))
}

/// Answers DELE itself, so the server never marks anything.
struct FakeDele {
    lines: Log<(usize, String, bool, bool)>,
}

impl ConnectionHook for FakeDele {
    fn on_command(&mut self, line: &Line<'_>) -> Intercept {
        push(
            &self.lines,
            (
                line.number(),
                String::from_utf8_lossy(line.text()).into_owned(),
                line.is_logged_in(),
                line.is_sasl_response(),
            ),
        );
        match line.command() {
            Some(Command::Dele(_)) => Intercept::reply("+OK pretending\r\n"),
            _ => Intercept::Execute,
        }
    }
}

#[test]
fn a_reply_replaces_the_answer_and_the_command_is_not_executed() -> TestResult {
    let maildrop = Maildrop::new();
    maildrop.push("Subject: keep me\r\n\r\nhi\r\n");
    let lines = Log::default();
    let hook_lines = Arc::clone(&lines);
    let server = Server::builder()
        .maildrop(maildrop.clone())
        .connection_hook(move |_| {
            Box::new(FakeDele {
                lines: Arc::clone(&hook_lines),
            })
        })
        .start()?;
    let mut client = Client::connect(&options(&server)?)?;
    client.login(Login::new(server.user(), server.password()).method(
        pop3_sync::AuthMethod::Sasl(pop3_server::MechanismKind::Plain),
    ))?;
    let status = client.dele(1)?;
    assert_eq!(status.text, "pretending");
    assert!(client.quit()?.committed);
    assert_eq!(maildrop.len(), 1, "DELE never reached the server");
    let lines = entries(&lines);
    let dele = lines
        .iter()
        .find(|(_, text, _, _)| text == "DELE 1")
        .ok_or("no DELE line")?;
    assert!(dele.2, "DELE comes after login");
    assert!(
        lines
            .iter()
            .all(|(_, text, logged_in, _)| !text.starts_with("AUTH") || !logged_in)
    );
    let numbers: Vec<usize> = lines.iter().map(|l| l.0).collect();
    assert_eq!(numbers, (1..=lines.len()).collect::<Vec<_>>());
    Ok(())
}

/// What one chunk of a RETR answer looked like.
#[derive(Clone, Debug)]
struct Chunk {
    first: bool,
    last: bool,
    bytes: Vec<u8>,
    uid: Option<String>,
    no_such_uid: bool,
}

struct Watch {
    chunks: Log<Chunk>,
}

impl ConnectionHook for Watch {
    fn on_response(&mut self, response: &mut Response<'_>) -> Flow {
        if let Some(Command::Retr(msg)) = response.command() {
            let msg = *msg;
            push(
                &self.chunks,
                Chunk {
                    first: response.is_first(),
                    last: response.is_last(),
                    bytes: response.bytes().to_vec(),
                    uid: response.uid(msg).map(str::to_owned),
                    no_such_uid: response.uid(99).is_none() && response.uid(0).is_none(),
                },
            );
        }
        Flow::Continue
    }
}

#[test]
fn a_long_answer_comes_in_chunks_marked_first_and_last() -> TestResult {
    let body = pop3_server::mailbox::generate(1, 300_000, 5)
        .pop()
        .ok_or("a message")?;
    let chunks = Log::default();
    let hook_chunks = Arc::clone(&chunks);
    let server = Server::builder()
        .messages([body.clone()])
        .connection_hook(move |_| {
            Box::new(Watch {
                chunks: Arc::clone(&hook_chunks),
            })
        })
        .start()?;
    let mut client = login(&server)?;
    assert_eq!(client.retr(1)?, body);
    client.quit()?;
    let chunks = entries(&chunks);
    assert!(chunks.len() > 2, "{} chunks", chunks.len());
    assert!(chunks[0].first && chunks.iter().skip(1).all(|c| !c.first));
    let last = chunks.len() - 1;
    assert!(chunks[last].last && chunks[..last].iter().all(|c| !c.last));
    assert!(chunks[0].bytes.starts_with(b"+OK"));
    assert!(chunks[last].bytes.ends_with(b"\r\n.\r\n"));
    assert!(
        chunks
            .iter()
            .all(|c| c.uid.as_deref() == Some("uid-000001"))
    );
    assert!(chunks.iter().all(|c| c.no_such_uid));
    assert!(server.largest_write() <= 2 * 64 * 1024);
    Ok(())
}

/// Cuts the answer to RETR after its status line and aborts.
struct CutRetr;

impl ConnectionHook for CutRetr {
    fn on_response(&mut self, response: &mut Response<'_>) -> Flow {
        if matches!(response.command(), Some(Command::Retr(_))) && response.is_first() {
            let status_end = response
                .bytes()
                .iter()
                .position(|&b| b == b'\n')
                .map_or(0, |i| i + 1);
            response.bytes_mut().truncate(status_end + 5);
            return Flow::Abort;
        }
        Flow::Continue
    }
}

#[test]
fn an_answer_cut_short_fails_the_client_and_keeps_the_maildrop() -> TestResult {
    let maildrop = Maildrop::new();
    maildrop.push("Subject: cut\r\n\r\nthis body is never whole\r\n");
    let server = Server::builder()
        .maildrop(maildrop.clone())
        .connection_hook(|_| Box::new(CutRetr))
        .start()?;
    let mut client = login(&server)?;
    client.dele(1)?;
    let result = client.retr(1);
    assert!(result.is_err(), "{result:?}");
    // DELE was not followed by QUIT: nothing is deleted.
    assert!(server.wait_until_idle(SETTLE));
    assert_eq!(maildrop.len(), 1);
    assert_eq!(server.logged_in_sessions(), 0);
    Ok(())
}

/// Ends the connection when a read brings a NOOP.
struct NoNoop;

impl ConnectionHook for NoNoop {
    fn on_read(&mut self, bytes: &[u8]) -> Flow {
        if bytes.windows(4).any(|w| w == b"NOOP") {
            Flow::Abort
        } else {
            Flow::Continue
        }
    }
}

#[test]
fn a_read_can_end_the_connection_and_its_lines_are_still_recorded() -> TestResult {
    let server = Server::builder()
        .tls(false)
        .connection_hook(|_| Box::new(NoNoop))
        .start()?;
    let (mut stream, mut reader, greeting) = raw(&server)?;
    assert!(greeting.starts_with("+OK"));
    stream.write_all(b"CAPA\r\n")?;
    let mut line = String::new();
    reader.read_line(&mut line)?;
    assert!(line.starts_with("+OK"), "{line}");
    stream.write_all(b"NOOP\r\nNOOP\r\n")?;
    let mut rest = Vec::new();
    let _ = reader.read_to_end(&mut rest);
    assert!(
        !String::from_utf8_lossy(&rest).contains("+OK\r\n+OK"),
        "NOOPs were answered"
    );
    assert!(server.wait_until_idle(SETTLE));
    let received = server.received();
    assert_eq!(received.first().map(String::as_str), Some("CAPA"));
    assert!(received.iter().filter(|l| *l == "NOOP").count() >= 1);
    Ok(())
}

/// Records logins, and removes a message at the first one.
struct Logins {
    seen: Log<(String, usize, usize)>,
    maildrop: Maildrop,
}

impl ConnectionHook for Logins {
    fn on_login(&mut self, login: &LoginInfo<'_>) {
        push(
            &self.seen,
            (login.user().to_owned(), login.logins(), login.messages()),
        );
        if login.logins() == 1 {
            self.maildrop.remove("uid-000002");
        }
    }
}

#[test]
fn a_change_at_login_is_seen_by_later_sessions_only() -> TestResult {
    let maildrop = Maildrop::new();
    maildrop.push("Subject: 1\r\n\r\n1\r\n");
    maildrop.push("Subject: 2\r\n\r\n2\r\n");
    let seen = Log::default();
    let (hook_seen, hook_maildrop) = (Arc::clone(&seen), maildrop.clone());
    let server = Server::builder()
        .maildrop(maildrop.clone())
        .connection_hook(move |_| {
            Box::new(Logins {
                seen: Arc::clone(&hook_seen),
                maildrop: hook_maildrop.clone(),
            })
        })
        .start()?;
    let mut first = login(&server)?;
    assert!(!maildrop.contains("uid-000002"));
    let mut second = login(&server)?;
    assert_eq!(first.list()?.len(), 2);
    assert_eq!(second.list()?.len(), 1);
    first.quit()?;
    second.quit()?;
    assert_eq!(
        entries(&seen),
        [("alice".to_owned(), 1, 2), ("alice".to_owned(), 2, 1)]
    );
    Ok(())
}

/// Answers the first line with a long reply streamed from a reader, then closes.
struct Flood {
    len: u64,
    replied: bool,
}

impl ConnectionHook for Flood {
    fn on_command(&mut self, line: &Line<'_>) -> Intercept {
        if line.number() == 1 {
            self.replied = true;
            let filler = io::repeat(b'x').take(self.len);
            return Intercept::Reply(Box::new(io::Cursor::new(b"+OK ").chain(filler)));
        }
        Intercept::Execute
    }

    fn on_response(&mut self, response: &mut Response<'_>) -> Flow {
        if self.replied && response.is_last() {
            return Flow::Close;
        }
        Flow::Continue
    }
}

#[test]
fn a_streamed_reply_is_written_in_bounded_chunks() -> TestResult {
    let len = 1_000_000;
    let server = Server::builder()
        .tls(false)
        .connection_hook(move |_| {
            Box::new(Flood {
                len,
                replied: false,
            })
        })
        .start()?;
    let (mut stream, mut reader, _) = raw(&server)?;
    stream.write_all(b"CAPA\r\n")?;
    let mut all = Vec::new();
    reader.read_to_end(&mut all)?;
    assert_eq!(all.len() as u64, 4 + len);
    assert!(all.starts_with(b"+OK xxx"));
    assert!(
        server.largest_write() <= 64 * 1024,
        "{}",
        server.largest_write()
    );
    Ok(())
}

/// Replaces the greeting and records the connection's facts.
struct Greeter {
    info: ConnectionInfo,
    seen: Log<(usize, bool, bool)>,
}

impl ConnectionHook for Greeter {
    fn on_response(&mut self, response: &mut Response<'_>) -> Flow {
        if response.is_greeting() {
            push(
                &self.seen,
                (
                    self.info.number(),
                    self.info.is_implicit_tls(),
                    self.info.peer().is_some_and(|p| p.ip().is_loopback()),
                ),
            );
            *response.bytes_mut() = b"+OK hooked greeting\r\n".to_vec();
        }
        Flow::Continue
    }
}

#[test]
fn the_factory_sees_each_connection_and_the_greeting_can_change() -> TestResult {
    let seen = Log::default();
    let hook_seen = Arc::clone(&seen);
    let server = Server::builder()
        .connection_hook(move |info| {
            Box::new(Greeter {
                info: info.clone(),
                seen: Arc::clone(&hook_seen),
            })
        })
        .start()?;
    let (stream, reader, greeting) = raw(&server)?;
    assert_eq!(greeting, "+OK hooked greeting\r\n");
    drop((stream, reader));
    let client = Client::connect(&options(&server)?)?;
    drop(client);
    assert!(server.wait_until_idle(SETTLE));
    assert_eq!(entries(&seen), [(1, false, true), (2, true, true)]);
    assert_eq!(server.connections(), 2);
    Ok(())
}

/// Closes politely when QUIT would be answered: QUIT is then never handled.
struct NoQuit;

impl ConnectionHook for NoQuit {
    fn on_command(&mut self, line: &Line<'_>) -> Intercept {
        match line.command() {
            Some(Command::Quit) => Intercept::Close,
            _ => Intercept::Execute,
        }
    }
}

#[test]
fn closing_instead_of_quit_rolls_the_deletions_back() -> TestResult {
    let maildrop = Maildrop::new();
    maildrop.push("Subject: stay\r\n\r\n\r\n");
    let server = Server::builder()
        .maildrop(maildrop.clone())
        .connection_hook(|_| Box::new(NoQuit))
        .start()?;
    let mut client = login(&server)?;
    client.dele(1)?;
    let result = client.quit();
    assert!(
        matches!(&result, Err(e) if e.kind() == ErrorKind::Closed),
        "{result:?}"
    );
    assert!(server.wait_until_idle(SETTLE));
    assert_eq!(maildrop.len(), 1);
    Ok(())
}
