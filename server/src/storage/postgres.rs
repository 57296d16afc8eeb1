//! The PostgreSQL store (`--db postgres://...`): one database shared by any number of
//! `chat-server` nodes, which then behave as one server.
//!
//! ```text
//! --db postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?PARAMS]
//! --db postgresql://...                  the same
//!   pool_size=N                          connections per node (default 10); ours,
//!                                        removed before the rest goes to the driver
//!   options=-c%20search_path%3DSCHEMA    any libpq-style parameter sqlx knows
//! ```
//!
//! # Several nodes
//! Every node keeps nothing of its own that another node would need: sessions,
//! accounts and inboxes are rows, read on every request. So a token issued by one
//! node works on every other, a `logout` ends the session everywhere as soon as its
//! `OK` is sent, and who-is-on lists the sessions of every node. Nodes compare their
//! own clocks with stored times (`last_seen_ms`), so keep them in sync (NTP): a node
//! whose clock is off by `d` sees sessions expire `d` early or late.
//!
//! # Exactly-once drains
//! [`drain_inbox`](Store::drain_inbox) is one statement that locks, marks and returns
//! the recipient's undelivered rows (`FOR UPDATE SKIP LOCKED` in a materialized CTE,
//! then `UPDATE ... RETURNING`). A concurrent drain on another node skips the rows
//! this one holds instead of waiting for them, and a row marked delivered by a
//! committed drain no longer matches, so no message comes out twice; a drain that
//! fails rolls back and leaves its rows for the next one, so none is lost. An empty
//! inbox (the common case for polling clients) costs one index probe and no write.
//!
//! # Ids
//! Ids come from an identity column (a sequence), so an append that starts after
//! another one returned gets a larger id. Under concurrent sends ids are allocated
//! in start order but committed in any order, so a drain may rarely return id 11
//! before a later drain returns id 10; each message is still delivered once.
//!
//! # Sessions: cheap `touch_session`
//! Every request touches its session; writing `last_seen` each time would turn every
//! read into a write (a WAL record and a flush at commit). `touch_session` is one
//! statement that reads the session and writes `last_seen` only when it has moved by
//! at least `min(ttl / 10, 60 s)`, or deletes the session if it has expired. Nothing
//! is remembered in the node, so every node sees the same, stored `last_seen`: a
//! session may expire up to `min(ttl / 10, 60 s)` early, never late, and a session
//! deleted by any node is gone for all of them at once.
//!
//! # Losing the database
//! The pool waits at most [`PostgresOptions::acquire_timeout`] for a connection and
//! every call at most [`PostgresOptions::op_timeout`], so a node whose database is
//! gone answers `storage unavailable` within seconds instead of hanging. The pool
//! drops broken connections (sqlx pings each one as it is released, and we ping one
//! that sat idle for a second before using it) and opens new ones on demand, so the
//! node recovers by itself once the database is back. A
//! message gets its `OK` only after its `INSERT` committed, so with PostgreSQL's
//! default `synchronous_commit = on` nothing that got `OK` is lost when a node or the
//! database crashes. (A call that times out during its commit may still have
//! committed: the client got `ERROR` and may send again, so it may be delivered
//! twice; never zero times after an `OK`.)
//!
//! # Commits: group commit
//! Sends go to two appender tasks. An appender takes every send queued (up to
//! [`PostgresOptions::max_batch`]), stores them with one `INSERT ... SELECT FROM
//! unnest(...) RETURNING id` (one transaction, one WAL flush), and answers each
//! caller after the commit; while it commits, the other one collects the next batch.
//! So concurrent sends share a statement and a flush, and hold no pool connection
//! while they wait. A batch that fails is rolled back and every send in it gets
//! `Unavailable`. (Across nodes, PostgreSQL itself groups the WAL flushes of
//! concurrent commits.)

use super::{NewMessage, Session, Store, StoreError, StoreResult, StoredMessage, User};
use crate::metrics::{self, Backend};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{ConnectOptions, Connection, Row};
use std::fmt;
use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// The schema's versioned migrations (`server/migrations/postgres/`), embedded in
/// the binary and applied in order at open (several nodes starting at once take
/// turns: sqlx holds an advisory lock while it migrates).
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// The most a stored `last_seen` lags the true one (see the module docs).
const MAX_TOUCH_LAG_MS: i64 = 60_000;

/// A pooled connection idle this long is pinged before it is used again.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);

/// Our own connect-string parameter: connections per node.
const POOL_SIZE_PARAM: &str = "pool_size";

/// Tuning of a [`PostgresStore`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresOptions {
    /// Most connections this node opens. Every node opens its own pool, so the
    /// database must allow `nodes × max_connections` (plus its reserve).
    pub max_connections: u32,
    /// How long a call waits for a free (or new) connection before it fails with
    /// `Unavailable`.
    pub acquire_timeout: Duration,
    /// How long one call may take in all (waiting for a connection included)
    /// before it fails with `Unavailable`.
    pub op_timeout: Duration,
    /// How long [`PostgresStore::open`] tries to connect (more than a request may
    /// wait: a busy database can take seconds to start a backend, and a node should
    /// not fail to start for that). Waiting for another node's migrations is not
    /// bounded.
    pub connect_timeout: Duration,
    /// Most sends stored by one `INSERT` (group commit, see the module docs); `1`
    /// turns grouping off (one `INSERT` per send: the baseline).
    pub max_batch: usize,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        PostgresOptions {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(3),
            op_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(15),
            max_batch: 256,
        }
    }
}

/// A `postgres://` connect string. It may hold a password, so `Debug` and
/// `Display` show it without one.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresUrl(String);

impl PostgresUrl {
    /// Whether `url` names a PostgreSQL database (`postgres://` or `postgresql://`).
    pub fn matches(url: &str) -> bool {
        url.starts_with("postgres://") || url.starts_with("postgresql://")
    }

    /// Wraps a connect string; `None` unless it starts with `postgres://` or
    /// `postgresql://` (the rest is checked when it is opened).
    pub fn new(url: &str) -> Option<Self> {
        Self::matches(url).then(|| PostgresUrl(url.to_string()))
    }

    /// The full connect string, password included: for the driver only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The connect string without its password, for logs and messages.
    pub fn redacted(&self) -> String {
        redact(&self.0)
    }
}

impl fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PostgresUrl")
            .field(&self.redacted())
            .finish()
    }
}

impl fmt::Display for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// `url` with the password of its user-info (and any `password=` parameter)
/// replaced by `***`.
fn redact(url: &str) -> String {
    let (head, query) = match url.split_once('?') {
        Some((head, query)) => (head, Some(query)),
        None => (url, None),
    };
    let mut out = match head.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let authority = match authority.rsplit_once('@') {
                Some((userinfo, host)) => match userinfo.split_once(':') {
                    Some((user, _password)) => format!("{user}:***@{host}"),
                    None => authority.to_string(),
                },
                None => authority.to_string(),
            };
            format!("{scheme}://{authority}{path}")
        }
        None => head.to_string(),
    };
    if let Some(query) = query {
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some(("password", _)) => "password=***".to_string(),
                _ => pair.to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&pairs.join("&"));
    }
    out
}

/// Splits our own parameters ([`POOL_SIZE_PARAM`]) off a connect string: returns
/// the string for the driver and the pool size, if given.
fn split_params(url: &str) -> Result<(String, Option<u32>), String> {
    let Some((head, query)) = url.split_once('?') else {
        return Ok((url.to_string(), None));
    };
    let mut pool_size = None;
    let mut rest = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some((POOL_SIZE_PARAM, value)) => {
                let n = value
                    .parse::<u32>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("{POOL_SIZE_PARAM}={value}: expected a number of connections, at least 1"))?;
                pool_size = Some(n);
            }
            _ => rest.push(pair),
        }
    }
    let driver_url = if rest.is_empty() {
        head.to_string()
    } else {
        format!("{head}?{}", rest.join("&"))
    };
    Ok((driver_url, pool_size))
}

/// Cheap-to-clone handle to a pool of connections to one PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pool: PgPool,
    /// Sends for the appender tasks; `None` when grouping is off.
    appends: Option<mpsc::Sender<Append>>,
    /// `INSERT`s the appenders have committed.
    batches: Arc<AtomicU64>,
    op_timeout: Duration,
    description: String,
    /// Tests park their scratch schema here so it lives as long as the store.
    #[cfg(test)]
    keep: std::sync::Mutex<Option<testing::ScratchSchema>>,
}

fn unavailable(context: &str, e: impl fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("{context}: {e}"))
}

fn pair<'a>(a: &'a str, b: &'a str) -> (&'a str, &'a str) {
    if a <= b { (a, b) } else { (b, a) }
}

/// How far `last_seen` may move before it is written (see the module docs).
fn write_threshold(ttl_ms: i64) -> i64 {
    (ttl_ms / 10).clamp(0, MAX_TOUCH_LAG_MS)
}

fn message_from_row(row: &PgRow) -> Result<StoredMessage, sqlx::Error> {
    let body: Vec<u8> = row.try_get(5)?;
    Ok(StoredMessage {
        id: row.try_get(0)?,
        from: row.try_get(1)?,
        to: row.try_get(2)?,
        from_display: row.try_get(3)?,
        to_display: row.try_get(4)?,
        text: String::from_utf8(body).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        ts_ms: row.try_get(6)?,
    })
}

fn user_from_row(row: &PgRow) -> Result<User, sqlx::Error> {
    Ok(User {
        username: row.try_get(0)?,
        display_name: row.try_get(1)?,
        country: row.try_get(2)?,
        password_hash: row.try_get(3)?,
    })
}

/// Driver options for `url`, and the pool size it asks for.
fn connect_options(url: &PostgresUrl) -> StoreResult<(PgConnectOptions, Option<u32>)> {
    let shown = url.redacted();
    let (driver_url, pool_size) =
        split_params(url.expose()).map_err(|e| unavailable(&format!("--db {shown}"), e))?;
    let mut options = PgConnectOptions::from_str(&driver_url)
        .map_err(|e| unavailable(&format!("--db {shown}"), e))?;
    if options.get_application_name().is_none() {
        options = options.application_name("chat-server");
    }
    Ok((options, pool_size))
}

impl PostgresStore {
    /// Connects to `url` with default options (the connect string's `pool_size`
    /// overrides the pool size) and runs pending migrations. Also returns whether
    /// the database was new (no table in its schema before this call), so demo users
    /// may be seeded.
    pub async fn open(url: &PostgresUrl) -> StoreResult<(Self, bool)> {
        Self::open_with(url, PostgresOptions::default()).await
    }

    /// [`open`](Self::open) with explicit options (`pool_size` in the connect string
    /// still wins over `options.max_connections`).
    pub async fn open_with(
        url: &PostgresUrl,
        options: PostgresOptions,
    ) -> StoreResult<(Self, bool)> {
        let shown = url.redacted();
        let (connect, pool_size) = connect_options(url)?;
        let max_connections = pool_size.unwrap_or(options.max_connections).max(1);
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(options.acquire_timeout)
            // sqlx already pings every connection when it is released; a ping
            // before every use too would add a round trip to every request. Only a
            // connection that sat idle (the database may have restarted meanwhile)
            // is checked before use.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_IF_IDLE_FOR {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
            .connect_lazy_with(connect.clone());
        // Check and migrate on a connection of its own, with the longer budget.
        let mut conn = match tokio::time::timeout(options.connect_timeout, connect.connect()).await
        {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => return Err(unavailable(&format!("cannot connect to {shown}"), e)),
            Err(_) => {
                return Err(StoreError::Unavailable(format!(
                    "cannot connect to {shown}: no answer within {:?}",
                    options.connect_timeout
                )));
            }
        };
        let tables: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema()",
        )
        .fetch_one(&mut conn)
        .await
        .map_err(|e| unavailable(&format!("cannot read {shown}"), e))?;
        MIGRATOR
            .run(&mut conn)
            .await
            .map_err(|e| unavailable(&format!("cannot migrate {shown}"), e))?;
        if let Err(e) = conn.close().await {
            tracing::debug!(error = %e, "closing the migration connection");
        }
        let batches = Arc::new(AtomicU64::new(0));
        let appends =
            (options.max_batch > 1).then(|| start_appenders(&pool, &options, Arc::clone(&batches)));
        let inner = Inner {
            pool,
            appends,
            batches,
            op_timeout: options.op_timeout,
            description: format!("postgres {shown} (pool of {max_connections})"),
            #[cfg(test)]
            keep: std::sync::Mutex::new(None),
        };
        Ok((
            PostgresStore {
                inner: Arc::new(inner),
            },
            tables == 0,
        ))
    }

    /// How many grouped `INSERT`s this handle has committed (each one transaction);
    /// fewer than sends when concurrent sends share them.
    pub fn batches(&self) -> u64 {
        self.inner.batches.load(Ordering::Relaxed)
    }

    /// For the log: the database (without password) and the pool size.
    pub fn description(&self) -> &str {
        &self.inner.description
    }

    /// Closes every connection of this node; later calls fail with `Unavailable`.
    pub async fn close(&self) {
        self.inner.pool.close().await;
    }

    /// Runs one database call with the store's time limit; `context` says what it
    /// was doing in the error.
    async fn timed<T>(
        &self,
        context: &str,
        work: impl Future<Output = Result<T, sqlx::Error>>,
    ) -> StoreResult<T> {
        match tokio::time::timeout(self.inner.op_timeout, work).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(unavailable(context, e)),
            Err(_) => Err(StoreError::Unavailable(format!(
                "{context}: no answer from PostgreSQL within {:?}",
                self.inner.op_timeout
            ))),
        }
    }
}

/// A send waiting for an appender, answered with its id after the commit.
#[derive(Debug)]
struct Append {
    message: NewMessage,
    reply: oneshot::Sender<StoreResult<i64>>,
}

/// Appender tasks per node: while one commits a batch, the next collects the sends
/// that arrive meanwhile.
const APPENDERS: usize = 2;

/// Starts the appender tasks; they end when the store (every sender) is gone.
fn start_appenders(
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
        let started = std::time::Instant::now();
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
                metrics::store_committed(Backend::Postgres, ids.len(), started.elapsed());
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

/// Stores one message with its own `INSERT` (grouping off); returns its id.
async fn insert_one(pool: &PgPool, m: &NewMessage) -> Result<i64, sqlx::Error> {
    let (lo, hi) = pair(&m.from, &m.to);
    sqlx::query_scalar(
        "INSERT INTO messages (sender, recipient, sender_display, recipient_display, body, ts_ms, pair_lo, pair_hi) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
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
    let mut ids: Vec<i64> = sqlx::query_scalar(
        "INSERT INTO messages (sender, recipient, sender_display, recipient_display, body, ts_ms, pair_lo, pair_hi) \
         SELECT s, r, sd, rd, b, t, lo, hi \
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bytea[], $6::int8[], $7::text[], $8::text[]) \
              WITH ORDINALITY AS batch (s, r, sd, rd, b, t, lo, hi, n) \
         ORDER BY n \
         RETURNING id",
    )
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

impl Store for PostgresStore {
    async fn user(&self, username: &str) -> StoreResult<Option<User>> {
        self.timed("reading a user", async {
            let row = sqlx::query("SELECT username, display_name, country, password_hash FROM users WHERE username = $1")
                .bind(username)
                .fetch_optional(&self.inner.pool)
                .await?;
            row.as_ref().map(user_from_row).transpose()
        })
        .await
    }

    async fn create_user(&self, user: &User) -> StoreResult<()> {
        let done = self
            .timed(
                "creating a user",
                sqlx::query(
                    "INSERT INTO users (username, display_name, country, password_hash) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (username) DO NOTHING",
                )
                .bind(&user.username)
                .bind(&user.display_name)
                .bind(&user.country)
                .bind(&user.password_hash)
                .execute(&self.inner.pool),
            )
            .await?;
        match done.rows_affected() {
            1 => Ok(()),
            _ => Err(StoreError::UserExists(user.username.clone())),
        }
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        self.timed("listing users", async {
            let rows = sqlx::query("SELECT username, display_name, country, password_hash FROM users ORDER BY username")
                .fetch_all(&self.inner.pool)
                .await?;
            rows.iter().map(user_from_row).collect()
        })
        .await
    }

    async fn remove_user(&self, username: &str) -> StoreResult<bool> {
        // One statement, so the account and its sessions go together.
        let done = self
            .timed(
                "removing a user",
                sqlx::query(
                    "WITH ended AS (DELETE FROM sessions WHERE username = $1) DELETE FROM users WHERE username = $1",
                )
                .bind(username)
                .execute(&self.inner.pool),
            )
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn set_password_hash(&self, username: &str, hash: &str) -> StoreResult<bool> {
        let done = self
            .timed(
                "changing a password",
                sqlx::query("UPDATE users SET password_hash = $1 WHERE username = $2")
                    .bind(hash)
                    .bind(username)
                    .execute(&self.inner.pool),
            )
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn create_session(&self, session: &Session) -> StoreResult<()> {
        self.timed(
            "creating a session",
            sqlx::query(
                "INSERT INTO sessions (token, username, last_seen_ms) VALUES ($1, $2, $3) \
                 ON CONFLICT (token) DO UPDATE SET username = excluded.username, last_seen_ms = excluded.last_seen_ms",
            )
            .bind(&session.token)
            .bind(&session.username)
            .bind(session.last_seen_ms)
            .execute(&self.inner.pool),
        )
        .await?;
        Ok(())
    }

    async fn touch_session(
        &self,
        token: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> StoreResult<Option<String>> {
        // One round trip. The UPDATE and the DELETE match disjoint rows (live and
        // moved enough / expired) and usually none at all, in which case the
        // statement writes nothing. All three parts see the same snapshot, so
        // `found` is the session as it was before this call.
        let row: Option<(String, i64)> = self
            .timed(
                "reading a session",
                sqlx::query_as(
                    "WITH found AS (SELECT username, last_seen_ms FROM sessions WHERE token = $1), \
                     moved AS (UPDATE sessions SET last_seen_ms = $2 \
                               WHERE token = $1 AND last_seen_ms > $2 - $3 AND last_seen_ms <= $2 - $4), \
                     expired AS (DELETE FROM sessions WHERE token = $1 AND last_seen_ms <= $2 - $3) \
                     SELECT username, last_seen_ms FROM found",
                )
                .bind(token)
                .bind(now_ms)
                .bind(ttl_ms)
                .bind(write_threshold(ttl_ms))
                .fetch_optional(&self.inner.pool),
            )
            .await?;
        Ok(row
            .filter(|(_, last_seen)| now_ms - last_seen < ttl_ms)
            .map(|(username, _)| username))
    }

    async fn delete_session(&self, token: &str) -> StoreResult<bool> {
        let done = self
            .timed(
                "ending a session",
                sqlx::query("DELETE FROM sessions WHERE token = $1")
                    .bind(token)
                    .execute(&self.inner.pool),
            )
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn active_users(&self, now_ms: i64, ttl_ms: i64) -> StoreResult<Vec<String>> {
        self.timed(
            "listing sessions",
            sqlx::query_scalar(
                "SELECT DISTINCT username FROM sessions WHERE last_seen_ms > $1 ORDER BY username",
            )
            .bind(now_ms - ttl_ms)
            .fetch_all(&self.inner.pool),
        )
        .await
    }

    async fn purge_sessions(&self, now_ms: i64, ttl_ms: i64) -> StoreResult<u64> {
        let done = self
            .timed(
                "removing expired sessions",
                sqlx::query("DELETE FROM sessions WHERE last_seen_ms <= $1")
                    .bind(now_ms - ttl_ms)
                    .execute(&self.inner.pool),
            )
            .await?;
        Ok(done.rows_affected())
    }

    async fn append_message(&self, message: NewMessage) -> StoreResult<StoredMessage> {
        let id = match &self.inner.appends {
            Some(appends) => {
                let (reply, answer) = oneshot::channel();
                let job = Append {
                    message: message.clone(),
                    reply,
                };
                let queued = async {
                    appends.send(job).await.map_err(|_| ())?;
                    answer.await.map_err(|_| ())
                };
                match tokio::time::timeout(self.inner.op_timeout, queued).await {
                    Ok(Ok(result)) => result?,
                    Ok(Err(())) => {
                        return Err(StoreError::Unavailable(
                            "storing a message: the appenders have stopped".into(),
                        ));
                    }
                    Err(_) => {
                        return Err(StoreError::Unavailable(format!(
                            "storing a message: no answer from PostgreSQL within {:?}",
                            self.inner.op_timeout
                        )));
                    }
                }
            }
            None => {
                self.timed("storing a message", insert_one(&self.inner.pool, &message))
                    .await?
            }
        };
        Ok(message.stored(id))
    }

    async fn undelivered_count(&self, username: &str, cap: u64) -> StoreResult<u64> {
        self.timed("counting an inbox", async {
            let count: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM (SELECT 1 FROM messages \
                 WHERE recipient = $1 AND delivered_at_ms IS NULL LIMIT $2) AS waiting",
            )
            .bind(username)
            .bind(i64::try_from(cap).unwrap_or(i64::MAX))
            .fetch_one(&self.inner.pool)
            .await?;
            Ok(u64::try_from(count).unwrap_or(0))
        })
        .await
    }

    async fn drain_inbox(&self, username: &str) -> StoreResult<Vec<StoredMessage>> {
        // One statement claims and returns (see the module docs). MATERIALIZED: the
        // locking scan runs exactly once. RETURNING has no defined order, hence the
        // sort.
        let mut messages = self
            .timed("draining an inbox", async {
                let rows = sqlx::query(
                    "WITH claimed AS MATERIALIZED ( \
                         SELECT id FROM messages WHERE recipient = $1 AND delivered_at_ms IS NULL \
                         ORDER BY id FOR UPDATE SKIP LOCKED) \
                     UPDATE messages AS m \
                     SET delivered_at_ms = (extract(epoch FROM clock_timestamp()) * 1000)::bigint \
                     FROM claimed WHERE m.id = claimed.id AND m.delivered_at_ms IS NULL \
                     RETURNING m.id, m.sender, m.recipient, m.sender_display, m.recipient_display, m.body, m.ts_ms",
                )
                .bind(username)
                .fetch_all(&self.inner.pool)
                .await?;
                rows.iter().map(message_from_row).collect::<Result<Vec<_>, _>>()
            })
            .await?;
        messages.sort_by_key(|m| m.id);
        Ok(messages)
    }

    async fn history(
        &self,
        a: &str,
        b: &str,
        limit: u32,
        before_id: Option<i64>,
    ) -> StoreResult<Vec<StoredMessage>> {
        let (lo, hi) = pair(a, b);
        let mut messages = self
            .timed("reading history", async {
                let rows = sqlx::query(
                    "SELECT id, sender, recipient, sender_display, recipient_display, body, ts_ms FROM messages \
                     WHERE pair_lo = $1 AND pair_hi = $2 AND id < $3 ORDER BY id DESC LIMIT $4",
                )
                .bind(lo)
                .bind(hi)
                .bind(before_id.unwrap_or(i64::MAX))
                .bind(i64::from(limit))
                .fetch_all(&self.inner.pool)
                .await?;
                rows.iter().map(message_from_row).collect::<Result<Vec<_>, _>>()
            })
            .await?;
        messages.reverse();
        Ok(messages)
    }
}

pub mod testing {
    //! Throwaway schemas for tests and benchmarks, so runs never collide.
    //!
    //! ```text
    //! CHAT_TEST_POSTGRES_URL   database to use (default postgres://postgres@127.0.0.1:5432/test)
    //! CI=true                  an unreachable database fails the test instead of skipping it
    //! ```
    //!
    //! A [`ScratchSchema`] is a new schema `chat_test_<unix seconds>_<random>` in that
    //! database; its [`url`](ScratchSchema::url) puts it first on the `search_path`, so
    //! a store or a `chat-server --db` opened with that URL sees only it, with a pool
    //! of [`SCRATCH_POOL_SIZE`] (many tests run at once, and PostgreSQL's default
    //! `max_connections` is 100). Dropping the
    //! value drops the schema; schemas of runs that crashed are dropped by the next
    //! run once they are a day old.

    use super::PostgresUrl;
    use sqlx::postgres::{PgConnectOptions, PgConnection};
    use sqlx::{AssertSqlSafe, ConnectOptions, Connection};
    use std::str::FromStr;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    /// Environment variable naming the test database.
    pub const URL_VAR: &str = "CHAT_TEST_POSTGRES_URL";

    /// The test database when [`URL_VAR`] is not set.
    pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

    /// Connections per store or node opened with a scratch schema's URL.
    pub const SCRATCH_POOL_SIZE: u32 = 4;

    /// How long to try to reach the test database.
    const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

    /// Scratch schemas older than this are left over by crashed runs.
    const STALE_AFTER_SECS: u64 = 24 * 3600;

    /// The test database's connect string: [`URL_VAR`] or [`DEFAULT_URL`].
    pub fn base_url() -> String {
        std::env::var(URL_VAR)
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| DEFAULT_URL.to_string())
    }

    /// Whether this is a CI run (`CI=true` or `CI=1`), where a missing database is
    /// a failure.
    pub fn in_ci() -> bool {
        std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
    }

    /// Why a scratch schema could not be made.
    #[derive(Debug)]
    pub enum ScratchError {
        /// The database cannot be reached (tests skip, outside CI).
        Unreachable(String),
        /// It was reached but the schema could not be made (tests fail).
        Failed(String),
    }

    impl std::fmt::Display for ScratchError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            match self {
                ScratchError::Unreachable(why) | ScratchError::Failed(why) => f.write_str(why),
            }
        }
    }

    /// A schema of its own in the test database, dropped with the value.
    #[derive(Debug)]
    pub struct ScratchSchema {
        name: String,
        base: String,
        url: String,
    }

    impl ScratchSchema {
        /// A new empty schema in the database at `base_url`.
        pub async fn create(base_url: &str) -> Result<ScratchSchema, ScratchError> {
            let shown = super::redact(base_url);
            let options = PgConnectOptions::from_str(base_url)
                .map_err(|e| ScratchError::Failed(format!("{shown}: {e}")))?;
            let mut conn = match tokio::time::timeout(CONNECT_TIMEOUT, options.connect()).await {
                Ok(Ok(conn)) => conn,
                Ok(Err(e)) => return Err(ScratchError::Unreachable(format!("{shown}: {e}"))),
                Err(_) => {
                    return Err(ScratchError::Unreachable(format!(
                        "{shown}: no answer within {CONNECT_TIMEOUT:?}"
                    )));
                }
            };
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            drop_stale(&mut conn, now).await;
            let name = format!("chat_test_{now}_{}", uuid::Uuid::new_v4().simple());
            sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA {name}")))
                .execute(&mut conn)
                .await
                .map_err(|e| {
                    ScratchError::Failed(format!("creating schema {name} in {shown}: {e}"))
                })?;
            let _ = conn.close().await;
            let separator = if base_url.contains('?') { '&' } else { '?' };
            let url = format!(
                "{base_url}{separator}options=-c%20search_path%3D{name}&{}={SCRATCH_POOL_SIZE}",
                super::POOL_SIZE_PARAM
            );
            Ok(ScratchSchema {
                name,
                base: base_url.to_string(),
                url,
            })
        }

        /// A new schema in the test database ([`base_url`]), or `None` after printing
        /// `skipping: PostgreSQL not reachable at ...` to stderr when the database
        /// cannot be reached. Panics instead in CI ([`in_ci`]), and whenever the
        /// database is reached but the schema cannot be made.
        pub async fn create_or_skip(test: &str) -> Option<ScratchSchema> {
            let base = base_url();
            match ScratchSchema::create(&base).await {
                Ok(schema) => Some(schema),
                Err(ScratchError::Unreachable(why)) if !in_ci() => {
                    // Straight to the stream: the test harness captures `eprintln!`
                    // of passing tests, and this notice must be seen.
                    let notice = format!(
                        "{test}: skipping: PostgreSQL not reachable at {why} (set {URL_VAR} to use another)\n"
                    );
                    let _ = std::io::Write::write_all(&mut std::io::stderr(), notice.as_bytes());
                    None
                }
                Err(ScratchError::Unreachable(why)) => {
                    panic!(
                        "{test}: PostgreSQL not reachable at {why}, and CI=true requires it (set {URL_VAR})"
                    )
                }
                Err(ScratchError::Failed(why)) => panic!("{test}: {why}"),
            }
        }

        /// The schema's name.
        pub fn name(&self) -> &str {
            &self.name
        }

        /// A connect string whose connections use only this schema.
        pub fn url(&self) -> &str {
            &self.url
        }

        /// [`url`](Self::url) as a [`PostgresUrl`].
        pub fn postgres_url(&self) -> PostgresUrl {
            PostgresUrl(self.url.clone())
        }

        /// [`url`](Self::url), but connecting through `host:port` (a proxy in front of
        /// the database) instead of the database's own address.
        pub fn url_via(&self, host: &str, port: u16) -> String {
            format!("{}&host={host}&port={port}", self.url)
        }

        /// The database's TCP address as `(host, port)`; `None` for a Unix socket.
        pub fn server_address(&self) -> Option<(String, u16)> {
            let options = PgConnectOptions::from_str(&self.base).ok()?;
            match options.get_socket() {
                Some(_) => None,
                None => Some((options.get_host().to_string(), options.get_port())),
            }
        }
    }

    /// Drops scratch schemas older than [`STALE_AFTER_SECS`]; failures are ignored
    /// (another run may be dropping the same ones).
    async fn drop_stale(conn: &mut PgConnection, now: u64) {
        let names: Vec<String> =
            sqlx::query_scalar("SELECT nspname::text FROM pg_catalog.pg_namespace WHERE nspname LIKE 'chat\\_test\\_%'")
                .fetch_all(&mut *conn)
                .await
                .unwrap_or_default();
        for name in names {
            let created = name
                .split('_')
                .nth(2)
                .and_then(|secs| secs.parse::<u64>().ok());
            if created.is_some_and(|secs| secs + STALE_AFTER_SECS < now) {
                let _ = sqlx::query(AssertSqlSafe(format!(
                    "DROP SCHEMA IF EXISTS {name} CASCADE"
                )))
                .execute(&mut *conn)
                .await;
            }
        }
    }

    impl Drop for ScratchSchema {
        fn drop(&mut self) {
            // Drop may run inside a runtime, where blocking on a future is not
            // allowed: drop the schema from a thread with a runtime of its own.
            let (base, name) = (self.base.clone(), self.name.clone());
            let dropper = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                runtime.block_on(async {
                    let mut conn = PgConnection::connect(&base)
                        .await
                        .map_err(std::io::Error::other)?;
                    sqlx::query(AssertSqlSafe(format!(
                        "DROP SCHEMA IF EXISTS {name} CASCADE"
                    )))
                    .execute(&mut conn)
                    .await
                    .map_err(std::io::Error::other)?;
                    let _ = conn.close().await;
                    Ok::<_, std::io::Error>(())
                })
            });
            match dropper.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => eprintln!("could not drop scratch schema {}: {e}", self.name),
                Err(_) => eprintln!(
                    "could not drop scratch schema {}: the thread panicked",
                    self.name
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::ScratchSchema;
    use super::*;

    /// A store on a new scratch schema, or `None` (test skipped) without PostgreSQL.
    async fn scratch_store(test: &str, options: PostgresOptions) -> Option<PostgresStore> {
        let schema = ScratchSchema::create_or_skip(test).await?;
        let (store, created) = PostgresStore::open_with(&schema.postgres_url(), options)
            .await
            .expect("open");
        assert!(created, "a new schema is a new database");
        let pool = format!("(pool of {})", testing::SCRATCH_POOL_SIZE);
        assert!(
            store.description().ends_with(&pool),
            "pool_size is applied: {}",
            store.description()
        );
        *store.inner.keep.lock().expect("lock") = Some(schema);
        Some(store)
    }

    crate::storage_suite!(
        match scratch_store(module_path!(), PostgresOptions::default()).await {
            Some(store) => store,
            None => return,
        }
    );

    /// The same suite with grouping off, so the one-`INSERT`-per-send path stays correct.
    mod one_insert_per_send {
        use super::*;
        crate::storage_suite!(match scratch_store(
            module_path!(),
            PostgresOptions {
                max_batch: 1,
                ..PostgresOptions::default()
            }
        )
        .await
        {
            Some(store) => store,
            None => return,
        });
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

    #[test]
    fn urls_hide_passwords() {
        assert_eq!(
            redact("postgres://chat:s3cret@db:5432/chat"),
            "postgres://chat:***@db:5432/chat"
        );
        assert_eq!(
            redact("postgres://chat@db/chat?password=x&sslmode=require"),
            "postgres://chat@db/chat?password=***&sslmode=require"
        );
        assert_eq!(redact("postgresql://db"), "postgresql://db");
        let url = PostgresUrl::new("postgres://u:pw@h/d").expect("postgres url");
        assert!(!format!("{url:?} {url}").contains("pw"), "{url:?}");
        assert_eq!(url.expose(), "postgres://u:pw@h/d");
        assert!(PostgresUrl::new("sqlite://x").is_none());
        assert!(PostgresUrl::new("postgresql://h/d").is_some());
    }

    #[test]
    fn pool_size_is_ours_and_checked() {
        assert_eq!(
            split_params("postgres://h/d"),
            Ok(("postgres://h/d".into(), None))
        );
        assert_eq!(
            split_params("postgres://h/d?pool_size=32"),
            Ok(("postgres://h/d".into(), Some(32)))
        );
        assert_eq!(
            split_params("postgres://h/d?sslmode=require&pool_size=4&application_name=x"),
            Ok((
                "postgres://h/d?sslmode=require&application_name=x".into(),
                Some(4)
            ))
        );
        assert!(split_params("postgres://h/d?pool_size=0").is_err());
        assert!(split_params("postgres://h/d?pool_size=many").is_err());
    }

    #[test]
    fn touch_threshold_is_a_tenth_of_the_ttl_at_most_a_minute() {
        assert_eq!(write_threshold(1_000), 100);
        assert_eq!(write_threshold(30 * 60_000), 60_000);
        assert_eq!(write_threshold(0), 0);
    }

    async fn stored_last_seen(store: &PostgresStore, token: &str) -> Option<i64> {
        sqlx::query_scalar("SELECT last_seen_ms FROM sessions WHERE token = $1")
            .bind(token)
            .fetch_optional(&store.inner.pool)
            .await
            .expect("read")
    }

    #[tokio::test]
    async fn touch_writes_only_when_last_seen_moved_enough() {
        const TTL: i64 = 3_600_000; // an hour: threshold 60 s
        let Some(store) = scratch_store(
            "touch_writes_only_when_last_seen_moved_enough",
            PostgresOptions::default(),
        )
        .await
        else {
            return;
        };
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
        // The stored value is what counts: at most 60 s early, never late.
        assert!(
            store
                .touch_session("t", 100_000, TTL)
                .await
                .expect("touch")
                .is_some()
        );
        assert_eq!(
            store.active_users(60_000 + TTL, TTL).await.expect("active"),
            Vec::<String>::new()
        );
        assert_eq!(
            store
                .touch_session("t", 60_000 + TTL, TTL)
                .await
                .expect("touch"),
            None,
            "expired"
        );
        assert_eq!(
            stored_last_seen(&store, "t").await,
            None,
            "an expired session is removed when touched"
        );
        // A clock behind the stored time never moves last_seen back.
        store
            .create_session(&Session {
                token: "u".into(),
                username: "messi".into(),
                last_seen_ms: 500_000,
            })
            .await
            .expect("session");
        assert!(
            store
                .touch_session("u", 400_000, TTL)
                .await
                .expect("touch")
                .is_some()
        );
        assert_eq!(stored_last_seen(&store, "u").await, Some(500_000));
    }

    #[tokio::test]
    async fn two_handles_share_everything_at_once() {
        let Some(a) = scratch_store(
            "two_handles_share_everything_at_once",
            PostgresOptions::default(),
        )
        .await
        else {
            return;
        };
        let url = a
            .inner
            .keep
            .lock()
            .expect("lock")
            .as_ref()
            .map(|s| s.postgres_url())
            .expect("schema");
        let (b, created) = PostgresStore::open(&url).await.expect("second node");
        assert!(!created, "the second node finds the database made");
        a.create_session(&Session {
            token: "t".into(),
            username: "messi".into(),
            last_seen_ms: 1_000,
        })
        .await
        .expect("session");
        assert_eq!(
            b.touch_session("t", 1_001, 60_000)
                .await
                .expect("touch")
                .as_deref(),
            Some("messi")
        );
        assert_eq!(
            b.active_users(1_002, 60_000).await.expect("active"),
            ["messi"]
        );
        assert!(a.delete_session("t").await.expect("logout"));
        assert_eq!(
            b.touch_session("t", 1_003, 60_000).await.expect("touch"),
            None,
            "logout is seen at once"
        );
        let sent = a
            .append_message(msg("lineker", "messi", "hi"))
            .await
            .expect("append");
        assert_eq!(b.drain_inbox("messi").await.expect("drain"), [sent]);
        assert!(a.drain_inbox("messi").await.expect("drain").is_empty());
    }

    #[tokio::test]
    async fn text_round_trips_byte_for_byte() {
        let Some(store) =
            scratch_store("text_round_trips_byte_for_byte", PostgresOptions::default()).await
        else {
            return;
        };
        let texts = [
            "nul \0 inside",
            "  spaces  ",
            "tab\tand ✓ and 👨‍👩‍👧",
            "'; DROP TABLE messages; --",
        ];
        for text in texts {
            store
                .append_message(msg("a", "b", text))
                .await
                .expect("append");
        }
        let got: Vec<String> = store
            .drain_inbox("b")
            .await
            .expect("drain")
            .into_iter()
            .map(|m| m.text)
            .collect();
        assert_eq!(got, texts);
    }

    #[tokio::test]
    async fn migrations_are_recorded_and_reopening_changes_nothing() {
        let Some(store) =
            scratch_store("migrations_are_recorded", PostgresOptions::default()).await
        else {
            return;
        };
        let applied: Vec<i64> = sqlx::query_scalar(
            "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version",
        )
        .fetch_all(&store.inner.pool)
        .await
        .expect("read migrations");
        let all: Vec<i64> = MIGRATOR.iter().map(|m| m.version).collect();
        assert!(all.len() >= 2, "{all:?}");
        assert_eq!(applied, all);
        let first = store
            .append_message(msg("a", "b", "one"))
            .await
            .expect("append");
        let url = store
            .inner
            .keep
            .lock()
            .expect("lock")
            .as_ref()
            .map(|s| s.postgres_url())
            .expect("schema");
        let (again, created) = PostgresStore::open(&url).await.expect("reopen");
        assert!(!created);
        let second = again
            .append_message(msg("a", "b", "two"))
            .await
            .expect("append");
        assert!(second.id > first.id);
        assert_eq!(
            again.drain_inbox("b").await.expect("drain"),
            [first, second]
        );
    }

    #[tokio::test]
    async fn unreachable_database_fails_fast_with_unavailable() {
        // A port nobody listens on: connecting is refused at once.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        drop(listener);
        let url = PostgresUrl::new(&format!("postgres://nobody:secret@127.0.0.1:{port}/none"))
            .expect("url");
        let started = std::time::Instant::now();
        let err = PostgresStore::open(&url)
            .await
            .expect_err("no database there");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "took {:?}",
            started.elapsed()
        );
        let text = err.to_string();
        assert!(matches!(err, StoreError::Unavailable(_)), "{text}");
        assert!(
            text.contains(&format!("127.0.0.1:{port}")) && !text.contains("secret"),
            "{text}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_sends_all_commit_with_distinct_ids() {
        let Some(store) = scratch_store(
            "concurrent_sends_all_commit_with_distinct_ids",
            PostgresOptions::default(),
        )
        .await
        else {
            return;
        };
        let sends: Vec<_> = (0..200)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(
                    async move { store.append_message(msg("a", "b", &format!("m{i}"))).await },
                )
            })
            .collect();
        let mut acked = Vec::new();
        for send in sends {
            acked.push(send.await.expect("join").expect("append"));
        }
        acked.sort_by_key(|m| m.id);
        let mut ids: Vec<i64> = acked.iter().map(|m| m.id).collect();
        ids.dedup();
        assert_eq!(ids.len(), 200, "ids are distinct");
        // Each send got the id of its own row (batches hand ids out in order).
        assert_eq!(store.drain_inbox("b").await.expect("drain"), acked);
        assert!(
            store.batches() < 100,
            "200 concurrent sends took {} INSERTs",
            store.batches()
        );
    }
}
