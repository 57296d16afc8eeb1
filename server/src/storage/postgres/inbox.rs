//! The course's inbox on PostgreSQL: one delivery cursor per recipient
//! (`inbox_cursors`, migration 0003) instead of a flag per message.
//!
//! Ids become visible in id order (see `order_lock_key` in `append.rs`), so what
//! `inbox` has handed out of a recipient's messages is always a prefix by id, and
//! "undelivered" is "above the cursor": a range of the `(recipient, id)` index.
//!
//! - **Empty inbox** (polling): [`PROBE`], one read-only statement, two index probes,
//!   no lock, no write, no WAL.
//! - **Drain**: chunks of at most [`DRAIN_CHUNK`] messages, each in a short
//!   transaction that first takes an advisory lock for the recipient
//!   ([`claim_chunk`]). Concurrent drains of one recipient (on any node) queue on
//!   that lock instead of scanning each other's rows, and each chunk reads the
//!   cursor its predecessor committed, so no message comes out twice or is skipped.
//!   A drain updates one cursor row and no message, so it leaves no dead message
//!   versions behind for VACUUM, and every statement's cost is bounded by the chunk.

use super::store::message_from_row;
use crate::storage::StoredMessage;
use sqlx::postgres::PgPool;

/// Most messages one drain transaction claims (the reply holds them all: a drain
/// loops until a chunk comes back short).
pub(super) const DRAIN_CHUNK: i64 = 1000;

/// The cursor of `$1`: every message to them with id at most this was delivered.
macro_rules! cursor {
    () => {
        "COALESCE((SELECT delivered_up_to FROM inbox_cursors WHERE username = $1), 0)"
    };
}

/// Whether `$1` has anything undelivered: one probe of `inbox_cursors`' key and one
/// of `messages_by_recipient`.
pub(super) const PROBE: &str = concat!(
    "SELECT EXISTS (SELECT 1 FROM messages WHERE recipient = $1 AND id > ",
    cursor!(),
    ")"
);

/// Undelivered messages of `$1`, counted up to `$2`: cost bounded by `$2`.
pub(super) const COUNT: &str = concat!(
    "SELECT COUNT(*) FROM (SELECT 1 FROM messages WHERE recipient = $1 AND id > ",
    cursor!(),
    " LIMIT $2) AS waiting"
);

/// Moves `$1`'s cursor up to `$2` (a `sync` that names `after_id` has everything up
/// to it), but never past the newest message visible now (a client's cursor from
/// the future must not swallow messages not yet sent) and never back; returns how
/// many undelivered messages that marked. Writes nothing when the cursor is already
/// there (the common case: one read-only statement).
pub(super) const ACKNOWLEDGE: &str = concat!(
    "WITH old AS MATERIALIZED (SELECT ",
    cursor!(),
    " AS upto), \
     new AS MATERIALIZED (SELECT LEAST($2, (SELECT COALESCE(max(id), 0) FROM messages WHERE recipient = $1)) AS upto), \
     moved AS ( \
         INSERT INTO inbox_cursors AS c (username, delivered_up_to) \
         SELECT $1, new.upto FROM new, old WHERE new.upto > old.upto \
         ON CONFLICT (username) DO UPDATE SET delivered_up_to = excluded.delivered_up_to \
         WHERE c.delivered_up_to < excluded.delivered_up_to) \
     SELECT COUNT(*) FROM messages, old, new \
     WHERE recipient = $1 AND id > old.upto AND id <= new.upto"
);

/// The per-recipient drain lock, `$1` the recipient (two-key form: a space of its
/// own beside the insert-order lock; hash collisions only make two recipients
/// queue behind each other).
const LOCK: &str = "SELECT pg_advisory_xact_lock(hashtext('chat-server inbox ' || current_schema()), hashtext($1))";

/// Claims `$1`'s next `$2` undelivered messages: reads them above the cursor, moves
/// the cursor to the last one, returns them oldest first.
const CLAIM: &str = concat!(
    "WITH batch AS MATERIALIZED ( \
         SELECT id, sender, recipient, sender_display, recipient_display, body, ts_ms FROM messages \
         WHERE recipient = $1 AND id > ",
    cursor!(),
    " ORDER BY id LIMIT $2), \
     moved AS ( \
         INSERT INTO inbox_cursors AS c (username, delivered_up_to) \
         SELECT $1, max(id) FROM batch HAVING count(*) > 0 \
         ON CONFLICT (username) DO UPDATE SET delivered_up_to = excluded.delivered_up_to \
         WHERE c.delivered_up_to < excluded.delivered_up_to) \
     SELECT id, sender, recipient, sender_display, recipient_display, body, ts_ms FROM batch ORDER BY id"
);

/// Claims the next chunk (at most [`DRAIN_CHUNK`]) of `username`'s inbox in one
/// transaction: the recipient's lock first, then [`CLAIM`] with a snapshot taken
/// after it (so it reads the cursor the previous holder committed).
pub(super) async fn claim_chunk(
    pool: &PgPool,
    username: &str,
) -> Result<Vec<StoredMessage>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query(LOCK).bind(username).execute(&mut *tx).await?;
    let rows = sqlx::query(CLAIM)
        .bind(username)
        .bind(DRAIN_CHUNK)
        .fetch_all(&mut *tx)
        .await?;
    let messages = rows
        .iter()
        .map(message_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    tx.commit().await?;
    Ok(messages)
}
