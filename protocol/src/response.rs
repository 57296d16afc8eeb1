//! Responses: [`Response`] is what the server writes, [`Reply`] what a client reads.
//!
//! ```text
//! {"status": "OK", "tokenid": "<uuid>", "tokenId": "<uuid>", "username": "messi", "display_name": "Lionel Messi"}
//! {"status": "OK", "message": "Message Sent", "id": 7, "ts": "2026-11-22T02:13:22.123Z"}
//! {"status": "OK", "messages": {"lineker": [{"msg_from": "Gary Lineker", "msg_to": "Lionel Messi", "msg": "hi", "id": 7, "ts": "..."}]}}
//! {"status": "OK", "message": "lineker, messi, ", "users": ["lineker", "messi"]}
//! {"status": "OK", "message": "logout success"}
//! {"status": "ERROR", "message": "invalid or expired token"}
//! ```
//!
//! The course's fields come first and keep their meaning; everything after them is an
//! extension that old clients ignore. Each response is followed by `\r\n\r\n`.

use crate::error::FrameError;
use crate::frame::RESPONSE_TERMINATOR;
use crate::json::write_python_json;
use crate::sync::{FEATURES, PresenceUpdate, SyncAnswer, SyncEntry, SyncView};
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

/// `OK` or `ERROR`, the first field of every response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    /// The request succeeded.
    #[serde(rename = "OK")]
    Ok,
    /// The request failed; `message` says why.
    #[serde(rename = "ERROR")]
    Error,
}

/// A successful login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginInfo {
    /// The new session's token.
    pub token: String,
    /// Account name.
    pub username: String,
    /// The account's display name (`nama`).
    pub display_name: String,
}

/// One message in an inbox response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxMessage {
    /// Sender's display name.
    pub msg_from: String,
    /// Recipient's display name.
    pub msg_to: String,
    /// The text as typed.
    pub msg: String,
    /// Unique, increasing message id (absent from the course's server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    /// Send time, RFC 3339 UTC (absent from the course's server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts: Option<String>,
}

/// The messages of one sender, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxGroup {
    /// Sender's username: the key of the group in the JSON object.
    pub sender: String,
    /// The messages.
    pub messages: Vec<InboxMessage>,
}

/// One message of a `history` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// Message id.
    pub id: i64,
    /// Send time, RFC 3339 UTC.
    pub ts: String,
    /// Sender's username.
    pub from: String,
    /// Recipient's username.
    pub to: String,
    /// The text.
    pub msg: String,
}

/// Who holds a live session: usernames, each once, sorted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ActiveUsers(pub Vec<String>);

impl ActiveUsers {
    /// The course's rendering: each name followed by `", "`.
    pub fn course_text(&self) -> String {
        self.0.iter().map(|u| format!("{u}, ")).collect()
    }
}

/// A response as the server writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// Answer to `auth`/`login`.
    LoggedIn(LoginInfo),
    /// Answer to `send`/`chat`: the message is stored.
    Sent {
        /// The stored message's id.
        id: i64,
        /// Its send time, RFC 3339 UTC.
        ts: String,
    },
    /// Answer to `inbox`/`kotakmasuk`: groups ordered by their oldest message.
    Inbox(Vec<InboxGroup>),
    /// Answer to `user_aktif`/`user_on`.
    ActiveUsers(ActiveUsers),
    /// Answer to `logout`.
    LoggedOut,
    /// Answer to `register`.
    Registered {
        /// The new account's name.
        username: String,
        /// Its display name.
        display_name: String,
    },
    /// Answer to `history`: oldest first.
    History {
        /// The other party.
        peer: String,
        /// The messages.
        messages: Vec<HistoryEntry>,
    },
    /// Answer to `sync` (boxed: a connection holds a `Response` while it writes it,
    /// and every connection's task is sized for the largest variant).
    Sync(Box<SyncAnswer>),
    /// Answer to `read`: the marker is stored (or was already further on).
    ReadMarked,
    /// Answer to `ping`.
    Pong,
    /// Any failure, with a precise reason.
    Error(String),
}

impl Response {
    /// An error response.
    pub fn error(reason: impl Into<String>) -> Self {
        Response::Error(reason.into())
    }

    /// Appends the JSON and the `\r\n\r\n` terminator to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        if write_python_json(out, self).is_err() {
            // Serializing plain strings and numbers cannot fail; stay well-formed anyway.
            out.extend_from_slice(br#"{"status": "ERROR", "message": "internal error"}"#);
        }
        out.extend_from_slice(RESPONSE_TERMINATOR);
    }

    /// The response as it goes on the wire.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        self.write_to(&mut out);
        out
    }
}

/// Serializes the groups as one JSON object keyed by sender, in order.
struct Groups<'a>(&'a [InboxGroup]);

impl Serialize for Groups<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for g in self.0 {
            map.serialize_entry(&g.sender, &g.messages)?;
        }
        map.end()
    }
}

/// Serializes read markers as one JSON object, peer to message id.
struct ReadMarkers<'a>(&'a [(String, i64)]);

impl Serialize for ReadMarkers<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (peer, id) in self.0 {
            map.serialize_entry(peer, id)?;
        }
        map.end()
    }
}

impl Serialize for Response {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        let status = if matches!(self, Response::Error(_)) {
            Status::Error
        } else {
            Status::Ok
        };
        map.serialize_entry("status", &status)?;
        match self {
            Response::LoggedIn(info) => {
                map.serialize_entry("tokenid", &info.token)?;
                map.serialize_entry("tokenId", &info.token)?;
                map.serialize_entry("username", &info.username)?;
                map.serialize_entry("display_name", &info.display_name)?;
                map.serialize_entry("features", FEATURES)?;
            }
            Response::Sent { id, ts } => {
                map.serialize_entry("message", "Message Sent")?;
                map.serialize_entry("id", id)?;
                map.serialize_entry("ts", ts)?;
            }
            Response::Inbox(groups) => map.serialize_entry("messages", &Groups(groups))?,
            Response::ActiveUsers(users) => {
                map.serialize_entry("message", &users.course_text())?;
                map.serialize_entry("users", &users.0)?;
            }
            Response::LoggedOut => map.serialize_entry("message", "logout success")?,
            Response::Registered {
                username,
                display_name,
            } => {
                map.serialize_entry("message", "user registered")?;
                map.serialize_entry("username", username)?;
                map.serialize_entry("display_name", display_name)?;
            }
            Response::History { peer, messages } => {
                map.serialize_entry("peer", peer)?;
                map.serialize_entry("messages", messages)?;
            }
            Response::Sync(answer) => {
                map.serialize_entry("messages", &answer.messages)?;
                map.serialize_entry("next", &answer.next)?;
                map.serialize_entry("more", &answer.more)?;
                match &answer.presence {
                    None => {}
                    Some(PresenceUpdate::Online(users)) => map.serialize_entry("online", users)?,
                    Some(PresenceUpdate::Changed { came, left }) => {
                        map.serialize_entry("came", came)?;
                        map.serialize_entry("left", left)?;
                    }
                }
                if !answer.read.is_empty() {
                    map.serialize_entry("read", &ReadMarkers(&answer.read))?;
                }
            }
            Response::ReadMarked => map.serialize_entry("message", "read marker set")?,
            // Unchanged since the first version: load balancers match it byte for byte.
            Response::Pong => map.serialize_entry("message", "pong")?,
            Response::Error(reason) => map.serialize_entry("message", reason)?,
        }
        map.end()
    }
}

/// A response as a client reads it: every field optional, so it also reads the
/// course's own server (which lacks our extensions) and servers of both seeds.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Reply {
    /// `OK` or `ERROR`.
    pub status: Status,
    /// Text: confirmation, error reason, or the course's who-is-on list.
    #[serde(default)]
    pub message: Option<Value>,
    /// Login token as the course spells it.
    #[serde(default)]
    pub tokenid: Option<String>,
    /// Login token as seed 002's server spells it.
    #[serde(default, rename = "tokenId")]
    pub token_id: Option<String>,
    /// Account name, after login or registration.
    #[serde(default)]
    pub username: Option<String>,
    /// Display name, after login or registration.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Inbox (object keyed by sender) or history (array).
    #[serde(default)]
    pub messages: Option<Value>,
    /// Who-is-on as an array.
    #[serde(default)]
    pub users: Option<Vec<String>>,
    /// Peer of a history response.
    #[serde(default)]
    pub peer: Option<String>,
    /// Id of a sent message.
    #[serde(default)]
    pub id: Option<i64>,
    /// Time of a sent message.
    #[serde(default)]
    pub ts: Option<String>,
    /// Extensions the server speaks (login and ping answers); absent from the
    /// course's server.
    #[serde(default)]
    pub features: Option<Vec<String>>,
    /// `sync`: the cursor for the next request.
    #[serde(default)]
    pub next: Option<i64>,
    /// `sync`: whether another page follows.
    #[serde(default)]
    pub more: Option<bool>,
    /// `sync` with presence: the whole who-is-on list.
    #[serde(default)]
    pub online: Option<Vec<String>>,
    /// `sync` with presence: who came online since the previous answer.
    #[serde(default)]
    pub came: Option<Vec<String>>,
    /// `sync` with presence: who left since the previous answer.
    #[serde(default)]
    pub left: Option<Vec<String>>,
    /// `sync` with presence: read markers (peer to message id) that changed.
    #[serde(default)]
    pub read: Option<std::collections::BTreeMap<String, i64>>,
}

impl Reply {
    /// Parses one response body (without its `\r\n\r\n`).
    pub fn parse(body: &str) -> Result<Reply, FrameError> {
        serde_json::from_str(body).map_err(|e| FrameError::BadResponse(e.to_string()))
    }

    /// Whether the status is `OK`.
    pub fn is_ok(&self) -> bool {
        self.status == Status::Ok
    }

    /// The `message` field as text, whatever its JSON type.
    pub fn message_text(&self) -> Option<String> {
        match &self.message {
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => Some(other.to_string()),
            None => None,
        }
    }

    /// The login token, under either spelling.
    pub fn token(&self) -> Option<&str> {
        self.tokenid.as_deref().or(self.token_id.as_deref())
    }

    /// The inbox groups, in the order the server wrote them; empty groups dropped.
    /// The course server's messages (no `id`/`ts`) are read too.
    pub fn inbox(&self) -> Result<Vec<InboxGroup>, FrameError> {
        let Some(Value::Object(map)) = &self.messages else {
            return Ok(Vec::new());
        };
        let mut groups = Vec::with_capacity(map.len());
        for (sender, list) in map {
            let messages: Vec<InboxMessage> = serde_json::from_value(list.clone())
                .map_err(|e| FrameError::BadResponse(format!("inbox of {sender}: {e}")))?;
            if !messages.is_empty() {
                groups.push(InboxGroup {
                    sender: sender.clone(),
                    messages,
                });
            }
        }
        Ok(groups)
    }

    /// The history entries of a `history` response.
    pub fn history(&self) -> Result<Vec<HistoryEntry>, FrameError> {
        match &self.messages {
            Some(v @ Value::Array(_)) => serde_json::from_value(v.clone())
                .map_err(|e| FrameError::BadResponse(format!("history: {e}"))),
            _ => Ok(Vec::new()),
        }
    }

    /// Whether the server lists `feature` among its extensions (`"features"`).
    pub fn has_feature(&self, feature: &str) -> bool {
        self.features
            .as_ref()
            .is_some_and(|all| all.iter().any(|f| f == feature))
    }

    /// The fields of a `sync` answer; an error if it has no `next` or its messages
    /// are not `sync` entries.
    pub fn sync(&self) -> Result<SyncView, FrameError> {
        let next = self
            .next
            .ok_or_else(|| FrameError::BadResponse("sync answer without \"next\"".into()))?;
        let messages = match &self.messages {
            Some(v @ Value::Array(_)) => serde_json::from_value(v.clone())
                .map_err(|e| FrameError::BadResponse(format!("sync: {e}")))?,
            _ => Vec::<SyncEntry>::new(),
        };
        Ok(SyncView {
            messages,
            next,
            more: self.more.unwrap_or(false),
            online: self.online.clone(),
            came: self.came.clone().unwrap_or_default(),
            left: self.left.clone().unwrap_or_default(),
            read: self.read.clone().unwrap_or_default(),
        })
    }

    /// Who is on: the `users` array, or else the course's `"a, b, "` text.
    pub fn active_users(&self) -> Vec<String> {
        if let Some(users) = &self.users {
            return users.clone();
        }
        let text = self.message_text().unwrap_or_default();
        let mut users: Vec<String> = text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        users.sort();
        users.dedup();
        users
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(r: &Response) -> String {
        String::from_utf8(r.to_bytes()).unwrap()
    }

    fn msg(from: &str, to: &str, text: &str, id: i64) -> InboxMessage {
        InboxMessage {
            msg_from: from.into(),
            msg_to: to.into(),
            msg: text.into(),
            id: Some(id),
            ts: Some("2026-11-22T02:13:22.000Z".into()),
        }
    }

    #[test]
    fn course_fields_first_extensions_after() {
        let table = [
            (
                Response::LoggedIn(LoginInfo {
                    token: "t-1".into(),
                    username: "messi".into(),
                    display_name: "Lionel Messi".into(),
                }),
                r#"{"status": "OK", "tokenid": "t-1", "tokenId": "t-1", "username": "messi", "display_name": "Lionel Messi", "features": ["history", "presence", "read", "sync"]}"#,
            ),
            (
                Response::Sent {
                    id: 3,
                    ts: "2026-11-22T02:13:22.000Z".into(),
                },
                r#"{"status": "OK", "message": "Message Sent", "id": 3, "ts": "2026-11-22T02:13:22.000Z"}"#,
            ),
            (
                Response::ActiveUsers(ActiveUsers(vec!["arini".into(), "lineker".into()])),
                r#"{"status": "OK", "message": "arini, lineker, ", "users": ["arini", "lineker"]}"#,
            ),
            (
                Response::ActiveUsers(ActiveUsers::default()),
                r#"{"status": "OK", "message": "", "users": []}"#,
            ),
            (
                Response::LoggedOut,
                r#"{"status": "OK", "message": "logout success"}"#,
            ),
            (Response::Pong, r#"{"status": "OK", "message": "pong"}"#),
            (
                Response::error("invalid or expired token"),
                r#"{"status": "ERROR", "message": "invalid or expired token"}"#,
            ),
            (
                Response::Inbox(vec![]),
                r#"{"status": "OK", "messages": {}}"#,
            ),
        ];
        for (resp, json) in table {
            assert_eq!(wire(&resp), format!("{json}\r\n\r\n"));
        }
    }

    #[test]
    fn inbox_groups_keep_server_order_and_read_back() {
        let groups = vec![
            InboxGroup {
                sender: "lineker".into(),
                messages: vec![msg("Gary Lineker", "Lionel Messi", "piye kabare?", 1)],
            },
            InboxGroup {
                sender: "henderson".into(),
                messages: vec![
                    msg("Jordan Henderson", "Lionel Messi", "a", 2),
                    msg("Jordan Henderson", "Lionel Messi", "b 🙂", 3),
                ],
            },
        ];
        let text = wire(&Response::Inbox(groups.clone()));
        assert!(text.starts_with(r#"{"status": "OK", "messages": {"lineker": [{"msg_from": "Gary Lineker", "msg_to": "Lionel Messi", "msg": "piye kabare?", "id": 1, "ts": "#));
        let reply = Reply::parse(text.trim_end()).unwrap();
        assert!(reply.is_ok());
        let mut back = reply.inbox().unwrap();
        back.sort_by_key(|g| g.messages[0].id);
        assert_eq!(back, groups);
    }

    #[test]
    fn reads_the_course_servers_replies() {
        let r = Reply::parse(r#"{"status": "OK", "tokenId": "abc"}"#).unwrap();
        assert_eq!(r.token(), Some("abc"));
        let r = Reply::parse(r#"{"status": "OK", "message": "arini, lineker, "}"#).unwrap();
        assert_eq!(r.active_users(), vec!["arini", "lineker"]);
        let r = Reply::parse(
            r#"{"status": "OK", "messages": {"lineker": [{"msg_from": "Gary Lineker", "msg_to": "Arini", "msg": " piye kabare? \r\n"}], "messi": []}}"#,
        )
        .unwrap();
        let groups = r.inbox().unwrap();
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].messages[0].id, None);
        let r =
            Reply::parse(r#"{"status": "ERROR", "message": "Informasi tidak ditemukan"}"#).unwrap();
        assert!(!r.is_ok());
        assert_eq!(
            r.message_text().as_deref(),
            Some("Informasi tidak ditemukan")
        );
    }

    #[test]
    fn history_reads_back() {
        let entries = vec![HistoryEntry {
            id: 5,
            ts: "2026-11-22T02:13:22.000Z".into(),
            from: "messi".into(),
            to: "lineker".into(),
            msg: "halo".into(),
        }];
        let text = wire(&Response::History {
            peer: "lineker".into(),
            messages: entries.clone(),
        });
        let reply = Reply::parse(text.trim_end()).unwrap();
        assert_eq!(reply.peer.as_deref(), Some("lineker"));
        assert_eq!(reply.history().unwrap(), entries);
    }

    #[test]
    fn sync_answers_read_back() {
        let entry = SyncEntry {
            id: 8,
            ts: "2026-12-01T09:00:00.000Z".into(),
            from: "lineker".into(),
            to: "messi".into(),
            msg: "halo 🙂".into(),
            from_display: "Gary Lineker".into(),
            to_display: "Lionel Messi".into(),
        };
        let answer = |presence| {
            Response::Sync(Box::new(SyncAnswer {
                messages: vec![entry.clone()],
                next: 8,
                more: true,
                presence,
                read: vec![],
            }))
        };
        let plain = wire(&answer(None));
        assert_eq!(
            plain,
            "{\"status\": \"OK\", \"messages\": [{\"id\": 8, \"ts\": \"2026-12-01T09:00:00.000Z\", \"from\": \"lineker\", \"to\": \"messi\", \"msg\": \"halo \\ud83d\\ude42\", \"from_display\": \"Gary Lineker\", \"to_display\": \"Lionel Messi\"}], \"next\": 8, \"more\": true}\r\n\r\n"
        );
        let view = Reply::parse(plain.trim_end()).unwrap().sync().unwrap();
        assert_eq!(view.messages, vec![entry.clone()]);
        assert_eq!((view.next, view.more, view.online), (8, true, None));

        let full = wire(&answer(Some(PresenceUpdate::Online(vec!["a".into()]))));
        assert!(full.contains(r#""more": true, "online": ["a"]}"#), "{full}");
        let changed = wire(&answer(Some(PresenceUpdate::Changed {
            came: vec!["b".into()],
            left: vec![],
        })));
        assert!(
            changed.contains(r#""came": ["b"], "left": []}"#),
            "{changed}"
        );
        let view = Reply::parse(changed.trim_end()).unwrap().sync().unwrap();
        assert_eq!((view.came, view.left), (vec!["b".to_string()], vec![]));

        let marked = wire(&Response::Sync(Box::new(SyncAnswer {
            messages: vec![],
            next: 8,
            more: false,
            presence: None,
            read: vec![("lineker".into(), 8), ("arini".into(), 3)],
        })));
        assert!(
            marked.ends_with(concat!(
                r#""more": false, "read": {"lineker": 8, "arini": 3}}"#,
                "\r\n\r\n"
            )),
            "{marked}"
        );
        let view = Reply::parse(marked.trim_end()).unwrap().sync().unwrap();
        assert_eq!(view.read.get("lineker"), Some(&8));
        assert_eq!(view.read.len(), 2);
        assert_eq!(
            wire(&Response::ReadMarked),
            "{\"status\": \"OK\", \"message\": \"read marker set\"}\r\n\r\n"
        );

        let not_sync = Reply::parse(r#"{"status": "OK", "messages": {}}"#).unwrap();
        assert!(
            not_sync.sync().is_err(),
            "an inbox answer is not a sync answer"
        );
        let login = wire(&Response::LoggedIn(LoginInfo {
            token: "t".into(),
            username: "u".into(),
            display_name: "U".into(),
        }));
        let login = Reply::parse(login.trim_end()).unwrap();
        assert!(login.has_feature("sync") && !login.has_feature("groups"));
    }
}
