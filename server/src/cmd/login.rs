//! `auth <username> <password>` / `login <username> <password>`: start a session.
//!
//! Unknown users cost the same argon2 work as wrong passwords, so response time does
//! not tell which usernames exist.

use crate::context::{CmdResult, Context};
use crate::session::{new_token, now_ms};
use crate::storage::{Session, Store};
use chat_protocol::{LoginInfo, Response};

/// Checks the password and opens a session.
pub async fn apply<S: Store>(ctx: &Context<S>, username: &str, password: &str) -> CmdResult<Response> {
    let user = ctx.store.user(username).await?;
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    let matches = ctx.verify_password(password, hash).await?;
    let Some(user) = user else {
        return Err(Response::error("unknown user"));
    };
    if !matches {
        return Err(Response::error("wrong password"));
    }
    let token = new_token();
    let session = Session { token: token.clone(), username: user.username.clone(), last_seen_ms: now_ms() };
    ctx.store.create_session(&session).await?;
    tracing::info!(user = %user.username, "logged in");
    Ok(Response::LoggedIn(LoginInfo { token, username: user.username, display_name: user.display_name }))
}
