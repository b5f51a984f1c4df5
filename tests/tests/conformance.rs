//! The same scenarios over every runtime (blocking, tokio, async-std, smol) against the
//! in-process `TestServer` and a real Dovecot started on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Session, Target, method};
use pop3_session::Pipelining;
use pop3_session::{MessageBuffer, TlsMode};
use pop3_testkit::mailbox;
use pop3_testkit::wire::crlf;

/// A small mailbox for the scenarios that are not about content.
fn small() -> Vec<Vec<u8>> {
    mailbox::generate(6, 2_000, 7)
}

/// Logs in through implicit TLS and STLS with every method the server offers.
async fn logins_with_every_method<S: Session, T: Target>() {
    let Some(server) = T::start(small()) else {
        return;
    };
    for mode in [TlsMode::Implicit, TlsMode::StartTls] {
        for name in server.methods() {
            let context = format!("{} {} {mode:?} {name}", S::NAME, T::NAME);
            let mut session = S::dial(&server.options(mode)).await.expect(&context);
            let outcome = session
                .login(server.login().method(method(name)))
                .await
                .expect(&context);
            assert_eq!(outcome.method, name, "{context}");
            assert!(session.is_tls(), "{context}");
            session.noop().await.expect(&context);
            assert_eq!(
                session.stat().await.expect(&context).messages,
                6,
                "{context}"
            );
            assert!(session.quit().await.expect(&context).committed, "{context}");
        }
    }
}

/// Every hostile message comes back byte for byte, alone and in a pipelined batch;
/// TOP returns the header.
async fn retrieval_is_byte_exact<S: Session, T: Target>() {
    let messages = mailbox::hostile_mailbox();
    let Some(server) = T::start(messages.clone()) else {
        return;
    };
    let mut session = S::dial(&server.options(TlsMode::Implicit)).await.unwrap();
    session.login(server.login()).await.unwrap();
    let list = session.list().await.unwrap();
    assert_eq!(list.len(), messages.len());
    for (item, stored) in list.iter().zip(&messages) {
        let body = session.retr(item.msg).await.unwrap();
        assert_eq!(body.len(), crlf(stored).len(), "message {} size", item.msg);
        assert!(body == crlf(stored), "message {} differs", item.msg);
        assert_eq!(
            item.octets,
            body.len() as u64,
            "LIST size of message {}",
            item.msg
        );
        let header = session.top(item.msg, 0).await.unwrap();
        let header_end = body
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("header end")
            + 4;
        assert_eq!(header, body[..header_end], "TOP {} 0", item.msg);
    }
    let numbers: Vec<u32> = list.iter().map(|s| s.msg).collect();
    let mut buffer = MessageBuffer::default();
    let outcomes = session.retr_many(&numbers, &mut buffer).await.unwrap();
    assert!(outcomes.iter().all(|o| o.result.is_ok()));
    let expected: Vec<(u32, Vec<u8>)> = numbers
        .iter()
        .zip(&messages)
        .map(|(n, m)| (*n, crlf(m)))
        .collect();
    assert!(buffer.messages == expected, "pipelined batch differs");
    session.quit().await.unwrap();
}

/// UIDL lists unique ids that `UIDL n` agrees with.
async fn uidl_is_consistent<S: Session, T: Target>() {
    let Some(server) = T::start(small()) else {
        return;
    };
    let mut session = S::dial(&server.options(TlsMode::Implicit)).await.unwrap();
    session.login(server.login()).await.unwrap();
    let uids = session.uidl().await.unwrap();
    assert_eq!(uids.len(), 6);
    let mut distinct: Vec<&str> = uids.iter().map(|u| u.uid.as_str()).collect();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 6, "UIDs are unique");
    for listing in &uids {
        assert_eq!(&session.uidl_one(listing.msg).await.unwrap(), listing);
    }
    session.quit().await.unwrap();
}

/// DELE then QUIT removes the messages; DELE without QUIT, or DELE then RSET, does not.
async fn deletion_needs_quit<S: Session, T: Target>() {
    let Some(server) = T::start(small()) else {
        return;
    };
    let options = server.options(TlsMode::Implicit);
    // Without QUIT: the connection just ends.
    let mut session = S::dial(&options).await.unwrap();
    session.login(server.login()).await.unwrap();
    session.dele(1).await.unwrap();
    session.dele_many(&[2, 3]).await.unwrap();
    drop(session);
    // With RSET before QUIT.
    let mut session = S::dial(&options).await.unwrap();
    session.login(server.login()).await.unwrap();
    assert_eq!(
        session.stat().await.unwrap().messages,
        6,
        "nothing deleted without QUIT"
    );
    session.dele(1).await.unwrap();
    session.rset().await.unwrap();
    assert!(session.quit().await.unwrap().committed);
    assert_eq!(server.remaining(), 6);
    // With QUIT.
    let mut session = S::dial(&options).await.unwrap();
    session.login(server.login()).await.unwrap();
    session.dele(1).await.unwrap();
    let outcomes = session.dele_many(&[2, 3]).await.unwrap();
    assert!(outcomes.iter().all(|o| o.result.is_ok()));
    assert_eq!(session.stat().await.unwrap().messages, 3);
    assert!(session.quit().await.unwrap().committed);
    assert_eq!(server.remaining(), 3);
    let mut session = S::dial(&options).await.unwrap();
    session.login(server.login()).await.unwrap();
    assert_eq!(session.stat().await.unwrap().messages, 3);
    session.quit().await.unwrap();
}

/// Pipelined batches give exactly the lockstep results.
async fn pipelined_equals_lockstep<S: Session, T: Target>() {
    let messages = mailbox::generate(40, 3_000, 11);
    let Some(server) = T::start(messages) else {
        return;
    };
    let mut results = Vec::new();
    for pipelining in [Pipelining::Auto, Pipelining::Never] {
        let options = server.options(TlsMode::Implicit).pipelining(pipelining);
        let mut session = S::dial(&options).await.unwrap();
        session.login(server.login()).await.unwrap();
        assert_eq!(session.is_pipelining(), pipelining == Pipelining::Auto);
        let numbers: Vec<u32> = (1..=40).collect();
        let mut bodies = MessageBuffer::default();
        let retr = session.retr_many(&numbers, &mut bodies).await.unwrap();
        let mut headers = MessageBuffer::default();
        let top = session.top_many(&numbers, 0, &mut headers).await.unwrap();
        let missing = session
            .retr_many(&[2, 99, 3], &mut MessageBuffer::default())
            .await
            .unwrap();
        assert!(missing[1].result.is_err(), "message 99 does not exist");
        session.quit().await.unwrap();
        results.push((
            retr,
            bodies,
            top,
            headers,
            missing.iter().map(|o| o.result.is_ok()).collect::<Vec<_>>(),
        ));
    }
    assert!(
        results[0] == results[1],
        "pipelined and lockstep results differ"
    );
}

every_runtime_and_target!(
    logins_with_every_method,
    retrieval_is_byte_exact,
    uidl_is_consistent,
    deletion_needs_quit,
    pipelined_equals_lockstep,
);
