//! Issue 17 item 1: client bytes never reach the operator's terminal raw. The real
//! `chat-server`, text log on stderr: every path that logs something a client sent
//! (an unknown command, a bad request, an unknown recipient, a username in a delayed
//! login, a line over the limit) must leave no control or bidi character in the log.

use chat_server::text_rules::is_unsafe_for_terminals;
use chat_tests::{ServerProcess, assert_error, eventually};
use std::time::Duration;

/// The issue's line: set the window title, ring the bell, clear the screen.
const TITLE_AND_CLEAR: &str = "\u{1b}]0;OPERATOR-PWNED\u{7}\u{1b}[2J";

#[tokio::test]
async fn no_client_byte_reaches_the_text_log_raw() {
    let server = ServerProcess::start(&[
        "--login-backoff",
        "1ms",
        "--login-backoff-loopback",
        "--max-line",
        "200",
    ]);
    let mut conn = server.conn().await;
    // Unknown command (no account needed), as in the field report.
    conn.send(format!("{TITLE_AND_CLEAR}\r\n")).await;
    let reply = conn.read_json().await;
    assert!(
        reply["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("unknown command")),
        "{reply}"
    );
    // Bad requests of other shapes, with C1, DEL, a bare CR and a bidi override.
    for line in [
        "auth \u{9b}2J",
        "history x\u{7f}",
        "send\u{1b}[31m",
        "fr\u{8}ob\r fake log line",
        "\u{202E}dneS",
    ] {
        conn.send(format!("{line}\r\n")).await;
        assert_eq!(conn.read_json().await["status"], "ERROR", "{line:?}");
    }
    // A recipient named with escapes.
    let token = conn.login_demo("messi").await;
    let reply = conn
        .request(&format!("send {token} {TITLE_AND_CLEAR} hi"))
        .await;
    assert_eq!(reply["status"], "ERROR", "{reply}");
    // Failed logins for a username made of escapes, until the delay is logged.
    for _ in 0..7 {
        let reply = conn
            .request(&format!("auth x{TITLE_AND_CLEAR} wrong"))
            .await;
        assert_error(&reply, "unknown user");
    }
    // A line over the limit, with escapes (it closes the connection).
    let long = format!("{}{}\r\n", TITLE_AND_CLEAR.repeat(20), "x".repeat(300));
    conn.send(long).await;
    let _ = conn.closed_within(Duration::from_secs(10)).await;

    let log = eventually(
        Duration::from_secs(10),
        "the line-too-long close",
        || async {
            let log = server.stderr();
            log.contains("reason=LineTooLong").then_some(log)
        },
    )
    .await;
    assert!(log.contains("login delayed"), "{log}");
    let unsafe_chars: Vec<(usize, char)> = log
        .lines()
        .enumerate()
        .flat_map(|(n, line)| line.chars().map(move |c| (n, c)))
        .filter(|&(_, c)| is_unsafe_for_terminals(c))
        .collect();
    assert!(
        unsafe_chars.is_empty(),
        "raw control characters {unsafe_chars:?} in the log:\n{log:?}"
    );
    // Escaped, not dropped: the operator can still see what was sent.
    assert!(
        log.contains(r"unknown command: \u{1b}]0;OPERATOR-PWNED\u{7}\u{1b}[2J"),
        "{log}"
    );
    assert!(log.contains(r"unknown command: fr\u{8}ob"), "{log}");
}
