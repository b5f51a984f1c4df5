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

/// The session count a run that started `opened` sessions and had one cut must exceed: the async
/// drivers requeue a cut session's work and decide on a replacement in one step, so there
/// is always one; on the thread driver another worker may take the requeued work first,
/// and then none is needed (a session opened for nothing would be waste).
fn sessions_to_exceed(runner: Runner, opened: usize) -> usize {
    if runner == Runner::Threads {
        opened - 1
    } else {
        opened
    }
}

/// Fetches everything from a server built by `build` with `options`; checks every
/// message arrived exactly once, byte for byte, with nothing else in the directory.
fn fetch_all_exactly_once(
    runner: Runner,
    messages: &[Vec<u8>],
    build: impl Fn(TestServerBuilder) -> TestServerBuilder,
    options: MultiOptions,
) -> (pop3_multi::FetchReport, Events) {
    let (report, events, _) = fetch_all_from(runner, messages, build, options);
    (report, events)
}

/// The same, and the server (for its counters).
fn fetch_all_from(
    runner: Runner,
    messages: &[Vec<u8>],
    build: impl Fn(TestServerBuilder) -> TestServerBuilder,
    options: MultiOptions,
) -> (pop3_multi::FetchReport, Events, TestServer) {
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
    (report, events, server)
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
                report.sessions > sessions_to_exceed(runner, 3),
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
        let (_, events, server) = fetch_all_from(
            runner,
            &messages,
            |b| {
                b.profile(Profile::LockSession)
                    .profile(Profile::Slow(Duration::from_millis(20)))
            },
            enabled(4),
        );
        // Never two at once; the others were refused, or came after the work was done.
        assert_eq!(server.max_concurrent_sessions(), 1, "{runner:?}");
        // A refusal reported is a refusal the server made.
        let refusals = events
            .all()
            .iter()
            .filter(|e| matches!(e, ProgressEvent::SessionFailed { reason, .. } if reason.contains("IN-USE")))
            .count();
        assert!(refusals <= server.refused_logins(), "{runner:?}");
    });
}

/// With the maildrop locked by another client, no session gets in: the run fails with
/// a temporary refusal (the CLI's exit 6), not an authentication failure.
#[test]
fn a_maildrop_locked_by_someone_else_is_a_temporary_failure() {
    use std::io::{BufRead, BufReader, Write};
    on_every_runner(|runner| {
        let server = TestServer::builder()
            .messages(mailbox::generate(3, 500, 1))
            .profile(Profile::LockSession)
            .tls(true)
            .start();
        // Another client holds the lock over plaintext USER/PASS.
        let holder = std::net::TcpStream::connect(server.addr()).unwrap();
        let mut lines = BufReader::new(holder.try_clone().unwrap());
        let mut line = String::new();
        lines.read_line(&mut line).unwrap();
        (&holder)
            .write_all(
                format!("USER {}\r\nPASS {}\r\n", server.user(), server.password()).as_bytes(),
            )
            .unwrap();
        for _ in 0..2 {
            line.clear();
            lines.read_line(&mut line).unwrap();
            assert!(line.starts_with("+OK"), "{line}");
        }
        let error = common::list(runner, &Target2::of(&server), enabled(3)).unwrap_err();
        let session_error = error.session_error().expect("a login failure");
        assert_eq!(
            session_error.kind(),
            pop3_tokio::ErrorKind::Temporary,
            "{runner:?}: {error}"
        );
        drop(holder);
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
        let scenario = |runner| {
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
        };
        if lock_session {
            // One run at a time: runs side by side would each wait out Dovecot's lock
            // behind the others' whole fetches, and a login refused after that wait is
            // the right answer to a mailbox another client holds, not what is tested.
            common::ALL.into_iter().for_each(scenario);
        } else {
            on_every_runner(scenario);
        }
    }
}

/// LOGIN-DELAY: a second login within the delay is refused; the run completes on the
/// one session the server allows at a time.
#[test]
fn a_login_delay_server_runs_on_one_connection() {
    let messages = mailbox::generate(16, 3_000, 10);
    on_every_runner(|runner| {
        let (_, _, server) = fetch_all_from(
            runner,
            &messages,
            // Slow, so the first session is still at work when the others try.
            |b| {
                b.profile(Profile::LoginDelay(Duration::from_secs(3600)))
                    .profile(Profile::Slow(Duration::from_millis(20)))
            },
            enabled(3),
        );
        // Whoever else tried was refused (or came too late to try at all).
        assert_eq!(server.logins(), 1, "{runner:?}");
    });
}

/// A server that advertises PIPELINING and drops the connection when more than a few
/// commands arrive at once: the run completes, in lockstep. With `max_burst` 2 even the
/// first session's snapshot (CAPA riding with UIDL and LIST) breaks it.
#[test]
fn a_server_that_breaks_under_a_burst_is_fetched_in_lockstep() {
    // Enough messages that a batch for one of three sessions exceeds the burst.
    let messages = mailbox::generate(60, 1_000, 12);
    for max_burst in [2, 4] {
        on_every_runner(|runner| {
            let (report, _, server) = fetch_all_from(
                runner,
                &messages,
                |b| b.profile(Profile::BreaksPipelining { max_burst }),
                enabled(3),
            );
            assert!(report.fell_back_to_lockstep, "{runner:?} burst {max_burst}");
            assert!(
                server.pipelining_drops() >= 1,
                "{runner:?} burst {max_burst}"
            );
        });
    }
}

/// A message expunged by another client between the sessions' logins: later sessions
/// do not list it. It is fetched by a session that has it in its snapshot, or reported
/// missing (or never planned, when the planning session logged in after the expunge);
/// never fetched by a number from a snapshot that lacks it. The others arrive.
#[test]
fn a_snapshot_that_differs_between_sessions() {
    let messages = mailbox::generate(30, 2_000, 13);
    on_every_runner(|runner| {
        let server = TestServer::builder()
            .messages(messages.clone())
            .expunge_after_logins("uid-000004", 1)
            .start();
        let target = Target2::of(&server);
        let dir = tempfile::tempdir().unwrap();
        let store = common::store(runner, dir.path(), &target);
        let report = common::fetch(
            runner,
            &target,
            enabled(3),
            &store,
            &Fetch::default(),
            &Events::default(),
        )
        .unwrap();
        let gone = |uid: &str| uid == "uid-000004";
        assert!(
            report.failed.iter().all(|(uid, failure)| gone(uid.as_str())
                && *failure == pop3_multi::plan::Failure::Missing),
            "{runner:?}: {:?}",
            report.failed
        );
        // Sessions log in together: when the one that plans the run is not the first to
        // log in, its snapshot lacks the message already, and the run never knew it.
        let reported = report.stored.iter().any(|(uid, ..)| gone(uid.as_str()))
            || report.failed.iter().any(|(uid, _)| gone(uid.as_str()));
        assert_eq!(
            report.stored.len() + report.failed.len(),
            if reported { 30 } else { 29 },
            "{runner:?}"
        );
        // Each file holds the message of its UID (the test server numbers UIDs from 1).
        for (uid, ..) in &report.stored {
            let n: usize = uid.as_str()["uid-".len()..].parse().unwrap();
            let file = dir.path().join(format!("{uid}.eml"));
            assert_eq!(
                std::fs::read(file).unwrap(),
                messages[n - 1],
                "{runner:?} {uid}"
            );
        }
        assert_eq!(common::stored(dir.path()).len(), report.stored.len());
    });
}

/// A reset inside the body of one chosen message, on whichever session gets it first:
/// that message is fetched again whole by another session.
#[test]
fn a_reset_in_the_middle_of_a_chosen_message() {
    let messages = mailbox::generate(12, 50_000, 14);
    on_every_runner(|runner| {
        let (report, _) = fetch_all_exactly_once(
            runner,
            &messages,
            |b| {
                b.fault_once(Fault::CloseDuringRetr {
                    uid: "uid-000003".into(),
                    offset: 20_000,
                })
            },
            enabled(2),
        );
        assert!(
            report.sessions > sessions_to_exceed(runner, 2),
            "{runner:?}: the cut session was replaced"
        );
    });
}

/// A session dies just before its QUIT is processed: its deletions are rolled back by
/// the server, and the report says so per UID; the others are committed. With one
/// session every deletion is rolled back; with three, the report agrees with what the
/// server kept, message by message.
#[test]
fn deletions_are_reported_committed_or_rolled_back() {
    use pop3_multi::DeletionOutcome;
    let messages = mailbox::generate(30, 2_000, 15);
    on_every_runner(|runner| {
        for (options, all_rolled_back) in [
            (MultiOptions::new().mode(MultiConnectionMode::Disable), true),
            (enabled(3), false),
        ] {
            let server = TestServer::builder()
                .messages(messages.clone())
                .fault_once(Fault::DropOnQuit)
                .start();
            let target = Target2::of(&server);
            let dir = tempfile::tempdir().unwrap();
            let store = common::store(runner, dir.path(), &target);
            let how = Fetch {
                delete: true,
                ..Fetch::default()
            };
            let report =
                common::fetch(runner, &target, options, &store, &how, &Events::default()).unwrap();
            assert_eq!(report.stored.len(), 30, "{runner:?}");
            assert_eq!(report.deletions.len(), 30, "{runner:?}");
            let rolled_back = report
                .deletions
                .iter()
                .filter(|d| matches!(d.outcome, DeletionOutcome::RolledBack(_)))
                .count();
            let committed = report
                .deletions
                .iter()
                .filter(|d| d.outcome.is_committed())
                .count();
            assert_eq!(
                rolled_back + committed,
                30,
                "{runner:?}: {:?}",
                report.deletions
            );
            if all_rolled_back {
                assert_eq!(rolled_back, 30, "{runner:?}");
            }
            assert!(server.wait_until_idle(Duration::from_secs(20)));
            let left = server.mailbox().uids();
            for deletion in &report.deletions {
                let still_there = left.contains(&deletion.uid.to_string());
                assert_eq!(
                    still_there,
                    !deletion.outcome.is_committed(),
                    "{runner:?} {}",
                    deletion.uid
                );
            }
        }
    });
}

/// `delete` when a session dies after its DELEs were accepted, before its QUIT is
/// answered: the server rolls them back, the report says so per UID with the reason,
/// and another session deletes them again (the messages are still there), within the
/// attempts per message. The report agrees with what the server kept, message by message.
#[test]
fn a_delete_rolled_back_at_quit_is_reported_and_retried_within_the_bound() {
    use pop3_multi::{DeleteReport, DeletionOutcome, Selection};
    let messages = mailbox::generate(30, 2_000, 16);
    let agrees_with_the_server = |runner: Runner, report: &DeleteReport, server: &TestServer| {
        assert_eq!(report.deletions.len(), 30, "{runner:?}");
        assert!(server.wait_until_idle(Duration::from_secs(20)));
        let left = server.mailbox().uids();
        for deletion in &report.deletions {
            assert_eq!(
                left.contains(&deletion.uid.to_string()),
                !deletion.outcome.is_committed(),
                "{runner:?} {}",
                deletion.uid
            );
        }
    };
    on_every_runner(|runner| {
        // One session, whose QUIT is dropped: a second session deletes everything.
        let server = TestServer::builder()
            .messages(messages.clone())
            .fault_once(Fault::DropOnQuit)
            .start();
        let one = MultiOptions::new().mode(MultiConnectionMode::Disable);
        let report = common::delete(runner, &Target2::of(&server), one, &Selection::All).unwrap();
        assert!(
            report.deletions.iter().all(|d| d.outcome.is_committed()),
            "{runner:?}: {:?}",
            report.deletions
        );
        assert_eq!(
            report.sessions, 2,
            "{runner:?}: the rolled-back one, then one more"
        );
        agrees_with_the_server(runner, &report, &server);
        assert!(server.mailbox().is_empty(), "{runner:?}");

        // Every QUIT dropped: each message is tried by as many sessions as it has
        // attempts, no more, and reported rolled back, with why.
        let server = TestServer::builder()
            .messages(messages.clone())
            .fault(Fault::DropOnQuit)
            .start();
        let options = MultiOptions::new()
            .mode(MultiConnectionMode::Disable)
            .max_attempts(2);
        let report =
            common::delete(runner, &Target2::of(&server), options, &Selection::All).unwrap();
        assert!(
            report.deletions.iter().all(|d| matches!(
                &d.outcome,
                DeletionOutcome::RolledBack(why) if why.contains("the session ended first")
            )),
            "{runner:?}: {:?}",
            report.deletions
        );
        assert_eq!(report.sessions, 2, "{runner:?}: bounded by the attempts");
        assert_eq!(server.logins(), 2, "{runner:?}");
        agrees_with_the_server(runner, &report, &server);
        assert_eq!(server.mailbox().len(), 30, "{runner:?}");

        // Three sessions, one of which is dropped at QUIT: its deletions go to the
        // others, or to a new session.
        let server = TestServer::builder()
            .messages(messages.clone())
            .fault_once(Fault::DropOnQuit)
            .start();
        let report =
            common::delete(runner, &Target2::of(&server), enabled(3), &Selection::All).unwrap();
        assert!(
            report.deletions.iter().all(|d| d.outcome.is_committed()),
            "{runner:?}: {:?}",
            report.deletions
        );
        agrees_with_the_server(runner, &report, &server);
        assert!(server.mailbox().is_empty(), "{runner:?}");
    });
}

/// A message only the first sessions to log in list (another client expunged it after
/// them), and each of them is cut off while retrieving it: every session that could
/// take it has failed, and the others do not list it. It is reported missing, never
/// fetched by a number from a snapshot that lacks it; every other message arrives
/// exactly once.
#[test]
fn a_uid_no_remaining_session_lists_is_reported_missing() {
    let messages = mailbox::generate(30, 2_000, 18);
    let gone = "uid-000004";
    on_every_runner(|runner| {
        // The first three logins are the run's first three sessions (the one that plans
        // the run among them), whichever order they log in; replacements come later.
        let server = TestServer::builder()
            .messages(messages.clone())
            .expunge_after_logins(gone, 3)
            .fault(Fault::CloseDuringRetr {
                uid: gone.into(),
                offset: 0,
            })
            .start();
        let target = Target2::of(&server);
        let dir = tempfile::tempdir().unwrap();
        let store = common::store(runner, dir.path(), &target);
        // Attempts to spare: each of the three may die on it before the others are asked.
        let options = enabled(3).max_attempts(5);
        let events = Events::default();
        let report =
            common::fetch(runner, &target, options, &store, &Fetch::default(), &events).unwrap();
        let failed: Vec<_> = report
            .failed
            .iter()
            .map(|(uid, failure)| (uid.as_str(), failure.clone()))
            .collect();
        assert_eq!(
            failed,
            [(gone, pop3_multi::plan::Failure::Missing)],
            "{runner:?}"
        );
        assert_eq!(report.stored.len(), 29, "{runner:?}");
        let mut expected: Vec<Vec<u8>> = messages
            .iter()
            .enumerate()
            .filter(|(i, _)| format!("uid-{:06}", i + 1) != gone)
            .map(|(_, m)| m.clone())
            .collect();
        expected.sort();
        assert_eq!(common::stored(dir.path()), expected, "{runner:?}");
        // It was asked for only by sessions that list it, each of which it cut off.
        let cut = events
            .all()
            .iter()
            .filter(|e| matches!(e, ProgressEvent::SessionFailed { .. }))
            .count();
        assert!((1..=3).contains(&cut), "{runner:?}: {cut}");
    });
}
