//! The session traits: one required method each (run a core task with a sink), and every
//! POP3 operation provided on top of it, written once.

use std::future::Future;
use std::io;

use pop3_proto::task::{
    Capa, Dele, DeleMany, Entry, List, ListOne, Login, LoginOutcome, Noop, Outcome, Quit,
    QuitOutcome, Retr, RetrMany, Rset, SetPipelining, Snapshot, Stat, Task, Top, TopMany, Uidl,
    UidlOne,
};
use pop3_proto::{Capabilities, Client, Greeting, Pipelining, Status};
use pop3_proto::{MaildropSize, ScanListing, UidListing};

use crate::sink::{Collect, IoWriterSink, WriterSink};
use crate::transport::{Runtime, RuntimeWrite};
use crate::{AsyncBodySink, BodySink, Discard, Error, TlsInfo};

/// A POP3 session on an async runtime: what `pop3-tokio` and `pop3-futures` clients
/// are, and what `pop3-multi` drives.
///
/// Implementors provide [`run`](AsyncSession::run) (and the [`protocol`] getter);
/// every operation is a provided method over it. Every future is `Send`.
///
/// ```no_run
/// use pop3_session::{AsyncSession, Error};
///
/// /// Works on any runtime's session.
/// async fn sizes(session: &mut impl AsyncSession) -> Result<u64, Error> {
///     Ok(session.stat().await?.octets)
/// }
/// ```
///
/// [`protocol`]: AsyncSession::protocol
pub trait AsyncSession: Send {
    /// The runtime, which says which writer types [`retr_to`](AsyncSession::retr_to)
    /// takes (that runtime's `AsyncWrite`).
    type Runtime: Runtime;

    /// Runs any task of the core, streaming bodies into `sink`.
    ///
    /// If the sink fails, the rest of the response is still read and dropped, and the
    /// sink's error ([`Error::Sink`]) is returned: the session stays usable. A socket
    /// error or a timeout ends the session.
    fn run<T, K>(
        &mut self,
        task: T,
        sink: &mut K,
    ) -> impl Future<Output = Result<T::Output, Error>> + Send
    where
        T: Task + Send,
        T::Output: Send,
        K: AsyncBodySink + ?Sized;

    /// The protocol core: state, greeting, capabilities, pipelining.
    fn protocol(&self) -> &Client;

    /// The greeting.
    fn greeting(&self) -> Option<&Greeting> {
        self.protocol().greeting()
    }

    /// Whether the connection is encrypted (implicit TLS, or STLS done).
    fn is_tls(&self) -> bool {
        self.protocol().is_tls()
    }

    /// Whether commands are pipelined now.
    fn is_pipelining(&self) -> bool {
        self.protocol().is_pipelining()
    }

    /// The TLS session this crate's transport negotiated (`None` over plaintext, over a
    /// stream the caller secured, or for sessions that do not know).
    fn tls_info(&self) -> Option<TlsInfo> {
        None
    }

    /// Logs in (greeting, CAPA, STLS when the TLS mode is `StartTls`, authentication,
    /// CAPA again) under the login's security policy.
    fn login(&mut self, login: Login) -> impl Future<Output = Result<LoginOutcome, Error>> + Send {
        async move { self.run(login, &mut Discard).await }
    }

    /// `CAPA`; the core remembers the answer for pipelining decisions.
    fn capabilities(&mut self) -> impl Future<Output = Result<Capabilities, Error>> + Send {
        async move { self.run(Capa::new(), &mut Discard).await }
    }

    /// `STAT`: number of messages and total size.
    fn stat(&mut self) -> impl Future<Output = Result<MaildropSize, Error>> + Send {
        async move { self.run(Stat::new(), &mut Discard).await }
    }

    /// `LIST`: every message's number and size.
    fn list(&mut self) -> impl Future<Output = Result<Vec<ScanListing>, Error>> + Send {
        async move { self.run(List::new(), &mut Discard).await }
    }

    /// `LIST msg`: one message's size.
    fn list_one(&mut self, msg: u32) -> impl Future<Output = Result<ScanListing, Error>> + Send {
        async move { self.run(ListOne::new(msg), &mut Discard).await }
    }

    /// `UIDL`: every message's unique-id (the identity across sessions).
    fn uidl(&mut self) -> impl Future<Output = Result<Vec<UidListing>, Error>> + Send {
        async move { self.run(Uidl::new(), &mut Discard).await }
    }

    /// `UIDL msg`: one message's unique-id.
    fn uidl_one(&mut self, msg: u32) -> impl Future<Output = Result<UidListing, Error>> + Send {
        async move { self.run(UidlOne::new(msg), &mut Discard).await }
    }

    /// `UIDL` and `LIST` pipelined: every message's number, UID and size.
    fn snapshot(&mut self) -> impl Future<Output = Result<Vec<Entry>, Error>> + Send {
        async move { self.run(Snapshot::new(), &mut Discard).await }
    }

    /// Changes the pipelining policy from the next command on (sends nothing).
    fn set_pipelining(
        &mut self,
        pipelining: Pipelining,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        async move { self.run(SetPipelining(pipelining), &mut Discard).await }
    }

    /// `RETR msg`, streamed into `writer` (the runtime's `AsyncWrite`) in large blocks,
    /// never held in memory. Returns the number of bytes written.
    fn retr_to<W>(
        &mut self,
        msg: u32,
        writer: &mut W,
    ) -> impl Future<Output = Result<u64, Error>> + Send
    where
        W: ?Sized + Send,
        Self::Runtime: RuntimeWrite<W>,
    {
        async move {
            let mut sink = WriterSink::<Self::Runtime, W>::new(writer);
            self.run(Retr::new(msg), &mut sink).await?;
            sink.finish().await
        }
    }

    /// `RETR msg` into memory. Prefer [`retr_to`](AsyncSession::retr_to) for messages of
    /// unknown size.
    fn retr(&mut self, msg: u32) -> impl Future<Output = Result<Vec<u8>, Error>> + Send {
        async move {
            let mut out = Collect::default();
            self.run(Retr::new(msg), &mut out).await?;
            Ok(out.0)
        }
    }

    /// `TOP msg lines`, streamed into `writer`. Returns the number of bytes written.
    fn top_to<W>(
        &mut self,
        msg: u32,
        lines: u32,
        writer: &mut W,
    ) -> impl Future<Output = Result<u64, Error>> + Send
    where
        W: ?Sized + Send,
        Self::Runtime: RuntimeWrite<W>,
    {
        async move {
            let mut sink = WriterSink::<Self::Runtime, W>::new(writer);
            self.run(Top::new(msg, lines), &mut sink).await?;
            sink.finish().await
        }
    }

    /// `TOP msg lines` into memory.
    fn top(&mut self, msg: u32, lines: u32) -> impl Future<Output = Result<Vec<u8>, Error>> + Send {
        async move {
            let mut out = Collect::default();
            self.run(Top::new(msg, lines), &mut out).await?;
            Ok(out.0)
        }
    }

    /// `DELE msg`: marks a message deleted; only a successful QUIT removes it.
    fn dele(&mut self, msg: u32) -> impl Future<Output = Result<Status, Error>> + Send {
        async move { self.run(Dele::new(msg), &mut Discard).await }
    }

    /// `RSET`: unmarks every message marked deleted.
    fn rset(&mut self) -> impl Future<Output = Result<Status, Error>> + Send {
        async move { self.run(Rset::new(), &mut Discard).await }
    }

    /// `NOOP`.
    fn noop(&mut self) -> impl Future<Output = Result<Status, Error>> + Send {
        async move { self.run(Noop::new(), &mut Discard).await }
    }

    /// `QUIT`: ends the session; in the transaction state it commits the deletions.
    fn quit(mut self) -> impl Future<Output = Result<QuitOutcome, Error>> + Send
    where
        Self: Sized,
    {
        async move { self.run(Quit::new(), &mut Discard).await }
    }

    /// `RETR` for many messages, pipelined within the window when the server allows;
    /// bodies stream into `sink` in order. A refused message does not stop the batch.
    fn retr_many<K>(
        &mut self,
        msgs: &[u32],
        sink: &mut K,
    ) -> impl Future<Output = Result<Vec<Outcome>, Error>> + Send
    where
        K: AsyncBodySink + ?Sized,
    {
        let task = RetrMany::new(msgs.to_vec());
        async move { self.run(task, sink).await }
    }

    /// `TOP msg lines` for many messages, pipelined.
    fn top_many<K>(
        &mut self,
        msgs: &[u32],
        lines: u32,
        sink: &mut K,
    ) -> impl Future<Output = Result<Vec<Outcome>, Error>> + Send
    where
        K: AsyncBodySink + ?Sized,
    {
        let task = TopMany::new(msgs.to_vec(), lines);
        async move { self.run(task, sink).await }
    }

    /// `DELE` for many messages, pipelined; only a successful QUIT commits.
    fn dele_many(
        &mut self,
        msgs: &[u32],
    ) -> impl Future<Output = Result<Vec<Outcome>, Error>> + Send {
        let task = DeleMany::new(msgs.to_vec());
        async move { self.run(task, &mut Discard).await }
    }
}

/// A POP3 session over blocking I/O: the twin of [`AsyncSession`], what `pop3-sync`'s
/// client is.
///
/// ```no_run
/// use pop3_session::{BlockingSession, Error};
///
/// fn sizes(session: &mut impl BlockingSession) -> Result<u64, Error> {
///     Ok(session.stat()?.octets)
/// }
/// ```
pub trait BlockingSession {
    /// Runs any task of the core, streaming bodies into `sink`; see [`AsyncSession::run`].
    fn run<T: Task, K: BodySink + ?Sized>(
        &mut self,
        task: T,
        sink: &mut K,
    ) -> Result<T::Output, Error>;

    /// The protocol core: state, greeting, capabilities, pipelining.
    fn protocol(&self) -> &Client;

    /// The greeting.
    fn greeting(&self) -> Option<&Greeting> {
        self.protocol().greeting()
    }

    /// Whether the connection is encrypted (implicit TLS, or STLS done).
    fn is_tls(&self) -> bool {
        self.protocol().is_tls()
    }

    /// Whether commands are pipelined now.
    fn is_pipelining(&self) -> bool {
        self.protocol().is_pipelining()
    }

    /// The TLS session this crate's transport negotiated (`None` over plaintext, over a
    /// stream the caller secured, or for sessions that do not know).
    fn tls_info(&self) -> Option<TlsInfo> {
        None
    }

    /// Logs in; see [`AsyncSession::login`].
    fn login(&mut self, login: Login) -> Result<LoginOutcome, Error> {
        self.run(login, &mut Discard)
    }

    /// `CAPA`.
    fn capabilities(&mut self) -> Result<Capabilities, Error> {
        self.run(Capa::new(), &mut Discard)
    }

    /// `STAT`: number of messages and total size.
    fn stat(&mut self) -> Result<MaildropSize, Error> {
        self.run(Stat::new(), &mut Discard)
    }

    /// `LIST`: every message's number and size.
    fn list(&mut self) -> Result<Vec<ScanListing>, Error> {
        self.run(List::new(), &mut Discard)
    }

    /// `LIST msg`: one message's size.
    fn list_one(&mut self, msg: u32) -> Result<ScanListing, Error> {
        self.run(ListOne::new(msg), &mut Discard)
    }

    /// `UIDL`: every message's unique-id.
    fn uidl(&mut self) -> Result<Vec<UidListing>, Error> {
        self.run(Uidl::new(), &mut Discard)
    }

    /// `UIDL msg`: one message's unique-id.
    fn uidl_one(&mut self, msg: u32) -> Result<UidListing, Error> {
        self.run(UidlOne::new(msg), &mut Discard)
    }

    /// `UIDL` and `LIST` pipelined: every message's number, UID and size.
    fn snapshot(&mut self) -> Result<Vec<Entry>, Error> {
        self.run(Snapshot::new(), &mut Discard)
    }

    /// Changes the pipelining policy from the next command on (sends nothing).
    fn set_pipelining(&mut self, pipelining: Pipelining) -> Result<(), Error> {
        self.run(SetPipelining(pipelining), &mut Discard)
    }

    /// `RETR msg`, streamed into `writer` in large blocks, never held in memory.
    /// Returns the number of bytes written.
    fn retr_to<W: io::Write + ?Sized>(&mut self, msg: u32, writer: &mut W) -> Result<u64, Error> {
        let mut sink = IoWriterSink::new(writer);
        self.run(Retr::new(msg), &mut sink)?;
        sink.finish()
    }

    /// `RETR msg` into memory.
    fn retr(&mut self, msg: u32) -> Result<Vec<u8>, Error> {
        let mut out = Collect::default();
        self.run(Retr::new(msg), &mut out)?;
        Ok(out.0)
    }

    /// `TOP msg lines`, streamed into `writer`.
    fn top_to<W: io::Write + ?Sized>(
        &mut self,
        msg: u32,
        lines: u32,
        writer: &mut W,
    ) -> Result<u64, Error> {
        let mut sink = IoWriterSink::new(writer);
        self.run(Top::new(msg, lines), &mut sink)?;
        sink.finish()
    }

    /// `TOP msg lines` into memory.
    fn top(&mut self, msg: u32, lines: u32) -> Result<Vec<u8>, Error> {
        let mut out = Collect::default();
        self.run(Top::new(msg, lines), &mut out)?;
        Ok(out.0)
    }

    /// `DELE msg`.
    fn dele(&mut self, msg: u32) -> Result<Status, Error> {
        self.run(Dele::new(msg), &mut Discard)
    }

    /// `RSET`.
    fn rset(&mut self) -> Result<Status, Error> {
        self.run(Rset::new(), &mut Discard)
    }

    /// `NOOP`.
    fn noop(&mut self) -> Result<Status, Error> {
        self.run(Noop::new(), &mut Discard)
    }

    /// `QUIT`: ends the session; in the transaction state it commits the deletions.
    fn quit(mut self) -> Result<QuitOutcome, Error>
    where
        Self: Sized,
    {
        self.run(Quit::new(), &mut Discard)
    }

    /// `RETR` for many messages, pipelined; see [`AsyncSession::retr_many`].
    fn retr_many<K: BodySink + ?Sized>(
        &mut self,
        msgs: &[u32],
        sink: &mut K,
    ) -> Result<Vec<Outcome>, Error> {
        self.run(RetrMany::new(msgs.to_vec()), sink)
    }

    /// `TOP msg lines` for many messages, pipelined.
    fn top_many<K: BodySink + ?Sized>(
        &mut self,
        msgs: &[u32],
        lines: u32,
        sink: &mut K,
    ) -> Result<Vec<Outcome>, Error> {
        self.run(TopMany::new(msgs.to_vec(), lines), sink)
    }

    /// `DELE` for many messages, pipelined; only a successful QUIT commits.
    fn dele_many(&mut self, msgs: &[u32]) -> Result<Vec<Outcome>, Error> {
        self.run(DeleMany::new(msgs.to_vec()), &mut Discard)
    }
}
