//! A blocking POP3 client: `std::net::TcpStream` and rustls around the `pop3-proto` core.
//!
//! ```no_run
//! use pop3_sync::{Client, ConnectOptions, Login};
//!
//! let options = ConnectOptions::new("pop.example.com"); // implicit TLS, port 995
//! let mut client = Client::connect(&options)?;
//! client.login(Login::new("alice", "secret"))?;
//! for item in client.uidl()? {
//!     let mut file = std::fs::File::create(format!("{}.eml", item.uid))?;
//!     client.retr_to(item.msg, &mut file)?; // streamed, never held in memory
//! }
//! client.quit()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The adapter only moves bytes: every POP3 decision is made by `pop3-proto`, and the
//! same API exists in `pop3-tokio` and `pop3-futures` (its methods are written once, in
//! `pop3-net`).
#![forbid(unsafe_code)]

mod stream;

use std::io::{self, Write};

pub use pop3_net::{
    BodySink, ConnectOptions, Discard, Error, ErrorKind, MessageBuffer, Timeouts, TlsMode,
};
pub use pop3_proto::task::{AuthMethod, BodyEvent, Login, LoginOutcome, Outcome, QuitOutcome};
pub use pop3_proto::{Capabilities, Pipelining};

use stream::Stream;

/// Bytes read from the socket at a time.
const READ_SIZE: usize = 64 * 1024;

/// A POP3 session over a blocking connection.
#[derive(Debug)]
pub struct Client {
    stream: Stream,
    core: pop3_proto::Client,
    options: ConnectOptions,
    buffer: Box<[u8]>,
}

impl Client {
    /// Connects, does the TLS handshake for implicit TLS, and reads the greeting.
    pub fn connect(options: &ConnectOptions) -> Result<Self, Error> {
        let mut client = Self {
            stream: Stream::connect(options)?,
            core: pop3_proto::Client::new(options.client_config()),
            options: options.clone(),
            buffer: vec![0; READ_SIZE].into_boxed_slice(),
        };
        client.run(pop3_proto::task::Greet, &mut Discard)?;
        Ok(client)
    }

    pop3_net::client_methods! {
        asyncness: [],
        await: [],
        writer: [Write],
        sink: [BodySink],
    }
}

/// Adapts a `Write` to a [`BodySink`] for one message.
struct WriteSink<'a, W: Write> {
    writer: &'a mut W,
    written: u64,
}

impl<'a, W: Write> WriteSink<'a, W> {
    fn new(writer: &'a mut W) -> Self {
        Self { writer, written: 0 }
    }

    fn finish(self) -> Result<u64, Error> {
        self.writer.flush().map_err(Error::Sink)?;
        Ok(self.written)
    }
}

impl<W: Write> BodySink for WriteSink<'_, W> {
    fn body(&mut self, event: BodyEvent) -> io::Result<()> {
        if let BodyEvent::Data { chunk, .. } = event {
            self.writer.write_all(&chunk)?;
            self.written += chunk.len() as u64;
        }
        Ok(())
    }
}
