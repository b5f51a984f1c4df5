//! The typed methods every adapter's `Client` has, written once.
//!
//! Each method runs one `pop3-proto` task through the adapter's `run`; the macro only
//! differs between adapters in whether the methods are `async` and how a `Write` sink is
//! spelled. Writing them once keeps the three APIs identical by construction.

/// Defines the typed methods of an adapter's `Client`, inside its `impl` block.
///
/// The adapter's `Client` has the fields `stream` (with `send`, `receive` and `start_tls`,
/// async or not), `core: pop3_proto::Client`, `options: ConnectOptions` and
/// `buffer: Box<[u8]>`, and the adapter defines a `WriteSink` type adapting its writer
/// trait to its body sink trait with `new(&mut W)` and `finish() -> Result<u64, Error>`.
#[doc(hidden)]
#[macro_export]
macro_rules! client_methods {
    (
        asyncness: [$($asyncness:ident)?],
        await: [$($aw:tt)*],
        writer: [$($writer:tt)+],
        sink: [$($sink:tt)+] $(,)?
    ) => {
        /// Runs any task of the core: the one loop every other method goes through.
        /// Writes each batch of commands in one write; reads only when the core needs
        /// input; hands body events to `sink`.
        ///
        /// If the sink fails, the rest of the response is still read (and dropped) so the
        /// session stays usable, and the sink's error is returned. A socket error or a
        /// timeout ends the session: responses may be half-read, so every later call fails
        /// instead of matching an old answer to a new command.
        pub $($asyncness)? fn run<T: $crate::__private::Task>(
            &mut self,
            task: T,
            sink: &mut impl $($sink)+,
        ) -> Result<T::Output, $crate::Error> {
            use $crate::__private::Action;
            let mut exec = $crate::__private::Execution::new(task);
            let mut sink_error = None;
            loop {
                let action = exec.step(&mut self.core)?;
                // Socket failures leave responses half-read: the session is over.
                let io: Result<(), $crate::Error> = match action {
                    Action::Write(bytes) => self.stream.send(&bytes, &self.options) $($aw)*,
                    Action::Read => {
                        match self.stream.receive(&mut self.buffer, &self.options) $($aw)* {
                            Ok(0) => Err(self.core.connection_closed().into()),
                            Ok(n) => {
                                self.core.enqueue_input(&self.buffer[..n]);
                                Ok(())
                            }
                            Err(e) => Err(e),
                        }
                    }
                    Action::StartTls => match self.stream.start_tls(&self.options) $($aw)* {
                        Ok(()) => self.core.tls_established().map_err(Into::into),
                        Err(e) => Err(e),
                    },
                    Action::Body(event) => {
                        if sink_error.is_none() {
                            sink_error = sink.body(event) $($aw)* .err();
                        }
                        Ok(())
                    }
                    Action::Done(output) => {
                        return match sink_error {
                            Some(e) => Err($crate::Error::Sink(e)),
                            None => Ok(output),
                        };
                    }
                };
                if let Err(e) = io {
                    self.core.abort();
                    return Err(e);
                }
            }
        }

        /// The greeting.
        pub fn greeting(&self) -> Option<&$crate::__private::Greeting> {
            self.core.greeting()
        }

        /// The core state machine: state, capabilities, pipelining.
        pub fn protocol(&self) -> &$crate::__private::Client {
            &self.core
        }

        /// Whether the connection is encrypted (implicit TLS, or STLS done).
        pub fn is_tls(&self) -> bool {
            self.core.is_tls()
        }

        /// Logs in (greeting, CAPA, STLS when the mode is [`TlsMode::StartTls`],
        /// authentication, CAPA again) under the login's security policy.
        pub $($asyncness)? fn login(
            &mut self,
            login: $crate::__private::Login,
        ) -> Result<$crate::__private::LoginOutcome, $crate::Error> {
            let login = login.starttls(self.options.tls_mode() == $crate::TlsMode::StartTls);
            self.run(login, &mut $crate::Discard) $($aw)*
        }

        /// Asks CAPA; the core remembers the answer for pipelining decisions.
        pub $($asyncness)? fn capabilities(
            &mut self,
        ) -> Result<$crate::__private::Capabilities, $crate::Error> {
            self.run($crate::__private::Capa::new(), &mut $crate::Discard) $($aw)*
        }

        /// `STAT`: number of messages and total size.
        pub $($asyncness)? fn stat(
            &mut self,
        ) -> Result<$crate::__private::MaildropSize, $crate::Error> {
            self.run($crate::__private::Stat::new(), &mut $crate::Discard) $($aw)*
        }

        /// `LIST`: every message's number and size.
        pub $($asyncness)? fn list(
            &mut self,
        ) -> Result<Vec<$crate::__private::ScanListing>, $crate::Error> {
            self.run($crate::__private::List::new(), &mut $crate::Discard) $($aw)*
        }

        /// `LIST msg`: one message's size.
        pub $($asyncness)? fn list_one(
            &mut self,
            msg: u32,
        ) -> Result<$crate::__private::ScanListing, $crate::Error> {
            self.run($crate::__private::ListOne::new(msg), &mut $crate::Discard) $($aw)*
        }

        /// `UIDL`: every message's unique-id (the identity across sessions).
        pub $($asyncness)? fn uidl(
            &mut self,
        ) -> Result<Vec<$crate::__private::UidListing>, $crate::Error> {
            self.run($crate::__private::Uidl::new(), &mut $crate::Discard) $($aw)*
        }

        /// `UIDL msg`: one message's unique-id.
        pub $($asyncness)? fn uidl_one(
            &mut self,
            msg: u32,
        ) -> Result<$crate::__private::UidListing, $crate::Error> {
            self.run($crate::__private::UidlOne::new(msg), &mut $crate::Discard) $($aw)*
        }

        /// `RETR msg`, streamed into `writer` chunk by chunk (never held in memory).
        /// Returns the number of bytes written.
        pub $($asyncness)? fn retr_to(
            &mut self,
            msg: u32,
            writer: &mut (impl $($writer)+),
        ) -> Result<u64, $crate::Error> {
            let mut sink = WriteSink::new(writer);
            self.run($crate::__private::Retr::new(msg), &mut sink) $($aw)* ?;
            sink.finish() $($aw)*
        }

        /// `RETR msg` into memory. Prefer `retr_to` for messages of unknown size.
        pub $($asyncness)? fn retr(&mut self, msg: u32) -> Result<Vec<u8>, $crate::Error> {
            let mut out = Vec::new();
            self.retr_to(msg, &mut out) $($aw)* ?;
            Ok(out)
        }

        /// `TOP msg lines`, streamed into `writer`. Returns the number of bytes written.
        pub $($asyncness)? fn top_to(
            &mut self,
            msg: u32,
            lines: u32,
            writer: &mut (impl $($writer)+),
        ) -> Result<u64, $crate::Error> {
            let mut sink = WriteSink::new(writer);
            self.run($crate::__private::Top::new(msg, lines), &mut sink) $($aw)* ?;
            sink.finish() $($aw)*
        }

        /// `TOP msg lines` into memory.
        pub $($asyncness)? fn top(&mut self, msg: u32, lines: u32) -> Result<Vec<u8>, $crate::Error> {
            let mut out = Vec::new();
            self.top_to(msg, lines, &mut out) $($aw)* ?;
            Ok(out)
        }

        /// `DELE msg`: marks a message deleted; only a successful QUIT removes it.
        pub $($asyncness)? fn dele(
            &mut self,
            msg: u32,
        ) -> Result<$crate::__private::Status, $crate::Error> {
            self.run($crate::__private::Dele::new(msg), &mut $crate::Discard) $($aw)*
        }

        /// `RSET`: unmarks every message marked deleted.
        pub $($asyncness)? fn rset(&mut self) -> Result<$crate::__private::Status, $crate::Error> {
            self.run($crate::__private::Rset::new(), &mut $crate::Discard) $($aw)*
        }

        /// `NOOP`.
        pub $($asyncness)? fn noop(&mut self) -> Result<$crate::__private::Status, $crate::Error> {
            self.run($crate::__private::Noop::new(), &mut $crate::Discard) $($aw)*
        }

        /// `QUIT`: ends the session; in the transaction state it commits the deletions
        /// (the outcome says whether the server confirmed).
        pub $($asyncness)? fn quit(
            mut self,
        ) -> Result<$crate::__private::QuitOutcome, $crate::Error> {
            self.run($crate::__private::Quit::new(), &mut $crate::Discard) $($aw)*
        }

        /// `RETR` for many messages, pipelined within the window when the server allows;
        /// bodies stream into `sink` in order. A refused message does not stop the batch.
        pub $($asyncness)? fn retr_many(
            &mut self,
            msgs: &[u32],
            sink: &mut impl $($sink)+,
        ) -> Result<Vec<$crate::__private::Outcome>, $crate::Error> {
            self.run($crate::__private::RetrMany::new(msgs.to_vec()), sink) $($aw)*
        }

        /// `TOP msg lines` for many messages, pipelined.
        pub $($asyncness)? fn top_many(
            &mut self,
            msgs: &[u32],
            lines: u32,
            sink: &mut impl $($sink)+,
        ) -> Result<Vec<$crate::__private::Outcome>, $crate::Error> {
            self.run($crate::__private::TopMany::new(msgs.to_vec(), lines), sink) $($aw)*
        }

        /// `DELE` for many messages, pipelined; only a successful QUIT commits.
        pub $($asyncness)? fn dele_many(
            &mut self,
            msgs: &[u32],
        ) -> Result<Vec<$crate::__private::Outcome>, $crate::Error> {
            self.run($crate::__private::DeleMany::new(msgs.to_vec()), &mut $crate::Discard) $($aw)*
        }
    };
}

/// Defines `WriteSink`, adapting an async writer trait (tokio's or futures-io's) to
/// [`AsyncBodySink`](crate::AsyncBodySink) for one message, as `client_methods!` needs.
#[doc(hidden)]
#[macro_export]
macro_rules! async_write_sink {
    ($writer:path, $ext:path) => {
        /// Adapts an async writer to an [`AsyncBodySink`] for one message.
        struct WriteSink<'a, W> {
            writer: &'a mut W,
            written: u64,
        }

        impl<'a, W: $writer + Unpin + Send> WriteSink<'a, W> {
            fn new(writer: &'a mut W) -> Self {
                Self { writer, written: 0 }
            }

            async fn finish(self) -> Result<u64, $crate::Error> {
                use $ext as _;
                self.writer.flush().await.map_err($crate::Error::Sink)?;
                Ok(self.written)
            }
        }

        impl<W: $writer + Unpin + Send> $crate::AsyncBodySink for WriteSink<'_, W> {
            fn body(
                &mut self,
                event: $crate::__private::BodyEvent,
            ) -> impl ::std::future::Future<Output = ::std::io::Result<()>> + Send {
                use $ext as _;
                async move {
                    if let $crate::__private::BodyEvent::Data { chunk, .. } = event {
                        self.writer.write_all(&chunk).await?;
                        self.written += chunk.len() as u64;
                    }
                    Ok(())
                }
            }
        }
    };
}
