//! `--idle N`: how many logged-in connections the server holds, what they cost it in
//! memory, and how fast it answers all of them at once.
//!
//! Every connection is opened (from a spread of loopback source addresses) and logged
//! in: its first request is an `inbox` with its account's token, which must be
//! answered OK. The tool then reads the server's VmRSS (with `--server-pid`), and with
//! `--burst` releases one `inbox` on every connection at the same instant, timing each
//! reply from that instant. The connections are held for `--duration` after the last
//! one opened, then closed.

use crate::accounts;
use crate::cli::Options;
use crate::conn::{Conn, Framing, Outcome};
use crate::pool::{OpenPlan, open_many};
use crate::report::{BurstReport, Errors, IdleReport, Latency, Report};
use crate::stats::Recorder;
use anyhow::Result;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Pause before each memory reading, so the server has finished its own bookkeeping
/// and its allocator has returned the scratch memory of the logins (argon2 takes
/// 19 MiB per password check) to the system.
const SETTLE: Duration = Duration::from_secs(1);

/// Resident memory of process `pid` in KiB (`VmRSS` in `/proc/PID/status`).
pub fn vm_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_vm_rss(&status)
}

/// The `VmRSS:` value of a `/proc/PID/status` text, in KiB.
pub fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Runs idle mode with `count` connections.
pub async fn run(server: SocketAddr, opts: &Options, count: usize) -> Result<Report> {
    let accounts = accounts::from_options(opts.user_file.as_deref(), opts.users, opts.register)?;
    let tokens = accounts::log_in_all(server, &accounts).await?;
    let lines = accounts::lines_per_account(&accounts, &tokens, &opts.message);
    let inbox: Vec<Vec<u8>> = lines.into_iter().map(|l| l.inbox).collect();
    let rss = || opts.server_pid.and_then(vm_rss_kib);
    if opts.server_pid.is_some() {
        tokio::time::sleep(SETTLE).await;
    }
    let rss_before = rss();
    let opened = open_many(OpenPlan {
        server,
        count,
        source_ips: opts.source_ips_for(count),
        concurrency: opts.connect_concurrency,
        framing: Framing::chat(),
        hellos: Arc::new(inbox.clone()),
    })
    .await;
    let hold_until = Instant::now() + opts.duration;
    tokio::time::sleep(SETTLE).await;
    let rss_after = rss();
    let established = opened.conns.len();
    let rec = Recorder::new(1);
    rec.counters
        .connect_failures
        .fetch_add(opened.failures as u64, Ordering::Relaxed);

    let (conns, burst) = if opts.burst {
        let (conns, burst) = burst(opened.conns, &inbox, opts.burst_deadline, &rec).await;
        (conns, Some(burst))
    } else {
        (opened.conns, None)
    };
    let rss_after_burst = if burst.is_some() { rss() } else { None };
    tokio::time::sleep_until(hold_until.into()).await;
    drop(conns);

    let per_connection = match (rss_before, rss_after) {
        (Some(b), Some(a)) if established > 0 => {
            Some((a as f64 - b as f64) * 1024.0 / established as f64)
        }
        _ => None,
    };
    let latency = burst.as_ref().and_then(|b| b.latency);
    Ok(Report {
        tool: "chat-bench",
        label: opts.label.clone(),
        mode: "idle",
        workload: if opts.burst {
            "hold+burst".into()
        } else {
            "hold".into()
        },
        addr: server.to_string(),
        connections: count,
        users: accounts.len(),
        threads: tokio::runtime::Handle::current().metrics().num_workers(),
        warmup_s: 0.0,
        duration_s: opts.duration.as_secs_f64(),
        ops: 0,
        ops_per_s: 0.0,
        errors: Errors::from_counters(&rec.counters),
        latency,
        mix: None,
        idle: Some(IdleReport {
            requested: count,
            established,
            connect_seconds: opened.seconds,
            first_error: opened.first_error,
            server_rss_before_kib: rss_before,
            server_rss_after_kib: rss_after,
            server_bytes_per_connection: per_connection,
            server_rss_after_burst_kib: rss_after_burst,
            burst,
        }),
        delivery: None,
    })
}

/// Sends one `inbox` on every connection at the same instant; gives the connections
/// that are still usable back.
async fn burst(
    conns: Vec<(usize, Conn)>,
    inbox: &[Vec<u8>],
    deadline: Duration,
    rec: &Recorder,
) -> (Vec<(usize, Conn)>, BurstReport) {
    let sent = conns.len();
    let (go, ready) = watch::channel(None::<Instant>);
    let within = Arc::new(AtomicUsize::new(0));
    let burst_rec = Arc::new(Recorder::new(32));
    let mut tasks = JoinSet::new();
    for (index, mut conn) in conns {
        let line = inbox[index % inbox.len().max(1)].clone();
        let mut ready = ready.clone();
        let (within, burst_rec) = (within.clone(), burst_rec.clone());
        tasks.spawn(async move {
            let Ok(start) = ready
                .wait_for(Option::is_some)
                .await
                .map(|s| s.unwrap_or_else(Instant::now))
            else {
                return None;
            };
            let limit = (deadline * 5).max(Duration::from_secs(10));
            let result = tokio::time::timeout(limit, conn.round_trip(&line)).await;
            let elapsed = start.elapsed();
            match result {
                Ok(Ok(Outcome::Ok)) => {
                    burst_rec.samples(index).record(elapsed);
                    if elapsed <= deadline {
                        within.fetch_add(1, Ordering::Relaxed);
                    }
                    Some((index, conn, Ok(())))
                }
                Ok(Ok(other)) => Some((index, conn, Err(Some(other)))),
                Ok(Err(e)) => {
                    burst_rec.counters.failure(&e);
                    None
                }
                Err(_) => {
                    burst_rec.counters.timeouts.fetch_add(1, Ordering::Relaxed);
                    None
                }
            }
        });
    }
    // Give every task the chance to park on the channel before the start signal.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _ = go.send(Some(Instant::now()));
    let mut kept = Vec::with_capacity(sent);
    while let Some(joined) = tasks.join_next().await {
        if let Ok(Some((index, conn, result))) = joined {
            if let Err(Some(outcome)) = result {
                rec.counters.outcome(outcome);
            }
            kept.push((index, conn));
        }
    }
    for (from, to) in [
        (
            &burst_rec.counters.broken_connections,
            &rec.counters.broken_connections,
        ),
        (&burst_rec.counters.timeouts, &rec.counters.timeouts),
        (&burst_rec.counters.bad_replies, &rec.counters.bad_replies),
    ] {
        to.fetch_add(from.load(Ordering::Relaxed), Ordering::Relaxed);
    }
    let latency = burst_rec.merged();
    let report = BurstReport {
        sent,
        answered: latency.len() as usize,
        within_deadline: within.load(Ordering::Relaxed),
        deadline_s: deadline.as_secs_f64(),
        latency: Latency::of(&latency),
    };
    (kept, report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_rss_is_read_from_status() {
        let status = "Name:\tchat-server\nVmPeak:\t  9000 kB\nVmRSS:\t   12345 kB\nThreads:\t3\n";
        assert_eq!(parse_vm_rss(status), Some(12345));
        assert_eq!(parse_vm_rss("Name: x\n"), None);
        assert!(vm_rss_kib(std::process::id()).is_some_and(|kib| kib > 0));
    }
}
