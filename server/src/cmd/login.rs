//! `auth <username> <password>` / `login <username> <password>`: start a session.
//!
//! Unknown users cost the same argon2 work as wrong passwords, so response time does
//! not tell which usernames exist. After repeated failures from an address or for a
//! username, each attempt waits a growing while before it is checked (see
//! [`crate::throttle`]).

use crate::context::{CmdResult, Context};
use crate::metrics::{self, LoginFailure};
use crate::session::{new_token, now_ms, token_key};
use crate::storage::{Session, Store};
use chat_protocol::{LoginInfo, Response};
use std::net::IpAddr;
use tokio::time::Instant;

/// Checks the password and opens a session.
pub async fn apply<S: Store>(
    ctx: &Context<S>,
    ip: IpAddr,
    username: &str,
    password: &str,
) -> CmdResult<Response> {
    if let Some(wait) = ctx.logins.delay(ip, username, Instant::now()) {
        tracing::info!(user = %username, delay = ?wait, "login delayed after failures");
        metrics::login_delayed(wait);
        tokio::time::sleep(wait).await;
    }
    let user = ctx.store.user(username).await?;
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    let matches = ctx.verify_password(password, hash).await?;
    let user = match user {
        Some(user) if matches => user,
        found => {
            ctx.logins.failed(ip, username, Instant::now());
            let (reason, failure) = match found {
                Some(_) => ("wrong password", LoginFailure::WrongPassword),
                None => ("unknown user", LoginFailure::UnknownUser),
            };
            metrics::login_failed(failure);
            return Err(Response::error(reason));
        }
    };
    ctx.logins.succeeded(ip, username);
    let token = new_token();
    let session = Session {
        token: token_key(&token),
        username: user.username.clone(),
        last_seen_ms: now_ms(),
    };
    ctx.store.create_session(&session).await?;
    tracing::info!(user = %user.username, "logged in");
    Ok(Response::LoggedIn(LoginInfo {
        token,
        username: user.username,
        display_name: user.display_name,
    }))
}
