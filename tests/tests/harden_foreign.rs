//! Issue 17 item 2: another protocol is never run as chat commands. A recognisable
//! HTTP request line or header closes the connection at once, runs nothing after it
//! (not even lines already pipelined), and is logged as a warning. The real
//! `chat-server`, the state of the connection, its log and its store.

use chat_tests::{ServerProcess, assert_error, assert_ok, eventually};
use std::time::Duration;

/// Sends `bytes` in one write and returns what arrived before the server closed.
async fn closed_after(server: &ServerProcess, bytes: &str) -> Vec<u8> {
    let mut conn = server.conn().await;
    conn.send(bytes).await;
    match conn.closed_within(Duration::from_secs(10)).await {
        Ok(got) => got,
        Err(got) => panic!(
            "still open after {bytes:?}; got {:?}",
            String::from_utf8_lossy(&got)
        ),
    }
}

#[tokio::test]
async fn http_requests_close_the_connection_and_run_nothing() {
    let server = ServerProcess::start(&["--allow-register"]);
    // The field report: a POST whose body would log in, and a ping behind it.
    let got = closed_after(
        &server,
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 48\r\n\r\nregister eve1 secret1\r\nauth messi surabaya\r\nping\r\n",
    )
    .await;
    assert_eq!(String::from_utf8_lossy(&got), "", "nothing may be answered");
    // Other shapes of the same kind, each with a command behind it.
    for (n, start) in [
        "GET / HTTP/1.1\r\n",
        "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        "Host: 127.0.0.1:8889\r\n",
        "OPTIONS * HTTP/1.0\r\n",
        "GET /\r\n",
    ]
    .iter()
    .enumerate()
    {
        let got = closed_after(
            &server,
            &format!("{start}register eve{} secret1\r\n", n + 2),
        )
        .await;
        assert_eq!(String::from_utf8_lossy(&got), "", "{start:?}");
    }
    // Nothing behind them ran: no account was made.
    let mut conn = server.conn().await;
    for n in 1..=6 {
        let reply = conn.request(&format!("auth eve{n} secret1")).await;
        assert_error(&reply, "unknown user");
    }
    // The `auth messi` in the POST's body made no session.
    let token = conn.login_demo("henderson").await;
    let active = conn.request(&format!("user_aktif {token}")).await;
    assert_eq!(
        active["users"],
        serde_json::json!(["henderson"]),
        "{active}"
    );
    // The server still serves, and chat lines that merely mention HTTP are fine.
    assert_ok(
        &conn
            .request(&format!("send {token} messi GET / HTTP/1.1"))
            .await,
    );
    let log = eventually(Duration::from_secs(10), "six warnings", || async {
        let log = server.stderr();
        (log.matches("possible security attack").count() >= 6).then_some(log)
    })
    .await;
    let warning = log
        .lines()
        .find(|l| l.contains("possible security attack"))
        .expect("a warning");
    assert!(warning.contains("WARN"), "{warning}");
    assert!(warning.contains("peer=127.0.0.1:"), "{warning}");
    assert!(log.contains("reason=ForeignProtocol"), "{log}");
}
