//! Whole sessions in each dialect against an in-process server, with the exact JSON
//! the course's clients read, every error message, and UTF-8 text round trips.

use chat_protocol::{Dialect, Request};
use chat_tests::{
    DEMO_PASSWORD, RawConn, TestServer, assert_error, assert_ok, assert_python_ascii, is_uuid_v4,
    parse_reply,
};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The command words of one dialect.
struct Verbs {
    login: &'static str,
    send: &'static str,
    inbox: &'static str,
    who: &'static str,
}

const COURSE: Verbs = Verbs {
    login: "auth",
    send: "send",
    inbox: "inbox",
    who: "user_aktif",
};
const INDONESIAN: Verbs = Verbs {
    login: "login",
    send: "chat",
    inbox: "kotakmasuk",
    who: "user_on",
};

/// The keys of a JSON object, in order.
fn keys(v: &Value) -> Vec<&str> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .map(String::as_str)
        .collect()
}

/// Parses `ts` as RFC 3339 and checks it is in UTC.
fn assert_utc_rfc3339(ts: &Value) -> OffsetDateTime {
    let text = ts
        .as_str()
        .unwrap_or_else(|| panic!("ts is not a string: {ts}"));
    let parsed = OffsetDateTime::parse(text, &Rfc3339)
        .unwrap_or_else(|e| panic!("ts {text:?} is not RFC 3339: {e}"));
    assert!(parsed.offset().is_utc(), "ts {text:?} is not UTC");
    let now = OffsetDateTime::now_utc();
    let age = now - parsed;
    assert!(
        age.whole_seconds().abs() < 600,
        "ts {text:?} is not the send time (now {now})"
    );
    parsed
}

/// Logs in with the dialect's verb and checks the whole reply; returns the token.
async fn login(conn: &mut RawConn, verbs: &Verbs, user: &str, display: &str) -> String {
    let raw = conn
        .request_raw(&format!("{} {user} {DEMO_PASSWORD} ", verbs.login))
        .await;
    assert_python_ascii(&raw);
    let reply = parse_reply(&raw);
    assert_eq!(
        keys(&reply),
        [
            "status",
            "tokenid",
            "tokenId",
            "username",
            "display_name",
            "features"
        ],
        "login reply keys (the course's first, extensions after): {reply}"
    );
    assert_ok(&reply);
    let token = reply["tokenid"]
        .as_str()
        .expect("tokenid is a string")
        .to_string();
    assert!(is_uuid_v4(&token), "token {token:?} is not a UUID v4");
    assert_eq!(reply["tokenId"], token.as_str());
    assert_eq!(reply["username"], user);
    assert_eq!(reply["display_name"], display);
    token
}

/// Sends `text` the way the course client builds the line (two spaces before the text,
/// one before `\r\n`); checks the reply and returns `(id, ts)`.
async fn send(
    conn: &mut RawConn,
    verbs: &Verbs,
    token: &str,
    to: &str,
    text: &str,
) -> (i64, Value) {
    let raw = conn
        .request_raw(&format!("{} {token} {to}  {text} \r\n", verbs.send))
        .await;
    assert_python_ascii(&raw);
    let reply = parse_reply(&raw);
    assert_eq!(
        keys(&reply),
        ["status", "message", "id", "ts"],
        "send reply: {reply}"
    );
    assert_ok(&reply);
    assert_eq!(reply["message"], "Message Sent");
    let id = reply["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("id is not an integer: {reply}"));
    assert!(id > 0, "id {id} is not positive");
    assert_utc_rfc3339(&reply["ts"]);
    (id, reply["ts"].clone())
}

/// Runs the inbox command and returns its `messages` object (checked for shape).
async fn inbox(conn: &mut RawConn, verbs: &Verbs, token: &str) -> Value {
    let raw = conn.request_raw(&format!("{} {token} ", verbs.inbox)).await;
    assert_python_ascii(&raw);
    let reply = parse_reply(&raw);
    assert_eq!(keys(&reply), ["status", "messages"], "inbox reply: {reply}");
    assert_ok(&reply);
    assert!(
        reply["messages"].is_object(),
        "messages is not an object: {reply}"
    );
    reply["messages"].clone()
}

/// Runs who-is-on and checks that `message` and `users` both list `expected`.
async fn assert_who(conn: &mut RawConn, verbs: &Verbs, token: &str, expected: &[&str]) {
    let raw = conn.request_raw(&format!("{} {token} ", verbs.who)).await;
    assert_python_ascii(&raw);
    let reply = parse_reply(&raw);
    let text: String = expected.iter().map(|u| format!("{u}, ")).collect();
    assert_eq!(
        reply,
        json!({"status": "OK", "message": text, "users": expected})
    );
    assert_eq!(keys(&reply), ["status", "message", "users"]);
}

async fn whole_session(verbs: Verbs) {
    let server = TestServer::start().await;
    let mut messi = server.conn().await;
    let mut henderson = server.conn().await;
    let mut lineker = server.conn().await;

    let t_messi = login(&mut messi, &verbs, "messi", "Lionel Messi").await;
    let t_hend = login(&mut henderson, &verbs, "henderson", "Jordan Henderson").await;
    let t_line = login(&mut lineker, &verbs, "lineker", "Gary Lineker").await;
    assert_ne!(t_messi, t_hend);
    assert_ne!(t_messi, t_line);

    // Nothing yet.
    assert_eq!(inbox(&mut henderson, &verbs, &t_hend).await, json!({}));

    let (id1, ts1) = send(&mut messi, &verbs, &t_messi, "henderson", "halo apa kabar?").await;
    let (id2, ts2) = send(&mut lineker, &verbs, &t_line, "henderson", "piye kabare?").await;
    let (id3, ts3) = send(&mut messi, &verbs, &t_messi, "henderson", "sampai  jumpa").await;
    let (id4, ts4) = send(&mut henderson, &verbs, &t_hend, "messi", "ok").await;
    assert!(
        id1 < id2 && id2 < id3 && id3 < id4,
        "ids not increasing: {id1} {id2} {id3} {id4}"
    );

    let got = inbox(&mut henderson, &verbs, &t_hend).await;
    let msg = |from: &str, text: &str, id: i64, ts: &Value| json!({"msg_from": from, "msg_to": "Jordan Henderson", "msg": text, "id": id, "ts": ts});
    let expected = json!({
        "messi": [msg("Lionel Messi", "halo apa kabar?", id1, &ts1), msg("Lionel Messi", "sampai  jumpa", id3, &ts3)],
        "lineker": [msg("Gary Lineker", "piye kabare?", id2, &ts2)],
    });
    assert_eq!(got, expected);
    assert_eq!(
        keys(&got),
        ["messi", "lineker"],
        "groups must be ordered by oldest message"
    );
    for group in got.as_object().expect("object").values() {
        for m in group.as_array().expect("array") {
            assert_eq!(keys(m), ["msg_from", "msg_to", "msg", "id", "ts"]);
        }
    }
    // Reading drained it; messi's inbox is separate.
    assert_eq!(inbox(&mut henderson, &verbs, &t_hend).await, json!({}));
    assert_eq!(
        inbox(&mut messi, &verbs, &t_messi).await,
        json!({"henderson": [
            {"msg_from": "Jordan Henderson", "msg_to": "Lionel Messi", "msg": "ok", "id": id4, "ts": ts4}
        ]})
    );

    assert_who(
        &mut messi,
        &verbs,
        &t_messi,
        &["henderson", "lineker", "messi"],
    )
    .await;

    let raw = messi.request_raw(&format!("logout {t_messi} ")).await;
    assert_eq!(
        raw,
        b"{\"status\": \"OK\", \"message\": \"logout success\"}\r\n\r\n"
    );
    let after = messi.request(&format!("{} {t_messi}", verbs.inbox)).await;
    assert_error(&after, "invalid or expired token");
    assert_who(&mut henderson, &verbs, &t_hend, &["henderson", "lineker"]).await;

    // The connection outlives the session: log in again on it.
    let again = login(&mut messi, &verbs, "messi", "Lionel Messi").await;
    assert_ne!(again, t_messi, "a new login must get a new token");
    assert_who(
        &mut lineker,
        &verbs,
        &t_line,
        &["henderson", "lineker", "messi"],
    )
    .await;
    server.shutdown().await.expect("server shut down cleanly");
}

#[tokio::test]
async fn whole_session_course_dialect() {
    whole_session(COURSE).await;
}

#[tokio::test]
async fn whole_session_indonesian_dialect() {
    whole_session(INDONESIAN).await;
}

#[tokio::test]
async fn dialects_mix_on_one_connection() {
    let server = TestServer::start().await;
    let mut c = server.conn().await;
    let t = login(&mut c, &INDONESIAN, "messi", "Lionel Messi").await;
    let (id, ts) = send(&mut c, &COURSE, &t, "lineker", "satu").await;
    let (id2, ts2) = send(&mut c, &INDONESIAN, &t, "lineker", "dua").await;
    let mut l = server.conn().await;
    let tl = login(&mut l, &COURSE, "lineker", "Gary Lineker").await;
    let m = |text: &str, id: i64, ts: &Value| json!({"msg_from": "Lionel Messi", "msg_to": "Gary Lineker", "msg": text, "id": id, "ts": ts});
    assert_eq!(
        inbox(&mut l, &INDONESIAN, &tl).await,
        json!({"messi": [m("satu", id, &ts), m("dua", id2, &ts2)]})
    );
    assert_who(&mut l, &INDONESIAN, &tl, &["lineker", "messi"]).await;
}

/// Texts that must arrive exactly as typed: UTF-8 of every width, inner spacing,
/// characters that JSON escapes.
const TEXTS: &[&str] = &[
    "Kapan ke Surabaya? Aku kangen 🙂",
    "Selamat pagi, apa kabar? Sudah makan belum? 🍜🍛",
    "emoji with skin tone 👍🏽 and family 👨‍👩‍👧 and flag 🇮🇩",
    "café naïve 漢字 Ελληνικά עברית",
    "inner  double   spaces\tand a tab",
    "quotes \" and backslash \\ and {\"json\": [1, 2]}",
    "\\r\\n\\r\\n literally, and a real terminator-looking text",
    "x",
];

#[tokio::test]
async fn utf8_text_round_trips_byte_for_byte() {
    let server = TestServer::start().await;
    let mut messi = server.conn().await;
    let mut lineker = server.conn().await;
    let tm = messi.login_demo("messi").await;
    let tl = lineker.login_demo("lineker").await;
    for text in TEXTS {
        let reply = messi
            .request(&format!("send {tm} lineker  {text} \r\n"))
            .await;
        assert_ok(&reply);
    }
    let raw = lineker.request_raw(&format!("inbox {tl} ")).await;
    assert_python_ascii(&raw);
    let reply = parse_reply(&raw);
    let got: Vec<&str> = reply["messages"]["messi"]
        .as_array()
        .unwrap_or_else(|| panic!("no messages from messi: {reply}"))
        .iter()
        .map(|m| m["msg"].as_str().expect("msg is a string"))
        .collect();
    assert_eq!(got, TEXTS);
    for (got, want) in got.iter().zip(TEXTS) {
        assert_eq!(got.as_bytes(), want.as_bytes());
    }
}

#[tokio::test]
async fn non_ascii_is_escaped_like_python() {
    let server = TestServer::start().await;
    let mut messi = server.conn().await;
    let tm = messi.login_demo("messi").await;
    messi.request(&format!("send {tm} messi é🙂")).await;
    let raw = messi.request_raw(&format!("inbox {tm}")).await;
    let text = String::from_utf8(raw.clone()).expect("UTF-8");
    assert!(
        text.contains(r#""msg": "\u00e9\ud83d\ude42""#),
        "é🙂 must be written as \\u00e9\\ud83d\\ude42 (lowercase hex, surrogate pair): {text}"
    );
    assert_python_ascii(&raw);
}

#[tokio::test]
async fn message_is_trimmed_at_both_ends_only() {
    let server = TestServer::start().await;
    let mut c = server.conn().await;
    let t = c.login_demo("messi").await;
    let lines = [
        (
            format!("send {t} messi  halo apa kabar? \r\n"),
            "halo apa kabar?",
        ),
        (
            format!("send {t} messi \t  spaced   out \t \r\n"),
            "spaced   out",
        ),
        (format!("send {t} messi a\n"), "a"),
        (format!("send {t}   messi   b  c\r\n"), "b  c"),
    ];
    for (line, _) in &lines {
        assert_ok(&c.request(line).await);
    }
    let reply = c.request(&format!("inbox {t}")).await;
    let got: Vec<&str> = reply["messages"]["messi"]
        .as_array()
        .unwrap_or_else(|| panic!("no messages: {reply}"))
        .iter()
        .map(|m| m["msg"].as_str().expect("msg"))
        .collect();
    let want: Vec<&str> = lines.iter().map(|(_, w)| *w).collect();
    assert_eq!(got, want);
}

/// Sends each line and expects exactly `{"status": "ERROR", "message": ...}`, then
/// checks the connection still answers `ping`.
#[tokio::test]
async fn every_error_message_and_the_connection_stays_usable() {
    let server = TestServer::start().await;
    let mut c = server.conn().await;
    let t = c.login_demo("messi").await;
    let bogus = "00000000-0000-4000-8000-000000000000";
    let table: Vec<(String, String)> = vec![
        ("".into(), "empty request".into()),
        ("   \t ".into(), "empty request".into()),
        ("hello".into(), "unknown command: hello".into()),
        ("hello world again".into(), "unknown command: hello".into()),
        ("auth".into(), "usage: auth <username> <password>".into()),
        (
            "auth messi".into(),
            "usage: auth <username> <password>".into(),
        ),
        (
            "auth messi surabaya extra".into(),
            "usage: auth <username> <password>".into(),
        ),
        ("login".into(), "usage: login <username> <password>".into()),
        (
            "login messi".into(),
            "usage: login <username> <password>".into(),
        ),
        ("send".into(), "usage: send <token> <to> <message>".into()),
        (
            format!("send {t}"),
            "usage: send <token> <to> <message>".into(),
        ),
        ("chat".into(), "usage: chat <token> <to> <message>".into()),
        (
            format!("chat {t}"),
            "usage: chat <token> <to> <message>".into(),
        ),
        (format!("send {t} lineker"), "empty message".into()),
        (format!("send {t} lineker    "), "empty message".into()),
        (format!("chat {t} lineker \t "), "empty message".into()),
        ("inbox".into(), "usage: inbox <token>".into()),
        (format!("inbox {t} extra"), "usage: inbox <token>".into()),
        ("kotakmasuk".into(), "usage: kotakmasuk <token>".into()),
        ("user_aktif".into(), "usage: user_aktif <token>".into()),
        ("user_on".into(), "usage: user_on <token>".into()),
        ("logout".into(), "usage: logout <token>".into()),
        (format!("logout {t} now"), "usage: logout <token>".into()),
        ("auth nobody surabaya".into(), "unknown user".into()),
        ("login nobody surabaya".into(), "unknown user".into()),
        ("auth messi wrong".into(), "wrong password".into()),
        ("login messi Surabaya".into(), "wrong password".into()),
        (
            format!("send {bogus} lineker hi"),
            "invalid or expired token".into(),
        ),
        (
            format!("chat {bogus} lineker hi"),
            "invalid or expired token".into(),
        ),
        (format!("inbox {bogus}"), "invalid or expired token".into()),
        (
            format!("kotakmasuk {bogus}"),
            "invalid or expired token".into(),
        ),
        (
            format!("user_aktif {bogus}"),
            "invalid or expired token".into(),
        ),
        (
            format!("user_on {bogus}"),
            "invalid or expired token".into(),
        ),
        (format!("logout {bogus}"), "invalid or expired token".into()),
        ("inbox not-a-uuid".into(), "invalid or expired token".into()),
        (
            format!("send {t} nobody hi there"),
            "unknown recipient: nobody".into(),
        ),
        (
            format!("chat {t} ghost hi"),
            "unknown recipient: ghost".into(),
        ),
        (
            "register newbie secret New Bie".into(),
            "registration is disabled".into(),
        ),
    ];
    for (line, message) in &table {
        let raw = c.request_raw(line).await;
        assert_python_ascii(&raw);
        let reply = parse_reply(&raw);
        assert_eq!(
            reply,
            json!({"status": "ERROR", "message": message}),
            "request {line:?}"
        );
        let pong = c.request_raw("ping").await;
        assert_eq!(
            pong, b"{\"status\": \"OK\", \"message\": \"pong\"}\r\n\r\n",
            "connection unusable after {line:?}"
        );
    }
    // The session survived every error, and nothing was stored by the failed sends.
    let reply = c.request(&format!("inbox {t}")).await;
    assert_eq!(reply, json!({"status": "OK", "messages": {}}));
    let reply = c.request(&format!("user_aktif {t}")).await;
    assert_eq!(reply["users"], json!(["messi"]));
}

#[tokio::test]
async fn ping_needs_no_session() {
    let server = TestServer::start().await;
    let mut c = server.conn().await;
    let raw = c.request_raw("ping").await;
    assert_eq!(raw, b"{\"status\": \"OK\", \"message\": \"pong\"}\r\n\r\n");
}

#[tokio::test]
async fn a_token_works_from_any_connection_and_outlives_it() {
    let server = TestServer::start().await;
    let mut first = server.conn().await;
    let t = first.login_demo("messi").await;
    drop(first);
    let mut second = server.conn().await;
    assert_ok(
        &second
            .request(&format!("send {t} lineker dari koneksi lain"))
            .await,
    );
    let reply = second.request(&format!("user_aktif {t}")).await;
    assert_eq!(reply["users"], json!(["messi"]));
    let mut l = server.conn().await;
    let tl = l.login_demo("lineker").await;
    let reply = l.request(&format!("inbox {tl}")).await;
    assert_eq!(reply["messages"]["messi"][0]["msg"], "dari koneksi lain");
}

#[tokio::test]
async fn sending_to_yourself_and_to_a_user_who_is_not_logged_in() {
    let server = TestServer::start().await;
    let mut m = server.conn().await;
    let t = m.login_demo("messi").await;
    // henderson has never logged in: his inbox still keeps the message.
    assert_ok(&m.request(&format!("send {t} henderson nanti dibaca")).await);
    assert_ok(&m.request(&format!("send {t} messi catatan")).await);
    let reply = m.request(&format!("inbox {t}")).await;
    assert_eq!(reply["messages"]["messi"][0]["msg_from"], "Lionel Messi");
    assert_eq!(reply["messages"]["messi"][0]["msg_to"], "Lionel Messi");
    assert_eq!(reply["messages"]["messi"][0]["msg"], "catatan");
    let mut h = server.conn().await;
    let th = h.login_demo("henderson").await;
    let reply = h.request(&format!("inbox {th}")).await;
    assert_eq!(reply["messages"]["messi"][0]["msg"], "nanti dibaca");
}

/// The project's own client library reads the server's replies.
#[tokio::test]
async fn the_client_library_speaks_to_the_server() {
    let server = TestServer::start().await;
    let mut a = server.client().await;
    let mut b = server.client().await;
    let login = |user: &str| Request::Login {
        dialect: Dialect::Course,
        username: user.into(),
        password: DEMO_PASSWORD.into(),
    };
    let ra = a.call(&login("messi")).await.expect("login messi");
    assert!(ra.is_ok());
    let ta = ra.token().expect("token").to_string();
    let rb = b.call(&login("henderson")).await.expect("login henderson");
    let tb = rb.token().expect("token").to_string();
    let sent = a
        .call(&Request::Send {
            dialect: Dialect::Indonesian,
            token: ta.clone(),
            to: "henderson".into(),
            message: "halo 🙂".into(),
        })
        .await
        .expect("send");
    assert!(sent.is_ok(), "{sent:?}");
    let inbox = b
        .call(&Request::Inbox {
            dialect: Dialect::Course,
            token: tb.clone(),
        })
        .await
        .expect("inbox");
    let groups = inbox.inbox().expect("inbox groups");
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].sender, "messi");
    assert_eq!(groups[0].messages[0].msg, "halo 🙂");
    assert_eq!(groups[0].messages[0].id, sent.id);
    let who = b
        .call(&Request::ActiveUsers {
            dialect: Dialect::Indonesian,
            token: tb,
        })
        .await
        .expect("who");
    assert_eq!(who.active_users(), vec!["henderson", "messi"]);
    let out = a
        .call(&Request::Logout { token: ta })
        .await
        .expect("logout");
    assert_eq!(out.message_text().as_deref(), Some("logout success"));
}

#[tokio::test]
async fn message_size_limit_counts_the_trimmed_text() {
    let limit = chat_tests::Config::default().max_message;
    let server = TestServer::start().await;
    let mut c = server.conn().await;
    let t = c.login_demo("messi").await;
    // Exactly at the limit in bytes (multi-byte characters count by their bytes),
    // with the course client's surrounding spaces, which are not part of the text.
    let text = format!("{}{}", "é".repeat(8), "a".repeat(limit - 16));
    assert_eq!(text.len(), limit);
    assert_ok(&c.request(&format!("send {t} messi  {text} \r\n")).await);
    let over = format!("{text}b");
    let reply = c.request(&format!("send {t} messi {over}")).await;
    assert_error(&reply, &format!("message too long (limit {limit} bytes)"));
    assert_eq!(
        c.request_raw("ping").await,
        b"{\"status\": \"OK\", \"message\": \"pong\"}\r\n\r\n"
    );
    let reply = c.request(&format!("inbox {t}")).await;
    let list = reply["messages"]["messi"].as_array().expect("messages");
    assert_eq!(list.len(), 1, "only the message within the limit is stored");
    assert_eq!(list[0]["msg"], text.as_str());
}

/// Python's `json.dumps` escapes everything outside printable ASCII (`[^\ -~]`),
/// DEL (0x7f) and C1 controls included; control characters must round-trip too.
#[tokio::test]
async fn control_characters_are_escaped_like_python() {
    let server = TestServer::start().await;
    let mut c = server.conn().await;
    let t = c.login_demo("messi").await;
    let text = "a\u{7f}b\u{1}c\u{8}d\u{c}e\u{1b}f\u{85}g\u{2028}h";
    assert_ok(&c.request(&format!("send {t} messi {text}")).await);
    let raw = c.request_raw(&format!("inbox {t}")).await;
    let reply = parse_reply(&raw);
    assert_eq!(reply["messages"]["messi"][0]["msg"], text);
    let body = String::from_utf8(raw.clone()).expect("UTF-8");
    assert!(
        body.contains(r#""msg": "a\u007fb\u0001c\bd\fe\u001bf\u0085g\u2028h""#),
        "not as json.dumps writes it: {body}"
    );
    assert_python_ascii(&raw);
}

/// One request, one response: even when the server gives up on a connection after
/// repeated failed logins, it must not add an unrequested second reply (a pipelining
/// client would take it for the answer to its next request).
#[tokio::test]
async fn failed_logins_get_exactly_one_reply_each() {
    let server = TestServer::start().await;
    let mut c = server.conn().await;
    for attempt in 0..8 {
        c.send_line(&format!("auth messi wrong{attempt}")).await;
        let raw = match c.next_raw().await {
            Ok(Some(raw)) => raw,
            Ok(None) => break, // closed instead of answering: allowed after some failures
            Err(e) => panic!("attempt {attempt}: {e}"),
        };
        let reply = parse_reply(&raw);
        assert_eq!(reply["status"], "ERROR", "attempt {attempt}: {reply}");
        assert!(
            c.buffered().is_empty(),
            "attempt {attempt}: a second reply came with {reply}: {:?}",
            String::from_utf8_lossy(c.buffered())
        );
        // Nothing unrequested follows either: a close, or silence.
        match c
            .next_raw_within(std::time::Duration::from_millis(300))
            .await
        {
            Ok(None) => break,
            Ok(Some(extra)) => panic!(
                "attempt {attempt}: unrequested reply after {reply}: {:?}",
                String::from_utf8_lossy(&extra)
            ),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => panic!("attempt {attempt}: {e}"),
        }
    }
}
