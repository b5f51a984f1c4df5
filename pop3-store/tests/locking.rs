//! Two runs on one destination: the second waits for the first, then either fails with
//! the busy error or, given time, proceeds after it; never interleaving.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use std::fs;
use std::thread;
use std::time::{Duration, Instant};

use common::{alice, bob, message, options, read_mboxrd, store_one, to_lf};
use pop3_store::{Store, StoreError, Target};

fn busy_after_timeout(target: Target) {
    let first = Store::open(options(target.clone(), &alice())).unwrap();
    let started = Instant::now();
    let err = Store::open(options(target.clone(), &bob()).lock_timeout(Duration::from_millis(300)))
        .unwrap_err();
    let waited = started.elapsed();
    assert!(matches!(err, StoreError::Busy { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "destination busy: {} is locked by another pop3 run",
            target.path().display()
        )
    );
    assert!(
        waited >= Duration::from_millis(300),
        "gave up after {waited:?}"
    );
    assert!(waited < Duration::from_secs(5), "waited {waited:?}");
    first.close().unwrap();
    Store::open(options(target, &bob()))
        .unwrap()
        .close()
        .unwrap();
}

#[test]
fn a_second_run_on_an_mbox_is_busy() {
    let dir = tempfile::tempdir().unwrap();
    busy_after_timeout(Target::Mbox(dir.path().join("inbox")));
    // The dotlock is gone with the first run.
    assert!(!dir.path().join("inbox.lock").exists());
}

#[test]
fn a_second_run_on_a_maildir_is_busy() {
    let dir = tempfile::tempdir().unwrap();
    busy_after_timeout(Target::Maildir(dir.path().join("Mail")));
}

#[test]
fn a_second_run_on_an_eml_dir_is_busy() {
    let dir = tempfile::tempdir().unwrap();
    busy_after_timeout(Target::EmlDir(dir.path().join("eml")));
}

/// An mbox held by a dotlock alone (another MDA's) is busy too.
#[test]
fn a_foreign_dotlock_is_respected() {
    let dir = tempfile::tempdir().unwrap();
    let mbox = dir.path().join("inbox");
    // Our own PID: a live process, so the lock is not stale.
    fs::write(
        dir.path().join("inbox.lock"),
        format!("{}\n", std::process::id()),
    )
    .unwrap();
    let err =
        Store::open(options(Target::Mbox(mbox), &alice()).lock_timeout(Duration::from_millis(50)))
            .unwrap_err();
    assert!(matches!(err, StoreError::Busy { .. }), "{err:?}");
}

/// The second run waits for the first, which is writing, then goes on: the mbox holds the
/// first run's messages, then the second's, each whole.
#[test]
fn a_patient_second_run_proceeds_after_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let mbox = dir.path().join("inbox");
    let target = Target::Mbox(mbox.clone());
    let first = Store::open(options(target.clone(), &alice())).unwrap();
    let second = {
        let target = target.clone();
        thread::spawn(move || {
            let store =
                Store::open(options(target, &bob()).lock_timeout(Duration::from_secs(20))).unwrap();
            for i in 0..5 {
                store_one(&store, &bob(), &format!("b{i}"), &message(100 + i, 20_000));
            }
            store.close().unwrap();
        })
    };
    for i in 0..5 {
        // Slowly, so the second run would interleave if the lock let it in.
        let mut w = first.begin(&alice(), &format!("a{i}")).unwrap();
        for chunk in message(i, 20_000).chunks(4000) {
            w.write(chunk).unwrap();
            thread::sleep(Duration::from_millis(10));
        }
        w.commit().unwrap().wait().unwrap();
    }
    first.close().unwrap();
    second.join().unwrap();
    let bodies: Vec<Vec<u8>> = read_mboxrd(&fs::read(&mbox).unwrap())
        .into_iter()
        .map(|r| r.body)
        .collect();
    let expected: Vec<Vec<u8>> = (0..5)
        .map(|i| to_lf(&message(i, 20_000)))
        .chain((0..5).map(|i| to_lf(&message(100 + i, 20_000))))
        .collect();
    assert_eq!(bodies, expected);
}

/// The directory itself is locked, not only the state file: two runs with different
/// state files (`--state`) on one Maildir or `.eml` directory do not share it either.
#[test]
fn a_second_run_with_another_state_file_on_a_directory_is_busy() {
    for kind in ["maildir", "eml"] {
        let dir = tempfile::tempdir().unwrap();
        let target = match kind {
            "maildir" => Target::Maildir(dir.path().join("Mail")),
            _ => Target::EmlDir(dir.path().join("eml")),
        };
        let first =
            Store::open(options(target.clone(), &alice()).state_path(dir.path().join("a.uidl")))
                .unwrap();
        let err = Store::open(
            options(target.clone(), &bob())
                .state_path(dir.path().join("b.uidl"))
                .lock_timeout(Duration::from_millis(50)),
        )
        .unwrap_err();
        assert!(matches!(err, StoreError::Busy { .. }), "{kind}: {err:?}");
        first.close().unwrap();
        Store::open(options(target, &bob()).state_path(dir.path().join("b.uidl")))
            .unwrap()
            .close()
            .unwrap();
    }
}
