//! `--max-time`: a bound on the whole run, as curl has.
//!
//! When it is reached, a fetch stops taking new work (`pop3_multi::Stop`: whole
//! messages are kept and recorded, the message being received is dropped, no DELE is
//! sent any more, sessions end with QUIT) and exits 5; if winding down takes longer
//! than [`GRACE`], the store is aborted (it still ends on whole, recorded messages).
//! Other commands stop at once and exit 5 with a one-line message.

use std::time::Duration;

use tokio::time::Instant;

/// How long a stopped fetch may take to wind down (commits, QUIT) before it is cut.
pub(crate) const GRACE: Duration = Duration::from_secs(5);

/// The run's time limit, from its start.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RunLimit {
    limit: Option<(Duration, Instant)>,
}

impl RunLimit {
    /// A limit of `limit` from now; `None`: no limit.
    pub(crate) fn new(limit: Option<Duration>) -> Self {
        Self {
            limit: limit.map(|d| (d, Instant::now() + d)),
        }
    }

    /// Resolves when the limit is reached (never without one).
    pub(crate) async fn reached(&self) {
        self.after(Duration::ZERO).await;
    }

    /// Resolves [`GRACE`] after the limit (never without one).
    pub(crate) async fn grace_over(&self) {
        self.after(GRACE).await;
    }

    async fn after(&self, extra: Duration) {
        match self.limit {
            Some((_, at)) => tokio::time::sleep_until(at + extra).await,
            None => std::future::pending().await,
        }
    }

    /// Whether the limit has been reached.
    pub(crate) fn is_reached(&self) -> bool {
        self.limit.is_some_and(|(_, at)| Instant::now() >= at)
    }

    /// `--max-time 2 s`, for messages.
    pub(crate) fn describe(&self) -> String {
        match self.limit {
            Some((limit, _)) if limit.subsec_nanos() == 0 => {
                format!("--max-time {} s", limit.as_secs())
            }
            Some((limit, _)) => format!("--max-time {} s", limit.as_secs_f64()),
            None => "no time limit".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn limits() {
        let none = RunLimit::new(None);
        assert!(!none.is_reached());
        let limit = RunLimit::new(Some(Duration::from_millis(20)));
        assert_eq!(limit.describe(), "--max-time 0.02 s");
        limit.reached().await;
        assert!(limit.is_reached());
        tokio::select! {
            () = none.reached() => panic!("no limit is never reached"),
            () = tokio::time::sleep(Duration::from_millis(10)) => {}
        }
        assert_eq!(
            RunLimit::new(Some(Duration::from_secs(2))).describe(),
            "--max-time 2 s"
        );
    }
}
