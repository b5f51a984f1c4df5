//! The UIDL+LIST snapshot the multi-connection coordinator plans from.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use common::{Script, Transcript, run, whole};
use pop3_proto::task::{Entry, RawCommand, Snapshot};
use pop3_proto::{Client, Command, Config, Error, Pipelining, Uid};

fn logged_in(peer: &mut Script, pipelining: Pipelining, t: &mut Transcript) -> Client {
    let mut client = Client::new(Config::new().pipelining(pipelining));
    run(&mut client, peer, pop3_proto::task::Greet, &mut whole(), t).unwrap();
    run(
        &mut client,
        peer,
        RawCommand::new(Command::User("alice".into())),
        &mut whole(),
        t,
    )
    .unwrap();
    run(
        &mut client,
        peer,
        RawCommand::new(Command::Pass("pw".into())),
        &mut whole(),
        t,
    )
    .unwrap();
    client
}

const LOGIN: [(&[u8], &[u8]); 2] = [
    (b"USER alice\r\n", b"+OK\r\n"),
    (b"PASS pw\r\n", b"+OK\r\n"),
];

#[test]
fn uidl_and_list_are_joined_in_one_round_trip() {
    let mut steps = LOGIN.to_vec();
    steps.push((b"UIDL\r\n", b"+OK\r\n1 a\r\n2 b\r\n3 c\r\n.\r\n"));
    // Message 3 is gone from LIST (expunged in between): left out, not guessed.
    steps.push((b"LIST\r\n", b"+OK\r\n2 200\r\n1 100\r\n.\r\n"));
    let mut peer = Script::new(b"+OK\r\n", &steps);
    let mut t = Transcript::default();
    let mut client = logged_in(&mut peer, Pipelining::Always, &mut t);
    let before = t.round_trips;
    let entries = run(
        &mut client,
        &mut peer,
        Snapshot::new(),
        &mut whole(),
        &mut t,
    )
    .unwrap();
    assert_eq!(t.round_trips - before, 1);
    let uid = |s: &str| Uid::new(s).unwrap();
    assert_eq!(
        entries,
        [
            Entry {
                msg: 1,
                uid: uid("a"),
                size: 100
            },
            Entry {
                msg: 2,
                uid: uid("b"),
                size: 200
            },
        ]
    );
}

#[test]
fn a_refused_listing_is_reported_after_both_answers() {
    let mut steps = LOGIN.to_vec();
    steps.push((b"UIDL\r\n", b"-ERR no UIDL here\r\n"));
    steps.push((b"LIST\r\n", b"+OK\r\n1 100\r\n.\r\n"));
    steps.push((b"NOOP\r\n", b"+OK\r\n"));
    let mut peer = Script::new(b"+OK\r\n", &steps);
    let mut t = Transcript::default();
    let mut client = logged_in(&mut peer, Pipelining::Always, &mut t);
    let error = run(
        &mut client,
        &mut peer,
        Snapshot::new(),
        &mut whole(),
        &mut t,
    )
    .unwrap_err();
    assert!(
        matches!(
            error,
            Error::Refused {
                command: "UIDL",
                ..
            }
        ),
        "{error:?}"
    );
    // LIST's answer was consumed: the session goes on in step.
    run(
        &mut client,
        &mut peer,
        RawCommand::new(Command::Noop),
        &mut whole(),
        &mut t,
    )
    .unwrap();
    assert!(peer.finished());
}
