//! The SQLite store (the default): one database file, durable, shared with the
//! `chat-server user` commands while the server runs.
//!
//! # Durability
//! The database runs in WAL mode with `synchronous=FULL`: every commit fsyncs the
//! write-ahead log, so an `OK` survives a power cut, not only a killed process (WAL
//! with `NORMAL` would survive `kill -9` but could lose the last commits on power
//! loss). Group commit makes `FULL` affordable: one fsync per batch, not per send.
//!
//! # Writes
//! Every write of this process goes through one thread (`writer`), which commits
//! whatever is queued in one transaction and answers each caller after the commit.
//!
//! # Reads: from memory
//! A serving process answers session checks, inbox counts (so an empty inbox) and
//! account lookups from memory (`hot`), kept exact by the writer; the database is
//! read for history, account lists and the first lookup of an account. That is
//! what lets polling cost no more than a `ping`. It needs the process to be the
//! only server on the file (`lock`), and it notices `chat-server user` changes
//! within `writer::WATCH_EVERY` (50 ms), which the command waits for.
//!
//! # Sessions: cheap `touch_session`
//! Writing `last_seen` on every request would cost an fsync per request. The newest
//! `last_seen` of each token lives in memory and is written (without waiting) only
//! when it has moved by at least `min(ttl / 10, 60 s)` since the stored value.
//! Every answer is exact. After a restart the memory is gone, so a session may
//! expire up to `min(ttl / 10, 60 s)` early, never late.

mod hot;
mod lock;
mod writer;

use super::{
    NewMessage, ReadMarkers, Session, Store, StoreError, StoreResult, StoredMessage, User, Wakeups,
};
use hot::{Hot, Touched};
use sqlx::Row;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::oneshot;
use writer::{Done, Job, Op, Writer, lock as lock_hot, pair, unavailable};

/// The schema's versioned migrations (`server/migrations/sqlite/`), embedded in the
/// binary and applied in order at open.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// The most a stored `last_seen` lags the true one (see the module docs).
const MAX_TOUCH_LAG_MS: i64 = 60_000;

/// How long a `chat-server user` command waits for a running server to confirm.
const CONFIRM_WAIT: Duration = Duration::from_secs(5);

/// What a process opens the database for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Access {
    /// Serving clients: takes the server lock (one server per file).
    #[default]
    Serve,
    /// `chat-server user ...`: no lock; account changes wait until a running
    /// server confirms it has applied them.
    Admin,
}

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
    /// Serving or administering.
    pub access: Access,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            max_batch: 512,
            read_connections: 4,
            busy_timeout: Duration::from_secs(5),
            access: Access::Serve,
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
    /// Unbounded: every write but a session's touch or expiry waits for its answer,
    /// so the queue holds at most one write per connection plus touches and expiries
    /// (each at most one per session at a time).
    writer: mpsc::Sender<Job>,
    /// Held for a method call of `Hot` only, never across an `.await`.
    hot: Arc<Mutex<Hot>>,
    path: PathBuf,
    access: Access,
    /// Transactions the writer has committed.
    commits: Arc<AtomicU64>,
    /// Waiting `sync` requests; the writer wakes them after each commit.
    wakeups: Wakeups,
    /// Released with the last handle.
    _lock: Option<lock::ServerLock>,
    /// Tests park the temporary directory here so it lives as long as the store.
    #[cfg(test)]
    keep: Mutex<Option<tempfile::TempDir>>,
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

/// Connection settings of the read pool (which also runs the migrations); the
/// writer's connection gets the same from [`writer::connect`].
fn connect_options(path: &Path, options: &SqliteOptions) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(options.busy_timeout)
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` to serve, with default
    /// options, and runs pending migrations. Also returns whether the database was
    /// new (had no schema before this call).
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
        let server_lock = match options.access {
            Access::Serve => Some(lock::acquire(path).await?),
            Access::Admin => None,
        };
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
        let writer_path = path.to_path_buf();
        let busy_timeout = options.busy_timeout;
        let confirms = server_lock.is_some();
        let max_batch = options.max_batch.max(1);
        let (conn, version, loaded) = tokio::task::spawn_blocking(move || {
            let shown = writer_path.display();
            let mut conn = writer::connect(&writer_path, busy_timeout)
                .map_err(|e| unavailable(&format!("cannot open {shown}"), e))?;
            // The version first: a commit landing during the load is then seen again.
            let (version, (loaded, requested)) = writer::data_version(&conn)
                .and_then(|v| Ok((v, writer::load(&mut conn)?)))
                .map_err(|e| unavailable(&format!("cannot read {shown}"), e))?;
            if confirms {
                writer::confirm(&conn, requested)
                    .map_err(|e| unavailable(&format!("cannot write {shown}"), e))?;
            }
            Ok::<_, StoreError>((conn, version, loaded))
        })
        .await
        .map_err(|e| unavailable(&format!("cannot open {shown}"), e))??;
        let mut hot = Hot::default();
        hot.reload(loaded);
        let hot = Arc::new(Mutex::new(hot));
        let (jobs_in, queue) = mpsc::channel();
        let commits = Arc::new(AtomicU64::new(0));
        let wakeups = Wakeups::new();
        Writer {
            conn,
            queue,
            max_batch,
            commits: Arc::clone(&commits),
            hot: Arc::clone(&hot),
            data_version: Some(version),
            confirms,
            open: Vec::new(),
            wakeups: wakeups.clone(),
        }
        .spawn()
        .map_err(|e| unavailable("cannot start the database writer", e))?;
        let inner = Inner {
            reads,
            writer: jobs_in,
            hot,
            path: path.to_path_buf(),
            access: options.access,
            commits,
            wakeups,
            _lock: server_lock,
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

    /// Waits until every write queued before this call is committed.
    pub async fn flush(&self) -> StoreResult<()> {
        self.write(Op::Sync).await.map(drop)
    }

    async fn write(&self, op: Op) -> StoreResult<Done> {
        let (reply, answer) = oneshot::channel();
        let stopped = || StoreError::Unavailable("the database writer has stopped".into());
        self.inner
            .writer
            .send(Job {
                op,
                reply: Some(reply),
            })
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    async fn write_flag(&self, op: Op) -> StoreResult<bool> {
        match self.write(op).await? {
            Done::Flag(flag) => Ok(flag),
            other => Err(unexpected(other)),
        }
    }

    fn hot(&self) -> MutexGuard<'_, Hot> {
        lock_hot(&self.inner.hot)
    }

    /// After an account change by `chat-server user`: when a server runs on this
    /// file, waits until it confirms it has applied the change.
    async fn confirm_with_server(&self) -> StoreResult<()> {
        if self.inner.access != Access::Admin || !lock::server_running(&self.inner.path) {
            return Ok(());
        }
        let Done::Count(wanted) = self.write(Op::RequestSync).await? else {
            return Err(StoreError::Unavailable(
                "internal error: unexpected answer to a sync request".into(),
            ));
        };
        let wanted = i64::try_from(wanted).unwrap_or(i64::MAX);
        let deadline = tokio::time::Instant::now() + CONFIRM_WAIT;
        loop {
            let applied: i64 = sqlx::query_scalar("SELECT applied FROM admin_sync WHERE id = 1")
                .fetch_one(&self.inner.reads)
                .await
                .map_err(|e| unavailable("reading admin_sync", e))?;
            if applied >= wanted {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline || !lock::server_running(&self.inner.path) {
                tracing::warn!(
                    "the running server has not confirmed the change yet; it applies it when it next reads the database"
                );
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

fn unexpected(done: Done) -> StoreError {
    StoreError::Unavailable(format!("internal error: unexpected writer answer {done:?}"))
}

impl Store for SqliteStore {
    async fn user(&self, username: &str) -> StoreResult<Option<User>> {
        let epoch = {
            let hot = self.hot();
            if let Some(user) = hot.user(username) {
                return Ok(Some(user));
            }
            hot.users_epoch()
        };
        let row = sqlx::query(
            "SELECT username, display_name, country, password_hash FROM users WHERE username = ?",
        )
        .bind(username)
        .fetch_optional(&self.inner.reads)
        .await
        .map_err(|e| unavailable("reading a user", e))?;
        let user = row
            .as_ref()
            .map(user_from_row)
            .transpose()
            .map_err(|e| unavailable("reading a user", e))?;
        if let Some(user) = &user {
            self.hot().fill_user(epoch, user);
        }
        Ok(user)
    }

    async fn create_user(&self, user: &User) -> StoreResult<()> {
        match self.write_flag(Op::CreateUser(user.clone())).await? {
            true => self.confirm_with_server().await,
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
        let removed = self
            .write_flag(Op::RemoveUser(username.to_string()))
            .await?;
        if removed {
            self.confirm_with_server().await?;
        }
        Ok(removed)
    }

    async fn set_password_hash(&self, username: &str, hash: &str) -> StoreResult<bool> {
        let changed = self
            .write_flag(Op::SetPasswordHash {
                username: username.to_string(),
                hash: hash.to_string(),
            })
            .await?;
        if changed {
            self.confirm_with_server().await?;
        }
        Ok(changed)
    }

    async fn create_session(&self, session: &Session) -> StoreResult<()> {
        self.write_flag(Op::CreateSession(session.clone()))
            .await
            .map(drop)
    }

    async fn touch_session(
        &self,
        token: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> StoreResult<Option<String>> {
        let mut hot = self.hot();
        match hot.touch(token, now_ms, ttl_ms, write_threshold(ttl_ms)) {
            Touched::Unknown => Ok(None),
            Touched::Expired => {
                // Already forgotten here; the row goes when the writer gets to it
                // (a restart before that finds it expired anyway).
                let op = Op::Expire {
                    token: token.to_string(),
                    cutoff_ms: now_ms - ttl_ms,
                };
                let _ = self.inner.writer.send(Job { op, reply: None });
                Ok(None)
            }
            Touched::Live { username, write } => {
                if let Some(last_seen_ms) = write {
                    // Not waited for: only a restart reads it. If the writer has
                    // stopped, a later request tries again.
                    let op = Op::Touch {
                        token: token.to_string(),
                        last_seen_ms,
                    };
                    if self.inner.writer.send(Job { op, reply: None }).is_ok() {
                        hot.storing(token, last_seen_ms);
                    }
                }
                Ok(Some(username))
            }
        }
    }

    async fn delete_session(&self, token: &str) -> StoreResult<bool> {
        self.write_flag(Op::DeleteSession(token.to_string())).await
    }

    async fn active_users(&self, now_ms: i64, ttl_ms: i64) -> StoreResult<Vec<String>> {
        Ok(self.hot().active_users(now_ms - ttl_ms))
    }

    async fn purge_sessions(&self, now_ms: i64, ttl_ms: i64) -> StoreResult<u64> {
        let expired = self.hot().take_expired(now_ms - ttl_ms);
        if expired.is_empty() {
            return Ok(0);
        }
        match self.write(Op::DeleteSessions(expired)).await? {
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
        Ok(self.hot().pending(username).min(cap))
    }

    async fn drain_inbox(&self, username: &str) -> StoreResult<Vec<StoredMessage>> {
        // Polling clients find their inbox empty most of the time: answered from
        // memory, without queueing for the writer.
        if self.hot().pending(username) == 0 {
            return Ok(Vec::new());
        }
        match self.write(Op::Drain(username.to_string())).await? {
            Done::Messages(m) => Ok(m),
            other => Err(unexpected(other)),
        }
    }

    async fn sync(
        &self,
        username: &str,
        after_id: i64,
        limit: u32,
    ) -> StoreResult<Vec<StoredMessage>> {
        // A reissued sync with nothing new for it is answered from memory.
        let epoch = {
            let hot = self.hot();
            if hot.nothing_after(username, after_id) {
                return Ok(Vec::new());
            }
            hot.messages_epoch()
        };
        // Two bounded range scans (by recipient, by sender: migration 0004), merged.
        // A message to oneself is taken from the first only.
        let rows = sqlx::query(
            "SELECT * FROM ( \
               SELECT id, sender, recipient, sender_display, recipient_display, body, ts_ms FROM messages \
               WHERE recipient = ?1 AND id > ?2 ORDER BY id LIMIT ?3) \
             UNION ALL SELECT * FROM ( \
               SELECT id, sender, recipient, sender_display, recipient_display, body, ts_ms FROM messages \
               WHERE sender = ?1 AND recipient <> ?1 AND id > ?2 ORDER BY id LIMIT ?3) \
             ORDER BY id LIMIT ?3",
        )
        .bind(username)
        .bind(after_id)
        .bind(i64::from(limit))
        .fetch_all(&self.inner.reads)
        .await
        .map_err(|e| unavailable("reading messages to sync", e))?;
        let messages = rows
            .iter()
            .map(message_from_row)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| unavailable("reading messages to sync", e))?;
        // A short page holds the user's newest message (or there is none above the
        // cursor): remember the bound, unless a message committed meanwhile.
        if messages.len() < limit as usize {
            let bound = messages.last().map_or(after_id, |m| m.id);
            self.hot().bound_newest(epoch, username, bound);
        }
        Ok(messages)
    }

    async fn acknowledge(&self, username: &str, up_to_id: i64) -> StoreResult<u64> {
        // Most syncs find nothing undelivered: answered from memory, no write.
        if self.hot().pending(username) == 0 {
            return Ok(0);
        }
        let op = Op::Acknowledge {
            username: username.to_string(),
            up_to_id,
        };
        match self.write(op).await? {
            Done::Count(n) => Ok(n),
            other => Err(unexpected(other)),
        }
    }

    fn wakeups(&self) -> &Wakeups {
        &self.inner.wakeups
    }

    async fn set_read_marker(
        &self,
        username: &str,
        peer: &str,
        message_id: i64,
    ) -> StoreResult<bool> {
        self.write_flag(Op::SetReadMarker {
            username: username.to_string(),
            peer: peer.to_string(),
            message_id,
        })
        .await
    }

    async fn read_markers(&self, username: &str, since: i64) -> StoreResult<ReadMarkers> {
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT peer, message_id, version FROM read_markers \
             WHERE username = ? AND version > ? ORDER BY peer",
        )
        .bind(username)
        .bind(since)
        .fetch_all(&self.inner.reads)
        .await
        .map_err(|e| unavailable("reading read markers", e))?;
        Ok(super::read_markers_from(rows, since))
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
mod tests;
