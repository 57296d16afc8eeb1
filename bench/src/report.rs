//! The result of a run: as a value, as JSON (`--json`) and as text for people.

use crate::stats::Counters;
use hdrhistogram::Histogram;
use serde::Serialize;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Latency {
    /// Samples.
    pub count: u64,
    /// Arithmetic mean.
    pub mean_us: f64,
    /// Median.
    pub p50_us: f64,
    /// 90th percentile.
    pub p90_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// Slowest.
    pub max_us: f64,
}

impl Latency {
    /// Percentiles of a histogram of nanoseconds; `None` when it is empty.
    pub fn of(h: &Histogram<u64>) -> Option<Latency> {
        if h.is_empty() {
            return None;
        }
        let us = |ns: u64| ns as f64 / 1000.0;
        Some(Latency {
            count: h.len(),
            mean_us: h.mean() / 1000.0,
            p50_us: us(h.value_at_quantile(0.50)),
            p90_us: us(h.value_at_quantile(0.90)),
            p99_us: us(h.value_at_quantile(0.99)),
            p999_us: us(h.value_at_quantile(0.999)),
            max_us: us(h.max()),
        })
    }
}

/// Errors by kind; `total` is what `--fail-on-error` and the smoke test look at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Errors {
    /// Every error below, added up.
    pub total: u64,
    /// Replies with status ERROR.
    pub error_replies: u64,
    /// Replies that could not be read.
    pub bad_replies: u64,
    /// Connections broken mid-run.
    pub broken_connections: u64,
    /// Connections that could not be opened or logged in.
    pub connect_failures: u64,
    /// Requests unanswered when the run had to stop.
    pub timeouts: u64,
}

impl Errors {
    /// A snapshot of the counters.
    pub fn from_counters(c: &Counters) -> Errors {
        let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        Errors {
            total: c.total(),
            error_replies: get(&c.error_replies),
            bad_replies: get(&c.bad_replies),
            broken_connections: get(&c.broken_connections),
            connect_failures: get(&c.connect_failures),
            timeouts: get(&c.timeouts),
        }
    }
}

/// What `--idle` found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IdleReport {
    /// Connections asked for.
    pub requested: usize,
    /// Connections opened and logged in.
    pub established: usize,
    /// Seconds it took to open and log in all of them.
    pub connect_seconds: f64,
    /// The first failure, if any.
    pub first_error: Option<String>,
    /// Server VmRSS before connecting, KiB (with --server-pid).
    pub server_rss_before_kib: Option<u64>,
    /// Server VmRSS with every connection open, KiB.
    pub server_rss_after_kib: Option<u64>,
    /// Growth per established connection, bytes.
    pub server_bytes_per_connection: Option<f64>,
    /// Server VmRSS after the burst, KiB.
    pub server_rss_after_burst_kib: Option<u64>,
    /// The simultaneous `inbox` on every connection (with --burst).
    pub burst: Option<BurstReport>,
}

/// One `inbox` sent on every idle connection at the same instant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BurstReport {
    /// Requests sent.
    pub sent: usize,
    /// Replies with status OK.
    pub answered: usize,
    /// OK replies within the deadline.
    pub within_deadline: usize,
    /// The deadline, seconds.
    pub deadline_s: f64,
    /// From the common start to each reply.
    pub latency: Option<Latency>,
}

/// What `--workload mix` found beyond latency.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MixReport {
    /// Poll interval, seconds.
    pub poll_interval_s: f64,
    /// Send interval, seconds.
    pub send_every_s: f64,
    /// `inbox` requests answered in the window.
    pub inbox: u64,
    /// `user_aktif` requests answered in the window.
    pub user_aktif: u64,
    /// `send` requests answered in the window.
    pub send: u64,
    /// Polls that started more than one interval late (the client could not keep pace).
    pub late_polls: u64,
}

/// What `--workload delivery` found beyond latency (which is send-to-receive).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeliveryReport {
    /// `chat` or `irc`.
    pub protocol: &'static str,
    /// How receivers received: `sync` (waiting), `inbox` (polling), `push` (IRC).
    pub receive: &'static str,
    /// Sender/receiver pairs (0 with fan-out).
    pub pairs: usize,
    /// Receivers of the one sender, with `--fanout`.
    pub fanout: Option<usize>,
    /// Messages per second per sender.
    pub rate_per_sender: f64,
    /// Messages sent in the whole run (warm-up included).
    pub sent: u64,
    /// Of those, accepted by the server (chat: OK; IRC: written).
    pub accepted: u64,
    /// Accepted messages times the receivers each should reach.
    pub expected: u64,
    /// Messages sent inside the window and received (the latency samples).
    pub delivered: u64,
    /// Messages first received inside the window (the CPU divisor).
    pub received_in_window: u64,
    /// Accepted but not received by the end of the drain.
    pub lost: u64,
    /// Extra receipts of a message received already.
    pub duplicates: u64,
    /// Receipts of messages the server had not accepted.
    pub unexpected: u64,
    /// Texts that were not this run's (ignored).
    pub foreign: u64,
    /// Sends that started more than one interval late (the tool could not keep pace).
    pub late_sends: u64,
    /// From the sender's OK to the receipt (chat only), for messages sent in the window.
    pub ok_latency: Option<Latency>,
    /// Of those, received before the sender had read its OK (counted as 0).
    pub received_before_ok: u64,
    /// How long receivers kept reading after the window, seconds.
    pub drain_s: f64,
    /// Server CPU (user + system) in the window, seconds (with --server-pid).
    pub server_cpu_s: Option<f64>,
    /// Server CPU in the window per message received in it, microseconds.
    pub server_cpu_us_per_message: Option<f64>,
    /// Receiver requests (`sync`, `inbox`) in the window; 0 over IRC.
    pub receiver_requests: u64,
    /// `receiver_requests` per receiver per second: what an idle receiver costs.
    pub requests_per_receiver_per_s: f64,
}

/// A whole run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Always `chat-bench`.
    pub tool: &'static str,
    /// `--label`.
    pub label: Option<String>,
    /// `closed`, `mix`, `idle` or `raw`.
    pub mode: &'static str,
    /// The workload (`inbox`, `send`, `ping`, `mix`, or the raw line).
    pub workload: String,
    /// Server address.
    pub addr: String,
    /// Connections opened (asked for).
    pub connections: usize,
    /// Distinct accounts used.
    pub users: usize,
    /// Runtime worker threads.
    pub threads: usize,
    /// Warm-up, seconds.
    pub warmup_s: f64,
    /// Measured window, seconds.
    pub duration_s: f64,
    /// Successful requests in the window.
    pub ops: u64,
    /// `ops / duration_s`.
    pub ops_per_s: f64,
    /// Errors during the whole run, warm-up included.
    pub errors: Errors,
    /// Latency of the successful requests in the window.
    pub latency: Option<Latency>,
    /// Mix details.
    pub mix: Option<MixReport>,
    /// Idle details.
    pub idle: Option<IdleReport>,
    /// Delivery details.
    pub delivery: Option<DeliveryReport>,
}

impl Report {
    /// The report as one line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// Whether `--fail-on-error` should fail the run.
    pub fn failed(&self) -> bool {
        let idle_short = self
            .idle
            .as_ref()
            .is_some_and(|i| i.established < i.requested);
        let bad_delivery = self
            .delivery
            .as_ref()
            .is_some_and(|d| d.lost > 0 || d.duplicates > 0 || d.unexpected > 0);
        self.errors.total > 0
            || idle_short
            || bad_delivery
            || (self.idle.is_none() && self.ops == 0)
    }

    /// The report for people.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let label = self
            .label
            .as_deref()
            .map(|l| format!(" [{l}]"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "chat-bench{label}: {} {} on {} — {} connections, {} users, {} threads, {:.1}s (+{:.1}s warm-up)",
            self.mode,
            self.workload,
            self.addr,
            self.connections,
            self.users,
            self.threads,
            self.duration_s,
            self.warmup_s
        );
        if self.idle.is_none() {
            let _ = writeln!(
                out,
                "  ops:      {} ({:.0} ops/s)",
                self.ops, self.ops_per_s
            );
        }
        if let Some(l) = self.latency.as_ref().filter(|_| self.idle.is_none()) {
            let _ = writeln!(out, "  latency:  {}", latency_line(l));
        }
        if let Some(m) = &self.mix {
            let _ = writeln!(
                out,
                "  mix:      {} inbox, {} user_aktif, {} send; {} late polls (poll every {}s, send every {}s)",
                m.inbox, m.user_aktif, m.send, m.late_polls, m.poll_interval_s, m.send_every_s
            );
        }
        if let Some(i) = &self.idle {
            write_idle(&mut out, i);
        }
        if let Some(d) = &self.delivery {
            write_delivery(&mut out, d);
        }
        let e = &self.errors;
        let _ = writeln!(
            out,
            "  errors:   {} (ERROR replies {}, bad replies {}, broken connections {}, connect failures {}, timeouts {})",
            e.total,
            e.error_replies,
            e.bad_replies,
            e.broken_connections,
            e.connect_failures,
            e.timeouts
        );
        out
    }
}

fn write_idle(out: &mut String, i: &IdleReport) {
    let _ = writeln!(
        out,
        "  idle:     {} of {} established in {:.1}s",
        i.established, i.requested, i.connect_seconds
    );
    if let Some(err) = &i.first_error {
        let _ = writeln!(out, "  first error: {err}");
    }
    if let (Some(before), Some(after)) = (i.server_rss_before_kib, i.server_rss_after_kib) {
        let per = i
            .server_bytes_per_connection
            .map(|b| format!("{b:.0} B"))
            .unwrap_or_else(|| "-".into());
        let _ = writeln!(
            out,
            "  server RSS: {before} KiB before, {after} KiB with all open ({per} per connection)"
        );
    }
    if let Some(b) = &i.burst {
        let _ = writeln!(
            out,
            "  burst:    {} sent, {} answered, {} within {}s",
            b.sent, b.answered, b.within_deadline, b.deadline_s
        );
        if let Some(l) = &b.latency {
            let _ = writeln!(out, "  burst latency: {}", latency_line(l));
        }
    }
}

fn write_delivery(out: &mut String, d: &DeliveryReport) {
    let shape = match d.fanout {
        Some(k) => format!("1 sender to {k} receivers"),
        None => format!("{} pairs", d.pairs),
    };
    let _ = writeln!(
        out,
        "  delivery: {} ({}), {shape}, {} msg/s per sender; {} sent, {} accepted, {} delivered in the window",
        d.protocol, d.receive, d.rate_per_sender, d.sent, d.accepted, d.delivered
    );
    let _ = writeln!(
        out,
        "  lost:     {} of {} expected; duplicates {}; unexpected {}; foreign {}; late sends {} (drain {:.1}s)",
        d.lost, d.expected, d.duplicates, d.unexpected, d.foreign, d.late_sends, d.drain_s
    );
    if let Some(l) = &d.ok_latency {
        let _ = writeln!(
            out,
            "  from OK:  {} ({} received before their OK)",
            latency_line(l),
            d.received_before_ok
        );
    }
    let cpu = match (d.server_cpu_s, d.server_cpu_us_per_message) {
        (Some(s), Some(per)) => format!("{s:.2}s, {per:.1} µs per message received"),
        (Some(s), None) => format!("{s:.2}s"),
        _ => "- (no --server-pid)".into(),
    };
    let _ = writeln!(
        out,
        "  server CPU: {cpu} ({} in the window); receiver requests {} ({:.2}/receiver/s)",
        d.received_in_window, d.receiver_requests, d.requests_per_receiver_per_s
    );
}

/// `p50 0.123 ms  p99 ...` for one latency summary.
pub fn latency_line(l: &Latency) -> String {
    format!(
        "p50 {} ms  p90 {} ms  p99 {} ms  p99.9 {} ms  max {} ms  (mean {} ms, {} samples)",
        ms(l.p50_us),
        ms(l.p90_us),
        ms(l.p99_us),
        ms(l.p999_us),
        ms(l.max_us),
        ms(l.mean_us),
        l.count
    )
}

/// Microseconds as milliseconds with three decimals.
pub fn ms(us: f64) -> String {
    format!("{:.3}", us / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::new_histogram;

    fn report(latency: Option<Latency>) -> Report {
        Report {
            tool: "chat-bench",
            label: Some("inbox@50".into()),
            mode: "closed",
            workload: "inbox".into(),
            addr: "127.0.0.1:1".into(),
            connections: 50,
            users: 3,
            threads: 2,
            warmup_s: 1.0,
            duration_s: 2.0,
            ops: 1000,
            ops_per_s: 500.0,
            errors: Errors::default(),
            latency,
            mix: None,
            idle: None,
            delivery: None,
        }
    }

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut h = new_histogram();
        for us in 1..=1000u64 {
            h.record(us * 1000).expect("in range");
        }
        let l = Latency::of(&h).expect("not empty");
        assert_eq!(l.count, 1000);
        let near = |got: f64, want: f64| (got - want).abs() / want < 0.002;
        assert!(near(l.p50_us, 500.0), "{}", l.p50_us);
        assert!(near(l.p90_us, 900.0), "{}", l.p90_us);
        assert!(near(l.p99_us, 990.0), "{}", l.p99_us);
        assert!(near(l.p999_us, 999.0), "{}", l.p999_us);
        assert!(near(l.max_us, 1000.0), "{}", l.max_us);
        assert!(near(l.mean_us, 500.5), "{}", l.mean_us);
        assert_eq!(Latency::of(&new_histogram()), None);
    }

    #[test]
    fn json_has_the_fields_scripts_read() {
        let mut h = new_histogram();
        h.record(250_000).expect("in range");
        let json: serde_json::Value =
            serde_json::from_str(&report(Latency::of(&h)).to_json()).expect("json");
        assert_eq!(json["ops"], 1000);
        assert_eq!(json["ops_per_s"], 500.0);
        assert_eq!(json["errors"]["total"], 0);
        assert_eq!(json["label"], "inbox@50");
        assert!((json["latency"]["p99_us"].as_f64().expect("number") - 250.0).abs() < 0.5);
    }

    #[test]
    fn text_and_failure() {
        let mut h = new_histogram();
        h.record(1_234_567).expect("in range");
        let mut r = report(Latency::of(&h));
        let text = r.to_text();
        assert!(text.contains("1000 (500 ops/s)"), "{text}");
        assert!(
            text.contains("p50 1.234 ms") || text.contains("p50 1.235 ms"),
            "{text}"
        );
        assert!(text.contains("errors:   0"), "{text}");
        assert!(!r.failed());
        r.errors.total = 1;
        assert!(r.failed());
        r.errors.total = 0;
        r.ops = 0;
        assert!(r.failed());
    }

    #[test]
    fn milliseconds_have_three_decimals() {
        assert_eq!(ms(512.4), "0.512");
        assert_eq!(ms(15_000.0), "15.000");
    }
}
