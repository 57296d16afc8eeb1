//! Group commit: appender tasks that store many concurrent sends with one `INSERT`
//! (see the module docs of [`super`]).

use super::super::{NewMessage, StoreError, StoreResult};
use super::PostgresOptions;
use super::store::pair;
use sqlx::postgres::PgPool;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// A send waiting for an appender, answered with its id after the commit.
#[derive(Debug)]
pub(super) struct Append {
    pub(super) message: NewMessage,
    pub(super) reply: oneshot::Sender<StoreResult<i64>>,
}

/// Appender tasks per node: while one commits a batch, the next collects the sends
/// that arrive meanwhile.
const APPENDERS: usize = 2;

/// Starts the appender tasks; they end when the store (every sender) is gone.
pub(super) fn start_appenders(
    pool: &PgPool,
    options: &PostgresOptions,
    batches: Arc<AtomicU64>,
) -> mpsc::Sender<Append> {
    let max_batch = options.max_batch;
    let (appends, queue) = mpsc::channel(4 * max_batch);
    let queue = Arc::new(tokio::sync::Mutex::new(queue));
    for _ in 0..APPENDERS {
        tokio::spawn(append_loop(
            pool.clone(),
            Arc::clone(&queue),
            max_batch,
            options.op_timeout,
            Arc::clone(&batches),
        ));
    }
    appends
}

/// Takes whatever sends are queued (up to `max_batch`), stores them with one
/// `INSERT`, and answers each once it committed.
async fn append_loop(
    pool: PgPool,
    queue: Arc<tokio::sync::Mutex<mpsc::Receiver<Append>>>,
    max_batch: usize,
    op_timeout: Duration,
    batches: Arc<AtomicU64>,
) {
    let mut batch = Vec::with_capacity(max_batch);
    loop {
        // The lock is held only while waiting for and taking sends, never while
        // committing, so the other appender can collect the next batch.
        if queue.lock().await.recv_many(&mut batch, max_batch).await == 0 {
            return;
        }
        // Bounded like every call, so a hung connection cannot stall sends for long.
        let stored = match tokio::time::timeout(op_timeout, insert_batch(&pool, &batch)).await {
            Ok(Ok(ids)) => Ok(ids),
            Ok(Err(e)) => Err(format!("storing messages: {e}")),
            Err(_) => Err(format!(
                "storing messages: no answer from PostgreSQL within {op_timeout:?}"
            )),
        };
        match stored {
            Ok(ids) => {
                batches.fetch_add(1, Ordering::Relaxed);
                for (job, id) in batch.drain(..).zip(ids) {
                    let _ = job.reply.send(Ok(id));
                }
            }
            Err(why) => {
                tracing::error!(error = %why, sends = batch.len(), "storing messages failed");
                for job in batch.drain(..) {
                    let _ = job.reply.send(Err(StoreError::Unavailable(why.clone())));
                }
            }
        }
    }
}

/// The advisory lock every message-inserting transaction takes before it draws ids
/// (an SQL expression; one lock per schema, so scratch schemas do not contend).
/// Taken in the statement's one-time filter, before the first `nextval`, and held
/// until the transaction has committed and become visible, so transactions draw ids
/// and become visible in the same order: a reader that sees id N sees every
/// committed id below N. The inbox cursors and `sync` rely on it (see the module
/// docs of [`super`]).
macro_rules! order_lock_key {
    () => {
        "hashtextextended('chat-server messages ' || current_schema(), 0)"
    };
}

/// Stores one message with its own `INSERT` (grouping off); returns its id.
pub(super) async fn insert_one(pool: &PgPool, m: &NewMessage) -> Result<i64, sqlx::Error> {
    let (lo, hi) = pair(&m.from, &m.to);
    sqlx::query_scalar(concat!(
        "INSERT INTO messages (sender, recipient, sender_display, recipient_display, body, ts_ms, pair_lo, pair_hi) \
         SELECT $1::text, $2::text, $3::text, $4::text, $5::bytea, $6::int8, $7::text, $8::text WHERE (SELECT pg_advisory_xact_lock(", order_lock_key!(), ")) IS NOT NULL \
         RETURNING id",
    ))
    .bind(&m.from)
    .bind(&m.to)
    .bind(&m.from_display)
    .bind(&m.to_display)
    .bind(m.text.as_bytes())
    .bind(m.ts_ms)
    .bind(lo)
    .bind(hi)
    .fetch_one(pool)
    .await
}

/// Stores `batch` with one `INSERT ... SELECT FROM unnest(...)` (one transaction,
/// one WAL flush) and returns the ids in batch order. The rows are inserted in array
/// order (`ORDER BY` the ordinality) and each takes the next value of the id
/// sequence as it is inserted, so the ids, sorted, are in batch order.
async fn insert_batch(pool: &PgPool, batch: &[Append]) -> Result<Vec<i64>, sqlx::Error> {
    let column = |f: fn(&NewMessage) -> &str| -> Vec<String> {
        batch.iter().map(|a| f(&a.message).to_string()).collect()
    };
    let bodies: Vec<Vec<u8>> = batch
        .iter()
        .map(|a| a.message.text.as_bytes().to_vec())
        .collect();
    let times: Vec<i64> = batch.iter().map(|a| a.message.ts_ms).collect();
    let mut ids: Vec<i64> = sqlx::query_scalar(concat!(
        "INSERT INTO messages (sender, recipient, sender_display, recipient_display, body, ts_ms, pair_lo, pair_hi) \
         SELECT s, r, sd, rd, b, t, lo, hi \
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bytea[], $6::int8[], $7::text[], $8::text[]) \
              WITH ORDINALITY AS batch (s, r, sd, rd, b, t, lo, hi, n) \
         WHERE (SELECT pg_advisory_xact_lock(", order_lock_key!(), ")) IS NOT NULL \
         ORDER BY n \
         RETURNING id",
    ))
    .bind(column(|m| &m.from))
    .bind(column(|m| &m.to))
    .bind(column(|m| &m.from_display))
    .bind(column(|m| &m.to_display))
    .bind(bodies)
    .bind(times)
    .bind(column(|m| pair(&m.from, &m.to).0))
    .bind(column(|m| pair(&m.from, &m.to).1))
    .fetch_all(pool)
    .await?;
    if ids.len() != batch.len() {
        return Err(sqlx::Error::Protocol(format!(
            "{} rows stored for {} messages",
            ids.len(),
            batch.len()
        )));
    }
    ids.sort_unstable();
    Ok(ids)
}
