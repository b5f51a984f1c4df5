//! Shared harness: run tasks against a peer in memory, with any chunking of the stream.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report
#![allow(dead_code, unreachable_pub)]

use std::collections::VecDeque;

use pop3_proto::server::session::{Backend, ServerAction, Session};
use pop3_proto::task::{Action, BodyEvent, Execution, Task};
use pop3_proto::{Client, Error};

/// The other end of the connection.
pub trait Peer {
    /// Bytes the client wrote.
    fn receive(&mut self, bytes: &[u8]);
    /// Bytes for the client; `None` when the peer closed, empty when it has nothing.
    fn send(&mut self) -> Option<Vec<u8>>;
    /// Both sides completed a (simulated) TLS handshake.
    fn tls_established(&mut self) {}
}

impl<B: Backend> Peer for Session<B> {
    fn receive(&mut self, bytes: &[u8]) {
        Session::receive(self, bytes);
    }

    fn send(&mut self) -> Option<Vec<u8>> {
        loop {
            match self.progress() {
                ServerAction::Send(bytes) => return Some(bytes),
                ServerAction::StartTls => {}
                ServerAction::NeedInput => return Some(Vec::new()),
                ServerAction::Close => return None,
            }
        }
    }

    fn tls_established(&mut self) {
        Session::tls_established(self);
    }
}

/// A scripted peer: each complete line the client writes must equal the next expected
/// line; the reply is then queued. `greeting` is sent first.
pub struct Script {
    pending: Vec<u8>,
    steps: VecDeque<(Vec<u8>, Vec<u8>)>,
    out: Vec<u8>,
    close_when_done: bool,
}

impl Script {
    pub fn new(greeting: &[u8], steps: &[(&[u8], &[u8])]) -> Self {
        Self {
            pending: Vec::new(),
            steps: steps
                .iter()
                .map(|(c, s)| (c.to_vec(), s.to_vec()))
                .collect(),
            out: greeting.to_vec(),
            close_when_done: false,
        }
    }

    /// Close the connection once every step was played.
    pub fn closing(mut self) -> Self {
        self.close_when_done = true;
        self
    }

    pub fn finished(&self) -> bool {
        self.steps.is_empty()
    }
}

impl Peer for Script {
    fn receive(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let (expected, reply) = self
                .steps
                .pop_front()
                .unwrap_or_else(|| panic!("unscripted line {:?}", String::from_utf8_lossy(&line)));
            assert_eq!(
                String::from_utf8_lossy(&line),
                String::from_utf8_lossy(&expected),
                "client sent an unexpected line"
            );
            self.out.extend_from_slice(&reply);
        }
    }

    fn send(&mut self) -> Option<Vec<u8>> {
        if self.out.is_empty() && self.steps.is_empty() && self.close_when_done {
            return None;
        }
        Some(std::mem::take(&mut self.out))
    }
}

/// Everything that crossed the wire, and the body events handed to the sink.
#[derive(Default, Debug)]
pub struct Transcript {
    pub client_wrote: Vec<u8>,
    pub bodies: Vec<BodyEvent>,
    /// How often the client waited on the peer with nothing buffered: round trips.
    pub round_trips: usize,
}

/// Runs `task` against `peer`, handing the client the peer's bytes in chunks whose sizes
/// come from `chunk` (called once per read).
pub fn run<T: Task>(
    client: &mut Client,
    peer: &mut dyn Peer,
    task: T,
    chunk: &mut dyn FnMut() -> usize,
    transcript: &mut Transcript,
) -> Result<T::Output, Error> {
    let mut exec = Execution::new(task);
    let mut to_client: VecDeque<u8> = VecDeque::new();
    loop {
        match exec.step(client)? {
            Action::Write(bytes) => {
                transcript.client_wrote.extend_from_slice(&bytes);
                peer.receive(&bytes);
            }
            Action::Read => {
                if to_client.is_empty() {
                    transcript.round_trips += 1;
                    match peer.send() {
                        None => return Err(client.connection_closed()),
                        Some(bytes) if bytes.is_empty() => {
                            panic!("deadlock: the client waits for a peer that waits")
                        }
                        Some(bytes) => to_client.extend(bytes),
                    }
                }
                let n = chunk().clamp(1, to_client.len());
                let piece: Vec<u8> = to_client.drain(..n).collect();
                client.enqueue_input(&piece);
            }
            Action::StartTls => {
                assert!(to_client.is_empty(), "bytes left over at the STLS boundary");
                client.tls_established()?;
                peer.tls_established();
            }
            Action::Body(event) => transcript.bodies.push(event),
            Action::Done(output) => {
                // A task may end while an answer it does not wait for (a background
                // CAPA) is still arriving: the client keeps it for the next task.
                let rest: Vec<u8> = to_client.drain(..).collect();
                client.enqueue_input(&rest);
                return Ok(output);
            }
            _ => panic!("an action this driver does not know"),
        }
    }
}

/// Reads everything in one go.
pub fn whole() -> impl FnMut() -> usize {
    || usize::MAX
}

/// Bodies reassembled per message, in order of completion.
pub fn bodies(events: &[BodyEvent]) -> Vec<(u32, Vec<u8>)> {
    let mut out: Vec<(u32, Vec<u8>)> = Vec::new();
    for e in events {
        match e {
            BodyEvent::Start { msg, .. } => out.push((*msg, Vec::new())),
            BodyEvent::Data { chunk, .. } => {
                out.last_mut()
                    .expect("data after start")
                    .1
                    .extend_from_slice(chunk);
            }
            _ => {}
        }
    }
    out
}
