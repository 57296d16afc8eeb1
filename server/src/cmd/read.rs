//! `read <token> <peer> <message_id>`: the user has read the conversation with
//! `peer` up to `message_id`. The server keeps one marker per user and conversation,
//! moved forward only, and tells every client of the user that waits in
//! `sync ... presence` (its answers carry `"read": {"peer": id}`), so unread counts
//! agree on every device and survive a restart.

use crate::context::{CmdResult, Context};
use crate::storage::Store;
use chat_protocol::Response;

/// Stores the marker (a marker further on already stays) and answers OK.
pub async fn apply<S: Store>(
    ctx: &Context<S>,
    token: &str,
    peer: &str,
    message_id: i64,
) -> CmdResult<Response> {
    let me = ctx.authenticate(token).await?;
    if ctx.store.user(peer).await?.is_none() {
        return Err(Response::error(format!(
            "unknown user: {}",
            chat_protocol::echo(peer)
        )));
    }
    ctx.store.set_read_marker(&me, peer, message_id).await?;
    Ok(Response::ReadMarked)
}
