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
                self.cursor -= 1;
                self.chars.remove(self.cursor);
            }
            Action::Delete | Action::DeleteOrEof if self.cursor < n => {
                self.chars.remove(self.cursor);
            }
            Action::Backspace | Action::Delete | Action::DeleteOrEof => {}
            Action::Left => self.cursor = self.cursor.saturating_sub(1),
            Action::Right => self.cursor = (self.cursor + 1).min(n),
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
        let recalled = match action {
            Action::Older => self.history.older(&self.buf.text()).map(str::to_string),
            Action::Newer => self.history.newer().map(str::to_string),
            _ => None,
        };
        match recalled {
            Some(line) => self.buf.set(&line),
            None => self.buf.apply(action),
        }
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

    /// The terminal was resized: redraw for the new width. The old rows were laid
    /// out for the old width, so this is a best effort where the terminal reflows.
    pub fn resize(&mut self, width: u16) -> String {
        let erase = self.erase();
        self.width = width;
        erase + &self.draw()
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
mod tests {
    use super::*;
    use ratatui::crossterm::event::KeyEventState;

    fn buf(text: &str, cursor: usize) -> LineBuffer {
        LineBuffer {
            chars: text.chars().collect(),
            cursor,
        }
    }

    fn key(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent {
            code,
            modifiers,
            kind: KeyEventKind::Press,
            state: KeyEventState::NONE,
        }
    }

    #[test]
    fn keys_map_to_actions() {
        let none = KeyModifiers::NONE;
        let ctrl = KeyModifiers::CONTROL;
        let table = [
            (key(KeyCode::Char('a'), none), Some(Action::Insert('a'))),
            (
                key(KeyCode::Char('A'), KeyModifiers::SHIFT),
                Some(Action::Insert('A')),
            ),
            (key(KeyCode::Char('é'), none), Some(Action::Insert('é'))),
            (key(KeyCode::Char('a'), ctrl), Some(Action::Home)),
            (key(KeyCode::Char('e'), ctrl), Some(Action::End)),
            (key(KeyCode::Char('u'), ctrl), Some(Action::KillToStart)),
            (key(KeyCode::Char('k'), ctrl), Some(Action::KillToEnd)),
            (key(KeyCode::Char('w'), ctrl), Some(Action::KillWord)),
            (key(KeyCode::Char('c'), ctrl), Some(Action::ClearOrQuit)),
            (key(KeyCode::Char('d'), ctrl), Some(Action::DeleteOrEof)),
            (key(KeyCode::Char('x'), ctrl), None),
            (key(KeyCode::Enter, none), Some(Action::Submit)),
            (key(KeyCode::Backspace, none), Some(Action::Backspace)),
            (key(KeyCode::Left, none), Some(Action::Left)),
            (key(KeyCode::Up, none), Some(Action::Older)),
            (key(KeyCode::Down, none), Some(Action::Newer)),
            (key(KeyCode::Char('p'), ctrl), Some(Action::Older)),
            (key(KeyCode::F(1), none), None),
        ];
        for (k, want) in table {
            assert_eq!(action_for(k), want, "{k:?}");
        }
        let mut release = key(KeyCode::Char('a'), none);
        release.kind = KeyEventKind::Release;
        assert_eq!(action_for(release), None);
    }

    #[test]
    fn editing_actions() {
        use Action::*;
        let table = [
            (buf("helo", 3), Insert('l'), buf("hello", 4)),
            (buf("hello", 5), Backspace, buf("hell", 4)),
            (buf("hello", 0), Backspace, buf("hello", 0)),
            (buf("hello", 0), Delete, buf("ello", 0)),
            (buf("hello", 5), Delete, buf("hello", 5)),
            (buf("hello", 5), DeleteOrEof, buf("hello", 5)),
            (buf("hello", 2), Left, buf("hello", 1)),
            (buf("hello", 0), Left, buf("hello", 0)),
            (buf("hello", 5), Right, buf("hello", 5)),
            (buf("hello", 2), Home, buf("hello", 0)),
            (buf("hello", 2), End, buf("hello", 5)),
            (buf("hello world", 6), KillToStart, buf("world", 0)),
            (buf("hello world", 5), KillToEnd, buf("hello", 5)),
            (buf("send bob hi  ", 13), KillWord, buf("send bob ", 9)),
            (buf("send bob", 5), KillWord, buf("bob", 0)),
            (buf("x", 1), ClearOrQuit, buf("", 0)),
            (buf("x", 1), Insert('\u{7}'), buf("x", 1)),
        ];
        for (mut before, action, after) in table {
            before.apply(action);
            assert_eq!(before, after, "{action:?}");
        }
    }

    #[test]
    fn layout_counts_rows_and_wraps_wide_characters() {
        let table = [
            // prompt, input, cursor, width -> end, cursor, fills_row
            ("> ", "", 0, 10, (0, 2), (0, 2), false),
            ("> ", "abc", 1, 10, (0, 5), (0, 3), false),
            ("> ", "abcdefgh", 8, 10, (1, 0), (1, 0), true),
            ("> ", "abcdefgh", 7, 10, (1, 0), (0, 9), true),
            ("> ", "abcdefghi", 9, 10, (1, 1), (1, 1), false),
            ("> ", "abcdefghi", 8, 10, (1, 1), (1, 0), false),
            ("> ", &"x".repeat(25), 25, 10, (2, 7), (2, 7), false),
            ("> ", &"x".repeat(25), 0, 10, (2, 7), (0, 2), false),
            // a wide character that does not fit in the last column moves down whole
            ("> ", "abcdefg世", 8, 10, (1, 2), (1, 2), false),
            ("> ", "abcdefg世", 7, 10, (1, 2), (1, 0), false),
            ("> ", "abcdef世", 8, 10, (1, 0), (1, 0), true),
            // combining marks take no column
            ("> ", "e\u{301}", 2, 10, (0, 3), (0, 3), false),
        ];
        for (prompt, input, cursor, width, end, at, fills) in table {
            let l = layout(prompt, &buf(input, cursor), width);
            assert_eq!(
                (l.end, l.cursor, l.fills_row),
                (end, at, fills),
                "{input:?} cursor {cursor}"
            );
        }
    }

    /// A tiny terminal: enough of one to replay what the editor writes and look at
    /// the screen (autowrap with the pending-wrap column, CR, LF, CSI A/B/C/J).
    struct Screen {
        width: usize,
        rows: Vec<Vec<char>>,
        row: usize,
        col: usize,
        pending_wrap: bool,
    }

    impl Screen {
        fn new(width: usize) -> Self {
            Screen {
                width,
                rows: vec![Vec::new()],
                row: 0,
                col: 0,
                pending_wrap: false,
            }
        }

        fn line_feed(&mut self) {
            self.row += 1;
            if self.row == self.rows.len() {
                self.rows.push(Vec::new());
            }
        }

        fn put(&mut self, c: char) {
            let w = c.width().unwrap_or(0);
            if self.pending_wrap || self.col + w > self.width {
                self.col = 0;
                self.pending_wrap = false;
                self.line_feed();
            }
            let line = &mut self.rows[self.row];
            while line.len() < self.col + w {
                line.push(' ');
            }
            line[self.col] = c;
            if w == 2 {
                line[self.col + 1] = '\0';
            }
            self.col += w;
            if self.col == self.width {
                self.col -= 1;
                self.pending_wrap = true;
            }
        }

        fn feed(&mut self, bytes: &str) {
            let mut chars = bytes.chars().peekable();
            while let Some(c) = chars.next() {
                match c {
                    '\r' => (self.col, self.pending_wrap) = (0, false),
                    '\n' => {
                        self.pending_wrap = false;
                        self.line_feed();
                    }
                    '\x1b' => {
                        assert_eq!(chars.next(), Some('['));
                        let mut n = String::new();
                        let op = loop {
                            let c = chars.next().expect("CSI ends");
                            if c.is_ascii_digit() {
                                n.push(c)
                            } else {
                                break c;
                            }
                        };
                        let n: usize = n.parse().unwrap_or(1);
                        self.pending_wrap = false;
                        match op {
                            'A' => self.row = self.row.checked_sub(n).expect("moved above the top"),
                            'B' => self.row = (self.row + n).min(self.rows.len() - 1),
                            'C' => self.col = (self.col + n).min(self.width - 1),
                            'J' => {
                                self.rows[self.row].truncate(self.col);
                                self.rows.truncate(self.row + 1);
                            }
                            other => panic!("unexpected CSI {other}"),
                        }
                    }
                    c => self.put(c),
                }
            }
        }

        fn text(&self) -> Vec<String> {
            self.rows
                .iter()
                .map(|r| {
                    r.iter()
                        .filter(|&&c| c != '\0')
                        .collect::<String>()
                        .trim_end()
                        .to_string()
                })
                .collect()
        }
    }

    fn type_text(editor: &mut Editor, screen: &mut Screen, text: &str) {
        for c in text.chars() {
            screen.feed(&editor.edit(Action::Insert(c)));
        }
    }

    #[test]
    fn a_message_lands_above_a_half_typed_line() {
        let mut screen = Screen::new(20);
        let mut editor = Editor::new("messi> ", 20);
        screen.feed(&editor.draw());
        type_text(&mut editor, &mut screen, "send henderson hel");
        screen.feed(&editor.print_above(&["[12:01] lineker -> messi: piye kabare?".into()]));
        assert_eq!(
            screen.text(),
            vec![
                "[12:01] lineker -> m",
                "essi: piye kabare?",
                "messi> send henderso",
                "n hel"
            ]
        );
        assert_eq!((screen.row, screen.col), (3, 5));
        type_text(&mut editor, &mut screen, "lo");
        assert_eq!(screen.text()[3], "n hello");
    }

    #[test]
    fn a_message_lands_above_input_with_the_cursor_moved_back() {
        let mut screen = Screen::new(10);
        let mut editor = Editor::new("> ", 10);
        screen.feed(&editor.draw());
        type_text(&mut editor, &mut screen, "abcdefghijklmnopqrstuvw");
        for _ in 0..20 {
            screen.feed(&editor.edit(Action::Left));
        }
        assert_eq!((screen.row, screen.col), (0, 5));
        screen.feed(&editor.print_above(&["one".into(), "two".into()]));
        assert_eq!(
            screen.text(),
            vec!["one", "two", "> abcdefgh", "ijklmnopqr", "stuvw"]
        );
        assert_eq!((screen.row, screen.col), (2, 5));
        screen.feed(&editor.edit(Action::Insert('X')));
        assert_eq!(
            screen.text(),
            vec!["one", "two", "> abcXdefg", "hijklmnopq", "rstuvw"]
        );
    }

    #[test]
    fn input_filling_rows_exactly_and_wide_characters_redraw_cleanly() {
        let mut screen = Screen::new(10);
        let mut editor = Editor::new("> ", 10);
        screen.feed(&editor.draw());
        type_text(&mut editor, &mut screen, "abcdefgh");
        assert_eq!((screen.row, screen.col), (1, 0));
        screen.feed(&editor.print_above(&["hi".into()]));
        assert_eq!(screen.text(), vec!["hi", "> abcdefgh", ""]);
        type_text(&mut editor, &mut screen, "世界");
        screen.feed(&editor.print_above(&["yo".into()]));
        assert_eq!(screen.text(), vec!["hi", "yo", "> abcdefgh", "世界"]);
        assert_eq!((screen.row, screen.col), (3, 4));
        for _ in 0..3 {
            screen.feed(&editor.edit(Action::Backspace));
        }
        assert_eq!(screen.text(), vec!["hi", "yo", "> abcdefg"]);
    }

    #[test]
    fn submit_leaves_the_line_and_results_follow() {
        let mut screen = Screen::new(10);
        let mut editor = Editor::new("> ", 10);
        screen.feed(&editor.draw());
        type_text(&mut editor, &mut screen, "inbox with more");
        screen.feed(&editor.edit(Action::Home));
        let (bytes, line) = editor.submit();
        screen.feed(&bytes);
        assert_eq!(line, "inbox with more");
        assert_eq!(editor.set_prompt("messi> "), "");
        screen.feed(&editor.print_above(&["(no new messages)".into()]));
        assert_eq!(
            screen.text(),
            vec!["> inbox wi", "th more", "(no new me", "ssages)", "messi>"]
        );
        screen.feed(&editor.set_prompt("> "));
        assert_eq!(
            screen.text(),
            vec!["> inbox wi", "th more", "(no new me", "ssages)", ">"]
        );
        screen.feed(&editor.finish());
        assert_eq!(screen.row, 5);
    }

    #[test]
    fn up_and_down_recall_lines_but_not_logins() {
        let mut editor = Editor::new("> ", 80);
        for line in ["inbox", "auth messi surabaya", "send bob hi"] {
            editor.buf.set(line);
            editor.submit();
        }
        editor.buf.set("us");
        let mut recall = |action| {
            editor.edit(action);
            editor.buffer().text()
        };
        assert_eq!(recall(Action::Older), "send bob hi");
        assert_eq!(recall(Action::Older), "inbox");
        assert_eq!(recall(Action::Older), "inbox");
        assert_eq!(recall(Action::Newer), "send bob hi");
        assert_eq!(recall(Action::Newer), "us");
        assert_eq!(recall(Action::Newer), "us");
        assert_eq!(editor.buffer().cursor(), 2);
    }

    #[test]
    fn exact_bytes_for_a_simple_redraw() {
        let mut editor = Editor::new("> ", 80);
        assert_eq!(editor.draw(), "> ");
        editor.buf = buf("abc", 1);
        assert_eq!(
            editor.print_above(&["m".into()]),
            "\r\x1b[Jm\r\n> abc\r\x1b[3C"
        );
        editor.buf = buf(&"x".repeat(100), 100);
        assert_eq!(
            editor.edit(Action::Home),
            format!("\r\x1b[J> {}\x1b[1A\r\x1b[2C", "x".repeat(100))
        );
        assert_eq!(
            editor.print_above(&[]),
            format!("\r\x1b[J> {}\x1b[1A\r\x1b[2C", "x".repeat(100))
        );
        editor.buf.apply(Action::End);
        assert_eq!(
            editor.edit(Action::End),
            format!("\r\x1b[J> {}", "x".repeat(100))
        );
        assert_eq!(
            editor.print_above(&[]),
            format!("\x1b[1A\r\x1b[J> {}", "x".repeat(100))
        );
    }
}
