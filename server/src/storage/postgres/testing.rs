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
use super::url::{POOL_SIZE_PARAM, redact};
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
        let shown = redact(base_url);
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
            .map_err(|e| ScratchError::Failed(format!("creating schema {name} in {shown}: {e}")))?;
        let _ = conn.close().await;
        let separator = if base_url.contains('?') { '&' } else { '?' };
        let url = format!(
            "{base_url}{separator}options=-c%20search_path%3D{name}&{}={SCRATCH_POOL_SIZE}",
            POOL_SIZE_PARAM
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
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT nspname::text FROM pg_catalog.pg_namespace WHERE nspname LIKE 'chat\\_test\\_%'",
    )
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
