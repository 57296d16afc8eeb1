//! `--workload mix`: a population of simulated TUI clients.
//!
//! Each client polls `inbox` and then `user_aktif` every `--poll-interval`, and sends a
//! message every `--send-every`, as the TUI's background worker does. Pacing is
//! open-loop per client (a client polls on its own clock whatever the others do) and
//! the clients' clocks are spread evenly over the interval, as real users' would be;
//! sends start at a random phase. Latency is measured per request, from writing it to
//! reading its whole reply. A poll that starts more than one interval late counts as a
//! late poll: the client, or the tool, could not keep up.

use crate::accounts::{self, Lines};
use crate::cli::Options;
use crate::conn::{Conn, Framing};
use crate::report::{MixReport, Report};
use crate::stats::{Recorder, Samples, Window};
use crate::workload::{STOP_GRACE, finish, open_for_run};
use anyhow::Result;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::task::JoinSet;
use tokio::time::sleep_until;

/// Requests answered in the window, by kind.
#[derive(Debug, Default)]
struct Tally {
    inbox: AtomicU64,
    user_aktif: AtomicU64,
    send: AtomicU64,
    late_polls: AtomicU64,
}

/// One client's clock.
#[derive(Debug, Clone, Copy)]
struct Pacing {
    poll: Duration,
    send_every: Duration,
    /// When the first poll is due.
    first_poll: Instant,
    /// When the first send is due.
    first_send: Instant,
}

impl Pacing {
    /// Client `index` of `clients`: polls spread evenly over one interval, sends at a
    /// pseudo-random phase of their interval.
    fn new(opts: &Options, base: Instant, index: usize, clients: usize) -> Self {
        let spread = |interval: Duration, num: u64, den: u64| {
            interval.mul_f64(num as f64 / den.max(1) as f64)
        };
        let phase = spread(opts.poll_interval, index as u64, clients as u64);
        let random = splitmix(index as u64) % 1_000_000;
        Pacing {
            poll: opts.poll_interval,
            send_every: opts.send_every,
            first_poll: base + phase,
            first_send: base + spread(opts.send_every, random, 1_000_000),
        }
    }
}

/// A well-mixed hash of `x` (SplitMix64), for phases without a random-number crate.
fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Runs the mix and reports it.
pub async fn run(server: SocketAddr, opts: &Options) -> Result<Report> {
    let accounts = accounts::from_options(opts.user_file.as_deref(), opts.users, opts.register)?;
    let tokens = accounts::log_in_all(server, &accounts).await?;
    let lines = accounts::lines_per_account(&accounts, &tokens, &opts.message);
    let (conns, rec) = open_for_run(server, opts, Framing::chat()).await?;
    let tally = Arc::new(Tally::default());
    let base = Instant::now();
    let window = Window::after(opts.warmup, opts.duration);
    let mut tasks = JoinSet::new();
    for (index, conn) in conns {
        let pacing = Pacing::new(opts, base, index, opts.connections);
        let client = Client {
            conn,
            lines: lines[index % lines.len()].clone(),
            rec: rec.clone(),
            tally: tally.clone(),
        };
        tasks.spawn(client.run(index, pacing, window));
    }
    while tasks.join_next().await.is_some() {}
    let mut report = finish(
        opts,
        server,
        &rec,
        window,
        "mix",
        "mix".into(),
        accounts.len(),
    );
    report.mix = Some(MixReport {
        poll_interval_s: opts.poll_interval.as_secs_f64(),
        send_every_s: opts.send_every.as_secs_f64(),
        inbox: tally.inbox.load(Ordering::Relaxed),
        user_aktif: tally.user_aktif.load(Ordering::Relaxed),
        send: tally.send.load(Ordering::Relaxed),
        late_polls: tally.late_polls.load(Ordering::Relaxed),
    });
    Ok(report)
}

/// One simulated client.
struct Client {
    conn: Conn,
    lines: Lines,
    rec: Arc<Recorder>,
    tally: Arc<Tally>,
}

/// Which request a client sends.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Inbox,
    UserAktif,
    Send,
}

impl Client {
    async fn run(mut self, index: usize, pacing: Pacing, window: Window) {
        let rec = self.rec.clone();
        let mut samples = rec.samples(index);
        let mut next_poll = pacing.first_poll;
        let mut next_send = pacing.first_send;
        loop {
            sleep_until(next_poll.min(next_send).into()).await;
            let now = Instant::now();
            if now >= window.end {
                break;
            }
            if next_send <= now {
                next_send += pacing.send_every;
                if !self.request(Kind::Send, &mut samples, window).await {
                    break;
                }
            }
            if next_poll <= now {
                if now - next_poll > pacing.poll {
                    if now >= window.start {
                        self.tally.late_polls.fetch_add(1, Ordering::Relaxed);
                    }
                    next_poll = now;
                }
                next_poll += pacing.poll;
                if !self.request(Kind::Inbox, &mut samples, window).await
                    || !self.request(Kind::UserAktif, &mut samples, window).await
                {
                    break;
                }
            }
        }
    }

    /// Sends one request; false when the connection is no longer usable.
    async fn request(&mut self, kind: Kind, samples: &mut Samples<'_>, window: Window) -> bool {
        let (line, counter) = match kind {
            Kind::Inbox => (&self.lines.inbox, &self.tally.inbox),
            Kind::UserAktif => (&self.lines.user_aktif, &self.tally.user_aktif),
            Kind::Send => (&self.lines.send, &self.tally.send),
        };
        let deadline = tokio::time::Instant::from_std(window.end + STOP_GRACE);
        let sent = Instant::now();
        match tokio::time::timeout_at(deadline, self.conn.round_trip(line)).await {
            Err(_) => {
                self.rec.counters.timeouts.fetch_add(1, Ordering::Relaxed);
                false
            }
            Ok(Err(e)) => {
                self.rec.counters.failure(&e);
                false
            }
            Ok(Ok(outcome)) => {
                let done = Instant::now();
                if self.rec.counters.outcome(outcome) && window.contains(sent, done) {
                    samples.record(done - sent);
                    counter.fetch_add(1, Ordering::Relaxed);
                }
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    #[test]
    fn clients_are_spread_over_the_interval() {
        let opts = Options::try_parse_from(["chat-bench", "-w", "mix"]).expect("options");
        let base = Instant::now();
        let first = Pacing::new(&opts, base, 0, 4);
        let third = Pacing::new(&opts, base, 2, 4);
        assert_eq!(first.first_poll, base);
        assert_eq!(third.first_poll - base, Duration::from_millis(500));
        for i in 0..100 {
            let p = Pacing::new(&opts, base, i, 100);
            assert!(p.first_send - base < opts.send_every);
            assert!(p.first_poll - base < opts.poll_interval);
        }
    }

    #[test]
    fn splitmix_spreads_neighbours() {
        let phases: std::collections::HashSet<u64> =
            (0..1000).map(|i| splitmix(i) % 1000).collect();
        assert!(phases.len() > 500);
    }
}
