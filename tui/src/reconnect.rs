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

use tokio::time::Instant;

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

/// How long a connection must stay up before it counts as healthy and the backoff
/// starts again from `base`. A server that accepts and logs in but drops the
/// connection at the next request would otherwise be retried every `base`.
pub const HEALTHY_AFTER: Duration = Duration::from_secs(10);

/// Exponential backoff with jitter: the n-th failure in a row waits a random time
/// between half and all of `base * 2^(n-1)`, capped at `max` ("equal jitter"), so
/// many clients cut off by one server restart do not come back in step.
///
/// Failures count up across reconnects until a connection has stayed up for
/// [`HEALTHY_AFTER`]: logging in is not enough to reset them.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    failures: u32,
    healthy_after: Duration,
    connected_at: Option<Instant>,
    rng: fastrand::Rng,
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
            healthy_after: HEALTHY_AFTER,
            connected_at: None,
            rng: fastrand::Rng::new(),
        }
    }

    /// The same with a fixed random seed (tests).
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.rng = fastrand::Rng::with_seed(seed);
        self
    }

    /// The same with another time a connection must last to reset the count.
    pub fn with_healthy_after(mut self, healthy_after: Duration) -> Self {
        self.healthy_after = healthy_after;
        self
    }

    /// Records a failure; returns the attempt number and how long to wait.
    pub fn fail(&mut self) -> (u32, Duration) {
        let shift = self.failures.min(16);
        self.failures = self.failures.saturating_add(1);
        let nominal = self.base.saturating_mul(1u32 << shift).min(self.max);
        let half = nominal / 2;
        let spread = u64::try_from((nominal - half).as_micros()).unwrap_or(u64::MAX);
        let delay = half + Duration::from_micros(self.rng.u64(0..=spread));
        (self.failures, delay)
    }

    /// Records a connection that is up (logged in) at `now`.
    pub fn connected(&mut self, now: Instant) {
        self.connected_at = Some(now);
    }

    /// Records a success: the next failure waits about `base` again.
    pub fn succeed(&mut self) {
        self.failures = 0;
    }

    /// Failures in a row so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// The state to show after a failure at `now`, advancing the backoff. A
    /// connection that was up for [`HEALTHY_AFTER`] first resets the count.
    pub fn reconnecting(&mut self, reason: impl Into<String>, now: Instant) -> LinkState {
        if let Some(at) = self.connected_at.take()
            && now.saturating_duration_since(at) >= self.healthy_after
        {
            self.succeed();
        }
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

    fn nominal(ms: &[u64]) -> Vec<(u64, u64)> {
        ms.iter().map(|&m| (m / 2, m)).collect()
    }

    #[test]
    fn doubles_caps_jitters_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000));
        let delays: Vec<u64> = (0..7).map(|_| b.fail().1.as_millis() as u64).collect();
        for (d, (lo, hi)) in delays
            .iter()
            .zip(nominal(&[100, 200, 400, 800, 1000, 1000, 1000]))
        {
            assert!((lo..=hi).contains(d), "{delays:?}");
        }
        assert_eq!(b.failures(), 7);
        b.succeed();
        let (attempt, delay) = b.fail();
        assert_eq!(attempt, 1);
        assert!(delay <= Duration::from_millis(100));
    }

    #[test]
    fn jitter_differs_between_clients() {
        let run = |seed| {
            let mut b = Backoff::default().with_seed(seed);
            (0..6).map(|_| b.fail().1).collect::<Vec<_>>()
        };
        assert_ne!(run(1), run(2));
        assert_eq!(run(3), run(3));
    }

    #[test]
    fn many_failures_do_not_overflow() {
        let mut b = Backoff::default();
        for _ in 0..10_000 {
            b.fail();
        }
        let d = b.fail().1;
        assert!(
            d >= Duration::from_secs(5) && d <= Duration::from_secs(10),
            "{d:?}"
        );
    }

    #[test]
    fn only_a_connection_that_stayed_up_resets_the_count() {
        let t0 = Instant::now();
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(64));
        b.reconnecting("refused", t0);
        // Logged in, dropped a moment later: still counting up.
        b.connected(t0 + Duration::from_secs(1));
        let s = b.reconnecting("closed", t0 + Duration::from_secs(2));
        assert!(
            matches!(s, LinkState::Reconnecting { attempt: 2, .. }),
            "{s:?}"
        );
        // Up for longer than HEALTHY_AFTER: back to the first attempt.
        b.connected(t0 + Duration::from_secs(5));
        let s = b.reconnecting("closed", t0 + Duration::from_secs(5) + HEALTHY_AFTER);
        assert!(
            matches!(s, LinkState::Reconnecting { attempt: 1, .. }),
            "{s:?}"
        );
    }

    #[test]
    fn reconnecting_state_counts_attempts() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(8)).with_seed(7);
        let s = b.reconnecting("closed", Instant::now());
        let LinkState::Reconnecting {
            attempt,
            delay,
            reason,
        } = s
        else {
            panic!("{s:?}");
        };
        assert_eq!((attempt, reason.as_str()), (1, "closed"));
        assert!(delay >= Duration::from_millis(500) && delay <= Duration::from_secs(1));
        assert_eq!(LinkState::Connected.label(), "connected");
    }
}
