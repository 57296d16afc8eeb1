//! Delivery over chat-server: each sender `send`s to its receiver; each receiver keeps
//! one `sync <token> <after_id> <wait>` waiting (reissued at once with the answer's
//! `next`), or polls `inbox <token>` every `--poll-interval` (phases spread evenly).

use super::tally::{ReceiverLog, Schedule, SenderLog};
use super::{Finished, Plan, Shared, receive_name, sample_cpu};
use crate::accounts;
use crate::cli::{Options, Receive};
use crate::conn::{Conn, Framing};
use crate::pool::{OpenPlan, open_many};
use crate::workload::STOP_GRACE;
use anyhow::{Context as _, Result, bail};
use chat_protocol::{Dialect, Request};
use serde::Deserialize;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;
use tokio::time::{sleep_until, timeout_at};

/// A `sync` answer, read leniently: unknown fields (presence, group) are ignored.
#[derive(Debug, Deserialize)]
struct SyncBody {
    status: String,
    #[serde(default)]
    message: Option<Value>,
    #[serde(default)]
    messages: Vec<SyncMessage>,
    #[serde(default)]
    next: Option<u64>,
    #[serde(default)]
    more: bool,
}

#[derive(Debug, Deserialize)]
struct SyncMessage {
    msg: String,
}

/// One page of `sync`: the texts in order, the cursor to ask with next, and whether
/// more are waiting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Message texts, oldest first.
    pub texts: Vec<String>,
    /// The `after_id` of the next request.
    pub next: u64,
    /// Whether the server has more at once.
    pub more: bool,
}

/// Why an answer could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejected {
    /// `"status": "ERROR"`, with its message.
    Error(String),
    /// Not a reply of the expected shape.
    Bad(String),
}

/// Reads a `sync` answer (see `/work/notes/sync-spec.md`, issue 14).
pub fn parse_sync(body: &[u8]) -> Result<Page, Rejected> {
    let b: SyncBody = serde_json::from_slice(body).map_err(|e| Rejected::Bad(e.to_string()))?;
    if b.status != "OK" {
        return Err(Rejected::Error(message_of(b.message)));
    }
    let next = b
        .next
        .ok_or_else(|| Rejected::Bad("a sync answer without `next`".into()))?;
    Ok(Page {
        texts: b.messages.into_iter().map(|m| m.msg).collect(),
        next,
        more: b.more,
    })
}

/// Reads an `inbox` answer: the texts of every sender's group, in the server's order.
pub fn parse_inbox(body: &[u8]) -> Result<Vec<String>, Rejected> {
    let v: Value = serde_json::from_slice(body).map_err(|e| Rejected::Bad(e.to_string()))?;
    if v["status"] != "OK" {
        return Err(Rejected::Error(message_of(v.get("message").cloned())));
    }
    let mut texts = Vec::new();
    if let Some(groups) = v["messages"].as_object() {
        for group in groups.values() {
            for m in group.as_array().into_iter().flatten() {
                if let Some(text) = m["msg"].as_str() {
                    texts.push(text.to_string());
                }
            }
        }
    }
    Ok(texts)
}

fn message_of(v: Option<Value>) -> String {
    match v {
        Some(Value::String(s)) => s,
        Some(other) => other.to_string(),
        None => "no message".into(),
    }
}

/// The `sync` request line (no presence: delivery is what is measured).
pub fn sync_line(token: &str, after: u64, wait: u32) -> String {
    Request::Sync {
        token: token.into(),
        after_id: i64::try_from(after).unwrap_or(i64::MAX),
        wait_seconds: wait,
        presence: false,
    }
    .to_line()
}

/// How a receiver starts: the cursor after everything already there (sync), or an
/// inbox drained of leftovers.
async fn baseline(conn: &mut Conn, receive: Receive, token: &str) -> Result<u64> {
    match receive {
        Receive::Sync => {
            let mut after = 0;
            loop {
                conn.send(sync_line(token, after, 0).as_bytes()).await?;
                match parse_sync(&conn.read_body().await?) {
                    Ok(page) if page.more => after = page.next,
                    Ok(page) => return Ok(page.next),
                    Err(Rejected::Error(m)) => bail!(
                        "the server answered `sync` with ERROR ({m}): it lacks the sync command of \
                         issue 14; --receive inbox works with it"
                    ),
                    Err(Rejected::Bad(m)) => bail!("unreadable sync answer: {m}"),
                }
            }
        }
        Receive::Inbox => {
            let line = inbox_line(token);
            conn.send(line.as_bytes()).await?;
            match parse_inbox(&conn.read_body().await?) {
                Ok(_) => Ok(0),
                Err(Rejected::Error(m) | Rejected::Bad(m)) => bail!("first inbox: {m}"),
            }
        }
    }
}

fn inbox_line(token: &str) -> String {
    Request::Inbox {
        dialect: Dialect::Course,
        token: token.into(),
    }
    .to_line()
}

/// Runs the chat side of delivery mode.
pub(super) async fn run(server: SocketAddr, opts: &Options, plan: Plan) -> Result<Finished> {
    let total = plan.senders + plan.receivers;
    let accounts = accounts::from_options(opts.user_file.as_deref(), total, opts.register)?;
    let tokens = accounts::log_in_all(server, &accounts).await?;
    let opened = open_many(OpenPlan {
        server,
        count: total,
        source_ips: opts.source_ips_for(total),
        concurrency: opts.connect_concurrency,
        framing: Framing::chat(),
        hellos: Arc::new(Vec::new()),
    })
    .await;
    if opened.conns.len() < total {
        bail!(
            "only {} of {total} connections opened: {}",
            opened.conns.len(),
            opened.first_error.unwrap_or_default()
        );
    }
    // Receivers' starting points, all before the first send.
    let mut starts = JoinSet::new();
    let mut senders = Vec::new();
    for (index, mut conn) in opened.conns {
        if index < plan.senders {
            senders.push((index, conn));
            continue;
        }
        let token = tokens[index].clone();
        let receive = opts.receive;
        starts.spawn(async move {
            let after = baseline(&mut conn, receive, &token).await;
            (index, conn, after)
        });
    }
    let mut receivers = Vec::new();
    while let Some(joined) = starts.join_next().await {
        let (index, conn, after) = joined.context("receiver set-up")?;
        receivers.push((index, conn, after?));
    }

    let shared = Arc::new(Shared::new(opts, total));
    let cpu = sample_cpu(opts.server_pid, shared.window);
    let mut send_tasks = JoinSet::new();
    for (index, conn) in senders {
        let to = &accounts[plan.senders + index].username;
        let prefix = format!("send {} {to} ", tokens[index]);
        let schedule = Schedule::new(index, plan.senders, opts.rate);
        let task = sender(conn, prefix, index as u32, schedule, shared.clone());
        send_tasks.spawn(async move { (index, task.await) });
    }
    let mut receive_tasks = JoinSet::new();
    for (index, conn, after) in receivers {
        let r = index - plan.senders;
        let shared = shared.clone();
        let token = tokens[index].clone();
        let log = ReceiverLog::new(plan.stream_of(r));
        let (wait, poll) = (opts.sync_wait, opts.poll_interval);
        let schedule = Schedule {
            phase: poll.mul_f64(r as f64 / plan.receivers as f64),
            interval: poll,
        };
        let receive = opts.receive;
        receive_tasks.spawn(async move {
            let log = match receive {
                Receive::Sync => {
                    sync_receiver(conn, &token, after, wait, log, &shared, index).await
                }
                Receive::Inbox => inbox_receiver(conn, &token, schedule, log, &shared, index).await,
            };
            (r, log)
        });
    }
    let mut send_logs = vec![SenderLog::default(); plan.senders];
    while let Some(joined) = send_tasks.join_next().await {
        let (i, log) = joined.context("sender task")?;
        send_logs[i] = log;
    }
    let mut receive_logs = vec![ReceiverLog::default(); plan.receivers];
    while let Some(joined) = receive_tasks.join_next().await {
        let (r, log) = joined.context("receiver task")?;
        receive_logs[r] = log;
    }
    Ok(Finished {
        shared,
        senders: send_logs,
        receivers: receive_logs,
        cpu: cpu.await.ok().flatten(),
        receive: receive_name(opts.receive),
    })
}

/// One sender: `prefix` is `send <token> <to> `; sends on `schedule` until the window
/// ends, waiting for each OK, then holds the connection until the receivers stop.
async fn sender(
    mut conn: Conn,
    prefix: String,
    stream: u32,
    schedule: Schedule,
    shared: Arc<Shared>,
) -> SenderLog {
    let mut log = SenderLog::default();
    let deadline = shared.window.end + STOP_GRACE;
    let counters = &shared.rec.counters;
    for k in 0u32.. {
        let at = shared.epoch + schedule.at(k);
        if at >= shared.window.end {
            break;
        }
        sleep_until(at.into()).await;
        shared.check_late(at, Instant::now(), schedule.interval);
        let stamp = shared.stamp(stream, k);
        log.sent_us.push(stamp.sent_us);
        let line = format!("{prefix}{}\r\n", stamp.encode());
        match timeout_at(deadline.into(), conn.round_trip(line.as_bytes())).await {
            Ok(Ok(outcome)) => {
                log.ok_us.push(shared.micros(Instant::now()));
                log.ok.push(counters.outcome(outcome));
            }
            Ok(Err(e)) => {
                counters.failure(&e);
                log.ok.push(false);
                break;
            }
            Err(_) => {
                counters.timeouts.fetch_add(1, Ordering::Relaxed);
                log.ok.push(false);
                break;
            }
        }
    }
    sleep_until(shared.stop.into()).await;
    log
}

/// Reads one answer before the receivers' stop; `None` once stopped or broken
/// (counted).
async fn answer(conn: &mut Conn, line: &[u8], shared: &Shared) -> Option<(Vec<u8>, Instant)> {
    let counters = &shared.rec.counters;
    let sent = async {
        conn.send(line).await?;
        conn.read_body().await
    };
    match timeout_at(shared.stop.into(), sent).await {
        Err(_) => None,
        Ok(Err(e)) => {
            counters.failure(&e);
            None
        }
        Ok(Ok(body)) => Some((body.to_vec(), Instant::now())),
    }
}

fn rejected(shared: &Shared, r: Rejected) {
    let counter = match r {
        Rejected::Error(_) => &shared.rec.counters.error_replies,
        Rejected::Bad(_) => &shared.rec.counters.bad_replies,
    };
    counter.fetch_add(1, Ordering::Relaxed);
}

async fn sync_receiver(
    mut conn: Conn,
    token: &str,
    mut after: u64,
    wait: u32,
    mut log: ReceiverLog,
    shared: &Shared,
    index: usize,
) -> ReceiverLog {
    let mut samples = shared.rec.samples(index);
    loop {
        let now = Instant::now();
        if now >= shared.stop {
            break;
        }
        shared.request(now);
        let line = sync_line(token, after, wait);
        let Some((body, at)) = answer(&mut conn, line.as_bytes(), shared).await else {
            break;
        };
        match parse_sync(&body) {
            Ok(page) => {
                for text in &page.texts {
                    shared.arrival(text, at, &mut log, &mut samples);
                }
                after = page.next;
            }
            Err(r) => {
                rejected(shared, r);
                break;
            }
        }
    }
    log
}

async fn inbox_receiver(
    mut conn: Conn,
    token: &str,
    schedule: Schedule,
    mut log: ReceiverLog,
    shared: &Shared,
    index: usize,
) -> ReceiverLog {
    let mut samples = shared.rec.samples(index);
    let line = inbox_line(token);
    let mut k = 0u32;
    loop {
        let at = shared.epoch + schedule.at(k);
        if at >= shared.stop {
            break;
        }
        sleep_until(at.into()).await;
        shared.request(Instant::now());
        let Some((body, at)) = answer(&mut conn, line.as_bytes(), shared).await else {
            break;
        };
        match parse_inbox(&body) {
            Ok(texts) => {
                for text in &texts {
                    shared.arrival(text, at, &mut log, &mut samples);
                }
            }
            Err(r) => {
                rejected(shared, r);
                break;
            }
        }
        k = next_slot(&schedule, k, at - shared.epoch);
    }
    log
}

/// The next poll after poll `k`, skipping the slots already past at `elapsed`.
pub fn next_slot(schedule: &Schedule, k: u32, elapsed: Duration) -> u32 {
    let mut next = k + 1;
    while schedule.at(next) < elapsed {
        next += 1;
    }
    next
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_answers_are_read_leniently() {
        let ok = br#"{"status": "OK", "messages": [{"id": 8, "ts": "2026-12-01T00:00:00.000Z", "from": "a", "to": "b", "msg": "hi", "group": "g"}], "next": 8, "more": true, "came": ["x"]}"#;
        assert_eq!(
            parse_sync(ok),
            Ok(Page {
                texts: vec!["hi".into()],
                next: 8,
                more: true
            })
        );
        let empty = br#"{"status": "OK", "messages": [], "next": 3}"#;
        assert_eq!(parse_sync(empty).map(|p| (p.next, p.more)), Ok((3, false)));
        assert_eq!(
            parse_sync(br#"{"status": "ERROR", "message": "unknown command"}"#),
            Err(Rejected::Error("unknown command".into()))
        );
        assert!(matches!(
            parse_sync(br#"{"status": "OK", "messages": []}"#),
            Err(Rejected::Bad(_))
        ));
        assert!(matches!(parse_sync(b"nope"), Err(Rejected::Bad(_))));
        assert_eq!(sync_line("tok", 5, 25), "sync tok 5 25\r\n");
    }

    #[test]
    fn inbox_answers_give_every_group() {
        let body = br#"{"status": "OK", "messages": {"a": [{"msg_from": "A", "msg_to": "B", "msg": "1"}, {"msg": "2"}], "c": [{"msg": "3"}]}}"#;
        assert_eq!(
            parse_inbox(body),
            Ok(vec!["1".to_string(), "2".into(), "3".into()])
        );
        assert_eq!(
            parse_inbox(br#"{"status": "OK", "messages": {}}"#),
            Ok(vec![])
        );
        assert_eq!(
            parse_inbox(br#"{"status": "ERROR", "message": "expired"}"#),
            Err(Rejected::Error("expired".into()))
        );
    }

    #[test]
    fn polls_skip_the_slots_they_missed() {
        let s = Schedule {
            phase: Duration::from_millis(100),
            interval: Duration::from_secs(1),
        };
        assert_eq!(next_slot(&s, 0, Duration::from_millis(200)), 1);
        assert_eq!(next_slot(&s, 0, Duration::from_millis(3050)), 3);
    }
}
