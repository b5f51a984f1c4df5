//! The thread driver: [`BlockingMulti`], the same coordinator over the blocking
//! adapter, one thread per session (`std::thread::scope`).
//!
//! It runs the async driver's engine with each worker on a thread of its own: a
//! blocking session seen through the async trait completes every call at once, so a
//! thread is the unit of concurrency, and the plan, the works and the reports are the
//! same code as for [`Multi`](crate::Multi).

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use pop3_session::transport::Runtime;
use pop3_session::{
    AsyncBodySink, AsyncSession, BlockingConnector, BlockingSession, BodyEvent, BodySink,
    Connector, Error, Task, TlsInfo,
};

use crate::error::MultiError;
use crate::multi::{FetchRequest, Multi};
use crate::options::MultiOptions;
use crate::progress::ProgressEvent;
use crate::report::{DeleteReport, FetchReport, Listing};
use crate::selection::Selection;

/// Wakes a parked thread.
struct ThreadWaker(std::thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs a future to completion on this thread, parking while it waits (for the
/// store's I/O threads, say). Unlike an executor's `block_on`, it may be nested.
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(output) => return output,
            Poll::Pending => std::thread::park(),
        }
    }
}

/// No timer: blocking sessions keep time themselves.
#[derive(Debug)]
pub struct NoTimer;

impl Runtime for NoTimer {
    fn sleep(_: Duration) -> impl Future<Output = ()> + Send + 'static {
        std::future::pending()
    }
}

/// A blocking session seen through the async trait: each call is done when its future
/// is created.
#[derive(Debug)]
pub struct ThreadSession<S>(S);

/// An async sink driven from a blocking session's callback, on the session's thread.
struct SinkOnThread<'a, K: ?Sized>(&'a mut K);

impl<K: AsyncBodySink + ?Sized> BodySink for SinkOnThread<'_, K> {
    fn body(&mut self, event: BodyEvent) -> std::io::Result<()> {
        block_on(self.0.body(event))
    }
}

impl<S: BlockingSession + Send> AsyncSession for ThreadSession<S> {
    type Runtime = NoTimer;

    fn run<T, K>(
        &mut self,
        task: T,
        sink: &mut K,
    ) -> impl Future<Output = Result<T::Output, Error>> + Send
    where
        T: Task + Send,
        T::Output: Send,
        K: AsyncBodySink + ?Sized,
    {
        std::future::ready(self.0.run(task, &mut SinkOnThread(sink)))
    }

    fn protocol(&self) -> &pop3_session::proto::Client {
        self.0.protocol()
    }

    fn tls_info(&self) -> Option<TlsInfo> {
        self.0.tls_info()
    }
}

/// A blocking connector seen through the async trait.
#[derive(Debug)]
pub struct ThreadConnector<C>(C);

impl<C> Connector for ThreadConnector<C>
where
    C: BlockingConnector,
    C::Session: Send,
{
    type Session = ThreadSession<C::Session>;

    fn connect(&self) -> impl Future<Output = Result<Self::Session, Error>> + Send {
        std::future::ready(self.0.connect().map(ThreadSession))
    }
}

/// The multi-connection coordinator over the blocking adapter: one thread per session.
///
/// ```no_run
/// use pop3_multi::{BlockingMulti, MultiConnectionMode, MultiOptions};
/// use pop3_sync::{Client, ConnectOptions, Login};
///
/// let connector = Client::connector(ConnectOptions::new("pop.example.com"), Login::new("alice", "secret"));
/// let multi = BlockingMulti::new(connector)
///     .options(MultiOptions::new().mode(MultiConnectionMode::Enable).connections(4));
/// let listing = multi.list_messages()?;
/// println!("{} messages", listing.messages.len());
/// # Ok::<(), pop3_multi::MultiError>(())
/// ```
pub struct BlockingMulti<C> {
    inner: Multi<ThreadConnector<C>>,
}

impl<C> std::fmt::Debug for BlockingMulti<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockingMulti")
            .field("inner", &self.inner)
            .finish()
    }
}

impl<C> BlockingMulti<C>
where
    C: BlockingConnector,
    C::Session: Send,
{
    /// A coordinator opening sessions with `connector`, in `Auto` mode.
    pub fn new(connector: C) -> Self {
        Self {
            inner: Multi::new(ThreadConnector(connector)).on_threads(),
        }
    }

    /// The options.
    #[must_use]
    pub fn options(mut self, options: MultiOptions) -> Self {
        self.inner = self.inner.options(options);
        self
    }

    /// Calls `progress` as messages are done (from the sessions' threads).
    #[must_use]
    pub fn on_progress(
        mut self,
        progress: impl Fn(&ProgressEvent) + Send + Sync + 'static,
    ) -> Self {
        self.inner = self.inner.on_progress(progress);
        self
    }

    /// Stops when `stop` is requested (between batches: a blocking call is not cut).
    #[must_use]
    pub fn stop_on(mut self, stop: crate::Stop) -> Self {
        self.inner = self.inner.stop_on(stop);
        self
    }

    /// See [`Multi::list_messages`].
    pub fn list_messages(&self) -> Result<Listing, MultiError> {
        block_on(self.inner.list_messages())
    }

    /// See [`Multi::fetch`]. The store does its file I/O on its own threads.
    pub fn fetch(&self, request: FetchRequest<'_>) -> Result<FetchReport, MultiError> {
        block_on(self.inner.fetch(request))
    }

    /// See [`Multi::delete`].
    pub fn delete(&self, selection: &Selection) -> Result<DeleteReport, MultiError> {
        block_on(self.inner.delete(selection))
    }
}
