//! `chat`: parse the command line, pick full-screen or plain mode, run it.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use chat_tui::cli::{Cli, Settings};
use chat_tui::{config, plain, tui};
use clap::Parser;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        // `chat ... | head -1`: the reader has all it wanted.
        Err(e) if plain::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            // Standard error may be closed too: nothing left to tell then.
            let _ = writeln!(std::io::stderr(), "chat: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let file = config::load(cli.config.as_deref())?;
    let settings = cli.settings(&file);
    tui::init_logging(cli.log.as_deref())?;
    if cli.insecure {
        eprintln!(
            "chat: WARNING: --insecure: the server's certificate is NOT verified; anyone on the \
             network can pretend to be the server and read your password. Use it for testing only."
        );
        tracing::warn!("--insecure: TLS certificate verification is off");
    }
    let term = std::env::var("TERM").ok();
    let env_password = std::env::var("CHAT_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty());
    if cli.wants_plain(std::io::stdout().is_terminal(), term.as_deref()) {
        let options = plain_options(&cli, &settings, env_password);
        return block_on(plain::run(options))?;
    }
    let password = if cli.password_stdin {
        Some(read_password_line()?)
    } else {
        env_password
    };
    // The local offset can only be read safely while the process has one thread.
    let offset = time::UtcOffset::current_local_offset().unwrap_or(time::UtcOffset::UTC);
    let signal = block_on(tui::run(settings, password, offset))??;
    Ok(signal.map_or(ExitCode::SUCCESS, |s| ExitCode::from(s.exit_status())))
}

/// Runs `work` on a fresh runtime and shuts the runtime down without waiting for
/// blocking reads: `tokio::io::stdin` reads on a blocking thread that a read of the
/// terminal may hold forever, and a plain drop of the runtime would wait for it.
fn block_on<T>(work: impl std::future::Future<Output = T>) -> anyhow::Result<T> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let result = runtime.block_on(work);
    runtime.shutdown_background();
    Ok(result)
}

/// One line of standard input, before the UI starts (keys then come from the tty).
fn read_password_line() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let password = line.trim_end_matches(['\r', '\n']).to_string();
    anyhow::ensure!(
        !password.is_empty(),
        "--password-stdin: no password on standard input"
    );
    Ok(password)
}

fn plain_options(cli: &Cli, settings: &Settings, password: Option<String>) -> plain::PlainOptions {
    // A username from the config file logs in first only for a person at a terminal:
    // a piped script says who it is itself (`--user` or an `auth` line).
    let user = cli.user.clone().or_else(|| {
        settings
            .username
            .clone()
            .filter(|_| std::io::stdin().is_terminal())
    });
    plain::PlainOptions {
        addr: settings.addr.clone(),
        transport: settings.transport.clone(),
        user,
        password,
        password_stdin: cli.password_stdin,
        show_token: cli.show_token,
        json: cli.json,
        keep_going: cli.keep_going,
        once: cli.once.clone(),
        poll_interval: settings.poll_interval,
    }
}
