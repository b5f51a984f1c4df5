//! Real Dovecot 2.3 sessions, recorded byte for byte on loopback (`tests/data/`), replayed
//! through the client: every command we send must match what the recording client sent,
//! and every server byte must parse into the expected events.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use pop3_proto::sasl::{CramMd5, LoginMechanism, Mechanism};
use pop3_proto::{
    Client, Command, Config, Error, Event, Interrupt, Io, Reply, RespCode, Secret, State,
};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Dir {
    C,
    S,
}

/// Decodes a Python bytes literal (`b'..'` or `b".."`).
fn python_bytes(literal: &str) -> Vec<u8> {
    let quote = literal.as_bytes()[1];
    let body = &literal.as_bytes()[2..literal.len() - 1];
    assert_eq!(literal.as_bytes()[literal.len() - 1], quote);
    let mut out = Vec::new();
    let mut i = 0;
    while i < body.len() {
        if body[i] == b'\\' {
            let (byte, len) = match body[i + 1] {
                b'r' => (b'\r', 2),
                b'n' => (b'\n', 2),
                b't' => (b'\t', 2),
                b'\\' => (b'\\', 2),
                b'\'' => (b'\'', 2),
                b'"' => (b'"', 2),
                b'x' => {
                    let hex = std::str::from_utf8(&body[i + 2..i + 4]).unwrap();
                    (u8::from_str_radix(hex, 16).unwrap(), 4)
                }
                other => panic!("unknown escape \\{}", other as char),
            };
            out.push(byte);
            i += len;
        } else {
            out.push(body[i]);
            i += 1;
        }
    }
    out
}

/// A recorded session: its name and its records.
type Recording = (String, Vec<(Dir, Vec<u8>)>);

fn sessions() -> Vec<Recording> {
    let text = include_str!("data/dovecot-transcript.txt");
    let mut out: Vec<Recording> = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let mut parts = line.splitn(3, ' ');
        let (name, dir, literal) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        let dir = if dir == "C" { Dir::C } else { Dir::S };
        if out.last().is_none_or(|(n, _)| n != name) {
            out.push((name.to_owned(), Vec::new()));
        }
        out.last_mut().unwrap().1.push((dir, python_bytes(literal)));
    }
    out
}

fn session(name: &str) -> Vec<(Dir, Vec<u8>)> {
    sessions()
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("{name}"))
        .1
}

/// Drains the client: events until it needs input; output must be what the recording
/// client wrote.
fn drain(client: &mut Client) -> (Vec<Event>, Vec<u8>, Option<Error>) {
    let (mut events, mut out) = (Vec::new(), Vec::new());
    loop {
        match client.progress() {
            Ok(e) => events.push(e),
            Err(Interrupt::Io(Io::Output(b))) => out.extend(b),
            Err(Interrupt::Io(Io::NeedMoreInput)) => return (events, out, None),
            Err(Interrupt::Error(e)) => return (events, out, Some(e)),
        }
    }
}

fn lines(bytes: &[u8]) -> Vec<&[u8]> {
    bytes.split_inclusive(|&b| b == b'\n').collect()
}

/// Replays a session where every recorded command is one our client sends too.
fn replay(name: &str) -> Vec<Event> {
    let mut client = Client::new(Config::default());
    let mut events = Vec::new();
    let mut in_challenge = false;
    for (dir, bytes) in session(name) {
        match dir {
            Dir::S => {
                client.enqueue_input(&bytes);
                let (new, out, err) = drain(&mut client);
                assert!(out.is_empty());
                assert!(err.is_none(), "{name}: {err:?}");
                in_challenge = matches!(new.last(), Some(Event::Challenge { .. }));
                events.extend(new);
            }
            Dir::C => {
                for line in lines(&bytes) {
                    let command = if in_challenge {
                        Command::parse_auth_response(line).unwrap()
                    } else {
                        Command::parse(line).unwrap()
                    };
                    client.send(command).unwrap();
                }
                let (new, out, err) = drain(&mut client);
                assert!(new.is_empty() && err.is_none());
                assert_eq!(
                    String::from_utf8_lossy(&out),
                    String::from_utf8_lossy(&bytes),
                    "{name}: re-encoded commands differ from the recording"
                );
            }
        }
    }
    events
}

#[test]
fn user_pass_listing_retrieval_and_pipelining() {
    let events = replay("plain-user-pass-and-pipelining");
    let oks = events
        .iter()
        .filter(|e| matches!(e, Event::Ok { .. }))
        .count();
    let errs: Vec<_> = events
        .iter()
        .filter_map(|e| {
            if let Event::Err { status, .. } = e {
                Some(status.text.clone())
            } else {
                None
            }
        })
        .collect();
    assert_eq!(errs, ["There's no message 9.", "Message is deleted."]);
    assert_eq!(oks, 21, "{events:#?}");
    // The body of RETR 2, dot-unstuffed, byte for byte.
    let body: Vec<u8> = events
        .iter()
        .skip_while(|e| !matches!(e, Event::Ok { reply: Reply::BodyFollows(s), .. } if s.text == "128 octets"))
        .take_while(|e| !matches!(e, Event::BodyEnd { .. }))
        .filter_map(|e| if let Event::Body { chunk, .. } = e { Some(chunk.to_vec()) } else { None })
        .flatten()
        .collect();
    assert_eq!(
        body,
        b"From: Carol <carol@example.org>\r\nTo: alice@example.com\r\nSubject: =?UTF-8?B?w6ljb2xl?= \
          dots\r\n\r\n.leading dot\r\n..two dots\r\n.\r\nend\r\n"
    );
    assert_eq!(
        body.len(),
        128,
        "the size LIST reports counts the unstuffed message"
    );
    let caps = events.iter().find_map(|e| match e {
        Event::Ok {
            reply: Reply::Capabilities(c),
            ..
        } => Some(c.clone()),
        _ => None,
    });
    let caps = caps.unwrap();
    assert!(caps.pipelining() && caps.stls() && caps.user());
    assert_eq!(caps.sasl(), ["PLAIN", "LOGIN", "CRAM-MD5"]);
}

#[test]
fn sasl_plain_with_initial_response() {
    let events = replay("auth-plain-initial-response");
    assert!(matches!(events[1], Event::Ok { .. }));
    // Our PLAIN produces exactly the recorded initial response.
    let mut plain = pop3_proto::sasl::Plain::new(None, "alice", &Secret::from("secret"));
    let ir = plain.initial_response().unwrap().unwrap();
    let cmd = Command::Auth {
        mechanism: "PLAIN".into(),
        initial_response: Some(ir),
    };
    assert_eq!(
        cmd.to_bytes().unwrap(),
        session("auth-plain-initial-response")[1].1
    );
}

#[test]
fn sasl_login_and_cram_md5_match_dovecot() {
    for (name, mut mechanism) in [
        (
            "auth-login",
            Box::new(LoginMechanism::new("alice", &Secret::from("secret"))) as Box<dyn Mechanism>,
        ),
        (
            "auth-cram-md5",
            Box::new(CramMd5::new("alice", &Secret::from("secret"))),
        ),
    ] {
        let events = replay(name);
        let challenges: Vec<_> = events
            .iter()
            .filter_map(|e| {
                if let Event::Challenge { data, .. } = e {
                    Some(data.clone())
                } else {
                    None
                }
            })
            .collect();
        let recorded: Vec<Vec<u8>> = session(name)
            .iter()
            .filter(|(d, b)| *d == Dir::C && !b.starts_with(b"AUTH") && !b.starts_with(b"QUIT"))
            .map(|(_, b)| match Command::parse_auth_response(b).unwrap() {
                Command::AuthResponse(s) => s.expose().to_vec(),
                other => panic!("{other:?}"),
            })
            .collect();
        let ours: Vec<Vec<u8>> = challenges
            .iter()
            .map(|c| mechanism.step(c).unwrap().expose().to_vec())
            .collect();
        assert_eq!(
            ours, recorded,
            "{name}: our responses to Dovecot's challenges"
        );
        assert!(events.iter().any(
            |e| matches!(e, Event::Ok { reply: Reply::Done(s), .. } if s.text == "Logged in.")
        ));
    }
}

#[test]
fn sasl_cancel_then_bad_password() {
    let events = replay("auth-cancel-and-bad-password");
    let errs: Vec<_> = events
        .iter()
        .filter_map(|e| {
            if let Event::Err { status, .. } = e {
                Some(status.clone())
            } else {
                None
            }
        })
        .collect();
    assert_eq!(errs[0].text, "Authentication aborted by client.");
    assert_eq!(errs[1].code, Some(RespCode::Auth));
}

/// The recording client pipelined QUIT behind APOP; ours refuses to send anything behind
/// a login command until it is answered, so the answer decides the next state.
#[test]
fn apop_bad_digest_and_the_login_barrier() {
    let s = session("apop-bad-digest");
    let mut client = Client::new(Config::default());
    client.enqueue_input(&s[0].1);
    drain(&mut client);
    client.send(Command::parse(&s[1].1).unwrap()).unwrap();
    let (_, out, _) = drain(&mut client);
    assert_eq!(out, s[1].1);
    assert!(matches!(
        client.send(Command::Quit),
        Err(Error::AwaitingResponse {
            pending: "APOP",
            ..
        })
    ));
    // Dovecot answers a failed login after a delay; the QUIT answer follows in the
    // recording, which for our client (that never sent QUIT) is unsolicited.
    client.enqueue_input(&s[4].1);
    let (events, _, err) = drain(&mut client);
    assert!(
        matches!(&events[..], [Event::Err { status, .. }] if status.code == Some(RespCode::Auth))
    );
    assert!(matches!(err, Some(Error::Unsolicited { .. })));
}

/// What the recording client sent in the wrong state, ours refuses locally.
#[test]
fn commands_in_the_wrong_state_are_refused_locally() {
    let s = session("errors-in-authorization-state");
    let mut client = Client::new(Config::default());
    client.enqueue_input(&s[0].1);
    drain(&mut client);
    assert_eq!(client.state(), State::Authorization);
    assert!(matches!(
        client.send(Command::parse(&s[1].1).unwrap()),
        Err(Error::NotAllowed {
            command: "RETR",
            ..
        })
    ));
    // "USER" without a name and "STLS extra" are not valid commands at all.
    assert!(Command::parse(&s[3].1).is_err());
    assert!(Command::parse(&s[5].1).is_err());
    // Dovecot's answers still parse.
    for (dir, bytes) in &s {
        if *dir == Dir::S && !bytes.is_empty() {
            for line in lines(bytes) {
                pop3_proto::Status::parse(line.strip_suffix(b"\r\n").unwrap()).unwrap();
            }
        }
    }
}
