//! Conversations and their messages: what the client keeps for the session.
//!
//! Messages drained from the inbox exist nowhere else once read, so a conversation
//! never drops one. `sync` and `history` replies are merged in by message id, and
//! a conversation is kept in id order (the server's order, the same on every
//! screen), with our own messages the server has not numbered yet last.

use std::collections::HashSet;

use chat_protocol::HistoryEntry;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Whether a message arrived or was sent, and how sending went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// From the other side.
    Received,
    /// Sent by us, no answer yet.
    Pending,
    /// Sent by us and stored by the server.
    Sent,
    /// Sent by us and refused.
    Failed(String),
}

/// One message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    /// The server's id, when known.
    pub id: Option<i64>,
    /// Our id for messages we sent (to match the server's answer).
    pub local_id: Option<u64>,
    /// Arrival order in this session, unique.
    pub seq: u64,
    /// Send time (arrival time when the server gives none).
    pub at: OffsetDateTime,
    /// Sender's username.
    pub from: String,
    /// Recipient's username.
    pub to: String,
    /// The text, trimmed.
    pub text: String,
    /// Direction and state.
    pub delivery: Delivery,
}

/// Parses an RFC 3339 time, or gives `fallback`.
pub fn parse_ts(ts: Option<&str>, fallback: OffsetDateTime) -> OffsetDateTime {
    ts.and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
        .unwrap_or(fallback)
}

/// The messages with one person.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Conversation {
    /// Oldest first.
    pub messages: Vec<ChatMessage>,
    /// Messages that arrived while the conversation was not shown.
    pub unread: usize,
    /// `seq` of the first message under the "new messages" ruler.
    pub ruler: Option<u64>,
    /// Whether `history` was asked for.
    pub history_requested: bool,
    /// Lines scrolled up from the newest.
    pub scroll: usize,
    /// The server's read marker: every message up to this id has been read (on
    /// any device). Only servers with `read` keep one; 0 when none.
    pub read_up_to: i64,
    /// `history` has nothing older than the oldest message here.
    pub complete: bool,
    /// A page of older messages was asked for and has not come yet.
    pub loading_older: bool,
}

impl Conversation {
    /// Whether a message with this server id is already here.
    pub fn has_id(&self, id: i64) -> bool {
        self.messages.iter().any(|m| m.id == Some(id))
    }

    /// Adds an arrived message; `visible` says whether the person can see it now.
    /// Returns false for a duplicate (same server id).
    pub fn receive(&mut self, msg: ChatMessage, visible: bool) -> bool {
        if msg.id.is_some_and(|id| self.has_id(id)) {
            return false;
        }
        if !visible {
            if self.unread == 0 {
                self.ruler = Some(msg.seq);
            }
            self.unread += 1;
        }
        self.insert(msg);
        true
    }

    /// Puts a message in its place by id (unnumbered ones last, in arrival order).
    pub fn insert(&mut self, msg: ChatMessage) {
        let key = order_key(&msg);
        let at = self.messages.partition_point(|m| order_key(m) <= key);
        self.messages.insert(at, msg);
    }

    /// Keeps the messages in id order after ids were given.
    pub fn reorder(&mut self) {
        self.messages.sort_by_key(order_key);
    }

    /// The newest server id here.
    pub fn newest_id(&self) -> Option<i64> {
        self.messages.iter().filter_map(|m| m.id).max()
    }

    /// The oldest server id here.
    pub fn oldest_id(&self) -> Option<i64> {
        self.messages.iter().filter_map(|m| m.id).min()
    }

    /// With a server read marker: unread are the received messages above it.
    /// `open` conversations keep their ruler; others get it at the first unread.
    pub fn recount(&mut self, me: &str, open: bool) {
        let unread: Vec<u64> = self
            .messages
            .iter()
            .filter(|m| m.from != me && m.id.is_some_and(|id| id > self.read_up_to))
            .map(|m| m.seq)
            .collect();
        self.unread = unread.len();
        if !open {
            self.ruler = unread.first().copied();
        }
    }

    /// The person opened the conversation: unread cleared, ruler kept where it was.
    pub fn open(&mut self) {
        self.unread = 0;
        self.scroll = 0;
    }

    /// The person left the conversation: the ruler has served.
    pub fn leave(&mut self) {
        self.ruler = None;
    }

    /// Merges stored messages: new ids are added, known ones kept, order by id with
    /// messages the server has not numbered (pending sends) last.
    pub fn merge_history(
        &mut self,
        entries: Vec<HistoryEntry>,
        me: &str,
        mut next_seq: impl FnMut() -> u64,
        now: OffsetDateTime,
    ) {
        let known: HashSet<i64> = self.messages.iter().filter_map(|m| m.id).collect();
        for e in entries {
            if known.contains(&e.id) {
                continue;
            }
            let delivery = if e.from == me {
                Delivery::Sent
            } else {
                Delivery::Received
            };
            self.messages.push(ChatMessage {
                id: Some(e.id),
                local_id: None,
                seq: next_seq(),
                at: parse_ts(Some(&e.ts), now),
                text: e.msg.trim().to_string(),
                from: e.from,
                to: e.to,
                delivery,
            });
        }
        self.reorder();
    }
}

/// Id order, unnumbered messages last in arrival order.
pub fn order_key(m: &ChatMessage) -> (i64, u64) {
    (m.id.unwrap_or(i64::MAX), m.seq)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn msg(seq: u64, id: Option<i64>, from: &str) -> ChatMessage {
        ChatMessage {
            id,
            local_id: None,
            seq,
            at: datetime!(2026-11-22 02:00 UTC),
            from: from.into(),
            to: "messi".into(),
            text: format!("m{seq}"),
            delivery: Delivery::Received,
        }
    }

    #[test]
    fn unread_counts_and_ruler() {
        let mut c = Conversation::default();
        assert!(c.receive(msg(1, Some(1), "bob"), true));
        assert_eq!(c.unread, 0);
        assert!(c.receive(msg(2, Some(2), "bob"), false));
        assert!(c.receive(msg(3, Some(3), "bob"), false));
        assert!(!c.receive(msg(4, Some(3), "bob"), false), "duplicate id");
        assert_eq!(c.unread, 2);
        assert_eq!(c.ruler, Some(2));
        c.open();
        assert_eq!((c.unread, c.ruler), (0, Some(2)));
        c.leave();
        assert_eq!(c.ruler, None);
        // Messages without ids (course server) are never taken for duplicates.
        assert!(c.receive(msg(5, None, "bob"), false));
        assert!(c.receive(msg(6, None, "bob"), false));
        assert_eq!((c.unread, c.ruler), (2, Some(5)));
    }

    #[test]
    fn history_merges_by_id_and_keeps_pending_last() {
        let mut c = Conversation::default();
        c.receive(msg(1, Some(10), "bob"), true);
        let mut pending = msg(2, None, "messi");
        pending.delivery = Delivery::Pending;
        c.receive(pending, true);
        let entry = |id: i64, from: &str| HistoryEntry {
            id,
            ts: "2026-11-22T01:00:00Z".into(),
            from: from.into(),
            to: "x".into(),
            msg: format!(" h{id}\r\n"),
        };
        let mut seq = 100;
        c.merge_history(
            vec![entry(8, "messi"), entry(9, "bob"), entry(10, "bob")],
            "messi",
            || {
                seq += 1;
                seq
            },
            datetime!(2026-11-22 02:00 UTC),
        );
        let ids: Vec<_> = c.messages.iter().map(|m| m.id).collect();
        assert_eq!(ids, [Some(8), Some(9), Some(10), None]);
        assert_eq!(c.messages[0].delivery, Delivery::Sent);
        assert_eq!(c.messages[0].text, "h8");
        assert_eq!(c.messages[2].text, "m1", "the drained copy is kept");
    }
}
