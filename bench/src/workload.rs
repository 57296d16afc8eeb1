//! The closed loop: every connection sends its line, waits for the reply, and sends
//! again, until the window closes. Used for `inbox`, `send`, `ping` and `--raw`.

use crate::accounts::{self, Lines};
use crate::cli::{Options, Workload};
use crate::conn::{Conn, Framing};
use crate::pool::{OpenPlan, open_many};
use crate::report::{Errors, Latency, Report};
use crate::stats::{Recorder, Window};
use anyhow::{Result, bail};
use chat_protocol::Request;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// How long after the window closes a request may still be waited for.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// What the connections of a closed loop send.
#[derive(Debug, Clone)]
pub enum Load {
    /// A chat workload other than `mix`.
    Chat(Workload),
    /// Raw bytes and the reply terminator.
    Raw {
        /// Request.
        line: Vec<u8>,
        /// Reply terminator.
        terminator: Vec<u8>,
        /// Start of an error reply.
        error_prefix: Option<Vec<u8>>,
    },
}

/// The request line of each account (connection `i` uses `lines[i % len]`), how many
/// accounts, the framing, and the workload's name for the report.
struct Prepared {
    lines: Vec<Vec<u8>>,
    users: usize,
    framing: Framing,
    name: String,
    mode: &'static str,
}

async fn prepare(server: SocketAddr, opts: &Options, load: &Load) -> Result<Prepared> {
    Ok(match load {
        Load::Chat(Workload::Ping) => Prepared {
            lines: vec![Request::Ping.to_line().into_bytes()],
            users: 0,
            framing: Framing::chat(),
            name: "ping".into(),
            mode: "closed",
        },
        Load::Chat(workload) => {
            let accounts =
                accounts::from_options(opts.user_file.as_deref(), opts.users, opts.register)?;
            let tokens = accounts::log_in_all(server, &accounts).await?;
            let pick = |l: Lines| {
                if *workload == Workload::Send {
                    l.send
                } else {
                    l.inbox
                }
            };
            let lines = accounts::lines_per_account(&accounts, &tokens, &opts.message)
                .into_iter()
                .map(pick)
                .collect();
            Prepared {
                lines,
                users: accounts.len(),
                framing: Framing::chat(),
                name: workload.name().into(),
                mode: "closed",
            }
        }
        Load::Raw {
            line,
            terminator,
            error_prefix,
        } => Prepared {
            lines: vec![line.clone()],
            users: 0,
            framing: Framing::raw(terminator.clone(), error_prefix.clone()),
            name: String::from_utf8_lossy(line).escape_debug().to_string(),
            mode: "raw",
        },
    })
}

/// Opens the run's `opts.connections` connections; fails when none opened, and
/// counts the ones that did not in a new recorder for the run.
pub(crate) async fn open_for_run(
    server: SocketAddr,
    opts: &Options,
    framing: Framing,
) -> Result<(Vec<(usize, Conn)>, Arc<Recorder>)> {
    let opened = open_many(OpenPlan {
        server,
        count: opts.connections,
        source_ips: opts.source_ips_for(opts.connections),
        concurrency: opts.connect_concurrency,
        framing,
        hellos: Arc::new(Vec::new()),
    })
    .await;
    if opened.conns.is_empty() {
        bail!(
            "no connection could be opened: {}",
            opened.first_error.unwrap_or_default()
        );
    }
    let rec = Arc::new(Recorder::new(opts.connections));
    rec.counters
        .connect_failures
        .fetch_add(opened.failures as u64, Ordering::Relaxed);
    Ok((opened.conns, rec))
}

/// Runs a closed loop and reports it.
pub async fn run(server: SocketAddr, opts: &Options, load: Load) -> Result<Report> {
    let prepared = prepare(server, opts, &load).await?;
    let (conns, rec) = open_for_run(server, opts, prepared.framing.clone()).await?;
    let window = Window::after(opts.warmup, opts.duration);
    let mut tasks = JoinSet::new();
    for (index, conn) in conns {
        let line = prepared.lines[index % prepared.lines.len()].clone();
        tasks.spawn(closed_loop(conn, line, rec.clone(), index, window));
    }
    while tasks.join_next().await.is_some() {}
    Ok(finish(
        opts,
        server,
        &rec,
        window,
        prepared.mode,
        prepared.name,
        prepared.users,
    ))
}

/// One connection's loop; returns when the window closes or the connection fails.
async fn closed_loop(
    mut conn: Conn,
    line: Vec<u8>,
    rec: Arc<Recorder>,
    index: usize,
    window: Window,
) {
    let mut samples = rec.samples(index);
    let deadline = tokio::time::Instant::from_std(window.end + STOP_GRACE);
    loop {
        let sent = Instant::now();
        if sent >= window.end {
            break;
        }
        match tokio::time::timeout_at(deadline, conn.round_trip(&line)).await {
            Err(_) => {
                rec.counters.timeouts.fetch_add(1, Ordering::Relaxed);
                break;
            }
            Ok(Err(e)) => {
                rec.counters.failure(&e);
                break;
            }
            Ok(Ok(outcome)) => {
                let done = Instant::now();
                if rec.counters.outcome(outcome) && window.contains(sent, done) {
                    samples.record(done - sent);
                }
            }
        }
    }
}

/// The report of a run whose latencies are in `rec`.
pub fn finish(
    opts: &Options,
    server: SocketAddr,
    rec: &Recorder,
    window: Window,
    mode: &'static str,
    workload: String,
    users: usize,
) -> Report {
    let latency = rec.merged();
    let ops = latency.len();
    Report {
        tool: "chat-bench",
        label: opts.label.clone(),
        mode,
        workload,
        addr: server.to_string(),
        connections: opts.connections,
        users,
        threads: tokio::runtime::Handle::current().metrics().num_workers(),
        warmup_s: opts.warmup.as_secs_f64(),
        duration_s: window.seconds(),
        ops,
        ops_per_s: ops as f64 / window.seconds(),
        errors: Errors::from_counters(&rec.counters),
        latency: Latency::of(&latency),
        mix: None,
        idle: None,
        delivery: None,
    }
}
