//! Replies turned into lines a person reads, one line per fact, in the spirit of the
//! course client (pure functions; the caller picks the time zone).
//!
//! ```text
//! username messi logged in
//! message sent to henderson
//! [12:01] lineker -> messi: piye kabare?
//! (no new messages)
//! active: arini, lineker
//! logout success
//! error: unknown recipient: bob
//! ```
//!
//! Times are the server's `ts` in the given zone as `[HH:MM]`; a server without
//! timestamps (the course's) gets lines without the bracket. Everything that came from
//! the server is stripped of control characters, so another user's message cannot move
//! the cursor or recolour the terminal.

use chat_protocol::{HistoryEntry, InboxGroup, Reply};
use chrono::{DateTime, TimeZone};
use serde_json::{Map, Value};
use std::fmt::Display;

/// One line of output and where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// A result, for standard output.
    Out(String),
    /// A failure, for standard error.
    Err(String),
}

impl Line {
    /// An `error: ...` line.
    pub fn error(reason: impl Display) -> Line {
        Line::Err(format!("error: {reason}"))
    }
}

/// What one command printed and whether it succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The lines, in order.
    pub lines: Vec<Line>,
    /// False when the command failed (locally or at the server).
    pub ok: bool,
}

impl Outcome {
    /// A success printing `lines` on standard output.
    pub fn done(lines: Vec<String>) -> Outcome {
        Outcome {
            lines: lines.into_iter().map(Line::Out).collect(),
            ok: true,
        }
    }

    /// A failure with one `error: ...` line.
    pub fn failed(reason: impl Display) -> Outcome {
        Outcome {
            lines: vec![Line::error(reason)],
            ok: false,
        }
    }
}

/// Server text made safe to print: trimmed (the course server sends `" hi \r\n"`),
/// control characters replaced by U+FFFD.
pub fn clean(text: &str) -> String {
    text.trim()
        .chars()
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect()
}

/// `[HH:MM]` of an RFC 3339 time in `tz`, or `None` when it doesn't parse.
pub fn clock<Tz: TimeZone>(ts: &str, tz: &Tz) -> Option<String>
where
    Tz::Offset: Display,
{
    let at = DateTime::parse_from_rfc3339(ts).ok()?;
    Some(at.with_timezone(tz).format("[%H:%M]").to_string())
}

/// `[12:01] lineker -> messi: piye kabare?`, without the time when there is none.
pub fn message_line<Tz: TimeZone>(
    ts: Option<&str>,
    from: &str,
    to: &str,
    text: &str,
    tz: &Tz,
) -> String
where
    Tz::Offset: Display,
{
    let body = format!("{} -> {}: {}", clean(from), clean(to), clean(text));
    match ts.and_then(|ts| clock(ts, tz)) {
        Some(time) => format!("{time} {body}"),
        None => body,
    }
}

/// One line per message, oldest first by id (server order where ids are absent).
/// `me` is the recipient's username; messages name their sender by username too.
pub fn inbox_lines<Tz: TimeZone>(me: &str, groups: &[InboxGroup], tz: &Tz) -> Vec<String>
where
    Tz::Offset: Display,
{
    let mut all: Vec<_> = groups
        .iter()
        .flat_map(|g| g.messages.iter().map(move |m| (g.sender.as_str(), m)))
        .collect();
    all.sort_by_key(|(_, m)| m.id);
    all.into_iter()
        .map(|(from, m)| message_line(m.ts.as_deref(), from, me, &m.msg, tz))
        .collect()
}

/// One line per message of a conversation, as the server ordered them (oldest first).
pub fn history_lines<Tz: TimeZone>(entries: &[HistoryEntry], tz: &Tz) -> Vec<String>
where
    Tz::Offset: Display,
{
    entries
        .iter()
        .map(|e| message_line(Some(&e.ts), &e.from, &e.to, &e.msg, tz))
        .collect()
}

/// `active: arini, lineker`, or `active: (nobody)`.
pub fn active_line(users: &[String]) -> String {
    if users.is_empty() {
        return "active: (nobody)".to_string();
    }
    let names: Vec<String> = users.iter().map(|u| clean(u)).collect();
    format!("active: {}", names.join(", "))
}

/// `username messi logged in`, with `, token: T` only when asked for.
pub fn login_line(username: &str, token: &str, show_token: bool) -> String {
    if show_token {
        format!(
            "username {} logged in, token: {}",
            clean(username),
            clean(token)
        )
    } else {
        format!("username {} logged in", clean(username))
    }
}

/// Whether an error reply means the server has no such command: ours says
/// `unknown command: X`, the course's Python server `**Protocol Tidak Benar`.
pub fn is_unsupported(reply: &Reply) -> bool {
    if reply.is_ok() {
        return false;
    }
    let text = reply.message_text().unwrap_or_default();
    let text = text.trim_start_matches(['*', '-', ' ']);
    text.starts_with("unknown command") || text.starts_with("Protocol Tidak Benar")
}

/// The reason an error reply gives, or a plain statement that the server lacks
/// `verb`.
pub fn error_reason(verb: &str, reply: &Reply) -> String {
    if is_unsupported(reply) {
        return format!("the server does not support {verb}");
    }
    match reply.message_text() {
        Some(text) if !text.trim().is_empty() => clean(&text),
        _ => format!("{verb} failed"),
    }
}

/// The reply as one compact JSON line, fields in the server's order. The token is
/// left out unless `show_token`.
pub fn json_line(reply: &Reply, show_token: bool) -> String {
    let mut map = Map::new();
    let status = serde_json::to_value(reply.status).unwrap_or(Value::Null);
    map.insert("status".into(), status);
    let text = |s: &Option<String>| s.clone().map(Value::String);
    let hidden = |s: &Option<String>| if show_token { text(s) } else { None };
    let fields = [
        ("message", reply.message.clone()),
        ("tokenid", hidden(&reply.tokenid)),
        ("tokenId", hidden(&reply.token_id)),
        ("username", text(&reply.username)),
        ("display_name", text(&reply.display_name)),
        ("peer", text(&reply.peer)),
        ("messages", reply.messages.clone()),
        (
            "users",
            reply
                .users
                .clone()
                .map(|u| u.into_iter().map(Value::String).collect()),
        ),
        ("id", reply.id.map(Value::from)),
        ("ts", text(&reply.ts)),
    ];
    for (key, value) in fields {
        if let Some(value) = value {
            map.insert(key.into(), value);
        }
    }
    Value::Object(map).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_protocol::InboxMessage;
    use chrono::{FixedOffset, Utc};

    fn reply(json: &str) -> Reply {
        Reply::parse(json).expect("test reply")
    }

    fn msg(text: &str, id: Option<i64>, ts: Option<&str>) -> InboxMessage {
        InboxMessage {
            msg_from: "Display".into(),
            msg_to: "Name".into(),
            msg: text.into(),
            id,
            ts: ts.map(str::to_string),
        }
    }

    #[test]
    fn clock_is_local_hours_and_minutes() {
        let wib = FixedOffset::east_opt(7 * 3600).expect("offset");
        let table = [
            ("2026-11-22T02:13:22.000Z", "[02:13]", "[09:13]"),
            ("2026-11-22T23:59:59Z", "[23:59]", "[06:59]"),
            ("2026-11-22T05:00:00+07:00", "[22:00]", "[05:00]"),
        ];
        for (ts, utc, jakarta) in table {
            assert_eq!(clock(ts, &Utc).as_deref(), Some(utc), "{ts}");
            assert_eq!(clock(ts, &wib).as_deref(), Some(jakarta), "{ts}");
        }
        assert_eq!(clock("yesterday", &Utc), None);
    }

    #[test]
    fn message_lines_with_and_without_time() {
        let table = [
            (
                Some("2026-11-22T12:01:00Z"),
                " piye kabare? \r\n",
                "[12:01] lineker -> messi: piye kabare?",
            ),
            (None, " piye kabare? \r\n", "lineker -> messi: piye kabare?"),
            (Some("garbage"), "hi", "lineker -> messi: hi"),
            (None, "a\u{1b}[2Jb", "lineker -> messi: a\u{FFFD}[2Jb"),
        ];
        for (ts, text, want) in table {
            assert_eq!(message_line(ts, "lineker", "messi", text, &Utc), want);
        }
    }

    #[test]
    fn inbox_is_oldest_first_across_senders() {
        let groups = vec![
            InboxGroup {
                sender: "henderson".into(),
                messages: vec![
                    msg("second", Some(2), Some("2026-11-22T12:02:00Z")),
                    msg("fourth", Some(4), Some("2026-11-22T12:04:00Z")),
                ],
            },
            InboxGroup {
                sender: "lineker".into(),
                messages: vec![
                    msg("first", Some(1), Some("2026-11-22T12:01:00Z")),
                    msg("third", Some(3), Some("2026-11-22T12:03:00Z")),
                ],
            },
        ];
        assert_eq!(
            inbox_lines("messi", &groups, &Utc),
            vec![
                "[12:01] lineker -> messi: first",
                "[12:02] henderson -> messi: second",
                "[12:03] lineker -> messi: third",
                "[12:04] henderson -> messi: fourth",
            ]
        );
    }

    #[test]
    fn inbox_without_ids_keeps_server_order() {
        let groups = vec![
            InboxGroup {
                sender: "lineker".into(),
                messages: vec![msg(" b ", None, None), msg("a", None, None)],
            },
            InboxGroup {
                sender: "arini".into(),
                messages: vec![msg("c", None, None)],
            },
        ];
        assert_eq!(
            inbox_lines("messi", &groups, &Utc),
            vec![
                "lineker -> messi: b",
                "lineker -> messi: a",
                "arini -> messi: c"
            ]
        );
        assert!(inbox_lines("messi", &[], &Utc).is_empty());
    }

    #[test]
    fn history_lines_name_both_sides() {
        let entries = vec![
            HistoryEntry {
                id: 1,
                ts: "2026-11-22T12:01:00Z".into(),
                from: "messi".into(),
                to: "lineker".into(),
                msg: "halo".into(),
            },
            HistoryEntry {
                id: 2,
                ts: "2026-11-22T12:05:00Z".into(),
                from: "lineker".into(),
                to: "messi".into(),
                msg: "piye?".into(),
            },
        ];
        assert_eq!(
            history_lines(&entries, &Utc),
            vec![
                "[12:01] messi -> lineker: halo",
                "[12:05] lineker -> messi: piye?"
            ]
        );
    }

    #[test]
    fn active_and_login_lines() {
        assert_eq!(
            active_line(&["arini".into(), "lineker".into()]),
            "active: arini, lineker"
        );
        assert_eq!(active_line(&[]), "active: (nobody)");
        assert_eq!(
            login_line("messi", "tok-1", false),
            "username messi logged in"
        );
        assert_eq!(
            login_line("messi", "tok-1", true),
            "username messi logged in, token: tok-1"
        );
    }

    #[test]
    fn errors_are_plain_and_unsupported_commands_are_named() {
        let table = [
            (
                r#"{"status": "ERROR", "message": "unknown recipient: bob"}"#,
                "unknown recipient: bob",
            ),
            (
                r#"{"status": "ERROR", "message": "unknown command: history"}"#,
                "the server does not support history",
            ),
            (
                r#"{"status": "ERROR", "message": "**Protocol Tidak Benar"}"#,
                "the server does not support history",
            ),
            (
                r#"{"status": "ERROR", "message": "--Protocol Tidak Benar"}"#,
                "the server does not support history",
            ),
            (
                r#"{"status": "ERROR", "message": "Informasi tidak ditemukan"}"#,
                "Informasi tidak ditemukan",
            ),
            (r#"{"status": "ERROR"}"#, "history failed"),
        ];
        for (json, want) in table {
            assert_eq!(error_reason("history", &reply(json)), want, "{json}");
        }
        assert!(!is_unsupported(&reply(
            r#"{"status": "OK", "message": "unknown command"}"#
        )));
    }

    #[test]
    fn json_lines_keep_the_servers_order_and_hide_tokens() {
        let login = reply(
            r#"{"status": "OK", "tokenid": "t-1", "tokenId": "t-1", "username": "messi", "display_name": "Lionel Messi"}"#,
        );
        assert_eq!(
            json_line(&login, false),
            r#"{"status":"OK","username":"messi","display_name":"Lionel Messi"}"#
        );
        assert_eq!(
            json_line(&login, true),
            r#"{"status":"OK","tokenid":"t-1","tokenId":"t-1","username":"messi","display_name":"Lionel Messi"}"#
        );
        let table = [
            (
                r#"{"status": "OK", "message": "Message Sent", "id": 3, "ts": "2026-11-22T02:13:22.000Z"}"#,
                r#"{"status":"OK","message":"Message Sent","id":3,"ts":"2026-11-22T02:13:22.000Z"}"#,
            ),
            (
                r#"{"status": "OK", "messages": {"lineker": [{"msg_from": "Gary Lineker", "msg_to": "Lionel Messi", "msg": "hi", "id": 7}]}}"#,
                r#"{"status":"OK","messages":{"lineker":[{"msg_from":"Gary Lineker","msg_to":"Lionel Messi","msg":"hi","id":7}]}}"#,
            ),
            (
                r#"{"status": "OK", "message": "arini, lineker, ", "users": ["arini", "lineker"]}"#,
                r#"{"status":"OK","message":"arini, lineker, ","users":["arini","lineker"]}"#,
            ),
            (
                r#"{"status": "OK", "peer": "lineker", "messages": []}"#,
                r#"{"status":"OK","peer":"lineker","messages":[]}"#,
            ),
            (
                r#"{"status": "ERROR", "message": "x"}"#,
                r#"{"status":"ERROR","message":"x"}"#,
            ),
        ];
        for (wire, want) in table {
            assert_eq!(json_line(&reply(wire), false), want);
        }
    }
}
