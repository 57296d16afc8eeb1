//! The real terminal: set it up, run the loop, put it back, whatever happens.
//!
//! `ratatui::init` enters raw mode and the alternate screen and installs a panic hook
//! that restores both; we add mouse capture and bracketed paste, and a hook that
//! turns them off too, so a panic never leaves the shell receiving mouse reports.

use std::io::{Write, stdout};
use std::panic::AssertUnwindSafe;

use futures::FutureExt;
use std::path::Path;

use ratatui::crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
};
use ratatui::crossterm::execute;

use crate::app::{App, Display};
use crate::cli::Settings;
use crate::event::{self, Host};
use crate::login::LoginForm;
use crate::reconnect::Backoff;
use crate::signals::{Signal, Signals};
use crate::worker::{self, Credentials, WorkerConfig};

/// Writes the bell and mouse modes to standard output.
#[derive(Debug, Default)]
pub struct TerminalHost;

impl Host for TerminalHost {
    fn bell(&mut self) {
        let mut out = stdout();
        let _ = out.write_all(b"\x07").and_then(|()| out.flush());
    }

    fn mouse_capture(&mut self, on: bool) {
        let result = if on {
            execute!(stdout(), EnableMouseCapture)
        } else {
            execute!(stdout(), DisableMouseCapture)
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "mouse capture");
        }
    }
}

/// Runs the full-screen client until the user quits, a signal ends it, or the
/// terminal goes away; returns the signal, if one did.
///
/// `username` alone opens the login form on the password; with `password` too the
/// client logs in at once; with neither the form asks for both. Every way out
/// restores the terminal, and all but a second Ctrl-C log out first (a panic too:
/// the hook restores the terminal, then the worker gets its logout before the
/// panic goes on).
pub async fn run(
    settings: Settings,
    password: Option<String>,
    offset: time::UtcOffset,
) -> anyhow::Result<Option<Signal>> {
    let credentials = match (&settings.username, password) {
        (Some(username), Some(password)) => Some(Credentials {
            username: username.clone(),
            password,
        }),
        _ => None,
    };
    let login = credentials
        .is_none()
        .then(|| LoginForm::new(settings.username.as_deref()));
    let config = WorkerConfig {
        addr: settings.addr.clone(),
        transport: settings.transport.clone(),
        poll_interval: settings.poll_interval,
        backoff: Backoff::default(),
        sync_wait: settings.sync_wait,
        state_dir: crate::state::dir(),
    };
    let mut signals = Signals::new()?;
    let (handle, updates) = worker::spawn(config, credentials);
    let display = Display {
        addr: settings.transport.label(&settings.addr),
        theme: settings.theme,
        bell: settings.bell,
        offset,
    };
    let mut app = App::new(display, settings.username.clone(), login);

    let events = crate::input::terminal_events()?;
    let mut terminal = ratatui::try_init()?;
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = execute!(stdout(), DisableMouseCapture, DisableBracketedPaste);
        previous(info);
    }));
    let _ = execute!(stdout(), EnableMouseCapture, EnableBracketedPaste);
    let mut caught = None;
    let stop = async {
        caught = Some(signals.recv().await);
    };
    let result = AssertUnwindSafe(event::run(
        &mut terminal,
        &mut app,
        events,
        updates,
        &handle.jobs,
        &mut TerminalHost,
        stop,
    ))
    .catch_unwind()
    .await;
    let _ = execute!(stdout(), DisableMouseCapture, DisableBracketedPaste);
    ratatui::restore();
    let result = match result {
        Ok(result) => result,
        Err(panic) => {
            // The hook has restored the terminal; log out before the panic goes on.
            let _ = handle.jobs.send(worker::Job::Logout);
            let _ = tokio::time::timeout(event::QUIT_GRACE, handle.task).await;
            std::panic::resume_unwind(panic);
        }
    };
    drop(handle.jobs);
    handle.task.abort();
    result.map(|()| caught)
}

/// Sends logs to `path` (appending); without it, logs go nowhere.
pub fn init_logging(path: Option<&Path>) -> anyhow::Result<()> {
    let Some(path) = path else {
        return Ok(());
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| anyhow::anyhow!("log file {}: {e}", path.display()))?;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_writer(std::sync::Mutex::new(file))
        .with_ansi(false)
        .with_env_filter(filter)
        .try_init()
        .map_err(|e| anyhow::anyhow!("logging: {e}"))
}
