//! What ends up on disk, byte for byte, in each format; and the modes it gets.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use std::fs;
use std::time::{SystemTime, UNIX_EPOCH};

use common::{alice, bob, files_in, message, open, read_mboxrd, store_one, to_lf, write_chunked};
use pop3_store::{Location, Target};
use proptest::prelude::*;

#[test]
fn eml_keeps_the_bytes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let target = Target::EmlDir(dir.path().join("eml"));
    let store = open(target, &alice());
    let data = message(1, 3000);
    store_one(&store, &alice(), "a/b:1", &data);
    store.close().unwrap();
    assert_eq!(
        fs::read(dir.path().join("eml/a%2Fb%3A1.eml")).unwrap(),
        data
    );
    // Nothing else but the state file: no temporary leftovers.
    let names: Vec<_> = fs::read_dir(dir.path().join("eml"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn maildir_converts_crlf_to_lf() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("Mail");
    let store = open(Target::Maildir(root.clone()), &alice());
    let data = message(2, 3000);
    store_one(&store, &alice(), "u2", &data);
    store.close().unwrap();
    assert_eq!(files_in(&root.join("new")), vec![to_lf(&data)]);
    assert!(files_in(&root.join("tmp")).is_empty());
    assert!(files_in(&root.join("cur")).is_empty());
}

#[test]
fn mbox_is_mboxrd_with_lf_and_a_from_line() {
    let dir = tempfile::tempdir().unwrap();
    let mbox = dir.path().join("inbox");
    let store = open(Target::Mbox(mbox.clone()), &alice());
    store_one(
        &store,
        &alice(),
        "u1",
        b"Return-Path: <bob@example.org>\r\nDate: Wed, 25 Nov 2026 14:00:00 +0200\r\n\r\n\
          From here\r\n>From there\r\n.dot\r\nFrom",
    );
    store_one(&store, &alice(), "u2", b"Subject: second\r\n\r\nbody\r\n");
    store.close().unwrap();
    let text = fs::read_to_string(&mbox).unwrap();
    let (first, second) = text.split_at(text.find("From MAILER-DAEMON").unwrap());
    assert_eq!(
        first,
        "From bob@example.org Wed Nov 25 12:00:00 2026\n\
         Return-Path: <bob@example.org>\nDate: Wed, 25 Nov 2026 14:00:00 +0200\n\n\
         >From here\n>>From there\n.dot\nFrom\n\n"
    );
    assert!(
        second.ends_with("\nSubject: second\n\nbody\n\n"),
        "{second:?}"
    );
}

#[test]
fn from_line_falls_back_to_mailer_daemon_and_the_time_of_receipt() {
    let dir = tempfile::tempdir().unwrap();
    let mbox = dir.path().join("inbox");
    let store = open(Target::Mbox(mbox.clone()), &alice());
    let before = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    store_one(
        &store,
        &alice(),
        "u1",
        b"Return-Path: <>\r\nDate: not a date\r\n\r\nx\r\n",
    );
    let after = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    store.close().unwrap();
    let records = read_mboxrd(&fs::read(&mbox).unwrap());
    assert_eq!(records.len(), 1);
    let line = &records[0].from_line;
    let date = line.strip_prefix("From MAILER-DAEMON ").expect(line);
    // asctime of some second between before and after.
    let candidates: Vec<String> = (before..=after).map(asctime_reference).collect();
    assert!(
        candidates.iter().any(|c| c == date),
        "{date:?} not in {candidates:?}"
    );
}

/// asctime computed independently (days since epoch by repeated subtraction).
fn asctime_reference(secs: u64) -> String {
    let days = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mut d = secs / 86_400;
    let weekday = days[(d % 7) as usize];
    let mut year = 1970;
    loop {
        let len = if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) {
            366
        } else {
            365
        };
        if d < len {
            break;
        }
        d -= len;
        year += 1;
    }
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let lens = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    let mut month = 0;
    while d >= lens[month] {
        d -= lens[month];
        month += 1;
    }
    let rem = secs % 86_400;
    format!(
        "{weekday} {} {:2} {:02}:{:02}:{:02} {year}",
        months[month],
        d + 1,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[test]
fn eml_names_never_overwrite_another_accounts_message() {
    let dir = tempfile::tempdir().unwrap();
    let eml = dir.path().join("eml");
    fs::create_dir(&eml).unwrap();
    // A file no state entry explains (say, copied in by hand) is not ours to replace.
    fs::write(eml.join("x.eml"), b"somebody else's").unwrap();
    let store = open(Target::EmlDir(eml.clone()), &alice());
    store_one(&store, &alice(), "u", b"alice 1\r\n");
    store_one(&store, &bob(), "u", b"bob 1\r\n");
    store_one(&store, &alice(), "x", b"alice x\r\n");
    // A re-fetch replaces the account's own file.
    store_one(&store, &alice(), "u", b"alice 2\r\n");
    store.close().unwrap();
    assert_eq!(fs::read(eml.join("u.eml")).unwrap(), b"alice 2\r\n");
    assert_eq!(fs::read(eml.join("u~2.eml")).unwrap(), b"bob 1\r\n");
    assert_eq!(fs::read(eml.join("x.eml")).unwrap(), b"somebody else's");
    assert_eq!(fs::read(eml.join("x~2.eml")).unwrap(), b"alice x\r\n");
    // The names are remembered: bob's re-fetch goes to bob's file.
    let store = open(Target::EmlDir(eml.clone()), &bob());
    store_one(&store, &bob(), "u", b"bob 2\r\n");
    store.close().unwrap();
    assert_eq!(fs::read(eml.join("u~2.eml")).unwrap(), b"bob 2\r\n");
    assert_eq!(fs::read(eml.join("u.eml")).unwrap(), b"alice 2\r\n");
}

#[test]
fn receipts_say_where_the_message_is() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(Target::Mbox(dir.path().join("m")), &alice());
    let mut w = store.begin(&alice(), "u1").unwrap();
    w.write(b"Subject: s\r\n\r\nb\r\n").unwrap();
    let receipt = w.commit().unwrap().wait().unwrap();
    assert_eq!(receipt.uid, "u1");
    assert_eq!(receipt.account, alice());
    let Location::Mbox { offset, len } = receipt.location else {
        panic!("{receipt:?}")
    };
    assert_eq!(offset, 0);
    assert_eq!(len, fs::metadata(dir.path().join("m")).unwrap().len());
}

/// Modes are exact whatever the umask: the test process runs under the default umask
/// (022 here), which would give 0644/0755 if the store relied on it.
#[test]
fn created_files_are_0600_and_directories_0700() {
    use common::mode;
    let dir = tempfile::tempdir().unwrap();
    let maildir = dir.path().join("a/b/Mail");
    let store = open(Target::Maildir(maildir.clone()), &alice());
    store_one(&store, &alice(), "u", b"x\r\n");
    store.close().unwrap();
    for d in [
        "a",
        "a/b",
        "a/b/Mail",
        "a/b/Mail/tmp",
        "a/b/Mail/new",
        "a/b/Mail/cur",
    ] {
        assert_eq!(mode(&dir.path().join(d)), 0o700, "{d}");
    }
    assert_eq!(mode(&maildir.join(".pop3-uidl")), 0o600);
    for f in common::paths_in(&maildir.join("new")) {
        assert_eq!(mode(&f), 0o600, "{}", f.display());
    }

    let mbox = dir.path().join("c/inbox");
    let store = open(Target::Mbox(mbox.clone()), &alice());
    store_one(&store, &alice(), "u", b"x\r\n");
    store.close().unwrap();
    assert_eq!(mode(&dir.path().join("c")), 0o700);
    assert_eq!(mode(&mbox), 0o600);
    assert_eq!(mode(&dir.path().join("c/inbox.pop3-uidl")), 0o600);

    let eml = dir.path().join("d/eml");
    let store = open(Target::EmlDir(eml.clone()), &alice());
    store_one(&store, &alice(), "u", b"x\r\n");
    store.close().unwrap();
    assert_eq!(mode(&eml), 0o700);
    assert_eq!(mode(&eml.join("u.eml")), 0o600);
    assert_eq!(mode(&eml.join(".pop3-uidl")), 0o600);

    // An existing directory or mbox keeps the mode its owner chose.
    let own = dir.path().join("own");
    fs::create_dir(&own).unwrap();
    fs::set_permissions(&own, std::os::unix::fs::PermissionsExt::from_mode(0o750)).unwrap();
    let store = open(Target::EmlDir(own.clone()), &alice());
    store.close().unwrap();
    assert_eq!(mode(&own), 0o750);
}

/// Stores `data` as one message fed in the given chunk sizes, and returns the bytes the
/// format holds for it.
fn stored(kind: u8, data: &[u8], sizes: &[usize], cap: usize) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let target = match kind {
        0 => Target::EmlDir(dir.path().join("e")),
        1 => Target::Maildir(dir.path().join("m")),
        _ => Target::Mbox(dir.path().join("x")),
    };
    let store =
        pop3_store::Store::open(common::options(target.clone(), &alice()).buffer_capacity(cap))
            .unwrap();
    let mut w = store.begin(&alice(), "u").unwrap();
    write_chunked(&mut w, data, sizes);
    w.commit().unwrap().wait().unwrap();
    assert!(store.stats().peak_buffer <= cap.max(pop3_store::MIN_BUFFER_CAPACITY));
    store.close().unwrap();
    match target {
        Target::EmlDir(d) => fs::read(d.join("u.eml")).unwrap(),
        Target::Maildir(d) => files_in(&d.join("new")).pop().unwrap(),
        Target::Mbox(f) => {
            let records = read_mboxrd(&fs::read(f).unwrap());
            assert_eq!(records.len(), 1);
            records[0].body.clone()
        }
        _ => unreachable!(),
    }
}

fn body_strategy() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(&b"From "[..]),
        Just(&b">"[..]),
        Just(&b"\r\n"[..]),
        Just(&b"\r"[..]),
        Just(&b"\n"[..]),
        Just(&b"."[..]),
        Just(&b"Fro"[..]),
        Just(&b"text "[..]),
    ];
    proptest::collection::vec(piece, 0..300).prop_map(|p| {
        let mut body = p.concat();
        body.extend_from_slice(b"\r\n");
        body
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Any chunking of the same input gives the same file: eml keeps the bytes, Maildir
    /// and mbox hold them with LF line ends (mbox read back through mboxrd unquoting).
    #[test]
    fn chunking_never_changes_the_file(
        body in body_strategy(),
        sizes in proptest::collection::vec(1usize..700, 1..6),
        kind in 0u8..3,
    ) {
        // A small buffer makes block boundaries fall everywhere.
        let cap = 4096;
        let whole = stored(kind, &body, &[usize::MAX], cap);
        let chunked = stored(kind, &body, &sizes, cap);
        prop_assert_eq!(&whole, &chunked);
        let expected = if kind == 0 { body.clone() } else { to_lf(&body) };
        prop_assert_eq!(whole, expected);
    }
}

#[test]
fn messages_larger_than_the_buffer_keep_their_bytes() {
    let data = message(9, 200_000);
    for kind in 0..3 {
        let expected = if kind == 0 {
            data.clone()
        } else {
            to_lf(&data)
        };
        assert_eq!(
            stored(kind, &data, &[1, 7, 4093, 4096, 65_536], 4096),
            expected,
            "kind {kind}"
        );
    }
}

#[test]
fn async_try_write_takes_what_fits_and_keeps_the_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let target = Target::EmlDir(dir.path().join("e"));
    let data = message(9, 50_000);
    let cap = 4096;
    let opts = common::options(target, &alice()).buffer_capacity(cap);
    futures::executor::block_on(async {
        let store = pop3_store::AsyncStore::open(opts, 1).await.unwrap();
        let mut w = store.begin(&alice(), "u").await.unwrap();
        // Small chunks go in at once until the buffer is nearly full; then `write` ships.
        let (mut at_once, mut waited) = (0, 0);
        for chunk in data.chunks(100) {
            if w.try_write(chunk) {
                at_once += 1;
            } else {
                w.write(chunk).await.unwrap();
                waited += 1;
            }
        }
        assert!(at_once > 10 * waited, "{at_once} at once, {waited} waited");
        assert!(
            waited >= data.len() / cap,
            "each full buffer went through write"
        );
        // A chunk that could never fit is refused, not split.
        assert!(!w.try_write(&vec![b'x'; cap]));
        w.commit().await.unwrap().await.unwrap();
        store.close().await.unwrap();
    });
    assert_eq!(fs::read(dir.path().join("e").join("u.eml")).unwrap(), data);
}
