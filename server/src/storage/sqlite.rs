//! The SQLite store (the default): one database file, durable, shared with the
//! `chat-server user` commands while the server runs.
//!
//! # Durability
//! The database runs in WAL mode with `synchronous=FULL`: every commit fsyncs the
//! write-ahead log, so an `OK` survives a power cut, not only a killed process (WAL
//! with `NORMAL` would survive `kill -9` but could lose the last commits on power
//! loss). Group commit makes `FULL` affordable: one fsync per batch, not per send.
//!
//! # Writes: one writer task, group commit
//! Every write of this process goes through one task that owns one connection. It
//! takes everything queued (up to [`SqliteOptions::max_batch`]), runs it in one
//! `BEGIN IMMEDIATE` transaction, commits, and only then answers each caller. So
//! concurrent sends share an fsync, and writers of this process never fight over
//! SQLite's single write lock (other processes, such as `chat-server user`, wait
//! for it through `busy_timeout`). If a batch fails, it is rolled back and every
//! caller in it gets `Unavailable`. Reads use a small pool of other connections,
//! which WAL lets run beside the writer; a reply is sent only after its commit, so a
//! caller always reads its own writes.
//!
//! # Sessions: cheap `touch_session`
//! Writing `last_seen` on every request would cost an fsync per request. The store
//! keeps the newest `last_seen` of each token in memory and writes it to the
//! database only when it has moved by at least `min(ttl / 10, 60 s)` since the
//! stored value. Every answer is still exact: a session's `last_seen` is the larger
//! of the stored and the remembered value (the database is read on every touch, so
//! sessions removed by another process end at once). After a restart the memory is
//! gone, so a session may expire up to `min(ttl / 10, 60 s)` early, never late.

use super::{NewMessage, Session, Store, StoreError, StoreResult, StoredMessage, User};
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection, Row};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// The schema's versioned migrations (`server/migrations/sqlite/`), embedded in the
/// binary and applied in order at open.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// The most a stored `last_seen` lags the true one (see the module docs).
const MAX_TOUCH_LAG_MS: i64 = 60_000;

/// Tuning of a [`SqliteStore`].
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// Most writes committed in one transaction. `1` turns group commit off (one
    /// transaction per write: the benchmark's baseline).
    pub max_batch: usize,
    /// Connections for reads.
    pub read_connections: u32,
    /// How long a statement waits for a lock held by another process.
    pub busy_timeout: Duration,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            max_batch: 512,
            read_connections: 4,
            busy_timeout: Duration::from_secs(5),
        }
    }
}

/// Cheap-to-clone handle to an open SQLite database.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    reads: SqlitePool,
    writer: mpsc::Sender<Job>,
    /// Newest `last_seen` per token seen by this process. A std mutex: held for a
    /// map operation only, never across an `.await`.
    touched: Mutex<HashMap<String, i64>>,
    path: PathBuf,
    /// Transactions the writer has committed.
    commits: Arc<AtomicU64>,
    /// Tests park the temporary directory here so it lives as long as the store.
    #[cfg(test)]
    keep: Mutex<Option<tempfile::TempDir>>,
}

/// A write for the writer task, answered after its batch commits.
#[derive(Debug)]
struct Job {
    op: Op,
    reply: oneshot::Sender<StoreResult<Done>>,
}

#[derive(Debug)]
enum Op {
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
    /// Deletes sessions stored as seen at or before `cutoff_ms`, except `spare`
    /// (seen later by this process than the database knows).
    Purge {
        cutoff_ms: i64,
        spare: Vec<String>,
    },
}

#[derive(Debug)]
enum Done {
    Message(StoredMessage),
    Messages(Vec<StoredMessage>),
    Flag(bool),
    Count(u64),
}

fn unavailable(context: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("{context}: {e}"))
}

fn pair<'a>(a: &'a str, b: &'a str) -> (&'a str, &'a str) {
    if a <= b { (a, b) } else { (b, a) }
}

/// How far `last_seen` may move before it is written (see the module docs).
fn write_threshold(ttl_ms: i64) -> i64 {
    (ttl_ms / 10).clamp(0, MAX_TOUCH_LAG_MS)
}

fn message_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<StoredMessage, sqlx::Error> {
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

fn user_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<User, sqlx::Error> {
    Ok(User {
        username: row.try_get(0)?,
        display_name: row.try_get(1)?,
        country: row.try_get(2)?,
        password_hash: row.try_get(3)?,
    })
}

/// Connection settings shared by the writer, the read pool and the `user` commands.
fn connect_options(path: &Path, options: &SqliteOptions) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(options.busy_timeout)
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` with default options, and
    /// runs pending migrations. Also returns whether the database was new (had no
    /// schema before this call).
    pub async fn open(path: &Path) -> StoreResult<(Self, bool)> {
        Self::open_with(path, SqliteOptions::default()).await
    }

    /// [`open`](Self::open) with explicit options.
    pub async fn open_with(path: &Path, options: SqliteOptions) -> StoreResult<(Self, bool)> {
        let shown = path.display();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                unavailable(&format!("cannot create directory {}", dir.display()), e)
            })?;
        }
        let connect = connect_options(path, &options);
        let reads = SqlitePoolOptions::new()
            .max_connections(options.read_connections.max(1))
            .connect_with(connect.clone())
            .await
            .map_err(|e| unavailable(&format!("cannot open {shown}"), e))?;
        let tables: i64 =
            sqlx::query_scalar("SELECT count(*) FROM sqlite_schema WHERE type = 'table'")
                .fetch_one(&reads)
                .await
                .map_err(|e| unavailable(&format!("cannot read {shown}"), e))?;
        MIGRATOR
            .run(&reads)
            .await
            .map_err(|e| unavailable(&format!("cannot migrate {shown}"), e))?;
        let conn = connect
            .connect()
            .await
            .map_err(|e| unavailable(&format!("cannot open {shown}"), e))?;
        let (writer, jobs) = mpsc::channel(4 * options.max_batch.max(1));
        let commits = Arc::new(AtomicU64::new(0));
        tokio::spawn(write_loop(
            conn,
            jobs,
            options.max_batch.max(1),
            Arc::clone(&commits),
        ));
        let inner = Inner {
            reads,
            writer,
            touched: Mutex::new(HashMap::new()),
            path: path.to_path_buf(),
            commits,
            #[cfg(test)]
            keep: Mutex::new(None),
        };
        Ok((
            SqliteStore {
                inner: Arc::new(inner),
            },
            tables == 0,
        ))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// How many write transactions this handle's writer has committed (each one
    /// fsync); fewer than writes when group commit batches them.
    pub fn commits(&self) -> u64 {
        self.inner.commits.load(Ordering::Relaxed)
    }

    async fn write(&self, op: Op) -> StoreResult<Done> {
        let (reply, answer) = oneshot::channel();
        let stopped = || StoreError::Unavailable("the database writer has stopped".into());
        self.inner
            .writer
            .send(Job { op, reply })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    async fn write_flag(&self, op: Op) -> StoreResult<bool> {
        match self.write(op).await? {
            Done::Flag(flag) => Ok(flag),
            other => Err(unexpected(other)),
        }
    }

    fn touched(&self) -> MutexGuard<'_, HashMap<String, i64>> {
        // The map holds hints only; a panic elsewhere cannot make it unsafe to use.
        self.inner
            .touched
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn unexpected(done: Done) -> StoreError {
    StoreError::Unavailable(format!("internal error: unexpected writer answer {done:?}"))
}

/// The writer task: commits queued writes in batches until every handle is gone.
async fn write_loop(
    mut conn: SqliteConnection,
    mut jobs: mpsc::Receiver<Job>,
    max_batch: usize,
    commits: Arc<AtomicU64>,
) {
    let mut batch = Vec::with_capacity(max_batch);
    while jobs.recv_many(&mut batch, max_batch).await > 0 {
        if commit_batch(&mut conn, &mut batch).await {
            commits.fetch_add(1, Ordering::Relaxed);
        }
    }
    if let Err(e) = conn.close().await {
        tracing::warn!(error = %e, "closing the database writer");
    }
}

/// Runs `batch` in one transaction and answers each job after the commit; false if
/// it failed and was rolled back.
async fn commit_batch(conn: &mut SqliteConnection, batch: &mut Vec<Job>) -> bool {
    let result = async {
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        let mut done = Vec::with_capacity(batch.len());
        for job in batch.iter() {
            done.push(apply(&mut tx, &job.op).await?);
        }
        tx.commit().await?;
        Ok::<_, sqlx::Error>(done)
    }
    .await;
    match result {
        Ok(done) => {
            for (job, done) in batch.drain(..).zip(done) {
                let _ = job.reply.send(Ok(done));
            }
            true
        }
        Err(e) => {
            // The transaction was rolled back (explicitly by dropping it, or by SQLite).
            tracing::error!(error = %e, writes = batch.len(), "database write failed");
            for job in batch.drain(..) {
                let _ = job
                    .reply
                    .send(Err(unavailable("database write failed", &e)));
            }
            false
        }
    }
}

/// One write, inside the batch's transaction.
async fn apply(conn: &mut SqliteConnection, op: &Op) -> Result<Done, sqlx::Error> {
    Ok(match op {
        Op::Append(m) => {
            let (lo, hi) = pair(&m.from, &m.to);
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO messages (sender, recipient, sender_display, recipient_display, body, ts_ms, pair_lo, pair_hi) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            )
            .bind(&m.from)
            .bind(&m.to)
            .bind(&m.from_display)
            .bind(&m.to_display)
            .bind(&m.text)
            .bind(m.ts_ms)
            .bind(lo)
            .bind(hi)
            .fetch_one(&mut *conn)
            .await?;
            let m = m.clone();
            Done::Message(StoredMessage {
                id,
                from: m.from,
                to: m.to,
                from_display: m.from_display,
                to_display: m.to_display,
                text: m.text,
                ts_ms: m.ts_ms,
            })
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
        Op::Purge { cutoff_ms, spare } => {
            let expired: Vec<String> =
                sqlx::query_scalar("SELECT token FROM sessions WHERE last_seen_ms <= ?")
                    .bind(cutoff_ms)
                    .fetch_all(&mut *conn)
                    .await?;
            let mut removed = 0;
            for token in expired.iter().filter(|t| !spare.contains(t)) {
                let done = sqlx::query("DELETE FROM sessions WHERE token = ?")
                    .bind(token)
                    .execute(&mut *conn)
                    .await?;
                removed += done.rows_affected();
            }
            Done::Count(removed)
        }
    })
}

impl Store for SqliteStore {
    async fn user(&self, username: &str) -> StoreResult<Option<User>> {
        let row = sqlx::query(
            "SELECT username, display_name, country, password_hash FROM users WHERE username = ?",
        )
        .bind(username)
        .fetch_optional(&self.inner.reads)
        .await
        .map_err(|e| unavailable("reading a user", e))?;
        row.as_ref()
            .map(user_from_row)
            .transpose()
            .map_err(|e| unavailable("reading a user", e))
    }

    async fn create_user(&self, user: &User) -> StoreResult<()> {
        match self.write_flag(Op::CreateUser(user.clone())).await? {
            true => Ok(()),
            false => Err(StoreError::UserExists(user.username.clone())),
        }
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        let rows = sqlx::query(
            "SELECT username, display_name, country, password_hash FROM users ORDER BY username",
        )
        .fetch_all(&self.inner.reads)
        .await
        .map_err(|e| unavailable("listing users", e))?;
        rows.iter()
            .map(user_from_row)
            .collect::<Result<_, _>>()
            .map_err(|e| unavailable("listing users", e))
    }

    async fn remove_user(&self, username: &str) -> StoreResult<bool> {
        self.write_flag(Op::RemoveUser(username.to_string())).await
    }

    async fn set_password_hash(&self, username: &str, hash: &str) -> StoreResult<bool> {
        self.write_flag(Op::SetPasswordHash {
            username: username.to_string(),
            hash: hash.to_string(),
        })
        .await
    }

    async fn create_session(&self, session: &Session) -> StoreResult<()> {
        self.write_flag(Op::CreateSession(session.clone())).await?;
        self.touched()
            .insert(session.token.clone(), session.last_seen_ms);
        Ok(())
    }

    async fn touch_session(
        &self,
        token: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> StoreResult<Option<String>> {
        let row: Option<(String, i64)> =
            sqlx::query_as("SELECT username, last_seen_ms FROM sessions WHERE token = ?")
                .bind(token)
                .fetch_optional(&self.inner.reads)
                .await
                .map_err(|e| unavailable("reading a session", e))?;
        let Some((username, stored)) = row else {
            self.touched().remove(token);
            return Ok(None);
        };
        let remembered = self.touched().get(token).copied().unwrap_or(stored);
        let last_seen = stored.max(remembered);
        if now_ms - last_seen >= ttl_ms {
            self.write_flag(Op::Expire {
                token: token.to_string(),
                cutoff_ms: now_ms - ttl_ms,
            })
            .await?;
            self.touched().remove(token);
            return Ok(None);
        }
        let last_seen = last_seen.max(now_ms);
        // Write before remembering, so the stored value never lags the remembered
        // one by more than the threshold (active_users and purge rely on it).
        if last_seen - stored >= write_threshold(ttl_ms) {
            self.write_flag(Op::Touch {
                token: token.to_string(),
                last_seen_ms: last_seen,
            })
            .await?;
        }
        let mut touched = self.touched();
        let entry = touched.entry(token.to_string()).or_insert(last_seen);
        *entry = (*entry).max(last_seen);
        Ok(Some(username))
    }

    async fn delete_session(&self, token: &str) -> StoreResult<bool> {
        let existed = self
            .write_flag(Op::DeleteSession(token.to_string()))
            .await?;
        self.touched().remove(token);
        Ok(existed)
    }

    async fn active_users(&self, now_ms: i64, ttl_ms: i64) -> StoreResult<Vec<String>> {
        let cutoff = now_ms - ttl_ms;
        // Candidates: stored values lag the true ones by less than MAX_TOUCH_LAG_MS.
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT token, username, last_seen_ms FROM sessions WHERE last_seen_ms > ?",
        )
        .bind(cutoff.saturating_sub(MAX_TOUCH_LAG_MS))
        .fetch_all(&self.inner.reads)
        .await
        .map_err(|e| unavailable("listing sessions", e))?;
        let touched = self.touched();
        let mut users: Vec<String> = rows
            .into_iter()
            .filter(|(token, _, stored)| {
                touched.get(token).copied().unwrap_or(*stored).max(*stored) > cutoff
            })
            .map(|(_, username, _)| username)
            .collect();
        drop(touched);
        users.sort();
        users.dedup();
        Ok(users)
    }

    async fn purge_sessions(&self, now_ms: i64, ttl_ms: i64) -> StoreResult<u64> {
        let cutoff_ms = now_ms - ttl_ms;
        let spare = {
            let mut touched = self.touched();
            touched.retain(|_, last_seen| *last_seen > cutoff_ms);
            touched.keys().cloned().collect()
        };
        match self.write(Op::Purge { cutoff_ms, spare }).await? {
            Done::Count(n) => Ok(n),
            other => Err(unexpected(other)),
        }
    }

    async fn append_message(&self, message: NewMessage) -> StoreResult<StoredMessage> {
        match self.write(Op::Append(message)).await? {
            Done::Message(m) => Ok(m),
            other => Err(unexpected(other)),
        }
    }

    async fn undelivered_count(&self, username: &str, cap: u64) -> StoreResult<u64> {
        // Counted on the partial index of undelivered messages, at most `cap` rows.
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM (SELECT 1 FROM messages \
             WHERE recipient = ? AND delivered_at_ms IS NULL LIMIT ?)",
        )
        .bind(username)
        .bind(i64::try_from(cap).unwrap_or(i64::MAX))
        .fetch_one(&self.inner.reads)
        .await
        .map_err(|e| unavailable("counting an inbox", e))?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn drain_inbox(&self, username: &str) -> StoreResult<Vec<StoredMessage>> {
        // Polling clients drain empty inboxes most of the time: answer those with a
        // read, without queueing for the writer (and without a commit).
        let waiting: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM messages WHERE recipient = ? AND delivered_at_ms IS NULL LIMIT 1",
        )
        .bind(username)
        .fetch_optional(&self.inner.reads)
        .await
        .map_err(|e| unavailable("reading an inbox", e))?;
        if waiting.is_none() {
            return Ok(Vec::new());
        }
        match self.write(Op::Drain(username.to_string())).await? {
            Done::Messages(m) => Ok(m),
            other => Err(unexpected(other)),
        }
    }

    async fn history(
        &self,
        a: &str,
        b: &str,
        limit: u32,
        before_id: Option<i64>,
    ) -> StoreResult<Vec<StoredMessage>> {
        let (lo, hi) = pair(a, b);
        let rows = sqlx::query(
            "SELECT id, sender, recipient, sender_display, recipient_display, body, ts_ms FROM messages \
             WHERE pair_lo = ? AND pair_hi = ? AND id < ? ORDER BY id DESC LIMIT ?",
        )
        .bind(lo)
        .bind(hi)
        .bind(before_id.unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(&self.inner.reads)
        .await
        .map_err(|e| unavailable("reading history", e))?;
        let mut messages = rows
            .iter()
            .map(message_from_row)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| unavailable("reading history", e))?;
        messages.reverse();
        Ok(messages)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store on a new file in its own temporary directory, removed with the store.
    async fn temp_store(options: SqliteOptions) -> SqliteStore {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, created) = SqliteStore::open_with(&dir.path().join("chat.db"), options)
            .await
            .expect("open");
        assert!(created);
        *store.inner.keep.lock().expect("lock") = Some(dir);
        store
    }

    crate::storage_suite!(temp_store(SqliteOptions::default()).await);

    /// The same suite with group commit off, so the baseline path stays correct.
    mod one_write_per_transaction {
        use super::*;
        crate::storage_suite!(
            temp_store(SqliteOptions {
                max_batch: 1,
                ..SqliteOptions::default()
            })
            .await
        );
    }

    fn msg(from: &str, to: &str, text: &str) -> NewMessage {
        NewMessage {
            from: from.into(),
            to: to.into(),
            from_display: from.into(),
            to_display: to.into(),
            text: text.into(),
            ts_ms: 1,
        }
    }

    fn user(name: &str) -> User {
        User {
            username: name.into(),
            display_name: name.into(),
            country: None,
            password_hash: "h".into(),
        }
    }

    async fn applied_versions(pool: &SqlitePool) -> Vec<i64> {
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(pool)
            .await
            .expect("read migrations")
    }

    #[tokio::test]
    async fn migrations_on_an_empty_database() {
        let store = temp_store(SqliteOptions::default()).await;
        let all: Vec<i64> = MIGRATOR.iter().map(|m| m.version).collect();
        assert!(all.len() >= 2, "{all:?}");
        assert_eq!(applied_versions(&store.inner.reads).await, all);
        let (again, created) = SqliteStore::open(store.path()).await.expect("reopen");
        assert!(!created);
        assert_eq!(applied_versions(&again.inner.reads).await, all);
    }

    #[tokio::test]
    async fn migrations_on_a_database_made_by_migration_1() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("old.db");
        let options = connect_options(&path, &SqliteOptions::default());
        let pool = SqlitePool::connect_with(options).await.expect("connect");
        MIGRATOR.run_to(1, &pool).await.expect("migration 1");
        assert_eq!(applied_versions(&pool).await, [1]);
        sqlx::query(
            "INSERT INTO users (username, display_name, password_hash) VALUES ('old', 'Old', 'h')",
        )
        .execute(&pool)
        .await
        .expect("insert");
        pool.close().await;

        let (store, created) = SqliteStore::open(&path).await.expect("open migrates");
        assert!(!created, "a database with a schema is not new");
        assert_eq!(
            applied_versions(&store.inner.reads).await.len(),
            MIGRATOR.iter().count()
        );
        assert_eq!(
            store
                .user("old")
                .await
                .expect("read")
                .map(|u| u.display_name)
                .as_deref(),
            Some("Old")
        );
        let sent = store
            .append_message(msg("old", "new", "hi"))
            .await
            .expect("append after migrating");
        assert_eq!(store.drain_inbox("new").await.expect("drain"), [sent]);
    }

    #[tokio::test]
    async fn everything_survives_reopening() {
        let store = temp_store(SqliteOptions::default()).await;
        store.create_user(&user("messi")).await.expect("user");
        store
            .create_session(&Session {
                token: "t".into(),
                username: "messi".into(),
                last_seen_ms: 1_000,
            })
            .await
            .expect("session");
        let first = store
            .append_message(msg("lineker", "messi", "one"))
            .await
            .expect("append");
        store
            .append_message(msg("lineker", "messi", "two"))
            .await
            .expect("append");
        assert_eq!(store.drain_inbox("messi").await.expect("drain").len(), 2);
        let third = store
            .append_message(msg("messi", "lineker", "three"))
            .await
            .expect("append");

        let (again, _) = SqliteStore::open(store.path()).await.expect("reopen");
        assert_eq!(
            again.user("messi").await.expect("user"),
            Some(user("messi"))
        );
        assert_eq!(
            again
                .touch_session("t", 2_000, 10_000)
                .await
                .expect("touch")
                .as_deref(),
            Some("messi")
        );
        assert_eq!(
            again.drain_inbox("lineker").await.expect("drain"),
            std::slice::from_ref(&third)
        );
        assert!(
            again.drain_inbox("messi").await.expect("drain").is_empty(),
            "delivered stays delivered"
        );
        let history = again
            .history("messi", "lineker", 50, None)
            .await
            .expect("history");
        assert_eq!(history.len(), 3);
        assert_eq!(history[0], first);
        let fourth = again
            .append_message(msg("lineker", "messi", "four"))
            .await
            .expect("append");
        assert!(fourth.id > third.id, "ids keep increasing across restarts");
    }

    async fn stored_last_seen(store: &SqliteStore, token: &str) -> Option<i64> {
        sqlx::query_scalar("SELECT last_seen_ms FROM sessions WHERE token = ?")
            .bind(token)
            .fetch_optional(&store.inner.reads)
            .await
            .expect("read")
    }

    #[tokio::test]
    async fn touch_writes_only_when_last_seen_moved_enough() {
        const TTL: i64 = 3_600_000; // an hour: threshold 60 s
        let store = temp_store(SqliteOptions::default()).await;
        store
            .create_session(&Session {
                token: "t".into(),
                username: "messi".into(),
                last_seen_ms: 0,
            })
            .await
            .expect("session");
        assert!(
            store
                .touch_session("t", 30_000, TTL)
                .await
                .expect("touch")
                .is_some()
        );
        assert_eq!(
            stored_last_seen(&store, "t").await,
            Some(0),
            "a 30 s move is not written"
        );
        // Exact in this process: live until 30 s + TTL, though the file says 0.
        assert_eq!(
            store.active_users(TTL + 1_000, TTL).await.expect("active"),
            ["messi"]
        );
        assert_eq!(
            store.purge_sessions(TTL + 1_000, TTL).await.expect("purge"),
            0,
            "remembered use spares it"
        );
        assert!(
            store
                .touch_session("t", 59_999, TTL)
                .await
                .expect("touch")
                .is_some()
        );
        assert_eq!(stored_last_seen(&store, "t").await, Some(0));
        assert!(
            store
                .touch_session("t", 60_000, TTL)
                .await
                .expect("touch")
                .is_some()
        );
        assert_eq!(
            stored_last_seen(&store, "t").await,
            Some(60_000),
            "a 60 s move is written"
        );

        // A restart forgets the unwritten part: the session ends at most 60 s early.
        store.touch_session("t", 100_000, TTL).await.expect("touch");
        let (restarted, _) = SqliteStore::open(store.path()).await.expect("reopen");
        let late = 100_000 + TTL - 1;
        assert_eq!(
            store.active_users(late, TTL).await.expect("active"),
            ["messi"],
            "this process remembers 100 s"
        );
        assert!(
            restarted
                .active_users(late, TTL)
                .await
                .expect("active")
                .is_empty(),
            "the file says 60 s"
        );
        assert_eq!(
            restarted
                .touch_session("t", 60_000 + TTL, TTL)
                .await
                .expect("touch"),
            None
        );
    }

    #[tokio::test]
    async fn another_process_removing_a_user_ends_the_session_at_once() {
        let server = temp_store(SqliteOptions::default()).await;
        server.create_user(&user("messi")).await.expect("user");
        server
            .create_session(&Session {
                token: "t".into(),
                username: "messi".into(),
                last_seen_ms: 0,
            })
            .await
            .expect("session");
        assert!(
            server
                .touch_session("t", 1, 1_000_000)
                .await
                .expect("touch")
                .is_some()
        );
        let (cli, _) = SqliteStore::open(server.path())
            .await
            .expect("second handle");
        assert!(cli.remove_user("messi").await.expect("remove"));
        assert_eq!(
            server
                .touch_session("t", 2, 1_000_000)
                .await
                .expect("touch"),
            None
        );
        assert!(
            server
                .active_users(2, 1_000_000)
                .await
                .expect("active")
                .is_empty()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_sends_share_transactions_and_all_commit() {
        let store = temp_store(SqliteOptions::default()).await;
        let sends: Vec<_> = (0..200)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(
                    async move { store.append_message(msg("a", "b", &format!("m{i}"))).await },
                )
            })
            .collect();
        let mut ids = Vec::new();
        for send in sends {
            ids.push(send.await.expect("join").expect("append").id);
        }
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 200);
        assert!(
            store.commits() < 100,
            "200 concurrent sends took {} commits",
            store.commits()
        );
        assert_eq!(store.drain_inbox("b").await.expect("drain").len(), 200);
    }
}
