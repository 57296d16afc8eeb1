//! `sync`, the long poll that drains nothing (issue 14), over real TCP: woken by a
//! commit, by the next request line and by shutdown; the deadline; paging; the
//! sender's other devices; `inbox` and `sync` of one user interleaved; presence.
//!
//! Waits are bounded by the read timeouts below, far longer than a wake takes and
//! far shorter than the sync's own deadline, so a sync that is not woken fails the
//! test instead of passing at its deadline. No test asserts how fast anything is.

use chat_server::Config;
use chat_tests::{RawConn, ServerProcess, TestServer, assert_error, assert_ok};
use serde_json::Value;
use std::time::Duration;

/// Longer than any wake takes on a loaded machine, shorter than [`LONG_WAIT`].
const WOKEN_WITHIN: Duration = Duration::from_secs(15);
/// What the waiting syncs ask for: a sync answered before it was woken by its
/// deadline would take this long, and fail the read above first.
const LONG_WAIT: u32 = 45;

/// The `(id, from, to, msg)` of a sync answer's messages.
fn messages(reply: &Value) -> Vec<(i64, String, String, String)> {
    assert_ok(reply);
    reply["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("no messages array: {reply}"))
        .iter()
        .map(|m| {
            (
                m["id"].as_i64().expect("id"),
                m["from"].as_str().expect("from").to_string(),
                m["to"].as_str().expect("to").to_string(),
                m["msg"].as_str().expect("msg").to_string(),
            )
        })
        .collect()
}

fn next(reply: &Value) -> i64 {
    reply["next"]
        .as_i64()
        .unwrap_or_else(|| panic!("no next: {reply}"))
}

/// Starts a sync that will wait, and checks it has not been answered yet.
async fn waiting_sync(conn: &mut RawConn, token: &str, after_id: i64, extra: &str) {
    conn.send_line(&format!("sync {token} {after_id} {LONG_WAIT}{extra}"))
        .await;
    let early = conn.next_raw_within(Duration::from_millis(300)).await;
    assert!(
        early.is_err(),
        "the sync answered before anything happened: {early:?}"
    );
}

async fn woken(conn: &mut RawConn) -> Value {
    match conn.next_raw_within(WOKEN_WITHIN).await {
        Ok(Some(raw)) => chat_tests::parse_reply(&raw),
        other => panic!("the waiting sync was not answered: {other:?}"),
    }
}

#[tokio::test]
async fn a_commit_wakes_the_waiting_sync_of_the_recipient() {
    let server = TestServer::start().await;
    let (mut messi, mut henderson) = (server.conn().await, server.conn().await);
    let tm = messi.login_demo("messi").await;
    let th = henderson.login_demo("henderson").await;
    waiting_sync(&mut messi, &tm, 0, "").await;
    let sent = henderson
        .request(&format!("send {th} messi halo, sudah makan?"))
        .await;
    assert_ok(&sent);
    let reply = woken(&mut messi).await;
    let id = sent["id"].as_i64().expect("id");
    assert_eq!(
        messages(&reply),
        [(
            id,
            "henderson".into(),
            "messi".into(),
            "halo, sudah makan?".into()
        )]
    );
    assert_eq!(next(&reply), id);
    assert_eq!(reply["more"], false);
    assert_eq!(reply["messages"][0]["from_display"], "Jordan Henderson");
    assert_eq!(reply["messages"][0]["to_display"], "Lionel Messi");
}

/// The same through the SQLite store of the real binary: its writer thread wakes.
#[tokio::test]
async fn the_sqlite_writer_wakes_waiting_syncs_after_its_commit() {
    let server = tokio::task::spawn_blocking(|| ServerProcess::start(&[]))
        .await
        .expect("server");
    let (mut messi, mut henderson) = (server.conn().await, server.conn().await);
    let tm = messi.login_demo("messi").await;
    let th = henderson.login_demo("henderson").await;
    waiting_sync(&mut messi, &tm, 0, "").await;
    assert_ok(&henderson.request(&format!("send {th} messi durable")).await);
    let reply = woken(&mut messi).await;
    assert_eq!(messages(&reply)[0].3, "durable");
}

#[tokio::test]
async fn another_request_line_ends_the_wait_and_is_answered_after_it() {
    let server = TestServer::start().await;
    let mut messi = server.conn().await;
    let tm = messi.login_demo("messi").await;
    waiting_sync(&mut messi, &tm, 7, "").await;
    messi.send_line("ping").await;
    let sync = woken(&mut messi).await;
    assert_eq!(messages(&sync), []);
    assert_eq!(next(&sync), 7, "the cursor stays where it was");
    let pong = woken(&mut messi).await;
    assert_eq!(pong["message"], "pong");
}

#[tokio::test]
async fn shutdown_answers_waiting_syncs_before_closing() {
    let server = TestServer::start().await;
    let mut messi = server.conn().await;
    let tm = messi.login_demo("messi").await;
    waiting_sync(&mut messi, &tm, 0, "").await;
    let stopping = tokio::spawn(server.shutdown());
    let reply = woken(&mut messi).await;
    assert_eq!(messages(&reply), []);
    assert_eq!(next(&reply), 0);
    messi.expect_closed().await;
    stopping.await.expect("join").expect("shutdown");
}

#[tokio::test]
async fn the_deadline_answers_an_empty_list() {
    let server = TestServer::start().await;
    let mut messi = server.conn().await;
    let tm = messi.login_demo("messi").await;
    let started = std::time::Instant::now();
    let reply = messi.request(&format!("sync {tm} 0 1")).await;
    assert_eq!(messages(&reply), []);
    assert_eq!(next(&reply), 0);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "answered before its deadline with nothing to say"
    );
    // The server's cap: a 45 s wait on a server capped at 1 s ends at 1 s.
    let capped = TestServer::with_config(Config {
        max_sync_wait: Duration::from_secs(1),
        ..Config::default()
    })
    .await;
    let mut conn = capped.conn().await;
    let token = conn.login_demo("messi").await;
    conn.send_line(&format!("sync {token} 0 {LONG_WAIT}")).await;
    assert_eq!(messages(&woken(&mut conn).await), []);
}

#[tokio::test]
async fn pages_of_two_hundred_in_id_order_until_more_is_false() {
    let server = TestServer::start().await;
    let (mut messi, mut lineker) = (server.conn().await, server.conn().await);
    let tm = messi.login_demo("messi").await;
    let tl = lineker.login_demo("lineker").await;
    let mut sent = Vec::new();
    for i in 0..450 {
        // Both directions: the user's own messages are in their sync too.
        let reply = match i % 3 {
            0 => messi.request(&format!("send {tm} lineker m{i}")).await,
            _ => lineker.request(&format!("send {tl} messi m{i}")).await,
        };
        assert_ok(&reply);
        sent.push(reply["id"].as_i64().expect("id"));
    }
    let mut got = Vec::new();
    let mut cursor = 0;
    let mut pages = Vec::new();
    loop {
        let reply = messi.request(&format!("sync {tm} {cursor}")).await;
        let page = messages(&reply);
        pages.push(page.len());
        got.extend(page.iter().map(|m| m.0));
        cursor = next(&reply);
        if reply["more"] == false {
            break;
        }
    }
    assert_eq!(pages, [200, 200, 50]);
    assert_eq!(got, sent, "every message once, in id order");
}

#[tokio::test]
async fn the_senders_other_device_sees_what_it_sent() {
    let server = TestServer::start().await;
    let (mut phone, mut laptop) = (server.conn().await, server.conn().await);
    let on_phone = phone.login_demo("messi").await;
    let on_laptop = laptop.login_demo("messi").await;
    waiting_sync(&mut phone, &on_phone, 0, "").await;
    assert_ok(
        &laptop
            .request(&format!("send {on_laptop} henderson dari laptop"))
            .await,
    );
    let reply = woken(&mut phone).await;
    let got = messages(&reply);
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].1.as_str(), got[0].2.as_str(), got[0].3.as_str()),
        ("messi", "henderson", "dari laptop")
    );
}

#[tokio::test]
async fn inbox_and_sync_of_one_user_interleaved() {
    let server = TestServer::with_config(Config {
        max_inbox: 3,
        ..Config::default()
    })
    .await;
    let (mut messi, mut lineker) = (server.conn().await, server.conn().await);
    let tm = messi.login_demo("messi").await;
    let tl = lineker.login_demo("lineker").await;
    let send = |text: &str| format!("send {tl} messi {text}");
    for text in ["one", "two", "three"] {
        assert_ok(&lineker.request(&send(text)).await);
    }
    // Reading through sync takes nothing: the inbox is still full.
    let first = messi.request(&format!("sync {tm} 0")).await;
    assert_eq!(messages(&first).len(), 3);
    assert_error(
        &lineker.request(&send("four")).await,
        "recipient inbox full",
    );
    // Naming the cursor acknowledges: the inbox forgets them and has room again.
    let cursor = next(&first);
    let second = messi.request(&format!("sync {tm} {cursor}")).await;
    assert_eq!(messages(&second), []);
    assert_ok(&lineker.request(&send("four")).await);
    let inbox = messi.request(&format!("inbox {tm}")).await;
    let texts: Vec<&str> = inbox["messages"]["lineker"]
        .as_array()
        .expect("lineker's group")
        .iter()
        .map(|m| m["msg"].as_str().expect("msg"))
        .collect();
    assert_eq!(texts, ["four"], "only what no client has received");
    // What inbox took stays visible to sync.
    let after = messi.request(&format!("sync {tm} {cursor}")).await;
    assert_eq!(messages(&after)[0].3, "four");
    let all = messi.request(&format!("sync {tm} 0")).await;
    assert_eq!(messages(&all).len(), 4);
    let empty = messi.request(&format!("inbox {tm}")).await;
    assert_eq!(empty["messages"], serde_json::json!({}));
}

#[tokio::test]
async fn presence_comes_with_the_first_answer_then_as_changes() {
    let server = TestServer::start().await;
    let mut messi = server.conn().await;
    let tm = messi.login_demo("messi").await;
    // The first presence answer carries the whole list (once the server has read it).
    messi
        .send_line(&format!("sync {tm} 0 {LONG_WAIT} presence"))
        .await;
    let first = woken(&mut messi).await;
    assert_eq!(first["online"], serde_json::json!(["messi"]));
    // Nothing changed: the next one waits, and is woken when lineker logs in.
    waiting_sync(&mut messi, &tm, 0, " presence").await;
    let mut lineker = server.conn().await;
    let tl = lineker.login_demo("lineker").await;
    let came = woken(&mut messi).await;
    assert_eq!(came["came"], serde_json::json!(["lineker"]));
    assert_eq!(came["left"], serde_json::json!([]));
    assert!(came.get("online").is_none(), "{came}");
    waiting_sync(&mut messi, &tm, 0, " presence").await;
    assert_ok(&lineker.request(&format!("logout {tl}")).await);
    let left = woken(&mut messi).await;
    assert_eq!(left["left"], serde_json::json!(["lineker"]));
    // Without the word, a sync carries no presence and is not woken by it.
    let plain = messi.request(&format!("sync {tm} 0")).await;
    assert!(plain.get("online").is_none() && plain.get("came").is_none());
}

#[tokio::test]
async fn login_lists_the_features_and_ping_stays_as_it_was() {
    let server = TestServer::start().await;
    let mut conn = server.conn().await;
    let login = conn.request("auth messi surabaya").await;
    assert_eq!(
        login["features"],
        serde_json::json!(["history", "presence", "read", "sync"])
    );
    let pong = conn.request_raw("ping").await;
    assert_eq!(pong, b"{\"status\": \"OK\", \"message\": \"pong\"}\r\n\r\n");
}

#[tokio::test]
async fn bad_syncs_get_clear_errors_and_the_connection_stays() {
    let server = TestServer::start().await;
    let mut conn = server.conn().await;
    let token = conn.login_demo("messi").await;
    let usage = "usage: sync <token> <after_id> [wait_seconds] [presence]";
    for line in [
        format!("sync {token}"),
        format!("sync {token} -3"),
        format!("sync {token} 1 soon"),
    ] {
        assert_error(&conn.request(&line).await, usage);
    }
    assert_error(
        &conn.request("sync not-a-token 0 5").await,
        "invalid or expired token",
    );
    assert_ok(&conn.request(&format!("sync {token} 0")).await);
}
