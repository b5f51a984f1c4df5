//! Where fetched POP3 messages go: a Maildir, an mboxrd file or a directory of `.eml`
//! files, with a per-account UIDL state file, exclusive locking and crash recovery.
//! Independent of any async runtime.
//!
//! (Building blocks only so far: transformations, state file, locks.)

#![forbid(unsafe_code)]

mod envelope;
mod error;
mod fsutil;
mod hash;
mod lock;
mod names;
mod state;
mod stats;
mod target;
mod ticket;
mod transform;

pub use error::StoreError;
pub use names::{Account, uid_file_name};
pub use stats::StoreStats;
pub use target::Target;
pub use ticket::{Durable, Location, Pending, Receipt};
