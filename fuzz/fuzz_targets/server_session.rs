//! Arbitrary client bytes into a server [`Session`] over a [`MemoryBackend`].
//!
//! Input layout: 4 header bytes, then the bytes "the client sends".
//! * `h[0]` option bits: 0 STLS offered, 1 PIPELINING, 2 CAPA answered, 3 LF-only, 4 no
//!   APOP timestamp, 5 no USER/PASS, 6 implicit TLS;
//! * `h[1..4]` chunk sizes (see [`pop3_fuzz::chunk_size`]).
//!
//! The backend holds user `alice`, password `secret`, and three messages, one with lines
//! that start with dots (and one that is only a dot) and one without a final line end.
//! Every SASL mechanism is offered, SCRAM with 2 iterations so exchanges stay fast.
//!
//! Checks, besides "no panic": the greeting comes first and parses; `Send` never hands out
//! nothing; `StartTls` is answered with `tls_established()`; and when the session asks for input it buffers less than its longest line (12288
//! octets in a SASL exchange), so a client cannot make it allocate without bound.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use pop3_fuzz::{Chunker, debug};
use pop3_proto::sasl::MechanismKind;
use pop3_proto::server::session::{
    MemoryBackend, ServerAction, ServerOptions, Session, StoredMessage,
};
use pop3_proto::{Greeting, Uid};

/// The longest line the session accepts (in a SASL exchange; 255 otherwise).
const MAX_LINE: usize = 12288;

fn message(uid: &str, data: &'static [u8]) -> StoredMessage {
    StoredMessage {
        uid: Uid::new(uid).expect("valid uid"),
        data: Bytes::from_static(data),
    }
}

fn backend() -> MemoryBackend {
    MemoryBackend {
        user: "alice".into(),
        password: "secret".into(),
        messages: vec![
            message(
                "000000016b04df8d",
                b"From: Bob <bob@example.org>\r\nSubject: hello\r\n\r\nHi Alice.\r\n",
            ),
            message(
                "000000026b04df8d",
                b"From: Carol <carol@example.org>\r\nSubject: dots\r\n\r\n.leading dot\r\n..two dots\r\n.\r\nend\r\n",
            ),
            message("000000036b04df8d", b"Subject: no final line end\r\n\r\nlast"),
        ],
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((header, client_bytes)) = data.split_first_chunk::<4>() else {
        return;
    };
    let flags = header[0];
    let defaults = ServerOptions::default();
    let options = ServerOptions {
        stls: flags & 0x01 != 0,
        pipelining: flags & 0x02 != 0,
        capa: flags & 0x04 != 0,
        lf_only: flags & 0x08 != 0,
        apop: if flags & 0x10 != 0 {
            None
        } else {
            defaults.apop.clone()
        },
        user_pass: flags & 0x20 == 0,
        sasl: MechanismKind::ALL.to_vec(),
        scram_iterations: 2,
        utf8: flags & 0x40 != 0,
        ..defaults
    };
    let mut session = Session::new(backend(), options);
    if flags & 0x40 != 0 {
        session.set_implicit_tls();
    }
    let mut chunks = Chunker::new(&header[1..4], client_bytes);
    let mut greeted = false;
    let mut steps = 0usize;
    'session: loop {
        steps += 1;
        assert!(steps < 1_000_000, "session makes no progress");
        match session.progress() {
            ServerAction::Send(bytes) => {
                if debug() {
                    eprintln!("S: {:?}", String::from_utf8_lossy(&bytes));
                }
                assert!(!bytes.is_empty(), "empty Send");
                if !greeted {
                    let end = bytes
                        .iter()
                        .position(|&b| b == b'\n')
                        .expect("the greeting is a line");
                    let line = bytes[..end].strip_suffix(b"\r").unwrap_or(&bytes[..end]);
                    let greeting = Greeting::parse(line).expect("the greeting parses");
                    assert!(greeting.status.is_ok());
                    greeted = true;
                }
            }
            ServerAction::StartTls => session.tls_established(),
            ServerAction::Close => break 'session,
            ServerAction::NeedInput => {
                assert!(greeted, "asked for input before greeting");
                assert!(
                    session.buffered().len() < MAX_LINE,
                    "buffers {} bytes",
                    session.buffered().len()
                );
                match chunks.next_chunk() {
                    Some(chunk) => {
                        if debug() {
                            eprintln!("C: {:?}", String::from_utf8_lossy(chunk));
                        }
                        session.receive(chunk);
                        steps = 0;
                    }
                    None => break 'session,
                }
            }
        }
    }
    session.connection_closed();
    let _ = format!("{session:?}");
    let _ = session.backend().messages.len();
});
