//! Choosing and opening a backend from `--db` and `--data-dir`.
//!
//! ```text
//! --db memory                 in-memory store; nothing survives a restart
//! --db sqlite://PATH          SQLite file (sqlite:///abs/path or sqlite://rel/path)
//! --db sqlite:PATH            the same
//! --db postgres://USER@HOST/DB
//!                             PostgreSQL, shared by any number of nodes (also
//!                             postgresql://; `?pool_size=N`: connections per node)
//! (no --db)                   SQLite file chat.db in --data-dir, or else in the
//!                             platform data directory (Linux: ~/.local/share/chat-server)
//! ```

use super::postgres::{PostgresStore, PostgresUrl};
use super::sqlite::{Access, SqliteOptions, SqliteStore};
use super::{
    MemoryStore, NewMessage, ReadMarkers, Session, Store, StoreError, StoreResult, StoredMessage,
    User, Wakeups,
};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// File name of the default database inside the data directory.
pub const DEFAULT_DB_FILE: &str = "chat.db";

/// Where the data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbLocation {
    /// The in-memory store.
    Memory,
    /// A SQLite database file (created if missing).
    Sqlite(PathBuf),
    /// A PostgreSQL database (must exist; its tables are created if missing).
    Postgres(PostgresUrl),
}

/// A `--db` value or data directory that cannot be used.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum LocationError {
    /// The URL names no known backend.
    #[error(
        "unsupported --db value {0:?}: use memory, sqlite://PATH, sqlite:PATH or postgres://USER@HOST/DB"
    )]
    Unsupported(String),
    /// `sqlite://` with nothing after it.
    #[error("--db {0:?} names no file")]
    EmptyPath(String),
    /// No `--data-dir` and no home directory to derive one from.
    #[error("cannot find a data directory (no home directory): pass --data-dir DIR or --db URL")]
    NoDataDir,
}

impl DbLocation {
    /// Parses a `--db` value: `memory`, `sqlite://PATH`, `sqlite:PATH` or
    /// `postgres://...` (`postgresql://...`).
    pub fn parse(url: &str) -> Result<Self, LocationError> {
        if url == "memory" {
            return Ok(DbLocation::Memory);
        }
        if let Some(url) = PostgresUrl::new(url) {
            return Ok(DbLocation::Postgres(url));
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or_else(|| LocationError::Unsupported(url.to_string()))?;
        if path.is_empty() {
            return Err(LocationError::EmptyPath(url.to_string()));
        }
        Ok(DbLocation::Sqlite(PathBuf::from(path)))
    }

    /// The default database: `chat.db` in `data_dir`, or in the platform's data
    /// directory for `chat-server` when `data_dir` is `None`.
    pub fn default_in(data_dir: Option<&Path>) -> Result<Self, LocationError> {
        let dir = match data_dir {
            Some(dir) => dir.to_path_buf(),
            None => directories::ProjectDirs::from("", "", "chat-server")
                .ok_or(LocationError::NoDataDir)?
                .data_dir()
                .to_path_buf(),
        };
        Ok(DbLocation::Sqlite(dir.join(DEFAULT_DB_FILE)))
    }

    /// `--db` if given, else the default in `data_dir`.
    pub fn choose(db: Option<&str>, data_dir: Option<&Path>) -> Result<Self, LocationError> {
        match db {
            Some(url) => Self::parse(url),
            None => Self::default_in(data_dir),
        }
    }
}

/// One of the backends, chosen at run time. Dispatch is a `match`, no boxing.
#[derive(Debug, Clone)]
pub enum AnyStore {
    /// `--db memory`.
    Memory(MemoryStore),
    /// A SQLite file.
    Sqlite(SqliteStore),
    /// A PostgreSQL database.
    Postgres(PostgresStore),
}

/// An opened store and what to tell the operator about it.
#[derive(Debug)]
pub struct Opened {
    /// The store.
    pub store: AnyStore,
    /// Whether the database is new (so demo users may be seeded). Always true for memory.
    pub created: bool,
    /// For the log: the database file, or `memory`.
    pub description: String,
}

/// Opens the store at `location` for `access`, creating the file and its directory
/// if missing and running pending migrations. `access` matters for SQLite only: a
/// server takes the file's server lock.
pub async fn open(location: &DbLocation, access: Access) -> Result<Opened, StoreError> {
    match location {
        DbLocation::Memory => Ok(Opened {
            store: AnyStore::Memory(MemoryStore::new()),
            created: true,
            description: "memory".into(),
        }),
        DbLocation::Sqlite(path) => {
            let options = SqliteOptions {
                access,
                ..SqliteOptions::default()
            };
            let (store, created) = SqliteStore::open_with(path, options).await?;
            let shown = std::path::absolute(path).unwrap_or_else(|_| path.clone());
            Ok(Opened {
                store: AnyStore::Sqlite(store),
                created,
                description: format!("sqlite {}", shown.display()),
            })
        }
        DbLocation::Postgres(url) => {
            let (store, created) = PostgresStore::open(url).await?;
            let description = store.description().to_string();
            Ok(Opened {
                store: AnyStore::Postgres(store),
                created,
                description,
            })
        }
    }
}

/// Forwards a call to whichever backend `self` holds.
macro_rules! dispatch {
    ($self:ident, $store:ident => $call:expr) => {
        match $self {
            AnyStore::Memory($store) => $call.await,
            AnyStore::Sqlite($store) => $call.await,
            AnyStore::Postgres($store) => $call.await,
        }
    };
}

impl Store for AnyStore {
    async fn user(&self, username: &str) -> StoreResult<Option<User>> {
        dispatch!(self, s => s.user(username))
    }
    async fn create_user(&self, user: &User) -> StoreResult<()> {
        dispatch!(self, s => s.create_user(user))
    }
    async fn list_users(&self) -> StoreResult<Vec<User>> {
        dispatch!(self, s => s.list_users())
    }
    async fn remove_user(&self, username: &str) -> StoreResult<bool> {
        dispatch!(self, s => s.remove_user(username))
    }
    async fn set_password_hash(&self, username: &str, hash: &str) -> StoreResult<bool> {
        dispatch!(self, s => s.set_password_hash(username, hash))
    }
    async fn create_session(&self, session: &Session) -> StoreResult<()> {
        dispatch!(self, s => s.create_session(session))
    }
    async fn touch_session(
        &self,
        token: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> StoreResult<Option<String>> {
        dispatch!(self, s => s.touch_session(token, now_ms, ttl_ms))
    }
    async fn delete_session(&self, token: &str) -> StoreResult<bool> {
        dispatch!(self, s => s.delete_session(token))
    }
    async fn active_users(&self, now_ms: i64, ttl_ms: i64) -> StoreResult<Vec<String>> {
        dispatch!(self, s => s.active_users(now_ms, ttl_ms))
    }
    async fn purge_sessions(&self, now_ms: i64, ttl_ms: i64) -> StoreResult<u64> {
        dispatch!(self, s => s.purge_sessions(now_ms, ttl_ms))
    }
    async fn append_message(&self, message: NewMessage) -> StoreResult<StoredMessage> {
        dispatch!(self, s => s.append_message(message))
    }
    async fn drain_inbox(&self, username: &str) -> StoreResult<Vec<StoredMessage>> {
        dispatch!(self, s => s.drain_inbox(username))
    }
    async fn undelivered_count(&self, username: &str, cap: u64) -> StoreResult<u64> {
        dispatch!(self, s => s.undelivered_count(username, cap))
    }
    async fn sync(
        &self,
        username: &str,
        after_id: i64,
        limit: u32,
    ) -> StoreResult<Vec<StoredMessage>> {
        dispatch!(self, s => s.sync(username, after_id, limit))
    }
    async fn acknowledge(&self, username: &str, up_to_id: i64) -> StoreResult<u64> {
        dispatch!(self, s => s.acknowledge(username, up_to_id))
    }
    async fn set_read_marker(&self, username: &str, peer: &str, id: i64) -> StoreResult<bool> {
        dispatch!(self, s => s.set_read_marker(username, peer, id))
    }
    async fn read_markers(&self, username: &str, since: i64) -> StoreResult<ReadMarkers> {
        dispatch!(self, s => s.read_markers(username, since))
    }
    fn wakeups(&self) -> &Wakeups {
        match self {
            AnyStore::Memory(s) => s.wakeups(),
            AnyStore::Sqlite(s) => s.wakeups(),
            AnyStore::Postgres(s) => s.wakeups(),
        }
    }
    async fn history(
        &self,
        a: &str,
        b: &str,
        limit: u32,
        before_id: Option<i64>,
    ) -> StoreResult<Vec<StoredMessage>> {
        dispatch!(self, s => s.history(a, b, limit, before_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn db_urls() {
        assert_eq!(DbLocation::parse("memory"), Ok(DbLocation::Memory));
        assert_eq!(
            DbLocation::parse("sqlite:///tmp/x/chat.db"),
            Ok(DbLocation::Sqlite("/tmp/x/chat.db".into()))
        );
        assert_eq!(
            DbLocation::parse("sqlite://rel/chat.db"),
            Ok(DbLocation::Sqlite("rel/chat.db".into()))
        );
        assert_eq!(
            DbLocation::parse("sqlite:chat.db"),
            Ok(DbLocation::Sqlite("chat.db".into()))
        );
        assert_eq!(
            DbLocation::parse("sqlite://"),
            Err(LocationError::EmptyPath("sqlite://".into()))
        );
        assert_eq!(
            DbLocation::parse("postgres://chat:pw@db/chat"),
            Ok(DbLocation::Postgres(
                PostgresUrl::new("postgres://chat:pw@db/chat").expect("postgres url")
            ))
        );
        assert!(matches!(
            DbLocation::parse("postgresql://db/chat"),
            Ok(DbLocation::Postgres(_))
        ));
        assert!(matches!(
            DbLocation::parse("mysql://db"),
            Err(LocationError::Unsupported(_))
        ));
        assert!(matches!(
            DbLocation::parse("Memory"),
            Err(LocationError::Unsupported(_))
        ));
    }

    #[test]
    fn default_location() {
        let dir = Path::new("/srv/chat");
        assert_eq!(
            DbLocation::default_in(Some(dir)),
            Ok(DbLocation::Sqlite("/srv/chat/chat.db".into()))
        );
        assert_eq!(
            DbLocation::choose(Some("memory"), Some(dir)),
            Ok(DbLocation::Memory)
        );
        assert_eq!(
            DbLocation::choose(None, Some(dir)),
            DbLocation::default_in(Some(dir))
        );
        if let Ok(DbLocation::Sqlite(path)) = DbLocation::default_in(None) {
            assert!(
                path.ends_with("chat-server/chat.db") || path.ends_with("chat.db"),
                "{}",
                path.display()
            );
        }
    }

    #[tokio::test]
    async fn open_creates_directory_and_reports_new_database() {
        let dir = tempfile::tempdir().expect("temp dir");
        let location =
            DbLocation::default_in(Some(&dir.path().join("nested/data"))).expect("location");
        let first = open(&location, Access::Serve).await.expect("open new");
        assert!(first.created, "a new database is reported as created");
        assert!(
            first.description.ends_with("nested/data/chat.db"),
            "{}",
            first.description
        );
        first
            .store
            .create_user(&User {
                username: "arini".into(),
                display_name: "Arini".into(),
                country: None,
                password_hash: "h".into(),
            })
            .await
            .expect("create user");
        let busy = open(&location, Access::Serve)
            .await
            .expect_err("a second server");
        assert!(busy.to_string().contains("is in use"), "{busy}");
        let again = open(&location, Access::Admin).await.expect("reopen");
        assert!(!again.created, "an existing database is not new");
        assert!(again.store.user("arini").await.expect("read").is_some());
        let memory = open(&DbLocation::Memory, Access::Serve)
            .await
            .expect("memory");
        assert!(memory.created);
        assert_eq!(memory.description, "memory");
    }
}
