//! Where retrieved messages go.

use std::future::Future;
use std::io::{self, Write as _};
use std::marker::PhantomData;

use pop3_proto::task::BodyEvent;

use crate::transport::RuntimeWrite;

/// How many body bytes a writer sink gathers before it writes: a body whose lines often
/// start with `.` arrives in many small chunks (one per unstuffed run), and the writer
/// must see large blocks whatever the content.
pub(crate) const COALESCE: usize = 128 * 1024;

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
            _ => {}
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

/// Streams one message into a runtime's writer (`retr_to`, `top_to`) in blocks of up to
/// [`COALESCE`] bytes.
pub(crate) struct WriterSink<'w, R: ?Sized, W: ?Sized> {
    writer: &'w mut W,
    buffer: Vec<u8>,
    written: u64,
    runtime: PhantomData<fn() -> R>,
}

impl<'w, R: RuntimeWrite<W> + ?Sized, W: ?Sized + Send> WriterSink<'w, R, W> {
    pub(crate) fn new(writer: &'w mut W) -> Self {
        Self {
            writer,
            buffer: Vec::new(),
            written: 0,
            runtime: PhantomData,
        }
    }

    async fn write_buffer(&mut self) -> io::Result<()> {
        if !self.buffer.is_empty() {
            R::write_all(self.writer, &self.buffer).await?;
            self.buffer.clear();
        }
        Ok(())
    }

    /// Writes what is left and flushes; returns the bytes of the message.
    pub(crate) async fn finish(mut self) -> Result<u64, crate::Error> {
        self.write_buffer().await.map_err(crate::Error::Sink)?;
        R::flush(self.writer).await.map_err(crate::Error::Sink)?;
        Ok(self.written)
    }
}

impl<R: RuntimeWrite<W> + ?Sized, W: ?Sized + Send> AsyncBodySink for WriterSink<'_, R, W> {
    async fn body(&mut self, event: BodyEvent) -> io::Result<()> {
        match event {
            BodyEvent::Data { chunk, .. } => {
                self.written += chunk.len() as u64;
                if self.buffer.len() + chunk.len() > COALESCE {
                    self.write_buffer().await?;
                }
                if chunk.len() >= COALESCE {
                    R::write_all(self.writer, &chunk).await
                } else {
                    self.buffer.extend_from_slice(&chunk);
                    Ok(())
                }
            }
            BodyEvent::End { .. } => self.write_buffer().await,
            _ => Ok(()),
        }
    }
}

/// Streams one message into a blocking writer in blocks of up to [`COALESCE`] bytes.
pub(crate) struct IoWriterSink<'w, W: io::Write + ?Sized> {
    writer: io::BufWriter<&'w mut W>,
    written: u64,
}

impl<'w, W: io::Write + ?Sized> IoWriterSink<'w, W> {
    pub(crate) fn new(writer: &'w mut W) -> Self {
        Self {
            writer: io::BufWriter::with_capacity(COALESCE, writer),
            written: 0,
        }
    }

    /// Writes what is left and flushes; returns the bytes of the message.
    pub(crate) fn finish(mut self) -> Result<u64, crate::Error> {
        self.writer.flush().map_err(crate::Error::Sink)?;
        Ok(self.written)
    }
}

impl<W: io::Write + ?Sized> BodySink for IoWriterSink<'_, W> {
    fn body(&mut self, event: BodyEvent) -> io::Result<()> {
        if let BodyEvent::Data { chunk, .. } = event {
            self.writer.write_all(&chunk)?;
            self.written += chunk.len() as u64;
        }
        Ok(())
    }
}

/// Collects one message in memory (`retr`, `top`).
#[derive(Debug, Default)]
pub(crate) struct Collect(pub(crate) Vec<u8>);

impl Collect {
    fn handle(&mut self, event: &BodyEvent) {
        if let BodyEvent::Data { chunk, .. } = event {
            self.0.extend_from_slice(chunk);
        }
    }
}

impl BodySink for Collect {
    fn body(&mut self, event: BodyEvent) -> io::Result<()> {
        self.handle(&event);
        Ok(())
    }
}

impl AsyncBodySink for Collect {
    fn body(&mut self, event: BodyEvent) -> impl Future<Output = io::Result<()>> + Send {
        self.handle(&event);
        std::future::ready(Ok(()))
    }
}
