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

    /// Stops `store` (the last handle) and opens its file again, as a restart does.
    async fn restart(store: SqliteStore) -> SqliteStore {
        store.flush().await.expect("flush");
        let dir = store.inner.keep.lock().expect("lock").take();
        let path = store.path().to_path_buf();
        drop(store);
        let (again, created) = SqliteStore::open(&path).await.expect("restart");
        assert!(!created);
        *again.inner.keep.lock().expect("lock") = dir;
        again
    }

    /// A plain connection to the store's file, going around the store entirely.
    async fn raw_connection(store: &SqliteStore) -> SqlitePool {
        SqlitePool::connect_with(connect_options(store.path(), &SqliteOptions::default()))
            .await
            .expect("raw connection")
    }

    /// A second handle on the same file, as `chat-server user` opens it.
    async fn admin(store: &SqliteStore) -> SqliteStore {
        let options = SqliteOptions {
            access: Access::Admin,
            ..SqliteOptions::default()
        };
        let (admin, created) = SqliteStore::open_with(store.path(), options)
            .await
            .expect("admin handle");
        assert!(!created);
        admin
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
        let again = restart(store).await;
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

        let again = restart(store).await;
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
        store.flush().await.expect("flush");
        assert_eq!(
            stored_last_seen(&store, "t").await,
            Some(60_000),
            "a 60 s move is written"
        );

        // A restart forgets the unwritten part: the session ends at most 60 s early.
        store.touch_session("t", 100_000, TTL).await.expect("touch");
        let late = 100_000 + TTL - 1;
        assert_eq!(
            store.active_users(late, TTL).await.expect("active"),
            ["messi"],
            "this process remembers 100 s"
        );
        let restarted = restart(store).await;
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
        assert_eq!(
            server.user("messi").await.expect("user"),
            Some(user("messi")),
            "now remembered"
        );
        let cli = admin(&server).await;
        assert!(cli.set_password_hash("messi", "new").await.expect("passwd"));
        assert_eq!(
            server
                .user("messi")
                .await
                .expect("user")
                .map(|u| u.password_hash)
                .as_deref(),
            Some("new"),
            "the command returns once the server has the new hash"
        );
        assert!(cli.remove_user("messi").await.expect("remove"));
        assert_eq!(server.user("messi").await.expect("user"), None);
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

    #[tokio::test]
    async fn changes_by_any_other_connection_reach_memory() {
        let store = temp_store(SqliteOptions::default()).await;
        assert!(store.drain_inbox("messi").await.expect("drain").is_empty());
        // Memory now knows messi has nothing after 0.
        assert!(store.sync("messi", 0, 10).await.expect("sync").is_empty());
        // Not through a store at all: raw SQL on a connection of its own.
        let raw = raw_connection(&store).await;
        let mut tx = raw.begin().await.expect("begin");
        sqlx::query(
            "INSERT INTO messages (sender, recipient, sender_display, recipient_display, body, ts_ms, pair_lo, pair_hi) \
             VALUES ('a', 'messi', 'A', 'M', 'from outside', 1, 'a', 'messi')",
        )
        .execute(&mut *tx)
        .await
        .expect("insert");
        sqlx::query("INSERT INTO sessions (token, username, last_seen_ms) VALUES ('x', 'a', 5)")
            .execute(&mut *tx)
            .await
            .expect("session");
        tx.commit().await.expect("commit");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let drained = loop {
            let drained = store.drain_inbox("messi").await.expect("drain");
            if !drained.is_empty() || tokio::time::Instant::now() > deadline {
                break drained;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        assert_eq!(drained.len(), 1, "the watch reloads the inbox counts");
        assert_eq!(
            store.sync("messi", 0, 10).await.expect("sync").len(),
            1,
            "and forgets what it knew of the newest messages"
        );
        assert_eq!(drained[0].text, "from outside");
        assert_eq!(
            store
                .touch_session("x", 6, 1_000)
                .await
                .expect("touch")
                .as_deref(),
            Some("a"),
            "and the sessions"
        );
    }

    #[tokio::test]
    async fn a_failed_batch_of_sends_stores_none_of_them_and_the_next_one_works() {
        let store = temp_store(SqliteOptions::default()).await;
        let raw = raw_connection(&store).await;
        // ABORT undoes the statement but leaves its transaction open: the store
        // must end it, or every later write would fail.
        sqlx::query(
            "CREATE TRIGGER poison BEFORE INSERT ON messages WHEN NEW.body = 'poison' \
             BEGIN SELECT RAISE(ABORT, 'poisoned'); END",
        )
        .execute(&raw)
        .await
        .expect("trigger");
        let sends: Vec<_> = ["ok 1", "poison", "ok 2"]
            .into_iter()
            .map(|text| {
                let store = store.clone();
                tokio::spawn(async move { store.append_message(msg("a", "b", text)).await })
            })
            .collect();
        let mut failed = 0;
        for send in sends {
            if send.await.expect("join").is_err() {
                failed += 1;
            }
        }
        assert!(failed >= 1, "the poisoned send fails");
        let after = store
            .append_message(msg("a", "b", "after"))
            .await
            .expect("the writer goes on");
        let texts: Vec<String> = store
            .drain_inbox("b")
            .await
            .expect("drain")
            .into_iter()
            .map(|m| m.text)
            .collect();
        assert!(!texts.contains(&"poison".to_string()), "{texts:?}");
        assert_eq!(texts.len(), 4 - failed, "exactly the OK'd sends: {texts:?}");
        assert_eq!(texts.last(), Some(&after.text));
    }

    #[tokio::test]
    async fn a_second_server_on_the_same_file_is_refused() {
        let store = temp_store(SqliteOptions::default()).await;
        let err = SqliteStore::open(store.path())
            .await
            .expect_err("second server")
            .to_string();
        assert!(err.contains("is in use"), "{err}");
        admin(&store).await;
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
        let mut sent = Vec::new();
        for send in sends {
            let m = send.await.expect("join").expect("append");
            sent.push((m.id, m.text));
        }
        sent.sort_unstable();
        assert!(
            store.commits() < 100,
            "200 concurrent sends took {} commits",
            store.commits()
        );
        // The ids answered (worked out from the last one of each INSERT) are the
        // ids stored, each with its own text.
        let stored: Vec<(i64, String)> = store
            .drain_inbox("b")
            .await
            .expect("drain")
            .into_iter()
            .map(|m| (m.id, m.text))
            .collect();
        assert_eq!(stored.len(), 200);
        assert_eq!(sent, stored);
    }
}
