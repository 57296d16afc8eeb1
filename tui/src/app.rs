//! The model and its update functions: no I/O, no clock reads.
//!
//! Every input (a key, a mouse event, a worker update, a tick) goes through one of
//! the `on_*` methods, which change the model and return [`Effect`]s for the caller
//! to carry out (send a job to the worker, ring the bell, quit). Time comes in as a
//! [`Now`], so tests are deterministic.

use std::collections::BTreeMap;
use std::time::Instant;

use ratatui::crossterm::event::{Event, KeyEvent, MouseEvent, MouseEventKind};
use time::{OffsetDateTime, UtcOffset};
use tui_input::backend::crossterm::to_input_request;
use tui_input::{Input, InputRequest};

use crate::config::Theme;
use crate::keys::{self, Action, KeyContext, Screen};
use crate::line_history::LineHistory;
use crate::login::LoginForm;
use crate::model::{ChatMessage, Conversation};
use crate::reconnect::LinkState;
use crate::worker::{Job, Update};

/// The time, both kinds.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    /// For durations.
    pub mono: Instant,
    /// For message times.
    pub wall: OffsetDateTime,
}

impl Now {
    /// The current time.
    pub fn current() -> Self {
        Now {
            mono: Instant::now(),
            wall: OffsetDateTime::now_utc(),
        }
    }
}

/// Something for the caller to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Hand a job to the worker.
    Job(Job),
    /// Ring the terminal bell.
    Bell,
    /// Capture (true) or release the mouse.
    MouseCapture(bool),
    /// Clear and redraw the whole screen.
    Redraw,
    /// Write the remembered state to this file (see [`crate::state`]).
    Save(std::path::PathBuf, crate::state::SavedState),
    /// Leave the program.
    Quit,
}

/// What the centre shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum View {
    /// Every message of the session.
    All,
    /// The conversation with one person.
    Peer(String),
}

/// A one-line message for the person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The text.
    pub text: String,
    /// Shown in the error colour.
    pub error: bool,
    /// The first tick that saw it (it goes [`NOTICE_TTL`] later).
    pub seen: Option<Instant>,
}

/// How long a notice stays in the status line unless a newer one replaces it.
pub const NOTICE_TTL: std::time::Duration = std::time::Duration::from_secs(8);

/// Fixed facts about the session's display.
#[derive(Debug, Clone)]
pub struct Display {
    /// Server address, for the status bar.
    pub addr: String,
    /// Colours.
    pub theme: Theme,
    /// Ring the bell.
    pub bell: bool,
    /// Offset used to show message times.
    pub offset: UtcOffset,
}

/// The whole client state.
#[derive(Debug, Clone)]
pub struct App {
    /// Display settings.
    pub display: Display,
    /// The login form, while it is up.
    pub login: Option<LoginForm>,
    /// Our username once logged in (or while logging in with given credentials).
    pub me: Option<String>,
    /// Our display name.
    pub my_name: Option<String>,
    /// The connection.
    pub link: LinkState,
    /// When the last poll succeeded.
    pub last_poll: Option<Instant>,
    /// Whole seconds since then, as shown.
    pub poll_age: Option<u64>,
    /// Conversations by peer username.
    pub conversations: BTreeMap<String, Conversation>,
    /// Who is on (without us), from `user_aktif`.
    pub online: Vec<String>,
    /// Whether the server answers `user_aktif`.
    pub users_supported: bool,
    /// Whether the server answers `history`.
    pub history_supported: bool,
    /// What the centre shows.
    pub view: View,
    /// Lines scrolled up in the "all" view.
    pub all_scroll: usize,
    /// The command box.
    pub input: Input,
    /// Its history.
    pub history: LineHistory,
    /// The status line's message.
    pub notice: Option<Notice>,
    /// Help overlay up.
    pub help: bool,
    /// Lines the help overlay is scrolled.
    pub help_scroll: usize,
    /// Mouse captured (wheel scrolls) or released (text can be selected).
    pub mouse_captured: bool,
    /// Quit requested; waiting for the worker to log out.
    pub quitting: bool,
    /// Rows of the conversation area at the last draw (for paging).
    pub page_rows: usize,
    /// The view drawn last, the width its lines were wrapped to and how many there
    /// were: the renderer keeps a scrolled-up view still when lines are added.
    pub drawn_lines: Option<(View, usize, usize)>,
    /// Conversations that exist only because of an `/open` or `/msg` the server has
    /// not yet confirmed, with the view to go back to if it refuses (unknown user).
    pub tentative: BTreeMap<String, View>,
    /// The hint about the course's command words was shown (it is shown once).
    pub course_hint_shown: bool,
    /// Tab completion in progress (a second Tab cycles through the matches).
    pub completion: Option<command_box::Completion>,
    /// The server speaks `sync` (and keeps read markers): no polling.
    pub live: bool,
    /// The newest message id seen (the `sync` cursor, remembered across runs).
    pub last_id: i64,
    /// Where the remembered state goes, once the worker has read it.
    pub state_path: Option<std::path::PathBuf>,
    /// The remembered state changed since it was last written.
    pub state_dirty: bool,
    /// The largest scroll of the current view at the last draw: scrolling up to it
    /// loads older messages.
    pub max_scroll: usize,
    next_seq: u64,
    next_local_id: u64,
}

const WHEEL_LINES: usize = 3;

impl App {
    /// A new client. With `login` the login form is up; otherwise `me` is logging in.
    pub fn new(display: Display, me: Option<String>, login: Option<LoginForm>) -> Self {
        App {
            display,
            login,
            me,
            my_name: None,
            link: LinkState::Connecting,
            last_poll: None,
            poll_age: None,
            conversations: BTreeMap::new(),
            online: Vec::new(),
            users_supported: true,
            history_supported: true,
            view: View::All,
            all_scroll: 0,
            input: Input::default(),
            history: LineHistory::default(),
            notice: None,
            help: false,
            help_scroll: 0,
            mouse_captured: true,
            quitting: false,
            page_rows: 10,
            drawn_lines: None,
            tentative: BTreeMap::new(),
            course_hint_shown: false,
            completion: None,
            live: false,
            last_id: 0,
            state_path: None,
            state_dirty: false,
            max_scroll: 0,
            next_seq: 0,
            next_local_id: 0,
        }
    }

    /// The screen that has the keyboard.
    pub fn screen(&self) -> Screen {
        if self.login.is_some() {
            Screen::Login
        } else if self.help {
            Screen::Help
        } else {
            Screen::Chat
        }
    }

    /// The entries of the left column: `None` for "all", then people by name.
    pub fn entries(&self) -> Vec<Option<String>> {
        let mut names: Vec<&String> = self
            .conversations
            .keys()
            .chain(self.online.iter())
            .collect();
        names.sort();
        names.dedup();
        std::iter::once(None)
            .chain(names.into_iter().map(|n| Some(n.clone())))
            .collect()
    }

    /// Whether `update` would leave the screen as it is (a routine poll with no news),
    /// so the loop can skip the redraw.
    pub fn is_quiet(&self, update: &Update) -> bool {
        match update {
            Update::Inbox {
                groups,
                asked: false,
            } => groups.iter().all(|g| g.messages.is_empty()) && self.poll_age == Some(0),
            Update::Users {
                users,
                asked: false,
            } => {
                let me = self.me.as_deref().unwrap_or_default();
                users.iter().filter(|u| *u != me).eq(self.online.iter())
            }
            _ => false,
        }
    }

    /// Whether `user` holds a session (as far as we know).
    pub fn is_online(&self, user: &str) -> bool {
        self.online.iter().any(|u| u == user)
    }

    /// Every known username, for completion.
    fn known_users(&self) -> Vec<String> {
        self.entries()
            .into_iter()
            .flatten()
            .chain(self.me.clone())
            .collect()
    }

    fn seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    fn notice(&mut self, text: impl Into<String>, error: bool) {
        self.notice = Some(Notice {
            text: text.into(),
            error,
            seen: None,
        });
    }

    // ----- keys and mouse -------------------------------------------------------

    /// A key was pressed.
    pub fn on_key(&mut self, key: KeyEvent, now: Now) -> Vec<Effect> {
        let ctx = KeyContext {
            screen: self.screen(),
            input_empty: self.input.value().is_empty(),
        };
        let action = keys::action(key, ctx);
        if let Some(form) = self.login.as_mut() {
            return match action {
                Action::Quit => self.quit(),
                Action::Redraw => vec![Effect::Redraw],
                Action::Submit => match form.submit() {
                    Some(creds) => {
                        self.me = Some(creds.username.clone());
                        vec![Effect::Job(Job::Login(creds))]
                    }
                    None => vec![],
                },
                Action::HistoryNext | Action::HistoryPrev => {
                    form.switch();
                    vec![]
                }
                _ => {
                    form.edit(key);
                    vec![]
                }
            };
        }
        self.on_action(action, key, now)
    }

    fn on_action(&mut self, action: Action, key: KeyEvent, now: Now) -> Vec<Effect> {
        if action != Action::Complete {
            self.completion = None;
        }
        match action {
            Action::Quit => return self.quit(),
            Action::NextConversation => return self.cycle(1),
            Action::PrevConversation => return self.cycle(-1),
            Action::NextUnread => return self.next_unread(),
            Action::PageUp if self.help => self.help_scroll = self.help_scroll.saturating_sub(1),
            Action::PageDown if self.help => self.help_scroll = (self.help_scroll + 1).min(100),
            Action::PageUp => return self.scroll_up(self.page_rows.saturating_sub(1).max(1)),
            Action::PageDown => self.scroll_down(self.page_rows.saturating_sub(1).max(1)),
            Action::ScrollBottom => *self.scroll_mut() = 0,
            Action::Help => {
                self.help = true;
                self.help_scroll = 0;
            }
            Action::Escape if self.help => self.help = false,
            Action::Escape => {
                self.input.reset();
                self.notice = None;
            }
            Action::ToggleMouse => {
                self.mouse_captured = !self.mouse_captured;
                let state = if self.mouse_captured {
                    "captured: wheel scrolls"
                } else {
                    "released: select text; F2 captures"
                };
                self.notice(format!("mouse {state}"), false);
                return vec![Effect::MouseCapture(self.mouse_captured)];
            }
            Action::Redraw => return vec![Effect::Redraw],
            Action::Submit => return self.submit(now),
            Action::HistoryPrev => {
                if let Some(line) = self.history.older(self.input.value()).map(str::to_string) {
                    self.input = Input::new(line);
                }
            }
            Action::HistoryNext => {
                if let Some(line) = self.history.newer().map(str::to_string) {
                    self.input = Input::new(line);
                }
            }
            Action::Complete => self.complete(),
            Action::Edit => {
                if let Some(req) = readline_alt(key) {
                    self.input.handle(req);
                } else if !self.edit_by_cluster(key)
                    && let Some(req) = to_input_request(&Event::Key(key))
                {
                    self.input.handle(req);
                }
            }
            Action::Ignore => {}
        }
        vec![]
    }

    /// Text pasted into the terminal goes into the focused field, without newlines.
    pub fn on_paste(&mut self, text: &str) {
        let clean = text.replace(['\r', '\n'], " ");
        for c in clean.chars().filter(|c| !c.is_control()) {
            match self.login.as_mut() {
                Some(form) => {
                    form.edit(KeyEvent::from(ratatui::crossterm::event::KeyCode::Char(c)))
                }
                None => {
                    self.input.handle(InputRequest::InsertChar(c));
                }
            }
        }
    }

    /// A mouse event (only arrives while captured).
    pub fn on_mouse(&mut self, mouse: MouseEvent) -> Vec<Effect> {
        if self.login.is_some() || self.help {
            return vec![];
        }
        match mouse.kind {
            MouseEventKind::ScrollUp => return self.scroll_up(WHEEL_LINES),
            MouseEventKind::ScrollDown => self.scroll_down(WHEEL_LINES),
            _ => {}
        }
        vec![]
    }

    fn scroll_mut(&mut self) -> &mut usize {
        match &self.view {
            View::All => &mut self.all_scroll,
            View::Peer(p) => &mut self.conversations.entry(p.clone()).or_default().scroll,
        }
    }

    /// Scrolls up; at the top of what is loaded, asks for the page before it.
    /// The scroll counts lines from the newest, so older lines that arrive above
    /// leave the view where it is.
    fn scroll_up(&mut self, lines: usize) -> Vec<Effect> {
        let max = self.max_scroll;
        let s = self.scroll_mut();
        *s = s.saturating_add(lines);
        let at_top = *s >= max;
        let View::Peer(peer) = self.view.clone() else {
            return vec![];
        };
        let ask = at_top && self.history_supported && self.link == LinkState::Connected;
        let Some(c) = self.conversations.get_mut(&peer) else {
            return vec![];
        };
        match c.oldest_id() {
            Some(oldest) if ask && !c.complete && !c.loading_older => {
                c.loading_older = true;
                self.notice("loading older messages…", false);
                vec![Effect::Job(Job::History {
                    peer,
                    before_id: Some(oldest),
                })]
            }
            _ => vec![],
        }
    }

    fn scroll_down(&mut self, lines: usize) {
        let s = self.scroll_mut();
        *s = s.saturating_sub(lines);
    }

    /// The renderer found the conversation shorter than the scroll: keep them in step.
    pub fn clamp_scroll(&mut self, max: usize) {
        self.max_scroll = max;
        let s = self.scroll_mut();
        *s = (*s).min(max);
    }

    /// What a draw found: the scroll offset it used (moved up by lines that arrived
    /// while scrolled up) and how many lines the view had, for the next draw.
    pub fn after_draw(&mut self, info: &crate::ui::ViewInfo) {
        self.page_rows = info.rows.max(1);
        match info.scroll {
            Some(scroll) => {
                *self.scroll_mut() = scroll;
                self.drawn_lines = Some((self.view.clone(), info.lines.1, info.lines.0));
            }
            None => self.clamp_scroll(info.max_scroll),
        }
    }

    /// Starts quitting: log out, then leave; a second call leaves at once.
    pub fn quit(&mut self) -> Vec<Effect> {
        if self.quitting {
            // Second Ctrl-C: don't wait for the logout.
            return vec![Effect::Quit];
        }
        self.quitting = true;
        self.notice("logging out…", false);
        let mut effects: Vec<Effect> = self.save().into_iter().collect();
        effects.push(Effect::Job(Job::Logout));
        effects
    }

    /// A second passed: updates the shown poll age; true when it changed.
    pub fn on_tick(&mut self, now: Now) -> bool {
        let age = self
            .last_poll
            .map(|t| now.mono.saturating_duration_since(t).as_secs());
        let mut changed = age != self.poll_age;
        self.poll_age = age;
        // Notices expire (the "logging out…" one stays while it is true).
        if let Some(n) = self.notice.as_mut()
            && !self.quitting
        {
            match n.seen {
                None => n.seen = Some(now.mono),
                Some(at) if now.mono.saturating_duration_since(at) >= NOTICE_TTL => {
                    self.notice = None;
                    changed = true;
                }
                Some(_) => {}
            }
        }
        changed
    }

    /// Messages of the current view, oldest first, with the peer of each.
    pub fn visible_messages(&self) -> Vec<&ChatMessage> {
        match &self.view {
            View::Peer(p) => self
                .conversations
                .get(p)
                .map(|c| c.messages.iter().collect())
                .unwrap_or_default(),
            View::All => {
                let mut all: Vec<&ChatMessage> = self
                    .conversations
                    .values()
                    .flat_map(|c| c.messages.iter())
                    .collect();
                all.sort_by_key(|m| crate::model::order_key(m));
                all
            }
        }
    }
}

mod command_box;
mod selection;
mod updates;

/// Alt-B, Alt-F, Alt-D as readline has them (back a word, forward a word, delete
/// the next word); terminals send them as Alt, which tui-input does not map.
fn readline_alt(key: KeyEvent) -> Option<InputRequest> {
    use ratatui::crossterm::event::{KeyCode, KeyModifiers};
    if key.modifiers != KeyModifiers::ALT {
        return None;
    }
    match key.code {
        KeyCode::Char('b') => Some(InputRequest::GoToPrevWord),
        KeyCode::Char('f') => Some(InputRequest::GoToNextWord),
        KeyCode::Char('d') => Some(InputRequest::DeleteNextWord),
        _ => None,
    }
}

#[cfg(test)]
#[path = "app_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "app/live_tests.rs"]
mod live_tests;
