//! `--metrics-listen`: the real `chat-server` serves Prometheus metrics over HTTP, and
//! they count what clients did, with no username, password, token or message in
//! them.

use chat_tests::{IO_TIMEOUT, ServerProcess, assert_error, assert_ok, eventually};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// An HTTP response: status code, headers (names lower-cased), body.
#[derive(Debug)]
struct HttpResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

/// `METHOD path` over a new connection to `addr`, read until the server closes.
async fn http(addr: SocketAddr, method: &str, path: &str) -> HttpResponse {
    let exchange = async {
        let mut stream = TcpStream::connect(addr)
            .await
            .expect("connecting to metrics");
        let request =
            format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .expect("sending the request");
        let mut raw = Vec::new();
        stream
            .read_to_end(&mut raw)
            .await
            .expect("reading the response");
        raw
    };
    let raw = tokio::time::timeout(IO_TIMEOUT, exchange)
        .await
        .expect("metrics response timed out");
    let text = String::from_utf8(raw).expect("UTF-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("a response head");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {head:?}"));
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    HttpResponse {
        status,
        headers,
        body: body.to_string(),
    }
}

/// The value of the series `series` (name and labels as encoded) in `text`.
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {series} in:\n{text}"))
        .parse()
        .unwrap_or_else(|e| panic!("{series}: {e}"))
}

/// Scrapes `/metrics`; checks it is a 200 in the OpenMetrics format.
async fn scrape(addr: SocketAddr) -> String {
    let response = http(addr, "GET", "/metrics").await;
    assert_eq!(response.status, 200, "{response:?}");
    let content_type = response
        .headers
        .iter()
        .find(|(name, _)| name == "content-type")
        .map(|(_, value)| value.as_str());
    assert_eq!(
        content_type,
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    assert!(response.body.ends_with("# EOF\n"), "{}", response.body);
    response.body
}

#[tokio::test]
async fn a_scrape_counts_what_clients_did() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = format!("sqlite://{}", dir.path().join("chat.db").display());
    let server = ServerProcess::start(&[
        "--db",
        &db,
        "--metrics-listen",
        "127.0.0.1:0",
        "--max-message",
        "8",
        "--max-line",
        "100",
    ]);
    let metrics: SocketAddr = server
        .stdout_line("metrics on http://")
        .await
        .trim_end_matches("/metrics")
        .parse()
        .expect("metrics address");

    let mut client = server.conn().await;
    let token = client.login_demo("messi").await;
    assert_error(
        &client.request("auth messi not-the-password").await,
        "wrong password",
    );
    assert_error(&client.request("auth nobody secret").await, "unknown user");
    assert_ok(&client.request(&format!("send {token} henderson hi")).await);
    assert_error(
        &client
            .request(&format!("send {token} henderson far-too-long"))
            .await,
        "message too long (limit 8 bytes)",
    );
    assert_ok(&client.request(&format!("inbox {token}")).await);
    assert_eq!(client.request("frobnicate").await["status"], "ERROR");
    let mut long = server.conn().await;
    long.send(format!("ping {}\r\n", "x".repeat(200))).await;
    let before_close = long.closed_within(IO_TIMEOUT).await.expect("a close");
    assert!(
        String::from_utf8_lossy(&before_close).contains("line too long"),
        "{before_close:?}"
    );

    let text = scrape(metrics).await;
    let requests = |command: &str, status: &str| {
        value(
            &text,
            &format!(r#"chat_requests_total{{command="{command}",status="{status}"}}"#),
        )
    };
    assert_eq!(requests("auth", "ok"), 1.0);
    assert_eq!(requests("auth", "error"), 2.0);
    assert_eq!(requests("send", "ok"), 1.0);
    assert_eq!(requests("send", "error"), 1.0);
    assert_eq!(requests("inbox", "ok"), 1.0);
    assert_eq!(requests("unknown", "error"), 1.0);
    assert_eq!(
        value(
            &text,
            r#"chat_request_duration_seconds_count{command="auth"}"#
        ),
        3.0
    );
    assert_eq!(value(&text, "chat_messages_stored_total"), 1.0);
    assert_eq!(
        value(
            &text,
            r#"chat_login_failures_total{reason="wrong_password"}"#
        ),
        1.0
    );
    assert_eq!(
        value(&text, r#"chat_login_failures_total{reason="unknown_user"}"#),
        1.0
    );
    let rejections = |limit: &str| {
        value(
            &text,
            &format!(r#"chat_limit_rejections_total{{limit="{limit}"}}"#),
        )
    };
    assert_eq!(rejections("message_length"), 1.0);
    assert_eq!(rejections("line_length"), 1.0);
    assert_eq!(rejections("connections"), 0.0);
    // The client's connection is still open; the one with the long line is not.
    assert_eq!(value(&text, r#"chat_connections{listener="tcp"}"#), 1.0);
    assert_eq!(
        value(&text, r#"chat_connections_accepted_total{listener="tcp"}"#),
        2.0
    );
    // The send, the session and the demo users were committed by the SQLite writer.
    assert!(
        value(
            &text,
            r#"chat_store_commit_batch_size_count{backend="sqlite"}"#
        ) >= 1.0
    );
    assert!(
        value(
            &text,
            r#"chat_store_commit_duration_seconds_count{backend="sqlite"}"#
        ) >= 1.0
    );
    assert_eq!(value(&text, "chat_sync_waiting"), 0.0);
    let commit = chat_build_info::GIT_COMMIT;
    assert_eq!(
        value(
            &text,
            &format!(
                r#"chat_build_info{{version="{}",commit="{commit}"}}"#,
                env!("CARGO_PKG_VERSION")
            )
        ),
        1.0
    );
    // Nothing a client said is in a label.
    for secret in [
        token.as_str(),
        "messi",
        "nobody",
        "surabaya",
        "not-the-password",
        "far-too-long",
        "frobnicate",
    ] {
        assert!(
            !text.contains(secret),
            "{secret:?} appears in the metrics:\n{text}"
        );
    }

    drop(client);
    eventually(
        IO_TIMEOUT,
        "the closed connection to leave chat_connections",
        || async {
            let text = scrape(metrics).await;
            (value(&text, r#"chat_connections{listener="tcp"}"#) == 0.0).then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn only_metrics_is_served() {
    let server = ServerProcess::start(&["--metrics-listen", "127.0.0.1:0"]);
    let metrics: SocketAddr = server
        .stdout_line("metrics on http://")
        .await
        .trim_end_matches("/metrics")
        .parse()
        .expect("metrics address");
    assert_eq!(http(metrics, "GET", "/").await.status, 404);
    assert_eq!(http(metrics, "POST", "/metrics").await.status, 405);
    let head = http(metrics, "HEAD", "/metrics").await;
    assert_eq!((head.status, head.body.as_str()), (200, ""));
    // Garbage on the metrics port does not stop the chat listener.
    let mut junk = TcpStream::connect(metrics).await.expect("connecting");
    junk.write_all(b"\x16\x03\x01 not http\r\n\r\n")
        .await
        .expect("writing");
    drop(junk);
    let mut client = server.conn().await;
    assert_ok(&client.request("ping").await);
    assert_eq!(http(metrics, "GET", "/metrics").await.status, 200);
}

/// Without `--metrics-listen` nothing but the chat listener is opened.
#[tokio::test]
async fn metrics_are_off_by_default() {
    let mut server = ServerProcess::start(&[]);
    server.terminate();
    assert!(
        server.wait_exit(Duration::from_secs(10)).await.is_some(),
        "the server did not stop"
    );
    assert!(!server.stdout().contains("metrics"), "{}", server.stdout());
}
