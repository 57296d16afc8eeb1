//! The command box: what Enter does with the typed line, and Tab completion.
//!
//! A command that names a user the server does not know leaves nothing behind: the
//! conversation it made is "tentative" until the server answers, and goes again
//! (with the view of it) when the server refuses the name.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use tui_input::Input;
use unicode_segmentation::UnicodeSegmentation;

use super::{App, Effect, Now, View};
use crate::commands::{self, Command};
use crate::model::{ChatMessage, Delivery};
use crate::worker::Job;

impl App {
    /// Left, Right, Backspace and Delete step over a whole grapheme cluster (an
    /// emoji with its skin tone, a flag, a letter with its accents), never into
    /// one; true when `key` was one of them.
    pub(super) fn edit_by_cluster(&mut self, key: KeyEvent) -> bool {
        if !(key.modifiers - KeyModifiers::SHIFT).is_empty() {
            return false;
        }
        let value = self.input.value().to_string();
        // Cluster boundaries as char indices: 0, ..., len.
        let mut bounds = vec![0];
        for g in value.graphemes(true) {
            bounds.push(bounds.last().copied().unwrap_or(0) + g.chars().count());
        }
        let cursor = self.input.cursor();
        let before = bounds.iter().rev().find(|&&b| b < cursor).copied();
        let after = bounds.iter().find(|&&b| b > cursor).copied();
        let chars: Vec<char> = value.chars().collect();
        let cut = |from: usize, to: usize| -> String {
            chars[..from].iter().chain(&chars[to..]).collect()
        };
        self.input = match (key.code, before, after) {
            (KeyCode::Left, Some(b), _) => Input::new(value).with_cursor(b),
            (KeyCode::Right, _, Some(a)) => Input::new(value).with_cursor(a),
            (KeyCode::Backspace, Some(b), _) => Input::new(cut(b, cursor)).with_cursor(b),
            (KeyCode::Delete, _, Some(a)) => Input::new(cut(cursor, a)).with_cursor(cursor),
            (KeyCode::Left | KeyCode::Right | KeyCode::Backspace | KeyCode::Delete, ..) => {
                return true;
            }
            _ => return false,
        };
        true
    }

    pub(super) fn submit(&mut self, now: Now) -> Vec<Effect> {
        let line = self.input.value().to_string();
        if !self.course_hint_shown
            && let Some((word, instead)) = commands::course_word(&line)
        {
            // Once: the line stays in the box, and Enter again sends it as text.
            self.course_hint_shown = true;
            self.notice(
                format!(
                    "nothing sent: `{word}` is a course command; here use {instead} \
                     (Enter sends the line as text)"
                ),
                true,
            );
            return vec![];
        }
        let command = match commands::parse(&line) {
            Ok(c) => c,
            Err(commands::CommandError::Empty) => return vec![],
            Err(e) => {
                self.notice(e.to_string(), true);
                return vec![];
            }
        };
        self.history.push(&line);
        self.state_dirty = true;
        self.input.reset();
        // The command's own result (if any) replaces whatever the line showed before.
        self.notice = None;
        match command {
            Command::Say(text) => match self.view.clone() {
                View::Peer(to) => self.send(to, text, now),
                View::All => {
                    self.notice("select a person (Tab) or use /msg USER TEXT", true);
                    self.input = Input::new(line);
                    vec![]
                }
            },
            Command::Msg { to, text } => self.send(to, text, now),
            Command::Open(user) => {
                self.mark_tentative(&user);
                self.select(View::Peer(user))
            }
            Command::Close(user) => self.close(user),
            Command::Inbox => vec![Effect::Job(Job::PollNow)],
            Command::Users => vec![Effect::Job(Job::Users)],
            Command::Help => {
                self.help = true;
                vec![]
            }
            Command::Quit => self.quit(),
        }
    }

    /// A conversation about to be created for `user` by a command: remember where to
    /// go back to should the server refuse the name.
    fn mark_tentative(&mut self, user: &str) {
        let known = self.conversations.contains_key(user)
            || self.is_online(user)
            || self.me.as_deref() == Some(user);
        if !known {
            self.tentative.insert(user.to_string(), self.view.clone());
        }
    }

    /// The server refused `peer` (unknown user): the conversation a command made for
    /// it goes, and so does the view of it. Known conversations stay.
    pub(super) fn refused(&mut self, peer: &str) {
        let Some(back) = self.tentative.remove(peer) else {
            return;
        };
        let only_ours = self.conversations.get(peer).is_none_or(|c| {
            c.messages
                .iter()
                .all(|m| matches!(m.delivery, Delivery::Failed(_)))
        });
        if !only_ours {
            return;
        }
        self.conversations.remove(peer);
        if self.view == View::Peer(peer.to_string()) {
            self.view = if matches!(&back, View::Peer(p) if p == peer) {
                View::All
            } else {
                back
            };
        }
    }

    /// `/close [USER]`: forgets a conversation (the open one without a name).
    fn close(&mut self, user: Option<String>) -> Vec<Effect> {
        let user = match (user, &self.view) {
            (Some(u), _) => u,
            (None, View::Peer(p)) => p.clone(),
            (None, View::All) => {
                self.notice("usage: /close USER (or open a conversation first)", true);
                return vec![];
            }
        };
        if self.conversations.remove(&user).is_none() {
            self.notice(format!("no conversation with {user}"), true);
            return vec![];
        }
        self.tentative.remove(&user);
        self.state_dirty = true;
        if self.view == View::Peer(user.clone()) {
            self.view = View::All;
        }
        self.notice(format!("closed the conversation with {user}"), false);
        vec![]
    }

    /// Echoes the message at once (pending) and hands it to the worker.
    fn send(&mut self, to: String, text: String, now: Now) -> Vec<Effect> {
        self.mark_tentative(&to);
        self.next_local_id += 1;
        let local_id = self.next_local_id;
        let seq = self.seq();
        let msg = ChatMessage {
            id: None,
            local_id: Some(local_id),
            seq,
            at: now.wall,
            from: self.me.clone().unwrap_or_default(),
            to: to.clone(),
            text: text.clone(),
            delivery: Delivery::Pending,
        };
        let conv = self.conversations.entry(to.clone()).or_default();
        conv.messages.push(msg);
        conv.scroll = 0;
        self.all_scroll = 0;
        vec![Effect::Job(Job::Send { local_id, to, text })]
    }

    /// Tab with text in the box: complete the username before the cursor.
    pub(super) fn complete(&mut self) {
        let value = self.input.value().to_string();
        let cursor_byte = value
            .char_indices()
            .nth(self.input.cursor())
            .map_or(value.len(), |(i, _)| i);
        let before = &value[..cursor_byte];
        let word_start = before.rfind(' ').map_or(0, |i| i + 1);
        // A second Tab on the same word: the next match, round and round.
        if let Some(c) = self.completion.as_mut()
            && c.start == word_start
            && c.shown == before[word_start..]
            && !c.matches.is_empty()
        {
            let next = c.matches[c.next % c.matches.len()].clone();
            c.next += 1;
            c.shown = next.clone();
            self.replace_word(&value, word_start, cursor_byte, &next);
            return;
        }
        let prefix = &before[word_start..];
        if prefix.is_empty() {
            return;
        }
        let candidates: Vec<String> = if word_start == 0 && prefix.starts_with('/') {
            COMPLETABLE_COMMANDS.iter().map(|c| c.to_string()).collect()
        } else {
            self.known_users()
        };
        let mut matches: Vec<String> = candidates
            .into_iter()
            .filter(|u| u.starts_with(prefix))
            .collect();
        matches.sort();
        matches.dedup();
        let completion = match matches.as_slice() {
            [] => {
                self.notice(format!("nothing starts with {prefix}"), false);
                return;
            }
            [one] => format!("{one} "),
            many => {
                self.notice(
                    format!("matches: {} (Tab again: each in turn)", many.join(", ")),
                    false,
                );
                common_prefix(many)
            }
        };
        self.completion = (matches.len() > 1).then(|| Completion {
            start: word_start,
            shown: completion.clone(),
            matches,
            next: 0,
        });
        self.replace_word(&value, word_start, cursor_byte, &completion);
    }

    /// Puts `with` in place of `value[start..cursor]`, the cursor after it.
    fn replace_word(&mut self, value: &str, start: usize, cursor: usize, with: &str) {
        let new_value = format!("{}{}{}", &value[..start], with, &value[cursor..]);
        let at = value[..start].chars().count() + with.chars().count();
        self.input = Input::new(new_value).with_cursor(at);
    }
}

/// The commands Tab completes at the start of the line.
const COMPLETABLE_COMMANDS: &[&str] = &[
    "/close", "/help", "/inbox", "/msg", "/open", "/quit", "/who",
];

/// Tab completion in progress: what the word became and the matches to cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// Byte offset of the word in the line.
    start: usize,
    /// The word as the last Tab left it.
    shown: String,
    /// Every match, sorted.
    matches: Vec<String>,
    /// The match the next Tab shows.
    next: usize,
}

fn common_prefix(words: &[String]) -> String {
    let Some(first) = words.first() else {
        return String::new();
    };
    let mut end = first.len();
    for w in &words[1..] {
        end = first
            .char_indices()
            .zip(w.chars())
            .take_while(|((_, a), b)| a == b)
            .last()
            .map_or(0, |((i, a), _)| i + a.len_utf8())
            .min(end);
    }
    first[..end].to_string()
}
