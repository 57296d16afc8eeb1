//! Line editor tests: keys, layout, and the exact bytes of each redraw.

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

#[test]
fn resize_goes_up_the_rows_of_the_reflowed_input() {
    // 7 + 99 characters at 40 columns: 3 rows, cursor on row 2.
    let mut e = Editor::new("messi> ", 40);
    for c in "x".repeat(99).chars() {
        e.apply(Action::Insert(c));
    }
    assert!(e.draw().ends_with('x'));
    // At 25 columns the terminal has re-wrapped the same text onto 5 rows, cursor
    // on row 4: go up 4, not 2 (which left rows 0 and 1 behind).
    let bytes = e.resize(25);
    assert!(bytes.starts_with("\x1b[4A\r\x1b[J"), "{bytes:?}");
    // Wider again: 2 rows at 60 columns.
    let bytes = e.resize(60);
    assert!(bytes.starts_with("\x1b[1A\r\x1b[J"), "{bytes:?}");
}

#[test]
fn a_paste_inserts_text_and_never_submits() {
    let mut e = Editor::new("> ", 80);
    for c in "send henderson ".chars() {
        e.apply(Action::Insert(c));
    }
    e.paste("a\n/quit\r\nb\x1b[31m");
    assert_eq!(e.buffer().text(), "send henderson a /quit  b[31m");
    assert_eq!(e.buffer().cursor(), e.buffer().text().chars().count());
}

#[test]
fn left_right_and_deletes_take_whole_clusters() {
    let mut b = LineBuffer::default();
    b.set("a👍🏽b🇮🇩");
    assert_eq!(b.cursor(), 6);
    b.apply(Action::Left);
    assert_eq!(b.cursor(), 4, "before the flag");
    b.apply(Action::Left);
    b.apply(Action::Left);
    assert_eq!(b.cursor(), 1, "before the thumb and its skin tone");
    b.apply(Action::Delete);
    assert_eq!(b.text(), "ab🇮🇩");
    b.apply(Action::End);
    b.apply(Action::Backspace);
    assert_eq!(b.text(), "ab");
    b.apply(Action::Right);
    assert_eq!(b.cursor(), 2);
}
