#![doc = include_str!("../README.md")]
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
