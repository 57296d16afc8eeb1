//! The writer task: every write of this process, committed in groups, and the
//! watch for other processes' writes.
//!
//! It owns one connection. It takes everything queued (up to `max_batch`), runs it
//! in one `BEGIN IMMEDIATE` transaction (runs of sends as one multi-row `INSERT`),
//! commits, applies each write's effect to the in-memory state ([`Hot`]) and only
//! then answers each caller. So concurrent sends share an fsync, a caller always
//! sees its own writes, and writers of this process never fight over SQLite's one
//! write lock. If a batch fails it is rolled back and every caller in it gets
//! `Unavailable`.
//!
//! Between batches, every [`WATCH_EVERY`], it asks SQLite whether another connection
//! committed since it last looked (`PRAGMA data_version`, which ignores this
//! connection's own commits). If one did (`chat-server user ...`), it reloads the
//! in-memory state and confirms the change to that command (`admin_sync`).

use super::hot::{Hot, Loaded};
use crate::storage::{NewMessage, Session, StoreError, StoredMessage, User};
use futures::{TryStreamExt as _, future};
use sqlx::Executor as _;
use sqlx::sqlite::{Sqlite, SqliteConnection, SqliteQueryResult};
use sqlx::{Connection, QueryBuilder, Row};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// How often the writer looks for other processes' commits when it is not busy.
pub(super) const WATCH_EVERY: Duration = Duration::from_millis(50);

/// Most messages in one `INSERT` (8 parameters each; SQLite allows 32 766).
const MAX_INSERT_ROWS: usize = 512;

/// A write for the writer task; `reply`, if any, is answered after its batch commits.
#[derive(Debug)]
pub(super) struct Job {
    pub op: Op,
    pub reply: Option<oneshot::Sender<Result<Done, StoreError>>>,
}

/// One write.
#[derive(Debug)]
pub(super) enum Op {
    Append(NewMessage),
    Drain(String),
    CreateUser(User),
    RemoveUser(String),
    SetPasswordHash {
        username: String,
        hash: String,
    },
    CreateSession(Session),
    /// Moves `last_seen` forward (never back).
    Touch {
        token: String,
        last_seen_ms: i64,
    },
    /// Deletes the session if its stored `last_seen` is at or before `cutoff_ms`.
    Expire {
        token: String,
        cutoff_ms: i64,
    },
    DeleteSession(String),
    /// Deletes these sessions (expired ones); answers how many existed.
    DeleteSessions(Vec<String>),
    /// Asks a running server to confirm it has seen this process's changes;
    /// answers the number it must confirm (see `admin_sync` in the migrations).
    RequestSync,
    /// Nothing: answered once everything queued before it is committed.
    Sync,
}

/// What a write answers.
#[derive(Debug)]
pub(super) enum Done {
    /// A send's id, as the batch's transaction answers it; the writer turns it into
    /// `Message` (moving the job's message, not copying it) before replying.
    Id(i64),
    Message(StoredMessage),
    Messages(Vec<StoredMessage>),
    Flag(bool),
    Count(u64),
}

pub(super) fn unavailable(context: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("{context}: {e}"))
}

/// The two usernames of a conversation, smaller first (the `pair_lo`/`pair_hi` columns).
pub(super) fn pair<'a>(a: &'a str, b: &'a str) -> (&'a str, &'a str) {
    if a <= b { (a, b) } else { (b, a) }
}

pub(super) fn lock(hot: &Mutex<Hot>) -> MutexGuard<'_, Hot> {
    // Every change to `Hot` is a single method call that leaves it consistent, so a
    // panic elsewhere while it was held cannot have left it half-changed.
    hot.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub(super) fn message_from_row(
    row: &sqlx::sqlite::SqliteRow,
) -> Result<StoredMessage, sqlx::Error> {
    Ok(StoredMessage {
        id: row.try_get(0)?,
        from: row.try_get(1)?,
        to: row.try_get(2)?,
        from_display: row.try_get(3)?,
        to_display: row.try_get(4)?,
        text: row.try_get(5)?,
        ts_ms: row.try_get(6)?,
    })
}

/// The writer task's state.
pub(super) struct Writer {
    pub conn: SqliteConnection,
    pub jobs: mpsc::Receiver<Job>,
    pub max_batch: usize,
    pub commits: Arc<AtomicU64>,
    pub hot: Arc<Mutex<Hot>>,
    /// `data_version` when the in-memory state was last loaded; `None` forces a reload.
    pub data_version: Option<i64>,
    /// Whether this is a server's writer, which confirms `chat-server user` changes.
    pub confirms: bool,
}

impl Writer {
    /// Commits queued writes in batches, and watches for other processes, until
    /// every handle is gone.
    pub async fn run(mut self) {
        let mut batch = Vec::with_capacity(self.max_batch);
        let mut watch = tokio::time::interval(WATCH_EVERY);
        watch.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Warn when the watch starts failing and when it recovers, not 20 times a second.
        let mut watch_failing = false;
        loop {
            tokio::select! {
                taken = self.jobs.recv_many(&mut batch, self.max_batch) => {
                    if taken == 0 {
                        break;
                    }
                    self.commit_batch(&mut batch).await;
                }
                _ = watch.tick() => {
                    match self.follow_others().await {
                        Ok(()) if watch_failing => {
                            watch_failing = false;
                            tracing::info!("checking the database for other writers works again");
                        }
                        Ok(()) => {}
                        Err(e) if !watch_failing => {
                            watch_failing = true;
                            tracing::warn!(error = %e, "checking the database for other writers");
                        }
                        Err(e) => tracing::debug!(error = %e, "checking the database for other writers"),
                    }
                }
            }
        }
        if let Err(e) = self.conn.close().await {
            tracing::warn!(error = %e, "closing the database writer");
        }
    }

    /// Runs `batch` in one transaction, applies it to memory, then answers each job.
    async fn commit_batch(&mut self, batch: &mut Vec<Job>) {
        let started = std::time::Instant::now();
        match run_batch(&mut self.conn, batch).await {
            Ok(done) => {
                tracing::trace!(writes = batch.len(), elapsed = ?started.elapsed(), "committed");
                self.commits.fetch_add(1, Ordering::Relaxed);
                let mut hot = lock(&self.hot);
                for (job, done) in batch.iter().zip(&done) {
                    hot.committed(&job.op, done);
                }
                drop(hot);
                for (job, done) in batch.drain(..).zip(done) {
                    if let Some(reply) = job.reply {
                        let done = match (job.op, done) {
                            (Op::Append(m), Done::Id(id)) => Done::Message(m.stored(id)),
                            (_, done) => done,
                        };
                        let _ = reply.send(Ok(done));
                    }
                }
            }
            Err(e) => {
                // Rolled back (explicitly by dropping the transaction, or by SQLite).
                // Reload before trusting memory again, in case the commit's outcome is
                // not what the error suggests.
                self.data_version = None;
                tracing::error!(error = %e, writes = batch.len(), "database write failed");
                for job in batch.drain(..) {
                    if let Some(reply) = job.reply {
                        let _ = reply.send(Err(unavailable("database write failed", &e)));
                    }
                }
            }
        }
    }

    /// Reloads memory if another connection committed since the last look, and
    /// confirms pending `chat-server user` changes.
    async fn follow_others(&mut self) -> Result<(), sqlx::Error> {
        let version = data_version(&mut self.conn).await?;
        if self.data_version == Some(version) {
            return Ok(());
        }
        let (loaded, requested) = load(&mut self.conn).await?;
        lock(&self.hot).reload(loaded);
        self.data_version = Some(version);
        if self.confirms {
            confirm(&mut self.conn, requested).await?;
            tracing::info!("reloaded sessions and accounts changed by another process");
        }
        Ok(())
    }
}

/// SQLite's count of commits by other connections, as seen by `conn`.
pub(super) async fn data_version(conn: &mut SqliteConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("PRAGMA data_version")
        .fetch_one(&mut *conn)
        .await
}

/// Reads every session and every inbox count in one snapshot, and the newest
/// change `chat-server user` asked a server to confirm.
pub(super) async fn load(conn: &mut SqliteConnection) -> Result<(Loaded, i64), sqlx::Error> {
    let mut tx = conn.begin().await?;
    let sessions = sqlx::query_as("SELECT token, username, last_seen_ms FROM sessions")
        .fetch_all(&mut *tx)
        .await?;
    let pending = sqlx::query_as(
        "SELECT recipient, count(*) FROM messages WHERE delivered_at_ms IS NULL GROUP BY recipient",
    )
    .fetch_all(&mut *tx)
    .await?;
    let requested: i64 = sqlx::query_scalar("SELECT requested FROM admin_sync WHERE id = 1")
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok((Loaded { sessions, pending }, requested))
}

/// Tells `chat-server user` commands up to `requested` that this server has them.
pub(super) async fn confirm(
    conn: &mut SqliteConnection,
    requested: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE admin_sync SET applied = max(applied, ?) WHERE id = 1")
        .bind(requested)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// One transaction for `batch`; each job's answer, in order.
async fn run_batch(conn: &mut SqliteConnection, batch: &[Job]) -> Result<Vec<Done>, sqlx::Error> {
    if let Some(sends) = only_sends(batch) {
        return append_in_one_call(conn, &sends).await;
    }
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    let mut done = Vec::with_capacity(batch.len());
    let mut rest = batch;
    while let Some(first) = rest.first() {
        let sends = rest
            .iter()
            .take(MAX_INSERT_ROWS)
            .map_while(send_of)
            .collect::<Vec<_>>();
        if sends.is_empty() {
            done.push(apply(&mut tx, &first.op).await?);
            rest = &rest[1..];
        } else {
            rest = &rest[sends.len()..];
            let inserted = insert_messages(&sends, false)
                .build()
                .persistent(sends.len() == 1)
                .execute(&mut *tx)
                .await?;
            done.extend(ids(sends.len(), &inserted)?);
        }
    }
    tx.commit().await?;
    Ok(done)
}

/// The messages of `batch` if it holds sends only, few enough for one `INSERT`.
fn only_sends(batch: &[Job]) -> Option<Vec<&NewMessage>> {
    if batch.len() > MAX_INSERT_ROWS {
        return None;
    }
    batch.iter().map(send_of).collect()
}

/// The message of `job` if it is a send.
fn send_of(job: &Job) -> Option<&NewMessage> {
    match &job.op {
        Op::Append(m) => Some(m),
        _ => None,
    }
}

/// A batch of sends only (what a send-heavy load makes) as one call to sqlx's
/// worker thread: `BEGIN IMMEDIATE; INSERT ...; COMMIT`. Each call is a round trip
/// between threads; with three calls (begin, insert, commit) the begin alone took
/// ~160 µs of a ~830 µs batch on the two-core machine (writer trace).
async fn append_in_one_call(
    conn: &mut SqliteConnection,
    messages: &[&NewMessage],
) -> Result<Vec<Done>, sqlx::Error> {
    let mut query = insert_messages(messages, true);
    let results: Result<Vec<SqliteQueryResult>, sqlx::Error> = (&mut *conn)
        .fetch_many(query.build().persistent(messages.len() == 1))
        .try_filter_map(|step| future::ready(Ok(step.left())))
        .try_collect()
        .await;
    let outcome = results.and_then(|results| match results.as_slice() {
        // One result per statement; the INSERT's is the second.
        [_, inserted, _] => ids(messages.len(), inserted),
        other => Err(sqlx::Error::Protocol(format!(
            "a batch of sends gave {} results, not 3",
            other.len()
        ))),
    });
    if outcome.is_err() {
        // The COMMIT may not have run: end whatever transaction is still open.
        if let Err(e) = sqlx::query("ROLLBACK").execute(&mut *conn).await {
            tracing::debug!(error = %e, "rolling back a failed batch of sends");
        }
    }
    outcome
}

/// `INSERT OR ROLLBACK` of `messages`, wrapped in `BEGIN IMMEDIATE; ...; COMMIT`
/// when `whole_transaction`.
///
/// OR ROLLBACK: a failing row fails the whole batch anyway, and saying so spares
/// SQLite the statement journal it would keep to undo only this statement (a tenth
/// of a send's server time in the profile).
fn insert_messages(messages: &[&NewMessage], whole_transaction: bool) -> QueryBuilder<Sqlite> {
    let begin = if whole_transaction {
        "BEGIN IMMEDIATE; "
    } else {
        ""
    };
    let mut insert = QueryBuilder::<Sqlite>::new(format!(
        "{begin}INSERT OR ROLLBACK INTO messages (sender, recipient, sender_display, recipient_display, body, ts_ms, pair_lo, pair_hi) "
    ));
    insert.push_values(messages, |mut row, m| {
        let (lo, hi) = pair(&m.from, &m.to);
        row.push_bind(m.from.clone())
            .push_bind(m.to.clone())
            .push_bind(m.from_display.clone())
            .push_bind(m.to_display.clone())
            .push_bind(m.text.clone())
            .push_bind(m.ts_ms)
            .push_bind(lo.to_string())
            .push_bind(hi.to_string());
    });
    if whole_transaction {
        insert.push("; COMMIT");
    }
    insert
}

/// The ids of the `count` messages of one `INSERT` that reported `inserted`.
///
/// The ids are not read back row by row (`RETURNING` would stream one message per
/// row from sqlx's worker thread): in a table with `AUTOINCREMENT`, each new row
/// gets one more than the largest id ever used, so the rows of one `INSERT`, made
/// under the write lock its transaction holds, get consecutive ids ending at
/// `last_insert_rowid`.
fn ids(count: usize, inserted: &SqliteQueryResult) -> Result<Vec<Done>, sqlx::Error> {
    let wanted = u64::try_from(count).unwrap_or(u64::MAX);
    if inserted.rows_affected() != wanted {
        return Err(sqlx::Error::Protocol(format!(
            "{count} messages to insert, {} inserted",
            inserted.rows_affected()
        )));
    }
    let last = inserted.last_insert_rowid();
    let first = last - i64::try_from(count).unwrap_or(i64::MAX) + 1;
    Ok((first..=last).map(Done::Id).collect())
}

/// One write other than a send, inside the batch's transaction.
async fn apply(conn: &mut SqliteConnection, op: &Op) -> Result<Done, sqlx::Error> {
    Ok(match op {
        // `run_batch` inserts every send with the run of sends it belongs to.
        Op::Append(_) => {
            return Err(sqlx::Error::Protocol(
                "internal error: a send outside a run of sends".into(),
            ));
        }
        Op::Drain(username) => {
            // One statement: claiming and reading are one atomic step. RETURNING has
            // no defined order, hence the sort.
            let rows = sqlx::query(
                "UPDATE messages SET delivered_at_ms = CAST(unixepoch('subsec') * 1000 AS INTEGER) \
                 WHERE recipient = ? AND delivered_at_ms IS NULL \
                 RETURNING id, sender, recipient, sender_display, recipient_display, body, ts_ms",
            )
            .bind(username)
            .fetch_all(&mut *conn)
            .await?;
            let mut messages = rows
                .iter()
                .map(message_from_row)
                .collect::<Result<Vec<_>, _>>()?;
            messages.sort_by_key(|m| m.id);
            Done::Messages(messages)
        }
        Op::CreateUser(u) => {
            let done = sqlx::query(
                "INSERT INTO users (username, display_name, country, password_hash) VALUES (?, ?, ?, ?) \
                 ON CONFLICT (username) DO NOTHING",
            )
            .bind(&u.username)
            .bind(&u.display_name)
            .bind(&u.country)
            .bind(&u.password_hash)
            .execute(&mut *conn)
            .await?;
            Done::Flag(done.rows_affected() == 1)
        }
        Op::RemoveUser(username) => {
            sqlx::query("DELETE FROM sessions WHERE username = ?")
                .bind(username)
                .execute(&mut *conn)
                .await?;
            let done = sqlx::query("DELETE FROM users WHERE username = ?")
                .bind(username)
                .execute(&mut *conn)
                .await?;
            Done::Flag(done.rows_affected() > 0)
        }
        Op::SetPasswordHash { username, hash } => {
            let done = sqlx::query("UPDATE users SET password_hash = ? WHERE username = ?")
                .bind(hash)
                .bind(username)
                .execute(&mut *conn)
                .await?;
            Done::Flag(done.rows_affected() > 0)
        }
        Op::CreateSession(s) => {
            sqlx::query(
                "INSERT INTO sessions (token, username, last_seen_ms) VALUES (?, ?, ?) \
                 ON CONFLICT (token) DO UPDATE SET username = excluded.username, last_seen_ms = excluded.last_seen_ms",
            )
            .bind(&s.token)
            .bind(&s.username)
            .bind(s.last_seen_ms)
            .execute(&mut *conn)
            .await?;
            Done::Flag(true)
        }
        Op::Touch {
            token,
            last_seen_ms,
        } => {
            let done = sqlx::query(
                "UPDATE sessions SET last_seen_ms = max(last_seen_ms, ?) WHERE token = ?",
            )
            .bind(last_seen_ms)
            .bind(token)
            .execute(&mut *conn)
            .await?;
            Done::Flag(done.rows_affected() > 0)
        }
        Op::Expire { token, cutoff_ms } => {
            let done = sqlx::query("DELETE FROM sessions WHERE token = ? AND last_seen_ms <= ?")
                .bind(token)
                .bind(cutoff_ms)
                .execute(&mut *conn)
                .await?;
            Done::Flag(done.rows_affected() > 0)
        }
        Op::DeleteSession(token) => {
            let done = sqlx::query("DELETE FROM sessions WHERE token = ?")
                .bind(token)
                .execute(&mut *conn)
                .await?;
            Done::Flag(done.rows_affected() > 0)
        }
        Op::DeleteSessions(tokens) => {
            let mut removed = 0;
            for token in tokens {
                let done = sqlx::query("DELETE FROM sessions WHERE token = ?")
                    .bind(token)
                    .execute(&mut *conn)
                    .await?;
                removed += done.rows_affected();
            }
            Done::Count(removed)
        }
        Op::RequestSync => {
            let requested: i64 = sqlx::query_scalar(
                "UPDATE admin_sync SET requested = requested + 1 WHERE id = 1 RETURNING requested",
            )
            .fetch_one(&mut *conn)
            .await?;
            Done::Count(u64::try_from(requested).unwrap_or(0))
        }
        Op::Sync => Done::Flag(true),
    })
}
