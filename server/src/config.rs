//! Server settings that the connection handlers read: limits and policies.

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
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_line: chat_protocol::DEFAULT_MAX_LINE,
            max_connections: 1024,
            idle_timeout: Duration::from_secs(10 * 60),
            session_ttl: Duration::from_secs(30 * 60),
            allow_register: false,
            shutdown_grace: Duration::from_secs(3),
        }
    }
}
