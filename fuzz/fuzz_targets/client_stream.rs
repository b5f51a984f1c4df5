//! A [`Client`] running realistic tasks against a hostile server.
//!
//! Input layout: 6 header bytes, then the bytes "the server sends".
//!
//! * `h[0]` flags: bit 0 STLS required ([`TlsMode::StartTls`]); bits 1-2 pipelining
//!   (Auto/Always/Never); bit 3 implicit TLS (when bit 0 is clear); bit 4 a PLAIN authzid; bit 5 a tiny pipelining window; bits 6-7
//!   the line count for `TopMany`.
//! * `h[1]` the authentication method (Auto, USER, APOP, or one SASL mechanism).
//! * `h[2..6]` chunk sizes (see [`pop3_fuzz::chunk_size`]) cycled over the server bytes: the
//!   client is fed one chunk per `Action::Read`, exactly as an adapter would.
//!
//! The client logs in, then runs STAT, LIST, LIST 1, UIDL, UIDL 1, RETR×n, TOP×n, DELE×n,
//! NOOP, RSET and QUIT; each task may fail (that is the server's fault), none may panic.
//!
//! Invariants checked beyond "no panic":
//! * memory: with the small [`LIMITS`] below, no listing (LIST, UIDL, CAPA) returns more
//!   than `listing_items` entries, and no body chunk is larger than what the client can
//!   hold: the bytes fed so far, and at most one read plus the longest line limit (the
//!   client buffers at most one unfinished line when it asks for input);
//! * `Action::StartTls` only comes in the STLS state (`tls_established()` succeeds);
//! * `Action::Write` never hands out empty writes;
//! * body events are well nested per message (`Start`, `Data`*, `End`, or `Refused`) and
//!   only name requested messages; a finished batch has one outcome per message;
//! * no task loops without asking for input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pop3_fuzz::{Chunker, debug};
use pop3_proto::sasl::{MechanismKind, OAuthBearer, Scram};
use pop3_proto::task::{
    Action, AuthMethod, BodyEvent, DeleMany, Execution, List, ListOne, Login, Noop, Outcome, Quit,
    RetrMany, Rset, Stat, Task, TopMany, Uidl, UidlOne,
};
use pop3_proto::{Client, Config, Error, Limits, Pipelining, Secret, TlsMode, Window};

/// Most items in one listing.
const MAX_ITEMS: usize = 1000;

const LIMITS: Limits = Limits::new()
    .status_line(512)
    .listing_line(256)
    .listing_items(MAX_ITEMS)
    .sasl_challenge(1024)
    .capabilities(64)
    .listing_bytes(64 * 1024);

/// The most the client may keep buffered when it asks for more input: an unfinished line
/// shorter than the largest limit (a SASL challenge line).
const MAX_BUFFERED: usize = 1024;

/// Actions without a read in between before we call it a livelock.
const MAX_ACTIONS_WITHOUT_READ: usize = 100_000;

struct Driver<'a> {
    server: Chunker<'a>,
    last_read: usize,
    /// The message whose body is open (`Start` seen, `End` not yet).
    open_body: Option<u32>,
    /// The messages the running task may name.
    msgs: Vec<u32>,
}

impl Driver<'_> {
    fn run<T: Task + std::fmt::Debug>(
        &mut self,
        client: &mut Client,
        task: T,
    ) -> Result<T::Output, Error> {
        if debug() {
            eprintln!("task {task:?}");
        }
        self.open_body = None;
        let mut exec = Execution::new(task);
        let mut actions = 0usize;
        loop {
            actions += 1;
            assert!(
                actions < MAX_ACTIONS_WITHOUT_READ,
                "task makes no progress without input"
            );
            let action = exec.step(client);
            if debug() {
                match &action {
                    Ok(Action::Done(_)) => eprintln!("  done"),
                    Ok(Action::Read) => eprintln!("  read"),
                    Ok(Action::Write(bytes)) => {
                        eprintln!("  write {:?}", String::from_utf8_lossy(bytes));
                    }
                    Ok(Action::StartTls) => eprintln!("  start TLS"),
                    Ok(Action::Body(event)) => eprintln!("  {event:?}"),
                    Ok(_) => eprintln!("  another action"),
                    Err(e) => eprintln!("  error: {e}"),
                }
            }
            match action? {
                Action::Write(bytes) => assert!(!bytes.is_empty(), "empty write"),
                Action::Read => {
                    let Some(chunk) = self.server.next_chunk() else {
                        return Err(client.connection_closed());
                    };
                    client.enqueue_input(chunk);
                    self.last_read = chunk.len();
                    actions = 0;
                }
                Action::StartTls => client
                    .tls_established()
                    .expect("Action::StartTls must leave the client in the STLS state"),
                Action::Body(event) => self.body(&event),
                Action::Done(output) => return Ok(output),
                _ => panic!("an action this driver does not know"),
            }
        }
    }

    fn body(&mut self, event: &BodyEvent) {
        match event {
            BodyEvent::Start { msg, .. } => {
                assert!(
                    self.msgs.contains(msg),
                    "body for unrequested message {msg}"
                );
                assert_eq!(self.open_body, None, "Start inside a body");
                self.open_body = Some(*msg);
            }
            BodyEvent::Data { msg, chunk } => {
                assert_eq!(self.open_body, Some(*msg), "Data outside its body");
                assert!(
                    chunk.len() <= self.server.fed(),
                    "body chunk larger than all input"
                );
                assert!(
                    chunk.len() < self.last_read + MAX_BUFFERED,
                    "body chunk of {} bytes after a read of {}: the client buffered too much",
                    chunk.len(),
                    self.last_read
                );
            }
            BodyEvent::End { msg } => {
                assert_eq!(self.open_body, Some(*msg), "End outside its body");
                self.open_body = None;
            }
            BodyEvent::Refused { msg, .. } => {
                assert!(
                    self.msgs.contains(msg),
                    "refusal for unrequested message {msg}"
                );
                assert_eq!(self.open_body, None, "Refused inside a body");
            }
            _ => panic!("a body event this driver does not know"),
        }
    }

    fn batch<T: Task<Output = Vec<Outcome>> + std::fmt::Debug>(
        &mut self,
        client: &mut Client,
        msgs: &[u32],
        task: T,
    ) {
        self.msgs = msgs.to_vec();
        if let Ok(outcomes) = self.run(client, task) {
            assert_eq!(outcomes.len(), msgs.len(), "one outcome per message");
            for (outcome, msg) in outcomes.iter().zip(msgs) {
                assert_eq!(outcome.msg, *msg, "outcomes in request order");
            }
        }
    }
}

fn method(selector: u8) -> AuthMethod {
    let password = Secret::from("secret");
    match selector % 11 {
        0 => AuthMethod::Auto,
        1 => AuthMethod::User,
        2 => AuthMethod::Apop,
        3 => AuthMethod::Sasl(MechanismKind::Plain),
        4 => AuthMethod::Sasl(MechanismKind::Login),
        5 => AuthMethod::Sasl(MechanismKind::CramMd5),
        6 => AuthMethod::Sasl(MechanismKind::XOAuth2),
        7 => AuthMethod::Sasl(MechanismKind::OAuthBearer),
        8 => AuthMethod::custom(move || {
            Box::new(
                OAuthBearer::new("alice", &password)
                    .with_host("pop.example.com")
                    .with_port(995),
            )
        }),
        // SCRAM with a fixed nonce (so the fuzzer can complete the exchange) and a low
        // iteration bound (so a hostile i= cannot make an execution slow).
        9 => AuthMethod::custom(move || {
            Box::new(
                Scram::sha1("alice", &password)
                    .with_nonce("fyko+d2lbbFgONRv9qkxdawL")
                    .with_iteration_bounds(1, 512),
            )
        }),
        _ => AuthMethod::custom(move || {
            Box::new(
                Scram::sha256("alice", &password)
                    .with_nonce("rOprNGfwEbeRWgbNEkqO")
                    .with_iteration_bounds(1, 512),
            )
        }),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((header, server_bytes)) = data.split_first_chunk::<6>() else {
        return;
    };
    let flags = header[0];
    let config = Config::new()
        .limits(LIMITS)
        .window(if flags & 0x20 != 0 {
            Window::new().commands(2).bytes(16)
        } else {
            Window::default()
        })
        .pipelining(match (flags >> 1) & 3 {
            1 => Pipelining::Always,
            2 => Pipelining::Never,
            _ => Pipelining::Auto,
        })
        .tls(match (flags & 0x01 != 0, flags & 0x08 != 0) {
            (true, _) => TlsMode::StartTls,
            (false, true) => TlsMode::Implicit,
            (false, false) => TlsMode::Plain,
        });
    let mut client = Client::new(config);
    let mut driver = Driver {
        server: Chunker::new(&header[2..6], server_bytes),
        last_read: 0,
        open_body: None,
        msgs: Vec::new(),
    };

    let mut login = Login::new("alice", "secret")
        .allow_plaintext(true)
        .method(method(header[1]));
    if flags & 0x10 != 0 {
        login = login.authzid("admin");
    }
    if let Ok(outcome) = driver.run(&mut client, login) {
        if let Some(caps) = &outcome.capabilities {
            assert!(caps.len() <= MAX_ITEMS);
        }
    }
    let _ = driver.run(&mut client, Stat::new());
    let mut msgs = vec![1, 2, 3];
    if let Ok(list) = driver.run(&mut client, List::new()) {
        assert!(list.len() <= MAX_ITEMS, "LIST over the item limit");
        assert!(list.iter().all(|s| s.msg > 0));
        if !list.is_empty() {
            msgs = list.iter().take(4).map(|s| s.msg).collect();
        }
    }
    let _ = driver.run(&mut client, ListOne::new(1));
    if let Ok(uids) = driver.run(&mut client, Uidl::new()) {
        assert!(uids.len() <= MAX_ITEMS, "UIDL over the item limit");
    }
    let _ = driver.run(&mut client, UidlOne::new(1));
    driver.batch(&mut client, &msgs, RetrMany::new(msgs.clone()));
    let lines = u32::from(flags >> 6);
    driver.batch(&mut client, &msgs, TopMany::new(msgs.clone(), lines));
    driver.batch(&mut client, &msgs, DeleMany::new(msgs.clone()));
    let _ = driver.run(&mut client, Noop::new());
    let _ = driver.run(&mut client, Rset::new());
    let _ = driver.run(&mut client, Quit::new());
    let _ = client.connection_closed();
});
