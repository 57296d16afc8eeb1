//! Delivery over IRC: senders `PRIVMSG <receiver> :<text>` (or, with `--fanout`,
//! `PRIVMSG #channel :<text>` to a channel every receiver has joined); receivers read
//! their lines. Every client registers with a fresh nick (`--nick-prefix`, a random
//! part of this run, `s<i>` or `r<i>`) and answers `PING`. IRC has no acknowledgement:
//! a message counts as accepted once it is written.

use super::irc::{ERROR_NUMERICS, Event, IrcConn, parse};
use super::tally::{ReceiverLog, Schedule, SenderLog};
use super::{Finished, Plan, Shared, run_tag, sample_cpu};
use crate::cli::Options;
use crate::conn::{ConnError, connect};
use anyhow::{Context as _, Result, bail};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::{sleep_until, timeout, timeout_at};

/// How long one client may take to connect, register and join.
const OPEN_TIMEOUT: Duration = Duration::from_secs(180);
/// How long one TCP connect may take before it is tried again with a new socket (a
/// server with a short listen backlog, such as ngIRCd's 10, drops SYNs under a
/// connection storm, and the kernel's own retries back off to tens of seconds). Not
/// shorter: a socket given up while its SYN waits in the backlog is accepted later
/// and closed, which only adds to the storm (5 s made ngIRCd stall at 8 000 clients).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Connect attempts per client.
const CONNECT_ATTEMPTS: u32 = 5;

/// The nicks and channel of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    /// `--nick-prefix` and this run's random part.
    pub stem: String,
    /// Senders come first.
    pub senders: usize,
}

impl Names {
    /// Names for a run with `senders` senders.
    pub fn new(prefix: &str, random: u32, senders: usize) -> Names {
        Names {
            stem: format!("{prefix}{:05x}", random & 0xf_ffff),
            senders,
        }
    }

    /// Nick of connection `index` (senders, then receivers).
    pub fn nick(&self, index: usize) -> String {
        match index.checked_sub(self.senders) {
            None => format!("{}s{index}", self.stem),
            Some(r) => format!("{}r{r}", self.stem),
        }
    }

    /// The fan-out channel.
    pub fn channel(&self) -> String {
        format!("#{}", self.stem)
    }
}

/// Runs the IRC side of delivery mode.
pub(super) async fn run(server: SocketAddr, opts: &Options, plan: Plan) -> Result<Finished> {
    let total = plan.senders + plan.receivers;
    let names = Arc::new(Names::new(&opts.nick_prefix, run_tag(), plan.senders));
    let spread = opts.source_ips_for(total);
    let permits = Arc::new(Semaphore::new(opts.connect_concurrency.max(1)));
    let mut opening = JoinSet::new();
    for index in 0..total {
        let (names, permits) = (names.clone(), permits.clone());
        let fanout = plan.fanout;
        opening.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let opened = timeout(OPEN_TIMEOUT, open(server, index, spread, &names, fanout)).await;
            (
                index,
                opened.unwrap_or_else(|_| Err("timed out opening".into())),
            )
        });
    }
    let mut conns = Vec::with_capacity(total);
    let mut first_error = None;
    while let Some(joined) = opening.join_next().await {
        match joined.context("opening task")? {
            (index, Ok(conn)) => conns.push((index, conn)),
            (_, Err(e)) => {
                first_error.get_or_insert(e);
            }
        }
    }
    if conns.len() < total {
        bail!(
            "only {} of {total} IRC clients registered: {}",
            conns.len(),
            first_error.unwrap_or_default()
        );
    }

    let shared = Arc::new(Shared::new(opts, total));
    let cpu = sample_cpu(opts.server_pid, shared.window);
    let mut senders = JoinSet::new();
    let mut receivers = JoinSet::new();
    for (index, conn) in conns {
        let shared = shared.clone();
        if index < plan.senders {
            let target = match plan.fanout {
                true => names.channel(),
                false => names.nick(plan.senders + index),
            };
            let schedule = Schedule::new(index, plan.senders, opts.rate);
            senders.spawn(async move {
                let log = sender(conn, &target, index as u32, schedule, &shared).await;
                (index, log)
            });
        } else {
            let r = index - plan.senders;
            let log = ReceiverLog::new(plan.stream_of(r));
            receivers.spawn(async move { (r, receiver(conn, log, &shared, index).await) });
        }
    }
    let mut send_logs = vec![SenderLog::default(); plan.senders];
    while let Some(joined) = senders.join_next().await {
        let (i, log) = joined.context("sender task")?;
        send_logs[i] = log;
    }
    let mut receive_logs = vec![ReceiverLog::default(); plan.receivers];
    while let Some(joined) = receivers.join_next().await {
        let (r, log) = joined.context("receiver task")?;
        receive_logs[r] = log;
    }
    Ok(Finished {
        shared,
        senders: send_logs,
        receivers: receive_logs,
        cpu: cpu.await.ok().flatten(),
        receive: "push",
    })
}

/// Connects client `index`, registers it, and with fan-out joins the channel.
async fn open(
    server: SocketAddr,
    index: usize,
    spread: u32,
    names: &Names,
    fanout: bool,
) -> Result<IrcConn, String> {
    let mut attempt = 0;
    let stream = loop {
        attempt += 1;
        match timeout(CONNECT_TIMEOUT, connect(server, index, spread)).await {
            Ok(Ok(stream)) => break stream,
            Ok(Err(e)) if attempt >= CONNECT_ATTEMPTS => return Err(format!("connect: {e}")),
            Err(_) if attempt >= CONNECT_ATTEMPTS => {
                return Err(format!("connect: no answer in {CONNECT_ATTEMPTS} attempts"));
            }
            _ => {}
        }
    };
    let mut conn = IrcConn::new(stream);
    conn.register(&names.nick(index)).await?;
    if fanout {
        conn.join(&names.channel()).await?;
    }
    Ok(conn)
}

/// Handles a line that is not a message for us: PING, error numerics, ERROR.
/// Returns false when the connection is finished.
async fn housekeeping(conn: &mut IrcConn, event: Event<'_>, shared: &Shared) -> bool {
    let counters = &shared.rec.counters;
    match event {
        Event::Numeric(n, _) if ERROR_NUMERICS.contains(&n) => {
            counters.error_replies.fetch_add(1, Ordering::Relaxed);
            true
        }
        Event::Error(_) => {
            counters.broken_connections.fetch_add(1, Ordering::Relaxed);
            false
        }
        other => match conn.pong_if_ping(other).await {
            Ok(_) => true,
            Err(e) => {
                counters.failure(&e);
                false
            }
        },
    }
}

/// What woke a sender.
enum Wake {
    Line(Result<String, ConnError>),
    Send,
    Stop,
}

/// One sender: PRIVMSGs `target` on `schedule` until the window ends, answering
/// PINGs, and stays connected until the receivers stop.
async fn sender(
    mut conn: IrcConn,
    target: &str,
    stream: u32,
    schedule: Schedule,
    shared: &Shared,
) -> SenderLog {
    let mut log = SenderLog::default();
    let mut k = 0u32;
    let first = shared.epoch + schedule.at(0);
    let mut next = (first < shared.window.end).then_some(first);
    loop {
        let wake = tokio::select! {
            line = conn.next_line() => Wake::Line(line),
            _ = sleep_until(next.unwrap_or(shared.stop).into()) => {
                if next.is_some() { Wake::Send } else { Wake::Stop }
            }
        };
        match wake {
            Wake::Stop => break,
            Wake::Line(Err(e)) => {
                shared.rec.counters.failure(&e);
                break;
            }
            Wake::Line(Ok(line)) => {
                if !housekeeping(&mut conn, parse(&line), shared).await {
                    break;
                }
            }
            Wake::Send => {
                let at = shared.epoch + schedule.at(k);
                shared.check_late(at, Instant::now(), schedule.interval);
                let stamp = shared.stamp(stream, k);
                log.sent_us.push(stamp.sent_us);
                let text = stamp.encode();
                let sent = conn
                    .send(format!("PRIVMSG {target} :{text}\r\n").as_bytes())
                    .await;
                log.ok.push(sent.is_ok());
                if let Err(e) = sent {
                    shared.rec.counters.failure(&e);
                    break;
                }
                k += 1;
                let at = shared.epoch + schedule.at(k);
                next = (at < shared.window.end).then_some(at);
            }
        }
    }
    log
}

/// One receiver: reads lines until the stop, stamping each PRIVMSG on arrival.
async fn receiver(
    mut conn: IrcConn,
    mut log: ReceiverLog,
    shared: &Shared,
    index: usize,
) -> ReceiverLog {
    let mut samples = shared.rec.samples(index);
    loop {
        let line = match timeout_at(shared.stop.into(), conn.next_line()).await {
            Err(_) => break,
            Ok(Err(e)) => {
                shared.rec.counters.failure(&e);
                break;
            }
            Ok(Ok(line)) => line,
        };
        let at = Instant::now();
        match parse(&line) {
            Event::Privmsg { text, .. } => shared.arrival(text, at, &mut log, &mut samples),
            other => {
                if !housekeeping(&mut conn, other, shared).await {
                    break;
                }
            }
        }
    }
    log
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nicks_are_fresh_per_run_and_short() {
        let a = Names::new("cb", 0x1234_5678, 2);
        assert_eq!(a.nick(0), "cb45678s0");
        assert_eq!(a.nick(1), "cb45678s1");
        assert_eq!(a.nick(2), "cb45678r0");
        assert_eq!(a.nick(9001), "cb45678r8999");
        assert_eq!(a.channel(), "#cb45678");
        assert_ne!(Names::new("cb", 0x1234_5679, 2).nick(0), a.nick(0));
    }
}
