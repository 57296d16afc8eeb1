//! Issue 17 item 3: an unfinished line never extends the idle timeout. The real
//! `chat-server` with `--idle-timeout 3s`; a client that trickles `p` without a
//! newline must be closed like a silent one, and the log must say why.

use chat_tests::{RawConn, ServerProcess, eventually};
use std::time::Duration;

/// Trickles one byte a second, without a newline, for up to `for_at_most`; returns
/// whether the server closed the connection meanwhile.
async fn trickle_until_closed(conn: &mut RawConn, for_at_most: Duration) -> bool {
    let end = tokio::time::Instant::now() + for_at_most;
    while tokio::time::Instant::now() < end {
        if conn.try_send(b"p").await.is_err() {
            return true;
        }
        if conn.closed_within(Duration::from_secs(1)).await.is_ok() {
            return true;
        }
    }
    false
}

#[tokio::test]
async fn a_trickled_line_is_closed_by_the_idle_timeout() {
    let server = ServerProcess::start(&["--idle-timeout", "3s"]);
    let mut conn = server.conn().await;
    // A finished request first: the deadline counts from it.
    assert_eq!(conn.request("ping").await["message"], "pong");
    // Five times the timeout: generous for a slow machine, and far short of
    // "forever", which is what a per-read timeout gives.
    assert!(
        trickle_until_closed(&mut conn, Duration::from_secs(15)).await,
        "still open after 15 s of one byte a second with --idle-timeout 3s"
    );
    let log = eventually(Duration::from_secs(10), "the close in the log", || async {
        let log = server.stderr();
        log.contains("reason=Idle").then_some(log)
    })
    .await;
    assert!(log.contains("connection closed"), "{log}");
}

#[tokio::test]
async fn completed_requests_keep_the_connection_open() {
    let server = ServerProcess::start(&["--idle-timeout", "3s"]);
    let mut conn = server.conn().await;
    // Ten requests a second apart: each completed one moves the deadline.
    for _ in 0..10 {
        assert_eq!(conn.request("ping").await["message"], "pong");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert_eq!(conn.request("ping").await["message"], "pong");
}
