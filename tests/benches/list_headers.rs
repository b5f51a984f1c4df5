//! One connection listing the headers of a mailbox (UIDL, LIST, then `TOP n 0` for every
//! message, pipelined), behind a latency proxy, against the in-process `TestServer` and a
//! real Dovecot, beside a raw probe that writes every `TOP n 0` at once on a bare TLS
//! socket and reads until every answer is in: the floor for that phase.
//!
//! `cargo bench -p pop3-testkit --bench list_headers` runs the full workload (2000
//! messages, 20 ms round trip, median of 5); under `cargo test` it runs a quick check.
//! Dovecot needs root to start; without it that row is skipped with a notice.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pop3_testkit::{Dovecot, DovecotOptions, LatencyProxy, TestServer, mailbox};
use pop3_tokio::{AsyncSession, Client, ConnectOptions, Discard, Login, TlsMode};
use rustls::pki_types::ServerName;

/// A server to measure: where it listens (implicit TLS) and how to log in.
struct Target {
    name: &'static str,
    addr: SocketAddr,
    ca_pem: String,
    user: String,
    password: String,
}

/// One run of our client: the phases' durations and the round trips of the TOP phase.
struct Run {
    login: Duration,
    listings: Duration,
    tops: Duration,
    top_round_trips: usize,
}

fn options(target: &Target, proxy: &LatencyProxy) -> ConnectOptions {
    ConnectOptions::new("127.0.0.1")
        .port(proxy.addr().port())
        .tls(TlsMode::Implicit)
        .add_root_pem(target.ca_pem.as_bytes())
        .expect("CA")
        .without_webpki_roots()
        .timeout(Duration::from_secs(60))
        .protocol(window())
}

/// The default window, or `WINDOW=n` commands (to see what the window costs).
fn window() -> pop3_tokio::Config {
    let config = pop3_tokio::Config::default();
    match std::env::var("WINDOW") {
        Ok(n) => config.window(pop3_tokio::Window::new().commands(n.parse().expect("WINDOW"))),
        Err(_) => config,
    }
}

/// Our client on tokio: connect and log in, UIDL and LIST, then every `TOP n 0`.
fn ours(target: &Target, proxy: &LatencyProxy, count: usize) -> Run {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let started = Instant::now();
        let mut client = Client::connect(&options(target, proxy))
            .await
            .expect("connect");
        client
            .login(Login::new(target.user.as_str(), target.password.as_str()))
            .await
            .expect("login");
        let login = started.elapsed();
        let started = Instant::now();
        let uids = client.uidl().await.expect("UIDL");
        let sizes = client.list().await.expect("LIST");
        assert_eq!((uids.len(), sizes.len()), (count, count));
        let listings = started.elapsed();
        let msgs: Vec<u32> = uids.iter().map(|u| u.msg).collect();
        let before = proxy.round_trips();
        let started = Instant::now();
        let outcomes = client.top_many(&msgs, 0, &mut Discard).await.expect("TOP");
        let tops = started.elapsed();
        let top_round_trips = proxy.round_trips() - before;
        assert!(outcomes.iter().all(|o| o.result.is_ok()));
        client.quit().await.expect("QUIT");
        Run {
            login,
            listings,
            tops,
            top_round_trips,
        }
    })
}

/// The raw probe: a bare TLS socket, USER/PASS, then every `TOP n 0` in one write and a
/// read until every answer's terminating line is in. Returns the TOP phase's duration.
fn probe(target: &Target, proxy: &LatencyProxy, count: usize) -> Duration {
    let config = options(target, proxy).tls_config().expect("TLS config");
    let name = ServerName::try_from("127.0.0.1").expect("name");
    let conn = rustls::ClientConnection::new(Arc::clone(&config), name).expect("TLS");
    let tcp = TcpStream::connect(proxy.addr()).expect("connect");
    tcp.set_nodelay(true).expect("nodelay");
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let mut reader = Lines::default();
    reader.read_lines(&mut tls, 1); // greeting
    let login = format!("USER {}\r\nPASS {}\r\n", target.user, target.password);
    tls.write_all(login.as_bytes()).expect("login");
    reader.read_lines(&mut tls, 2);
    let mut commands = Vec::new();
    for msg in 1..=count {
        commands.extend_from_slice(format!("TOP {msg} 0\r\n").as_bytes());
    }
    let started = Instant::now();
    tls.write_all(&commands).expect("write");
    tls.flush().expect("flush");
    reader.read_terminators(&mut tls, count);
    let elapsed = started.elapsed();
    let _ = tls.write_all(b"QUIT\r\n");
    elapsed
}

/// Counts lines and multi-line terminators across reads.
#[derive(Default)]
struct Lines {
    tail: Vec<u8>,
}

impl Lines {
    fn read_lines(&mut self, stream: &mut impl Read, count: usize) {
        let mut seen = 0;
        let mut buf = [0u8; 4096];
        while seen < count {
            if let Some(end) = self.tail.iter().position(|&b| b == b'\n') {
                assert!(self.tail.starts_with(b"+OK"), "server said no");
                self.tail.drain(..=end);
                seen += 1;
                continue;
            }
            let n = stream.read(&mut buf).expect("read");
            assert!(n > 0, "closed");
            self.tail.extend_from_slice(&buf[..n]);
        }
    }

    fn read_terminators(&mut self, stream: &mut impl Read, count: usize) {
        let mut seen = 0;
        let mut buf = vec![0u8; 64 * 1024];
        let mut window: Vec<u8> = std::mem::take(&mut self.tail);
        while seen < count {
            let n = stream.read(&mut buf).expect("read");
            assert!(n > 0, "closed");
            window.extend_from_slice(&buf[..n]);
            seen += memchr::memmem::find_iter(&window, b"\r\n.\r\n").count();
            // Keep the last bytes: a terminator may straddle two reads.
            let keep = window.len().min(4);
            window.drain(..window.len() - keep);
        }
    }
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

/// Measures one target and prints its row.
fn row(target: &Target, count: usize, one_way: Duration, runs: usize) {
    let proxy = LatencyProxy::start(target.addr, one_way).expect("proxy");
    // Warm the server (Dovecot's index and cache) once, unmeasured.
    ours(target, &proxy, count);
    let mut login = Vec::new();
    let mut listings = Vec::new();
    let mut tops = Vec::new();
    let mut probes = Vec::new();
    let mut round_trips = 0;
    for _ in 0..runs {
        let run = ours(target, &proxy, count);
        login.push(run.login);
        listings.push(run.listings);
        tops.push(run.tops);
        round_trips = run.top_round_trips;
        probes.push(probe(target, &proxy, count));
    }
    let (login, listings) = (median(login), median(listings));
    let (top, raw) = (median(tops), median(probes));
    println!(
        "| {} | {} | {} | {} | {} | {} | {:.2}× | {} |",
        target.name,
        ms(login),
        ms(listings),
        ms(top),
        round_trips,
        ms(raw),
        top.as_secs_f64() / raw.as_secs_f64(),
        ms(login + listings + top),
    );
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (count, one_way, runs) = if full {
        (2000, Duration::from_millis(10), 5)
    } else {
        (40, Duration::from_millis(1), 1)
    };
    let messages = mailbox::generate(count, 3_000, 1);
    println!(
        "list-with-headers of {count} messages, one connection, implicit TLS, {} ms round trip, median of {runs}",
        2 * one_way.as_millis()
    );
    println!(
        "| server | connect + login | UIDL + LIST | TOP n 0 phase | its client flights | raw all-at-once probe | TOP phase / probe | total |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let server = TestServer::builder().messages(messages.clone()).start();
    row(
        &Target {
            name: "TestServer",
            addr: server.tls_addr(),
            ca_pem: server.ca_pem().to_owned(),
            user: server.user().to_owned(),
            password: server.password().to_owned(),
        },
        count,
        one_way,
        runs,
    );
    drop(server);
    if !full {
        return; // the quick check under `cargo test` does not start Dovecot
    }
    let options = DovecotOptions {
        messages,
        ..DovecotOptions::default()
    };
    match Dovecot::start(options) {
        Ok(Some(dovecot)) => row(
            &Target {
                name: "Dovecot",
                addr: dovecot.pop3s_addr(),
                ca_pem: dovecot.ca_pem().to_owned(),
                user: dovecot.user().to_owned(),
                password: dovecot.password().to_owned(),
            },
            count,
            one_way,
            runs,
        ),
        Ok(None) => println!("(Dovecot row skipped: Dovecot is not installed or not root)"),
        Err(e) => println!("(Dovecot row skipped: {e})"),
    }
}
