//! `chat-server`: runs the chat server, or manages its accounts (`chat-server user`).

use anyhow::{Context as _, Result};
use chat_server::accounts::{UserCommand, run_user_command};
use chat_server::storage::Store;
use chat_server::storage::open::{DbLocation, open};
use chat_server::storage::sqlite::Access;
use chat_server::throttle::LoginBackoff;
use chat_server::{Config, Listener, limits, shutdown, tls, users};
use clap::{Parser, Subcommand, ValueEnum};
use std::io::{IsTerminal as _, Write as _};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// mimalloc gives memory back to the system; glibc's malloc keeps each argon2 hash's
/// 19 MiB per thread arena after raising its mmap threshold. Measured on 32 logins from
/// 8 connections: 267 MB resident with glibc, 64 MB with mimalloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A chat server for the course protocol (`auth`/`send`/`inbox`/`user_aktif`/`logout`
/// and the `login`/`chat`/`kotakmasuk`/`user_on` dialect), durable by default.
#[derive(Debug, Parser)]
#[command(name = "chat-server", version, about, long_about = None)]
struct Cli {
    /// Address to listen on; repeat to listen on several. `tls://ADDR` serves TLS there,
    /// `tcp://ADDR` plain text; a bare ADDR is TLS when --tls-cert is given, else plain.
    /// The default is loopback only: use 0.0.0.0:8889 to serve others.
    #[arg(
        long,
        default_value = "127.0.0.1:8889",
        value_name = "[tls://|tcp://]ADDR"
    )]
    listen: Vec<ListenAddr>,

    /// PEM certificate chain for TLS listeners.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,

    /// PEM private key for TLS listeners.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,

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

    /// Most connections from one source address (0: no limit).
    #[arg(long, default_value_t = 256, value_name = "N")]
    max_connections_per_ip: usize,

    /// Most requests per second on one connection; more get an ERROR (0: no limit).
    #[arg(long, default_value_t = 1000, value_name = "N")]
    max_request_rate: u32,

    /// Longest message text in bytes.
    #[arg(long, default_value_t = 16 * 1024, value_name = "BYTES")]
    max_message: usize,

    /// Most undelivered messages waiting for one user; more get `ERROR recipient
    /// inbox full` and the oldest are kept (0: no limit).
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    max_inbox: u64,

    /// Longest a `sync` request waits for a message before answering with none
    /// (at most 60 s); clients asking more wait this long.
    #[arg(long, default_value = "60s", value_parser = parse_sync_wait, value_name = "DURATION")]
    max_sync_wait: Duration,

    /// After 5 failed logins from an address or for a username, each further attempt
    /// waits this long before it is checked, doubling with each failure (0s: no backoff).
    #[arg(long, default_value = "500ms", value_parser = humantime::parse_duration, value_name = "DURATION")]
    login_backoff: Duration,

    /// Apply the per-address login delay to loopback clients too (off by default:
    /// behind a local proxy every client shares one loopback address).
    #[arg(long)]
    login_backoff_loopback: bool,

    /// Cap of the per-address login delay (the per-username one is capped at 5 s, so
    /// nobody can lock a user out from elsewhere).
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration, value_name = "DURATION")]
    login_backoff_max: Duration,

    /// Log format on stderr (filter with RUST_LOG, e.g. RUST_LOG=chat_server=debug).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,

    /// Without a command, run the server.
    #[command(subcommand)]
    command: Option<Command>,
}

/// What to do instead of serving.
#[derive(Debug, Subcommand)]
enum Command {
    /// Manage accounts in the database (works while the server runs).
    #[command(subcommand)]
    User(UserCommand),
}

/// A `--listen` value: an address and whether it serves TLS (`None`: as --tls-cert says).
#[derive(Debug, Clone, Copy)]
struct ListenAddr {
    addr: SocketAddr,
    tls: Option<bool>,
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
    let mut cli = Cli::parse();
    init_logging(cli.log_format);
    // Before anything is announced: from here on a signal means a graceful stop.
    let signals = shutdown::Signals::install().context("installing signal handlers")?;
    let location = DbLocation::choose(cli.db.as_deref(), cli.data_dir.as_deref())?;
    let access = match cli.command {
        Some(Command::User(_)) => Access::Admin,
        None => Access::Serve,
    };
    let opened = open(&location, access)
        .await
        .with_context(|| format!("opening the database ({location:?})"))?;
    if let Some(Command::User(command)) = cli.command.take() {
        let text = run_user_command(command, &opened.store).await?;
        println!("{text}");
        return Ok(());
    }
    tracing::info!(db = %opened.description, new = opened.created, "storage open");
    serve(cli, opened.store, opened.created, signals).await
}

/// Prepares accounts, binds, and runs until SIGINT/SIGTERM.
async fn serve<S: Store>(
    cli: Cli,
    store: S,
    new_database: bool,
    signals: shutdown::Signals,
) -> Result<()> {
    if new_database && !cli.no_demo_users {
        users::seed_demo_users(&store)
            .await
            .context("creating demo users")?;
    }
    if let Some(path) = &cli.users {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let specs = users::parse_users_file(&path.display().to_string(), &text)?;
        let created = users::ensure_accounts(&store, specs).await?;
        tracing::info!(file = %path.display(), created, "loaded users file");
    }
    for listen in &cli.listen {
        warn_if_demo_users_exposed(&store, listen.addr).await;
    }

    let (soft, _hard) = limits::raise_nofile_limit();
    let config = Config {
        max_line: cli.max_line,
        max_connections: cli
            .max_connections
            .unwrap_or_else(|| limits::default_max_connections(soft)),
        idle_timeout: cli.idle_timeout,
        session_ttl: cli.session_ttl,
        allow_register: cli.allow_register,
        max_connections_per_ip: cli.max_connections_per_ip,
        max_request_rate: cli.max_request_rate,
        max_message: cli.max_message,
        max_inbox: cli.max_inbox,
        max_sync_wait: cli.max_sync_wait,
        login_backoff: LoginBackoff {
            base: cli.login_backoff,
            max_ip_delay: cli.login_backoff_max,
            exempt_loopback: !cli.login_backoff_loopback,
            ..LoginBackoff::default()
        },
        ..Config::default()
    };
    let listeners = bind_all(&cli).await?;
    tracing::info!(
        max_connections = config.max_connections,
        max_line = config.max_line,
        "limits"
    );

    let token = CancellationToken::new();
    tokio::spawn(signals.cancel_on_signal(token.clone()));
    chat_server::serve(listeners, store, config, token).await?;
    Ok(())
}

/// Binds every `--listen` address. Prints one stdout line per listener,
/// `listening on ADDR` (`listening on tls://ADDR` for TLS): scripts and tests wait
/// for it to learn the port.
async fn bind_all(cli: &Cli) -> Result<Vec<Listener>> {
    let acceptor = match (&cli.tls_cert, &cli.tls_key) {
        (Some(cert), Some(key)) => Some(tls::acceptor(cert, key)?),
        _ => None,
    };
    let mut listeners = Vec::new();
    for listen in &cli.listen {
        let tcp = TcpListener::bind(listen.addr)
            .await
            .with_context(|| format!("binding {}", listen.addr))?;
        let addr = tcp.local_addr()?;
        let listener = match (listen.tls.unwrap_or(acceptor.is_some()), &acceptor) {
            (false, _) => {
                println!("listening on {addr}");
                Listener::plain(tcp)
            }
            (true, Some(acceptor)) => {
                println!("listening on tls://{addr}");
                Listener::tls(tcp, acceptor.clone())
            }
            (true, None) => anyhow::bail!("tls://{addr} needs --tls-cert and --tls-key"),
        };
        tracing::info!(%addr, tls = listener.tls.is_some(), "listening");
        listeners.push(listener);
    }
    std::io::stdout().flush()?;
    Ok(listeners)
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

/// `--max-sync-wait`: a duration of at most the protocol's 60 s.
fn parse_sync_wait(text: &str) -> Result<Duration, String> {
    let wait = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    let most = Duration::from_secs(u64::from(chat_protocol::SYNC_MAX_WAIT_SECONDS));
    if wait > most {
        return Err(format!("at most {}s", most.as_secs()));
    }
    Ok(wait)
}
