//! The answer to `sync`, the long poll that drains nothing.
//!
//! ```text
//! {"status": "OK", "messages": [{"id": 8, "ts": "2026-12-01T09:00:00.000Z", "from": "lineker",
//!   "to": "messi", "msg": "hi", "from_display": "Gary Lineker", "to_display": "Lionel Messi"}],
//!  "next": 8, "more": false}
//! ... , "online": ["lineker", "messi"]}            presence asked, first answer on a connection
//! ... , "came": ["arini"], "left": ["lineker"]}   presence asked, who-is-on changed since
//! ... , "read": {"lineker": 8}}                     presence asked, read markers changed since
//! ```
//!
//! Read markers (the `read` command) ride on presence: a sync that asks for presence
//! gets, in its connection's first answer, every read marker of the user, and later
//! only those set since the connection's previous answer.
//!
//! `messages` are every message the user sent or received with an id above the
//! request's `after_id`, oldest first, at most one page; `more` says whether another
//! page follows at once; `next` is the `after_id` of the next request (the last id
//! given, or the request's own cursor when none is).

use serde::{Deserialize, Serialize};

/// Most messages in one `sync` answer; `"more": true` says when there are more.
pub const SYNC_PAGE: usize = 200;

/// The extensions a server speaks, listed in its `auth`/`login` answer as
/// `"features"`, so a client knows before it tries. Old clients ignore the field.
pub const FEATURES: &[&str] = &["history", "presence", "read", "sync"];

/// One message of a `sync` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncEntry {
    /// Message id: unique, increasing, and the cursor's unit.
    pub id: i64,
    /// Send time, RFC 3339 UTC with milliseconds.
    pub ts: String,
    /// Sender's username.
    pub from: String,
    /// Recipient's username.
    pub to: String,
    /// The text as typed.
    pub msg: String,
    /// Sender's display name at send time.
    pub from_display: String,
    /// Recipient's display name at send time.
    pub to_display: String,
}

/// Who-is-on in a `sync` answer, for a request that asked for presence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PresenceUpdate {
    /// The whole list (`"online"`): the connection's first presence answer, or one
    /// that fell too far behind for a change list.
    Online(Vec<String>),
    /// What changed since the connection's previous presence answer (`"came"`,
    /// `"left"`); both sorted.
    Changed {
        /// Users now online who were not.
        came: Vec<String>,
        /// Users no longer online.
        left: Vec<String>,
    },
}

/// A `sync` answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncAnswer {
    /// Oldest first, at most [`SYNC_PAGE`].
    pub messages: Vec<SyncEntry>,
    /// The cursor for the next request.
    pub next: i64,
    /// Whether more messages follow this page right away.
    pub more: bool,
    /// Presence, when asked for and there is something to say.
    pub presence: Option<PresenceUpdate>,
    /// Read markers (peer, newest message read) set since the connection's previous
    /// answer, or all of them in its first; only with presence. Omitted when empty.
    pub read: Vec<(String, i64)>,
}

/// The `sync` fields of a reply, as a client reads them (see `Reply::sync`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncView {
    /// The messages, oldest first.
    pub messages: Vec<SyncEntry>,
    /// The cursor for the next request.
    pub next: i64,
    /// Whether another page follows.
    pub more: bool,
    /// The whole who-is-on list, when the answer carries it.
    pub online: Option<Vec<String>>,
    /// Users who came online since the previous answer.
    pub came: Vec<String>,
    /// Users who left since the previous answer.
    pub left: Vec<String>,
    /// Read markers that changed: peer to the newest message id read there.
    pub read: std::collections::BTreeMap<String, i64>,
}
