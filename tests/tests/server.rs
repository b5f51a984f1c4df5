//! The test server over real TCP and TLS, driven by `pop3_proto`'s client and tasks.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use pop3_proto::sasl::MechanismKind;
use pop3_proto::task::{
    AuthMethod, DeleMany, List, Login, Noop, Quit, Retr, RetrMany, Rset, Stat, Top, Uidl,
};
use pop3_proto::{Config, Error, LineKind, Pipelining, RespCode};
use pop3_testkit::mailbox::{self, hostile_messages};
use pop3_testkit::{Fault, LatencyProxy, Profile, TestServer};
use support::{Conn, Failure};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn three_messages() -> Vec<Vec<u8>> {
    mailbox::generate(3, 600, 11)
}

/// Logs in over implicit TLS with the default (strongest) method.
fn logged_in(server: &TestServer) -> Result<Conn, Box<dyn std::error::Error>> {
    let mut conn = Conn::implicit(server.tls_addr(), server.client_config())?;
    conn.run(Login::new(server.user(), server.password()))
        .map_err(|f| format!("login failed: {f:?}"))?;
    Ok(conn)
}

/// Reads until the server closes the connection: end of stream, or a reset (a close with
/// our bytes unread). Anything else, the read timeout above all (a server that stopped
/// writing but never closed), is an error.
fn read_until_closed(mut stream: impl Read) -> Result<Vec<u8>, String> {
    let mut all = Vec::new();
    match stream.read_to_end(&mut all) {
        Ok(_) => Ok(all),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => Ok(all),
        Err(e) => Err(format!(
            "the connection was not closed: {e} (after {} bytes)",
            all.len()
        )),
    }
}

fn no_credentials_sent(server: &TestServer) -> bool {
    server
        .received()
        .iter()
        .all(|l| !l.starts_with("PASS") && !l.starts_with("AUTH") && !l.starts_with("APOP"))
}

#[test]
fn login_over_implicit_tls_uses_scram() -> TestResult {
    let server = TestServer::builder().messages(three_messages()).start();
    let mut conn = Conn::implicit(server.tls_addr(), server.client_config())?;
    let outcome = conn
        .run(Login::new("alice", "secret"))
        .map_err(|f| format!("{f:?}"))?;
    assert_eq!(outcome.method, "SCRAM-SHA-256");
    let size = conn.run(Stat::new()).map_err(|f| format!("{f:?}"))?;
    assert_eq!(size.messages, 3);
    let quit = conn.run(Quit::new()).map_err(|f| format!("{f:?}"))?;
    assert!(quit.committed);
    assert_eq!(server.connections(), 1);
    let received = server.received();
    assert!(
        received
            .iter()
            .any(|l| l.starts_with("AUTH SCRAM-SHA-256 "))
    );
    assert!(received.iter().all(|l| !l.starts_with("PASS")));
    assert_eq!(received.last().map(String::as_str), Some("QUIT"));
    Ok(())
}

#[test]
fn login_over_stls_upgrades_before_credentials() -> TestResult {
    let server = TestServer::builder().messages(three_messages()).start();
    let mut conn = Conn::stls(server.addr(), server.client_config())?;
    conn.run(Login::new("alice", "secret"))
        .map_err(|f| format!("{f:?}"))?;
    assert!(conn.is_tls() && conn.client.is_tls());
    let received = server.received();
    let stls = received.iter().position(|l| l == "STLS").ok_or("no STLS")?;
    let auth = received
        .iter()
        .position(|l| l.starts_with("AUTH"))
        .ok_or("no AUTH")?;
    assert!(stls < auth, "{received:?}");
    assert_eq!(received[..=stls], ["CAPA", "STLS"]);
    assert_eq!(received[stls + 1], "CAPA", "CAPA again after TLS");
    Ok(())
}

#[test]
fn every_authentication_method_works() -> TestResult {
    let server = TestServer::builder()
        .sasl(vec![
            MechanismKind::Plain,
            MechanismKind::Login,
            MechanismKind::CramMd5,
            MechanismKind::ScramSha1,
            MechanismKind::ScramSha256,
            MechanismKind::XOAuth2,
            MechanismKind::OAuthBearer,
        ])
        .start();
    let methods = [
        (AuthMethod::User, "USER"),
        (AuthMethod::Apop, "APOP"),
        (AuthMethod::Sasl(MechanismKind::Plain), "PLAIN"),
        (AuthMethod::Sasl(MechanismKind::Login), "LOGIN"),
        (AuthMethod::Sasl(MechanismKind::CramMd5), "CRAM-MD5"),
        (AuthMethod::Sasl(MechanismKind::ScramSha1), "SCRAM-SHA-1"),
        (
            AuthMethod::Sasl(MechanismKind::ScramSha256),
            "SCRAM-SHA-256",
        ),
        (AuthMethod::Sasl(MechanismKind::XOAuth2), "XOAUTH2"),
        (AuthMethod::Sasl(MechanismKind::OAuthBearer), "OAUTHBEARER"),
    ];
    for (method, name) in methods {
        let mut conn = Conn::implicit(server.tls_addr(), server.client_config())?;
        let outcome = conn
            .run(Login::new("alice", "secret").method(method))
            .map_err(|f| format!("{name}: {f:?}"))?;
        assert_eq!(outcome.method, name);
        conn.run(Quit::new())
            .map_err(|f| format!("{name}: {f:?}"))?;
    }
    Ok(())
}

#[test]
fn wrong_password_is_refused_with_auth_code() -> TestResult {
    let server = TestServer::start();
    for method in [
        AuthMethod::User,
        AuthMethod::Sasl(MechanismKind::ScramSha256),
    ] {
        let mut conn = Conn::implicit(server.tls_addr(), server.client_config())?;
        match conn.run(Login::new("alice", "wrong").method(method)) {
            Err(Failure::Proto(Error::AuthFailed(status))) => {
                assert_eq!(status.code, Some(RespCode::Auth));
            }
            // SCRAM may notice on its own side first.
            Err(Failure::Proto(Error::Sasl(_))) => {}
            other => return Err(format!("expected a refusal, got {other:?}").into()),
        }
    }
    Ok(())
}

#[test]
fn retr_of_every_hostile_message_is_byte_exact() -> TestResult {
    let hostile = hostile_messages();
    let server = TestServer::builder()
        .messages(hostile.iter().map(|m| m.data.clone()).collect())
        .start();
    let mut conn = logged_in(&server)?;
    let count = u32::try_from(hostile.len())?;
    // Pipelined, all at once.
    let (outcomes, bodies) = conn
        .fetch_each(RetrMany::new((1..=count).collect()))
        .map_err(|f| format!("{f:?}"))?;
    assert!(outcomes.iter().all(|o| o.result.is_ok()));
    assert_eq!(bodies.len(), hostile.len());
    for (message, body) in hostile.iter().zip(&bodies) {
        assert!(
            body == &message.data,
            "{} differs after RETR (pipelined): {} vs {} bytes",
            message.name,
            body.len(),
            message.data.len()
        );
    }
    // One at a time, on a fresh session.
    let mut conn = logged_in(&server)?;
    for (i, message) in (1..=count).zip(&hostile) {
        let mut body = Vec::new();
        conn.run_into(Retr::new(i), &mut body)
            .map_err(|f| format!("{f:?}"))?;
        assert!(body == message.data, "{} differs after RETR", message.name);
    }
    // The largest write stays a chunk: bodies are streamed, not built whole.
    assert!(
        server.largest_write() <= 2 * 64 * 1024,
        "{}",
        server.largest_write()
    );
    assert!(server.bytes_sent() > 2 * mailbox::LARGE_MESSAGE_SIZE as u64);
    Ok(())
}

#[test]
fn top_list_and_uidl_describe_the_maildrop() -> TestResult {
    let hostile = hostile_messages();
    let server = TestServer::builder()
        .messages(hostile.iter().map(|m| m.data.clone()).collect())
        .messages_with_uids(vec![(
            "custom-uid.1".into(),
            b"Subject: x\r\n\r\ny\r\n".to_vec(),
        )])
        .start();
    let mut conn = logged_in(&server)?;
    let list = conn.run(List::new()).map_err(|f| format!("{f:?}"))?;
    assert_eq!(list.len(), hostile.len() + 1);
    for (item, message) in list.iter().zip(&hostile) {
        assert_eq!(item.octets, message.data.len() as u64, "{}", message.name);
    }
    let uids = conn.run(Uidl::new()).map_err(|f| format!("{f:?}"))?;
    assert_eq!(uids[0].uid.as_str(), "uid-000001");
    assert_eq!(uids.last().map(|u| u.uid.as_str()), Some("custom-uid.1"));
    for (i, message) in (1u32..).zip(&hostile) {
        let mut head = Vec::new();
        conn.run_into(Top::new(i, 0), &mut head)
            .map_err(|f| format!("{f:?}"))?;
        let header_end = message
            .data
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or("no header end")?;
        assert_eq!(head, message.data[..header_end + 4], "{}", message.name);
    }
    Ok(())
}

#[test]
fn drop_on_quit_rolls_the_deletions_back() -> TestResult {
    let server = TestServer::builder()
        .messages(three_messages())
        .fault_once(Fault::DropOnQuit)
        .start();
    let mut conn = logged_in(&server)?;
    conn.run(DeleMany::new(vec![1, 2]))
        .map_err(|f| format!("{f:?}"))?;
    let quit = conn.run(Quit::new());
    assert!(
        matches!(quit, Err(Failure::Proto(Error::ConnectionClosed { .. }))),
        "{quit:?}"
    );
    assert!(server.wait_until_idle(Duration::from_secs(20)));
    assert_eq!(server.mailbox().len(), 3, "nothing committed");
    // Once only: the next session's QUIT commits.
    let mut conn = logged_in(&server)?;
    conn.run(DeleMany::new(vec![1]))
        .map_err(|f| format!("{f:?}"))?;
    assert!(
        conn.run(Quit::new())
            .map_err(|f| format!("{f:?}"))?
            .committed
    );
    assert!(server.wait_until_idle(Duration::from_secs(20)));
    assert_eq!(server.mailbox().len(), 2);
    Ok(())
}

#[test]
fn deletions_are_committed_by_quit_only() -> TestResult {
    let server = TestServer::builder().messages(three_messages()).start();
    let maildrop = server.mailbox();

    // DELE then RSET: nothing deleted.
    let mut conn = logged_in(&server)?;
    conn.run(DeleMany::new(vec![1, 2]))
        .map_err(|f| format!("{f:?}"))?;
    conn.run(Rset::new()).map_err(|f| format!("{f:?}"))?;
    conn.run(Quit::new()).map_err(|f| format!("{f:?}"))?;
    assert_eq!(maildrop.len(), 3);

    // DELE then hang up: nothing deleted.
    let mut conn = logged_in(&server)?;
    conn.run(DeleMany::new(vec![1]))
        .map_err(|f| format!("{f:?}"))?;
    drop(conn);
    assert!(
        server.wait_until_idle(Duration::from_secs(20)),
        "session never ended"
    );
    assert_eq!(maildrop.len(), 3);

    // DELE then QUIT: deleted.
    let mut conn = logged_in(&server)?;
    let outcomes = conn
        .run(DeleMany::new(vec![1, 3]))
        .map_err(|f| format!("{f:?}"))?;
    assert!(outcomes.iter().all(|o| o.result.is_ok()));
    assert!(
        conn.run(Quit::new())
            .map_err(|f| format!("{f:?}"))?
            .committed
    );
    assert_eq!(maildrop.uids(), ["uid-000002"]);
    Ok(())
}

#[test]
fn pipelining_follows_the_profile() -> TestResult {
    let server = TestServer::start();
    let conn = logged_in(&server)?;
    assert!(conn.client.is_pipelining());

    let server = TestServer::builder().profile(Profile::NoPipelining).start();
    let conn = logged_in(&server)?;
    assert!(!conn.client.is_pipelining());
    let caps = conn.client.capabilities().ok_or("no CAPA")?;
    assert!(!caps.pipelining());
    Ok(())
}

#[test]
fn lock_session_gives_in_use_to_a_second_session() -> TestResult {
    let server = TestServer::builder()
        .messages(three_messages())
        .profile(Profile::LockSession)
        .start();
    let mut first = logged_in(&server)?;
    assert!(server.mailbox().is_locked());
    let mut second = Conn::implicit(server.tls_addr(), server.client_config())?;
    match second.run(Login::new("alice", "secret")) {
        Err(Failure::Proto(e @ Error::LoginDeferred(_))) => {
            // A temporary refusal, not a wrong password.
            assert_eq!(e.kind(), pop3_proto::ErrorKind::Temporary);
            let Error::LoginDeferred(status) = e else {
                unreachable!()
            };
            assert_eq!(status.code, Some(RespCode::InUse), "{status}");
        }
        other => return Err(format!("expected [IN-USE], got {other:?}").into()),
    }
    assert_eq!(server.refused_logins(), 1);
    assert_eq!(server.max_concurrent_sessions(), 1);
    // Released by QUIT.
    first.run(Quit::new()).map_err(|f| format!("{f:?}"))?;
    assert!(!server.mailbox().is_locked());
    let third = logged_in(&server)?;
    // Released by a disconnect too.
    drop(third);
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.mailbox().is_locked() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(!server.mailbox().is_locked());
    logged_in(&server)?;
    Ok(())
}

#[test]
fn lf_only_profile_sends_bare_line_feeds() -> TestResult {
    let messages = three_messages();
    let server = TestServer::builder()
        .messages(messages.clone())
        .profile(Profile::LfOnly)
        .start();
    // On the wire.
    let mut stream = TcpStream::connect(server.addr())?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut greeting = [0u8; 256];
    let n = stream.read(&mut greeting)?;
    assert!(greeting[..n].ends_with(b">\n") && !greeting[..n].contains(&b'\r'));
    // Through the client: bodies arrive with LF line ends.
    let mut conn = logged_in(&server)?;
    let mut body = Vec::new();
    conn.run_into(Retr::new(2), &mut body)
        .map_err(|f| format!("{f:?}"))?;
    let expected: Vec<u8> = String::from_utf8(messages[1].clone())?
        .replace("\r\n", "\n")
        .into_bytes();
    assert_eq!(
        String::from_utf8_lossy(&body),
        String::from_utf8_lossy(&expected)
    );
    Ok(())
}

#[test]
fn slow_profile_delays_every_response() -> TestResult {
    let delay = Duration::from_millis(150);
    let server = TestServer::builder().profile(Profile::Slow(delay)).start();
    let mut conn = logged_in(&server)?;
    let started = Instant::now();
    conn.run(Noop::new()).map_err(|f| format!("{f:?}"))?;
    assert!(started.elapsed() >= delay, "{:?}", started.elapsed());
    Ok(())
}

#[test]
fn trickle_profile_sends_bodies_in_small_pieces() -> TestResult {
    let line = [&[b'x'; 98][..], b"\r\n"].concat();
    let messages = vec![[&b"Subject: slow\r\n\r\n"[..], &line.repeat(500)].concat()];
    let server = TestServer::builder()
        .messages(messages.clone())
        .profile(Profile::Trickle {
            bytes: 1000,
            pause: Duration::from_millis(1),
        })
        .start();
    let mut conn = logged_in(&server)?;
    let mut body = Vec::new();
    conn.run_into(Retr::new(1), &mut body)
        .map_err(|f| format!("{f:?}"))?;
    assert!(body == messages[0], "the body arrives whole");
    // Counted before TLS: each write is one piece.
    assert!(server.largest_write() <= 1000, "{}", server.largest_write());
    Ok(())
}

#[test]
fn rfc1939_only_profile_has_no_capa() -> TestResult {
    let server = TestServer::builder()
        .messages(three_messages())
        .profile(Profile::Rfc1939Only)
        .start();
    let mut conn = Conn::implicit(server.tls_addr(), server.client_config())?;
    let outcome = conn
        .run(Login::new("alice", "secret"))
        .map_err(|f| format!("{f:?}"))?;
    assert_eq!(outcome.method, "USER");
    assert!(outcome.capabilities.is_none());
    assert!(server.received().contains(&"PASS secret".to_owned()));
    // Without CAPA, required STLS cannot be established.
    let server = TestServer::builder().profile(Profile::Rfc1939Only).start();
    let mut conn = Conn::stls(server.addr(), server.client_config())?;
    let result = conn.run(Login::new("alice", "secret"));
    assert!(
        matches!(
            result,
            Err(Failure::Proto(Error::CapabilitiesUnavailable(_)))
        ),
        "{result:?}"
    );
    assert!(no_credentials_sent(&server));
    Ok(())
}

#[test]
fn profiles_combine() -> TestResult {
    let server = TestServer::builder()
        .messages(three_messages())
        .profile(Profile::LfOnly)
        .profile(Profile::NoPipelining)
        .profile(Profile::LockSession)
        .start();
    let conn = logged_in(&server)?;
    assert!(!conn.client.is_pipelining());
    assert!(server.mailbox().is_locked());
    Ok(())
}

#[test]
fn stls_injection_is_detected_before_any_credential() -> TestResult {
    let server = TestServer::builder()
        .fault(Fault::InjectAfterStls(b"+OK injected\r\n".to_vec()))
        .start();
    let mut conn = Conn::stls(server.addr(), server.client_config())?;
    let result = conn.run(Login::new("alice", "secret"));
    assert!(
        matches!(
            result,
            Err(Failure::Proto(Error::StartTlsInjection { len: 14 }))
        ),
        "{result:?}"
    );
    assert!(no_credentials_sent(&server));
    Ok(())
}

#[test]
fn stls_injection_arrives_in_the_same_segment() -> TestResult {
    let server = TestServer::builder()
        .fault(Fault::InjectAfterStls(b"+OK evil\r\n".to_vec()))
        .start();
    let mut stream = TcpStream::connect(server.addr())?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    stream.write_all(b"STLS\r\n")?;
    line.clear();
    reader.read_line(&mut line)?;
    assert!(line.starts_with("+OK"));
    // The injected bytes are already buffered: they came with the +OK.
    assert_eq!(reader.buffer(), b"+OK evil\r\n");
    Ok(())
}

#[test]
fn stripped_stls_refused_stls_and_failed_capa_stop_required_tls() -> TestResult {
    type Expected = fn(&Error) -> bool;
    let cases: [(Fault, Expected); 3] = [
        (Fault::StripStls, |e| {
            matches!(e, Error::StartTlsUnavailable)
        }),
        (Fault::RefuseStls, |e| {
            matches!(e, Error::StartTlsRefused(_))
        }),
        (Fault::FailCapa, |e| {
            matches!(e, Error::CapabilitiesUnavailable(_))
        }),
    ];
    for (fault, expected) in cases {
        let server = TestServer::builder().fault(fault.clone()).start();
        let mut conn = Conn::stls(server.addr(), server.client_config())?;
        match conn.run(Login::new("alice", "secret")) {
            Err(Failure::Proto(e)) if expected(&e) => {}
            other => return Err(format!("{fault:?}: unexpected {other:?}").into()),
        }
        assert!(no_credentials_sent(&server), "{fault:?}");
    }
    Ok(())
}

#[test]
fn strip_stls_only_touches_capa_before_tls() -> TestResult {
    let server = TestServer::builder().fault(Fault::StripStls).start();
    let mut stream = TcpStream::connect(server.addr())?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(b"CAPA\r\nQUIT\r\n")?;
    let mut all = String::new();
    stream.read_to_string(&mut all)?;
    assert!(
        all.contains("\r\nUSER\r\n") && !all.contains("STLS"),
        "{all}"
    );
    // FailCapa does not prevent a login over implicit TLS (USER/PASS without CAPA).
    let server = TestServer::builder().fault(Fault::FailCapa).start();
    let mut conn = Conn::implicit(server.tls_addr(), server.client_config())?;
    let outcome = conn
        .run(Login::new("alice", "secret"))
        .map_err(|f| format!("{f:?}"))?;
    assert_eq!(outcome.method, "USER");
    Ok(())
}

#[test]
fn huge_status_line_is_refused_and_streamed() -> TestResult {
    let server = TestServer::builder()
        .fault(Fault::HugeStatusLine(10_000_000))
        .start();
    let mut conn = Conn::implicit(server.tls_addr(), server.client_config())?;
    let result = conn.run(Login::new("alice", "secret"));
    assert!(
        matches!(
            result,
            Err(Failure::Proto(Error::LineTooLong {
                kind: LineKind::Status,
                ..
            }))
        ),
        "{result:?}"
    );
    drop(conn);
    // The client needed more than its 4 KiB limit, so a first 64 KiB chunk was written
    // (its accounting may lag the client's error a little).
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.bytes_sent() < 64 * 1024 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(server.bytes_sent() >= 64 * 1024, "{}", server.bytes_sent());
    // Streamed in chunks: never one 10 MB buffer.
    assert!(
        server.largest_write() <= 64 * 1024,
        "{}",
        server.largest_write()
    );
    assert!(no_credentials_sent(&server));
    Ok(())
}

#[test]
fn huge_status_line_reaches_its_full_length() -> TestResult {
    let len = 3_000_000;
    let server = TestServer::builder()
        .fault(Fault::HugeStatusLine(len))
        .start();
    let mut stream = TcpStream::connect(server.addr())?;
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    stream.write_all(b"CAPA\r\n")?;
    let all = read_until_closed(&stream)?;
    let greeting_end = all.iter().position(|&b| b == b'\n').ok_or("no greeting")? + 1;
    let rest = &all[greeting_end..];
    assert_eq!(rest.len(), 4 + len);
    assert!(rest.starts_with(b"+OK ") && !rest.contains(&b'\n'));
    Ok(())
}

#[test]
fn truncated_multiline_response_fails_the_client_and_once_faults_clear() -> TestResult {
    let messages = mailbox::generate(2, 200_000, 5);
    let server = TestServer::builder()
        .messages(messages.clone())
        .fault_once(Fault::TruncateMultiline)
        .start();
    let mut conn = logged_in(&server)?;
    let mut body = Vec::new();
    let result = conn.run_into(Retr::new(1), &mut body);
    assert!(
        matches!(
            result,
            Err(Failure::Proto(Error::ConnectionClosed {
                during: "in the middle of a multi-line response"
            }))
        ),
        "{result:?}"
    );
    assert!(!body.is_empty() && body.len() < messages[0].len());
    assert!(messages[0].starts_with(&body));
    // fault_once: the next connection is served in full.
    let mut conn = logged_in(&server)?;
    let mut body = Vec::new();
    conn.run_into(Retr::new(1), &mut body)
        .map_err(|f| format!("{f:?}"))?;
    assert_eq!(body, messages[0]);
    Ok(())
}

#[test]
fn truncation_hits_listings_and_spares_errors() -> TestResult {
    let server = TestServer::builder()
        .messages(three_messages())
        .fault(Fault::TruncateMultiline)
        .start();
    let mut conn = logged_in(&server)?;
    // -ERR to RETR 9 is not multi-line: the fault waits.
    let refused = conn.run(Retr::new(9));
    assert!(
        matches!(refused, Err(Failure::Proto(Error::Refused { .. }))),
        "{refused:?}"
    );
    let result = conn.run(Uidl::new());
    assert!(
        matches!(result, Err(Failure::Proto(Error::ConnectionClosed { .. }))),
        "{result:?}"
    );
    Ok(())
}

#[test]
fn garbage_answers_the_first_command_after_login() -> TestResult {
    let server = TestServer::builder()
        .messages(three_messages())
        .fault(Fault::Garbage(b"\x16\x03\x01 garbage \xff\r\n".to_vec()))
        .start();
    let mut conn = Conn::implicit(server.tls_addr(), server.client_config())?;
    // The Login task's CAPA after login is the first command after login; it rides
    // along with the next operation, which the garbage fails.
    conn.run(Login::new("alice", "secret"))
        .map_err(|f| format!("{f:?}"))?;
    let result = conn.run(Stat::new());
    assert!(
        matches!(result, Err(Failure::Proto(Error::Malformed { .. }))),
        "{result:?}"
    );
    Ok(())
}

#[test]
fn close_after_bytes_cuts_the_stream() -> TestResult {
    let server = TestServer::builder()
        .fault(Fault::CloseAfterBytes(5))
        .start();
    let stream = TcpStream::connect(server.addr())?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let all = read_until_closed(&stream)?;
    assert_eq!(all, b"+OK p");

    let server = TestServer::builder()
        .fault(Fault::CloseAfterBytes(5))
        .start();
    let mut conn = Conn::implicit(server.tls_addr(), server.client_config())?;
    let result = conn.run(Login::new("alice", "secret"));
    assert!(
        matches!(
            result,
            Err(Failure::Proto(Error::ConnectionClosed {
                during: "before the greeting"
            }))
        ),
        "{result:?}"
    );
    Ok(())
}

#[test]
fn close_after_commands_ends_the_session() -> TestResult {
    let server = TestServer::builder()
        .fault(Fault::CloseAfterCommands(1))
        .start();
    let mut conn = Conn::implicit(server.tls_addr(), server.client_config())?;
    let result = conn.run(Login::new("alice", "secret"));
    assert!(
        matches!(result, Err(Failure::Proto(Error::ConnectionClosed { .. }))),
        "{result:?}"
    );
    assert_eq!(server.received(), ["CAPA"]);
    Ok(())
}

#[test]
fn untrusted_certificate_fails_the_handshake() -> TestResult {
    let server = TestServer::builder().untrusted_certificate().start();
    let error = Conn::implicit(server.tls_addr(), server.client_config())
        .err()
        .ok_or("implicit TLS handshake succeeded")?;
    let tls_error = error
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
        .ok_or_else(|| format!("not a rustls error: {error:?}"))?;
    assert!(
        matches!(tls_error, rustls::Error::InvalidCertificate(_)),
        "{tls_error:?}"
    );
    // Over STLS too, and no credentials cross.
    let mut conn = Conn::stls(server.addr(), server.client_config())?;
    let result = conn.run(Login::new("alice", "secret"));
    assert!(matches!(result, Err(Failure::Io(_))), "{result:?}");
    assert!(no_credentials_sent(&server));
    // A trusting client of the right CA still works on a normal server.
    let good = TestServer::start();
    logged_in(&good)?;
    Ok(())
}

#[test]
fn without_tls_there_is_no_stls() -> TestResult {
    let server = TestServer::builder()
        .tls(false)
        .messages(three_messages())
        .start();
    let mut conn = Conn::stls(server.addr(), server.client_config())?;
    let result = conn.run(Login::new("alice", "secret"));
    assert!(
        matches!(result, Err(Failure::Proto(Error::StartTlsUnavailable))),
        "{result:?}"
    );
    let mut conn = Conn::plain(server.addr(), server.client_config())?;
    conn.run(Login::new("alice", "secret").allow_plaintext(true))
        .map_err(|f| format!("{f:?}"))?;
    let caps = conn.client.capabilities().ok_or("no CAPA")?;
    assert!(!caps.stls());
    Ok(())
}

#[test]
fn apop_can_be_disabled_and_users_changed() -> TestResult {
    let server = TestServer::builder()
        .user("bob", "hunter2")
        .apop(false)
        .sasl(vec![MechanismKind::Plain])
        .start();
    assert_eq!((server.user(), server.password()), ("bob", "hunter2"));
    let mut conn = Conn::implicit(server.tls_addr(), server.client_config())?;
    let result = conn.run(Login::new("bob", "hunter2").method(AuthMethod::Apop));
    assert!(
        matches!(result, Err(Failure::Proto(Error::NoApopTimestamp))),
        "{result:?}"
    );
    let mut conn = Conn::implicit(server.tls_addr(), server.client_config())?;
    let outcome = conn
        .run(Login::new("bob", "hunter2"))
        .map_err(|f| format!("{f:?}"))?;
    assert_eq!(outcome.method, "PLAIN");
    Ok(())
}

#[test]
fn a_hostile_client_does_not_break_the_server() -> TestResult {
    let server = TestServer::builder().messages(three_messages()).start();
    // Garbage instead of a TLS handshake on the implicit port.
    let mut stream = TcpStream::connect(server.tls_addr())?;
    stream.write_all(b"USER alice\r\n")?;
    stream.shutdown(std::net::Shutdown::Write)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut alert = Vec::new();
    stream.read_to_end(&mut alert)?;
    assert!(
        !alert.starts_with(b"+OK"),
        "a greeting in clear text: {alert:?}"
    );
    // An endless line, binary junk, hanging up mid-handshake after STLS.
    let mut stream = TcpStream::connect(server.addr())?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(&vec![b'A'; 100_000])?;
    let answer = read_until_closed(&stream)?;
    assert!(answer.ends_with(b"-ERR Line too long\r\n"), "{answer:?}");
    let mut stream = TcpStream::connect(server.addr())?;
    stream.write_all(b"\x00\xff\xfe\r\nAUTH PLAIN !!!\r\nSTLS\r\n\x16\x03\x01")?;
    drop(stream);
    // Still serving.
    logged_in(&server)?;
    Ok(())
}

#[test]
fn drop_stops_listeners_and_sessions() -> TestResult {
    let server = TestServer::start();
    let (addr, tls_addr) = (server.addr(), server.tls_addr());
    let idle = TcpStream::connect(addr)?;
    idle.set_read_timeout(Some(Duration::from_secs(20)))?;
    let mut greeting = [0u8; 3];
    (&idle).read_exact(&mut greeting)?;
    assert_eq!(&greeting, b"+OK");
    // Returns (the session threads are joined) although a client is still connected.
    drop(server);
    assert!(TcpStream::connect(addr).is_err());
    assert!(TcpStream::connect(tls_addr).is_err());
    // The idle session was closed: end of stream (or a reset), not our read timeout.
    read_until_closed(&idle).map_err(|e| format!("the idle session: {e}"))?;
    Ok(())
}

#[test]
fn pipelined_batch_through_the_latency_proxy_costs_one_round_trip() -> TestResult {
    let messages = mailbox::generate(30, 2000, 3);
    let server = TestServer::builder().messages(messages).start();
    let proxy = LatencyProxy::start(server.tls_addr(), Duration::from_millis(5))?;
    let mut conn = Conn::implicit(proxy.addr(), server.client_config())?;
    conn.run(Login::new("alice", "secret"))
        .map_err(|f| format!("{f:?}"))?;
    let before = proxy.round_trips();
    conn.run(Noop::new()).map_err(|f| format!("{f:?}"))?;
    assert_eq!(proxy.round_trips() - before, 1, "NOOP");
    let before = proxy.round_trips();
    let (outcomes, _) = conn
        .fetch_each(RetrMany::new((1..=30).collect()))
        .map_err(|f| format!("{f:?}"))?;
    assert_eq!(outcomes.len(), 30);
    assert_eq!(proxy.round_trips() - before, 1, "30 pipelined RETR");
    Ok(())
}

#[test]
fn dovecot_like_greeting_and_capabilities() -> TestResult {
    let server = TestServer::builder().profile(Profile::DovecotLike).start();
    let mut stream = TcpStream::connect(server.addr())?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(b"CAPA\r\nQUIT\r\n")?;
    let mut all = String::new();
    stream.read_to_string(&mut all)?;
    let lines: Vec<&str> = all.split("\r\n").collect();
    let greeting = lines[0];
    assert!(
        greeting.starts_with("+OK ") && greeting.ends_with("@pop3-testkit>"),
        "{greeting}"
    );
    assert!(lines[1].starts_with("+OK"));
    let end = lines.iter().position(|l| *l == ".").ok_or("no CAPA end")?;
    assert_eq!(
        lines[2..end],
        [
            "TOP",
            "UIDL",
            "RESP-CODES",
            "PIPELINING",
            "AUTH-RESP-CODE",
            "STLS",
            "USER",
            "SASL PLAIN LOGIN CRAM-MD5 SCRAM-SHA-256"
        ]
    );
    assert!(lines[end + 1].starts_with("+OK"), "QUIT: {all}");
    // Each connection gets its own APOP timestamp.
    let again = TcpStream::connect(server.addr())?;
    again.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut second = String::new();
    BufReader::new(again).read_line(&mut second)?;
    assert_ne!(second.trim_end(), greeting);
    Ok(())
}

/// Logs in, or says why not.
fn try_login(server: &TestServer) -> Result<Conn, Failure> {
    let mut conn = Conn::implicit(server.tls_addr(), server.client_config())?;
    conn.run(Login::new(server.user(), server.password()))?;
    Ok(conn)
}

fn uids(conn: &mut Conn) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let listing = conn.run(Uidl::new()).map_err(|f| format!("UIDL: {f:?}"))?;
    Ok(listing.iter().map(|u| u.uid.as_str().to_owned()).collect())
}

fn retr(conn: &mut Conn, msg: u32) -> Result<Vec<u8>, Failure> {
    let mut body = Vec::new();
    conn.run_into(Retr::new(msg), &mut body)?;
    Ok(body)
}

/// Polls `done` every few milliseconds for up to 20 s; returns its last answer.
fn eventually(mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    true
}

#[test]
fn login_delay_refuses_a_second_login_inside_the_delay() -> TestResult {
    let server = TestServer::builder()
        .messages(three_messages())
        .profile(Profile::LoginDelay(Duration::from_secs(3600)))
        .start();
    let mut first = logged_in(&server)?;
    let caps = first.client.capabilities().ok_or("no CAPA")?;
    assert_eq!(caps.login_delay(), Some(3600));
    let refusal = |result: Result<Conn, Failure>| -> TestResult {
        match result {
            Err(Failure::Proto(e @ Error::LoginDeferred(_))) => {
                assert_eq!(e.kind(), pop3_proto::ErrorKind::Temporary);
                let Error::LoginDeferred(status) = e else {
                    unreachable!()
                };
                assert_eq!(status.code, Some(RespCode::LoginDelay), "{status}");
                Ok(())
            }
            Err(other) => Err(format!("expected [LOGIN-DELAY], got {other:?}").into()),
            Ok(_) => Err("a login inside the delay was accepted".into()),
        }
    };
    // While the first session runs, and after it ended: the delay counts from the
    // login, not from the end of the session.
    refusal(try_login(&server))?;
    first.run(Quit::new()).map_err(|f| format!("{f:?}"))?;
    refusal(try_login(&server))?;
    // The USER/PASS path is refused the same way, after PASS.
    let mut raw = TcpStream::connect(server.addr())?;
    raw.set_read_timeout(Some(Duration::from_secs(10)))?;
    raw.write_all(b"USER alice\r\nPASS secret\r\nQUIT\r\n")?;
    let mut all = String::new();
    raw.read_to_string(&mut all)?;
    let lines: Vec<&str> = all.lines().collect();
    assert!(lines[2].starts_with("-ERR [LOGIN-DELAY] "), "{all}");
    assert_eq!((server.logins(), server.refused_logins()), (1, 3));
    Ok(())
}

#[test]
fn login_delay_of_zero_refuses_nothing_and_a_short_one_expires() -> TestResult {
    let server = TestServer::builder()
        .profile(Profile::LoginDelay(Duration::ZERO))
        .start();
    let first = logged_in(&server)?;
    let caps = first.client.capabilities().ok_or("no CAPA")?;
    assert_eq!(caps.login_delay(), Some(0));
    let _second = logged_in(&server)?;
    assert_eq!((server.logins(), server.refused_logins()), (2, 0));

    let delay = Duration::from_millis(300);
    let server = TestServer::builder()
        .profile(Profile::LoginDelay(delay))
        .start();
    // Taken before the first login reaches the server, so that the time until the
    // next accepted login is a lower bound of what the server measured.
    let started = Instant::now();
    let first = logged_in(&server)?;
    let caps = first.client.capabilities().ok_or("no CAPA")?;
    assert_eq!(caps.login_delay(), Some(1), "rounded up to whole seconds");
    let deadline = started + Duration::from_secs(20);
    let accepted = loop {
        match try_login(&server) {
            Ok(_) => break started.elapsed(),
            Err(Failure::Proto(Error::LoginDeferred(status)))
                if status.code == Some(RespCode::LoginDelay) && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(other) => return Err(format!("never accepted again: {other:?}").into()),
        }
    };
    assert!(accepted >= delay, "accepted after {accepted:?}");
    assert_eq!(server.logins(), 2);
    Ok(())
}

#[test]
fn pipelining_breaking_server_drops_a_burst_and_serves_lockstep_clients() -> TestResult {
    let messages = three_messages();
    let server = TestServer::builder()
        .messages(messages.clone())
        .profile(Profile::BreaksPipelining { max_burst: 1 })
        .start();
    // Lockstep: every command waits for its answer, so no read brings two.
    let lockstep = Config::new().pipelining(Pipelining::Never);
    let mut conn = Conn::implicit_with(server.tls_addr(), server.client_config(), lockstep)?;
    conn.run(Login::new("alice", "secret"))
        .map_err(|f| format!("{f:?}"))?;
    let caps = conn.client.capabilities().ok_or("no CAPA")?;
    assert!(caps.pipelining(), "PIPELINING is advertised");
    let (outcomes, bodies) = conn
        .fetch_each(RetrMany::new(vec![1, 2, 3]))
        .map_err(|f| format!("{f:?}"))?;
    assert!(outcomes.iter().all(|o| o.result.is_ok()));
    assert_eq!(bodies, messages);
    conn.run(DeleMany::new(vec![1, 2]))
        .map_err(|f| format!("{f:?}"))?;
    assert!(
        conn.run(Quit::new())
            .map_err(|f| format!("{f:?}"))?
            .committed
    );
    assert_eq!(server.mailbox().len(), 1);
    assert_eq!(server.pipelining_drops(), 0);

    // A client that believes the advertisement loses the connection, unanswered.
    let mut conn = logged_in(&server)?;
    assert!(conn.client.is_pipelining());
    let before = server.received().len();
    let result = conn.run(RetrMany::new(vec![1, 1, 1]));
    assert!(
        matches!(result, Err(Failure::Proto(Error::ConnectionClosed { .. }))),
        "{result:?}"
    );
    assert_eq!(server.pipelining_drops(), 1);
    // The Login task's CAPA after login rides along with the batch.
    let burst = server.received()[before..].to_vec();
    assert!(
        burst.ends_with(&["RETR 1", "RETR 1", "RETR 1"].map(String::from)),
        "{burst:?}"
    );
    Ok(())
}

#[test]
fn pipelining_breaking_server_takes_up_to_max_burst_lines_at_once() -> TestResult {
    let server = TestServer::builder()
        .profile(Profile::BreaksPipelining { max_burst: 2 })
        .start();
    let mut stream = TcpStream::connect(server.addr())?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    assert!(line.starts_with("+OK"), "{line}");
    stream.write_all(b"USER alice\r\nPASS secret\r\n")?;
    for _ in 0..2 {
        line.clear();
        reader.read_line(&mut line)?;
        assert!(line.starts_with("+OK"), "{line}");
    }
    // Ten lines in one write: however TCP splits them, some read brings more than two.
    stream.write_all(&b"NOOP\r\n".repeat(10))?;
    let rest = read_until_closed(&mut reader)?;
    // Abruptly: whatever was answered before the burst, never all ten.
    let answered = rest
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    assert!(answered < 10, "{}", String::from_utf8_lossy(&rest));
    assert_eq!(server.pipelining_drops(), 1);
    Ok(())
}

#[test]
fn expunge_after_logins_hides_a_message_from_later_sessions() -> TestResult {
    let messages = three_messages();
    let server = TestServer::builder()
        .messages(messages.clone())
        .expunge_after_logins("uid-000002", 1)
        .start();
    assert!(server.mailbox().contains("uid-000002"));
    let mut first = logged_in(&server)?;
    assert!(!server.mailbox().contains("uid-000002"));
    let mut second = logged_in(&server)?;
    assert_eq!(
        uids(&mut first)?,
        ["uid-000001", "uid-000002", "uid-000003"]
    );
    assert_eq!(uids(&mut second)?, ["uid-000001", "uid-000003"]);
    // Each session's numbers follow its own snapshot.
    assert_eq!(
        retr(&mut first, 2).map_err(|f| format!("{f:?}"))?,
        messages[1]
    );
    assert_eq!(
        retr(&mut second, 2).map_err(|f| format!("{f:?}"))?,
        messages[2]
    );
    // Deleting what is already gone is harmless.
    first
        .run(DeleMany::new(vec![2]))
        .map_err(|f| format!("{f:?}"))?;
    assert!(
        first
            .run(Quit::new())
            .map_err(|f| format!("{f:?}"))?
            .committed
    );
    assert_eq!(server.mailbox().uids(), ["uid-000001", "uid-000003"]);

    // Later logins, and zero logins.
    let server = TestServer::builder()
        .messages(three_messages())
        .expunge_after_logins("uid-000003", 2)
        .expunge_after_logins("uid-000001", 0)
        .start();
    assert_eq!(server.mailbox().uids(), ["uid-000002", "uid-000003"]);
    let mut first = logged_in(&server)?;
    let mut second = logged_in(&server)?;
    let mut third = logged_in(&server)?;
    assert_eq!(uids(&mut first)?, ["uid-000002", "uid-000003"]);
    assert_eq!(uids(&mut second)?, ["uid-000002", "uid-000003"]);
    assert_eq!(uids(&mut third)?, ["uid-000002"]);

    let unknown = TestServer::builder()
        .messages(three_messages())
        .expunge_after_logins("uid-000009", 1)
        .try_start();
    assert!(
        matches!(&unknown, Err(e) if e.kind() == std::io::ErrorKind::InvalidInput),
        "{unknown:?}"
    );
    Ok(())
}

#[test]
fn removing_from_the_maildrop_spares_running_sessions() -> TestResult {
    let messages = three_messages();
    let server = TestServer::builder().messages(messages.clone()).start();
    let maildrop = server.mailbox();
    let mut running = logged_in(&server)?;
    assert!(maildrop.remove("uid-000001"));
    assert!(!maildrop.remove("uid-000001"), "removed twice");
    assert_eq!(maildrop.uids(), ["uid-000002", "uid-000003"]);
    assert_eq!(uids(&mut running)?.len(), 3);
    assert_eq!(
        retr(&mut running, 1).map_err(|f| format!("{f:?}"))?,
        messages[0]
    );
    let mut later = logged_in(&server)?;
    assert_eq!(uids(&mut later)?, ["uid-000002", "uid-000003"]);
    Ok(())
}

#[test]
fn logins_and_concurrent_sessions_are_counted() -> TestResult {
    let server = TestServer::builder().messages(three_messages()).start();
    assert_eq!((server.logins(), server.max_concurrent_sessions()), (0, 0));
    let mut first = logged_in(&server)?;
    let second = logged_in(&server)?;
    let third = logged_in(&server)?;
    // Connected but not logged in, and a wrong password: neither counts.
    let _greeted = Conn::implicit(server.tls_addr(), server.client_config())?;
    let wrong = Conn::implicit(server.tls_addr(), server.client_config())?
        .run(Login::new("alice", "wrong").method(AuthMethod::User));
    assert!(wrong.is_err(), "{wrong:?}");
    assert_eq!(server.logins(), 3);
    assert_eq!(server.logged_in_sessions(), 3);
    assert_eq!(server.max_concurrent_sessions(), 3);
    assert_eq!(server.refused_logins(), 0);

    // QUIT ends a session before its answer; a hang-up ends it soon after.
    first.run(Quit::new()).map_err(|f| format!("{f:?}"))?;
    assert_eq!(server.logged_in_sessions(), 2);
    drop(second);
    assert!(eventually(|| server.logged_in_sessions() == 1));
    drop(third);
    assert!(eventually(|| server.logged_in_sessions() == 0));
    let _again = logged_in(&server)?;
    assert_eq!(server.logins(), 4);
    assert_eq!(server.logged_in_sessions(), 1);
    assert_eq!(server.max_concurrent_sessions(), 3, "the maximum is kept");
    Ok(())
}

/// What the plaintext port sends for `USER alice`, `PASS secret` and `commands`, up to
/// the server's close: the bytes after the greeting and the two login answers.
fn raw_session(
    server: &TestServer,
    commands: &[u8],
) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let mut stream = TcpStream::connect(server.addr())?;
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    stream.write_all(b"USER alice\r\nPASS secret\r\n")?;
    stream.write_all(commands)?;
    let all = read_until_closed(&stream)?;
    let mut rest = &all[..];
    for _ in 0..3 {
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("short answer")?;
        assert!(
            rest.starts_with(b"+OK"),
            "{}",
            String::from_utf8_lossy(rest)
        );
        rest = &rest[end + 1..];
    }
    Ok(rest.to_vec())
}

/// A message without dot-stuffing, so that its body is sent as it is.
fn plain_message(lines: usize, fill: u8) -> Vec<u8> {
    let line = [&[fill; 98][..], b"\r\n"].concat();
    [&b"Subject: plain\r\n\r\n"[..], &line.repeat(lines)].concat()
}

#[test]
fn close_during_retr_cuts_the_chosen_body_at_the_offset() -> TestResult {
    let first = plain_message(10, b'a');
    let big = plain_message(2000, b'b');
    assert!(big.len() > 3 * 64 * 1024, "spans several chunks");
    for offset in [0, 10, 100_000, big.len() - 1, big.len(), usize::MAX] {
        let server = TestServer::builder()
            .messages(vec![first.clone(), big.clone()])
            .fault(Fault::CloseDuringRetr {
                uid: "uid-000002".into(),
                offset,
            })
            .start();
        let rest = raw_session(&server, b"RETR 1\r\nRETR 2\r\n")?;
        // RETR 1 is another message: whole.
        let status = format!("+OK {} octets\r\n", first.len());
        let whole = [status.as_bytes(), &first, b".\r\n"].concat();
        assert!(rest.starts_with(&whole), "offset {offset}");
        let rest = &rest[whole.len()..];
        let status = format!("+OK {} octets\r\n", big.len());
        assert!(rest.starts_with(status.as_bytes()), "offset {offset}");
        let body = &rest[status.len()..];
        // Never the terminating line, even when the offset is past the body.
        assert!(
            body == &big[..offset.min(big.len())],
            "offset {offset}: {} body bytes",
            body.len()
        );
    }
    // With LF line ends, the shorter terminator is held back too.
    let server = TestServer::builder()
        .messages(vec![first.clone()])
        .profile(Profile::LfOnly)
        .fault(Fault::CloseDuringRetr {
            uid: "uid-000001".into(),
            offset: usize::MAX,
        })
        .start();
    let mut stream = TcpStream::connect(server.addr())?;
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    stream.write_all(b"USER alice\r\nPASS secret\r\nRETR 1\r\n")?;
    let all = read_until_closed(&stream)?;
    let expected: Vec<u8> = String::from_utf8(first.clone())?
        .replace("\r\n", "\n")
        .into_bytes();
    assert!(all.ends_with(&[b" octets\n", &expected[..]].concat()));
    Ok(())
}

#[test]
fn close_during_retr_once_lets_a_retry_on_a_new_connection_succeed() -> TestResult {
    let messages = vec![plain_message(10, b'a'), plain_message(1000, b'b')];
    let server = TestServer::builder()
        .messages(messages.clone())
        .fault_once(Fault::CloseDuringRetr {
            uid: "uid-000002".into(),
            offset: 50_000,
        })
        .start();
    let mut conn = logged_in(&server)?;
    assert_eq!(
        retr(&mut conn, 1).map_err(|f| format!("{f:?}"))?,
        messages[0]
    );
    let mut body = Vec::new();
    let result = conn.run_into(Retr::new(2), &mut body);
    assert!(
        matches!(
            result,
            Err(Failure::Proto(Error::ConnectionClosed {
                during: "in the middle of a multi-line response"
            }))
        ),
        "{result:?}"
    );
    // The exact cut is checked on the wire in the test above; a client may hold back
    // a line it has not seen the end of.
    assert!((49_000..=50_000).contains(&body.len()), "{}", body.len());
    assert!(messages[1].starts_with(&body));
    for _ in 0..2 {
        let mut conn = logged_in(&server)?;
        assert_eq!(
            retr(&mut conn, 2).map_err(|f| format!("{f:?}"))?,
            messages[1]
        );
    }
    Ok(())
}

#[test]
fn close_after_bytes_once_cuts_one_connection_inside_a_body() -> TestResult {
    let messages = mailbox::generate(1, 300_000, 9);
    let server = TestServer::builder()
        .messages(messages.clone())
        .fault_once(Fault::CloseAfterBytes(150_000))
        .start();
    // The login exchange is a few KiB: the cut falls inside the body.
    let mut conn = logged_in(&server)?;
    let mut body = Vec::new();
    let result = conn.run_into(Retr::new(1), &mut body);
    assert!(
        matches!(result, Err(Failure::Proto(Error::ConnectionClosed { .. }))),
        "{result:?}"
    );
    assert!(!body.is_empty() && body.len() < messages[0].len());
    assert!(messages[0].starts_with(&body));
    // Only that connection: retries are served whole.
    for _ in 0..2 {
        let mut conn = logged_in(&server)?;
        assert_eq!(
            retr(&mut conn, 1).map_err(|f| format!("{f:?}"))?,
            messages[0]
        );
    }
    assert_eq!(server.connections(), 3);
    Ok(())
}
