//! The connection's states as the user sees them, and the backoff between attempts.
//!
//! ```text
//!            login OK                     I/O error or timeout
//! Connecting ────────▶ Connected ───────────────────────────▶ Reconnecting{n, delay}
//!     ▲  │ rejected                                                 │ delay passed
//!     │  ▼                                                          ▼
//!     │  Error(reason) ◀── rejected on re-login ─────────────── Connecting
//!     └── new credentials from the login view
//! ```
//!
//! Pure: the worker feeds it what happened and sleeps for what it says.

use std::time::Duration;

/// The connection as the status bar shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    /// Waiting for credentials (login view).
    Idle,
    /// Connecting and logging in.
    Connecting,
    /// Logged in and polling.
    Connected,
    /// Lost; the next attempt comes after `delay`.
    Reconnecting {
        /// How many attempts have failed in a row.
        attempt: u32,
        /// Wait before the next one.
        delay: Duration,
        /// What went wrong last.
        reason: String,
    },
    /// Gave up until the user does something (e.g. the password was rejected).
    Error(String),
}

impl LinkState {
    /// A short word for the status bar.
    pub fn label(&self) -> String {
        match self {
            LinkState::Idle => "not logged in".into(),
            LinkState::Connecting => "connecting".into(),
            LinkState::Connected => "connected".into(),
            LinkState::Reconnecting { attempt, delay, .. } => {
                format!("reconnecting (#{attempt}, {:.1}s)", delay.as_secs_f32())
            }
            LinkState::Error(_) => "error".into(),
        }
    }
}

/// Exponential backoff: `base`, `2*base`, `4*base` ... capped at `max`, reset on
/// success. No jitter: one client per person, so no thundering herd to spread out,
/// and a deterministic sequence is testable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    failures: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(Duration::from_millis(250), Duration::from_secs(10))
    }
}

impl Backoff {
    /// A backoff starting at `base` and never waiting longer than `max`.
    pub fn new(base: Duration, max: Duration) -> Self {
        Backoff {
            base,
            max,
            failures: 0,
        }
    }

    /// Records a failure; returns the attempt number and how long to wait.
    pub fn fail(&mut self) -> (u32, Duration) {
        let shift = self.failures.min(16);
        self.failures = self.failures.saturating_add(1);
        let delay = self.base.saturating_mul(1u32 << shift).min(self.max);
        (self.failures, delay)
    }

    /// Records a success: the next failure waits `base` again.
    pub fn succeed(&mut self) {
        self.failures = 0;
    }

    /// Failures in a row so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// The state to show after a failure, advancing the backoff.
    pub fn reconnecting(&mut self, reason: impl Into<String>) -> LinkState {
        let (attempt, delay) = self.fail();
        LinkState::Reconnecting {
            attempt,
            delay,
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_caps_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000));
        let delays: Vec<u64> = (0..7).map(|_| b.fail().1.as_millis() as u64).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000, 1000]);
        assert_eq!(b.failures(), 7);
        b.succeed();
        assert_eq!(b.fail(), (1, Duration::from_millis(100)));
    }

    #[test]
    fn many_failures_do_not_overflow() {
        let mut b = Backoff::default();
        for _ in 0..10_000 {
            b.fail();
        }
        assert_eq!(b.fail().1, Duration::from_secs(10));
    }

    #[test]
    fn reconnecting_state_counts_attempts() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(8));
        assert_eq!(
            b.reconnecting("closed"),
            LinkState::Reconnecting {
                attempt: 1,
                delay: Duration::from_secs(1),
                reason: "closed".into()
            }
        );
        let s = b.reconnecting("closed");
        assert_eq!(s.label(), "reconnecting (#2, 2.0s)");
        assert_eq!(LinkState::Connected.label(), "connected");
    }
}
