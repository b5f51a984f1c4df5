//! The coordinator on every driver against the test kit's server: listing, fetching,
//! deleting.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{ALL, Events, Fetch, Target2};
use pop3_multi::{
    DeletionOutcome, MultiConnectionMode, MultiOptions, ProgressEvent, Selection, Totals,
};
use pop3_testkit::{TestServer, mailbox};

fn enabled(n: usize) -> MultiOptions {
    MultiOptions::new()
        .mode(MultiConnectionMode::Enable)
        .connections(n)
}

/// With several sessions asked for, the async driver starts their logins with the first
/// one's, not after it has listed the maildrop: every login is under way before the
/// first UIDL. (The thread driver opens them after.)
#[test]
fn the_other_sessions_log_in_while_the_first_lists() {
    let messages = mailbox::generate(40, 1_000, 6);
    for runner in ALL {
        let server = TestServer::builder()
            .messages(messages.clone())
            // Slow enough that the first session's three or four round trips before its
            // UIDL outlast the other sessions' TLS handshakes on a loaded machine.
            .profile(pop3_testkit::Profile::Slow(Duration::from_millis(100)))
            .start();
        let listing = common::list(runner, &Target2::of(&server), enabled(4)).unwrap();
        assert_eq!(listing.messages.len(), 40, "{runner:?}");
        let received = server.received();
        let first_uidl = received.iter().position(|l| l == "UIDL").unwrap();
        let logins_before = received[..first_uidl]
            .iter()
            .filter(|l| l.starts_with("USER ") || l.starts_with("AUTH "))
            .count();
        if runner == common::Runner::Threads {
            assert_eq!(logins_before, 1, "{runner:?}: {received:?}");
        } else {
            assert_eq!(logins_before, 4, "{runner:?}: {received:?}");
        }
    }
}

#[test]
fn list_messages_with_several_sessions() {
    let messages = mailbox::generate(60, 1_500, 4);
    for runner in ALL {
        let server = TestServer::builder().messages(messages.clone()).start();
        let events = common::Events::default();
        let listing =
            common::list_with(runner, &Target2::of(&server), enabled(4), &events).unwrap();
        assert_eq!(listing.messages.len(), 60, "{runner:?}");
        assert!(listing.failed.is_empty());
        assert_eq!(listing.sessions, 4, "{runner:?} {:?}", events.all());
        assert_eq!(server.connections(), 4, "{runner:?}");
        let numbers: Vec<u32> = listing.messages.iter().map(|m| m.number).collect();
        assert_eq!(numbers, (1..=60).collect::<Vec<_>>());
        assert!(
            listing
                .messages
                .iter()
                .all(|m| m.subject.is_some() && m.message_id.is_some())
        );
    }
}

#[test]
fn fetch_then_delete_with_several_sessions() {
    let messages = mailbox::generate(40, 4_000, 8);
    for runner in ALL {
        let server = TestServer::builder().messages(messages.clone()).start();
        let target = Target2::of(&server);
        let dir = tempfile::tempdir().unwrap();
        let store = common::store(runner, dir.path(), &target);
        let events = Events::default();
        let how = Fetch {
            delete: true,
            ..Fetch::default()
        };
        let report = common::fetch(runner, &target, enabled(3), &store, &how, &events).unwrap();
        assert_eq!(report.stored.len(), 40, "{runner:?} {:?}", report.failed);
        assert!(report.failed.is_empty());
        assert_eq!(report.deletions.len(), 40);
        assert!(
            report
                .deletions
                .iter()
                .all(|d| d.outcome == DeletionOutcome::Committed),
            "{runner:?}: {:?}",
            report
                .deletions
                .iter()
                .filter(|d| d.outcome != DeletionOutcome::Committed)
                .collect::<Vec<_>>()
        );
        assert!(server.wait_until_idle(Duration::from_secs(20)));
        assert_eq!(server.mailbox().len(), 0);
        // Every message stored once, byte for byte.
        let mut expected = messages.clone();
        expected.sort();
        assert_eq!(common::stored(dir.path()), expected, "{runner:?}");
        // Progress: every message once, spread over the sessions.
        let mut totals = Totals::default();
        for event in events.all() {
            totals.add(&event);
        }
        assert_eq!(totals.planned_messages, 40);
        assert_eq!(totals.messages, 40);
        assert_eq!(totals.bytes, report.bytes());
        // At most the sessions asked for (one still logging in when the work is done
        // is not waited for).
        let opened = events
            .all()
            .iter()
            .filter(|e| matches!(e, ProgressEvent::SessionOpened(_)))
            .count();
        assert!((1..=3).contains(&opened), "{runner:?}: {opened}");
    }
}

#[test]
fn delete_by_uid() {
    for runner in ALL {
        let server = TestServer::builder()
            .messages(mailbox::generate(5, 500, 2))
            .start();
        let target = Target2::of(&server);
        let listing = common::list(runner, &target, MultiOptions::new()).unwrap();
        let uid = listing.messages[2].uid.clone().unwrap();
        let report = common::delete(
            runner,
            &target,
            MultiOptions::new(),
            &Selection::Uids(vec![uid.to_string(), "nope".into()]),
        )
        .unwrap();
        assert_eq!(report.unknown, ["nope"]);
        assert_eq!(report.deletions.len(), 1);
        assert_eq!(report.deletions[0].outcome, DeletionOutcome::Committed);
        assert!(server.wait_until_idle(Duration::from_secs(20)));
        assert_eq!(server.mailbox().len(), 4, "{runner:?}");
    }
}

/// A stop (an interrupt) after a few messages: what was received whole is stored and
/// recorded, the rest is reported as stopped, nothing is left half written, and no DELE
/// is sent for what was not stored.
#[test]
fn a_stop_keeps_what_is_whole_and_deletes_nothing_unstored() {
    let messages = mailbox::generate(40, 20_000, 17);
    for runner in ALL {
        let server = TestServer::builder()
            .messages(messages.clone())
            .profile(pop3_testkit::Profile::Slow(Duration::from_millis(10)))
            .start();
        let target = Target2::of(&server);
        let dir = tempfile::tempdir().unwrap();
        let store = common::store(runner, dir.path(), &target);
        let events = Events::stopping(3, pop3_multi::Stop::new());
        let how = Fetch {
            delete: true,
            ..Fetch::default()
        };
        let report = common::fetch(runner, &target, enabled(2), &store, &how, &events).unwrap();
        assert!(report.stored.len() >= 3, "{runner:?}");
        assert!(report.stored.len() < 40, "{runner:?}: stopped early");
        assert_eq!(report.stored.len() + report.failed.len(), 40, "{runner:?}");
        assert!(
            report
                .failed
                .iter()
                .all(|(_, f)| *f == pop3_multi::plan::Failure::Stopped),
            "{runner:?}: {:?}",
            report.failed
        );
        // Whole files only, each of them recorded.
        let stored = common::stored(dir.path());
        assert_eq!(stored.len(), report.stored.len(), "{runner:?}");
        assert!(stored.iter().all(|m| messages.contains(m)));
        for (uid, ..) in &report.stored {
            assert!(
                store.contains(&target.account, uid.as_str()),
                "{runner:?} {uid}"
            );
        }
        // Whatever was deleted was stored.
        assert!(server.wait_until_idle(Duration::from_secs(20)));
        let left = server.mailbox().uids();
        for (uid, ..) in &report.failed {
            assert!(
                left.contains(&uid.to_string()),
                "{runner:?}: {uid} was deleted unstored"
            );
        }
    }
}
