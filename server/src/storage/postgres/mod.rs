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
//! # Ids in commit order
//! Ids come from an identity column (a sequence), and every transaction that inserts
//! messages first takes one advisory lock per schema and holds it until it has
//! committed (`order_lock_key` in `append.rs`). So transactions draw ids and become
//! visible in the same order: whoever sees id N sees every committed id below it,
//! and a reader's "everything above N" never misses a message that commits later.
//! Inserts of all nodes queue on that lock for the length of one commit, which group
//! commit makes one per batch of sends.
//!
//! # Exactly-once drains
//! What `inbox` has handed out of a recipient's messages is then always a prefix by
//! id, kept as one cursor per recipient (see `inbox.rs`). An empty inbox costs one
//! read-only statement (two index probes). A drain claims chunks of at most 1 000
//! messages, each in a short transaction under an advisory lock for the recipient,
//! so concurrent drains on any node queue instead of scanning each other's rows, and
//! each message comes out once. A chunk that fails rolls back and leaves its
//! messages for the next drain. No message row is ever updated, so draining leaves
//! no dead row versions for VACUUM.

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
//! # Statements die with their call
//! Every pooled connection starts with `statement_timeout` and
//! `idle_in_transaction_session_timeout` equal to [`PostgresOptions::op_timeout`] and
//! `client_connection_check_interval = 1s` (PostgreSQL 14 or later), unless the connect
//! string's `options` sets them. So a call the node gave up on, or a node that was
//! killed, leaves no statement running in PostgreSQL past that time: abandoning a
//! query in the driver only closes or resets the connection, which PostgreSQL
//! notices only when it next talks to it.
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

mod append;
mod inbox;
mod notify;
mod read_markers;
#[cfg(test)]
mod scale_tests;
mod store;
pub mod testing;
#[cfg(test)]
mod tests;
mod url;

pub use url::PostgresUrl;

use super::{StoreError, StoreResult, Wakeups};
use append::{Append, start_appenders};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection};
use std::fmt;
use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;
use url::split_params;

/// The schema's versioned migrations (`server/migrations/postgres/`), embedded in
/// the binary and applied in order at open (several nodes starting at once take
/// turns: sqlx holds an advisory lock while it migrates).
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// How often PostgreSQL checks, during a long statement, that the node is still
/// connected (and ends the statement if not).
const CONNECTION_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// A pooled connection idle this long is pinged before it is used again.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);

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
    /// Waiting `sync` requests on this node, woken after commits (this node's, and
    /// other nodes' through `LISTEN`).
    wakeups: Wakeups,
    /// This node's id in notifications (random per open), to skip its own.
    node: u64,
    /// The `LISTEN` task (see `notify.rs`), stopped with the store.
    listener: tokio::task::JoinHandle<()>,
    /// The listener's own pool (one connection).
    listen_pool: PgPool,
    /// Tests park their scratch schema here so it lives as long as the store.
    #[cfg(test)]
    keep: std::sync::Mutex<Option<testing::ScratchSchema>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

fn unavailable(context: &str, e: impl fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("{context}: {e}"))
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

/// Server-side limits for the connections of a node's pool, as `(setting, value)`
/// pairs for the startup packet (`-c setting=value`): PostgreSQL itself ends a
/// statement that runs longer than a call may take (`statement_timeout`, so a call
/// the node gave up on, or a node that died, leaves nothing running past it), a
/// transaction left open (`idle_in_transaction_session_timeout`), and checks during
/// long statements whether the node is still connected
/// (`client_connection_check_interval`, PostgreSQL 14+). A setting already in the
/// connect string's `options` wins. The migration connection gets none of them
/// (building an index on a big table may take longer).
fn session_settings(op_timeout: Duration, given: Option<&str>) -> Vec<(&'static str, String)> {
    let ms = op_timeout.as_millis().max(1);
    [
        ("statement_timeout", format!("{ms}ms")),
        ("idle_in_transaction_session_timeout", format!("{ms}ms")),
        (
            "client_connection_check_interval",
            format!("{}ms", CONNECTION_CHECK_INTERVAL.as_millis()),
        ),
    ]
    .into_iter()
    .filter(|(name, _)| !given.is_some_and(|options| options.contains(name)))
    .collect()
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
            .connect_lazy_with(
                connect
                    .clone()
                    .options(session_settings(options.op_timeout, connect.get_options())),
            );
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
        let node = uuid::Uuid::new_v4().as_u64_pair().0;
        let appends = (options.max_batch > 1)
            .then(|| start_appenders(&pool, &options, Arc::clone(&batches), node));
        let wakeups = Wakeups::new();
        // Its own pool of one connection, so LISTEN never takes one from requests.
        let listen_pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(options.acquire_timeout)
            .connect_lazy_with(connect.clone());
        // Listening before the node serves anyone: no waiter can miss a commit of
        // another node for want of a connection (later losses wake everyone).
        let first =
            match tokio::time::timeout(options.connect_timeout, notify::listen(&listen_pool)).await
            {
                Ok(Ok(first)) => first,
                Ok(Err(e)) => return Err(unavailable(&format!("cannot LISTEN on {shown}"), e)),
                Err(_) => {
                    return Err(StoreError::Unavailable(format!(
                        "cannot LISTEN on {shown}: no answer within {:?}",
                        options.connect_timeout
                    )));
                }
            };
        let listener = notify::start_listener(listen_pool.clone(), wakeups.clone(), node, first);
        let inner = Inner {
            pool,
            appends,
            batches,
            op_timeout: options.op_timeout,
            wakeups,
            node,
            listener,
            listen_pool,
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
        self.inner.listen_pool.close().await;
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
