//! What every command needs: the store, the settings, the login backoff, and the
//! threads that hash passwords (argon2 is deliberately expensive: a login flood must
//! not take the CPU that serves messages, see [`HashPool`]).

use crate::config::Config;
use crate::password::{self, HashPool};
use crate::presence::Presence;
use crate::session::{now_ms, token_key};
use crate::storage::{Store, StoreError};
use crate::throttle::LoginThrottle;
use chat_protocol::Response;
use std::sync::Arc;

/// Cheap-to-clone handle shared by all connections.
#[derive(Debug, Clone)]
pub struct Context<S> {
    /// The storage backend.
    pub store: S,
    /// Limits and policies.
    pub config: Arc<Config>,
    /// Failed-login backoff, shared by all connections.
    pub logins: Arc<LoginThrottle>,
    /// Who is online, for `sync` requests that ask for presence.
    pub presence: Arc<Presence>,
    hashing: HashPool,
}

/// Failure of a command: the text of its `ERROR` response.
pub type CmdResult<T> = Result<T, Response>;

impl From<StoreError> for Response {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "storage error");
        match e {
            StoreError::UserExists(name) => Response::error(format!("user already exists: {name}")),
            StoreError::Unavailable(_) => Response::error("storage unavailable"),
        }
    }
}

impl<S: Store> Context<S> {
    /// A context over `store` with `config`.
    pub fn new(store: S, config: Config) -> Self {
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        let logins = Arc::new(LoginThrottle::new(config.login_backoff));
        Context {
            store,
            config: Arc::new(config),
            logins,
            presence: Arc::new(Presence::new()),
            hashing: HashPool::new(cpus),
        }
    }

    fn ttl_ms(&self) -> i64 {
        i64::try_from(self.config.session_ttl.as_millis()).unwrap_or(i64::MAX)
    }

    /// The username behind `token`, keeping its session alive.
    pub async fn authenticate(&self, token: &str) -> CmdResult<String> {
        match self
            .store
            .touch_session(&token_key(token), now_ms(), self.ttl_ms())
            .await?
        {
            Some(username) => Ok(username),
            None => Err(Response::error("invalid or expired token")),
        }
    }

    /// Usernames with a live session.
    pub async fn active_users(&self) -> CmdResult<Vec<String>> {
        Ok(self.store.active_users(now_ms(), self.ttl_ms()).await?)
    }

    /// Removes expired sessions.
    pub async fn purge_sessions(&self) -> Result<u64, StoreError> {
        self.store.purge_sessions(now_ms(), self.ttl_ms()).await
    }

    /// Runs CPU-heavy password work on the hashing threads, off the async ones;
    /// `server busy` when too many logins are already waiting.
    pub async fn hashing<T, F>(&self, work: F) -> CmdResult<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.hashing
            .run(work)
            .await
            .ok_or_else(|| Response::error("server busy; try again"))
    }

    /// Checks a password against an account hash (or a dummy of equal cost).
    pub async fn verify_password(&self, password: &str, hash: Option<String>) -> CmdResult<bool> {
        let password = password.to_string();
        self.hashing(move || match hash {
            Some(hash) => password::verify_password(&password, &hash),
            None => {
                password::verify_against_dummy(&password);
                false
            }
        })
        .await
    }
}
