//! Cross-node wake-ups for `sync`: every transaction that inserts messages also
//! sends one `NOTIFY` (delivered by PostgreSQL only if it commits) naming the users
//! it concerns, and every node keeps one `LISTEN` connection that wakes its local
//! waiters for them ([`Wakeups::wake`]).
//!
//! - One notification per group-commit batch, not per message: PostgreSQL takes a
//!   global lock to queue notifications at commit, which inserts already serialise
//!   on (the insert-order lock, see `append.rs`), so it adds no new contention.
//! - Payload: the sending node's id (16 hex digits) then the usernames, one per
//!   line; [`WAKE_ALL`] instead of the names when they would not fit in
//!   [`MAX_PAYLOAD`] bytes (PostgreSQL's limit is 8000).
//! - A node skips its own notifications: it woke its waiters itself after the
//!   commit.
//! - Notifications are best-effort: one sent while the `LISTEN` connection was down
//!   is lost. So after every (re)connection the node wakes all its waiters
//!   ([`Wakeups::wake_all`]) and each re-reads the store; the store stays the truth.
//! - The channel is per schema (`chat_` and 16 hex digits of the schema name's md5),
//!   since channels are database-wide and several chat databases may share one.

use crate::storage::Wakeups;
use sqlx::postgres::{PgListener, PgPool};
use std::time::Duration;

/// The channel of the connection's schema, as an SQL expression.
macro_rules! channel_sql {
    () => {
        "'chat_' || left(md5(current_schema()), 16)"
    };
}
pub(super) use channel_sql;

/// Most payload bytes sent; more users than fit wake everyone instead.
pub(super) const MAX_PAYLOAD: usize = 7900;

/// The payload line that wakes every waiter of the receiving node.
pub(super) const WAKE_ALL: &str = "*";

/// How long the listener waits before reconnecting after losing its connection.
const RECONNECT_AFTER: Duration = Duration::from_millis(500);

/// The payload naming `users` (duplicates are the caller's business) for a
/// notification sent by `node`.
pub(super) fn payload<'a>(node: u64, users: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = format!("{node:016x}");
    for user in users {
        if out.len() + 1 + user.len() > MAX_PAYLOAD {
            return format!("{node:016x}\n{WAKE_ALL}");
        }
        out.push('\n');
        out.push_str(user);
    }
    out
}

/// What a received payload asks of a node.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Wake<'a> {
    /// Wake these users' waiters.
    Users(Vec<&'a str>),
    /// Wake every waiter.
    All,
}

/// Reads a payload: `None` when it came from `own` (or is not ours at all).
pub(super) fn parse(payload: &str, own: u64) -> Option<Wake<'_>> {
    let mut lines = payload.split('\n');
    let sender = u64::from_str_radix(lines.next()?, 16).ok()?;
    if sender == own {
        return None;
    }
    let users: Vec<&str> = lines.collect();
    if users.contains(&WAKE_ALL) {
        Some(Wake::All)
    } else {
        Some(Wake::Users(users))
    }
}

/// Starts the node's listener task on `first` (a listener from [`listen`] on
/// `pool`, a pool of its own): wake-ups for other nodes' commits; after losing the
/// connection it reconnects through `pool` and wakes every waiter. It ends when the
/// pool is closed or the task is aborted.
pub(super) fn start_listener(
    pool: PgPool,
    wakeups: Wakeups,
    node: u64,
    first: PgListener,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut listener = Some(first);
        loop {
            if let Some(mut connected) = listener.take() {
                relay(&mut connected, &wakeups, node).await;
            }
            if pool.is_closed() {
                return;
            }
            tokio::time::sleep(RECONNECT_AFTER).await;
            match listen(&pool).await {
                Ok(connected) => {
                    // Whatever was sent while no connection listened is lost: every
                    // waiter re-reads the store.
                    wakeups.wake_all();
                    listener = Some(connected);
                }
                Err(e) => tracing::debug!(error = %e, "cannot LISTEN yet"),
            }
        }
    })
}

/// Wakes the waiters each notification names until the connection is lost.
async fn relay(listener: &mut PgListener, wakeups: &Wakeups, node: u64) {
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) => match parse(notification.payload(), node) {
                Some(Wake::Users(users)) => {
                    for user in users {
                        wakeups.wake(user);
                    }
                }
                Some(Wake::All) => wakeups.wake_all(),
                None => {}
            },
            Ok(None) => {
                tracing::warn!("lost the LISTEN connection; reconnecting");
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "the LISTEN connection failed; reconnecting");
                return;
            }
        }
    }
}

/// A new listener on the schema's channel.
pub(super) async fn listen(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    let channel: String = sqlx::query_scalar(concat!("SELECT ", channel_sql!()))
        .fetch_one(&mut listener)
        .await?;
    listener.listen(&channel).await?;
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_name_users_and_skip_their_own_node() {
        let p = payload(7, ["messi", "lineker"]);
        assert_eq!(p, "0000000000000007\nmessi\nlineker");
        assert_eq!(parse(&p, 8), Some(Wake::Users(vec!["messi", "lineker"])));
        assert_eq!(parse(&p, 7), None, "our own");
        assert_eq!(parse("not ours", 7), None);
    }

    #[test]
    fn too_many_users_wake_everyone() {
        let names: Vec<String> = (0..2000).map(|i| format!("user{i}")).collect();
        let p = payload(1, names.iter().map(String::as_str));
        assert!(p.len() <= MAX_PAYLOAD);
        assert_eq!(parse(&p, 2), Some(Wake::All));
    }
}
