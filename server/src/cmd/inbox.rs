//! `inbox <token>` / `kotakmasuk <token>`: take every undelivered message.
//!
//! The store claims the messages atomically, so each is delivered once; they are
//! grouped by sender username as the course's clients expect, groups ordered by
//! their oldest message, messages oldest first.

use crate::context::{CmdResult, Context};
use crate::session::rfc3339_ms;
use crate::storage::{Store, StoredMessage};
use chat_protocol::{InboxGroup, InboxMessage, Response};

/// Drains the token's user's inbox.
pub async fn apply<S: Store>(ctx: &Context<S>, token: &str) -> CmdResult<Response> {
    let username = ctx.authenticate(token).await?;
    let messages = ctx.store.drain_inbox(&username).await?;
    Ok(Response::Inbox(group_by_sender(messages)))
}

/// Groups messages (oldest first) by sender, keeping first-appearance order.
pub fn group_by_sender(messages: Vec<StoredMessage>) -> Vec<InboxGroup> {
    let mut groups: Vec<InboxGroup> = Vec::new();
    for m in messages {
        let entry = InboxMessage {
            msg_from: m.from_display,
            msg_to: m.to_display,
            msg: m.text,
            id: Some(m.id),
            ts: Some(rfc3339_ms(m.ts_ms)),
        };
        match groups.iter_mut().find(|g| g.sender == m.from) {
            Some(group) => group.messages.push(entry),
            None => groups.push(InboxGroup {
                sender: m.from,
                messages: vec![entry],
            }),
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(id: i64, from: &str, text: &str) -> StoredMessage {
        StoredMessage {
            id,
            from: from.into(),
            to: "messi".into(),
            from_display: from.to_uppercase(),
            to_display: "Lionel Messi".into(),
            text: text.into(),
            ts_ms: 0,
        }
    }

    #[test]
    fn groups_in_first_appearance_order() {
        let groups = group_by_sender(vec![
            stored(1, "b", "1"),
            stored(2, "a", "2"),
            stored(3, "b", "3"),
        ]);
        let shape: Vec<(String, Vec<i64>)> = groups
            .iter()
            .map(|g| {
                (
                    g.sender.clone(),
                    g.messages.iter().filter_map(|m| m.id).collect(),
                )
            })
            .collect();
        assert_eq!(
            shape,
            vec![("b".to_string(), vec![1, 3]), ("a".to_string(), vec![2])]
        );
        assert_eq!(groups[0].messages[0].msg_from, "B");
    }
}
