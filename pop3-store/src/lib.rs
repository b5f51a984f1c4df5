#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod async_store;
mod committer;
mod envelope;
mod error;
mod fsutil;
mod hash;
mod lock;
mod names;
mod pool;
mod recovery;
mod state;
mod stats;
mod store;
mod target;
mod ticket;
mod transform;
mod writer;

pub use async_store::{AsyncMessageWriter, AsyncStore};
pub use error::StoreError;
pub use names::{Account, uid_file_name};
pub use recovery::RecoveryReport;
pub use stats::StoreStats;
#[doc(hidden)]
pub use store::CrashPoint;
pub use store::{
    DEFAULT_BUFFER_CAPACITY, DEFAULT_LOCK_TIMEOUT, MIN_BUFFER_CAPACITY, Store, StoreOptions,
};
pub use target::Target;
pub use ticket::{Durable, Location, Pending, Receipt};
pub use writer::MessageWriter;

/// How long a dotlock may stand before it is taken to be left by a crash.
pub const DOTLOCK_STALE_AFTER: std::time::Duration = lock::DOTLOCK_STALE_AFTER;
