//! Storage: accounts, sessions and messages behind one trait, [`Store`].
//!
//! The server is generic over the store, so a backend is chosen once at start
//! (`--db`) and every call is a direct, unboxed call. Every backend must pass the
//! same suite of tests (`storage::tests`), which is what "the same semantics" means.
//!
//! Times are Unix milliseconds (`i64`), taken by the caller, so a backend never reads
//! a clock and tests can choose any time they need.

pub mod memory;
pub mod open;
pub mod postgres;
pub mod sqlite;
pub mod wakeups;

use std::future::Future;
use thiserror::Error;

pub use memory::MemoryStore;
pub use wakeups::{Listener, Wakeups};

/// An account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Unique account name (the protocol's `username`).
    pub username: String,
    /// Name shown to others (the course's `nama`).
    pub display_name: String,
    /// The course's `negara`; optional.
    pub country: Option<String>,
    /// PHC string of an argon2id hash; never the password itself.
    pub password_hash: String,
}

/// A live session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The key of the bearer token (`session::token_key`): the token itself is never stored.
    pub token: String,
    /// Whose session it is.
    pub username: String,
    /// Time of the last request made with it, Unix ms.
    pub last_seen_ms: i64,
}

/// A message to store. Display names are captured at send time, as the course's
/// server does, so the inbox shows who sent it even if the account changes later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// Sender's username.
    pub from: String,
    /// Recipient's username.
    pub to: String,
    /// Sender's display name.
    pub from_display: String,
    /// Recipient's display name.
    pub to_display: String,
    /// The text.
    pub text: String,
    /// Send time, Unix ms.
    pub ts_ms: i64,
}

impl NewMessage {
    /// This message, stored under `id`.
    pub fn stored(self, id: i64) -> StoredMessage {
        StoredMessage {
            id,
            from: self.from,
            to: self.to,
            from_display: self.from_display,
            to_display: self.to_display,
            text: self.text,
            ts_ms: self.ts_ms,
        }
    }
}

/// A stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// Unique, increasing id.
    pub id: i64,
    /// Sender's username.
    pub from: String,
    /// Recipient's username.
    pub to: String,
    /// Sender's display name at send time.
    pub from_display: String,
    /// Recipient's display name at send time.
    pub to_display: String,
    /// The text.
    pub text: String,
    /// Send time, Unix ms.
    pub ts_ms: i64,
}

/// What a store can fail with.
#[derive(Debug, Error)]
pub enum StoreError {
    /// `create_user` for a name that exists.
    #[error("user already exists: {0}")]
    UserExists(String),
    /// The backend cannot be reached or failed; the request gets `storage unavailable`.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
}

/// Read markers of one user, as [`Store::read_markers`] returns them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReadMarkers {
    /// (peer, newest message id read), sorted by peer.
    pub markers: Vec<(String, i64)>,
    /// The newest version among them (the request's `since` when there are none):
    /// versions grow with every marker that moves, per user.
    pub version: i64,
}

/// [`ReadMarkers`] from (peer, message id, version) rows.
pub(crate) fn read_markers_from(rows: Vec<(String, i64, i64)>, since: i64) -> ReadMarkers {
    let version = rows.iter().map(|r| r.2).max().unwrap_or(since).max(since);
    ReadMarkers {
        markers: rows.into_iter().map(|(peer, id, _)| (peer, id)).collect(),
        version,
    }
}

/// Result of a store call.
pub type StoreResult<T> = Result<T, StoreError>;

/// Accounts, sessions and messages. Implementations are cheap to clone handles.
///
/// Semantics every backend keeps:
/// - `append_message` returns only once the message is durable (for durable backends),
///   with an id greater than any earlier one.
/// - Ids become visible in id order: once a reader sees id `n`, no message with an id
///   below `n` commits later. So a `sync` cursor never skips a message.
/// - After a message commits, the store wakes its sender and recipient in
///   [`Store::wakeups`].
/// - `drain_inbox` atomically claims the recipient's undelivered messages, oldest first:
///   concurrent drains never both get a message, and none is skipped. Drained messages
///   stay available to `history`.
/// - A session is live while `now - last_seen < ttl`; `touch_session` of a live session
///   moves `last_seen` forward, of an expired one removes it.
pub trait Store: Clone + Send + Sync + 'static {
    /// The account named `username`.
    fn user(&self, username: &str) -> impl Future<Output = StoreResult<Option<User>>> + Send;
    /// Creates an account; `UserExists` if the name is taken.
    fn create_user(&self, user: &User) -> impl Future<Output = StoreResult<()>> + Send;
    /// Every account, sorted by username.
    fn list_users(&self) -> impl Future<Output = StoreResult<Vec<User>>> + Send;
    /// Removes an account and its sessions; false if there was none.
    fn remove_user(&self, username: &str) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Replaces an account's password hash; false if there is no such account.
    fn set_password_hash(
        &self,
        username: &str,
        hash: &str,
    ) -> impl Future<Output = StoreResult<bool>> + Send;

    /// Stores a new session.
    fn create_session(&self, session: &Session) -> impl Future<Output = StoreResult<()>> + Send;
    /// The username of a live session, after moving its `last_seen` to `now_ms`;
    /// `None` for an unknown or expired token.
    fn touch_session(
        &self,
        token: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> impl Future<Output = StoreResult<Option<String>>> + Send;
    /// Ends a session; false if it did not exist.
    fn delete_session(&self, token: &str) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Usernames holding at least one live session, each once, sorted.
    fn active_users(
        &self,
        now_ms: i64,
        ttl_ms: i64,
    ) -> impl Future<Output = StoreResult<Vec<String>>> + Send;
    /// Removes expired sessions; returns how many.
    fn purge_sessions(
        &self,
        now_ms: i64,
        ttl_ms: i64,
    ) -> impl Future<Output = StoreResult<u64>> + Send;

    /// Stores a message for its recipient; returns it with its id.
    fn append_message(
        &self,
        message: NewMessage,
    ) -> impl Future<Output = StoreResult<StoredMessage>> + Send;
    /// Claims every undelivered message of `username`, oldest first.
    fn drain_inbox(
        &self,
        username: &str,
    ) -> impl Future<Output = StoreResult<Vec<StoredMessage>>> + Send;
    /// How many messages wait undelivered for `username`, counting no further than
    /// `cap` (the inbox limit's measure: its cost stays bounded by the limit).
    fn undelivered_count(
        &self,
        username: &str,
        cap: u64,
    ) -> impl Future<Output = StoreResult<u64>> + Send;
    /// Every message `username` sent or received with an id above `after_id`, oldest
    /// first, at most `limit` of them. Drains nothing.
    fn sync(
        &self,
        username: &str,
        after_id: i64,
        limit: u32,
    ) -> impl Future<Output = StoreResult<Vec<StoredMessage>>> + Send;
    /// Marks `username`'s undelivered received messages with an id up to `up_to_id`
    /// delivered, as a drain would (a client that read them through `sync` has them);
    /// returns how many it marked.
    fn acknowledge(
        &self,
        username: &str,
        up_to_id: i64,
    ) -> impl Future<Output = StoreResult<u64>> + Send;
    /// The waiting `sync` requests this store wakes after each commit.
    fn wakeups(&self) -> &Wakeups;
    /// Moves `username`'s read marker of the conversation with `peer` to
    /// `message_id`, unless it is there or further already (a marker never moves
    /// back). True when it moved; the store then wakes `username`'s waiting syncs,
    /// after the change is durable, so every client of the user learns it.
    fn set_read_marker(
        &self,
        username: &str,
        peer: &str,
        message_id: i64,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    /// `username`'s read markers set after version `since` (0: all of them), and
    /// the version to ask after next time.
    fn read_markers(
        &self,
        username: &str,
        since: i64,
    ) -> impl Future<Output = StoreResult<ReadMarkers>> + Send;
    /// Messages between `a` and `b` (both directions) with id below `before_id`:
    /// the newest `limit` of them, returned oldest first. Drains nothing.
    fn history(
        &self,
        a: &str,
        b: &str,
        limit: u32,
        before_id: Option<i64>,
    ) -> impl Future<Output = StoreResult<Vec<StoredMessage>>> + Send;
}

#[cfg(test)]
pub mod tests;
