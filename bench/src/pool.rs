//! Opening many connections at once, a bounded number of attempts in flight, each
//! optionally confirmed with a first request (its "hello") before it counts as open.

use crate::conn::{Conn, ConnError, Framing, connect};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// How long one connection may take to open and answer its hello.
const OPEN_TIMEOUT: Duration = Duration::from_secs(20);

/// How to open the connections.
#[derive(Clone)]
pub struct OpenPlan {
    /// The server.
    pub server: SocketAddr,
    /// How many.
    pub count: usize,
    /// Loopback source addresses to spread over (see [`crate::conn::source_for`]).
    pub source_ips: u32,
    /// Attempts in flight at once.
    pub concurrency: usize,
    /// How replies are framed.
    pub framing: Framing,
    /// First request of connection `i`: `hellos[i % len]`, a chat request that must be
    /// answered OK; empty for none.
    pub hellos: Arc<Vec<Vec<u8>>>,
}

/// The connections that opened, by index, and what went wrong with the others.
#[derive(Debug, Default)]
pub struct Opened {
    /// Open connections with their index, in index order.
    pub conns: Vec<(usize, Conn)>,
    /// How many failed.
    pub failures: usize,
    /// The first failure's reason.
    pub first_error: Option<String>,
    /// How long opening took.
    pub seconds: f64,
}

/// Opens `plan.count` connections.
pub async fn open_many(plan: OpenPlan) -> Opened {
    let started = Instant::now();
    let permits = Arc::new(Semaphore::new(plan.concurrency.max(1)));
    let mut set = JoinSet::new();
    for index in 0..plan.count {
        let permits = permits.clone();
        let plan = plan.clone();
        set.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let result = tokio::time::timeout(OPEN_TIMEOUT, open_one(&plan, index)).await;
            (
                index,
                result.unwrap_or_else(|_| Err("timed out opening".to_string())),
            )
        });
    }
    let mut opened = Opened::default();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok((index, Ok(conn))) => opened.conns.push((index, conn)),
            Ok((_, Err(reason))) => opened.fail(reason),
            Err(e) => opened.fail(format!("connect task: {e}")),
        }
    }
    opened.conns.sort_unstable_by_key(|(index, _)| *index);
    opened.seconds = started.elapsed().as_secs_f64();
    opened
}

impl Opened {
    fn fail(&mut self, reason: String) {
        self.failures += 1;
        self.first_error.get_or_insert(reason);
    }
}

async fn open_one(plan: &OpenPlan, index: usize) -> Result<Conn, String> {
    let stream = connect(plan.server, index, plan.source_ips)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let mut conn = plan.framing.wrap(stream);
    if !plan.hellos.is_empty() {
        let hello = &plan.hellos[index % plan.hellos.len()];
        match conn.request(hello).await {
            Ok(reply) if reply.is_ok() => {}
            Ok(reply) => {
                let reason = reply.message_text().unwrap_or_default();
                return Err(format!("first request answered ERROR: {reason}"));
            }
            Err(ConnError::Closed) => return Err("closed by the server".into()),
            Err(e) => return Err(format!("first request: {e}")),
        }
    }
    Ok(conn)
}
