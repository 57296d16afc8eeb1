//! Issue 17 item 6: the PROXY protocol from trusted sources only. The real
//! `chat-server` with `--proxy-protocol-from`: v1 and v2 headers name the client for
//! the per-address limit and the log; a trusted source without a header is closed;
//! an untrusted source that sends one is closed and nothing it sent runs.

use chat_tests::{RawConn, ServerProcess, assert_error, eventually};
use std::time::Duration;

/// A v2 header (PROXY command, TCP over IPv4) from `src` to 127.0.0.1:8889, built by
/// hand after the specification (section 2.2) so the test does not trust the
/// server's parser to check itself.
fn v2_header(src: [u8; 4], src_port: u16) -> Vec<u8> {
    let mut h = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    h.push(0x21); // version 2, PROXY
    h.push(0x11); // AF_INET, STREAM
    h.extend_from_slice(&12u16.to_be_bytes());
    h.extend_from_slice(&src);
    h.extend_from_slice(&[127, 0, 0, 1]);
    h.extend_from_slice(&src_port.to_be_bytes());
    h.extend_from_slice(&8889u16.to_be_bytes());
    h
}

async fn pong(conn: &mut RawConn) {
    assert_eq!(conn.read_json().await["message"], "pong");
}

async fn log_line(server: &ServerProcess, what: &str) -> String {
    eventually(Duration::from_secs(10), what, || async {
        let log = server.stderr();
        log.lines().find(|l| l.contains(what)).map(str::to_string)
    })
    .await
}

#[tokio::test]
async fn headers_from_a_trusted_proxy_name_the_client() {
    let server = ServerProcess::start(&[
        "--proxy-protocol-from",
        "127.0.0.0/8",
        "--max-connections-per-ip",
        "1",
    ]);
    // v1, with the first request in the same write.
    let mut a = server.conn().await;
    a.send("PROXY TCP4 192.0.2.7 127.0.0.1 40000 8889\r\nping\r\n")
        .await;
    pong(&mut a).await;
    assert_eq!(a.login_demo("messi").await.len(), 36);
    let opened = log_line(&server, "peer=192.0.2.7:40000").await;
    assert!(opened.contains("connection opened"), "{opened}");
    let login = log_line(&server, "logged in").await;
    assert!(login.contains("peer=192.0.2.7:40000"), "{login}");

    // The per-address limit (1) counts the client, not the proxy: a second client
    // through the same proxy is served, the same client twice is refused.
    let mut b = server.conn().await;
    let mut header = v2_header([198, 51, 100, 9], 1234);
    header.extend_from_slice(b"ping\r\n");
    b.send(header).await;
    pong(&mut b).await;
    let _ = log_line(&server, "peer=198.51.100.9:1234").await;
    let mut c = server.conn().await;
    c.send("PROXY TCP4 192.0.2.7 127.0.0.1 40001 8889\r\nping\r\n")
        .await;
    assert_error(
        &c.read_json().await,
        "too many connections from your address",
    );
    // A proxy's health check (v1 UNKNOWN) keeps the proxy's own address.
    let mut d = server.conn().await;
    d.send("PROXY UNKNOWN\r\nping\r\n").await;
    pong(&mut d).await;
    // The first connections still work.
    a.send_line("ping").await;
    pong(&mut a).await;
}

#[tokio::test]
async fn a_trusted_source_without_a_header_is_closed() {
    let server = ServerProcess::start(&["--proxy-protocol-from", "127.0.0.1"]);
    for start in [
        "ping\r\n",
        "PROXY TCP4 not-an-address 127.0.0.1 1 2\r\nping\r\n",
    ] {
        let mut conn = server.conn().await;
        conn.send(start).await;
        let got = conn
            .closed_within(Duration::from_secs(10))
            .await
            .unwrap_or_else(|got| panic!("still open after {start:?}: {got:?}"));
        assert!(
            got.is_empty(),
            "{start:?} got {:?}",
            String::from_utf8_lossy(&got)
        );
    }
    let warning = log_line(&server, "connection from a trusted proxy closed").await;
    assert!(warning.contains("WARN"), "{warning}");
    assert!(warning.contains("invalid PROXY header"), "{warning}");
}

#[tokio::test]
async fn an_untrusted_source_may_not_send_a_header() {
    // Loopback is not in the trusted network: these clients may not claim an address.
    let server = ServerProcess::start(&["--proxy-protocol-from", "192.0.2.0/24"]);
    let mut v2 = v2_header([192, 0, 2, 1], 1);
    v2.extend_from_slice(b"ping\r\n");
    for start in [
        b"PROXY TCP4 192.0.2.7 127.0.0.1 40000 8889\r\nping\r\n".to_vec(),
        v2,
    ] {
        let mut conn = server.conn().await;
        conn.send(&start).await;
        let got = conn
            .closed_within(Duration::from_secs(10))
            .await
            .unwrap_or_else(|got| panic!("still open after {start:?}: {got:?}"));
        assert!(
            !String::from_utf8_lossy(&got).contains("pong"),
            "ran the ping behind {start:?}"
        );
    }
    let warning = log_line(&server, "protocol=ProxyHeader").await;
    assert!(warning.contains("peer=127.0.0.1:"), "{warning}");
    // And plain clients from loopback are served as usual, without a header.
    let mut conn = server.conn().await;
    conn.send_line("ping").await;
    pong(&mut conn).await;
}
