//! `read <token> <peer> <message_id>` (issue 15) over real TCP: the marker reaches
//! every client of the user through `sync ... presence` (`"read"`), wakes a waiting
//! sync, never moves back, and is all there on a new connection.

use chat_tests::{RawConn, TestServer, assert_error, assert_ok};
use serde_json::{Value, json};
use std::time::Duration;

async fn answer_within(conn: &mut RawConn, within: Duration) -> Value {
    match conn.next_raw_within(within).await {
        Ok(Some(raw)) => chat_tests::parse_reply(&raw),
        other => panic!("no answer: {other:?}"),
    }
}

#[tokio::test]
async fn a_read_marker_reaches_the_users_other_clients() {
    let server = TestServer::start().await;
    let (mut phone, mut laptop, mut henderson) = (
        server.conn().await,
        server.conn().await,
        server.conn().await,
    );
    let tp = phone.login_demo("messi").await;
    let tl = laptop.login_demo("messi").await;
    let th = henderson.login_demo("henderson").await;
    let sent = henderson.request(&format!("send {th} messi halo")).await;
    let id = sent["id"].as_i64().expect("id");

    // The laptop's first presence answer: no markers yet.
    let first = laptop.request(&format!("sync {tl} {id} 0 presence")).await;
    assert_ok(&first);
    assert!(first.get("read").is_none(), "{first}");
    // It waits; the phone reads the conversation: the laptop is woken with the marker.
    laptop
        .send_line(&format!("sync {tl} {id} 45 presence"))
        .await;
    let early = laptop.next_raw_within(Duration::from_millis(300)).await;
    assert!(
        early.is_err(),
        "answered before anything happened: {early:?}"
    );
    let marked = phone.request(&format!("read {tp} henderson {id}")).await;
    assert_eq!(
        marked,
        json!({"status": "OK", "message": "read marker set"})
    );
    let woken = answer_within(&mut laptop, Duration::from_secs(15)).await;
    assert_eq!(woken["read"], json!({"henderson": id}), "{woken}");
    assert_eq!(woken["messages"], json!([]));

    // Never back: an older id changes nothing, and nothing new is told.
    assert_ok(&phone.request(&format!("read {tp} henderson 0")).await);
    let again = laptop.request(&format!("sync {tl} {id} 0 presence")).await;
    assert!(again.get("read").is_none(), "{again}");

    // A new connection (a restart, a new machine) is told every marker at once.
    let mut fresh = server.conn().await;
    let tf = fresh.login_demo("messi").await;
    let all = fresh.request(&format!("sync {tf} {id} 0 presence")).await;
    assert_eq!(all["read"], json!({"henderson": id}), "{all}");
    // Without presence, no markers (old clients see the answer they know).
    let plain = fresh.request(&format!("sync {tf} 0 0")).await;
    assert!(plain.get("read").is_none(), "{plain}");

    assert_error(
        &phone.request(&format!("read {tp} nobody 1")).await,
        "unknown user: nobody",
    );
    assert_error(
        &phone.request("read bad-token henderson 1").await,
        "invalid or expired token",
    );
}
