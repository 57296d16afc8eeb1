//! `logout <token>`: end the session. Only the token's holder can do it: the token
//! is the credential.

use crate::context::{CmdResult, Context};
use crate::session::token_key;
use crate::storage::Store;
use chat_protocol::Response;

/// Ends the session named by `token`.
pub async fn apply<S: Store>(ctx: &Context<S>, token: &str) -> CmdResult<Response> {
    let username = ctx.authenticate(token).await?;
    if !ctx.store.delete_session(&token_key(token)).await? {
        return Err(Response::error("invalid or expired token"));
    }
    tracing::info!(user = %username, "logged out");
    Ok(Response::LoggedOut)
}
