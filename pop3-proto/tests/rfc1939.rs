//! The example sessions of RFC 1939, replayed byte for byte through the tasks.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use common::{Script, Transcript, bodies, run, whole};
use pop3_proto::task::{
    Dele, Greet, List, ListOne, Noop, Quit, RawCommand, Retr, Rset, Stat, Top, Uidl, UidlOne,
};
use pop3_proto::{Client, Command, Config, Error, RespCode, Secret, sasl};

const MSG1: &[u8] = b"From: dewey\r\nSubject: one\r\n\r\nfirst message\r\n";
const MSG2: &[u8] = b"From: huey\r\nSubject: two\r\n\r\n.leading dot\r\nline 2\r\nline 3\r\n";

/// RFC 1939 §10 "Example POP3 Session", APOP included.
#[test]
fn rfc1939_example_session() {
    let greeting = b"+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>\r\n";
    let retr1 = [b"+OK 120 octets\r\n".as_slice(), MSG1, b".\r\n"].concat();
    let retr2 = [
        b"+OK 200 octets\r\n".as_slice(),
        b"From: huey\r\nSubject: two\r\n\r\n..leading dot\r\nline 2\r\nline 3\r\n",
        b".\r\n",
    ]
    .concat();
    let mut peer = Script::new(
        greeting,
        &[
            (
                b"APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n",
                b"+OK mrose's maildrop has 2 messages (320 octets)\r\n",
            ),
            (b"STAT\r\n", b"+OK 2 320\r\n"),
            (
                b"LIST\r\n",
                b"+OK 2 messages (320 octets)\r\n1 120\r\n2 200\r\n.\r\n",
            ),
            (b"RETR 1\r\n", &retr1),
            (b"DELE 1\r\n", b"+OK message 1 deleted\r\n"),
            (b"RETR 2\r\n", &retr2),
            (b"DELE 2\r\n", b"+OK message 2 deleted\r\n"),
            (
                b"QUIT\r\n",
                b"+OK dewey POP3 server signing off (maildrop empty)\r\n",
            ),
        ],
    );
    let mut client = Client::new(Config::default());
    let mut t = Transcript::default();
    let greeting = run(&mut client, &mut peer, Greet, &mut whole(), &mut t).unwrap();
    let timestamp = greeting.timestamp.expect("RFC greeting has a timestamp");
    let digest = sasl::apop_digest(timestamp.as_str(), &Secret::from("tanstaaf"));
    assert_eq!(
        digest, "c4c9334bac560ecc979e58001b3e22fb",
        "RFC 1939 §7 APOP digest"
    );
    run(
        &mut client,
        &mut peer,
        RawCommand::new(Command::Apop {
            user: "mrose".into(),
            digest,
        }),
        &mut whole(),
        &mut t,
    )
    .unwrap();
    let size = run(&mut client, &mut peer, Stat::new(), &mut whole(), &mut t).unwrap();
    assert_eq!((size.messages, size.octets), (2, 320));
    let list = run(&mut client, &mut peer, List::new(), &mut whole(), &mut t).unwrap();
    assert_eq!(
        list.iter().map(|s| (s.msg, s.octets)).collect::<Vec<_>>(),
        [(1, 120), (2, 200)]
    );
    run(&mut client, &mut peer, Retr::new(1), &mut whole(), &mut t).unwrap();
    run(&mut client, &mut peer, Dele::new(1), &mut whole(), &mut t).unwrap();
    run(&mut client, &mut peer, Retr::new(2), &mut whole(), &mut t).unwrap();
    run(&mut client, &mut peer, Dele::new(2), &mut whole(), &mut t).unwrap();
    let quit = run(&mut client, &mut peer, Quit::new(), &mut whole(), &mut t).unwrap();
    assert!(quit.committed);
    assert!(peer.finished());
    assert_eq!(bodies(&t.bodies), [(1, MSG1.to_vec()), (2, MSG2.to_vec())]);
}

/// The per-command examples of RFC 1939 §§4–7, positive and negative.
#[test]
fn rfc1939_command_examples() {
    let mut peer = Script::new(
        b"+OK POP3 server ready\r\n",
        &[
            (
                b"USER frated\r\n",
                b"-ERR sorry, no mailbox for frated here\r\n",
            ),
            (b"USER mrose\r\n", b"+OK mrose is a real hoopy frood\r\n"),
            (b"PASS secret\r\n", b"-ERR maildrop already locked\r\n"),
            (b"USER mrose\r\n", b"+OK mrose is a real hoopy frood\r\n"),
            (
                b"PASS secret\r\n",
                b"+OK mrose's maildrop has 2 messages (320 octets)\r\n",
            ),
            (b"LIST 2\r\n", b"+OK 2 200\r\n"),
            (
                b"LIST 3\r\n",
                b"-ERR no such message, only 2 messages in maildrop\r\n",
            ),
            (
                b"UIDL\r\n",
                b"+OK\r\n1 whqtswO00WBw418f9t5JxYwZ\r\n2 QhdPYR:00WBw1Ph7x7\r\n.\r\n",
            ),
            (b"UIDL 2\r\n", b"+OK 2 QhdPYR:00WBw1Ph7x7\r\n"),
            (
                b"UIDL 3\r\n",
                b"-ERR no such message, only 2 messages in maildrop\r\n",
            ),
            (b"TOP 1 10\r\n", b"+OK\r\nSubject: x\r\n\r\nbody\r\n.\r\n"),
            (b"TOP 100 3\r\n", b"-ERR no such message\r\n"),
            (b"DELE 1\r\n", b"+OK message 1 deleted\r\n"),
            (b"DELE 1\r\n", b"-ERR message 1 already deleted\r\n"),
            (b"RSET\r\n", b"+OK maildrop has 2 messages (320 octets)\r\n"),
            (b"NOOP\r\n", b"+OK\r\n"),
            (b"QUIT\r\n", b"+OK dewey POP3 server signing off\r\n"),
        ],
    );
    let mut client = Client::new(Config::default());
    let mut t = Transcript::default();
    run(&mut client, &mut peer, Greet, &mut whole(), &mut t).unwrap();
    let mut exec = |client: &mut Client, command| {
        run(
            client,
            &mut peer,
            RawCommand::new(command),
            &mut whole(),
            &mut t,
        )
    };
    refused(
        exec(&mut client, Command::User("frated".into())),
        "sorry, no mailbox for frated here",
    );
    exec(&mut client, Command::User("mrose".into())).unwrap();
    refused(
        exec(&mut client, Command::Pass("secret".into())),
        "maildrop already locked",
    );
    exec(&mut client, Command::User("mrose".into())).unwrap();
    exec(&mut client, Command::Pass("secret".into())).unwrap();
    let scan = run(
        &mut client,
        &mut peer,
        ListOne::new(2),
        &mut whole(),
        &mut t,
    )
    .unwrap();
    assert_eq!((scan.msg, scan.octets), (2, 200));
    refused(
        run(
            &mut client,
            &mut peer,
            ListOne::new(3),
            &mut whole(),
            &mut t,
        ),
        "no such message, only 2 messages in maildrop",
    );
    let uids = run(&mut client, &mut peer, Uidl::new(), &mut whole(), &mut t).unwrap();
    assert_eq!(uids[1].uid.as_str(), "QhdPYR:00WBw1Ph7x7");
    let uid = run(
        &mut client,
        &mut peer,
        UidlOne::new(2),
        &mut whole(),
        &mut t,
    )
    .unwrap();
    assert_eq!(uid.uid.as_str(), "QhdPYR:00WBw1Ph7x7");
    assert!(
        run(
            &mut client,
            &mut peer,
            UidlOne::new(3),
            &mut whole(),
            &mut t
        )
        .is_err()
    );
    run(
        &mut client,
        &mut peer,
        Top::new(1, 10),
        &mut whole(),
        &mut t,
    )
    .unwrap();
    refused(
        run(
            &mut client,
            &mut peer,
            Top::new(100, 3),
            &mut whole(),
            &mut t,
        ),
        "no such message",
    );
    run(&mut client, &mut peer, Dele::new(1), &mut whole(), &mut t).unwrap();
    refused(
        run(&mut client, &mut peer, Dele::new(1), &mut whole(), &mut t),
        "message 1 already deleted",
    );
    run(&mut client, &mut peer, Rset::new(), &mut whole(), &mut t).unwrap();
    run(&mut client, &mut peer, Noop::new(), &mut whole(), &mut t).unwrap();
    run(&mut client, &mut peer, Quit::new(), &mut whole(), &mut t).unwrap();
    assert!(peer.finished());
    assert_eq!(
        bodies(&t.bodies),
        [(1, b"Subject: x\r\n\r\nbody\r\n".to_vec())]
    );
}

fn refused<T: std::fmt::Debug>(result: Result<T, Error>, text: &str) {
    match result {
        Err(Error::Refused { status, .. }) => assert_eq!(status.text, text),
        other => panic!("{other:?}"),
    }
}

/// RFC 2449 §6 response codes as real servers send them reach the caller typed.
#[test]
fn response_codes_reach_the_caller() {
    let mut peer = Script::new(
        b"+OK ready\r\n",
        &[
            (b"USER a\r\n", b"+OK\r\n"),
            (
                b"PASS b\r\n",
                b"-ERR [IN-USE] Do you have another POP session running?\r\n",
            ),
        ],
    );
    let mut client = Client::new(Config::default());
    let mut t = Transcript::default();
    run(&mut client, &mut peer, Greet, &mut whole(), &mut t).unwrap();
    run(
        &mut client,
        &mut peer,
        RawCommand::new(Command::User("a".into())),
        &mut whole(),
        &mut t,
    )
    .unwrap();
    match run(
        &mut client,
        &mut peer,
        RawCommand::new(Command::Pass("b".into())),
        &mut whole(),
        &mut t,
    ) {
        Err(Error::Refused { status, .. }) => assert_eq!(status.code, Some(RespCode::InUse)),
        other => panic!("{other:?}"),
    }
}
