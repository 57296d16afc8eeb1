//! Server settings that the connection handlers read: limits and policies.

use crate::throttle::LoginBackoff;
use std::time::Duration;

/// Limits and policies of a running server. `Default` gives the documented defaults.
#[derive(Debug, Clone)]
pub struct Config {
    /// Longest request line in bytes (`--max-line`).
    pub max_line: usize,
    /// Most connections served at once (`--max-connections`).
    pub max_connections: usize,
    /// A connection that sends nothing for this long is closed (`--idle-timeout`).
    pub idle_timeout: Duration,
    /// A session unused for this long expires (`--session-ttl`).
    pub session_ttl: Duration,
    /// Whether `register` is accepted (`--allow-register`).
    pub allow_register: bool,
    /// How long shutdown waits for connections to finish before closing them.
    pub shutdown_grace: Duration,
    /// Most connections from one source address; 0 for no limit (`--max-connections-per-ip`).
    pub max_connections_per_ip: usize,
    /// Most requests per second on one connection; 0 for no limit (`--max-request-rate`).
    pub max_request_rate: u32,
    /// Longest message text in bytes (`--max-message`).
    pub max_message: usize,
    /// Most undelivered messages one user may have waiting; 0 for no limit (`--max-inbox`).
    pub max_inbox: u64,
    /// Delays after failed logins.
    pub login_backoff: LoginBackoff,
    /// Longest a `sync` waits for a message (`--max-sync-wait`); requests asking
    /// more wait this long. At most `chat_protocol::SYNC_MAX_WAIT_SECONDS`.
    pub max_sync_wait: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_line: chat_protocol::DEFAULT_MAX_LINE,
            max_connections: 1024,
            idle_timeout: Duration::from_secs(30 * 60),
            session_ttl: Duration::from_secs(30 * 60),
            allow_register: false,
            shutdown_grace: Duration::from_secs(3),
            max_connections_per_ip: 256,
            max_request_rate: 1000,
            max_message: 16 * 1024,
            max_inbox: 10_000,
            login_backoff: LoginBackoff::default(),
            max_sync_wait: Duration::from_secs(u64::from(chat_protocol::SYNC_MAX_WAIT_SECONDS)),
        }
    }
}
