//! What the worker reports, applied to the model: the link, logins, polls,
//! sends, history.

use chat_protocol::InboxGroup;

use super::{App, Effect, Now, View};
use crate::login::LoginForm;
use crate::model::{ChatMessage, Delivery, parse_ts};
use crate::reconnect::LinkState;
use crate::worker::Update;

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
            } => {
                self.me = Some(username);
                self.my_name = display_name;
                self.login = None;
                if let View::Peer(p) = self.view.clone() {
                    // Reopened after a reconnect or a late login: load it now.
                    return self.select(View::Peer(p));
                }
            }
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
            Update::History { peer, entries } => {
                self.tentative.remove(&peer);
                let me = self.me.clone().unwrap_or_default();
                let mut seq = self.next_seq;
                self.conversations.entry(peer).or_default().merge_history(
                    entries,
                    &me,
                    || {
                        seq += 1;
                        seq
                    },
                    now.wall,
                );
                self.next_seq = seq;
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
            if c.messages.iter().any(|m| m.local_id == Some(local_id)) {
                self.tentative.remove(peer);
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
        }
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
