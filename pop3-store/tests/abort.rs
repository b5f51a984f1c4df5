//! Stopping at once ([`Store::abort`]): whatever moment the abort lands on, the destination
//! holds only whole messages, each recorded, and the next open finds nothing to recover.
//! Also: closing an [`AsyncStore`] waits for aborted writers' files to be removed.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use std::fs;
use std::sync::Arc;
use std::thread;

use common::{alice, files_in, message, options, read_mboxrd, store_one, to_lf};
use pop3_store::{AsyncStore, CrashPoint, RecoveryReport, Store, StoreError, Target};

/// Reopens `target` and checks that the aborted run left nothing to recover.
fn reopen_finds_nothing_to_recover(target: &Target) -> Store {
    let store = common::open(target.clone(), &alice());
    assert_eq!(store.recovery(), &RecoveryReport::default());
    store
}

#[test]
fn an_abort_during_an_mbox_append_cuts_the_record_back() {
    let dir = tempfile::tempdir().unwrap();
    let target = Target::Mbox(dir.path().join("inbox"));
    // A small buffer: the second message is spooled and appended in many blocks, and
    // the abort lands after 10 000 bytes of it.
    let opts = options(target.clone(), &alice())
        .buffer_capacity(4096)
        .crash_at(CrashPoint::AbortMidAppend(10_000));
    let store = Store::open(opts).unwrap();
    let first = message(1, 2_000);
    store_one(&store, &alice(), "u1", &first);
    let len_after_first = fs::metadata(target.path()).unwrap().len();

    let mut w = store.begin(&alice(), "u2").unwrap();
    w.write(&message(2, 100_000)).unwrap();
    let err = w.commit().unwrap().wait().unwrap_err();
    assert!(matches!(err, StoreError::Closed), "{err:?}");
    // Aborted: no new work is taken.
    assert!(matches!(
        store.begin(&alice(), "u3"),
        Err(StoreError::Closed)
    ));
    store.abort().unwrap();

    assert_eq!(fs::metadata(target.path()).unwrap().len(), len_after_first);
    let records = read_mboxrd(&fs::read(target.path()).unwrap());
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].body, to_lf(&first));
    assert!(!dir.path().join("inbox.lock").exists(), "dotlock released");
    let store = reopen_finds_nothing_to_recover(&target);
    assert_eq!(store.recorded(&alice()), ["u1"]);
}

/// Commits `count` messages into `target`, whose committer aborts after placing `after`;
/// returns the UIDs whose commits succeeded.
fn abort_after_placing(target: &Target, count: usize, after: usize) -> Vec<String> {
    let opts = options(target.clone(), &alice()).crash_at(CrashPoint::AbortAfterPlacing(after));
    let store = Store::open(opts).unwrap();
    let writers: Vec<_> = (0..count)
        .map(|i| {
            let mut w = store.begin(&alice(), &format!("u{i}")).unwrap();
            w.write(&message(i, 3_000)).unwrap();
            w
        })
        .collect();
    // Committed without waiting, so that several can share a batch.
    let tickets: Vec<_> = writers
        .into_iter()
        .map(|w| (w.uid().to_owned(), w.commit()))
        .collect();
    let mut stored = Vec::new();
    for (uid, ticket) in tickets {
        match ticket.and_then(pop3_store::Pending::wait) {
            Ok(_) => stored.push(uid),
            Err(e) => assert!(matches!(e, StoreError::Closed), "{e:?}"),
        }
    }
    assert_eq!(stored.len(), after);
    store.abort().unwrap();
    stored
}

#[test]
fn an_abort_between_renames_leaves_whole_recorded_messages_in_a_maildir() {
    let dir = tempfile::tempdir().unwrap();
    let target = Target::Maildir(dir.path().join("Mail"));
    let stored = abort_after_placing(&target, 6, 2);
    assert_eq!(files_in(&target.path().join("new")).len(), 2);
    assert!(files_in(&target.path().join("tmp")).is_empty());
    let store = reopen_finds_nothing_to_recover(&target);
    let mut recorded = store.recorded(&alice());
    recorded.sort();
    assert_eq!(recorded, stored);
}

#[test]
fn an_abort_between_appends_leaves_whole_recorded_records_in_an_mbox() {
    let dir = tempfile::tempdir().unwrap();
    let target = Target::Mbox(dir.path().join("inbox"));
    let stored = abort_after_placing(&target, 6, 3);
    let records = read_mboxrd(&fs::read(target.path()).unwrap());
    assert_eq!(records.len(), 3);
    let store = reopen_finds_nothing_to_recover(&target);
    let mut recorded = store.recorded(&alice());
    recorded.sort();
    assert_eq!(recorded, stored);
    // No spool file of a refused message is left beside the mbox.
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        names.iter().all(|n| !n.contains("spool")),
        "spool files left: {names:?}"
    );
}

fn target(kind: usize, dir: &std::path::Path) -> Target {
    match kind {
        0 => Target::Maildir(dir.join("Mail")),
        1 => Target::Mbox(dir.join("inbox")),
        _ => Target::EmlDir(dir.join("eml")),
    }
}

#[test]
fn an_abort_racing_busy_writers_never_leaves_half_a_message() {
    for kind in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let target = target(kind, dir.path());
        let store = Store::open(options(target.clone(), &alice()).buffer_capacity(4096)).unwrap();
        thread::scope(|scope| {
            for t in 0..4 {
                let store = &store;
                scope.spawn(move || {
                    for i in 0.. {
                        let Ok(mut w) = store.begin(&alice(), &format!("t{t}-{i}")) else {
                            return;
                        };
                        let data = message(t * 1000 + i, 20_000 + 7_000 * (i % 5));
                        if w.write(&data).is_err() || w.commit().is_err() {
                            return;
                        }
                    }
                });
            }
            // Let some messages through, then abort while the writers are busy.
            while store.stats().committed < 10 {
                thread::yield_now();
            }
            store.abort().unwrap();
        });
        drop(store);
        check_consistent(&target);
    }
}

#[test]
fn async_abort_racing_busy_writers_never_leaves_half_a_message() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    for kind in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let target = target(kind, dir.path());
        let opts = options(target.clone(), &alice()).buffer_capacity(4096);
        rt.block_on(async {
            let store = Arc::new(AsyncStore::open(opts, 2).await.unwrap());
            let tasks: Vec<_> = (0..4)
                .map(|t| {
                    let store = Arc::clone(&store);
                    tokio::spawn(async move {
                        for i in 0.. {
                            let Ok(mut w) = store.begin(&alice(), &format!("t{t}-{i}")).await
                            else {
                                return;
                            };
                            let data = message(t * 1000 + i, 20_000 + 7_000 * (i % 5));
                            if w.write(&data).await.is_err() {
                                return;
                            }
                            // Tickets dropped: commits pile up in the committer's queue.
                            if w.commit().await.is_err() {
                                return;
                            }
                        }
                    })
                })
                .collect();
            while store.stats().committed < 10 {
                tokio::task::yield_now().await;
            }
            store.abort().await.unwrap();
            for t in tasks {
                t.await.unwrap();
            }
        });
        check_consistent(&target);
    }
}

/// Whole messages only, each recorded, nothing to recover.
fn check_consistent(target: &Target) {
    let placed = match target {
        // Writers still running at the abort may leave temporary files: the next open
        // removes them (not counted as something to recover).
        Target::Maildir(dir) => files_in(&dir.join("new")).len(),
        Target::Mbox(path) => read_mboxrd(&fs::read(path).unwrap()).len(),
        Target::EmlDir(dir) => fs::read_dir(dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".eml")
            })
            .count(),
        _ => unreachable!(),
    };
    let store = common::open(target.clone(), &alice());
    let report = store.recovery();
    assert!(report.recorded.is_empty(), "{report:?}");
    assert!(report.abandoned.is_empty(), "{report:?}");
    assert_eq!(report.truncated_bytes, 0);
    assert_eq!(store.recorded(&alice()).len(), placed);
}

#[test]
fn closing_an_async_store_waits_for_aborted_writers_to_clean_up() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let target = Target::Maildir(dir.path().join("Mail"));
    let opts = options(target.clone(), &alice()).buffer_capacity(4096);
    rt.block_on(async {
        // One I/O thread: the removals of the dropped writers' files queue up behind each
        // other there, and close must wait for all of them.
        let store = AsyncStore::open(opts, 1).await.unwrap();
        let mut writers = Vec::new();
        for i in 0..200 {
            let mut w = store.begin(&alice(), &format!("u{i}")).await.unwrap();
            w.write(&message(i, 10_000)).await.unwrap();
            writers.push(w);
        }
        assert_eq!(files_in(&target.path().join("tmp")).len(), 200);
        drop(writers);
        store.close().await.unwrap();
    });
    assert!(files_in(&target.path().join("tmp")).is_empty());
    assert!(files_in(&target.path().join("new")).is_empty());
}
