//! `history <token> <peer> [limit] [before_id]`: the conversation with `peer`, both
//! directions, oldest first; page backwards with `before_id`. Drains nothing.

use crate::context::{CmdResult, Context};
use crate::session::rfc3339_ms;
use crate::storage::Store;
use chat_protocol::{HistoryEntry, Response};

/// Returns up to `limit` messages between the token's user and `peer`.
pub async fn apply<S: Store>(
    ctx: &Context<S>,
    token: &str,
    peer: &str,
    limit: u32,
    before_id: Option<i64>,
) -> CmdResult<Response> {
    let me = ctx.authenticate(token).await?;
    if ctx.store.user(peer).await?.is_none() {
        return Err(Response::error(format!(
            "unknown user: {}",
            chat_protocol::echo(peer)
        )));
    }
    let messages = ctx
        .store
        .history(&me, peer, limit, before_id)
        .await?
        .into_iter()
        .map(|m| HistoryEntry {
            id: m.id,
            ts: rfc3339_ms(m.ts_ms),
            from: m.from,
            to: m.to,
            msg: m.text,
        })
        .collect();
    Ok(Response::History {
        peer: peer.to_string(),
        messages,
    })
}
