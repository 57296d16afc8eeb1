//! `--workload delivery`: how fast, how completely and at what server CPU a message
//! gets from one user to another, over chat-server (`--protocol chat`, receivers
//! waiting in `sync` or polling `inbox`) or an IRC server (`--protocol irc`, PRIVMSG).
//!
//! N sender/receiver pairs (2N connections), or with `--fanout K` one sender and K
//! receivers (an IRC channel of K members). Every sender sends `--rate` messages per
//! second on a fixed schedule ([`tally::Schedule`], open loop) from the start of the
//! warm-up to the end of the window; each text carries its sender, number and send
//! time ([`tally::Stamp`]). The receivers keep reading until `--drain` after the
//! window. Latency is from just before the send line is written to the moment the
//! receiver has read the line or reply that carries the message; it is recorded for
//! messages sent inside the window; over chat also from the sender's OK (the OK may
//! come after the receipt: such messages count 0 and are counted). Every message of the run counts for lost (accepted
//! by the server, never received by the end of the drain) and duplicates (received
//! again). Server CPU (utime + stime of `--server-pid`) is read at the window's start
//! and end and divided by the messages first received inside the window.

mod chat;
pub mod irc;
mod irc_load;
pub mod tally;

use crate::cli::{Options, Protocol, Receive};
use crate::report::{DeliveryReport, Errors, Latency, Report};
use crate::stats::{Recorder, Samples, Window, new_histogram};
use anyhow::{Result, bail};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tally::{ReceiverLog, SenderLog, Stamp, account, cpu_time, ok_to_arrival};

/// Who sends to whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Sending connections.
    pub senders: usize,
    /// Receiving connections.
    pub receivers: usize,
    /// One sender, every receiver in its group (`--fanout`).
    pub fanout: bool,
}

impl Plan {
    /// The plan the options ask for: `--fanout K`, else `--pairs N`.
    pub fn of(opts: &Options) -> Plan {
        match opts.fanout {
            Some(k) => Plan {
                senders: 1,
                receivers: k,
                fanout: true,
            },
            None => Plan {
                senders: opts.pairs,
                receivers: opts.pairs,
                fanout: false,
            },
        }
    }

    /// The sender receiver `r` listens to.
    pub fn stream_of(&self, r: usize) -> u32 {
        if self.fanout { 0 } else { r as u32 }
    }
}

/// State shared by every task of a run.
#[derive(Debug)]
pub struct Shared {
    /// Time zero of the stamps.
    pub epoch: Instant,
    /// This run's tag (in every text).
    pub tag: u32,
    /// The measured window.
    pub window: Window,
    /// When the receivers stop (window end + drain).
    pub stop: Instant,
    /// Latency histograms and error counters.
    pub rec: Recorder,
    /// Messages first received inside the window.
    pub received_in_window: AtomicU64,
    /// Receiver requests (`sync`, `inbox`) sent inside the window.
    pub requests_in_window: AtomicU64,
    /// Sends that started more than one interval after their scheduled time.
    pub late_sends: AtomicU64,
}

impl Shared {
    /// A run starting now: warm-up, window, drain.
    pub fn new(opts: &Options, tasks: usize) -> Shared {
        let epoch = Instant::now();
        let start = epoch + opts.warmup;
        let end = start + opts.duration;
        Shared {
            epoch,
            tag: run_tag(),
            window: Window { start, end },
            stop: end + opts.effective_drain(),
            rec: Recorder::new(tasks),
            received_in_window: AtomicU64::new(0),
            requests_in_window: AtomicU64::new(0),
            late_sends: AtomicU64::new(0),
        }
    }

    /// Microseconds from the epoch to `at` (0 before it).
    pub fn micros(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_micros()).unwrap_or(u64::MAX)
    }

    /// The stamp of message `seq` of `stream`, sent now.
    pub fn stamp(&self, stream: u32, seq: u32) -> Stamp {
        let sent_us = self.micros(Instant::now());
        Stamp {
            tag: self.tag,
            stream,
            seq,
            sent_us,
        }
    }

    /// A text that arrived at `at`: counted in `log`; its latency recorded when it is
    /// the first arrival of a message sent inside the window.
    pub fn arrival(&self, text: &str, at: Instant, log: &mut ReceiverLog, samples: &mut Samples) {
        let Some(stamp) = Stamp::decode(text) else {
            log.foreign += 1;
            return;
        };
        if log.record(&stamp, self.tag, self.micros(at)) != 1 {
            return;
        }
        let sent = self.epoch + Duration::from_micros(stamp.sent_us);
        if sent >= self.window.start && sent < self.window.end {
            samples.record(at.saturating_duration_since(sent));
        }
        if at >= self.window.start && at < self.window.end {
            self.received_in_window.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts a receiver request sent at `at`.
    pub fn request(&self, at: Instant) {
        if at >= self.window.start && at < self.window.end {
            self.requests_in_window.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts a send that started more than `interval` after its time.
    pub fn check_late(&self, scheduled: Instant, now: Instant, interval: Duration) {
        if now > scheduled + interval {
            self.late_sends.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A tag that differs between runs: the clock's nanoseconds mixed with the process id.
pub(crate) fn run_tag() -> u32 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut x = nanos ^ (u64::from(std::process::id()) << 32);
    // splitmix64's finaliser.
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (x ^ (x >> 31)) as u32
}

/// What the protocol side hands back once every task has ended.
pub(crate) struct Finished {
    /// The run's shared state.
    pub shared: Arc<Shared>,
    /// Per sender.
    pub senders: Vec<SenderLog>,
    /// Per receiver.
    pub receivers: Vec<ReceiverLog>,
    /// Server CPU time in the window.
    pub cpu: Option<Duration>,
    /// How the receivers received: `sync`, `inbox` or `push` (IRC).
    pub receive: &'static str,
}

/// Runs delivery mode.
pub async fn run(server: SocketAddr, opts: &Options) -> Result<Report> {
    let plan = Plan::of(opts);
    let done = match opts.protocol {
        Protocol::Chat if plan.fanout => bail!(
            "--fanout needs groups in chat-server (issue 18), which do not exist yet; \
             use --protocol irc for the IRC channel side"
        ),
        Protocol::Chat => chat::run(server, opts, plan).await?,
        Protocol::Irc => irc_load::run(server, opts, plan).await?,
    };
    Ok(done.report(opts, server, plan))
}

/// Reads the CPU time of `pid` at the window's start and end; the difference.
pub(crate) fn sample_cpu(
    pid: Option<u32>,
    window: Window,
) -> tokio::task::JoinHandle<Option<Duration>> {
    tokio::spawn(async move {
        let pid = pid?;
        tokio::time::sleep_until(window.start.into()).await;
        let before = cpu_time(pid)?;
        tokio::time::sleep_until(window.end.into()).await;
        let after = cpu_time(pid)?;
        Some(after.saturating_sub(before))
    })
}

impl Finished {
    fn report(self, opts: &Options, server: SocketAddr, plan: Plan) -> Report {
        let shared = &self.shared;
        let latency = shared.rec.merged();
        let delivered = latency.len();
        let seconds = shared.window.seconds();
        let totals = account(&self.senders, &self.receivers);
        let window_us = shared.micros(shared.window.start)..shared.micros(shared.window.end);
        let (after_ok, before_ok) = ok_to_arrival(&self.senders, &self.receivers, window_us);
        let mut ok_histogram = new_histogram();
        for us in after_ok {
            ok_histogram.saturating_record(us.saturating_mul(1000).max(1));
        }
        let received = shared.received_in_window.load(Ordering::Relaxed);
        let requests = shared.requests_in_window.load(Ordering::Relaxed);
        let cpu_us_per_message = match (self.cpu, received) {
            (Some(cpu), n) if n > 0 => Some(cpu.as_secs_f64() * 1e6 / n as f64),
            _ => None,
        };
        let delivery = DeliveryReport {
            protocol: opts.protocol.name(),
            receive: self.receive,
            pairs: if plan.fanout { 0 } else { plan.senders },
            fanout: plan.fanout.then_some(plan.receivers),
            rate_per_sender: opts.rate,
            sent: self.senders.iter().map(|s| s.ok.len() as u64).sum(),
            accepted: self
                .senders
                .iter()
                .flat_map(|s| &s.ok)
                .filter(|ok| **ok)
                .count() as u64,
            expected: totals.expected,
            delivered,
            received_in_window: received,
            lost: totals.lost,
            duplicates: totals.duplicates,
            unexpected: totals.unexpected,
            foreign: totals.foreign,
            late_sends: shared.late_sends.load(Ordering::Relaxed),
            ok_latency: Latency::of(&ok_histogram),
            received_before_ok: before_ok,
            drain_s: opts.effective_drain().as_secs_f64(),
            server_cpu_s: self.cpu.map(|c| c.as_secs_f64()),
            server_cpu_us_per_message: cpu_us_per_message,
            receiver_requests: requests,
            requests_per_receiver_per_s: requests as f64 / plan.receivers.max(1) as f64 / seconds,
        };
        let workload = match plan.fanout {
            true => format!("{} fan-out to {}", opts.protocol.name(), plan.receivers),
            false => format!("{} {} pairs", opts.protocol.name(), plan.senders),
        };
        Report {
            tool: "chat-bench",
            label: opts.label.clone(),
            mode: "delivery",
            workload,
            addr: server.to_string(),
            connections: plan.senders + plan.receivers,
            users: plan.senders + plan.receivers,
            threads: tokio::runtime::Handle::current().metrics().num_workers(),
            warmup_s: opts.warmup.as_secs_f64(),
            duration_s: seconds,
            ops: delivered,
            ops_per_s: delivered as f64 / seconds,
            errors: Errors::from_counters(&shared.rec.counters),
            latency: Latency::of(&latency),
            mix: None,
            idle: None,
            delivery: Some(delivery),
        }
    }
}

/// The receive mode's name in reports.
pub(crate) fn receive_name(r: Receive) -> &'static str {
    match r {
        Receive::Sync => "sync",
        Receive::Inbox => "inbox",
    }
}
