//! Conformance of the two halves: a [`Client`] sending arbitrary [`Command`]s to a server
//! [`Session`] of this crate, in memory.
//!
//! Since both sides are ours, the client must never report a protocol error: whatever
//! the session answers to whatever the client sends is well-formed, every command the
//! client accepted gets exactly one final answer (`+OK`, `-ERR` or the end of its body),
//! the two never wait for each other (deadlock), and a `RETR` body arrives exactly as
//! stored (dot-stuffing undone, a missing final line end added, CRLF turned into LF by an
//! LF-only server). SASL challenges are answered with responses from the input, then with
//! `*` (cancel); STLS is completed on both sides.
//!
//! Input (`arbitrary`): server options, client pipelining options, and up to 64
//! operations: an arbitrary command, a USER/PASS login with the right password, a RETR of
//! a stored message, or an AUTH with an offered mechanism (shortcuts so the fuzzer reaches
//! the transaction state and the SASL exchanges at once); then the SASL answers.
#![no_main]

use std::collections::BTreeMap;

use arbitrary::Arbitrary;
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use pop3_fuzz::debug;
use pop3_proto::Uid;
use pop3_proto::sasl::MechanismKind;
use pop3_proto::server::session::{
    MemoryBackend, ServerAction, ServerOptions, Session, StoredMessage,
};
use pop3_proto::{
    Client, Command, CommandId, Config, Event, Interrupt, Io, Pipelining, Reply, Window,
};

#[derive(Arbitrary, Debug)]
struct Input {
    /// Bits: 0 STLS, 1 PIPELINING, 2 CAPA, 3 LF-only, 4 no APOP, 5 no USER/PASS.
    server: u8,
    /// Bits 0-1: client pipelining (Auto, Always, Never); bit 2: tiny window.
    client: u8,
    ops: Vec<Op>,
    /// Answers to SASL challenges, in order; `*` (cancel) once they run out.
    sasl_responses: Vec<Vec<u8>>,
}

#[derive(Arbitrary, Debug)]
enum Op {
    /// Any command.
    Command(Command),
    /// `USER alice` and `PASS secret`: a shortcut into the transaction state.
    Login,
    /// `RETR n` for one of the stored messages.
    Retr(u8),
    /// `AUTH` with one of the mechanisms the server offers.
    Auth {
        mechanism: u8,
        initial_response: Option<Vec<u8>>,
    },
}

const MESSAGES: [(&str, &[u8]); 3] = [
    (
        "000000016b04df8d",
        b"From: Bob <bob@example.org>\r\nSubject: hello\r\n\r\nHi Alice.\r\n",
    ),
    (
        "000000026b04df8d",
        b"Subject: dots\r\n\r\n.leading dot\r\n..two dots\r\n.\r\nend\r\n",
    ),
    (
        "000000036b04df8d",
        b"Subject: no final line end\r\n\r\nlast",
    ),
];

/// What a client must receive for RETR of `data`.
fn expected_body(data: &[u8], lf_only: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 2);
    for (i, &b) in data.iter().enumerate() {
        if lf_only && b == b'\r' && data.get(i + 1) == Some(&b'\n') {
            continue;
        }
        out.push(b);
    }
    if !out.is_empty() && out.last() != Some(&b'\n') {
        out.extend_from_slice(if lf_only { b"\n" } else { b"\r\n" });
    }
    out
}

struct Harness {
    client: Client,
    server: Session<MemoryBackend>,
    lf_only: bool,
    /// Commands sent and not answered yet, with the message RETR asked for.
    pending: BTreeMap<CommandId, Option<u32>>,
    /// The RETR body being received.
    body: Option<(CommandId, u32, Vec<u8>)>,
    /// Answers to SASL challenges, last first.
    sasl_responses: Vec<Vec<u8>>,
    closed: bool,
}

impl Harness {
    fn send(&mut self, command: Command) {
        let retr = match command {
            Command::Retr(n) => Some(n),
            _ => None,
        };
        if debug() {
            eprintln!("send {command:?}");
        }
        if let Ok(id) = self.client.send(command) {
            self.pending.insert(id, retr);
        }
    }

    fn finish(&mut self, id: CommandId) {
        assert!(self.pending.remove(&id).is_some(), "answer to {id:?} twice");
    }

    fn event(&mut self, event: Event) {
        if debug() {
            eprintln!("  {event:?}");
        }
        match event {
            Event::Ok {
                id,
                reply: Reply::BodyFollows(_),
            } => {
                let retr = *self.pending.get(&id).expect("body for a command we sent");
                if let Some(msg) = retr {
                    self.body = Some((id, msg, Vec::new()));
                }
            }
            Event::Ok { id, .. } | Event::Err { id, .. } => self.finish(id),
            Event::Body { id, chunk } => {
                if let Some((body_id, _, data)) = &mut self.body {
                    assert_eq!(*body_id, id);
                    data.extend_from_slice(&chunk);
                }
            }
            Event::BodyEnd { id } => {
                if let Some((body_id, msg, data)) = self.body.take() {
                    assert_eq!(body_id, id);
                    let stored = MESSAGES[msg as usize - 1].1;
                    assert_eq!(data, expected_body(stored, self.lf_only), "RETR {msg} body");
                }
                self.finish(id);
            }
            Event::Challenge { .. } => {
                let answer = match self.sasl_responses.pop() {
                    Some(response) => Command::AuthResponse(response.into()),
                    None => Command::AuthCancel,
                };
                self.client
                    .send(answer)
                    .expect("a challenge can be answered");
            }
            Event::Greeting(greeting) => assert!(greeting.status.is_ok()),
            Event::TlsEstablished => {}
            _ => panic!("an event this driver does not know"),
        }
    }

    /// Runs both sides until both wait for the other, or the server closed.
    fn pump(&mut self) {
        let mut steps = 0usize;
        while !self.closed {
            steps += 1;
            assert!(steps < 1_000_000, "client and server loop");
            match self.client.progress() {
                Ok(event) => self.event(event),
                Err(Interrupt::Io(Io::Output(bytes))) => self.server.receive(&bytes),
                Err(Interrupt::Io(Io::NeedMoreInput)) => match self.server.progress() {
                    ServerAction::Send(bytes) => {
                        if debug() {
                            eprintln!("  S: {:?}", String::from_utf8_lossy(&bytes));
                        }
                        self.client.enqueue_input(&bytes);
                    }
                    ServerAction::StartTls => {
                        self.server.tls_established();
                        self.client
                            .tls_established()
                            .expect("the client accepted STLS first");
                    }
                    ServerAction::Close => self.closed = true,
                    ServerAction::NeedInput => {
                        assert!(
                            self.pending.is_empty(),
                            "deadlock: both sides wait, {} commands unanswered",
                            self.pending.len()
                        );
                        return;
                    }
                },
                Err(Interrupt::Error(e)) => panic!("the client rejected our own server: {e}"),
            }
        }
    }
}

fuzz_target!(|input: Input| {
    let lf_only = input.server & 0x08 != 0;
    let defaults = ServerOptions::default();
    let options = ServerOptions {
        stls: input.server & 0x01 != 0,
        pipelining: input.server & 0x02 != 0,
        capa: input.server & 0x04 != 0,
        lf_only,
        apop: if input.server & 0x10 != 0 {
            None
        } else {
            defaults.apop.clone()
        },
        user_pass: input.server & 0x20 == 0,
        sasl: MechanismKind::ALL.to_vec(),
        scram_iterations: 2,
        utf8: input.server & 0x40 != 0,
        ..defaults
    };
    let backend = MemoryBackend {
        user: "alice".into(),
        password: "secret".into(),
        messages: MESSAGES
            .iter()
            .map(|(uid, data)| StoredMessage {
                uid: Uid::new(uid).expect("valid uid"),
                data: Bytes::from_static(data),
            })
            .collect(),
    };
    let config = Config::new()
        .pipelining(match input.client & 3 {
            1 => Pipelining::Always,
            2 => Pipelining::Never,
            _ => Pipelining::Auto,
        })
        .window(if input.client & 4 != 0 {
            Window::new().commands(2).bytes(16)
        } else {
            Window::default()
        });
    let mut h = Harness {
        client: Client::new(config),
        server: Session::new(backend, options),
        lf_only,
        pending: BTreeMap::new(),
        body: None,
        sasl_responses: input.sasl_responses.into_iter().take(16).rev().collect(),
        closed: false,
    };
    h.pump();
    for op in input.ops.into_iter().take(64) {
        if h.closed {
            break;
        }
        match op {
            Op::Command(command) => h.send(command),
            Op::Login => {
                h.send(Command::User("alice".into()));
                h.pump();
                h.send(Command::Pass("secret".into()));
            }
            Op::Retr(n) => h.send(Command::Retr(u32::from(n % 3) + 1)),
            Op::Auth {
                mechanism,
                initial_response,
            } => {
                let kind = MechanismKind::ALL[usize::from(mechanism) % MechanismKind::ALL.len()];
                h.send(Command::Auth {
                    mechanism: kind.name().into(),
                    initial_response: initial_response.map(Into::into),
                });
            }
        }
        h.pump();
    }
});
