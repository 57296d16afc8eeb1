//! The interactive loops: commands typed by a person, and a background poll that
//! prints new messages as they arrive.
//!
//! Both loops own the one connection and use it in turn (the protocol answers in
//! order, one request at a time): a command and a poll never overlap, so a reply is
//! always read by the request that asked for it.

use super::format::Line;
use super::lineedit::{Action, Editor, action_for};
use super::session::Session;
use super::{StdinLines, Step, emit, format, run_line, terminal};
use anyhow::Context;
use chrono::Local;
use futures::{FutureExt, StreamExt};
use ratatui::crossterm::event::Event;
use std::io::Write;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{Interval, MissedTickBehavior, interval};

/// The prompt: `messi> ` when logged in, `> ` before.
pub fn prompt(username: Option<&str>) -> String {
    match username {
        Some(name) => format!("{}> ", format::clean(name)),
        None => "> ".to_string(),
    }
}

fn poll_timer(every: Duration) -> Interval {
    let mut timer = interval(every.max(Duration::from_millis(50)));
    timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
    timer
}

/// Lines as the terminal driver edits them (a terminal we must not draw on, or
/// standard output going elsewhere). Incoming messages are printed as they come.
/// Returns true: an interactive session's typos are not the exit status's business.
pub async fn run_cooked<S>(
    session: &mut Session<S, Local>,
    input: &mut StdinLines,
    every: Duration,
) -> anyhow::Result<bool>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut timer = poll_timer(every);
    loop {
        tokio::select! {
            line = input.next_line() => {
                let Some(line) = line.context("reading standard input")? else { break };
                match run_line(session, line.trim_end_matches('\r')).await? {
                    Step::Quit => break,
                    Step::Ran(outcome) => emit(&outcome.lines)?,
                }
            }
            _ = timer.tick(), if session.logged_in() => {
                emit(&session.poll().await.context("connection lost")?)?;
            }
        }
    }
    Ok(true)
}

/// Our own line editor in raw mode with bracketed paste; new messages are printed
/// above the prompt and the half-typed input is redrawn below them. Ctrl-C or
/// Ctrl-D on an empty line, or `/quit`, leave.
///
/// `events` are the terminal's (from [`crate::input::terminal_events`]); the
/// caller keeps them across reconnects, so no key typed meanwhile is lost.
pub async fn run_editor<S, E>(
    session: &mut Session<S, Local>,
    every: Duration,
    events: &mut E,
) -> anyhow::Result<bool>
where
    S: AsyncRead + AsyncWrite + Unpin,
    E: futures::Stream<Item = std::io::Result<Event>> + Unpin,
{
    let raw =
        terminal::RawMode::enable_with_paste().context("switching the terminal to raw mode")?;
    let mut editor = Editor::new(&prompt(session.username()), terminal::width());
    let mut out = std::io::stdout();
    terminal::put(&mut out, &editor.draw())?;
    let result = editor_loop(session, &mut editor, every, events).await;
    // Leave the cursor below the prompt whatever happened, then restore the terminal.
    let _ = terminal::put(&mut out, &editor.finish());
    drop(raw);
    result.map(|()| true)
}

async fn editor_loop<S, E>(
    session: &mut Session<S, Local>,
    editor: &mut Editor,
    every: Duration,
    events: &mut E,
) -> anyhow::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
    E: futures::Stream<Item = std::io::Result<Event>> + Unpin,
{
    let mut timer = poll_timer(every);
    loop {
        tokio::select! {
            event = events.next() => {
                let Some(event) = event else { return Ok(()) };
                // Everything typed so far, handled before anything is drawn: a fast
                // burst is neither left waiting for another key nor drawn key by key.
                let mut batch = vec![event];
                while let Some(Some(more)) = events.next().now_or_never() {
                    batch.push(more);
                }
                if !on_events(session, editor, batch).await? {
                    return Ok(());
                }
            }
            _ = timer.tick(), if session.logged_in() => {
                let lines = session.poll().await.context("connection lost")?;
                if !lines.is_empty() {
                    show(editor, &lines, &prompt(session.username()))?;
                }
            }
        }
    }
}

/// Handles terminal events that arrived together, drawing once at the end (and
/// before a line runs); false when the person leaves.
async fn on_events<S>(
    session: &mut Session<S, Local>,
    editor: &mut Editor,
    batch: Vec<std::io::Result<Event>>,
) -> anyhow::Result<bool>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut out = std::io::stdout();
    let mut stale = false;
    for event in batch {
        match event.context("reading the terminal")? {
            Event::Key(key) => {
                let Some(action) = action_for(key) else {
                    continue;
                };
                let empty = editor.buffer().is_empty();
                match action {
                    Action::ClearOrQuit | Action::DeleteOrEof if empty => return Ok(false),
                    Action::Submit => {
                        if std::mem::take(&mut stale) {
                            terminal::put(&mut out, &editor.redraw())?;
                        }
                        if !submit(session, editor).await? {
                            return Ok(false);
                        }
                    }
                    other => {
                        editor.apply(other);
                        stale = true;
                    }
                }
            }
            Event::Paste(text) => {
                editor.paste(&text);
                stale = true;
            }
            Event::Resize(width, _) => {
                if std::mem::take(&mut stale) {
                    terminal::put(&mut out, &editor.redraw())?;
                }
                terminal::put(&mut out, &editor.resize(width))?;
            }
            _ => {}
        }
    }
    if stale {
        terminal::put(&mut out, &editor.redraw())?;
    }
    Ok(true)
}

/// Runs the typed line and shows its results; false on `/quit`.
async fn submit<S>(session: &mut Session<S, Local>, editor: &mut Editor) -> anyhow::Result<bool>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut out = std::io::stdout();
    let (bytes, line) = editor.submit();
    terminal::put(&mut out, &bytes)?;
    match run_line(session, &line).await? {
        Step::Quit => Ok(false),
        Step::Ran(outcome) => {
            show(editor, &outcome.lines, &prompt(session.username()))?;
            Ok(true)
        }
    }
}

/// Prints lines above the prompt (results on standard output, errors on standard
/// error) and redraws the prompt (now `prompt`) and input below them.
fn show(editor: &mut Editor, lines: &[Line], prompt: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout();
    let mut err = std::io::stderr();
    terminal::put(&mut out, &editor.erase())?;
    // Nothing is drawn now, so this only records the prompt for the redraw below.
    terminal::put(&mut out, &editor.set_prompt(prompt))?;
    for line in lines {
        match line {
            Line::Out(text) => terminal::put(&mut out, &format!("{text}\r\n"))?,
            Line::Err(text) => terminal::put(&mut err, &format!("{text}\r\n"))?,
        }
    }
    terminal::put(&mut out, &editor.draw())?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_names_the_user() {
        assert_eq!(prompt(Some("messi")), "messi> ");
        assert_eq!(prompt(None), "> ");
        assert_eq!(prompt(Some("a\u{1b}b")), "a\u{FFFD}b> ");
    }
}
