//! `register <username> <password> [display name...]`: self-service accounts, only
//! when the operator allows it (`--allow-register`).

use crate::context::{CmdResult, Context};
use crate::password::hash_password;
use crate::storage::{Store, StoreError, User};
use crate::text_rules;
use crate::users::validate_username;
use chat_protocol::Response;

/// Longest display name, in characters.
const MAX_DISPLAY_NAME: usize = 64;
/// Longest password, in bytes (argon2 takes any length; this bounds the work).
const MAX_PASSWORD: usize = 128;

/// Creates an account.
pub async fn apply<S: Store>(
    ctx: &Context<S>,
    username: &str,
    password: &str,
    display_name: Option<String>,
) -> CmdResult<Response> {
    if !ctx.config.allow_register {
        return Err(Response::error("registration is disabled"));
    }
    validate_username(username).map_err(Response::error)?;
    if password.len() > MAX_PASSWORD {
        return Err(Response::error(format!(
            "password too long (limit {MAX_PASSWORD} bytes)"
        )));
    }
    let display_name = display_name.unwrap_or_else(|| username.to_string());
    if display_name.chars().count() > MAX_DISPLAY_NAME {
        return Err(Response::error(format!(
            "invalid display name: at most {MAX_DISPLAY_NAME} characters"
        )));
    }
    text_rules::check_display_name(&display_name)
        .map_err(|why| Response::error(format!("invalid display name: {why}")))?;
    if ctx.store.user(username).await?.is_some() {
        return Err(Response::error(format!("user already exists: {username}")));
    }
    let password = password.to_string();
    let hash = ctx
        .hashing(move || hash_password(&password))
        .await?
        .map_err(|e| {
            tracing::error!(error = %e, "hashing failed");
            Response::error("internal error")
        })?;
    let user = User {
        username: username.to_string(),
        display_name: display_name.clone(),
        country: None,
        password_hash: hash,
    };
    match ctx.store.create_user(&user).await {
        Ok(()) => {}
        Err(StoreError::UserExists(_)) => {
            return Err(Response::error(format!("user already exists: {username}")));
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(user = %username, "registered");
    Ok(Response::Registered {
        username: username.to_string(),
        display_name,
    })
}
