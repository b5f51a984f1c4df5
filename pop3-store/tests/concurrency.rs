//! Many writers at once, from threads and from async tasks on two different executors,
//! into one mbox and one Maildir: every message exactly once, never interleaved.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::sync::Arc;

use common::{alice, files_in, message, options, read_mboxrd, to_lf};
use pop3_store::{AsyncStore, Store, Target};

const SESSIONS: usize = 6;
const PER_SESSION: usize = 12;

/// Message `i` of session `s`: sizes from tiny to several buffers (the store below uses a
/// 4 KiB buffer, so mbox spooling to files happens too).
fn msg(s: usize, i: usize) -> (String, Vec<u8>) {
    let size = [200, 3_000, 9_000, 40_000][(s + i) % 4];
    (format!("uid-{s}-{i}"), message(s * 1000 + i, size))
}

fn expected(transform: fn(&[u8]) -> Vec<u8>) -> Vec<Vec<u8>> {
    let mut all: Vec<Vec<u8>> = (0..SESSIONS)
        .flat_map(|s| (0..PER_SESSION).map(move |i| transform(&msg(s, i).1)))
        .collect();
    all.sort();
    all
}

fn check_mbox(path: &Path) {
    let mut bodies: Vec<Vec<u8>> = read_mboxrd(&fs::read(path).unwrap())
        .into_iter()
        .map(|r| r.body)
        .collect();
    bodies.sort();
    assert_eq!(bodies.len(), SESSIONS * PER_SESSION);
    assert_eq!(bodies, expected(to_lf));
}

fn check_maildir(dir: &Path) {
    assert_eq!(files_in(&dir.join("new")), expected(to_lf));
    assert!(files_in(&dir.join("tmp")).is_empty());
}

fn check_recorded(target: Target) {
    let store = common::open(target, &alice());
    for s in 0..SESSIONS {
        for i in 0..PER_SESSION {
            assert!(store.contains(&alice(), &msg(s, i).0));
        }
    }
}

/// Each session thread keeps two messages open and alternates chunks between them, so
/// the chunks of different messages interleave within a thread and across threads.
fn threads_into(target: Target) {
    let store = Store::open(options(target, &alice()).buffer_capacity(4096)).unwrap();
    std::thread::scope(|scope| {
        for s in 0..SESSIONS {
            let store = &store;
            scope.spawn(move || {
                for pair in (0..PER_SESSION).collect::<Vec<_>>().chunks(2) {
                    let mut open: Vec<_> = pair
                        .iter()
                        .map(|&i| {
                            let (uid, data) = msg(s, i);
                            (store.begin(&alice(), &uid).unwrap(), data, 0usize)
                        })
                        .collect();
                    let mut step = 0;
                    while open.iter().any(|(_, d, at)| at < &d.len()) {
                        for (w, data, at) in &mut open {
                            let n = (97 + 13 * step).min(data.len() - *at);
                            w.write(&data[*at..*at + n]).unwrap();
                            *at += n;
                        }
                        step += 1;
                    }
                    let tickets: Vec<_> = open
                        .into_iter()
                        .map(|(w, _, _)| w.commit().unwrap())
                        .collect();
                    for t in tickets {
                        t.wait().unwrap();
                    }
                }
            });
        }
    });
    let stats = store.stats();
    assert_eq!(stats.committed, (SESSIONS * PER_SESSION) as u64);
    store.close().unwrap();
}

#[test]
fn threads_into_one_mbox() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inbox");
    threads_into(Target::Mbox(path.clone()));
    check_mbox(&path);
    check_recorded(Target::Mbox(path));
    // No spool file is left beside the mbox.
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn threads_into_one_maildir() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("Mail");
    threads_into(Target::Maildir(path.clone()));
    check_maildir(&path);
    check_recorded(Target::Maildir(path));
}

/// One async session: its messages one after another, each written in small chunks,
/// then a sync before it would DELE.
async fn session(store: Arc<AsyncStore>, s: usize) {
    for i in 0..PER_SESSION {
        let (uid, data) = msg(s, i);
        let mut w = store.begin(&alice(), &uid).await.unwrap();
        for chunk in data.chunks(211) {
            w.write(chunk).await.unwrap();
        }
        let pending = w.commit().await.unwrap();
        if i % 3 == 0 {
            pending.await.unwrap();
        }
    }
    let durable = store.sync().await.unwrap();
    for i in 0..PER_SESSION {
        assert!(store.contains(&alice(), &msg(s, i).0));
    }
    let _ = durable;
}

fn async_store(target: Target) -> Arc<AsyncStore> {
    let store = Store::open(options(target, &alice()).buffer_capacity(4096)).unwrap();
    Arc::new(AsyncStore::new(store, 2).unwrap())
}

fn close(store: Arc<AsyncStore>) -> impl std::future::Future<Output = ()> {
    let store = Arc::into_inner(store).expect("sessions done");
    async move { store.close().await.unwrap() }
}

#[test]
fn async_tasks_on_futures_executor() {
    for kind in ["mbox", "maildir"] {
        let dir = tempfile::tempdir().unwrap();
        let target = match kind {
            "mbox" => Target::Mbox(dir.path().join("inbox")),
            _ => Target::Maildir(dir.path().join("Mail")),
        };
        let store = async_store(target.clone());
        futures::executor::block_on(async {
            let sessions = (0..SESSIONS).map(|s| session(Arc::clone(&store), s));
            futures::future::join_all(sessions).await;
            close(store).await;
        });
        match &target {
            Target::Mbox(p) => check_mbox(p),
            _ => check_maildir(target.path()),
        }
        check_recorded(target);
    }
}

#[test]
fn async_tasks_on_tokio() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    for kind in ["mbox", "maildir"] {
        let dir = tempfile::tempdir().unwrap();
        let target = match kind {
            "mbox" => Target::Mbox(dir.path().join("inbox")),
            _ => Target::Maildir(dir.path().join("Mail")),
        };
        let options = options(target.clone(), &alice()).buffer_capacity(4096);
        runtime.block_on(async {
            let store = Arc::new(AsyncStore::open(options, 2).await.unwrap());
            let tasks: Vec<_> = (0..SESSIONS)
                .map(|s| tokio::spawn(session(Arc::clone(&store), s)))
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            close(store).await;
        });
        match &target {
            Target::Mbox(p) => check_mbox(p),
            _ => check_maildir(target.path()),
        }
        check_recorded(target);
    }
}

/// Group commit: with many sessions committing at once, batches hold several messages,
/// so the committer's fsyncs per message fall well below its three per batch.
#[test]
fn concurrent_commits_are_grouped() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(options(Target::Maildir(dir.path().join("M")), &alice())).unwrap();
    // Every file written first, then the commits back to back: they arrive faster than
    // the committer's fsyncs, however cheap the file system makes the writers' own.
    let writers: Vec<_> = (0..64)
        .map(|i| {
            let mut w = store.begin(&alice(), &format!("u{i}")).unwrap();
            w.write(b"x\r\n").unwrap();
            w
        })
        .collect();
    let tickets: BTreeMap<usize, _> = writers
        .into_iter()
        .enumerate()
        .map(|(i, w)| (i, w.commit().unwrap()))
        .collect();
    let durable = store.sync().unwrap();
    for (_, t) in tickets {
        assert!(durable.covers(t.ticket()));
        t.wait().unwrap();
    }
    let stats = store.stats();
    assert_eq!(stats.committed, 64);
    assert!(stats.batches < 64, "{stats:?}");
}

/// `AsyncStore::begin` claims the UID at once and leaves the file to the I/O thread: a
/// second writer for the same UID is refused at once, and a file that cannot be created
/// fails the commit with the I/O error, not a made-up one, and frees the UID again.
#[test]
fn async_begin_claims_at_once_and_reports_a_late_failure_at_commit() {
    let dir = tempfile::tempdir().unwrap();
    let maildir = dir.path().join("Mail");
    let store = async_store(Target::Maildir(maildir.clone()));
    futures::executor::block_on(async {
        let first = store.begin(&alice(), "u1").await.unwrap();
        let again = store.begin(&alice(), "u1").await;
        assert!(
            matches!(again, Err(pop3_store::StoreError::InProgress { .. })),
            "{again:?}"
        );
        // Waits for its I/O thread to be done with the file: a plain drop would leave its
        // creation racing the removal of tmp/ below.
        first.abort_now().await;

        // The file goes to tmp/, which is gone now.
        fs::remove_dir_all(maildir.join("tmp")).unwrap();
        let mut writer = store.begin(&alice(), "u2").await.unwrap();
        writer.write(b"Subject: x\r\n\r\nbody\r\n").await.unwrap();
        let failed = writer.commit().await;
        let message = format!("{:?}", failed.as_ref().map(|_| ()));
        assert!(message.contains("tmp"), "{message}");
        assert!(!message.contains("Closed"), "{message}");

        fs::create_dir(maildir.join("tmp")).unwrap();
        let mut writer = store.begin(&alice(), "u2").await.unwrap();
        writer.write(b"Subject: x\r\n\r\nbody\r\n").await.unwrap();
        writer.commit().await.unwrap().await.unwrap();
    });
    futures::executor::block_on(close(store));
    check_recorded_uids(&maildir, &["u2"]);
}

fn check_recorded_uids(maildir: &Path, uids: &[&str]) {
    let store = Store::open(options(Target::Maildir(maildir.to_owned()), &alice())).unwrap();
    let mut recorded = store.recorded(&alice());
    recorded.sort();
    assert_eq!(recorded, uids);
}
