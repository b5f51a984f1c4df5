//! The coordinator's knobs, by the names of the commercial library it answers.

/// Whether a run uses several sessions (Aspose.Email's `UseMultiConnection`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MultiConnectionMode {
    /// As many sessions as help, from the mailbox's size and how the server behaves (a
    /// server that refuses a second session gets one), at most
    /// [`MAX_AUTO_SESSIONS`](crate::plan::MAX_AUTO_SESSIONS). The default.
    #[default]
    Auto,
    /// [`MultiOptions::connections`] sessions (fewer if the server refuses some).
    Enable,
    /// One session.
    Disable,
}

/// How a run uses sessions.
///
/// ```
/// use pop3_multi::{MultiConnectionMode, MultiOptions};
/// let options = MultiOptions::new()
///     .mode(MultiConnectionMode::Enable)
///     .connections(5);
/// assert_eq!(options.connection_count(), 5);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MultiOptions {
    mode: MultiConnectionMode,
    connections: usize,
    max_attempts: u32,
}

impl Default for MultiOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl MultiOptions {
    /// `Auto`, five connections when enabled (the commercial library's example), three
    /// attempts per message.
    pub const fn new() -> Self {
        Self {
            mode: MultiConnectionMode::Auto,
            connections: 5,
            max_attempts: 3,
        }
    }

    /// The mode.
    #[must_use]
    pub const fn mode(mut self, mode: MultiConnectionMode) -> Self {
        self.mode = mode;
        self
    }

    /// Sessions with [`MultiConnectionMode::Enable`] (`ConnectionsQuantity`); at least 1.
    #[must_use]
    pub const fn connections(mut self, connections: usize) -> Self {
        self.connections = if connections == 0 { 1 } else { connections };
        self
    }

    /// How many sessions may fail while receiving one message before it is reported as
    /// failed; at least 1.
    #[must_use]
    pub const fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = if attempts == 0 { 1 } else { attempts };
        self
    }

    /// The mode set.
    pub const fn connection_mode(&self) -> MultiConnectionMode {
        self.mode
    }

    /// The sessions `Enable` opens.
    pub const fn connection_count(&self) -> usize {
        self.connections
    }

    /// The attempts per message.
    pub const fn attempts(&self) -> u32 {
        self.max_attempts
    }
}
