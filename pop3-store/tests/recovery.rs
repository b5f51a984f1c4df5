//! Crashes between "durable" and "recorded", and in the middle of an mbox append: the next
//! open records what made it (so it is not delivered again) and removes what did not.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use std::fs;

use common::{alice, files_in, message, options, paths_in, read_mboxrd, store_one, to_lf};
use pop3_store::{CrashPoint, Store, StoreError, Target};

/// Commits one message into a store that "crashes" at `point`; the ticket never resolves.
fn crash_while_storing(target: &Target, point: CrashPoint, uid: &str, data: &[u8]) {
    let store = Store::open(options(target.clone(), &alice()).crash_at(point)).unwrap();
    let mut w = store.begin(&alice(), uid).unwrap();
    w.write(data).unwrap();
    let err = w.commit().unwrap().wait().unwrap_err();
    assert!(matches!(err, StoreError::Closed), "{err:?}");
    assert!(!store.contains(&alice(), uid));
    drop(store);
}

#[test]
fn maildir_message_durable_but_unrecorded_is_recorded_not_redelivered() {
    let dir = tempfile::tempdir().unwrap();
    let target = Target::Maildir(dir.path().join("Mail"));
    let data = message(1, 5000);
    crash_while_storing(&target, CrashPoint::AfterDurable, "u1", &data);
    // The message is there, its UID is not recorded yet.
    assert_eq!(files_in(&target.path().join("new")), vec![to_lf(&data)]);

    let store = common::open(target.clone(), &alice());
    assert_eq!(store.recovery().recorded, vec![(alice(), "u1".to_owned())]);
    assert!(store.recovery().abandoned.is_empty());
    assert!(store.contains(&alice(), "u1"));
    store.close().unwrap();
    // Still exactly one copy, and the record survives another open.
    assert_eq!(files_in(&target.path().join("new")).len(), 1);
    let store = common::open(target, &alice());
    assert!(store.recovery().recorded.is_empty());
    assert!(store.contains(&alice(), "u1"));
}

#[test]
fn maildir_message_not_yet_renamed_is_abandoned_and_its_tmp_removed() {
    let dir = tempfile::tempdir().unwrap();
    let target = Target::Maildir(dir.path().join("Mail"));
    crash_while_storing(&target, CrashPoint::AfterIntent, "u1", &message(1, 5000));
    assert_eq!(files_in(&target.path().join("tmp")).len(), 1);
    let store = common::open(target.clone(), &alice());
    assert_eq!(store.recovery().abandoned, vec![(alice(), "u1".to_owned())]);
    assert_eq!(store.recovery().removed.len(), 1);
    assert!(!store.contains(&alice(), "u1"));
    assert!(files_in(&target.path().join("new")).is_empty());
    assert!(files_in(&target.path().join("tmp")).is_empty());
}

#[test]
fn maildir_message_a_reader_moved_to_cur_still_counts() {
    let dir = tempfile::tempdir().unwrap();
    let target = Target::Maildir(dir.path().join("Mail"));
    crash_while_storing(&target, CrashPoint::AfterDurable, "u1", b"x\r\n");
    let new = paths_in(&target.path().join("new")).pop().unwrap();
    let name = new.file_name().unwrap().to_str().unwrap().to_owned();
    fs::rename(&new, target.path().join("cur").join(format!("{name}:2,S"))).unwrap();
    let store = common::open(target, &alice());
    assert_eq!(store.recovery().recorded, vec![(alice(), "u1".to_owned())]);
}

#[test]
fn eml_message_durable_but_unrecorded_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let target = Target::EmlDir(dir.path().join("eml"));
    let data = message(2, 5000);
    crash_while_storing(&target, CrashPoint::AfterDurable, "u/2", &data);
    let store = common::open(target.clone(), &alice());
    assert_eq!(store.recovery().recorded, vec![(alice(), "u/2".to_owned())]);
    assert!(store.contains(&alice(), "u/2"));
    assert_eq!(fs::read(target.path().join("u%2F2.eml")).unwrap(), data);
}

#[test]
fn eml_message_not_yet_renamed_is_abandoned() {
    let dir = tempfile::tempdir().unwrap();
    let target = Target::EmlDir(dir.path().join("eml"));
    crash_while_storing(&target, CrashPoint::AfterIntent, "u3", b"x\r\n");
    let store = common::open(target.clone(), &alice());
    assert_eq!(store.recovery().abandoned, vec![(alice(), "u3".to_owned())]);
    assert!(!store.contains(&alice(), "u3"));
    // Only the state file is left.
    assert_eq!(paths_in(target.path()).len(), 1);
}

#[test]
fn mbox_record_durable_but_unrecorded_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let mbox = dir.path().join("inbox");
    let target = Target::Mbox(mbox.clone());
    let store = common::open(target.clone(), &alice());
    store_one(&store, &alice(), "u1", &message(1, 3000));
    store.close().unwrap();
    // Large enough to go through a spool file.
    let data = message(2, 300_000);
    crash_while_storing(&target, CrashPoint::AfterDurable, "u2", &data);
    let store = common::open(target, &alice());
    assert_eq!(store.recovery().recorded, vec![(alice(), "u2".to_owned())]);
    assert!(store.contains(&alice(), "u2"));
    store.close().unwrap();
    let bodies: Vec<_> = read_mboxrd(&fs::read(&mbox).unwrap())
        .into_iter()
        .map(|r| r.body)
        .collect();
    assert_eq!(bodies, vec![to_lf(&message(1, 3000)), to_lf(&data)]);
}

#[test]
fn partial_mbox_record_is_truncated_away() {
    let dir = tempfile::tempdir().unwrap();
    let mbox = dir.path().join("inbox");
    let target = Target::Mbox(mbox.clone());
    let store = common::open(target.clone(), &alice());
    store_one(&store, &alice(), "u1", &message(1, 3000));
    store.close().unwrap();
    let before = fs::read(&mbox).unwrap();

    for cut in [3, 40, 70_000] {
        crash_while_storing(
            &target,
            CrashPoint::MidAppend(cut),
            "u2",
            &message(2, 100_000),
        );
        assert_eq!(
            fs::metadata(&mbox).unwrap().len(),
            (before.len() + cut) as u64
        );
        let store = common::open(target.clone(), &alice());
        assert_eq!(store.recovery().abandoned, vec![(alice(), "u2".to_owned())]);
        assert_eq!(store.recovery().truncated_bytes, cut as u64);
        assert!(!store.contains(&alice(), "u2"));
        assert!(store.contains(&alice(), "u1"));
        store.close().unwrap();
        assert_eq!(fs::read(&mbox).unwrap(), before, "cut {cut}");
    }
    // And the next run stores it properly after the first message.
    let store = common::open(target, &alice());
    store_one(&store, &alice(), "u2", &message(2, 100_000));
    store.close().unwrap();
    let bodies: Vec<_> = read_mboxrd(&fs::read(&mbox).unwrap())
        .into_iter()
        .map(|r| r.body)
        .collect();
    assert_eq!(
        bodies,
        vec![to_lf(&message(1, 3000)), to_lf(&message(2, 100_000))]
    );
}

/// Bytes after an intent's offset that are not the record it announced are never cut:
/// say a run crashed, and before the next one another program appended its own message.
#[test]
fn foreign_bytes_at_an_intent_offset_are_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let mbox = dir.path().join("inbox");
    let target = Target::Mbox(mbox.clone());
    crash_while_storing(&target, CrashPoint::AfterIntent, "u1", &message(1, 3000));
    let foreign = b"From someone Thu Jan  1 00:00:00 1970\nSubject: not ours\n\nhello\n\n";
    fs::write(&mbox, foreign).unwrap();
    let store = common::open(target, &alice());
    assert_eq!(store.recovery().abandoned, vec![(alice(), "u1".to_owned())]);
    assert_eq!(store.recovery().truncated_bytes, 0);
    store.close().unwrap();
    assert_eq!(fs::read(&mbox).unwrap(), foreign);
}

/// The same recovery from an intent written by hand, and a stale temporary file of a
/// process that no longer exists.
#[test]
fn hand_written_intent_and_stale_temporary_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("Mail");
    let target = Target::Maildir(root.clone());
    // A first delivery tells us this host's name as Maildir spells it.
    let store = common::open(target.clone(), &alice());
    store_one(&store, &alice(), "seed", b"x\r\n");
    store.close().unwrap();
    let delivered = paths_in(&root.join("new")).pop().unwrap();
    let host = delivered
        .to_str()
        .unwrap()
        .rsplit_once("_pop3.")
        .unwrap()
        .1
        .to_owned();

    let name = format!("1700000000.M1P2147483000Q1_pop3.{host}");
    fs::write(root.join("new").join(&name), b"hand delivered\n").unwrap();
    let stale = root
        .join("tmp")
        .join(format!("1700000000.M2P2147483000Q2_pop3.{host}"));
    fs::write(&stale, b"half a message").unwrap();
    let foreign = root
        .join("tmp")
        .join("1700000000.M3P2147483000Q3.otherdeliverer");
    fs::write(&foreign, b"another MDA's").unwrap();
    let key = "alice@pop.example.com:995";
    let state = fs::read_to_string(root.join(".pop3-uidl")).unwrap();
    let state = format!("{state}I 900 {key} hand M {name}\n");
    fs::write(root.join(".pop3-uidl"), state).unwrap();

    let store = common::open(target, &alice());
    assert_eq!(
        store.recovery().recorded,
        vec![(alice(), "hand".to_owned())]
    );
    assert_eq!(store.recovery().removed, vec![stale.clone()]);
    assert!(store.contains(&alice(), "hand"));
    assert!(!stale.exists());
    assert!(
        foreign.exists(),
        "another deliverer's file is not ours to remove"
    );
}
