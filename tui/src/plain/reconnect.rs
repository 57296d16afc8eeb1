//! Interactive plain mode across a lost connection: wait with the full-screen
//! client's backoff (jittered, growing), say why, connect again and log in again
//! with the last login that worked.
//!
//! Only a person at a terminal gets this. A script (standard input from a pipe or
//! a file) still stops at the lost connection with status 1: it cannot know which
//! of its commands reached the server, and a cron job is better retried whole.

use super::format::Line;
use super::session::Session;
use crate::client::{Client, ClientError, Stream, Transport};
use crate::reconnect::Backoff;
use chat_protocol::Request;
use chrono::Local;

/// Whether `error` is the connection to the server failing (and not, say, the
/// terminal): what a reconnect can mend.
pub fn is_connection_lost(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| cause.is::<ClientError>())
}

/// The line that says why and when the next attempt comes.
pub fn reconnecting_line(reason: &str, attempt: u32, delay: std::time::Duration) -> Line {
    Line::error(format!(
        "connection lost ({reason}); reconnecting in {:.1}s (attempt {attempt})",
        delay.as_secs_f32()
    ))
}

/// Connects again (waiting `backoff` between attempts, printing each reason with
/// `emit`) and logs in with the session's last login. `Ok(lines)` to show once
/// back; `Err` when the server refuses the login now (the password changed).
pub async fn reconnect(
    session: &mut Session<Stream, Local>,
    addr: &str,
    transport: &Transport,
    backoff: &mut Backoff,
    reason: String,
    emit: impl Fn(&[Line]) -> std::io::Result<()>,
) -> anyhow::Result<Vec<Line>> {
    let mut reason = reason;
    loop {
        let (attempt, delay) = backoff.fail();
        emit(&[reconnecting_line(&reason, attempt, delay)])?;
        tokio::time::sleep(delay).await;
        let client = match Client::connect_with(addr, transport).await {
            Ok(client) => client,
            Err(e) => {
                reason = e.to_string();
                continue;
            }
        };
        session.client = client;
        session.token = None;
        let Some((dialect, creds)) = session.credentials.clone() else {
            return Ok(vec![Line::Out("reconnected (not logged in)".into())]);
        };
        let login = Request::Login {
            dialect,
            username: creds.username.clone(),
            password: creds.password.clone(),
        };
        let reply = match session.client.call(&login).await {
            Ok(reply) => reply,
            Err(e) => {
                reason = e.to_string();
                continue;
            }
        };
        match reply.token() {
            Some(token) if reply.is_ok() => {
                session.token = Some(token.to_string());
                return Ok(vec![Line::Out(format!(
                    "reconnected; username {} logged in again",
                    super::format::clean(&creds.username)
                ))]);
            }
            _ => anyhow::bail!(
                "logging in again failed: {}",
                reply.message_text().unwrap_or_else(|| "refused".into())
            ),
        }
    }
}
