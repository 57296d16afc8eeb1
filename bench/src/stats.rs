//! Counting: the measurement window, latency histograms and error counters shared by
//! every connection task.
//!
//! Ten thousand connections cannot each own a full HDR histogram (hundreds of KiB
//! each), so tasks share a few histograms behind uncontended mutexes ([`Recorder`]),
//! and each task batches its samples locally ([`Samples`]) so it takes a lock once per
//! [`BATCH`] requests, not once per request.

use crate::conn::{ConnError, Outcome};
use hdrhistogram::Histogram;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Samples a task keeps before it takes a histogram lock.
pub const BATCH: usize = 64;
/// Longest latency the histograms hold exactly, in nanoseconds (longer ones saturate).
const MAX_NS: u64 = 60_000_000_000;

/// A new empty latency histogram: nanoseconds, 3 significant digits, up to 60 s.
pub fn new_histogram() -> Histogram<u64> {
    // The bounds are constants that `new_with_bounds` accepts; fall back to an
    // auto-resizing histogram rather than panic should that ever change.
    Histogram::new_with_bounds(1, MAX_NS, 3).unwrap_or_else(|_| auto_histogram())
}

fn auto_histogram() -> Histogram<u64> {
    let mut h = Histogram::new(3).unwrap_or_else(|_| unreachable!("3 significant digits is valid"));
    h.auto(true);
    h
}

/// When requests count: those started at or after `start` and answered by `end`.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// End of the warm-up.
    pub start: Instant,
    /// End of the measurement.
    pub end: Instant,
}

impl Window {
    /// A window that opens after `warmup` from now and lasts `duration`.
    pub fn after(warmup: Duration, duration: Duration) -> Self {
        let start = Instant::now() + warmup;
        Window {
            start,
            end: start + duration,
        }
    }

    /// Whether a request sent at `sent` and answered at `done` counts.
    pub fn contains(&self, sent: Instant, done: Instant) -> bool {
        sent >= self.start && done <= self.end
    }

    /// The measured length in seconds.
    pub fn seconds(&self) -> f64 {
        (self.end - self.start).as_secs_f64()
    }
}

/// Error counts, by kind.
#[derive(Debug, Default)]
pub struct Counters {
    /// Replies with `"status": "ERROR"`.
    pub error_replies: AtomicU64,
    /// Replies that could not be read.
    pub bad_replies: AtomicU64,
    /// Connections that failed or were closed mid-run.
    pub broken_connections: AtomicU64,
    /// Connections that could not be opened (or logged in).
    pub connect_failures: AtomicU64,
    /// Requests still unanswered when the run had to stop.
    pub timeouts: AtomicU64,
}

impl Counters {
    /// Counts a reply that was not a success; returns whether it was one.
    pub fn outcome(&self, outcome: Outcome) -> bool {
        match outcome {
            Outcome::Ok => return true,
            Outcome::ErrorReply => &self.error_replies,
            Outcome::Unrecognized => &self.bad_replies,
        }
        .fetch_add(1, Ordering::Relaxed);
        false
    }

    /// Counts a failed request (the connection is then given up).
    pub fn failure(&self, error: &ConnError) {
        match error {
            ConnError::BadReply(_) => &self.bad_replies,
            ConnError::Io(_) | ConnError::Closed => &self.broken_connections,
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    /// All errors together.
    pub fn total(&self) -> u64 {
        [
            &self.error_replies,
            &self.bad_replies,
            &self.broken_connections,
            &self.connect_failures,
            &self.timeouts,
        ]
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .sum()
    }
}

/// Latency histograms shared by all tasks, plus the error counters.
#[derive(Debug)]
pub struct Recorder {
    shards: Vec<Mutex<Histogram<u64>>>,
    /// Errors seen so far.
    pub counters: Counters,
}

impl Recorder {
    /// A recorder for `tasks` tasks: one histogram per task up to 32, then shared.
    pub fn new(tasks: usize) -> Self {
        let shards = (0..tasks.clamp(1, 32))
            .map(|_| Mutex::new(new_histogram()))
            .collect();
        Recorder {
            shards,
            counters: Counters::default(),
        }
    }

    /// The sample buffer of task `index`.
    pub fn samples(&self, index: usize) -> Samples<'_> {
        Samples {
            shard: &self.shards[index % self.shards.len()],
            pending: Vec::with_capacity(BATCH),
        }
    }

    /// All shards merged into one histogram.
    pub fn merged(&self) -> Histogram<u64> {
        let mut all = new_histogram();
        for shard in &self.shards {
            let shard = shard
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            // Both histograms have the same bounds, so adding cannot fail; an
            // auto-resizing fallback grows instead.
            let _ = all.add(&*shard);
        }
        all
    }
}

/// One task's not-yet-recorded latencies; flushed when full and when dropped.
#[derive(Debug)]
pub struct Samples<'a> {
    shard: &'a Mutex<Histogram<u64>>,
    pending: Vec<u64>,
}

impl Samples<'_> {
    /// Records one latency.
    pub fn record(&mut self, latency: Duration) {
        let ns = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX).max(1);
        self.pending.push(ns);
        if self.pending.len() == BATCH {
            self.flush();
        }
    }

    /// Moves the pending samples into the shared histogram.
    pub fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let mut shard = self
            .shard
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for &ns in &self.pending {
            shard.saturating_record(ns);
        }
        drop(shard);
        self.pending.clear();
    }
}

impl Drop for Samples<'_> {
    fn drop(&mut self) {
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_reach_the_histogram_in_batches_and_on_drop() {
        let rec = Recorder::new(3);
        {
            let mut a = rec.samples(0);
            let mut b = rec.samples(4);
            for i in 1..=(BATCH as u64 + 10) {
                a.record(Duration::from_micros(i));
            }
            assert_eq!(rec.merged().len(), BATCH as u64);
            b.record(Duration::from_secs(120));
        }
        let all = rec.merged();
        assert_eq!(all.len(), BATCH as u64 + 11);
        assert!(
            all.max() >= MAX_NS * 99 / 100,
            "saturated at the top, not lost"
        );
    }

    #[test]
    fn window_counts_only_inside() {
        let w = Window::after(Duration::from_secs(1), Duration::from_secs(2));
        assert!(!w.contains(w.start - Duration::from_millis(1), w.start));
        assert!(w.contains(w.start, w.end));
        assert!(!w.contains(w.start, w.end + Duration::from_millis(1)));
        assert!((w.seconds() - 2.0).abs() < 1e-9);
    }

    #[test]
    fn counters_sort_errors() {
        let c = Counters::default();
        assert!(c.outcome(Outcome::Ok));
        assert!(!c.outcome(Outcome::ErrorReply));
        assert!(!c.outcome(Outcome::Unrecognized));
        c.failure(&ConnError::Closed);
        c.failure(&ConnError::BadReply("x".into()));
        assert_eq!(c.error_replies.load(Ordering::Relaxed), 1);
        assert_eq!(c.bad_replies.load(Ordering::Relaxed), 2);
        assert_eq!(c.broken_connections.load(Ordering::Relaxed), 1);
        assert_eq!(c.total(), 4);
    }
}
