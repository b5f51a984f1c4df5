use super::*;
use crate::response::RespCode;

/// Drives the client until it needs input, collecting events and output.
fn drain(client: &mut Client) -> Result<(Vec<Event>, Vec<u8>), Error> {
    let (mut events, mut out) = (Vec::new(), Vec::new());
    loop {
        match client.progress() {
            Ok(e) => events.push(e),
            Err(Interrupt::Io(Io::Output(b))) => out.extend(b),
            Err(Interrupt::Io(Io::NeedMoreInput)) => return Ok((events, out)),
            Err(Interrupt::Error(e)) => return Err(e),
        }
    }
}

fn greeted(config: Config) -> Client {
    let mut c = Client::new(config);
    c.enqueue_input(b"+OK ready <1.2@x>\r\n");
    let (events, _) = drain(&mut c).unwrap();
    assert!(matches!(events[..], [Event::Greeting(_)]));
    c
}

fn logged_in(config: Config) -> Client {
    let mut c = greeted(config);
    c.send(Command::User("u".into())).unwrap();
    c.enqueue_input(b"+OK\r\n");
    drain(&mut c).unwrap();
    c.send(Command::Pass("p".into())).unwrap();
    c.enqueue_input(b"+OK\r\n");
    drain(&mut c).unwrap();
    assert_eq!(c.state(), State::Transaction);
    c
}

#[test]
fn greeting_then_authorization() {
    let c = greeted(Config::default());
    assert_eq!(c.state(), State::Authorization);
    assert_eq!(
        c.greeting().unwrap().timestamp.as_ref().unwrap().as_str(),
        "<1.2@x>"
    );
}

#[test]
fn negative_greeting_closes() {
    let mut c = Client::new(Config::default());
    c.enqueue_input(b"-ERR [SYS/TEMP] busy\r\n");
    let (events, _) = drain(&mut c).unwrap();
    let [Event::Greeting(g)] = &events[..] else {
        panic!("{events:?}")
    };
    assert_eq!(g.status.code, Some(RespCode::SysTemp));
    assert_eq!(c.state(), State::Closed);
}

#[test]
fn commands_refused_in_wrong_state() {
    let mut c = greeted(Config::default());
    for cmd in [
        Command::Stat,
        Command::Retr(1),
        Command::Noop,
        Command::Dele(1),
    ] {
        assert!(matches!(
            c.send(cmd),
            Err(Error::NotAllowed {
                state: State::Authorization,
                ..
            })
        ));
    }
    let mut c = logged_in(Config::default());
    for cmd in [Command::User("u".into()), Command::Stls, Command::Utf8] {
        assert!(matches!(
            c.send(cmd),
            Err(Error::NotAllowed {
                state: State::Transaction,
                ..
            })
        ));
    }
    assert!(matches!(
        c.send(Command::AuthCancel),
        Err(Error::NotAllowed { .. })
    ));
}

#[test]
fn lockstep_until_pipelining_is_advertised() {
    let mut c = logged_in(Config::default());
    c.send(Command::Stat).unwrap();
    c.send(Command::Noop).unwrap();
    let (_, out) = drain(&mut c).unwrap();
    assert_eq!(out, b"STAT\r\n", "one command in flight without PIPELINING");
    c.enqueue_input(b"+OK 0 0\r\n");
    let (events, out) = drain(&mut c).unwrap();
    assert!(matches!(
        events[..],
        [Event::Ok {
            reply: Reply::Stat(_),
            ..
        }]
    ));
    assert_eq!(out, b"NOOP\r\n");
}

#[test]
fn pipelines_within_the_window_after_capa() {
    let config = Config::new().window(Window::new().commands(3).bytes(4096));
    let mut c = logged_in(config);
    c.send(Command::Capa).unwrap();
    drain(&mut c).unwrap();
    c.enqueue_input(b"+OK\r\nPIPELINING\r\n.\r\n");
    drain(&mut c).unwrap();
    assert!(c.is_pipelining());
    for n in 1..=5 {
        c.send(Command::Dele(n)).unwrap();
    }
    let (_, out) = drain(&mut c).unwrap();
    assert_eq!(out, b"DELE 1\r\nDELE 2\r\nDELE 3\r\n");
    assert!(!c.has_window_room());
    c.enqueue_input(b"+OK\r\n+OK\r\n");
    let (events, out) = drain(&mut c).unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(out, b"DELE 4\r\nDELE 5\r\n");
}

#[test]
fn byte_window_bounds_commands_in_flight() {
    let config = Config::new()
        .window(Window::new().commands(100).bytes(16))
        .pipelining(Pipelining::Always);
    let mut c = logged_in(config);
    for n in 1..=4 {
        c.send(Command::Retr(n)).unwrap();
    }
    let (_, out) = drain(&mut c).unwrap();
    assert_eq!(out, b"RETR 1\r\nRETR 2\r\n", "8 + 8 bytes fit in 16");
}

#[test]
fn responses_match_commands_in_order() {
    let config = Config::new().pipelining(Pipelining::Always);
    let mut c = logged_in(config);
    let stat = c.send(Command::Stat).unwrap();
    let list = c.send(Command::List(None)).unwrap();
    let uidl = c.send(Command::Uidl(Some(2))).unwrap();
    let retr = c.send(Command::Retr(1)).unwrap();
    let (_, out) = drain(&mut c).unwrap();
    assert_eq!(out, b"STAT\r\nLIST\r\nUIDL 2\r\nRETR 1\r\n");
    c.enqueue_input(
        b"+OK 3 319\r\n+OK 3 messages:\r\n1 110\r\n2 128\r\n3 81\r\n.\r\n+OK 2 000000026b04df8d\r\n\
          +OK 110 octets\r\nSubject: hello\r\n\r\nHi Alice.\r\n.\r\n",
    );
    let (events, _) = drain(&mut c).unwrap();
    let [
        Event::Ok {
            id: a,
            reply: Reply::Stat(size),
        },
        Event::Ok {
            id: b,
            reply: Reply::ScanListings(scan),
        },
        Event::Ok {
            id: d,
            reply: Reply::Uid(uid),
        },
        Event::Ok {
            id: e,
            reply: Reply::BodyFollows(_),
        },
        Event::Body { id: f, chunk },
        Event::BodyEnd { id: g },
    ] = &events[..]
    else {
        panic!("{events:?}")
    };
    assert_eq!(
        (*a, *b, *d, *e, *f, *g),
        (stat, list, uidl, retr, retr, retr)
    );
    assert_eq!((size.messages, size.octets), (3, 319));
    assert_eq!(scan.len(), 3);
    assert_eq!(uid.uid.as_str(), "000000026b04df8d");
    assert_eq!(&chunk[..], b"Subject: hello\r\n\r\nHi Alice.\r\n");
    assert_eq!(c.outstanding(), 0);
}

#[test]
fn status_line_limit_is_enforced_before_the_line_ends() {
    let config = Config::new().limits(Limits::new().status_line(64));
    let mut c = Client::new(config);
    // A hostile server streams an endless greeting: the client must fail while holding
    // no more than the limit plus one read.
    for _ in 0..3 {
        c.enqueue_input(&[b'A'; 40]);
        match c.progress() {
            Err(Interrupt::Io(Io::NeedMoreInput)) => {}
            Err(Interrupt::Error(Error::LineTooLong {
                kind: LineKind::Status,
                limit: 64,
            })) => {
                assert!(c.input.len() <= 64 + 40);
                return;
            }
            other => panic!("{other:?}"),
        }
    }
    panic!("limit not enforced");
}

#[test]
fn listing_limits() {
    let config = Config::new().limits(Limits::new().listing_items(2).listing_line(16));
    let mut c = logged_in(config);
    c.send(Command::List(None)).unwrap();
    drain(&mut c).unwrap();
    c.enqueue_input(b"+OK\r\n1 1\r\n2 2\r\n3 3\r\n.\r\n");
    assert!(matches!(
        drain(&mut c),
        Err(Error::TooManyItems { limit: 2 })
    ));
    assert!(matches!(
        c.progress(),
        Err(Interrupt::Error(Error::SessionFailed))
    ));

    let mut c = logged_in(config);
    c.send(Command::Uidl(None)).unwrap();
    drain(&mut c).unwrap();
    c.enqueue_input(b"+OK\r\n1 aaaaaaaaaaaaaaaaaaaaaaaa\r\n.\r\n");
    assert!(matches!(
        drain(&mut c),
        Err(Error::LineTooLong {
            kind: LineKind::Listing,
            ..
        })
    ));
}

#[test]
fn unsolicited_data_is_an_error() {
    let mut c = logged_in(Config::default());
    c.enqueue_input(b"+OK surprise\r\n");
    assert!(matches!(drain(&mut c), Err(Error::Unsolicited { .. })));
}

#[test]
fn malformed_replies_are_typed_errors() {
    let mut c = logged_in(Config::default());
    c.send(Command::Stat).unwrap();
    drain(&mut c).unwrap();
    c.enqueue_input(b"+OK lots\r\n");
    assert!(matches!(
        drain(&mut c),
        Err(Error::Malformed {
            what: "STAT reply",
            ..
        })
    ));

    let mut c = logged_in(Config::default());
    c.send(Command::Uidl(None)).unwrap();
    drain(&mut c).unwrap();
    c.enqueue_input(b"+OK\r\n1 bad uid\r\n.\r\n");
    assert!(matches!(drain(&mut c), Err(Error::InvalidUid { .. })));

    let mut c = logged_in(Config::default());
    c.send(Command::Noop).unwrap();
    drain(&mut c).unwrap();
    c.enqueue_input(b"HTTP/1.1 200 OK\r\n");
    assert!(matches!(
        drain(&mut c),
        Err(Error::Malformed {
            what: "status line",
            ..
        })
    ));
}

#[test]
fn stls_with_injected_bytes_is_refused() {
    let mut c = greeted(Config::default());
    c.send(Command::Stls).unwrap();
    drain(&mut c).unwrap();
    // NO STARTTLS "B_1/B_2": the response to a command not yet sent, in one segment.
    c.enqueue_input(b"+OK Begin TLS\r\n+OK\r\nPLAIN\r\n.\r\n");
    assert!(matches!(
        drain(&mut c),
        Err(Error::StartTlsInjection { len: 15 })
    ));
}

#[test]
fn stls_then_tls_forgets_capabilities() {
    let mut c = greeted(Config::default());
    c.send(Command::Capa).unwrap();
    drain(&mut c).unwrap();
    c.enqueue_input(b"+OK\r\nSTLS\r\nPIPELINING\r\n.\r\n");
    drain(&mut c).unwrap();
    assert!(c.capabilities().is_some());
    c.send(Command::Stls).unwrap();
    assert!(matches!(
        c.send(Command::Capa),
        Err(Error::AwaitingResponse {
            pending: "STLS",
            ..
        })
    ));
    drain(&mut c).unwrap();
    c.enqueue_input(b"+OK Begin TLS\r\n");
    let (events, _) = drain(&mut c).unwrap();
    assert!(matches!(events[..], [Event::Ok { .. }]));
    assert_eq!(c.state(), State::StartTls);
    assert!(matches!(
        c.send(Command::Capa),
        Err(Error::NotAllowed { .. })
    ));
    // Bytes arriving before the handshake are an injection attempt too.
    let mut injected = Client::new(Config::default());
    injected.enqueue_input(b"+OK\r\n");
    drain(&mut injected).unwrap();
    injected.send(Command::Stls).unwrap();
    drain(&mut injected).unwrap();
    injected.enqueue_input(b"+OK\r\n");
    drain(&mut injected).unwrap();
    injected.enqueue_input(b"+OK\r\n");
    assert!(matches!(
        drain(&mut injected),
        Err(Error::StartTlsInjection { .. })
    ));

    c.tls_established().unwrap();
    assert!(c.is_tls() && c.capabilities().is_none() && !c.is_pipelining());
    let (events, _) = drain(&mut c).unwrap();
    assert!(matches!(events[..], [Event::TlsEstablished]));
    assert!(matches!(
        c.send(Command::Stls),
        Err(Error::NotAllowed { .. })
    ));
}

#[test]
fn sasl_exchange_and_limits() {
    let mut c = greeted(Config::default());
    let id = c
        .send(Command::Auth {
            mechanism: "LOGIN".into(),
            initial_response: None,
        })
        .unwrap();
    assert!(matches!(
        c.send(Command::AuthResponse("x".into())),
        Err(Error::NotAllowed { .. })
    ));
    drain(&mut c).unwrap();
    c.enqueue_input(b"+ VXNlcm5hbWU6\r\n");
    let (events, _) = drain(&mut c).unwrap();
    assert_eq!(
        events,
        [Event::Challenge {
            id,
            data: b"Username:".to_vec()
        }]
    );
    assert_eq!(c.state(), State::Authenticating);
    c.send(Command::AuthResponse("alice".into())).unwrap();
    let (_, out) = drain(&mut c).unwrap();
    assert_eq!(out, b"YWxpY2U=\r\n");
    c.enqueue_input(b"+OK Logged in.\r\n");
    let (events, _) = drain(&mut c).unwrap();
    assert!(matches!(events[..], [Event::Ok { .. }]));
    assert_eq!(c.state(), State::Transaction);

    let config = Config::new().limits(Limits::new().sasl_challenge(32).status_line(32));
    let mut c = greeted(config);
    c.send(Command::Auth {
        mechanism: "X".into(),
        initial_response: None,
    })
    .unwrap();
    drain(&mut c).unwrap();
    c.enqueue_input(&[b'+'; 64]);
    assert!(matches!(
        drain(&mut c),
        Err(Error::LineTooLong {
            kind: LineKind::Challenge,
            ..
        })
    ));
}

#[test]
fn quit_closes_and_is_a_barrier() {
    let config = Config::new().pipelining(Pipelining::Always);
    let mut c = logged_in(config);
    c.send(Command::Dele(1)).unwrap();
    c.send(Command::Quit).unwrap();
    assert!(matches!(
        c.send(Command::Noop),
        Err(Error::AwaitingResponse {
            pending: "QUIT",
            ..
        })
    ));
    let (_, out) = drain(&mut c).unwrap();
    assert_eq!(out, b"DELE 1\r\nQUIT\r\n", "QUIT is pipelined behind DELE");
    c.enqueue_input(b"+OK\r\n+OK bye\r\n");
    drain(&mut c).unwrap();
    assert_eq!(c.state(), State::Closed);
    assert!(matches!(
        c.connection_closed(),
        Error::ConnectionClosed {
            during: "after QUIT"
        }
    ));
}

#[test]
fn body_is_streamed_not_accumulated() {
    let mut c = logged_in(Config::default());
    c.send(Command::Retr(1)).unwrap();
    drain(&mut c).unwrap();
    c.enqueue_input(b"+OK\r\n");
    drain(&mut c).unwrap();
    let mut total = 0;
    for _ in 0..1000 {
        c.enqueue_input(&[b'x'; 1000]);
        c.enqueue_input(b"\r\n");
        let (events, _) = drain(&mut c).unwrap();
        for e in events {
            if let Event::Body { chunk, .. } = e {
                total += chunk.len();
            }
        }
        assert!(
            c.input.len() <= 2,
            "the client holds no body bytes between reads"
        );
    }
    c.enqueue_input(b".\r\n");
    let (events, _) = drain(&mut c).unwrap();
    assert!(matches!(events[..], [Event::BodyEnd { .. }]));
    assert_eq!(total, 1000 * 1002);
}

#[test]
fn tolerates_sloppy_servers() {
    let mut c = Client::new(Config::default());
    c.enqueue_input(b"+ok hello\n");
    drain(&mut c).unwrap();
    c.send(Command::User("u".into())).unwrap();
    c.enqueue_input(b"+OK  \n");
    drain(&mut c).unwrap();
    c.send(Command::Pass("p".into())).unwrap();
    c.enqueue_input(b"+Ok\n");
    drain(&mut c).unwrap();
    c.send(Command::List(None)).unwrap();
    c.enqueue_input(b"+OK\n1 10\n2 20 \n.\n");
    let (events, _) = drain(&mut c).unwrap();
    assert!(
        matches!(&events[..], [Event::Ok { reply: Reply::ScanListings(v), .. }] if v.len() == 2)
    );
    c.send(Command::Retr(1)).unwrap();
    c.enqueue_input(b"+OK\nline\n..dot\n.\n");
    let (events, _) = drain(&mut c).unwrap();
    let body: Vec<u8> = events
        .iter()
        .filter_map(|e| {
            if let Event::Body { chunk, .. } = e {
                Some(chunk.to_vec())
            } else {
                None
            }
        })
        .flatten()
        .collect();
    assert_eq!(body, b"line\n.dot\n");
}

#[test]
fn capa_answers_are_bounded_in_lines_and_bytes() {
    let mut c = greeted(Config::default());
    c.send(Command::Capa).unwrap();
    drain(&mut c).unwrap();
    // Each line splits into hundreds of arguments: lines are capped far below
    // listing_items.
    let line = format!("X{}\r\n", " a".repeat(500));
    let mut answer = b"+OK\r\n".to_vec();
    for _ in 0..300 {
        answer.extend_from_slice(line.as_bytes());
    }
    c.enqueue_input(&answer);
    assert!(matches!(
        drain(&mut c),
        Err(Error::TooManyItems { limit: 256 })
    ));

    let config = Config::new().limits(Limits::new().listing_bytes(100));
    let mut c = logged_in(config);
    c.send(Command::List(None)).unwrap();
    drain(&mut c).unwrap();
    c.enqueue_input(b"+OK\r\n");
    for n in 1..=20 {
        c.enqueue_input(format!("{n} 100\r\n").as_bytes());
    }
    // The byte budget is named as such, not as an item count.
    let error = drain(&mut c).unwrap_err();
    assert!(
        matches!(error, Error::ListingTooLarge { limit: 100 }),
        "{error:?}"
    );
    assert_eq!(error.to_string(), "listing exceeds the limit of 100 bytes");
}

#[test]
fn a_latin1_capability_line_does_not_end_the_session() {
    let mut c = greeted(Config::default());
    c.send(Command::Capa).unwrap();
    drain(&mut c).unwrap();
    c.enqueue_input(b"+OK\r\nUSER\r\nIMPLEMENTATION Serveur d\xe9mo\r\n.\r\n");
    let (events, _) = drain(&mut c).unwrap();
    assert!(
        matches!(&events[..], [Event::Ok { reply: Reply::Capabilities(caps), .. }]
        if caps.implementation() == Some("Serveur d\u{fffd}mo"))
    );
}

#[test]
fn duplicate_uids_and_mismatched_answers_are_refused() {
    // Deletion by UID relies on UIDs being unique (RFC 1939 §7).
    let mut c = logged_in(Config::default());
    c.send(Command::Uidl(None)).unwrap();
    drain(&mut c).unwrap();
    c.enqueue_input(b"+OK\r\n1 same\r\n2 same\r\n.\r\n");
    assert!(matches!(
        drain(&mut c),
        Err(Error::Malformed {
            reason: "unique-id listed twice",
            ..
        })
    ));

    let mut c = logged_in(Config::default());
    c.send(Command::List(None)).unwrap();
    drain(&mut c).unwrap();
    c.enqueue_input(b"+OK\r\n1 10\r\n1 20\r\n.\r\n");
    assert!(matches!(drain(&mut c), Err(Error::Malformed { .. })));

    let mut c = logged_in(Config::default());
    c.send(Command::Uidl(Some(2))).unwrap();
    drain(&mut c).unwrap();
    c.enqueue_input(b"+OK 3 other-message\r\n");
    assert!(matches!(
        drain(&mut c),
        Err(Error::Malformed {
            reason: "answer is about another message",
            ..
        })
    ));
}

#[test]
fn debug_output_never_shows_queued_credentials() {
    let mut c = greeted(Config::default());
    c.send(Command::User("alice".into())).unwrap();
    // In lockstep, PASS waits in the local queue behind USER.
    c.send(Command::Pass("hunter2".into())).unwrap();
    let dump = format!("{c:?}");
    let as_numbers = b"hunter2"
        .iter()
        .map(u8::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    assert!(
        !dump.contains("hunter2") && !dump.contains(&as_numbers),
        "{dump}"
    );
    let Err(Interrupt::Io(io)) = c.progress() else {
        panic!()
    };
    assert!(format!("{io:?}").starts_with("Output("), "{io:?}");
    assert!(!format!("{io:?}").contains("80, 65, 83, 83"));
}

#[test]
fn pending_line_follows_lines_not_bodies() {
    let line = |start, received| Some(PendingLine { start, received });
    let mut c = Client::new(Config::default());
    assert_eq!(c.pending_line(), line(0, 0));
    c.enqueue_input(b"+OK hel");
    assert!(drain(&mut c).is_ok());
    assert_eq!(c.pending_line(), line(0, 7), "a greeting under way");
    c.enqueue_input(b"lo\r\n");
    drain(&mut c).unwrap();
    assert_eq!(c.pending_line(), None, "nothing awaited");

    let mut c = logged_in(Config::default());
    let start = c.received;
    c.send(Command::Uidl(None)).unwrap();
    drain(&mut c).unwrap();
    assert_eq!(c.pending_line(), line(start, 0), "a status line awaited");
    c.enqueue_input(b"+OK\r\n1 a\r\n2 ");
    drain(&mut c).unwrap();
    // A listing line under way: it starts after the status line and the first item.
    assert_eq!(c.pending_line(), line(start + 10, 2));
    c.enqueue_input(b"b\r\n.\r\n");
    drain(&mut c).unwrap();
    assert_eq!(c.pending_line(), None);

    c.send(Command::Retr(1)).unwrap();
    drain(&mut c).unwrap();
    c.enqueue_input(b"+OK\r\nbody without its end");
    drain(&mut c).unwrap();
    assert_eq!(c.pending_line(), None, "a body is not a line");
    c.enqueue_input(b"\r\n.\r\n+OK 1 ");
    c.send(Command::Stat).unwrap();
    drain(&mut c).unwrap();
    let pending = c.pending_line().expect("the STAT answer is under way");
    assert_eq!((pending.start, pending.received), (c.received - 6, 6));
    c.abort();
    assert_eq!(c.pending_line(), None, "a failed session awaits nothing");
}
