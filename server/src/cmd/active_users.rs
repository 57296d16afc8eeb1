//! `user_aktif <token>` / `user_on <token>`: who holds a live session.
//!
//! Each user is listed once however many sessions they hold (the course's server
//! listed them once per session).

use crate::context::{CmdResult, Context};
use crate::storage::Store;
use chat_protocol::{ActiveUsers, Response};

/// Lists users with at least one live session.
pub async fn apply<S: Store>(ctx: &Context<S>, token: &str) -> CmdResult<Response> {
    ctx.authenticate(token).await?;
    Ok(Response::ActiveUsers(ActiveUsers(
        ctx.active_users().await?,
    )))
}
