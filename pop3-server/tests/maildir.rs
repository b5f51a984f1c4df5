//! The Maildir backend through a real client (`pop3-sync`, implicit TLS on loopback).

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use pop3_server::{Maildir, Profile, Server, mailbox};
use pop3_sync::{BlockingSession, Client, ConnectOptions, Error, Login};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// How long a test waits for the server to finish with a session it hung up on. Only a
/// bound against hanging: no assertion depends on how long anything takes.
const SETTLE: Duration = Duration::from_secs(30);

/// A message with LF line ends, as Maildir writers store them, whose body has every kind
/// of line that dot-stuffing must protect.
const DOTTED: &str =
    "From: bob@example.org\nSubject: dots\n\n.leading dot\n..two dots\n.\nmiddle\n. \n.\n";

/// `text` with CRLF line ends: what the client must receive.
fn crlf(text: &str) -> Vec<u8> {
    text.replace('\n', "\r\n").into_bytes()
}

fn login(server: &Server) -> Result<Client, Error> {
    let port = server.tls_addr().map_or(0, |a| a.port());
    let ca = server.ca_pem().unwrap_or_default();
    let options = ConnectOptions::new("127.0.0.1")
        .port(port)
        .timeout(Duration::from_secs(30))
        .add_root_pem(ca.as_bytes())?;
    let mut client = Client::connect(&options)?;
    client.login(Login::new(server.user(), server.password()))?;
    Ok(client)
}

/// The files of a Maildir folder, by name.
fn files(dir: &Path, folder: &str) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir.join(folder))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// A Maildir with two LF-only messages: `new/one` and `cur/two:2,S`.
fn two_messages()
-> Result<(tempfile::TempDir, Maildir, PathBuf, PathBuf), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let maildir = Maildir::create(dir.path())?;
    let one = dir.path().join("new/one");
    let two = dir.path().join("cur/two:2,S");
    fs::write(&one, DOTTED)?;
    fs::write(&two, "Subject: two\n\nsecond\n")?;
    // Serving order is by modification time, then name: make it explicit.
    let earlier = fs::File::options().write(true).open(&one)?;
    earlier.set_modified(std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000))?;
    Ok((dir, maildir, one, two))
}

#[test]
fn lists_sizes_as_sent_and_uids_from_file_names() -> TestResult {
    let (_dir, maildir, _, _) = two_messages()?;
    let server = Server::builder().maildir(maildir).start()?;
    let mut client = login(&server)?;
    let uids: Vec<String> = client
        .uidl()?
        .into_iter()
        .map(|u| u.uid.to_string())
        .collect();
    assert_eq!(uids, ["one", "two"]);
    let sizes: Vec<u64> = client.list()?.into_iter().map(|l| l.octets).collect();
    assert_eq!(
        sizes,
        [
            crlf(DOTTED).len() as u64,
            crlf("Subject: two\n\nsecond\n").len() as u64
        ]
    );
    let stat = client.stat()?;
    assert_eq!(stat.messages, 2);
    assert_eq!(stat.octets, sizes.iter().sum::<u64>());
    client.quit()?;
    Ok(())
}

#[test]
fn retr_is_byte_exact_with_crlf_and_dot_stuffed_lines() -> TestResult {
    let (dir, maildir, _, _) = two_messages()?;
    let server = Server::builder().maildir(maildir).start()?;
    let mut client = login(&server)?;
    let body = client.retr(1)?;
    assert_eq!(
        String::from_utf8_lossy(&body),
        String::from_utf8_lossy(&crlf(DOTTED))
    );
    // The size announced by LIST is what RETR delivered.
    assert_eq!(client.list_one(1)?.octets, body.len() as u64);
    let top = client.top(1, 1)?;
    assert_eq!(
        top,
        crlf("From: bob@example.org\nSubject: dots\n\n.leading dot\n")
    );
    client.quit()?;
    // Reading changes nothing on disk.
    assert_eq!(fs::read_to_string(dir.path().join("new/one"))?, DOTTED);
    Ok(())
}

#[test]
fn on_the_wire_the_body_is_dot_stuffed_with_crlf() -> TestResult {
    let (_dir, maildir, _, _) = two_messages()?;
    let server = Server::builder().maildir(maildir).start()?;
    let mut stream = TcpStream::connect(server.addr())?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    stream.write_all(b"USER alice\r\nPASS secret\r\nRETR 1\r\nQUIT\r\n")?;
    let mut all = Vec::new();
    reader.read_to_end(&mut all)?;
    let size = crlf(DOTTED).len();
    let expected = format!(
        "+OK\r\n+OK Logged in.\r\n+OK {size} octets\r\nFrom: bob@example.org\r\nSubject: dots\r\n\r\n\
         ..leading dot\r\n...two dots\r\n..\r\nmiddle\r\n.. \r\n..\r\n.\r\n+OK Logging out.\r\n"
    );
    assert_eq!(String::from_utf8_lossy(&all), expected);
    Ok(())
}

#[test]
fn retr_of_every_hostile_message_is_byte_exact() -> TestResult {
    let dir = tempfile::tempdir()?;
    let maildir = Maildir::create(dir.path())?;
    let hostile = mailbox::hostile_messages();
    let mut uids = Vec::new();
    for message in &hostile {
        uids.push((message.name, maildir.deliver(&message.data)?));
    }
    let server = Server::builder().maildir(maildir).start()?;
    let mut client = login(&server)?;
    let listing = client.uidl()?;
    assert_eq!(listing.len(), hostile.len());
    for item in listing {
        let (name, _) = uids
            .iter()
            .find(|(_, uid)| *uid == item.uid.to_string())
            .ok_or("an unknown UID")?;
        let message = hostile
            .iter()
            .find(|m| m.name == *name)
            .ok_or("an unknown message")?;
        let body = client.retr(item.msg)?;
        assert!(body == message.data, "{name} differs after RETR");
    }
    client.quit()?;
    Ok(())
}

#[test]
fn dele_and_quit_remove_the_file() -> TestResult {
    let (dir, maildir, one, two) = two_messages()?;
    let server = Server::builder().maildir(maildir.clone()).start()?;
    let mut client = login(&server)?;
    client.dele(2)?;
    // Until QUIT, the deletion is only a mark.
    assert!(two.exists());
    let outcome = client.quit()?;
    assert!(outcome.committed);
    assert!(!two.exists());
    assert!(one.exists());
    assert_eq!(files(dir.path(), "cur"), Vec::<String>::new());
    assert_eq!(maildir.uids()?, ["one"]);
    Ok(())
}

#[test]
fn dele_without_quit_keeps_the_file() -> TestResult {
    let (dir, maildir, one, _) = two_messages()?;
    let server = Server::builder().maildir(maildir).start()?;
    let mut client = login(&server)?;
    client.dele(1)?;
    client.rset()?;
    client.dele(1)?;
    drop(client); // the connection ends without QUIT
    assert!(server.wait_until_idle(SETTLE));
    assert!(one.exists());
    assert_eq!(files(dir.path(), "new"), ["one"]);
    assert_eq!(server.logged_in_sessions(), 0);
    Ok(())
}

#[test]
fn a_message_moved_by_another_program_is_still_deleted_at_quit() -> TestResult {
    let (dir, maildir, one, _) = two_messages()?;
    let server = Server::builder().maildir(maildir).start()?;
    let mut client = login(&server)?;
    client.dele(1)?;
    // A mail reader marks it seen meanwhile: new/one becomes cur/one:2,S.
    let moved = dir.path().join("cur/one:2,S");
    fs::rename(&one, &moved)?;
    assert!(client.quit()?.committed);
    assert!(!moved.exists());
    assert_eq!(files(dir.path(), "cur"), ["two:2,S"]);
    Ok(())
}

#[test]
fn concurrent_sessions_see_consistent_snapshots() -> TestResult {
    let (dir, maildir, one, two) = two_messages()?;
    let server = Server::builder().maildir(maildir.clone()).start()?;
    let mut first = login(&server)?;
    let mut second = login(&server)?;
    assert_eq!(server.max_concurrent_sessions(), 2);

    // The first session deletes message 1 and quits: the file is gone.
    first.dele(1)?;
    assert!(first.quit()?.committed);
    assert!(!one.exists());

    // The second keeps its snapshot: it still lists and retrieves that message, and its
    // own DELE of it is harmless.
    assert_eq!(second.list()?.len(), 2);
    assert_eq!(second.retr(1)?, crlf(DOTTED));
    second.dele(1)?;
    second.dele(2)?;
    assert!(second.quit()?.committed);
    assert!(!two.exists());

    // A message delivered now is seen by the next session only.
    let uid = maildir.deliver("Subject: late\n\nlate\n")?;
    let mut third = login(&server)?;
    let uids: Vec<String> = third
        .uidl()?
        .into_iter()
        .map(|u| u.uid.to_string())
        .collect();
    assert_eq!(uids, [uid]);
    third.quit()?;
    assert_eq!(files(dir.path(), "cur"), Vec::<String>::new());
    assert_eq!(server.logins(), 3);
    Ok(())
}

#[test]
fn the_session_lock_holds_across_servers_sharing_a_maildir() -> TestResult {
    let (_dir, maildir, _, _) = two_messages()?;
    let a = Server::builder()
        .maildir(maildir.clone())
        .profile(Profile::LockSession)
        .start()?;
    let b = Server::builder()
        .maildir(maildir.clone())
        .profile(Profile::LockSession)
        .start()?;
    let first = login(&a)?;
    assert!(maildir.is_locked());
    let refused = login(&b);
    assert!(
        matches!(&refused, Err(e) if e.to_string().contains("IN-USE")),
        "{refused:?}"
    );
    first.quit()?;
    assert!(!maildir.is_locked());
    login(&b)?.quit()?;
    assert_eq!(b.refused_logins(), 1);
    Ok(())
}

#[test]
fn builder_messages_are_delivered_into_the_maildir() -> TestResult {
    let dir = tempfile::tempdir()?;
    let maildir = Maildir::create(dir.path())?;
    let server = Server::builder()
        .maildir(maildir.clone())
        .messages_with_uids([("chosen", "Subject: a\r\n\r\nA\r\n")])
        .start()?;
    assert_eq!(files(dir.path(), "new"), ["chosen"]);
    let mut client = login(&server)?;
    assert_eq!(client.uidl_one(1)?.uid.to_string(), "chosen");
    assert_eq!(client.retr(1)?, b"Subject: a\r\n\r\nA\r\n");
    client.quit()?;

    let refused = Server::builder()
        .maildir(maildir)
        .messages_with_uids([("no/slash", "x")])
        .start();
    assert!(matches!(refused, Err(pop3_server::Error::InvalidUid(_))));
    Ok(())
}

#[test]
fn an_unreadable_maildir_refuses_the_login_for_now() -> TestResult {
    let dir = tempfile::tempdir()?;
    let maildir = Maildir::create(dir.path())?;
    let server = Server::builder().maildir(maildir).start()?;
    // The Maildir disappears under the server.
    fs::remove_dir_all(dir.path().join("cur"))?;
    let refused = login(&server);
    assert!(
        matches!(&refused, Err(e) if e.to_string().contains("SYS/TEMP")),
        "{refused:?}"
    );
    assert_eq!(server.logins(), 0);
    Ok(())
}
