//! Runs the coordinator's scenarios on every driver: the async one under tokio,
//! async-std and smol, and the thread driver over the blocking adapter.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use pop3_multi::{
    BlockingMulti, DeleteReport, FetchReport, FetchRequest, Listing, Multi, MultiError,
    MultiOptions, ProgressEvent, Selection,
};
use pop3_store::{Account, AsyncStore, StoreOptions, Target};
use pop3_testkit::TestServer;
use pop3_tokio::{ConnectOptions, Login, TlsMode};

/// A driver and runtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runner {
    Tokio,
    AsyncStd,
    Smol,
    Threads,
}

pub const ALL: [Runner; 4] = [
    Runner::Tokio,
    Runner::AsyncStd,
    Runner::Smol,
    Runner::Threads,
];

/// Runs `scenario` on every runner at once, each on a thread of its own (scenarios
/// that wait on a server's lock then cost one wait, not four).
pub fn on_every_runner(scenario: impl Fn(Runner) + Sync) {
    std::thread::scope(|scope| {
        let runs: Vec<_> = ALL
            .iter()
            .map(|&runner| {
                let scenario = &scenario;
                scope.spawn(move || scenario(runner))
            })
            .collect();
        for (runner, run) in ALL.iter().zip(runs) {
            if let Err(panic) = run.join() {
                eprintln!("scenario failed on {runner:?}");
                std::panic::resume_unwind(panic);
            }
        }
    });
}

/// Where and as whom, for a test server (implicit TLS unless plaintext is asked for).
#[derive(Clone, Debug)]
pub struct Target2 {
    pub options: ConnectOptions,
    pub login: Login,
    pub account: Account,
}

impl Target2 {
    pub fn of(server: &TestServer) -> Self {
        Self::at(server, server.tls_addr().port())
    }

    /// The server through a proxy (or any address) on `port`.
    pub fn at(server: &TestServer, port: u16) -> Self {
        Self::new(port, server.ca_pem(), server.user(), server.password())
    }

    /// A real Dovecot (its lock waits 10 s before `[IN-USE]`: the timeout allows it).
    pub fn dovecot(dovecot: &pop3_testkit::Dovecot) -> Self {
        Self::new(
            dovecot.pop3s_addr().port(),
            dovecot.ca_pem(),
            dovecot.user(),
            dovecot.password(),
        )
    }

    fn new(port: u16, ca_pem: &str, user: &str, password: &str) -> Self {
        let options = ConnectOptions::new("127.0.0.1")
            .port(port)
            .tls(TlsMode::Implicit)
            .add_root_pem(ca_pem.as_bytes())
            .unwrap()
            .without_webpki_roots()
            .timeout(Duration::from_secs(30));
        Self {
            options,
            login: Login::new(user, password),
            account: Account::new(user, "127.0.0.1", port),
        }
    }

    /// The same in lockstep or not.
    pub fn pipelining(mut self, pipelining: pop3_tokio::Pipelining) -> Self {
        self.options = self.options.pipelining(pipelining);
        self
    }
}

fn block_on<F: std::future::Future>(runner: Runner, future: F) -> F::Output {
    match runner {
        Runner::Tokio | Runner::Threads => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(future),
        Runner::AsyncStd => async_std::task::block_on(future),
        Runner::Smol => smol::block_on(future),
    }
}

/// Collects progress events; optionally requests a stop after so many messages.
#[derive(Clone, Default)]
pub struct Events(
    std::sync::Arc<std::sync::Mutex<Vec<ProgressEvent>>>,
    Option<(usize, pop3_multi::Stop)>,
);

impl Events {
    pub fn all(&self) -> Vec<ProgressEvent> {
        self.0.lock().unwrap().clone()
    }

    /// Events that stop the run once `after` messages are done.
    pub fn stopping(after: usize, stop: pop3_multi::Stop) -> Self {
        Self(std::sync::Arc::default(), Some((after, stop)))
    }

    fn callback(&self) -> impl Fn(&ProgressEvent) + Send + Sync + 'static {
        let events = self.0.clone();
        let stop = self.1.clone();
        move |e| {
            let mut events = events.lock().unwrap();
            events.push(e.clone());
            if let Some((after, stop)) = &stop {
                let done = events
                    .iter()
                    .filter(|e| matches!(e, ProgressEvent::Message { .. }))
                    .count();
                if done >= *after {
                    stop.stop();
                }
            }
        }
    }

    fn stop(&self) -> pop3_multi::Stop {
        self.1.as_ref().map(|(_, s)| s.clone()).unwrap_or_default()
    }
}

macro_rules! on_runner {
    ($runner:expr, $target:expr, $options:expr, $events:expr, |$multi:ident| $call:expr) => {
        match $runner {
            Runner::Tokio => {
                let connector =
                    pop3_tokio::Client::connector($target.options.clone(), $target.login.clone());
                let $multi = Multi::new(connector)
                    .options($options)
                    .on_progress($events.callback())
                    .stop_on($events.stop());
                block_on($runner, async { $call.await })
            }
            Runner::AsyncStd | Runner::Smol => {
                let connector =
                    pop3_futures::Client::connector($target.options.clone(), $target.login.clone());
                let $multi = Multi::new(connector)
                    .options($options)
                    .on_progress($events.callback())
                    .stop_on($events.stop());
                block_on($runner, async { $call.await })
            }
            Runner::Threads => {
                let connector =
                    pop3_sync::Client::connector($target.options.clone(), $target.login.clone());
                let $multi = BlockingMulti::new(connector)
                    .options($options)
                    .on_progress($events.callback())
                    .stop_on($events.stop());
                $call
            }
        }
    };
}

pub fn list(
    runner: Runner,
    target: &Target2,
    options: MultiOptions,
) -> Result<Listing, MultiError> {
    list_with(runner, target, options, &Events::default())
}

pub fn list_with(
    runner: Runner,
    target: &Target2,
    options: MultiOptions,
    events: &Events,
) -> Result<Listing, MultiError> {
    on_runner!(runner, target, options, events, |multi| multi
        .list_messages())
}

/// A store of the given kind in `dir`, for the target's account.
pub fn store(runner: Runner, dir: &std::path::Path, target: &Target2) -> AsyncStore {
    block_on(
        runner,
        AsyncStore::open(
            StoreOptions::new(Target::EmlDir(dir.to_owned()), target.account.clone()),
            4,
        ),
    )
    .unwrap()
}

pub struct Fetch {
    pub selection: Selection,
    pub new_only: bool,
    pub delete: bool,
}

impl Default for Fetch {
    fn default() -> Self {
        Self {
            selection: Selection::All,
            new_only: false,
            delete: false,
        }
    }
}

pub fn fetch(
    runner: Runner,
    target: &Target2,
    options: MultiOptions,
    store: &AsyncStore,
    how: &Fetch,
    events: &Events,
) -> Result<FetchReport, MultiError> {
    let request = FetchRequest::new(store, &target.account)
        .selection(how.selection.clone())
        .new_only(how.new_only)
        .delete(how.delete);
    on_runner!(runner, target, options, events, |multi| multi
        .fetch(request))
}

pub fn delete(
    runner: Runner,
    target: &Target2,
    options: MultiOptions,
    selection: &Selection,
) -> Result<DeleteReport, MultiError> {
    on_runner!(runner, target, options, &Events::default(), |multi| multi
        .delete(selection))
}

/// The `.eml` files of a directory, sorted.
pub fn stored(dir: &std::path::Path) -> Vec<Vec<u8>> {
    let mut stored: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    stored.sort();
    stored
}
