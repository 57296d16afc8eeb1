//! The messages between the UI and the worker: [`Job`]s in, [`Update`]s out.

use std::collections::BTreeMap;

use chat_protocol::{HistoryEntry, InboxGroup, SyncEntry};

use super::Credentials;
use crate::reconnect::LinkState;

/// What the UI asks of the worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Job {
    /// Log in (from the login view).
    Login(Credentials),
    /// Send a message; `local_id` comes back in the answer.
    Send {
        /// The UI's id of the echoed message.
        local_id: u64,
        /// Recipient's username.
        to: String,
        /// The text.
        text: String,
    },
    /// Poll the inbox now (the user typed `inbox`).
    PollNow,
    /// Ask who is on now (the user typed `user_aktif`).
    Users,
    /// Load the conversation with a peer (the newest page, or the page before
    /// `before_id` when scrolling back).
    History {
        /// The peer's username.
        peer: String,
        /// Only messages older than this id.
        before_id: Option<i64>,
    },
    /// The user has read the conversation with `peer` up to message `id` (servers
    /// with the `read` feature keep it for every device).
    Read {
        /// The peer's username.
        peer: String,
        /// The newest message read.
        id: i64,
    },
    /// Log out and stop.
    Logout,
}

/// What the worker tells the UI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update {
    /// The connection changed state.
    Link(LinkState),
    /// Logged in (also after each reconnect).
    LoggedIn {
        /// Account name.
        username: String,
        /// Display name, when the server says it.
        display_name: Option<String>,
        /// The server speaks `sync`: messages arrive as they are sent, and `read`
        /// markers are kept on the server.
        live: bool,
    },
    /// What the last run remembered (at the first login, before `LoggedIn`).
    Restored {
        /// The state file, to write back to.
        path: std::path::PathBuf,
        /// Its contents.
        state: crate::state::SavedState,
    },
    /// New messages the user sent or received (from any device), oldest first, and
    /// read markers that changed (peer to the newest id read).
    Synced {
        /// The messages, in id order.
        messages: Vec<SyncEntry>,
        /// Read markers.
        read: BTreeMap<String, i64>,
        /// The cursor after them (the newest id seen).
        next: i64,
    },
    /// The server refused the credentials; the UI should ask again.
    LoginRejected(String),
    /// A poll succeeded; these messages were drained (maybe none).
    Inbox {
        /// The drained messages, grouped by sender.
        groups: Vec<InboxGroup>,
        /// Whether the user asked for this poll.
        asked: bool,
    },
    /// Who is on.
    Users {
        /// Usernames.
        users: Vec<String>,
        /// Whether the user asked.
        asked: bool,
    },
    /// The server has no `user_aktif`.
    UsersUnsupported(String),
    /// A message was stored by the server.
    Sent {
        /// The UI's id of the message.
        local_id: u64,
        /// The server's id, when it gives one.
        id: Option<i64>,
        /// The server's timestamp, when it gives one.
        ts: Option<String>,
    },
    /// A message was refused (e.g. unknown recipient).
    SendFailed {
        /// The UI's id of the message.
        local_id: u64,
        /// The server's reason.
        reason: String,
    },
    /// A conversation's stored messages.
    History {
        /// The peer.
        peer: String,
        /// Oldest first.
        entries: Vec<HistoryEntry>,
        /// The request's `before_id` (a page further back).
        before_id: Option<i64>,
        /// Whether the server had fewer than asked for (nothing older is left).
        complete: bool,
    },
    /// The server has no `history`.
    HistoryUnsupported(String),
    /// `history` was refused for this peer (e.g. `unknown user: bob`); the
    /// command exists, so later conversations still ask.
    HistoryFailed {
        /// The peer asked about.
        peer: String,
        /// The server's reason.
        reason: String,
    },
    /// Something the user should read.
    Error(String),
    /// The worker has logged out and ended.
    Stopped,
}
