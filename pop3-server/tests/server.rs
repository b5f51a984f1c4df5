//! The server as a user embeds it: TLS setups, addresses, hostile clients, counters.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv6Addr, SocketAddr, TcpStream};
use std::time::Duration;

use pop3_server::{Certificates, Maildrop, Profile, Server};
use pop3_sync::{BlockingSession, Client, ConnectOptions, Login, TlsMode};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A bound against hanging, never a measure.
const SETTLE: Duration = Duration::from_secs(30);

/// A plaintext connection that has read the greeting.
fn raw(addr: SocketAddr) -> io::Result<(TcpStream, BufReader<TcpStream>, String)> {
    let stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(SETTLE))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut greeting = String::new();
    reader.read_line(&mut greeting)?;
    Ok((stream, reader, greeting))
}

fn read_line(reader: &mut impl BufRead) -> io::Result<String> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    Ok(line)
}

#[test]
fn stls_upgrades_and_logs_in() -> TestResult {
    let server = Server::builder()
        .messages(["Subject: a\r\n\r\nA\r\n"])
        .start()?;
    let options = ConnectOptions::new("localhost")
        .port(server.addr().port())
        .tls(TlsMode::StartTls)
        .timeout(SETTLE)
        .add_root_pem(server.ca_pem().unwrap_or_default().as_bytes())?;
    let mut client = Client::connect(&options)?;
    client.login(Login::new(server.user(), server.password()))?;
    assert!(client.tls_info().is_some());
    assert_eq!(client.stat()?.messages, 1);
    client.quit()?;
    let received = server.received();
    let stls = received.iter().position(|l| l == "STLS").ok_or("no STLS")?;
    assert!(received[..stls].iter().all(|l| !l.starts_with("AUTH")));
    Ok(())
}

#[test]
fn serves_a_certificate_given_as_pem() -> TestResult {
    let certs = Certificates::generate()?;
    let server = Server::builder()
        .certificate_pem(certs.cert_pem(), certs.key_pem())
        .user("bob", "hunter2")
        .start()?;
    assert!(server.ca_pem().is_none());
    let options = ConnectOptions::new("127.0.0.1")
        .port(server.tls_addr().ok_or("TLS")?.port())
        .timeout(SETTLE)
        .add_root_pem(certs.ca_pem().as_bytes())?;
    let mut client = Client::connect(&options)?;
    client.login(Login::new("bob", "hunter2"))?;
    client.quit()?;
    assert_eq!(server.logins(), 1);

    let refused = Server::builder()
        .certificate_pem("not a certificate", certs.key_pem())
        .start();
    assert!(matches!(refused, Err(pop3_server::Error::Tls(_))));
    Ok(())
}

#[test]
fn wrong_passwords_are_refused_and_counted_nowhere() -> TestResult {
    let server = Server::builder().start()?;
    let options = ConnectOptions::new("127.0.0.1")
        .port(server.tls_addr().ok_or("TLS")?.port())
        .timeout(SETTLE)
        .add_root_pem(server.ca_pem().unwrap_or_default().as_bytes())?;
    let mut client = Client::connect(&options)?;
    let refused = client.login(Login::new("alice", "wrong"));
    assert!(refused.is_err());
    assert_eq!((server.logins(), server.refused_logins()), (0, 0));
    Ok(())
}

#[test]
fn listens_on_ipv6_loopback_when_asked() -> TestResult {
    let any_v6 = SocketAddr::from((Ipv6Addr::LOCALHOST, 0));
    if std::net::TcpListener::bind(any_v6).is_err() {
        println!("skipped: this machine has no IPv6 loopback (::1)");
        return Ok(());
    }
    let server = Server::builder()
        .listen(any_v6)
        .listen_tls(any_v6)
        .start()?;
    assert!(server.addr().is_ipv6() && server.tls_addr().is_some_and(|a| a.is_ipv6()));
    let options = ConnectOptions::new("::1")
        .port(server.tls_addr().ok_or("TLS")?.port())
        .timeout(SETTLE)
        .add_root_pem(server.ca_pem().unwrap_or_default().as_bytes())?;
    let mut client = Client::connect(&options)?;
    client.login(Login::new(server.user(), server.password()))?;
    client.quit()?;
    Ok(())
}

#[test]
fn a_port_in_use_is_a_bind_error() -> TestResult {
    let first = Server::builder().tls(false).start()?;
    let second = Server::builder().tls(false).listen(first.addr()).start();
    assert!(
        matches!(&second, Err(pop3_server::Error::Bind { addr, .. }) if *addr == first.addr()),
        "{second:?}"
    );
    Ok(())
}

#[test]
fn an_endless_line_is_refused_and_the_connection_closed() -> TestResult {
    let server = Server::builder().tls(false).start()?;
    let (mut stream, mut reader, greeting) = raw(server.addr())?;
    assert!(greeting.starts_with("+OK"));
    // 256 KiB without a line end: the server gives up on the line long before the end.
    let writer = std::thread::spawn(move || {
        let chunk = vec![b'A'; 64 * 1024];
        for _ in 0..4 {
            if stream.write_all(&chunk).is_err() {
                break;
            }
        }
    });
    let answer = read_line(&mut reader)?;
    assert!(answer.starts_with("-ERR"), "{answer}");
    let mut rest = Vec::new();
    let _ = reader.read_to_end(&mut rest);
    let _ = writer.join();
    assert!(server.wait_until_idle(SETTLE));
    // What was recorded of the line is bounded too.
    let received = server.received();
    assert_eq!(received.len(), 1);
    assert!(received[0].len() <= 64 * 1024, "{}", received[0].len());
    Ok(())
}

#[test]
fn garbage_gets_errors_and_the_server_carries_on() -> TestResult {
    let maildrop = Maildrop::new();
    maildrop.push("Subject: a\r\n\r\nA\r\n");
    let server = Server::builder()
        .tls(false)
        .maildrop(maildrop.clone())
        .start()?;
    let (mut stream, mut reader, _) = raw(server.addr())?;
    let garbage: [&[u8]; 9] = [
        b"\x00\x01\x02\r\n",
        b"\xff\xfe invalid utf-8\r\n",
        b"RETR 1\r\n",
        b"LIST -1\r\n",
        b"TOP 1\r\n",
        b"AUTH\r\n",
        b"USER\r\n",
        b"bare\rcarriage\r\n",
        b"PASS secret\r\n",
    ];
    for line in garbage {
        stream.write_all(line)?;
        let answer = read_line(&mut reader)?;
        assert!(answer.starts_with("-ERR"), "{line:?} got {answer:?}");
    }
    // A SASL exchange answered with garbage ends the exchange, not the server.
    stream.write_all(b"AUTH PLAIN\r\n")?;
    assert!(read_line(&mut reader)?.starts_with('+'));
    stream.write_all(b"!!! not base64 !!!\r\n")?;
    assert!(read_line(&mut reader)?.starts_with("-ERR"));
    // Message numbers out of every range, once logged in.
    stream.write_all(b"USER alice\r\nPASS secret\r\n")?;
    assert!(read_line(&mut reader)?.starts_with("+OK"));
    assert!(read_line(&mut reader)?.starts_with("+OK"));
    for line in [
        &b"RETR 0\r\n"[..],
        b"RETR 2\r\n",
        b"RETR 99999999999999999999\r\n",
        b"DELE 4294967295\r\n",
        b"TOP 1 -5\r\n",
    ] {
        stream.write_all(line)?;
        let answer = read_line(&mut reader)?;
        assert!(answer.starts_with("-ERR"), "{line:?} got {answer:?}");
    }
    stream.write_all(b"QUIT\r\n")?;
    assert!(read_line(&mut reader)?.starts_with("+OK"));
    // The server still serves.
    let (_, _, greeting) = raw(server.addr())?;
    assert!(greeting.starts_with("+OK"));
    assert_eq!(maildrop.len(), 1);
    assert!(server.bytes_received() > 100 && server.bytes_sent() > 100);
    Ok(())
}

#[test]
fn profiles_change_what_the_server_says() -> TestResult {
    let server = Server::builder()
        .tls(false)
        .apop(false)
        .greeting("Hello there.")
        .profile(Profile::NoPipelining)
        .profile(Profile::LfOnly)
        .profile(Profile::LoginDelay(Duration::from_secs(3600)))
        .start()?;
    let (mut stream, mut reader, greeting) = raw(server.addr())?;
    assert_eq!(greeting, "+OK Hello there.\n");
    stream.write_all(b"CAPA\r\n")?;
    let mut capa = Vec::new();
    loop {
        let line = read_line(&mut reader)?;
        if line == ".\n" || line.is_empty() {
            break;
        }
        capa.push(line);
    }
    assert!(capa.iter().all(|l| !l.ends_with("\r\n")));
    assert!(capa.iter().any(|l| l == "LOGIN-DELAY 3600\n"), "{capa:?}");
    assert!(capa.iter().all(|l| l != "PIPELINING\n"), "{capa:?}");
    assert!(capa.iter().all(|l| l != "STLS\n"), "no TLS, no STLS");
    Ok(())
}
