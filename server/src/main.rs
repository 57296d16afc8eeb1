//! `chat-server`: runs the chat server, or manages its accounts (`chat-server user`).

use anyhow::{Context as _, Result};
use chat_server::accounts::run_user_command;
use chat_server::cli::{Cli, Command, LogFormat};
use chat_server::storage::Store;
use chat_server::storage::open::{DbLocation, open};
use chat_server::storage::sqlite::Access;
use chat_server::throttle::LoginBackoff;
use chat_server::{Config, Listener, limits, shutdown, tls, users};
use clap::Parser as _;
use std::io::{IsTerminal as _, Write as _};
use std::net::SocketAddr;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// mimalloc gives memory back to the system; glibc's malloc keeps each argon2 hash's
/// 19 MiB per thread arena after raising its mmap threshold. Measured on 32 logins from
/// 8 connections: 267 MB resident with glibc, 64 MB with mimalloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
