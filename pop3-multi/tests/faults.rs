//! The coordinator against servers that misbehave, on every driver: every selected
//! message stored exactly once and whole, nothing deleted early, the run completing on
//! what the server allows.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Events, Fetch, Runner, Target2, on_every_runner};
use pop3_multi::{MultiConnectionMode, MultiOptions, ProgressEvent};
use pop3_testkit::{Fault, Profile, TestServer, TestServerBuilder, mailbox};

fn enabled(n: usize) -> MultiOptions {
    MultiOptions::new()
        .mode(MultiConnectionMode::Enable)
        .connections(n)
}

fn sessions_opened(events: &Events) -> usize {
    events
        .all()
        .iter()
        .filter(|e| matches!(e, ProgressEvent::SessionOpened(_)))
        .count()
}

/// Fetches everything from a server built by `build` with `options`; checks every
/// message arrived exactly once, byte for byte, with nothing else in the directory.
fn fetch_all_exactly_once(
    runner: Runner,
    messages: &[Vec<u8>],
    build: impl Fn(TestServerBuilder) -> TestServerBuilder,
    options: MultiOptions,
) -> (pop3_multi::FetchReport, Events) {
    let server = build(TestServer::builder().messages(messages.to_vec())).start();
    let target = Target2::of(&server);
    let dir = tempfile::tempdir().unwrap();
    let store = common::store(runner, dir.path(), &target);
    let events = Events::default();
    let report =
        common::fetch(runner, &target, options, &store, &Fetch::default(), &events).unwrap();
    assert!(report.failed.is_empty(), "{runner:?}: {:?}", report.failed);
    assert_eq!(report.stored.len(), messages.len(), "{runner:?}");
    let mut expected = messages.to_vec();
    expected.sort();
    // Whole messages only: no partial file, no temporary left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| !n.starts_with(".pop3-uidl"))
        .collect();
    assert_eq!(names.len(), messages.len(), "{runner:?}: {names:?}");
    assert_eq!(common::stored(dir.path()), expected, "{runner:?}");
    (report, events)
}

/// Sessions reset at pseudo-random byte offsets inside RETR bodies: nothing lost,
/// nothing duplicated, nothing partial.
#[test]
fn sessions_reset_inside_bodies() {
    let messages = mailbox::generate(24, 20_000, 21);
    on_every_runner(|runner| {
        let mut seed = 0x9e37_79b9_u64 ^ runner as u64;
        for _ in 0..3 {
            let offsets: Vec<usize> = (0..3)
                .map(|_| {
                    seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    // Past the greeting, login and snapshot: inside the bodies.
                    8_000 + usize::try_from(seed >> 40).unwrap() % 120_000
                })
                .collect();
            let (report, _) = fetch_all_exactly_once(
                runner,
                &messages,
                |builder| {
                    offsets.iter().fold(builder, |b, &offset| {
                        b.fault_once(Fault::CloseAfterBytes(offset))
                    })
                },
                enabled(3),
            );
            assert!(
                report.sessions > 3,
                "{runner:?}: failed sessions were replaced"
            );
        }
    });
}

/// `pop3_lock_session`-style servers answer a second login `[IN-USE]`: the run
/// completes on one connection.
#[test]
fn a_lock_session_server_runs_on_one_connection() {
    let messages = mailbox::generate(20, 3_000, 5);
    on_every_runner(|runner| {
        // A slow server keeps the first session busy while the others try to log in.
        let (_, events) = fetch_all_exactly_once(
            runner,
            &messages,
            |b| {
                b.profile(Profile::LockSession)
                    .profile(Profile::Slow(Duration::from_millis(20)))
            },
            enabled(4),
        );
        assert!(
            events
                .all()
                .iter()
                .any(|e| matches!(e, ProgressEvent::SessionFailed { reason, .. } if reason.contains("IN-USE"))),
            "{runner:?}: {:?}",
            events.all()
        );
    });
}

/// A slow server: everything arrives all the same.
#[test]
fn a_slow_server() {
    let messages = mailbox::generate(12, 2_000, 6);
    on_every_runner(|runner| {
        fetch_all_exactly_once(
            runner,
            &messages,
            |b| b.profile(Profile::Slow(Duration::from_millis(3))),
            enabled(3),
        );
    });
}

/// A multi-line answer cut off (the connection closed before its `.` line): the
/// message goes to another session.
#[test]
fn a_truncated_multiline_answer() {
    let messages = mailbox::generate(10, 30_000, 7);
    on_every_runner(|runner| {
        fetch_all_exactly_once(
            runner,
            &messages,
            |b| b.fault_once(Fault::TruncateMultiline),
            enabled(2),
        );
    });
}

/// A real Dovecot, with `pop3_lock_session` on (one session does everything, the
/// others are refused after Dovecot's lock wait) and off (every session works).
#[test]
fn dovecot_with_and_without_lock_session() {
    let messages = mailbox::generate(30, 5_000, 9);
    for lock_session in [false, true] {
        let options = pop3_testkit::DovecotOptions {
            messages: messages.clone(),
            lock_session,
            ..Default::default()
        };
        let Some(dovecot) = pop3_testkit::Dovecot::start(options).unwrap() else {
            return;
        };
        let target = Target2::dovecot(&dovecot);
        on_every_runner(|runner| {
            let dir = tempfile::tempdir().unwrap();
            let store = common::store(runner, dir.path(), &target);
            let events = Events::default();
            let report = common::fetch(
                runner,
                &target,
                enabled(3),
                &store,
                &Fetch::default(),
                &events,
            )
            .unwrap();
            assert!(report.failed.is_empty(), "{runner:?} {:?}", report.failed);
            let mut expected = messages.clone();
            expected.sort();
            assert_eq!(common::stored(dir.path()), expected, "{runner:?}");
            assert!(sessions_opened(&events) >= 1, "{runner:?}");
        });
    }
}
