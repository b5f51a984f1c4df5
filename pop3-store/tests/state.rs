//! The state file: every stored message recorded, per account, migrated from the old
//! format, marked seen or forgotten on request.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use std::fs;

use common::{alice, bob, files_in, open, store_one};
use pop3_store::{StoreError, Target};

#[test]
fn two_accounts_into_one_maildir_store_colliding_uids() {
    let dir = tempfile::tempdir().unwrap();
    let target = Target::Maildir(dir.path().join("Mail"));
    // Two runs, one per account, as cron would do them.
    let store = open(target.clone(), &alice());
    store_one(&store, &alice(), "1", b"alice one\r\n");
    store_one(&store, &alice(), "2", b"alice two\r\n");
    store.close().unwrap();
    let store = open(target.clone(), &bob());
    assert!(
        !store.contains(&bob(), "1"),
        "bob must not skip alice's UID"
    );
    store_one(&store, &bob(), "1", b"bob one\r\n");
    store.close().unwrap();

    let store = open(target.clone(), &alice());
    assert!(store.contains(&alice(), "1") && store.contains(&alice(), "2"));
    assert!(store.contains(&bob(), "1") && !store.contains(&bob(), "2"));
    // Same host and user, other port: another account.
    let other_port = pop3_store::Account::new("alice", "pop.example.com", 110);
    assert!(!store.contains(&other_port, "1"));
    store.close().unwrap();
    assert_eq!(
        files_in(&target.path().join("new")),
        vec![
            b"alice one\n".to_vec(),
            b"alice two\n".to_vec(),
            b"bob one\n".to_vec()
        ]
    );
}

#[test]
fn every_stored_message_is_recorded_durably() {
    let dir = tempfile::tempdir().unwrap();
    let target = Target::Mbox(dir.path().join("inbox"));
    let store = open(target.clone(), &alice());
    let tickets: Vec<_> = (0..10)
        .map(|i| {
            let mut w = store.begin(&alice(), &format!("u{i}")).unwrap();
            w.write(b"Subject: x\r\n\r\ny\r\n").unwrap();
            w.commit().unwrap()
        })
        .collect();
    let durable = store.sync().unwrap();
    for t in &tickets {
        assert!(durable.covers(t.ticket()));
    }
    for i in 0..10 {
        assert!(store.contains(&alice(), &format!("u{i}")));
    }
    // On disk, not just in memory: a fresh reader of the file sees all of them (the
    // store still holds its lock, so the file is read directly).
    let text = fs::read_to_string(dir.path().join("inbox.pop3-uidl")).unwrap();
    assert!(text.starts_with("pop3-uidl 2\n"));
    assert_eq!(text.lines().filter(|l| l.starts_with("D ")).count(), 10);
    drop(tickets);
    store.close().unwrap();
    let store = open(target, &bob());
    for i in 0..10 {
        assert!(store.contains(&alice(), &format!("u{i}")));
    }
}

#[test]
fn old_format_state_is_migrated_to_the_first_account() {
    let dir = tempfile::tempdir().unwrap();
    let maildir = dir.path().join("Mail");
    fs::create_dir(&maildir).unwrap();
    fs::write(maildir.join(".pop3-uidl"), "old-1\nold-2\nold-3\n").unwrap();
    let target = Target::Maildir(maildir.clone());
    let store = open(target.clone(), &alice());
    assert_eq!(store.recovery().migrated, 3);
    assert!(store.contains(&alice(), "old-2"));
    assert!(!store.contains(&bob(), "old-2"));
    store.close().unwrap();
    let text = fs::read_to_string(maildir.join(".pop3-uidl")).unwrap();
    assert!(text.starts_with("pop3-uidl 2\n"), "{text}");
    assert!(
        text.contains("+ alice@pop.example.com:995 old-3\n"),
        "{text}"
    );
    assert_eq!(common::mode(&maildir.join(".pop3-uidl")), 0o600);
    // Bob opening later does not inherit them.
    let store = open(target, &bob());
    assert_eq!(store.recovery().migrated, 0);
    assert!(!store.contains(&bob(), "old-1"));
}

#[test]
fn mark_seen_and_forget() {
    let dir = tempfile::tempdir().unwrap();
    let target = Target::EmlDir(dir.path().join("eml"));
    let store = open(target.clone(), &alice());
    store.mark_seen(&alice(), ["s1", "s2", "s3"]).unwrap();
    assert!(store.contains(&alice(), "s2"));
    store.mark_seen(&alice(), ["s2"]).unwrap();
    store.forget(&alice(), ["s1", "never"]).unwrap();
    assert!(!store.contains(&alice(), "s1"));
    let mut recorded = store.recorded(&alice());
    recorded.sort();
    assert_eq!(recorded, ["s2", "s3"]);
    assert!(store.recorded(&bob()).is_empty());
    store.close().unwrap();
    // Nothing was downloaded, yet the records are durable.
    let store = open(target.clone(), &alice());
    assert!(!store.contains(&alice(), "s1"));
    assert!(store.contains(&alice(), "s2") && store.contains(&alice(), "s3"));
    assert_eq!(common::paths_in(target.path()).len(), 1);
    let err = store.mark_seen(&alice(), ["has space"]).unwrap_err();
    assert!(matches!(err, StoreError::InvalidUid { .. }), "{err:?}");
}

#[test]
fn one_writer_per_uid_and_valid_uids_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(Target::Maildir(dir.path().join("M")), &alice());
    let first = store.begin(&alice(), "u").unwrap();
    let err = store.begin(&alice(), "u").unwrap_err();
    assert!(matches!(err, StoreError::InProgress { .. }), "{err:?}");
    // Another account's same UID is fine.
    let other = store.begin(&bob(), "u").unwrap();
    drop(first);
    // Aborted: the UID is free again and nothing was left behind.
    let again = store.begin(&alice(), "u").unwrap();
    again.abort();
    other.abort();
    assert!(files_in(&dir.path().join("M/tmp")).is_empty());
    for bad in ["", "a b", &"x".repeat(71)] {
        let err = store.begin(&alice(), bad).unwrap_err();
        assert!(matches!(err, StoreError::InvalidUid { .. }), "{err:?}");
    }
}

#[test]
fn a_torn_state_line_does_not_stop_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let mbox = dir.path().join("inbox");
    let target = Target::Mbox(mbox);
    let store = open(target.clone(), &alice());
    store_one(&store, &alice(), "u1", b"x\r\n");
    store.close().unwrap();
    let state = dir.path().join("inbox.pop3-uidl");
    let mut text = fs::read_to_string(&state).unwrap();
    text.push_str("+ alice@pop.exa");
    fs::write(&state, &text).unwrap();
    let store = open(target, &alice());
    assert!(store.contains(&alice(), "u1"));
    store.mark_seen(&alice(), ["u2"]).unwrap();
    store.close().unwrap();
    let text = fs::read_to_string(&state).unwrap();
    assert!(text.ends_with("+ alice@pop.example.com:995 u2\n"), "{text}");
    assert!(!text.contains("pop.exa+"), "{text}");
}
