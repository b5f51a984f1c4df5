//! Where retrieved messages go.

use std::future::Future;
use std::io;

use pop3_proto::task::BodyEvent;

/// Receives message bodies as they arrive, for the blocking adapter.
///
/// Every message is delivered as `Start`, any number of `Data` chunks, then `End` (or
/// `Refused` in a batch). A sink that stores messages durably should commit on `End`.
/// Closures `FnMut(BodyEvent) -> io::Result<()>` are sinks.
pub trait BodySink {
    /// Handles one event.
    fn body(&mut self, event: BodyEvent) -> io::Result<()>;
}

impl<F: FnMut(BodyEvent) -> io::Result<()>> BodySink for F {
    fn body(&mut self, event: BodyEvent) -> io::Result<()> {
        self(event)
    }
}

/// Receives message bodies as they arrive, for the async adapters.
///
/// Same contract as [`BodySink`]. Closures returning a `Send` future are sinks.
pub trait AsyncBodySink: Send {
    /// Handles one event.
    fn body(&mut self, event: BodyEvent) -> impl Future<Output = io::Result<()>> + Send;
}

impl<F, Fut> AsyncBodySink for F
where
    F: FnMut(BodyEvent) -> Fut + Send,
    Fut: Future<Output = io::Result<()>> + Send,
{
    fn body(&mut self, event: BodyEvent) -> impl Future<Output = io::Result<()>> + Send {
        self(event)
    }
}

/// A sink that drops everything (for operations that produce no body).
#[derive(Clone, Copy, Debug, Default)]
pub struct Discard;

impl BodySink for Discard {
    fn body(&mut self, _: BodyEvent) -> io::Result<()> {
        Ok(())
    }
}

impl AsyncBodySink for Discard {
    fn body(&mut self, _: BodyEvent) -> impl Future<Output = io::Result<()>> + Send {
        std::future::ready(Ok(()))
    }
}

/// A sink that keeps every message in memory, for small messages and tests. Prefer a
/// streaming sink for anything large.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MessageBuffer {
    /// Complete messages, in order: number and bytes.
    pub messages: Vec<(u32, Vec<u8>)>,
    /// Messages the server refused in a batch, with its `-ERR` text.
    pub refused: Vec<(u32, String)>,
    current: Option<(u32, Vec<u8>)>,
}

impl MessageBuffer {
    fn handle(&mut self, event: BodyEvent) {
        match event {
            BodyEvent::Start { msg, .. } => self.current = Some((msg, Vec::new())),
            BodyEvent::Data { chunk, .. } => {
                if let Some((_, bytes)) = &mut self.current {
                    bytes.extend_from_slice(&chunk);
                }
            }
            BodyEvent::End { .. } => self.messages.extend(self.current.take()),
            BodyEvent::Refused { msg, status } => self.refused.push((msg, status.text)),
        }
    }
}

impl BodySink for MessageBuffer {
    fn body(&mut self, event: BodyEvent) -> io::Result<()> {
        self.handle(event);
        Ok(())
    }
}

impl AsyncBodySink for MessageBuffer {
    fn body(&mut self, event: BodyEvent) -> impl Future<Output = io::Result<()>> + Send {
        self.handle(event);
        std::future::ready(Ok(()))
    }
}
