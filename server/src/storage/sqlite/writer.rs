//! The writer thread: every write of this process, committed in groups, and the
//! watch for other processes' writes.
//!
//! It owns one connection (rusqlite, on a thread of its own). It takes everything
//! queued (up to `max_batch`), runs it in one `BEGIN IMMEDIATE` transaction with
//! cached prepared statements, commits, applies each write's effect to the in-memory
//! state ([`Hot`]) and only then answers each caller. So concurrent sends share an
//! fsync, a caller always sees its own writes, and writers of this process never
//! fight over SQLite's one write lock. If a batch fails it is rolled back and every
//! caller in it gets `Unavailable`.
//!
//! Why a thread and not sqlx: sqlx runs every call on a worker thread of its own
//! and prepared a multi-row `INSERT` afresh for each batch size, so a batch paid
//! thread hand-offs and the parse of a statement with hundreds of parameters. Here a
//! batch is one hand-off in (the job queue) and one out (each reply), and a write is
//! one step of a statement prepared once. Side by side on the two-core machine
//! (`bench/README.md`): durable sends with 8 concurrent senders 7 459 → 14 185–18 651/s,
//! and the p99 of 10 000 simulated TUI clients 5.1 → 1.7–1.9 ms.
//!
//! Between batches, every [`WATCH_EVERY`], it asks SQLite whether another connection
//! committed since it last looked (`PRAGMA data_version`, which ignores this
//! connection's own commits). If one did (`chat-server user ...`), it reloads the
//! in-memory state and confirms the change to that command (`admin_sync`).

use super::hot::{Hot, Loaded};
use crate::metrics::{self, Backend};
use crate::storage::{NewMessage, Session, StoreError, StoredMessage, User, Wakeups};
use rusqlite::{Connection, OpenFlags, params};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// How often the writer looks for other processes' commits.
pub(super) const WATCH_EVERY: Duration = Duration::from_millis(50);

/// A write for the writer thread; `reply`, if any, is answered after its batch commits.
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
    /// Marks the user's undelivered messages up to an id delivered (read by `sync`);
    /// answers how many.
    Acknowledge {
        username: String,
        up_to_id: i64,
    },
    /// Moves a read marker forward (never back); answers whether it moved.
    SetReadMarker {
        username: String,
        peer: String,
        message_id: i64,
    },
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

/// A message row as the writer's statements return it.
fn message_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredMessage> {
    Ok(StoredMessage {
        id: row.get(0)?,
        from: row.get(1)?,
        to: row.get(2)?,
        from_display: row.get(3)?,
        to_display: row.get(4)?,
        text: row.get(5)?,
        ts_ms: row.get(6)?,
    })
}

/// Opens the writer's connection: WAL, `synchronous=FULL` (see the module docs of
/// the store), waiting up to `busy_timeout` for another process's lock.
pub(super) fn connect(path: &Path, busy_timeout: Duration) -> rusqlite::Result<Connection> {
    // No SQLITE_OPEN_URI (rusqlite's default has it): a file named `file:...` is a file.
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(busy_timeout)?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
            Some(format!(
                "the database stays in {mode} journal mode, not WAL"
            )),
        ));
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(conn)
}

/// The writer's state.
pub(super) struct Writer {
    pub conn: Connection,
    pub queue: Receiver<Job>,
    pub max_batch: usize,
    pub commits: Arc<AtomicU64>,
    pub hot: Arc<Mutex<Hot>>,
    /// `data_version` when the in-memory state was last loaded; `None` forces a reload.
    pub data_version: Option<i64>,
    /// Whether this is a server's writer, which confirms `chat-server user` changes.
    pub confirms: bool,
    /// The writes made in the open transaction, with their answers, in order.
    pub open: Vec<(Job, Done)>,
    /// Waiting `sync` requests, woken for each message after its commit.
    pub wakeups: Wakeups,
}

impl Writer {
    /// Starts the writer on a thread of its own; it stops when every sender of its
    /// queue is gone.
    pub fn spawn(self) -> std::io::Result<()> {
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || self.run())
            .map(drop)
    }

    /// Makes queued writes in transactions, and watches for other processes, until
    /// every sender is gone: whatever is queued when the writer gets to it (up to
    /// `max_batch`) is one transaction, so writes that arrive during one commit's
    /// fsync share the next.
    fn run(mut self) {
        let mut next_watch = Instant::now() + WATCH_EVERY;
        // Warn when the watch starts failing and when it recovers, not 20 times a second.
        let mut watch_failing = false;
        loop {
            let wait = next_watch.saturating_duration_since(Instant::now());
            match self.queue.recv_timeout(wait) {
                Ok(job) => {
                    self.take(job);
                    self.gather();
                    if !self.open.is_empty() {
                        self.commit();
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if Instant::now() < next_watch {
                continue;
            }
            next_watch = Instant::now() + WATCH_EVERY;
            match self.follow_others() {
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
        if let Err((_, e)) = self.conn.close() {
            tracing::warn!(error = %e, "closing the database writer");
        }
    }

    /// Takes what else is queued (up to `max_batch`) into the open transaction.
    fn gather(&mut self) {
        while self.open.len() < self.max_batch {
            match self.queue.try_recv() {
                Ok(job) => self.take(job),
                Err(_) => break,
            }
        }
    }

    /// Makes `job`'s write in the open transaction (opening one if needed).
    fn take(&mut self, job: Job) {
        let made = match self.conn.is_autocommit() {
            true => self
                .conn
                .prepare_cached("BEGIN IMMEDIATE")
                .and_then(|mut begin| begin.execute([])),
            false => Ok(0),
        }
        .and_then(|_| apply(&self.conn, &job.op));
        match made {
            Ok(done) => self.open.push((job, done)),
            Err(e) => self.abort(Some(job), &e),
        }
    }

    /// Commits the open transaction (one fsync), applies it to memory, then answers
    /// each write in it.
    fn commit(&mut self) {
        let started = Instant::now();
        let committed = self
            .conn
            .prepare_cached("COMMIT")
            .and_then(|mut commit| commit.execute([]));
        if let Err(e) = committed {
            self.abort(None, &e);
            return;
        }
        tracing::trace!(writes = self.open.len(), "committed");
        metrics::store_committed(Backend::Sqlite, self.open.len(), started.elapsed());
        self.commits.fetch_add(1, Ordering::Relaxed);
        let mut hot = lock(&self.hot);
        for (job, done) in &self.open {
            hot.committed(&job.op, done);
        }
        drop(hot);
        // After the commit, so a woken `sync` reads the message.
        for (job, done) in &self.open {
            match (&job.op, done) {
                (Op::Append(m), _) => {
                    self.wakeups.wake(&m.from);
                    self.wakeups.wake(&m.to);
                }
                (Op::SetReadMarker { username, .. }, Done::Flag(true)) => {
                    self.wakeups.wake(username);
                }
                _ => {}
            }
        }
        for (job, done) in self.open.drain(..) {
            if let Some(reply) = job.reply {
                let done = match (job.op, done) {
                    (Op::Append(m), Done::Id(id)) => Done::Message(m.stored(id)),
                    (_, done) => done,
                };
                let _ = reply.send(Ok(done));
            }
        }
    }

    /// Rolls the open transaction back after `e`: every write in it, and `failed`
    /// (the write that met the error, if it is not in it), gets `Unavailable`.
    fn abort(&mut self, failed: Option<Job>, e: &rusqlite::Error) {
        if !self.conn.is_autocommit()
            && let Err(e) = self.conn.execute_batch("ROLLBACK")
        {
            tracing::debug!(error = %e, "rolling back a failed transaction");
        }
        // Reload before trusting memory again, in case the outcome is not what the
        // error says.
        self.data_version = None;
        let jobs = self.open.drain(..).map(|(job, _)| job).chain(failed);
        let mut writes = 0;
        for job in jobs {
            writes += 1;
            if let Some(reply) = job.reply {
                let _ = reply.send(Err(unavailable("database write failed", e)));
            }
        }
        tracing::error!(error = %e, writes, "database write failed");
    }

    /// Reloads memory if another connection committed since the last look, and
    /// confirms pending `chat-server user` changes.
    fn follow_others(&mut self) -> rusqlite::Result<()> {
        let version = data_version(&self.conn)?;
        if self.data_version == Some(version) {
            return Ok(());
        }
        let (loaded, requested) = load(&mut self.conn)?;
        lock(&self.hot).reload(loaded);
        self.data_version = Some(version);
        // Another process may have stored messages: every waiter looks again.
        self.wakeups.wake_all();
        if self.confirms {
            confirm(&self.conn, requested)?;
            tracing::info!("reloaded sessions and accounts changed by another process");
        }
        Ok(())
    }
}

/// SQLite's count of commits by other connections, as seen by `conn`.
pub(super) fn data_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA data_version", [], |row| row.get(0))
}

/// Reads every session and every inbox count in one snapshot, and the newest
/// change `chat-server user` asked a server to confirm.
pub(super) fn load(conn: &mut Connection) -> rusqlite::Result<(Loaded, i64)> {
    let tx = conn.transaction()?;
    let sessions = tx
        .prepare("SELECT token, username, last_seen_ms FROM sessions")?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let pending = tx
        .prepare(
            "SELECT recipient, count(*) FROM messages WHERE delivered_at_ms IS NULL GROUP BY recipient",
        )?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let requested = tx.query_row("SELECT requested FROM admin_sync WHERE id = 1", [], |row| {
        row.get(0)
    })?;
    tx.commit()?;
    Ok((Loaded { sessions, pending }, requested))
}

/// Tells `chat-server user` commands up to `requested` that this server has them.
pub(super) fn confirm(conn: &Connection, requested: i64) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE admin_sync SET applied = max(applied, ?1) WHERE id = 1",
        [requested],
    )
    .map(drop)
}

/// One write, inside the open transaction. Statements are prepared once and
/// cached by the connection.
fn apply(conn: &Connection, op: &Op) -> rusqlite::Result<Done> {
    Ok(match op {
        Op::Append(m) => {
            // OR ROLLBACK: a failing row fails the whole batch anyway, and saying so
            // spares SQLite the statement journal it would keep to undo only this
            // statement (a tenth of a send's server time in the profile).
            let (lo, hi) = pair(&m.from, &m.to);
            conn.prepare_cached(
                "INSERT OR ROLLBACK INTO messages \
                 (sender, recipient, sender_display, recipient_display, body, ts_ms, pair_lo, pair_hi) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                m.from,
                m.to,
                m.from_display,
                m.to_display,
                m.text,
                m.ts_ms,
                lo,
                hi
            ])?;
            Done::Id(conn.last_insert_rowid())
        }
        Op::Drain(username) => {
            // One statement: claiming and reading are one atomic step. RETURNING has
            // no defined order, hence the sort.
            let mut messages = conn
                .prepare_cached(
                    "UPDATE messages SET delivered_at_ms = CAST(unixepoch('subsec') * 1000 AS INTEGER) \
                     WHERE recipient = ?1 AND delivered_at_ms IS NULL \
                     RETURNING id, sender, recipient, sender_display, recipient_display, body, ts_ms",
                )?
                .query_map([username], message_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            messages.sort_by_key(|m| m.id);
            Done::Messages(messages)
        }
        Op::Acknowledge { username, up_to_id } => {
            let marked = conn
                .prepare_cached(
                    "UPDATE messages SET delivered_at_ms = CAST(unixepoch('subsec') * 1000 AS INTEGER) \
                     WHERE recipient = ?1 AND delivered_at_ms IS NULL AND id <= ?2",
                )?
                .execute(params![username, up_to_id])?;
            Done::Count(u64::try_from(marked).unwrap_or(0))
        }
        Op::SetReadMarker {
            username,
            peer,
            message_id,
        } => {
            // Versions count per user (migration 0005's index makes the max cheap).
            let moved = conn
                .prepare_cached(
                    "INSERT INTO read_markers (username, peer, message_id, version) \
                     VALUES (?1, ?2, ?3, (SELECT COALESCE(MAX(version), 0) + 1 FROM read_markers WHERE username = ?1)) \
                     ON CONFLICT (username, peer) DO UPDATE SET message_id = excluded.message_id, \
                     version = excluded.version WHERE excluded.message_id > read_markers.message_id",
                )?
                .execute(params![username, peer, message_id])?;
            Done::Flag(moved == 1)
        }
        Op::CreateUser(u) => {
            let inserted = conn.prepare_cached(
                "INSERT INTO users (username, display_name, country, password_hash) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (username) DO NOTHING",
            )?
            .execute(params![u.username, u.display_name, u.country, u.password_hash])?;
            Done::Flag(inserted == 1)
        }
        Op::RemoveUser(username) => {
            conn.prepare_cached("DELETE FROM sessions WHERE username = ?1")?
                .execute([username])?;
            let removed = conn
                .prepare_cached("DELETE FROM users WHERE username = ?1")?
                .execute([username])?;
            Done::Flag(removed > 0)
        }
        Op::SetPasswordHash { username, hash } => {
            let changed = conn
                .prepare_cached("UPDATE users SET password_hash = ?1 WHERE username = ?2")?
                .execute([hash, username])?;
            Done::Flag(changed > 0)
        }
        Op::CreateSession(s) => {
            conn.prepare_cached(
                "INSERT INTO sessions (token, username, last_seen_ms) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (token) DO UPDATE SET username = excluded.username, last_seen_ms = excluded.last_seen_ms",
            )?
            .execute(params![s.token, s.username, s.last_seen_ms])?;
            Done::Flag(true)
        }
        Op::Touch {
            token,
            last_seen_ms,
        } => {
            let touched = conn
                .prepare_cached(
                    "UPDATE sessions SET last_seen_ms = max(last_seen_ms, ?1) WHERE token = ?2",
                )?
                .execute(params![last_seen_ms, token])?;
            Done::Flag(touched > 0)
        }
        Op::Expire { token, cutoff_ms } => {
            let expired = conn
                .prepare_cached("DELETE FROM sessions WHERE token = ?1 AND last_seen_ms <= ?2")?
                .execute(params![token, cutoff_ms])?;
            Done::Flag(expired > 0)
        }
        Op::DeleteSession(token) => {
            let deleted = conn
                .prepare_cached("DELETE FROM sessions WHERE token = ?1")?
                .execute([token])?;
            Done::Flag(deleted > 0)
        }
        Op::DeleteSessions(tokens) => {
            let mut delete = conn.prepare_cached("DELETE FROM sessions WHERE token = ?1")?;
            let mut removed = 0;
            for token in tokens {
                removed += u64::try_from(delete.execute([token])?).unwrap_or(0);
            }
            Done::Count(removed)
        }
        Op::RequestSync => {
            let requested: i64 = conn.query_row(
                "UPDATE admin_sync SET requested = requested + 1 WHERE id = 1 RETURNING requested",
                [],
                |row| row.get(0),
            )?;
            Done::Count(u64::try_from(requested).unwrap_or(0))
        }
        Op::Sync => Done::Flag(true),
    })
}
