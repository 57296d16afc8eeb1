//! Builders shared by the unit and render tests.

use std::time::{Duration, Instant};

use chat_protocol::{InboxGroup, InboxMessage};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use time::UtcOffset;
use time::macros::datetime;

use crate::app::{App, Display, Effect, Now};
use crate::config::Theme;
use crate::login::LoginForm;
use crate::reconnect::LinkState;
use crate::worker::Update;

/// A fixed moment: 2026-11-22 02:13 UTC.
pub fn now() -> Now {
    Now {
        mono: start(),
        wall: datetime!(2026-11-22 02:13 UTC),
    }
}

/// The `Instant` the fixed moment's `mono` uses (shared so ages are exact).
pub fn start() -> Instant {
    use std::sync::OnceLock;
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}

/// `now()` plus `secs`.
pub fn later(secs: u64) -> Now {
    let n = now();
    Now {
        mono: n.mono + Duration::from_secs(secs),
        wall: n.wall + Duration::from_secs(secs),
    }
}

/// Display settings for tests: UTC times, bell on.
pub fn display() -> Display {
    Display {
        addr: "127.0.0.1:8889".into(),
        theme: Theme::default(),
        bell: true,
        offset: UtcOffset::UTC,
    }
}

/// A logged-in, connected client for `messi`.
pub fn logged_in() -> App {
    let mut app = App::new(display(), Some("messi".into()), None);
    app.on_update(Update::Link(LinkState::Connected), now());
    app.on_update(
        Update::LoggedIn {
            username: "messi".into(),
            display_name: Some("Lionel Messi".into()),
            live: false,
        },
        now(),
    );
    app
}

/// A client with the login form up.
pub fn at_login(user: Option<&str>) -> App {
    let mut app = App::new(
        display(),
        user.map(str::to_string),
        Some(LoginForm::new(user)),
    );
    app.link = LinkState::Idle;
    app
}

/// One inbox message as our server sends it.
pub fn msg(from_name: &str, text: &str, id: i64, minute: u8) -> InboxMessage {
    InboxMessage {
        msg_from: from_name.into(),
        msg_to: "Lionel Messi".into(),
        msg: text.into(),
        id: Some(id),
        ts: Some(format!("2026-11-22T02:{minute:02}:00Z")),
    }
}

/// An inbox update with one group.
pub fn inbox(sender: &str, messages: Vec<InboxMessage>) -> Update {
    Update::Inbox {
        groups: vec![InboxGroup {
            sender: sender.into(),
            messages,
        }],
        asked: false,
    }
}

/// A key press without modifiers.
pub fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

/// A key press with modifiers.
pub fn mkey(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
    KeyEvent::new(code, mods)
}

/// Types `text` into the app, one key per char; returns all effects.
pub fn type_text(app: &mut App, text: &str) -> Vec<Effect> {
    text.chars()
        .flat_map(|c| app.on_key(key(KeyCode::Char(c)), now()))
        .collect()
}

/// Presses Enter.
pub fn enter(app: &mut App) -> Vec<Effect> {
    app.on_key(key(KeyCode::Enter), now())
}

/// A logged-in, connected client for `messi` on a server with `sync`.
pub fn live() -> App {
    let mut app = App::new(display(), Some("messi".into()), None);
    app.on_update(Update::Link(LinkState::Connected), now());
    app.on_update(
        Update::LoggedIn {
            username: "messi".into(),
            display_name: None,
            live: true,
        },
        now(),
    );
    app
}

/// One `sync` message.
pub fn entry(id: i64, from: &str, to: &str, text: &str) -> chat_protocol::SyncEntry {
    chat_protocol::SyncEntry {
        id,
        ts: format!("2026-11-22T02:{:02}:00.000Z", id % 60),
        from: from.into(),
        to: to.into(),
        msg: text.into(),
        from_display: from.into(),
        to_display: to.into(),
    }
}

/// A `sync` update with these messages and read markers.
pub fn synced(messages: Vec<chat_protocol::SyncEntry>, read: &[(&str, i64)]) -> Update {
    let next = messages.iter().map(|m| m.id).max().unwrap_or(0);
    Update::Synced {
        messages,
        read: read.iter().map(|(p, id)| (p.to_string(), *id)).collect(),
        next,
    }
}
