//! Protocol properties: encode then parse is the identity for every command and response,
//! any chunking of a server stream gives the same results, and pipelined and lockstep runs
//! of the same commands agree.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use bytes::Bytes;
use common::{Transcript, bodies, run};
use pop3_proto::sasl::parse_challenge;
use pop3_proto::server::encode_challenge;
use pop3_proto::server::session::{MemoryBackend, ServerOptions, Session, StoredMessage};
use pop3_proto::task::{DeleMany, List, Login, Quit, RetrMany, Stat, TopMany, Uidl};
use pop3_proto::{
    Capability, Client, Command, Config, Expire, Pipelining, RespCode, Secret, Status, StatusKind,
};
use pop3_proto::{MaildropSize, ScanListing, Uid, UidListing};
use proptest::prelude::*;

fn word() -> impl Strategy<Value = String> {
    "[!-~&&[^ ]]{1,20}"
}

fn number() -> impl Strategy<Value = u32> {
    1..=u32::MAX
}

fn command() -> impl Strategy<Value = Command> {
    let secret = proptest::collection::vec(
        any::<u8>().prop_filter("no line breaks", |b| !matches!(b, b'\r' | b'\n' | 0)),
        1..40,
    )
    .prop_map(Secret::new);
    let mechanism = "[A-Z0-9_-]{1,20}";
    prop_oneof![
        word().prop_map(Command::User),
        secret.clone().prop_map(Command::Pass),
        (word(), "[0-9a-f]{32}").prop_map(|(user, digest)| Command::Apop { user, digest }),
        (
            mechanism,
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..100))
        )
            .prop_map(|(m, ir)| Command::Auth {
                mechanism: m,
                initial_response: ir.map(Secret::new)
            }),
        proptest::collection::vec(any::<u8>(), 0..300)
            .prop_map(|r| Command::AuthResponse(Secret::new(r))),
        Just(Command::AuthCancel),
        Just(Command::Stls),
        Just(Command::Capa),
        Just(Command::Stat),
        proptest::option::of(number()).prop_map(Command::List),
        proptest::option::of(number()).prop_map(Command::Uidl),
        number().prop_map(Command::Retr),
        (number(), any::<u32>()).prop_map(|(msg, lines)| Command::Top { msg, lines }),
        number().prop_map(Command::Dele),
        Just(Command::Noop),
        Just(Command::Rset),
        Just(Command::Quit),
        Just(Command::Utf8),
        proptest::option::of("[a-zA-Z-]{1,10}").prop_map(Command::Lang),
    ]
}

fn resp_code() -> impl Strategy<Value = RespCode> {
    prop_oneof![
        Just(RespCode::InUse),
        Just(RespCode::LoginDelay),
        Just(RespCode::SysTemp),
        Just(RespCode::SysPerm),
        Just(RespCode::Auth),
        Just(RespCode::Utf8),
        "X-[A-Z]{1,8}(/[A-Z]{1,5}){0,2}".prop_map(RespCode::Other),
    ]
}

fn status() -> impl Strategy<Value = Status> {
    // Text is trimmed by the parser, and a text starting with '[' without a code would
    // read as one: the encoder's domain is text without those.
    let text = "([^\\[\\s\\x00-\\x1f][^\\x00-\\x1f]{0,40}[^\\s\\x00-\\x1f])?";
    (
        prop_oneof![Just(StatusKind::Ok), Just(StatusKind::Err)],
        proptest::option::of(resp_code()),
        text,
    )
        .prop_map(|(kind, code, text)| Status { kind, code, text })
}

fn capability() -> impl Strategy<Value = Capability> {
    prop_oneof![
        Just(Capability::Top),
        Just(Capability::User),
        proptest::collection::vec("[A-Z0-9-]{1,12}", 0..4).prop_map(Capability::Sasl),
        Just(Capability::RespCodes),
        Just(Capability::AuthRespCode),
        (any::<u32>(), any::<bool>())
            .prop_map(|(seconds, per_user)| Capability::LoginDelay { seconds, per_user }),
        Just(Capability::Pipelining),
        (proptest::option::of(any::<u32>()), any::<bool>()).prop_map(|(d, per_user)| {
            Capability::Expire {
                policy: d.map_or(Expire::Never, Expire::Days),
                per_user,
            }
        }),
        Just(Capability::Uidl),
        "[a-zA-Z0-9][a-zA-Z0-9 .-]{0,20}[a-zA-Z0-9]".prop_map(Capability::Implementation),
        Just(Capability::Stls),
        any::<bool>().prop_map(|user| Capability::Utf8 { user }),
        Just(Capability::Lang),
        (
            "X-[A-Z]{1,10}",
            proptest::collection::vec("[!-~]{1,8}", 0..3)
        )
            .prop_map(|(name, args)| Capability::Other { name, args }),
    ]
}

fn strip_crlf(mut line: Vec<u8>) -> Vec<u8> {
    assert!(line.ends_with(b"\r\n"));
    line.truncate(line.len() - 2);
    line
}

proptest! {
    #[test]
    fn commands_round_trip(cmd in command()) {
        if let Ok(wire) = cmd.to_bytes() {
            prop_assert!(wire.ends_with(b"\r\n"));
            prop_assert_eq!(memchr::memchr_iter(b'\n', &wire).count(), 1, "exactly one line");
            let parsed = match cmd {
                Command::AuthResponse(_) | Command::AuthCancel => Command::parse_auth_response(&wire),
                _ => Command::parse(&wire),
            };
            prop_assert_eq!(parsed.unwrap(), cmd);
        } else {
            let too_long = matches!(cmd.to_bytes(), Err(pop3_proto::Error::CommandTooLong { .. }));
            prop_assert!(too_long, "only the line limit may refuse a well-formed command");
        }
    }

    #[test]
    fn statuses_round_trip(status in status()) {
        let mut wire = Vec::new();
        status.encode(&mut wire).unwrap();
        prop_assert_eq!(Status::parse(&strip_crlf(wire)).unwrap(), status);
    }

    #[test]
    fn capabilities_round_trip(cap in capability()) {
        let mut wire = Vec::new();
        cap.encode(&mut wire).unwrap();
        prop_assert_eq!(Capability::parse(&wire).unwrap(), cap);
    }

    #[test]
    fn listings_round_trip(msg in number(), octets in any::<u64>(), uid in "[!-~]{1,70}", messages in any::<u32>()) {
        let scan = ScanListing { msg, octets };
        let mut wire = Vec::new();
        scan.encode(&mut wire).unwrap();
        prop_assert_eq!(ScanListing::parse(&wire).unwrap(), scan);
        let listing = UidListing { msg, uid: Uid::new(&uid).unwrap() };
        let mut wire = Vec::new();
        listing.encode(&mut wire).unwrap();
        prop_assert_eq!(UidListing::parse(&wire).unwrap(), listing);
        let size = MaildropSize { messages, octets };
        let mut wire = Vec::new();
        size.encode(&mut wire);
        let line = strip_crlf(wire);
        prop_assert_eq!(MaildropSize::parse(&line[4..]).unwrap(), size);
    }

    #[test]
    fn challenges_round_trip(data in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut wire = Vec::new();
        encode_challenge(&data, &mut wire);
        prop_assert_eq!(parse_challenge(&strip_crlf(wire)).unwrap(), data);
    }
}

/// A mailbox of CRLF messages with dot lines, a lone "." line, bare CRs and 8-bit bytes.
fn mailbox() -> impl Strategy<Value = Vec<Vec<u8>>> {
    let line = prop_oneof![
        Just(b".".to_vec()),
        Just(b"..".to_vec()),
        Just(b".\r".to_vec()),
        proptest::collection::vec(
            prop_oneof![
                Just(b'.'),
                Just(b'\r'),
                Just(b'a'),
                Just(0xe9u8),
                any::<u8>().prop_filter("no LF", |b| *b != b'\n')
            ],
            0..60
        ),
    ];
    let message = proptest::collection::vec(line, 1..12).prop_map(|lines| {
        let mut m = b"Subject: generated\r\n\r\n".to_vec();
        for l in lines {
            m.extend_from_slice(&l);
            m.extend_from_slice(b"\r\n");
        }
        m
    });
    proptest::collection::vec(message, 1..8)
}

#[derive(Debug, PartialEq, Eq)]
struct SessionResult {
    stat: (u32, u64),
    list: Vec<(u32, u64)>,
    uidl: Vec<(u32, String)>,
    retrieved: Vec<(u32, Vec<u8>)>,
    headers: Vec<(u32, Vec<u8>)>,
    deleted: usize,
    remaining: usize,
}

/// A whole session: login, STAT, LIST, UIDL, RETR all, TOP all, DELE odd, QUIT. Also
/// returns the round trips of the batches.
fn session(
    messages: &[Vec<u8>],
    pipelining: Pipelining,
    chunks: &[usize],
) -> (SessionResult, usize) {
    let stored = messages
        .iter()
        .enumerate()
        .map(|(i, m)| StoredMessage {
            uid: Uid::new(&format!("uid-{i}")).unwrap(),
            data: Bytes::from(m.clone()),
        })
        .collect();
    let backend = MemoryBackend {
        user: "alice".into(),
        password: "pw".into(),
        messages: stored,
    };
    let mut server = Session::new(backend, ServerOptions::default());
    server.set_implicit_tls();
    let mut client = Client::new(
        Config::new()
            .pipelining(pipelining)
            .tls(pop3_proto::TlsMode::Implicit),
    );
    let mut sizes = chunks.iter().copied().cycle();
    let mut chunk = move || sizes.next().unwrap_or(usize::MAX);
    let mut t = Transcript::default();
    run(
        &mut client,
        &mut server,
        Login::new("alice", "pw").method(pop3_proto::task::AuthMethod::User),
        &mut chunk,
        &mut t,
    )
    .unwrap();
    let stat = run(&mut client, &mut server, Stat::new(), &mut chunk, &mut t).unwrap();
    let list = run(&mut client, &mut server, List::new(), &mut chunk, &mut t).unwrap();
    let uidl = run(&mut client, &mut server, Uidl::new(), &mut chunk, &mut t).unwrap();
    let all: Vec<u32> = list.iter().map(|s| s.msg).collect();
    let mut retr_t = Transcript::default();
    run(
        &mut client,
        &mut server,
        RetrMany::new(all.clone()),
        &mut chunk,
        &mut retr_t,
    )
    .unwrap();
    let mut top_t = Transcript::default();
    run(
        &mut client,
        &mut server,
        TopMany::new(all.clone(), 0),
        &mut chunk,
        &mut top_t,
    )
    .unwrap();
    let odd: Vec<u32> = all.iter().copied().filter(|n| n % 2 == 1).collect();
    let outcomes = run(
        &mut client,
        &mut server,
        DeleMany::new(odd),
        &mut chunk,
        &mut t,
    )
    .unwrap();
    let quit = run(&mut client, &mut server, Quit::new(), &mut chunk, &mut t).unwrap();
    assert!(quit.committed);
    let batches = retr_t.round_trips + top_t.round_trips;
    let result = SessionResult {
        stat: (stat.messages, stat.octets),
        list: list.iter().map(|s| (s.msg, s.octets)).collect(),
        uidl: uidl.iter().map(|u| (u.msg, u.uid.to_string())).collect(),
        retrieved: bodies(&retr_t.bodies),
        headers: bodies(&top_t.bodies),
        deleted: outcomes.iter().filter(|o| o.result.is_ok()).count(),
        remaining: server.backend().messages.len(),
    };
    (result, batches)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_chunking_gives_the_same_session(
        messages in mailbox(),
        chunks in proptest::collection::vec(1usize..64, 1..10),
    ) {
        let (whole, _) = session(&messages, Pipelining::Auto, &[usize::MAX]);
        let (chunked, _) = session(&messages, Pipelining::Auto, &chunks);
        prop_assert_eq!(&whole, &chunked);
        // And the bodies are the stored messages, byte for byte.
        let expected: Vec<(u32, Vec<u8>)> =
            messages.iter().enumerate().map(|(i, m)| (i as u32 + 1, m.clone())).collect();
        prop_assert_eq!(&whole.retrieved, &expected);
        prop_assert_eq!(whole.remaining, messages.len() / 2);
    }

    #[test]
    fn pipelined_and_lockstep_agree(messages in mailbox(), chunks in proptest::collection::vec(1usize..512, 1..4)) {
        let (pipelined, pipelined_trips) = session(&messages, Pipelining::Always, &[usize::MAX]);
        let (lockstep, lockstep_trips) = session(&messages, Pipelining::Never, &chunks);
        prop_assert_eq!(pipelined, lockstep);
        // Lockstep waits once per command at least; pipelined batches need fewer waits.
        prop_assert!(lockstep_trips >= 2 * messages.len());
        if messages.len() > 1 {
            prop_assert!(pipelined_trips < lockstep_trips, "{} vs {}", pipelined_trips, lockstep_trips);
        }
    }
}
