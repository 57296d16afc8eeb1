//! How the server splits bytes into requests: pipelining, tiny writes, `\n`-only
//! lines, the line limit, invalid UTF-8.

use chat_tests::{
    Config, IO_TIMEOUT, RawConn, TestServer, assert_error, assert_ok, assert_python_ascii,
    parse_reply, show,
};
use serde_json::json;
use std::time::Duration;

const PONG: &[u8] = b"{\"status\": \"OK\", \"message\": \"pong\"}\r\n\r\n";

/// A server with a small line limit, so over-long lines are cheap to send.
async fn small_limit(max_line: usize) -> TestServer {
    TestServer::with_config(Config {
        max_line,
        ..Config::default()
    })
    .await
}

/// The texts of `from`'s messages in the inbox of the session `token`.
async fn inbox_texts(conn: &mut RawConn, token: &str, from: &str) -> Vec<String> {
    let reply = conn.request(&format!("inbox {token}")).await;
    assert_ok(&reply);
    match reply["messages"].get(from) {
        None => Vec::new(),
        Some(list) => list
            .as_array()
            .unwrap_or_else(|| panic!("not a list: {reply}"))
            .iter()
            .map(|m| m["msg"].as_str().expect("msg").to_string())
            .collect(),
    }
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let server = TestServer::start().await;
    let mut c = server.conn().await;
    let t = c.login_demo("messi").await;
    let burst = format!(
        "ping\r\nsend {t} messi one\r\nsend {t} messi two\nbogus\r\nuser_aktif {t}\r\ninbox {t}\r\ninbox {t}\nping\r\n"
    );
    c.send(burst).await;
    assert_eq!(c.read_raw().await, PONG);
    let one = c.read_json().await;
    assert_ok(&one);
    let two = c.read_json().await;
    assert_ok(&two);
    assert!(one["id"].as_i64() < two["id"].as_i64(), "{one} {two}");
    assert_error(&c.read_json().await, "unknown command: bogus");
    assert_eq!(c.read_json().await["users"], json!(["messi"]));
    let inbox = c.read_json().await;
    let texts: Vec<&str> = inbox["messages"]["messi"]
        .as_array()
        .unwrap_or_else(|| panic!("{inbox}"))
        .iter()
        .map(|m| m["msg"].as_str().expect("msg"))
        .collect();
    assert_eq!(texts, ["one", "two"]);
    assert_eq!(c.read_json().await, json!({"status": "OK", "messages": {}}));
    assert_eq!(c.read_raw().await, PONG);
    assert!(c.buffered().is_empty());
}

#[tokio::test]
async fn many_pipelined_pings_in_one_write() {
    let server = TestServer::start().await;
    let mut c = server.conn().await;
    let n = 500; // under the default per-connection request rate (1000/s)
    c.send("ping\r\n".repeat(n)).await;
    for i in 0..n {
        assert_eq!(c.read_raw().await, PONG, "reply {i}");
    }
}

#[tokio::test]
async fn one_byte_writes() {
    let server = TestServer::start().await;
    let mut c = server.conn().await;
    let mut m = server.conn().await;
    let tm = m.login_demo("messi").await;
    let text = "halo 🙂 apa kabar, Surabaya?";
    let script = format!("auth lineker surabaya\r\nsend {tm} lineker {text}\r\n");
    // Each byte in its own write (nodelay is set, so each leaves as its own segment);
    // the 4 bytes of the emoji arrive one by one.
    for chunk in [&script[..], "ping\r\n"] {
        for b in chunk.as_bytes() {
            c.send([*b]).await;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    let login = c.read_json().await;
    assert_ok(&login);
    let tl = login["tokenid"].as_str().expect("token").to_string();
    assert_ok(&c.read_json().await);
    assert_eq!(c.read_raw().await, PONG);
    assert_eq!(inbox_texts(&mut c, &tl, "messi").await, [text]);
}

#[tokio::test]
async fn a_request_split_at_any_byte_works() {
    let server = TestServer::start().await;
    let mut c = server.conn().await;
    let t = c.login_demo("messi").await;
    let line = format!("send {t} messi Aku 🇮🇩 cinta\r\n");
    let bytes = line.as_bytes();
    for cut in 1..bytes.len() {
        c.send(&bytes[..cut]).await;
        tokio::time::sleep(Duration::from_millis(1)).await;
        c.send(&bytes[cut..]).await;
        assert_ok(&c.read_json().await);
    }
    let texts = inbox_texts(&mut c, &t, "messi").await;
    assert_eq!(texts.len(), bytes.len() - 1);
    assert!(texts.iter().all(|m| m == "Aku 🇮🇩 cinta"), "{texts:?}");
}

#[tokio::test]
async fn lines_ending_in_lf_only() {
    let server = TestServer::start().await;
    let mut c = server.conn().await;
    let login = c.request("auth messi surabaya\n").await;
    assert_ok(&login);
    let t = login["tokenid"].as_str().expect("token").to_string();
    assert_eq!(c.request_raw("ping\n").await, PONG);
    c.send(format!(
        "send {t} messi lf only\nping\nsend {t} messi crlf\r\ninbox {t}\n"
    ))
    .await;
    assert_ok(&c.read_json().await);
    assert_eq!(c.read_raw().await, PONG);
    assert_ok(&c.read_json().await);
    let inbox = c.read_json().await;
    assert_eq!(inbox["messages"]["messi"][0]["msg"], "lf only");
    assert_eq!(inbox["messages"]["messi"][1]["msg"], "crlf");
    // An empty line is an empty request, whether `\n` or `\r\n`.
    c.send("\n\r\n").await;
    assert_error(&c.read_json().await, "empty request");
    assert_error(&c.read_json().await, "empty request");
}

/// A line of exactly `len` bytes (terminator not counted) that sends `messi` a message.
fn send_line_of_len(token: &str, len: usize) -> (String, String) {
    let head = format!("send {token} messi ");
    assert!(len > head.len() + 1);
    let text = format!("<{}>", "x".repeat(len - head.len() - 2));
    let line = format!("{head}{text}");
    assert_eq!(line.len(), len);
    (line, text)
}

#[tokio::test]
async fn a_line_exactly_at_the_limit_works() {
    let limit = 200;
    let server = small_limit(limit).await;
    let mut c = server.conn().await;
    let t = c.login_demo("messi").await;
    let (crlf, text1) = send_line_of_len(&t, limit);
    let (lf, text2) = send_line_of_len(&t, limit);
    assert_ok(&c.request(&format!("{crlf}\r\n")).await);
    assert_ok(&c.request(&format!("{lf}\n")).await);
    assert_eq!(inbox_texts(&mut c, &t, "messi").await, [text1, text2]);
}

#[tokio::test]
async fn a_line_exactly_at_the_default_limit_works() {
    let limit = chat_protocol::DEFAULT_MAX_LINE;
    assert_eq!(limit, 64 * 1024);
    assert_eq!(Config::default().max_line, limit);
    // Messages have their own, smaller limit; lift it to reach the line limit with one.
    let server = TestServer::with_config(Config {
        max_message: limit,
        ..Config::default()
    })
    .await;
    let mut c = server.conn().await;
    let t = c.login_demo("messi").await;
    let (line, text) = send_line_of_len(&t, limit);
    assert_ok(&c.request(&format!("{line}\r\n")).await);
    assert_eq!(inbox_texts(&mut c, &t, "messi").await, [text]);
    // Any command can be that long: trailing spaces are no extra argument.
    let ping = format!("ping{}", " ".repeat(limit - 4));
    assert_eq!(c.request_raw(&format!("{ping}\r\n")).await, PONG);
    // One byte more is over the default limit.
    let _ = c.try_send(format!("{ping} \r\n")).await;
    assert_error(&c.read_json().await, "line too long (limit 65536 bytes)");
    c.expect_closed().await;
}

/// Sends `bytes` (the server may close before taking them all), then expects the
/// line-too-long ERROR and a close.
async fn expect_too_long(c: &mut RawConn, bytes: &[u8], limit: usize) {
    // The server may stop reading once the limit is passed: a failed write is fine.
    let _ = c.try_send(bytes).await;
    let raw = match c.next_raw().await {
        Ok(Some(raw)) => raw,
        other => panic!("expected the line-too-long ERROR, got {other:?}"),
    };
    assert_python_ascii(&raw);
    assert_error(
        &parse_reply(&raw),
        &format!("line too long (limit {limit} bytes)"),
    );
    match c.closed_within(IO_TIMEOUT).await {
        Ok(rest) => assert!(rest.is_empty(), "bytes after the ERROR: {:?}", show(&rest)),
        Err(rest) => panic!(
            "connection still open after line too long; got {:?}",
            show(&rest)
        ),
    }
}

#[tokio::test]
async fn one_byte_over_the_limit_gets_an_error_and_a_close() {
    let limit = 200;
    let server = small_limit(limit).await;
    for terminator in ["\r\n", "\n"] {
        let mut c = server.conn().await;
        let t = c.login_demo("messi").await;
        let (line, _) = send_line_of_len(&t, limit + 1);
        expect_too_long(&mut c, format!("{line}{terminator}").as_bytes(), limit).await;
    }
}

#[tokio::test]
async fn an_endless_line_is_cut_off_without_waiting_for_its_end() {
    let limit = 1024;
    let server = small_limit(limit).await;
    let mut other = server.conn().await;
    let t_other = other.login_demo("lineker").await;

    // Far more than the limit and no newline at all: the server must answer as soon
    // as the limit is passed, not wait for a line end that never comes.
    let mut c = server.conn().await;
    expect_too_long(&mut c, &vec![b'a'; 1024 * 1024], limit).await;

    // Exactly enough to pass the limit, then silence: still answered.
    let mut c = server.conn().await;
    expect_too_long(&mut c, &vec![b'b'; limit + 2], limit).await;

    // The server still serves the connection it had and new ones.
    assert_eq!(other.request_raw("ping").await, PONG);
    assert_ok(
        &other
            .request(&format!("send {t_other} lineker masih hidup"))
            .await,
    );
    let mut fresh = server.conn().await;
    let t = fresh.login_demo("lineker").await;
    assert_eq!(
        inbox_texts(&mut fresh, &t, "lineker").await,
        ["masih hidup"]
    );
}

#[tokio::test]
async fn an_over_long_line_after_good_requests_in_the_same_write() {
    let limit = 100;
    let server = small_limit(limit).await;
    let mut c = server.conn().await;
    let mut burst = b"ping\r\nping\r\n".to_vec();
    burst.extend(vec![b'z'; limit + 50]);
    burst.extend_from_slice(b"\r\nping\r\n");
    let _ = c.try_send(&burst).await;
    assert_eq!(c.read_raw().await, PONG);
    assert_eq!(c.read_raw().await, PONG);
    assert_error(
        &c.read_json().await,
        &format!("line too long (limit {limit} bytes)"),
    );
    match c.closed_within(IO_TIMEOUT).await {
        Ok(rest) => assert!(
            rest.is_empty(),
            "answered after the over-long line: {:?}",
            show(&rest)
        ),
        Err(rest) => panic!("still open after line too long; got {:?}", show(&rest)),
    }
}

#[tokio::test]
async fn invalid_utf8_gets_an_error_and_the_connection_continues() {
    let server = TestServer::start().await;
    let mut c = server.conn().await;
    let t = c.login_demo("messi").await;
    let cases: Vec<Vec<u8>> = vec![
        [format!("send {t} messi ").as_bytes(), b"\xff\xfe halo\r\n"].concat(),
        b"\xc3\x28\r\n".to_vec(),
        b"auth messi \xe2\x82\n".to_vec(),
        // A truncated emoji, then the line ends.
        [
            format!("send {t} messi hi ").as_bytes(),
            &"🙂".as_bytes()[..3],
            b"\r\n",
        ]
        .concat(),
        // An encoded surrogate and an overlong encoding are not UTF-8 either.
        b"ping \xed\xa0\x80\r\n".to_vec(),
        b"ping \xc0\xaf\r\n".to_vec(),
    ];
    for case in &cases {
        c.send(case).await;
        let raw = c.read_raw().await;
        assert_python_ascii(&raw);
        assert_error(&parse_reply(&raw), "invalid UTF-8");
        assert_eq!(c.request_raw("ping").await, PONG, "after {:?}", show(case));
    }
    // Nothing was stored from the rejected lines, and the session is intact.
    assert_eq!(inbox_texts(&mut c, &t, "messi").await, Vec::<String>::new());
    // Invalid UTF-8 in the middle of a pipelined burst does not disturb its neighbours.
    c.send([b"ping\r\n".as_slice(), b"\xff\r\n", b"ping\r\n"].concat())
        .await;
    assert_eq!(c.read_raw().await, PONG);
    assert_error(&c.read_json().await, "invalid UTF-8");
    assert_eq!(c.read_raw().await, PONG);
}

#[tokio::test]
async fn end_of_input_after_a_request_still_gets_the_answer() {
    let server = TestServer::start().await;
    let mut c = server.conn().await;
    c.send("ping\r\nping\r\n").await;
    c.shutdown_write().await.expect("half-close");
    assert_eq!(c.read_raw().await, PONG);
    assert_eq!(c.read_raw().await, PONG);
    c.expect_closed().await;
}
