//! The command line of `chat-server`: flags, the `user` subcommand, and the values
//! they take. Kept in the library so the manual page and shell completions in
//! `dist/` can be generated from it (see `tests/tests/dist.rs`).

use crate::accounts::UserCommand;
use clap::{CommandFactory as _, Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// A chat server for the course protocol (`auth`/`send`/`inbox`/`user_aktif`/`logout`
/// and the `login`/`chat`/`kotakmasuk`/`user_on` dialect), durable by default.
#[derive(Debug, Parser)]
#[command(name = "chat-server", version = chat_build_info::VERSION)]
pub struct Cli {
    /// Address to listen on; repeat to listen on several. `tls://ADDR` serves TLS there,
    /// `tcp://ADDR` plain text; a bare ADDR is TLS when --tls-cert is given, else plain.
    /// The default is loopback only: use 0.0.0.0:8889 to serve others.
    #[arg(
        long,
        default_value = "127.0.0.1:8889",
        value_name = "[tls://|tcp://]ADDR"
    )]
    pub listen: Vec<ListenAddr>,

    /// PEM certificate chain for TLS listeners.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key for TLS listeners.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Storage: `memory` (nothing survives a restart); `sqlite://PATH` (or
    /// `sqlite:PATH`), a SQLite file; or `postgres://USER[:PASSWORD]@HOST[:PORT]/DB`
    /// (or `postgresql://`; `?pool_size=N`: connections per node), PostgreSQL shared by
    /// several nodes. Default: the SQLite file chat.db in --data-dir.
    #[arg(long, global = true, env = "CHAT_DB", value_name = "URL")]
    pub db: Option<String>,

    /// Directory of the default database file (default: the platform's data directory).
    #[arg(long, global = true, env = "CHAT_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Don't create the course's demo users (messi, henderson, lineker; password surabaya).
    #[arg(long)]
    pub no_demo_users: bool,

    /// Create the accounts listed in FILE (lines: `username password display name...`).
    #[arg(long, value_name = "FILE")]
    pub users: Option<PathBuf>,

    /// Longest request line in bytes; a longer one gets an ERROR and the connection closes.
    #[arg(long, default_value_t = chat_protocol::DEFAULT_MAX_LINE, value_name = "BYTES")]
    pub max_line: usize,

    /// Most connections at once (default: the open-file limit less a reserve).
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,

    /// Close connections that send nothing for this long (e.g. 30m, 90s).
    #[arg(long, default_value = "30m", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub idle_timeout: Duration,

    /// Sessions unused for this long expire (e.g. 30m).
    #[arg(long, default_value = "30m", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub session_ttl: Duration,

    /// Accept `register <username> <password> [display name]` from anyone who can connect.
    #[arg(long)]
    pub allow_register: bool,

    /// Most connections from one source address (0: no limit).
    #[arg(long, default_value_t = 256, value_name = "N")]
    pub max_connections_per_ip: usize,

    /// Most requests per second on one connection; more get an ERROR (0: no limit).
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub max_request_rate: u32,

    /// Longest message text in bytes.
    #[arg(long, default_value_t = 16 * 1024, value_name = "BYTES")]
    pub max_message: usize,

    /// Most undelivered messages waiting for one user; more get `ERROR recipient
    /// inbox full` and the oldest are kept (0: no limit).
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    pub max_inbox: u64,

    /// Longest a `sync` request waits for a message before answering with none
    /// (at most 60 s); clients asking more wait this long.
    #[arg(long, default_value = "60s", value_parser = parse_sync_wait, value_name = "DURATION")]
    pub max_sync_wait: Duration,

    /// After 5 failed logins from an address or for a username, each further attempt
    /// waits this long before it is checked, doubling with each failure (0s: no backoff).
    #[arg(long, default_value = "500ms", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub login_backoff: Duration,

    /// Apply the per-address login delay to loopback clients too (off by default:
    /// behind a local proxy every client shares one loopback address).
    #[arg(long)]
    pub login_backoff_loopback: bool,

    /// Cap of the per-address login delay (the per-username one is capped at 5 s, so
    /// nobody can lock a user out from elsewhere).
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub login_backoff_max: Duration,

    /// Log format on stderr (filter with RUST_LOG, e.g. RUST_LOG=chat_server=debug).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Without a command, run the server.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What to do instead of serving.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Manage accounts in the database (works while the server runs).
    #[command(subcommand)]
    User(UserCommand),
}

/// A `--listen` value: an address and whether it serves TLS (`None`: as --tls-cert says).
#[derive(Debug, Clone, Copy)]
pub struct ListenAddr {
    /// Where to listen.
    pub addr: SocketAddr,
    /// `Some(true)` for `tls://`, `Some(false)` for `tcp://`, `None` for a bare address.
    pub tls: Option<bool>,
}

impl std::str::FromStr for ListenAddr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (tls, rest) = match s.split_once("://") {
            Some(("tls", rest)) => (Some(true), rest),
            Some(("tcp", rest)) => (Some(false), rest),
            Some((scheme, _)) => {
                return Err(format!("unknown scheme {scheme:?}: use tls:// or tcp://"));
            }
            None => (None, s),
        };
        let addr = rest
            .parse()
            .map_err(|e| format!("{rest:?} is not HOST:PORT with a numeric IP: {e}"))?;
        Ok(ListenAddr { addr, tls })
    }
}

/// `--log-format`: how log lines on stderr look.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The clap definition of `chat-server`, for generating its manual and completions.
pub fn command() -> clap::Command {
    Cli::command()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Operators learn the backends from `--help` and the manual page.
    #[test]
    fn db_help_names_every_backend() {
        let command = command();
        let db = command
            .get_arguments()
            .find(|a| a.get_id() == "db")
            .expect("--db");
        let help = db.get_help().expect("--db has help").to_string();
        for backend in ["memory", "sqlite://", "postgres://"] {
            assert!(help.contains(backend), "--db help lacks {backend}: {help}");
        }
    }
}

/// `--max-sync-wait`: a duration of at most the protocol's 60 s.
fn parse_sync_wait(text: &str) -> Result<Duration, String> {
    let wait = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    let most = Duration::from_secs(u64::from(chat_protocol::SYNC_MAX_WAIT_SECONDS));
    if wait > most {
        return Err(format!("at most {}s", most.as_secs()));
    }
    Ok(wait)
}
