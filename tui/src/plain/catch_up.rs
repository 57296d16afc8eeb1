//! `--once inbox` on servers with `sync`: what is new since the last run, without
//! draining anything, so running clients of the user keep every message. The
//! cursor (the newest id reported) is kept in the state directory, per server and
//! user, next to the full-screen client's (see [`crate::state`]).
//!
//! ```text
//! */5 * * * * chat --plain --user messi --once inbox >> ~/chat-inbox.log
//! [12:01] lineker -> messi: piye kabare?      first run: everything received so far
//! (no new messages)                           next run, nothing since
//! ```

use std::path::Path;

use chat_protocol::{InboxGroup, InboxMessage, Request, SyncEntry};
use chrono::Local;

use super::format::{self, Outcome};
use super::session::Session;
use crate::client::ClientError;
use tokio::io::{AsyncRead, AsyncWrite};

/// Messages received after the cursor in `state`, as `inbox` prints them; the
/// cursor moves past them. `Ok(None)` when the server has no `sync` (the caller
/// falls back to the course's `inbox`) or the session is not logged in.
pub async fn once_inbox<S>(
    session: &mut Session<S, Local>,
    state: &Path,
) -> Result<Option<Outcome>, ClientError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (Some(token), Some(me)) = (
        session.token.clone(),
        session.username().map(str::to_string),
    ) else {
        return Ok(None);
    };
    let mut saved = crate::state::load(state);
    let mut received: Vec<SyncEntry> = Vec::new();
    loop {
        let reply = session
            .client
            .call(&Request::Sync {
                token: token.clone(),
                after_id: saved.last_id,
                wait_seconds: 0,
                presence: false,
            })
            .await?;
        let Ok(view) = reply
            .sync()
            .map_err(|_| ())
            .and_then(|v| match reply.is_ok() {
                true => Ok(v),
                false => Err(()),
            })
        else {
            return Ok(None);
        };
        received.extend(
            view.messages
                .into_iter()
                .filter(|m| m.to == me && m.from != me),
        );
        saved.last_id = saved.last_id.max(view.next);
        if !view.more {
            break;
        }
    }
    if let Err(e) = crate::state::save(state, &saved) {
        return Ok(Some(Outcome::failed(format!(
            "saving the cursor in {}: {e}",
            state.display()
        ))));
    }
    let lines = format::inbox_lines(&me, &groups(received), &Local);
    Ok(Some(match lines.is_empty() {
        true => Outcome::done(vec!["(no new messages)".into()]),
        false => Outcome::done(lines),
    }))
}

/// Messages as inbox groups (one per run of a sender, in id order).
fn groups(messages: Vec<SyncEntry>) -> Vec<InboxGroup> {
    let mut out: Vec<InboxGroup> = Vec::new();
    for m in messages {
        let message = InboxMessage {
            msg_from: m.from_display,
            msg_to: m.to_display,
            msg: m.msg,
            id: Some(m.id),
            ts: Some(m.ts),
        };
        match out.last_mut() {
            Some(g) if g.sender == m.from => g.messages.push(message),
            _ => out.push(InboxGroup {
                sender: m.from,
                messages: vec![message],
            }),
        }
    }
    out
}
