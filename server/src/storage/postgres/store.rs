//! The [`Store`] calls of [`PostgresStore`]: one SQL statement each.

use super::super::{
    NewMessage, ReadMarkers, Session, Store, StoreError, StoreResult, StoredMessage, User, Wakeups,
};
use super::append::{Append, insert_one};
use super::{PostgresStore, inbox, read_markers};
use sqlx::Row;
use sqlx::postgres::PgRow;
use tokio::sync::oneshot;

/// The most a stored `last_seen` lags the true one (see the module docs of [`super`]).
const MAX_TOUCH_LAG_MS: i64 = 60_000;

/// The two usernames of a conversation, smaller first (byte order).
pub(super) fn pair<'a>(a: &'a str, b: &'a str) -> (&'a str, &'a str) {
    if a <= b { (a, b) } else { (b, a) }
}

/// How far `last_seen` may move before it is written (see the module docs of [`super`]).
pub(super) fn write_threshold(ttl_ms: i64) -> i64 {
    (ttl_ms / 10).clamp(0, MAX_TOUCH_LAG_MS)
}

pub(super) fn message_from_row(row: &PgRow) -> Result<StoredMessage, sqlx::Error> {
    let body: Vec<u8> = row.try_get(5)?;
    Ok(StoredMessage {
        id: row.try_get(0)?,
        from: row.try_get(1)?,
        to: row.try_get(2)?,
        from_display: row.try_get(3)?,
        to_display: row.try_get(4)?,
        text: String::from_utf8(body).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        ts_ms: row.try_get(6)?,
    })
}

fn user_from_row(row: &PgRow) -> Result<User, sqlx::Error> {
    Ok(User {
        username: row.try_get(0)?,
        display_name: row.try_get(1)?,
        country: row.try_get(2)?,
        password_hash: row.try_get(3)?,
    })
}

impl Store for PostgresStore {
    async fn user(&self, username: &str) -> StoreResult<Option<User>> {
        self.timed("reading a user", async {
            let row = sqlx::query("SELECT username, display_name, country, password_hash FROM users WHERE username = $1")
                .bind(username)
                .fetch_optional(&self.inner.pool)
                .await?;
            row.as_ref().map(user_from_row).transpose()
        })
        .await
    }

    async fn create_user(&self, user: &User) -> StoreResult<()> {
        let done = self
            .timed(
                "creating a user",
                sqlx::query(
                    "INSERT INTO users (username, display_name, country, password_hash) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (username) DO NOTHING",
                )
                .bind(&user.username)
                .bind(&user.display_name)
                .bind(&user.country)
                .bind(&user.password_hash)
                .execute(&self.inner.pool),
            )
            .await?;
        match done.rows_affected() {
            1 => Ok(()),
            _ => Err(StoreError::UserExists(user.username.clone())),
        }
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        self.timed("listing users", async {
            let rows = sqlx::query("SELECT username, display_name, country, password_hash FROM users ORDER BY username")
                .fetch_all(&self.inner.pool)
                .await?;
            rows.iter().map(user_from_row).collect()
        })
        .await
    }

    async fn remove_user(&self, username: &str) -> StoreResult<bool> {
        // One statement, so the account and its sessions go together.
        let done = self
            .timed(
                "removing a user",
                sqlx::query(
                    "WITH ended AS (DELETE FROM sessions WHERE username = $1) DELETE FROM users WHERE username = $1",
                )
                .bind(username)
                .execute(&self.inner.pool),
            )
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn set_password_hash(&self, username: &str, hash: &str) -> StoreResult<bool> {
        let done = self
            .timed(
                "changing a password",
                sqlx::query("UPDATE users SET password_hash = $1 WHERE username = $2")
                    .bind(hash)
                    .bind(username)
                    .execute(&self.inner.pool),
            )
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn create_session(&self, session: &Session) -> StoreResult<()> {
        self.timed(
            "creating a session",
            sqlx::query(
                "INSERT INTO sessions (token, username, last_seen_ms) VALUES ($1, $2, $3) \
                 ON CONFLICT (token) DO UPDATE SET username = excluded.username, last_seen_ms = excluded.last_seen_ms",
            )
            .bind(&session.token)
            .bind(&session.username)
            .bind(session.last_seen_ms)
            .execute(&self.inner.pool),
        )
        .await?;
        Ok(())
    }

    async fn touch_session(
        &self,
        token: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> StoreResult<Option<String>> {
        // One round trip. The UPDATE and the DELETE match disjoint rows (live and
        // moved enough / expired) and usually none at all, in which case the
        // statement writes nothing. All three parts see the same snapshot, so
        // `found` is the session as it was before this call.
        let row: Option<(String, i64)> = self
            .timed(
                "reading a session",
                sqlx::query_as(
                    "WITH found AS (SELECT username, last_seen_ms FROM sessions WHERE token = $1), \
                     moved AS (UPDATE sessions SET last_seen_ms = $2 \
                               WHERE token = $1 AND last_seen_ms > $2 - $3 AND last_seen_ms <= $2 - $4), \
                     expired AS (DELETE FROM sessions WHERE token = $1 AND last_seen_ms <= $2 - $3) \
                     SELECT username, last_seen_ms FROM found",
                )
                .bind(token)
                .bind(now_ms)
                .bind(ttl_ms)
                .bind(write_threshold(ttl_ms))
                .fetch_optional(&self.inner.pool),
            )
            .await?;
        Ok(row
            .filter(|(_, last_seen)| now_ms - last_seen < ttl_ms)
            .map(|(username, _)| username))
    }

    async fn delete_session(&self, token: &str) -> StoreResult<bool> {
        let done = self
            .timed(
                "ending a session",
                sqlx::query("DELETE FROM sessions WHERE token = $1")
                    .bind(token)
                    .execute(&self.inner.pool),
            )
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn active_users(&self, now_ms: i64, ttl_ms: i64) -> StoreResult<Vec<String>> {
        self.timed(
            "listing sessions",
            sqlx::query_scalar(
                "SELECT DISTINCT username FROM sessions WHERE last_seen_ms > $1 ORDER BY username",
            )
            .bind(now_ms - ttl_ms)
            .fetch_all(&self.inner.pool),
        )
        .await
    }

    async fn purge_sessions(&self, now_ms: i64, ttl_ms: i64) -> StoreResult<u64> {
        let done = self
            .timed(
                "removing expired sessions",
                sqlx::query("DELETE FROM sessions WHERE last_seen_ms <= $1")
                    .bind(now_ms - ttl_ms)
                    .execute(&self.inner.pool),
            )
            .await?;
        Ok(done.rows_affected())
    }

    async fn append_message(&self, message: NewMessage) -> StoreResult<StoredMessage> {
        let id = match &self.inner.appends {
            Some(appends) => {
                let (reply, answer) = oneshot::channel();
                let job = Append {
                    message: message.clone(),
                    reply,
                };
                let queued = async {
                    appends.send(job).await.map_err(|_| ())?;
                    answer.await.map_err(|_| ())
                };
                match tokio::time::timeout(self.inner.op_timeout, queued).await {
                    Ok(Ok(result)) => result?,
                    Ok(Err(())) => {
                        return Err(StoreError::Unavailable(
                            "storing a message: the appenders have stopped".into(),
                        ));
                    }
                    Err(_) => {
                        return Err(StoreError::Unavailable(format!(
                            "storing a message: no answer from PostgreSQL within {:?}",
                            self.inner.op_timeout
                        )));
                    }
                }
            }
            None => {
                self.timed(
                    "storing a message",
                    insert_one(&self.inner.pool, &message, self.inner.node),
                )
                .await?
            }
        };
        self.inner.wakeups.wake(&message.from);
        self.inner.wakeups.wake(&message.to);
        Ok(message.stored(id))
    }

    async fn sync(
        &self,
        username: &str,
        after_id: i64,
        limit: u32,
    ) -> StoreResult<Vec<StoredMessage>> {
        // Two bounded range scans (messages_by_recipient, messages_by_sender), each
        // stopping after `limit` rows: the cost follows the page, not the history.
        // Ids are visible in commit order, so nothing above `after_id` commits later
        // below what this returns.
        self.timed("reading messages to sync", async {
            let rows = sqlx::query(
                "SELECT * FROM ( \
                   (SELECT id, sender, recipient, sender_display, recipient_display, body, ts_ms FROM messages \
                    WHERE recipient = $1 AND id > $2 ORDER BY id LIMIT $3) \
                   UNION ALL \
                   (SELECT id, sender, recipient, sender_display, recipient_display, body, ts_ms FROM messages \
                    WHERE sender = $1 AND recipient <> $1 AND id > $2 ORDER BY id LIMIT $3)) AS mine \
                 ORDER BY id LIMIT $3",
            )
            .bind(username)
            .bind(after_id)
            .bind(i64::from(limit))
            .fetch_all(&self.inner.pool)
            .await?;
            rows.iter().map(message_from_row).collect::<Result<Vec<_>, _>>()
        })
        .await
    }

    async fn acknowledge(&self, username: &str, up_to_id: i64) -> StoreResult<u64> {
        let marked: i64 = self
            .timed(
                "acknowledging messages",
                sqlx::query_scalar(inbox::ACKNOWLEDGE)
                    .bind(username)
                    .bind(up_to_id)
                    .fetch_one(&self.inner.pool),
            )
            .await?;
        Ok(u64::try_from(marked).unwrap_or(0))
    }

    fn wakeups(&self) -> &Wakeups {
        &self.inner.wakeups
    }

    async fn set_read_marker(
        &self,
        username: &str,
        peer: &str,
        message_id: i64,
    ) -> StoreResult<bool> {
        let q = sqlx::query_scalar::<_, i64>(read_markers::SET)
            .bind(username)
            .bind(peer)
            .bind(message_id)
            .bind(super::notify::payload(self.inner.node, [username]));
        let moved = self
            .timed("setting a read marker", q.fetch_optional(&self.inner.pool))
            .await?
            .is_some();
        if moved {
            self.inner.wakeups.wake(username);
        }
        Ok(moved)
    }

    async fn read_markers(&self, username: &str, since: i64) -> StoreResult<ReadMarkers> {
        let q = sqlx::query_as::<_, (String, i64, i64)>(read_markers::SINCE)
            .bind(username)
            .bind(since);
        let rows = self
            .timed("reading read markers", q.fetch_all(&self.inner.pool))
            .await?;
        Ok(super::super::read_markers_from(rows, since))
    }

    async fn undelivered_count(&self, username: &str, cap: u64) -> StoreResult<u64> {
        let count: i64 = self
            .timed(
                "counting an inbox",
                sqlx::query_scalar(inbox::COUNT)
                    .bind(username)
                    .bind(i64::try_from(cap).unwrap_or(i64::MAX))
                    .fetch_one(&self.inner.pool),
            )
            .await?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn drain_inbox(&self, username: &str) -> StoreResult<Vec<StoredMessage>> {
        // See `inbox.rs`: a read-only probe, then chunks under the recipient's lock.
        let waiting: bool = self
            .timed(
                "reading an inbox",
                sqlx::query_scalar(inbox::PROBE)
                    .bind(username)
                    .fetch_one(&self.inner.pool),
            )
            .await?;
        let mut messages = Vec::new();
        if !waiting {
            return Ok(messages);
        }
        loop {
            match self
                .timed(
                    "draining an inbox",
                    inbox::claim_chunk(&self.inner.pool, username),
                )
                .await
            {
                Ok(chunk) => {
                    let last =
                        usize::try_from(inbox::DRAIN_CHUNK).map_or(true, |full| chunk.len() < full);
                    messages.extend(chunk);
                    if last {
                        return Ok(messages);
                    }
                }
                Err(e) if messages.is_empty() => return Err(e),
                // Earlier chunks are committed as delivered: hand them out; the rest
                // stays for the next drain.
                Err(e) => {
                    tracing::warn!(error = %e, delivered = messages.len(), "an inbox drain stopped early");
                    return Ok(messages);
                }
            }
        }
    }

    async fn history(
        &self,
        a: &str,
        b: &str,
        limit: u32,
        before_id: Option<i64>,
    ) -> StoreResult<Vec<StoredMessage>> {
        let (lo, hi) = pair(a, b);
        let mut messages = self
            .timed("reading history", async {
                let rows = sqlx::query(
                    "SELECT id, sender, recipient, sender_display, recipient_display, body, ts_ms FROM messages \
                     WHERE pair_lo = $1 AND pair_hi = $2 AND id < $3 ORDER BY id DESC LIMIT $4",
                )
                .bind(lo)
                .bind(hi)
                .bind(before_id.unwrap_or(i64::MAX))
                .bind(i64::from(limit))
                .fetch_all(&self.inner.pool)
                .await?;
                rows.iter().map(message_from_row).collect::<Result<Vec<_>, _>>()
            })
            .await?;
        messages.reverse();
        Ok(messages)
    }
}
