//! `sync <token> <after_id> [wait_seconds] [presence]`: every message the user sent
//! or received after a cursor, oldest first, a page at a time; when there is none,
//! a long poll until the next one commits. Drains nothing.
//!
//! The cursor also acknowledges: naming `after_id` tells the server the client has
//! every message up to it, so the course's `inbox` (which returns what no client of
//! the user has received yet) stops returning them, and they stop counting against
//! `--max-inbox`.
//!
//! This file decides what to answer; the waiting itself (on commits, presence, the
//! deadline, the next request line and shutdown) is the connection's business
//! (`handler`), since it watches the socket.

use crate::context::{CmdResult, Context};
use crate::session::rfc3339_ms;
use crate::storage::{ReadMarkers, Store, StoredMessage};
use chat_protocol::{Response, SYNC_PAGE, SyncAnswer, SyncEntry};
use std::time::Duration;
use tokio::time::Instant;

/// A sync that found nothing to say and may wait until `deadline`.
#[derive(Debug)]
pub struct Waiting {
    /// Whose messages.
    pub username: String,
    /// The request's cursor.
    pub after_id: i64,
    /// Whether the client asked for presence.
    pub presence: bool,
    /// When to answer with nothing.
    pub deadline: Instant,
}

/// What a connection has told its client so far (`sync ... presence`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Seen {
    /// The presence version last told; `None` before the first presence answer.
    pub presence: Option<u64>,
    /// The read-marker version last told (0: none yet, so the first answer carries
    /// every marker).
    pub read: i64,
}

/// What to do with a `sync` request.
#[derive(Debug)]
pub enum Step {
    /// Answer now.
    Answer(Response),
    /// Nothing to say yet: wait (see [`Waiting`]).
    Wait(Waiting),
}

/// Authenticates, acknowledges the cursor, and answers at once when there is
/// something to say or no wait was asked for. `seen` is what this connection last
/// told its client.
pub async fn start<S: Store>(
    ctx: &Context<S>,
    token: &str,
    after_id: i64,
    wait_seconds: u32,
    presence: bool,
    seen: &mut Seen,
) -> CmdResult<Step> {
    let username = ctx.authenticate(token).await?;
    if after_id > 0 {
        ctx.store.acknowledge(&username, after_id).await?;
    }
    let waiting = Waiting {
        username,
        after_id,
        presence,
        deadline: Instant::now() + wait_for(ctx, wait_seconds),
    };
    if let Some(answer) = look(ctx, &waiting, seen).await? {
        return Ok(Step::Answer(answer));
    }
    match wait_seconds {
        0 => Ok(Step::Answer(empty(&waiting))),
        _ => Ok(Step::Wait(waiting)),
    }
}

/// How long a sync asking `wait_seconds` may wait on this server.
fn wait_for<S: Store>(ctx: &Context<S>, wait_seconds: u32) -> Duration {
    Duration::from_secs(u64::from(wait_seconds)).min(ctx.config.max_sync_wait)
}

/// The answer if there is something to say now (messages after the cursor, or a
/// presence change or read marker the client has not been told), else `None`.
pub async fn look<S: Store>(
    ctx: &Context<S>,
    waiting: &Waiting,
    seen: &mut Seen,
) -> CmdResult<Option<Response>> {
    let page = ctx
        .store
        .sync(&waiting.username, waiting.after_id, SYNC_PAGE as u32 + 1)
        .await?;
    if waiting.presence && seen.presence.is_none() {
        // The connection's first presence answer is the whole list: read it now
        // rather than give the tracker's last reading (up to a tick old).
        ctx.presence.update(ctx.active_users().await?);
    }
    let presence = match waiting.presence {
        true => ctx.presence.since(seen.presence),
        false => None,
    };
    let read = match waiting.presence {
        true => ctx.store.read_markers(&waiting.username, seen.read).await?,
        false => ReadMarkers::default(),
    };
    if page.is_empty() && presence.is_none() && read.markers.is_empty() {
        return Ok(None);
    }
    let presence = presence.map(|(version, update)| {
        seen.presence = Some(version);
        update
    });
    seen.read = seen.read.max(read.version);
    let mut answer = answer(page, waiting.after_id, presence);
    answer.read = read.markers;
    Ok(Some(Response::Sync(Box::new(answer))))
}

/// The answer at the deadline (or when the wait is cut short): whatever there is.
pub async fn finish<S: Store>(ctx: &Context<S>, waiting: &Waiting, seen: &mut Seen) -> Response {
    match look(ctx, waiting, seen).await {
        Ok(Some(answer)) => answer,
        Ok(None) => empty(waiting),
        Err(error) => error,
    }
}

fn empty(waiting: &Waiting) -> Response {
    Response::Sync(Box::new(answer(Vec::new(), waiting.after_id, None)))
}

/// A page of messages (up to `SYNC_PAGE + 1` read, to tell whether more follow)
/// as the answer to a request with cursor `after_id`.
fn answer(
    mut page: Vec<StoredMessage>,
    after_id: i64,
    presence: Option<chat_protocol::PresenceUpdate>,
) -> SyncAnswer {
    let more = page.len() > SYNC_PAGE;
    page.truncate(SYNC_PAGE);
    let next = page.last().map_or(after_id, |m| m.id);
    let messages = page
        .into_iter()
        .map(|m| SyncEntry {
            id: m.id,
            ts: rfc3339_ms(m.ts_ms),
            from: m.from,
            to: m.to,
            msg: m.text,
            from_display: m.from_display,
            to_display: m.to_display,
        })
        .collect();
    SyncAnswer {
        messages,
        next,
        more,
        presence,
        read: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(id: i64) -> StoredMessage {
        StoredMessage {
            id,
            from: "a".into(),
            to: "b".into(),
            from_display: "A".into(),
            to_display: "B".into(),
            text: format!("m{id}"),
            ts_ms: 0,
        }
    }

    #[test]
    fn a_page_says_whether_more_follow_and_where_to_go_on() {
        let full: Vec<StoredMessage> = (1..=SYNC_PAGE as i64 + 1).map(stored).collect();
        let first = answer(full, 0, None);
        assert!(first.more);
        assert_eq!(first.messages.len(), SYNC_PAGE);
        assert_eq!(first.next, SYNC_PAGE as i64);
        let last = answer(vec![stored(7)], 3, None);
        assert!(!last.more);
        assert_eq!((last.next, last.messages[0].msg.as_str()), (7, "m7"));
        let none = answer(Vec::new(), 41, None);
        assert_eq!((none.next, none.more), (41, false), "the cursor stays put");
    }
}
