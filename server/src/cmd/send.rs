//! `send <token> <to> <message...>` / `chat ...`: store a message for `to`.
//!
//! `OK` is answered only after the store has accepted the message (for durable
//! backends: committed), so an acknowledged message is never lost.

use crate::context::{CmdResult, Context};
use crate::metrics::{self, Limit};
use crate::session::{now_ms, rfc3339_ms};
use crate::storage::{NewMessage, Store};
use crate::text_rules;
use chat_protocol::{Response, echo};

/// Stores `message` from the token's user to `to`.
pub async fn apply<S: Store>(
    ctx: &Context<S>,
    token: &str,
    to: &str,
    message: String,
) -> CmdResult<Response> {
    let from = ctx.authenticate(token).await?;
    let limit = ctx.config.max_message;
    if message.len() > limit {
        metrics::rejected(Limit::MessageLength);
        return Err(Response::error(format!(
            "message too long (limit {limit} bytes)"
        )));
    }
    text_rules::check_message(&message).map_err(Response::error)?;
    let Some(recipient) = ctx.store.user(to).await? else {
        return Err(Response::error(format!("unknown recipient: {}", echo(to))));
    };
    // A full inbox refuses new messages and keeps the oldest: nothing accepted is
    // ever dropped, and the sender learns at once that it was not delivered.
    let max_inbox = ctx.config.max_inbox;
    if max_inbox > 0
        && ctx
            .store
            .undelivered_count(&recipient.username, max_inbox)
            .await?
            >= max_inbox
    {
        metrics::rejected(Limit::InboxFull);
        return Err(Response::error("recipient inbox full"));
    }
    let from_display = match ctx.store.user(&from).await? {
        Some(sender) => sender.display_name,
        None => return Err(Response::error("invalid or expired token")),
    };
    let stored = ctx
        .store
        .append_message(NewMessage {
            from,
            to: recipient.username,
            from_display,
            to_display: recipient.display_name,
            text: message,
            ts_ms: now_ms(),
        })
        .await?;
    metrics::message_stored();
    Ok(Response::Sent {
        id: stored.id,
        ts: rfc3339_ms(stored.ts_ms),
    })
}
