//! Plain mode: a line-oriented client for ssh links, dumb terminals, pipes and cron.
//!
//! ```text
//! $ printf 'auth messi surabaya\nsend henderson hi\ninbox\n' | chat --plain
//! username messi logged in
//! message sent to henderson
//! (no new messages)
//! ```
//!
//! Four ways to run, chosen by [`Mode::detect`]:
//! - **once** (`--once LINE`): one command, then exit; for cron and shell loops.
//! - **script** (standard input is not a terminal): every line of standard input in
//!   order, nothing but the command results on standard output, no background poll;
//!   stops at the first failure unless `--keep-going`; exit status 1 if any failed.
//! - **line editor** (standard input and output are terminals, `TERM` is not
//!   `dumb`): the client owns line editing in raw mode, polls the inbox in the
//!   background and prints new messages above the prompt without garbling the
//!   half-typed line (see [`lineedit`]).
//! - **cooked** (standard input is a terminal, output is not, or `TERM=dumb`): lines
//!   as the terminal driver edits them, background poll, no escape sequences at all.
//!
//! Results go to standard output, `error: ...` lines to standard error. With
//! `--user`, the session is opened before the first command (quietly unless
//! interactive) and closed at exit, unless `--show-token` asked to keep its token.
//!
//! # Layout
//! - [`command`]: a typed line into a [`command::Command`] (pure).
//! - [`format`]: replies into lines, times, JSON lines (pure).
//! - [`session`]: token keeping, command into request, reply into lines.
//! - [`lineedit`]: the line editor's state and the exact bytes of each redraw (pure).
//! - [`terminal`]: raw mode, width, password prompt.
//! - [`interactive`]: the two interactive loops.

pub mod catch_up;
pub mod command;
pub mod format;
pub mod interactive;
pub mod lineedit;
pub mod reconnect;
pub mod session;
pub mod terminal;

use crate::client::{Client, ClientError, Transport};
use anyhow::{Context, bail};
use chat_protocol::Dialect;
use chrono::Local;
use command::{Command, CommandError};
use format::{Line, Outcome};
use session::{Session, Style};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, BufReader, Lines, Stdin};

/// What plain mode needs from the command line.
#[derive(Clone)]
pub struct PlainOptions {
    /// Server address, `host:port`.
    pub addr: String,
    /// Plain TCP or TLS.
    pub transport: Transport,
    /// Log in as this user before the first command.
    pub user: Option<String>,
    /// Password from `CHAT_PASSWORD`.
    pub password: Option<String>,
    /// Read the password as the first line of standard input.
    pub password_stdin: bool,
    /// Print the session token after login (and keep the session open at exit).
    pub show_token: bool,
    /// Print each server response as one JSON line.
    pub json: bool,
    /// Continue after a failed command instead of stopping.
    pub keep_going: bool,
    /// Run this one command line and exit.
    pub once: Option<String>,
    /// How often the interactive modes poll the inbox.
    pub poll_interval: Duration,
}

impl std::fmt::Debug for PlainOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlainOptions")
            .field("addr", &self.addr)
            .field("transport", &self.transport)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .field("password_stdin", &self.password_stdin)
            .field("show_token", &self.show_token)
            .field("json", &self.json)
            .field("keep_going", &self.keep_going)
            .field("once", &self.once)
            .field("poll_interval", &self.poll_interval)
            .finish()
    }
}

/// How plain mode talks to the person or program at the other end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// One command from `--once`.
    Once(String),
    /// Commands from a pipe or file.
    Script,
    /// A terminal we may not draw on: lines as the terminal driver edits them.
    Cooked,
    /// A terminal we draw on: our own line editor.
    Editor,
}

impl Mode {
    /// Picks the mode from `--once` and what standard input and output are.
    pub fn detect(
        once: Option<&str>,
        stdin_tty: bool,
        stdout_tty: bool,
        term: Option<&str>,
    ) -> Mode {
        if let Some(line) = once {
            return Mode::Once(line.to_string());
        }
        match (stdin_tty, stdout_tty && term != Some("dumb")) {
            (false, _) => Mode::Script,
            (true, false) => Mode::Cooked,
            (true, true) => Mode::Editor,
        }
    }

    fn interactive(&self) -> bool {
        matches!(self, Mode::Cooked | Mode::Editor)
    }
}

/// Standard input as lines.
pub type StdinLines = Lines<BufReader<Stdin>>;

/// Runs plain mode until standard input ends, `/quit`, a signal, or (in scripts)
/// the first failure. `Err` when the server cannot be reached or the connection
/// breaks.
///
/// Every way out puts the terminal back and logs out a session the client opened
/// (SIGTERM, SIGHUP and SIGINT too, which then exit with 128 + the signal's
/// number). A closed standard output (`chat ... | head -1`) is the caller's to
/// treat as a quiet end: see [`is_broken_pipe`].
pub async fn run(opts: PlainOptions) -> anyhow::Result<ExitCode> {
    let term = std::env::var("TERM").ok();
    let mode = Mode::detect(
        opts.once.as_deref(),
        std::io::stdin().is_terminal(),
        std::io::stdout().is_terminal(),
        term.as_deref(),
    );
    let editor = mode == Mode::Editor;
    let mut signals = crate::signals::Signals::new()?;
    let mut session = None;
    let ended = tokio::select! {
        result = run_session(&opts, mode, &mut session) => Ok(result),
        signal = signals.recv() => Err(signal),
    };
    // The work above is dropped by now, raw mode with it; this covers a password
    // prompt still reading on its own thread.
    terminal::restore(editor);
    let closed = match session.as_mut() {
        Some(session) => session.close().await.context("logging out"),
        None => Ok(()),
    };
    match ended {
        Err(signal) => Ok(ExitCode::from(signal.exit_status())),
        Ok(result) => {
            let code = result?;
            closed?;
            Ok(code)
        }
    }
}

/// Connects (into `slot`, so the caller can log out whatever happens), logs in
/// with `--user`, and runs `mode`.
async fn run_session(
    opts: &PlainOptions,
    mode: Mode,
    slot: &mut Option<Session<crate::client::Stream, Local>>,
) -> anyhow::Result<ExitCode> {
    let client = Client::connect_with(&opts.addr, &opts.transport).await?;
    let style = Style {
        json: opts.json,
        show_token: opts.show_token,
    };
    let session = slot.insert(Session::new(client, style, Local));
    let mut input = BufReader::new(tokio::io::stdin()).lines();
    if let Some(user) = &opts.user {
        let password = password(opts, user, &mut input).await?;
        let login = Command::Login {
            dialect: Dialect::Course,
            username: user.clone(),
            password,
        };
        let outcome = session.execute(login).await.context("connection lost")?;
        if !outcome.ok || mode.interactive() {
            emit(&outcome.lines)?;
        }
        if !outcome.ok {
            return Ok(ExitCode::FAILURE);
        }
    }
    let all_ok = match mode {
        Mode::Once(line) => run_once(opts, session, &line).await?,
        Mode::Script => run_script(session, &mut input, opts.keep_going).await?,
        Mode::Cooked | Mode::Editor => run_interactive(opts, &mode, session, &mut input).await?,
    };
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The interactive loops, connecting again (with backoff, saying why) and logging
/// in again whenever the connection to the server is lost.
async fn run_interactive(
    opts: &PlainOptions,
    mode: &Mode,
    session: &mut Session<crate::client::Stream, Local>,
    input: &mut StdinLines,
) -> anyhow::Result<bool> {
    let mut backoff = crate::reconnect::Backoff::default();
    // One reader of the terminal for the whole run, reconnects included.
    let mut events = match mode {
        Mode::Editor => Some(crate::input::terminal_events().context("reading the terminal")?),
        _ => None,
    };
    loop {
        let up_since = tokio::time::Instant::now();
        let result = match events.as_mut() {
            None => interactive::run_cooked(session, input, opts.poll_interval).await,
            Some(events) => interactive::run_editor(session, opts.poll_interval, events).await,
        };
        let error = match result {
            Err(e) if reconnect::is_connection_lost(&e) => e,
            other => return other,
        };
        if up_since.elapsed() >= crate::reconnect::HEALTHY_AFTER {
            backoff.succeed();
        }
        let reason = error
            .chain()
            .find(|c| c.is::<ClientError>())
            .map_or_else(|| error.to_string(), ToString::to_string);
        let lines = reconnect::reconnect(
            session,
            &opts.addr,
            &opts.transport,
            &mut backoff,
            reason,
            emit,
        )
        .await?;
        emit(&lines)?;
    }
}

/// Whether `error` comes from writing to a closed pipe on our side (the reader,
/// such as `head`, has gone): standard tools end quietly with status 0 then. A
/// connection to the server that breaks is a [`ClientError`] and stays an error.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    let from_server = error.chain().any(|cause| cause.is::<ClientError>());
    !from_server
        && error.chain().any(|cause| {
            cause
                .downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
        })
}

/// The password for `--user`: first line of standard input, `CHAT_PASSWORD`, or a
/// prompt without echo when standard input is a terminal.
async fn password(
    opts: &PlainOptions,
    user: &str,
    input: &mut StdinLines,
) -> anyhow::Result<String> {
    if opts.password_stdin {
        return match input.next_line().await.context("reading the password")? {
            Some(line) => Ok(line.trim_end_matches('\r').to_string()),
            None => bail!("--password-stdin: standard input is empty"),
        };
    }
    if let Some(password) = &opts.password {
        return Ok(password.clone());
    }
    if std::io::stdin().is_terminal() {
        return terminal::read_password(format!("password for {user}: ")).await;
    }
    bail!("no password for {user}: use --password-stdin or set CHAT_PASSWORD")
}

/// What a typed line led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// `/quit`.
    Quit,
    /// A command ran (or failed to parse); an empty line is a success printing nothing.
    Ran(Outcome),
}

/// Parses and runs one line. `Err` only when the connection broke.
pub async fn run_line<S, Tz>(session: &mut Session<S, Tz>, line: &str) -> anyhow::Result<Step>
where
    S: AsyncRead + AsyncWrite + Unpin,
    Tz: chrono::TimeZone,
    Tz::Offset: std::fmt::Display,
{
    let command = match Command::parse(line) {
        Ok(Command::Quit) => return Ok(Step::Quit),
        Ok(command) => command,
        Err(CommandError::Empty) => return Ok(Step::Ran(Outcome::done(Vec::new()))),
        Err(e) => return Ok(Step::Ran(Outcome::failed(e))),
    };
    let outcome = session.execute(command).await.context("connection lost")?;
    Ok(Step::Ran(outcome))
}

async fn run_once<S>(
    opts: &PlainOptions,
    session: &mut Session<S, Local>,
    line: &str,
) -> anyhow::Result<bool>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if line.trim().is_empty() {
        emit(&[Line::error("--once: empty command")])?;
        return Ok(false);
    }
    // `--once inbox` with a known user, on a server with `sync`: what is new since
    // the last run, draining nothing (see `catch_up`).
    // `--json` keeps the course's inbox answer, which scripts parse.
    if matches!(Command::parse(line), Ok(Command::Inbox { .. }))
        && !opts.json
        && let (Some(user), Some(dir)) = (&opts.user, crate::state::dir())
    {
        let state = crate::state::file(&dir, &format!("once-{}", opts.addr), user);
        let caught = catch_up::once_inbox(session, &state)
            .await
            .context("connection lost")?;
        if let Some(outcome) = caught {
            emit(&outcome.lines)?;
            return Ok(outcome.ok);
        }
    }
    match run_line(session, line).await? {
        Step::Quit => Ok(true),
        Step::Ran(outcome) => {
            emit(&outcome.lines)?;
            Ok(outcome.ok)
        }
    }
}

async fn run_script<S>(
    session: &mut Session<S, Local>,
    input: &mut StdinLines,
    keep_going: bool,
) -> anyhow::Result<bool>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut all_ok = true;
    while let Some(line) = input.next_line().await.context("reading standard input")? {
        let Step::Ran(outcome) = run_line(session, line.trim_end_matches('\r')).await? else {
            break;
        };
        emit(&outcome.lines)?;
        all_ok &= outcome.ok;
        if !outcome.ok && !keep_going {
            break;
        }
    }
    Ok(all_ok)
}

/// Prints lines as plain text: results on standard output, errors on standard error
/// (standard output flushed first, so the two keep their order on one terminal).
/// Every write is checked (no `println!`, which panics on a closed pipe).
pub fn emit(lines: &[Line]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    for line in lines {
        match line {
            Line::Out(text) => writeln!(out, "{text}")?,
            Line::Err(text) => {
                out.flush()?;
                let mut err = std::io::stderr().lock();
                writeln!(err, "{text}")?;
                err.flush()?;
            }
        }
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_follows_once_and_the_terminals() {
        let table = [
            (
                Some("inbox"),
                true,
                true,
                Some("xterm"),
                Mode::Once("inbox".into()),
            ),
            (
                Some("inbox"),
                false,
                false,
                None,
                Mode::Once("inbox".into()),
            ),
            (None, false, true, Some("xterm"), Mode::Script),
            (None, false, false, None, Mode::Script),
            (None, true, false, Some("xterm"), Mode::Cooked),
            (None, true, true, Some("dumb"), Mode::Cooked),
            (None, true, true, Some("xterm-256color"), Mode::Editor),
            (None, true, true, None, Mode::Editor),
        ];
        for (once, stdin_tty, stdout_tty, term, want) in table {
            assert_eq!(
                Mode::detect(once, stdin_tty, stdout_tty, term),
                want,
                "{once:?} {stdin_tty} {stdout_tty} {term:?}"
            );
        }
    }

    #[test]
    fn debug_hides_the_password() {
        let opts = PlainOptions {
            addr: "127.0.0.1:8889".into(),
            transport: Transport::Plain,
            user: Some("messi".into()),
            password: Some("surabaya".into()),
            password_stdin: false,
            show_token: false,
            json: false,
            keep_going: false,
            once: None,
            poll_interval: Duration::from_secs(2),
        };
        let text = format!("{opts:?}");
        assert!(!text.contains("surabaya"), "{text}");
        assert!(text.contains("<hidden>"), "{text}");
    }
}
