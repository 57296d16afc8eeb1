//! Key to action: one table, so the help overlay and the tests read the same facts.
//!
//! The meaning of a key depends only on a small [`KeyContext`] (which screen is up,
//! whether the command box is empty), never on the rest of the model, which keeps
//! this module pure and table-tested.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// What a key asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Log out and quit.
    Quit,
    /// Select the next conversation.
    NextConversation,
    /// Select the previous conversation.
    PrevConversation,
    /// Select the next conversation with unread messages.
    NextUnread,
    /// Scroll the conversation one page back.
    PageUp,
    /// Scroll the conversation one page forward.
    PageDown,
    /// Jump to the newest message.
    ScrollBottom,
    /// Show the help overlay.
    Help,
    /// Close the overlay (or clear the command box).
    Escape,
    /// Release or re-capture the mouse.
    ToggleMouse,
    /// Redraw the whole screen.
    Redraw,
    /// Run the command box's line (or, at login, go on).
    Submit,
    /// Older line from the input history (or, at login, the previous field).
    HistoryPrev,
    /// Newer line from the input history (or, at login, the next field).
    HistoryNext,
    /// Complete the username before the cursor.
    Complete,
    /// An editing key for the focused text field.
    Edit,
    /// Nothing.
    Ignore,
}

/// Which screen has the keyboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    /// The login form.
    Login,
    /// The chat screen.
    Chat,
    /// The help overlay over the chat screen.
    Help,
}

/// What a key's meaning depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyContext {
    /// The screen.
    pub screen: Screen,
    /// Whether the command box is empty.
    pub input_empty: bool,
}

/// Keys and what they do, for the help overlay: (keys, description).
pub const KEY_HELP: &[(&str, &str)] = &[
    ("Enter", "send the line / run the command"),
    (
        "Tab, Ctrl-N",
        "next conversation (Tab completes a name while typing)",
    ),
    ("Shift-Tab, Ctrl-P", "previous conversation"),
    ("Alt-A", "next conversation with unread messages"),
    (
        "PgUp / PgDn",
        "scroll the conversation; End on empty box: newest",
    ),
    ("Mouse wheel", "scroll the conversation"),
    ("F2, Ctrl-S", "release / capture the mouse (to select text)"),
    ("Up / Down", "input history"),
    (
        "Left/Right Home/End",
        "move in the line; Ctrl-Left/Right, Alt-B/F by word",
    ),
    (
        "Tab (typing)",
        "complete a name or /command; again: next match",
    ),
    ("Ctrl-W / Ctrl-U / Ctrl-K", "delete word / line / to end"),
    ("F1", "this help"),
    ("Esc", "close this help (Up/Down scroll it); clear the box"),
    ("Ctrl-L", "redraw the screen"),
    ("Ctrl-C, /quit", "log out and quit"),
];

/// Commands of the command box, for the help overlay: (syntax, description).
pub const COMMAND_HELP: &[(&str, &str)] = &[
    ("TEXT", "send TEXT to the open conversation"),
    ("/msg USER TEXT", "send to anyone"),
    ("/open USER", "open the conversation with USER"),
    ("/close [USER]", "remove a conversation from the list"),
    ("/inbox", "poll the inbox now"),
    ("/who", "who is on now"),
    ("//TEXT", "send TEXT starting with /"),
    ("/help", "this help"),
    ("/quit", "log out and quit"),
];

/// The action of `key` in `ctx`.
pub fn action(key: KeyEvent, ctx: KeyContext) -> Action {
    use Action::*;
    use KeyCode as K;
    if key.kind == KeyEventKind::Release {
        return Ignore;
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    let alt = key.modifiers.contains(KeyModifiers::ALT);
    if ctrl && matches!(key.code, K::Char('c' | 'C')) {
        return Quit;
    }
    if ctrl && matches!(key.code, K::Char('l' | 'L')) {
        return Redraw;
    }
    match ctx.screen {
        Screen::Login => match key.code {
            K::Esc => Quit,
            K::Enter => Submit,
            K::Tab | K::Down => HistoryNext,
            K::BackTab | K::Up => HistoryPrev,
            _ => Edit,
        },
        Screen::Help => match key.code {
            K::Esc | K::F(1) | K::Char('q' | '?') | K::Enter => Escape,
            K::F(2) => ToggleMouse,
            K::Up | K::PageUp => PageUp,
            K::Down | K::PageDown => PageDown,
            _ => Ignore,
        },
        Screen::Chat => match key.code {
            K::F(1) => Help,
            K::F(2) => ToggleMouse,
            K::Char('s' | 'S') if ctrl => ToggleMouse,
            K::Char('n' | 'N') if ctrl => NextConversation,
            K::Char('p' | 'P') if ctrl => PrevConversation,
            K::Char('a' | 'A') if alt && !ctrl => NextUnread,
            K::Tab if ctx.input_empty => NextConversation,
            K::Tab => Complete,
            K::BackTab => PrevConversation,
            K::PageUp => PageUp,
            K::PageDown => PageDown,
            K::End if ctx.input_empty => ScrollBottom,
            K::Esc => Escape,
            K::Enter => Submit,
            K::Up => HistoryPrev,
            K::Down => HistoryNext,
            _ => Edit,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Action::*;

    fn key(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }

    const NONE: KeyModifiers = KeyModifiers::NONE;
    const CTRL: KeyModifiers = KeyModifiers::CONTROL;
    const ALT: KeyModifiers = KeyModifiers::ALT;
    const SHIFT: KeyModifiers = KeyModifiers::SHIFT;

    fn chat(input_empty: bool) -> KeyContext {
        KeyContext {
            screen: Screen::Chat,
            input_empty,
        }
    }

    #[test]
    fn chat_table() {
        use KeyCode as K;
        let table = [
            (K::Char('c'), CTRL, true, Quit),
            (K::Char('c'), CTRL, false, Quit),
            (K::Tab, NONE, true, NextConversation),
            (K::Tab, NONE, false, Complete),
            (K::BackTab, SHIFT, true, PrevConversation),
            (K::BackTab, SHIFT, false, PrevConversation),
            (K::Char('n'), CTRL, false, NextConversation),
            (K::Char('p'), CTRL, false, PrevConversation),
            (K::Char('a'), ALT, true, NextUnread),
            (K::Char('a'), ALT, false, NextUnread),
            (K::Char('a'), NONE, true, Edit),
            (K::Char('a'), CTRL, false, Edit),
            (K::PageUp, NONE, false, PageUp),
            (K::PageDown, NONE, false, PageDown),
            (K::End, NONE, true, ScrollBottom),
            (K::End, NONE, false, Edit),
            // `?` is text, even alone (`?why not`): F1 is help.
            (K::Char('?'), NONE, true, Edit),
            (K::Char('?'), SHIFT, true, Edit),
            (K::Char('?'), NONE, false, Edit),
            (K::F(1), NONE, false, Help),
            (K::F(2), NONE, false, ToggleMouse),
            (K::Char('s'), CTRL, false, ToggleMouse),
            (K::Esc, NONE, false, Escape),
            (K::Enter, NONE, false, Submit),
            (K::Up, NONE, true, HistoryPrev),
            (K::Down, NONE, true, HistoryNext),
            (K::Left, NONE, false, Edit),
            (K::Backspace, NONE, false, Edit),
            (K::Char('l'), CTRL, false, Redraw),
        ];
        for (code, mods, empty, want) in table {
            assert_eq!(
                action(key(code, mods), chat(empty)),
                want,
                "{code:?} {mods:?} empty={empty}"
            );
        }
    }

    #[test]
    fn help_and_login_tables() {
        use KeyCode as K;
        let help = KeyContext {
            screen: Screen::Help,
            input_empty: true,
        };
        assert_eq!(action(key(K::Esc, NONE), help), Escape);
        assert_eq!(action(key(K::F(1), NONE), help), Escape);
        assert_eq!(action(key(K::Char('x'), NONE), help), Ignore);
        assert_eq!(action(key(K::Down, NONE), help), PageDown);
        assert_eq!(action(key(K::Char('c'), CTRL), help), Quit);
        let login = KeyContext {
            screen: Screen::Login,
            input_empty: true,
        };
        assert_eq!(action(key(K::Enter, NONE), login), Submit);
        assert_eq!(action(key(K::Tab, NONE), login), HistoryNext);
        assert_eq!(action(key(K::BackTab, SHIFT), login), HistoryPrev);
        assert_eq!(action(key(K::Char('?'), NONE), login), Edit);
        assert_eq!(action(key(K::Esc, NONE), login), Quit);
    }

    #[test]
    fn key_releases_do_nothing() {
        let mut k = key(KeyCode::Enter, NONE);
        k.kind = KeyEventKind::Release;
        assert_eq!(action(k, chat(false)), Ignore);
    }
}
