//! Two runs on one destination: the second waits for the first, then either fails with
//! the busy error or, given time, proceeds after it; never interleaving.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use std::fs;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use common::{alice, bob, message, options, read_mboxrd, store_one, to_lf};
use pop3_store::{Store, StoreError, Target};

/// A lock timeout no test here waits out: the lock is always released long before.
const PATIENCE: Duration = Duration::from_secs(600);

/// Who answered, in the order the answers came.
enum Answer {
    /// The impatient run: its result and how long it waited.
    Impatient(Result<Store, StoreError>, Duration),
    /// The patient run: its result.
    Patient(Result<Store, StoreError>),
}

/// While the first run holds the destination, an impatient second run (300 ms) gives up
/// with the busy error, after its timeout but before the first run lets go; a patient one
/// (far longer than this test holds the lock) gets in once the first run has closed.
/// Ordered by events: the first run closes only after the impatient answer came.
fn busy_after_timeout(target: &Target) {
    let first = Store::open(options(target.clone(), &alice())).unwrap();
    let closed = Arc::new(AtomicBool::new(false));
    let (answers, answer) = mpsc::channel();
    let patient = {
        let (target, answers, closed) = (target.clone(), answers.clone(), Arc::clone(&closed));
        thread::spawn(move || {
            let store = Store::open(options(target, &bob()).lock_timeout(PATIENCE));
            // Only the first run's close may have let it in.
            let after_close = closed.load(Ordering::SeqCst);
            answers.send(Answer::Patient(store)).unwrap();
            after_close
        })
    };
    let impatient = {
        let target = target.clone();
        thread::spawn(move || {
            let started = Instant::now();
            let store =
                Store::open(options(target, &bob()).lock_timeout(Duration::from_millis(300)));
            answers
                .send(Answer::Impatient(store, started.elapsed()))
                .unwrap();
        })
    };
    // The impatient run answers first, the first run still holding the destination.
    let Answer::Impatient(store, waited) = answer.recv().unwrap() else {
        panic!("the patient run got in while the first run held the destination");
    };
    let Err(err) = store else {
        panic!("the impatient run got in while the first run held the destination");
    };
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
    impatient.join().unwrap();
    // Then the first run lets go, and the patient run proceeds.
    closed.store(true, Ordering::SeqCst);
    first.close().unwrap();
    let Answer::Patient(store) = answer.recv().unwrap() else {
        unreachable!("the impatient run answered once");
    };
    store.unwrap().close().unwrap();
    assert!(
        patient.join().unwrap(),
        "the patient run got in before the first run closed"
    );
}

#[test]
fn a_second_run_on_an_mbox_is_busy() {
    let dir = tempfile::tempdir().unwrap();
    busy_after_timeout(&Target::Mbox(dir.path().join("inbox")));
    // The dotlock is gone with the first run.
    assert!(!dir.path().join("inbox.lock").exists());
}

#[test]
fn a_second_run_on_a_maildir_is_busy() {
    let dir = tempfile::tempdir().unwrap();
    busy_after_timeout(&Target::Maildir(dir.path().join("Mail")));
}

#[test]
fn a_second_run_on_an_eml_dir_is_busy() {
    let dir = tempfile::tempdir().unwrap();
    busy_after_timeout(&Target::EmlDir(dir.path().join("eml")));
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
            let store = Store::open(options(target, &bob()).lock_timeout(PATIENCE)).unwrap();
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
