//! What the worker tells the client: messages (drained from the inbox, or from
//! `sync`), who is on, sends confirmed or refused, history pages, read markers.

use std::collections::BTreeMap;

use chat_protocol::{InboxGroup, SyncEntry};

use super::{App, Effect, Now, View};
use crate::login::LoginForm;
use crate::model::{ChatMessage, Delivery, parse_ts};
use crate::reconnect::LinkState;
use crate::state::SavedState;
use crate::worker::{Job, Update};

impl App {
    /// The worker reported something.
    pub fn on_update(&mut self, update: Update, now: Now) -> Vec<Effect> {
        match update {
            Update::Link(state) => {
                match &state {
                    LinkState::Error(reason) => self.notice(reason.clone(), true),
                    // Say why, not only that it is reconnecting ("connection refused").
                    LinkState::Reconnecting { reason, .. } => {
                        self.notice(format!("connection failed: {reason}"), true);
                    }
                    _ => {}
                }
                if state == LinkState::Connected && self.link != LinkState::Connected {
                    self.notice = self.notice.take().filter(|n| !n.error);
                }
                self.link = state;
            }
            Update::LoggedIn {
                username,
                display_name,
                live,
            } => {
                self.me = Some(username);
                self.my_name = display_name;
                self.login = None;
                self.live = live;
                let mut effects = vec![];
                if live && self.history_supported {
                    // Remembered conversations: their recent messages, so unread
                    // counts (from the server's read markers) are right at once.
                    for (peer, c) in &mut self.conversations {
                        if !c.history_requested {
                            c.history_requested = true;
                            effects.push(Effect::Job(Job::History {
                                peer: peer.clone(),
                                before_id: None,
                            }));
                        }
                    }
                }
                if let View::Peer(p) = self.view.clone() {
                    // Reopened after a reconnect or a late login: load it now.
                    effects.extend(self.select(View::Peer(p)));
                }
                return effects;
            }
            Update::Restored { path, state } => self.restore(path, state),
            Update::Synced {
                messages,
                read,
                next,
            } => return self.synced(messages, read, next, now),
            Update::LoginRejected(reason) => {
                let form = self
                    .login
                    .get_or_insert_with(|| LoginForm::new(self.me.as_deref()));
                form.rejected(reason);
            }
            Update::Inbox { groups, asked } => {
                self.last_poll = Some(now.mono);
                self.poll_age = Some(0);
                return self.receive(groups, asked, now);
            }
            Update::Users { users, asked } => {
                let me = self.me.clone().unwrap_or_default();
                self.online = users.into_iter().filter(|u| *u != me).collect();
                if asked {
                    let list = if self.online.is_empty() {
                        "nobody else".into()
                    } else {
                        self.online.join(", ")
                    };
                    self.notice(format!("on: {list}"), false);
                }
            }
            Update::UsersUnsupported(reason) => {
                self.users_supported = false;
                self.online.clear();
                self.notice(
                    format!("no user list from this server ({reason}); showing conversations"),
                    false,
                );
            }
            Update::Sent { local_id, id, ts } => {
                // A newer result: an old error (a usage line, a failed send) goes.
                self.notice = self.notice.take().filter(|n| !n.error);
                self.sent(local_id, id, ts.as_deref());
            }
            Update::SendFailed { local_id, reason } => {
                for c in self.conversations.values_mut() {
                    for m in c
                        .messages
                        .iter_mut()
                        .filter(|m| m.local_id == Some(local_id))
                    {
                        m.delivery = Delivery::Failed(reason.clone());
                    }
                }
                let peer = self.conversations.iter().find_map(|(p, c)| {
                    c.messages
                        .iter()
                        .any(|m| m.local_id == Some(local_id))
                        .then(|| p.clone())
                });
                if let Some(peer) = peer {
                    self.refused(&peer);
                }
                self.notice(format!("not sent: {reason}"), true);
            }
            Update::History {
                peer,
                entries,
                before_id,
                complete,
            } => {
                self.tentative.remove(&peer);
                let me = self.me.clone().unwrap_or_default();
                let mut seq = self.next_seq;
                let open = self.view == View::Peer(peer.clone()) && !self.help;
                if before_id.is_some() {
                    self.notice = None;
                }
                let c = self.conversations.entry(peer).or_default();
                c.merge_history(
                    entries,
                    &me,
                    || {
                        seq += 1;
                        seq
                    },
                    now.wall,
                );
                if before_id.is_some() || c.messages.is_empty() {
                    c.complete |= complete;
                }
                c.loading_older = false;
                if self.live {
                    c.recount(&me, open);
                }
                self.next_seq = seq;
                return self.mark_read();
            }
            Update::HistoryFailed { peer, reason } => {
                if let Some(c) = self.conversations.get_mut(&peer) {
                    // Asked again next time it is opened.
                    c.history_requested = false;
                }
                self.refused(&peer);
                self.notice(format!("{peer}: {reason}"), true);
            }
            Update::HistoryUnsupported(reason) => {
                self.history_supported = false;
                tracing::info!(%reason, "server has no history");
            }
            Update::Error(text) => self.notice(text, true),
            Update::Stopped => return vec![Effect::Quit],
        }
        vec![]
    }

    fn sent(&mut self, local_id: u64, id: Option<i64>, ts: Option<&str>) {
        for (peer, c) in &mut self.conversations {
            if !c.messages.iter().any(|m| m.local_id == Some(local_id)) {
                continue;
            }
            self.tentative.remove(peer);
            if let Some(id) = id
                && c.has_id(id)
            {
                // `sync` brought it first: keep that copy.
                c.messages.retain(|m| m.local_id != Some(local_id));
                continue;
            }
            for m in c
                .messages
                .iter_mut()
                .filter(|m| m.local_id == Some(local_id))
            {
                m.id = id;
                m.at = parse_ts(ts, m.at);
                m.delivery = Delivery::Sent;
            }
            c.reorder();
        }
    }

    /// What the last run remembered: the conversation list (people who are offline
    /// too), the input history, the newest id seen.
    fn restore(&mut self, path: std::path::PathBuf, state: SavedState) {
        for peer in state.conversations {
            self.conversations.entry(peer).or_default();
        }
        if self.history.lines().is_empty() {
            self.history = crate::line_history::LineHistory::from_lines(state.history);
        }
        self.last_id = self.last_id.max(state.last_id);
        self.state_path = Some(path);
    }

    /// Messages from `sync`: everything the user sent or received, from any
    /// device, each in its conversation in id order; read markers from the user's
    /// other clients.
    fn synced(
        &mut self,
        messages: Vec<SyncEntry>,
        read: BTreeMap<String, i64>,
        next: i64,
        now: Now,
    ) -> Vec<Effect> {
        let me = self.me.clone().unwrap_or_default();
        let open = match &self.view {
            View::Peer(p) if !self.help => Some(p.clone()),
            _ => None,
        };
        let mut hidden_news = false;
        for e in messages {
            let mine = e.from == me;
            let peer = if mine { e.to.clone() } else { e.from.clone() };
            self.tentative.remove(&peer);
            let seq = self.seq();
            if !self.conversations.contains_key(&peer) {
                self.state_dirty = true;
            }
            let c = self.conversations.entry(peer.clone()).or_default();
            if c.has_id(e.id) {
                continue;
            }
            hidden_news |= !mine && open.as_deref() != Some(peer.as_str());
            c.insert(ChatMessage {
                id: Some(e.id),
                local_id: None,
                seq,
                at: parse_ts(Some(&e.ts), now.wall),
                from: e.from,
                to: e.to,
                text: e.msg.trim().to_string(),
                delivery: if mine {
                    Delivery::Sent
                } else {
                    Delivery::Received
                },
            });
        }
        for (peer, id) in read {
            let c = self.conversations.entry(peer).or_default();
            c.read_up_to = c.read_up_to.max(id);
        }
        for (peer, c) in &mut self.conversations {
            c.recount(&me, open.as_deref() == Some(peer.as_str()));
        }
        if next > self.last_id {
            self.last_id = next;
            self.state_dirty = true;
        }
        let mut effects = self.mark_read();
        if hidden_news && self.display.bell {
            effects.push(Effect::Bell);
        }
        effects
    }

    fn receive(&mut self, groups: Vec<InboxGroup>, asked: bool, now: Now) -> Vec<Effect> {
        let me = self.me.clone().unwrap_or_default();
        let mut hidden_news = false;
        let mut count = 0;
        for group in groups {
            let visible = match &self.view {
                View::All => true,
                View::Peer(p) => *p == group.sender,
            } && !self.help;
            for m in group.messages {
                let seq = self.seq();
                let msg = ChatMessage {
                    id: m.id,
                    local_id: None,
                    seq,
                    at: parse_ts(m.ts.as_deref(), now.wall),
                    from: group.sender.clone(),
                    to: me.clone(),
                    text: m.msg.trim().to_string(),
                    delivery: Delivery::Received,
                };
                self.tentative.remove(&group.sender);
                let conv = self.conversations.entry(group.sender.clone()).or_default();
                if conv.receive(msg, visible) {
                    count += 1;
                    hidden_news |= !visible;
                }
            }
        }
        if asked {
            self.notice(format!("inbox: {count} new"), false);
        }
        if hidden_news && self.display.bell {
            vec![Effect::Bell]
        } else {
            vec![]
        }
    }
}
