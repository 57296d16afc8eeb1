//! Line editing for an interactive terminal, as pure state plus the exact bytes to
//! write: the caller owns the terminal (raw mode) and writes what these return.
//!
//! The reason it exists is one operation, [`Editor::print_above`]: a message arrives
//! while the person is half-way through typing, perhaps over several wrapped rows.
//! The editor knows how many rows its prompt and input take and where the cursor is,
//! so it can go to the prompt's first row, clear to the end of the screen, print the
//! message, and draw the prompt and input again below it. Input never gets mixed
//! with incoming text (the ssh-chat bug, its issues 22, 161 and 305).
//!
//! Only four control sequences are used, all ECMA-48:
//!
//! ```text
//! CR          to column 0           ESC [ n A   up n rows     ESC [ n B   down n rows
//! ESC [ n C   right n columns       ESC [ J     clear to the end of the screen
//! ```
//!
//! Keys: Left/Right/Home/End (and Ctrl-B/F/A/E) move, Backspace/Delete delete,
//! Ctrl-U/Ctrl-K/Ctrl-W kill to the start, to the end, the word before the cursor,
//! Up/Down (Ctrl-P/N) recall earlier lines (`auth`/`login` lines are not kept),
//! Enter runs the line, Ctrl-C clears it, Ctrl-C or Ctrl-D on an empty line leaves.
//!
//! Rows are counted with `unicode-width`, wrapping a wide character that does not
//! fit on a row to the next one, as terminals do. Raw mode turns off output
//! processing, so lines end with `\r\n`.

use crate::line_history::LineHistory;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use unicode_segmentation::UnicodeSegmentation;
use unicode_width::UnicodeWidthChar;

/// What a key asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Insert a character at the cursor.
    Insert(char),
    /// Delete the character before the cursor.
    Backspace,
    /// Delete the character under the cursor, or leave on an empty line (Ctrl-D).
    DeleteOrEof,
    /// Delete the character under the cursor.
    Delete,
    /// Cursor one character left.
    Left,
    /// Cursor one character right.
    Right,
    /// Cursor to the start.
    Home,
    /// Cursor to the end.
    End,
    /// Delete from the start to the cursor (Ctrl-U).
    KillToStart,
    /// Delete from the cursor to the end (Ctrl-K).
    KillToEnd,
    /// Delete the word before the cursor (Ctrl-W).
    KillWord,
    /// Run the line (Enter).
    Submit,
    /// Clear the line, or leave on an empty line (Ctrl-C).
    ClearOrQuit,
    /// The previous line entered (Up, Ctrl-P).
    Older,
    /// The next line entered, then back to the draft (Down, Ctrl-N).
    Newer,
}

/// The action for a key press, if any (releases and unknown keys do nothing).
pub fn action_for(key: KeyEvent) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    let action = match key.code {
        KeyCode::Char(c) if ctrl => match c.to_ascii_lowercase() {
            'a' => Action::Home,
            'e' => Action::End,
            'b' => Action::Left,
            'f' => Action::Right,
            'h' => Action::Backspace,
            'd' => Action::DeleteOrEof,
            'u' => Action::KillToStart,
            'k' => Action::KillToEnd,
            'w' => Action::KillWord,
            'c' => Action::ClearOrQuit,
            'p' => Action::Older,
            'n' => Action::Newer,
            'j' | 'm' => Action::Submit,
            _ => return None,
        },
        KeyCode::Char(c) if !c.is_control() => Action::Insert(c),
        KeyCode::Enter => Action::Submit,
        KeyCode::Backspace => Action::Backspace,
        KeyCode::Delete => Action::Delete,
        KeyCode::Left => Action::Left,
        KeyCode::Right => Action::Right,
        KeyCode::Home => Action::Home,
        KeyCode::End => Action::End,
        KeyCode::Up => Action::Older,
        KeyCode::Down => Action::Newer,
        KeyCode::Tab => Action::Insert(' '),
        _ => return None,
    };
    Some(action)
}

/// The text being typed and the cursor, as a character index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineBuffer {
    chars: Vec<char>,
    cursor: usize,
}

impl LineBuffer {
    /// The text.
    pub fn text(&self) -> String {
        self.chars.iter().collect()
    }

    /// Whether nothing is typed.
    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }

    /// The cursor, in characters from the start.
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// Replaces the text, cursor at its end.
    pub fn set(&mut self, text: &str) {
        self.chars = text.chars().filter(|c| !c.is_control()).collect();
        self.cursor = self.chars.len();
    }

    /// Takes the text out, leaving the buffer empty.
    pub fn take(&mut self) -> String {
        self.cursor = 0;
        std::mem::take(&mut self.chars).into_iter().collect()
    }

    /// Applies an editing action; `Submit`/`ClearOrQuit`/`DeleteOrEof` are the
    /// caller's to decide and do nothing here but their editing part.
    pub fn apply(&mut self, action: Action) {
        let n = self.chars.len();
        match action {
            Action::Insert(c) if !c.is_control() => {
                self.chars.insert(self.cursor, c);
                self.cursor += 1;
            }
            Action::Insert(_) | Action::Submit | Action::Older | Action::Newer => {}
            Action::Backspace if self.cursor > 0 => {
                let start = self.cluster_before();
                self.chars.drain(start..self.cursor);
                self.cursor = start;
            }
            Action::Delete | Action::DeleteOrEof if self.cursor < n => {
                let end = self.cluster_after();
                self.chars.drain(self.cursor..end);
            }
            Action::Backspace | Action::Delete | Action::DeleteOrEof => {}
            Action::Left => self.cursor = self.cluster_before(),
            Action::Right => self.cursor = self.cluster_after(),
            Action::Home => self.cursor = 0,
            Action::End => self.cursor = n,
            Action::KillToStart => {
                self.chars.drain(..self.cursor);
                self.cursor = 0;
            }
            Action::KillToEnd => self.chars.truncate(self.cursor),
            Action::KillWord => self.kill_word(),
            Action::ClearOrQuit => {
                self.chars.clear();
                self.cursor = 0;
            }
        }
    }

    /// Character indices where grapheme clusters start, and the end.
    fn cluster_bounds(&self) -> Vec<usize> {
        let text = self.text();
        let mut bounds = vec![0];
        for g in text.graphemes(true) {
            bounds.push(bounds.last().copied().unwrap_or(0) + g.chars().count());
        }
        bounds
    }

    /// Start of the cluster before the cursor: Left and Backspace take a whole
    /// emoji with its skin tone, a flag, a letter with its accents.
    fn cluster_before(&self) -> usize {
        let bounds = self.cluster_bounds();
        bounds
            .iter()
            .rev()
            .find(|&&b| b < self.cursor)
            .copied()
            .unwrap_or(0)
    }

    /// End of the cluster after the cursor.
    fn cluster_after(&self) -> usize {
        let bounds = self.cluster_bounds();
        bounds
            .iter()
            .find(|&&b| b > self.cursor)
            .copied()
            .unwrap_or(self.chars.len())
    }

    fn kill_word(&mut self) {
        let mut start = self.cursor;
        while start > 0 && self.chars[start - 1].is_whitespace() {
            start -= 1;
        }
        while start > 0 && !self.chars[start - 1].is_whitespace() {
            start -= 1;
        }
        self.chars.drain(start..self.cursor);
        self.cursor = start;
    }
}

/// Where prompt plus input land on a terminal `width` columns wide, counted from
/// the prompt's first row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Row and column just after the last character.
    pub end: (u16, u16),
    /// Row and column of the cursor.
    pub cursor: (u16, u16),
    /// The text fills its last row exactly: the terminal holds the cursor in the
    /// last column until a newline moves it to the next row.
    pub fills_row: bool,
}

/// Computes the [`Layout`] of `prompt` followed by `buf`.
pub fn layout(prompt: &str, buf: &LineBuffer, width: u16) -> Layout {
    let width = width.max(1);
    let (mut row, mut col) = (0u16, 0u16);
    let mut cursor = None;
    let prompt_len = prompt.chars().count();
    for (i, c) in prompt.chars().chain(buf.chars.iter().copied()).enumerate() {
        let w = c.width().unwrap_or(0) as u16;
        if col > 0 && col + w > width {
            row += 1;
            col = 0;
        }
        if i == prompt_len + buf.cursor {
            cursor = Some((row, col));
        }
        col += w;
    }
    let fills_row = col >= width;
    let end = if fills_row { (row + 1, 0) } else { (row, col) };
    Layout {
        end,
        cursor: cursor.unwrap_or(end),
        fills_row,
    }
}

/// Whether a line carries a password (`auth`/`login`): such lines stay out of the
/// history.
fn is_login(line: &str) -> bool {
    let verb = line.split_whitespace().next().unwrap_or_default();
    verb.eq_ignore_ascii_case("auth") || verb.eq_ignore_ascii_case("login")
}

fn up(n: u16) -> String {
    if n == 0 {
        String::new()
    } else {
        format!("\x1b[{n}A")
    }
}

fn down(n: u16) -> String {
    if n == 0 {
        String::new()
    } else {
        format!("\x1b[{n}B")
    }
}

fn to_column(col: u16) -> String {
    if col == 0 {
        "\r".to_string()
    } else {
        format!("\r\x1b[{col}C")
    }
}

/// The prompt line: its text, the typed input, and where the cursor sits.
#[derive(Debug, Clone)]
pub struct Editor {
    prompt: String,
    buf: LineBuffer,
    width: u16,
    /// Rows between the prompt's first row and the cursor, as last drawn; `None`
    /// while nothing is drawn (between a submitted line and its results).
    cursor_row: Option<u16>,
    /// Lines entered, for Up and Down (kept in memory only, logins left out).
    history: LineHistory,
}

impl Editor {
    /// An editor for a terminal `width` columns wide; nothing drawn yet.
    pub fn new(prompt: &str, width: u16) -> Self {
        Editor {
            prompt: prompt.to_string(),
            buf: LineBuffer::default(),
            width,
            cursor_row: None,
            history: LineHistory::default(),
        }
    }

    /// The input typed so far.
    pub fn buffer(&self) -> &LineBuffer {
        &self.buf
    }

    /// Bytes that draw prompt and input from the start of the current row and
    /// place the cursor.
    pub fn draw(&mut self) -> String {
        let l = layout(&self.prompt, &self.buf, self.width);
        let mut out = format!("{}{}", self.prompt, self.buf.text());
        if l.fills_row {
            out.push_str("\r\n");
        }
        if l.cursor != l.end {
            out.push_str(&up(l.end.0 - l.cursor.0));
            out.push_str(&to_column(l.cursor.1));
        }
        self.cursor_row = Some(l.cursor.0);
        out
    }

    /// Bytes that erase what is drawn, leaving the cursor at the start of the
    /// prompt's first row (where lines printed next belong).
    pub fn erase(&mut self) -> String {
        let rows = self.cursor_row.take().unwrap_or(0);
        format!("{}\r\x1b[J", up(rows))
    }

    /// Bytes that print `lines` where the prompt was and redraw it below them.
    pub fn print_above(&mut self, lines: &[String]) -> String {
        let mut out = self.erase();
        for line in lines {
            out.push_str(line);
            out.push_str("\r\n");
        }
        out + &self.draw()
    }

    /// Applies a key's editing and returns the bytes to show it. Returns the whole
    /// redraw for simplicity: input lines are short, and correctness over a slow
    /// link matters more than a few bytes.
    pub fn edit(&mut self, action: Action) -> String {
        self.apply(action);
        self.redraw()
    }

    /// Applies a key's editing without drawing it: many keys that arrived together
    /// are applied first and drawn once with [`Editor::redraw`].
    pub fn apply(&mut self, action: Action) {
        let recalled = match action {
            Action::Older => self.history.older(&self.buf.text()).map(str::to_string),
            Action::Newer => self.history.newer().map(str::to_string),
            _ => None,
        };
        match recalled {
            Some(line) => self.buf.set(&line),
            None => self.buf.apply(action),
        }
    }

    /// Inserts pasted text at the cursor without drawing it. A paste never runs
    /// anything by itself: its line breaks become spaces (as in the full-screen
    /// client) and other control characters are dropped; Enter runs the line.
    pub fn paste(&mut self, text: &str) {
        for c in text.chars() {
            let c = if matches!(c, '\r' | '\n') { ' ' } else { c };
            self.buf.apply(Action::Insert(c));
        }
    }

    /// Bytes that erase what is drawn and draw prompt and input as they are now.
    pub fn redraw(&mut self) -> String {
        let erase = self.erase();
        erase + &self.draw()
    }

    /// Ends the typed line: leaves it on screen, moves below it and takes its text.
    /// Nothing is drawn afterwards until [`Editor::print_above`] or [`Editor::draw`].
    pub fn submit(&mut self) -> (String, String) {
        let l = layout(&self.prompt, &self.buf, self.width);
        let from = self.cursor_row.take().unwrap_or(l.cursor.0);
        let mut out = down(l.end.0.saturating_sub(from));
        out.push_str(if l.fills_row { "\r" } else { "\r\n" });
        let line = self.buf.take();
        if !is_login(&line) {
            self.history.push(&line);
        }
        (out, line)
    }

    /// Changes the prompt (after a login or logout) and redraws it if it is shown.
    pub fn set_prompt(&mut self, prompt: &str) -> String {
        if self.prompt == prompt {
            return String::new();
        }
        if self.cursor_row.is_none() {
            self.prompt = prompt.to_string();
            return String::new();
        }
        let erase = self.erase();
        self.prompt = prompt.to_string();
        erase + &self.draw()
    }

    /// The terminal was resized: redraw for the new width.
    ///
    /// Terminals that reflow wrapped lines (tmux, VTE, kitty, iTerm2, Windows
    /// Terminal...) have already re-wrapped the drawn prompt and input to the new
    /// width and moved the cursor with them, so the rows to go up to the prompt's
    /// first row are those of the new width's layout, not the old one: counting the
    /// old rows left the prompt's first rows behind as a stale fragment.
    pub fn resize(&mut self, width: u16) -> String {
        self.width = width;
        if self.cursor_row.is_some() {
            self.cursor_row = Some(layout(&self.prompt, &self.buf, width).cursor.0);
        }
        self.redraw()
    }

    /// Bytes that leave the terminal below the prompt (at exit).
    pub fn finish(&mut self) -> String {
        match self.cursor_row {
            Some(_) => self.submit().0,
            None => String::new(),
        }
    }
}

#[cfg(test)]
#[path = "lineedit_tests.rs"]
mod tests;
