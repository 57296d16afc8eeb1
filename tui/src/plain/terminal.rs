//! The few things plain mode asks of a real terminal: raw mode (restored on every
//! exit path), its width, and a password read without echo.

use anyhow::{Context, bail};
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::crossterm::terminal;
use std::io::{self, Write};

/// Raw mode while this lives: no echo, no line buffering, no signals from Ctrl-C;
/// and bracketed paste, if asked for (a paste then arrives as one event, so its
/// line breaks cannot run anything).
#[derive(Debug)]
pub struct RawMode {
    paste: bool,
}

/// Turns bracketed paste on (xterm's mode 2004).
const PASTE_ON: &str = "\x1b[?2004h";
/// Turns bracketed paste off.
const PASTE_OFF: &str = "\x1b[?2004l";

impl RawMode {
    /// Switches the terminal to raw mode.
    pub fn enable() -> io::Result<RawMode> {
        terminal::enable_raw_mode()?;
        Ok(RawMode { paste: false })
    }

    /// Switches the terminal to raw mode with bracketed paste.
    pub fn enable_with_paste() -> io::Result<RawMode> {
        let mut raw = RawMode::enable()?;
        put(&mut io::stdout(), PASTE_ON)?;
        raw.paste = true;
        Ok(raw)
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // Nothing better to do if it fails: the process is leaving this mode anyway.
        if self.paste {
            let _ = put(&mut io::stdout(), PASTE_OFF);
        }
        let _ = terminal::disable_raw_mode();
    }
}

/// Puts the terminal back as the shell wants it: cooked mode (a no-op unless this
/// process entered raw mode, e.g. for a password prompt), and after the line
/// `editor`, no bracketed paste. Output errors are ignored: the terminal may be
/// gone.
pub fn restore(editor: bool) {
    let _ = terminal::disable_raw_mode();
    if editor {
        let _ = put(&mut io::stdout(), PASTE_OFF);
    }
}

/// The terminal's width in columns (80 when it cannot be asked).
pub fn width() -> u16 {
    terminal::size()
        .map(|(w, _)| w)
        .ok()
        .filter(|&w| w > 0)
        .unwrap_or(80)
}

/// Writes `bytes` to `out` and flushes, so positioning and text stay in order when
/// standard output and standard error share the terminal.
pub fn put(out: &mut impl Write, bytes: &str) -> io::Result<()> {
    if bytes.is_empty() {
        return Ok(());
    }
    out.write_all(bytes.as_bytes())?;
    out.flush()
}

/// Asks for a password on standard error and reads it from the terminal without
/// echo. Ctrl-C (or Ctrl-D on an empty line) cancels.
pub async fn read_password(prompt: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || read_password_blocking(&prompt))
        .await
        .context("password prompt")?
}

fn read_password_blocking(prompt: &str) -> anyhow::Result<String> {
    let mut err = io::stderr();
    put(&mut err, prompt)?;
    let raw = RawMode::enable().context("switching the terminal to raw mode")?;
    let mut password = String::new();
    loop {
        let Event::Key(key) = event::read().context("reading the password")? else {
            continue;
        };
        if key.kind == KeyEventKind::Release {
            continue;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Enter => break,
            KeyCode::Char('c') if ctrl => {
                drop(raw);
                put(&mut err, "\n")?;
                bail!("password prompt cancelled");
            }
            KeyCode::Char('d') if ctrl && password.is_empty() => {
                drop(raw);
                put(&mut err, "\n")?;
                bail!("password prompt cancelled");
            }
            KeyCode::Backspace => {
                password.pop();
            }
            KeyCode::Char(c) if !ctrl && !c.is_control() => password.push(c),
            _ => {}
        }
    }
    drop(raw);
    put(&mut err, "\n")?;
    Ok(password)
}
