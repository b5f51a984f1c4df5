//! The multi-connection POP3 coordinator: N sessions, each pipelined, share the
//! listing, fetching and deleting of one maildrop, by UID.
//!
//! Commercial libraries sell "multi-connection mode" (Aspose.Email's
//! `UseMultiConnection = MultiConnectionMode.Enable`, `ConnectionsQuantity = 5`) for
//! `ListMessages` only. This crate parallelises listing ([`Multi::list_messages`]),
//! fetching into a durable store ([`Multi::fetch`]) and deleting ([`Multi::delete`]),
//! pipelines every session, and stays correct when servers misbehave:
//!
//! * **Exactly once.** Jobs are UIDs; message numbers are per session, mapped through
//!   each session's own snapshot. A UID missing from a session's snapshot goes to
//!   another session, or is reported missing, never guessed.
//! * **Nothing half stored, nothing deleted early.** A message is committed to the
//!   store only when complete; a session that dies mid-body loses only that message's
//!   writer, and the message goes to another session (within a bound of attempts). DELE
//!   for a UID is sent only once its commit is durable and recorded, and the report
//!   says per UID whether QUIT committed the deletion or the server rolled it back.
//! * **Servers that allow one session** (`[IN-USE]`, `[LOGIN-DELAY]`, `[SYS/TEMP]`, a
//!   refused connection on the second login) run on the sessions they allow, as well as
//!   with one connection.
//! * **Servers that break under pipelining**: a session that fails mid-batch is
//!   replaced by one in lockstep, and the run stays in lockstep.
//!
//! Which session does what is decided by the pure [`plan`] module; the async driver
//! ([`Multi`], over any [`pop3_session::Connector`], on tokio, async-std, smol...) and
//! the thread driver ([`BlockingMulti`], over the blocking adapter with
//! `std::thread::scope`) carry the decisions out.
#![forbid(unsafe_code)]

mod blocking;
mod engine;
mod error;
mod headers;
mod multi;
mod options;
pub mod plan;
mod progress;
mod report;
mod selection;
mod stop;
mod works;

pub use blocking::{BlockingMulti, NoTimer, ThreadConnector, ThreadSession};
pub use error::MultiError;
pub use headers::MessageInfo;
pub use multi::{FetchRequest, Multi};
pub use options::{MultiConnectionMode, MultiOptions};
pub use progress::{Progress, ProgressEvent, Totals};
pub use report::{DeleteReport, Deletion, DeletionOutcome, FetchReport, Listing};
pub use selection::Selection;
pub use stop::Stop;
