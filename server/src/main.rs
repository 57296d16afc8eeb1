//! `chat-server`: runs the chat server, or manages its accounts (`chat-server user`).

use anyhow::{Context as _, Result};
use chat_server::storage::{MemoryStore, Store};
use chat_server::{Config, limits, shutdown, users};
use clap::{Parser, ValueEnum};
use std::io::{IsTerminal as _, Write as _};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// A chat server for the course protocol (`auth`/`send`/`inbox`/`user_aktif`/`logout`
/// and the `login`/`chat`/`kotakmasuk`/`user_on` dialect), durable by default.
#[derive(Debug, Parser)]
#[command(name = "chat-server", version, about, long_about = None)]
struct Cli {
    /// Address to listen on. The default is loopback only: use 0.0.0.0:8889 to serve others.
    #[arg(long, default_value = "127.0.0.1:8889", env = "CHAT_LISTEN")]
    listen: SocketAddr,

    /// Storage: `memory` (nothing survives a restart) or `sqlite://PATH`.
    #[arg(long, global = true, env = "CHAT_DB")]
    db: Option<String>,

    /// Directory of the default database file (default: the platform's data directory).
    #[arg(long, global = true, env = "CHAT_DATA_DIR")]
    data_dir: Option<PathBuf>,

    /// Don't create the course's demo users (messi, henderson, lineker; password surabaya).
    #[arg(long)]
    no_demo_users: bool,

    /// Create the accounts listed in FILE (lines: `username password display name...`).
    #[arg(long, value_name = "FILE")]
    users: Option<PathBuf>,

    /// Longest request line in bytes; a longer one gets an ERROR and the connection closes.
    #[arg(long, default_value_t = chat_protocol::DEFAULT_MAX_LINE, value_name = "BYTES")]
    max_line: usize,

    /// Most connections at once (default: the open-file limit less a reserve).
    #[arg(long, value_name = "N")]
    max_connections: Option<usize>,

    /// Close connections that send nothing for this long (e.g. 30m, 90s).
    #[arg(long, default_value = "30m", value_parser = humantime::parse_duration, value_name = "DURATION")]
    idle_timeout: Duration,

    /// Sessions unused for this long expire (e.g. 30m).
    #[arg(long, default_value = "30m", value_parser = humantime::parse_duration, value_name = "DURATION")]
    session_ttl: Duration,

    /// Accept `register <username> <password> [display name]` from anyone who can connect.
    #[arg(long)]
    allow_register: bool,

    /// Log format on stderr (filter with RUST_LOG, e.g. RUST_LOG=chat_server=debug).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let store = match cli.db.as_deref() {
        Some("memory") | None => MemoryStore::new(),
        Some(other) => anyhow::bail!("unsupported --db {other:?}: use `memory`"),
    };
    serve(cli, store, true).await
}

/// Prepares accounts, binds, and runs until SIGINT/SIGTERM.
async fn serve<S: Store>(cli: Cli, store: S, new_database: bool) -> Result<()> {
    if new_database && !cli.no_demo_users {
        users::seed_demo_users(&store).await.context("creating demo users")?;
    }
    if let Some(path) = &cli.users {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let specs = users::parse_users_file(&path.display().to_string(), &text)?;
        let created = users::ensure_accounts(&store, specs).await?;
        tracing::info!(file = %path.display(), created, "loaded users file");
    }
    warn_if_demo_users_exposed(&store, cli.listen).await;

    let (soft, _hard) = limits::raise_nofile_limit();
    let config = Config {
        max_line: cli.max_line,
        max_connections: cli.max_connections.unwrap_or_else(|| limits::default_max_connections(soft)),
        idle_timeout: cli.idle_timeout,
        session_ttl: cli.session_ttl,
        allow_register: cli.allow_register,
        ..Config::default()
    };
    let listener = TcpListener::bind(cli.listen).await.with_context(|| format!("binding {}", cli.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, max_connections = config.max_connections, max_line = config.max_line, "listening");
    // The one line on stdout: scripts and tests wait for it to know the port.
    println!("listening on {addr}");
    std::io::stdout().flush()?;

    let token = CancellationToken::new();
    tokio::spawn(shutdown::cancel_on_signal(token.clone()));
    chat_server::run(listener, store, config, token).await?;
    Ok(())
}

/// Demo users have a published password: say so loudly when others can connect.
async fn warn_if_demo_users_exposed<S: Store>(store: &S, listen: SocketAddr) {
    if listen.ip().is_loopback() {
        return;
    }
    for (name, ..) in users::DEMO_USERS {
        if let Ok(Some(_)) = store.user(name).await {
            tracing::warn!(%listen, "demo users (password `surabaya`) exist and the server listens beyond loopback; remove them with `chat-server user remove NAME` or start with --no-demo-users on a new database");
            return;
        }
    }
}
