//! Every abuse limit triggers with its own clear error, and the server keeps serving
//! everyone else meanwhile.

use chat_server::Config;
use chat_server::throttle::LoginBackoff;
use chat_tests::{TestServer, assert_error, assert_ok};
use chat_tui::client::Client;
use std::time::Duration;
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;

#[tokio::test]
async fn request_rate_per_connection() {
    let server = TestServer::with_config(Config { max_request_rate: 20, ..Config::default() }).await;
    let mut flood = server.conn().await;
    flood.send("ping\r\n".repeat(25)).await;
    let mut errors = 0;
    for _ in 0..25 {
        let reply = flood.read_json().await;
        if reply["status"] == "ERROR" {
            assert_error(&reply, "rate limit exceeded: at most 20 requests per second");
            errors += 1;
        }
    }
    assert!(errors >= 4, "a burst of 25 over a rate of 20 got only {errors} errors");
    // Another connection is not affected.
    let mut other = server.conn().await;
    assert_ok(&other.request("ping").await);
}

#[tokio::test]
async fn message_size() {
    let server = TestServer::with_config(Config { max_message: 10, ..Config::default() }).await;
    let mut c = server.conn().await;
    let token = c.login_demo("messi").await;
    assert_error(&c.request(&format!("send {token} lineker 01234567890")).await, "message too long (limit 10 bytes)");
    assert_ok(&c.request(&format!("send {token} lineker 0123456789")).await);
}

#[tokio::test]
async fn connections_per_source_address() {
    let server = TestServer::with_config(Config { max_connections_per_ip: 2, ..Config::default() }).await;
    let mut a = server.conn().await;
    let _b = server.conn().await;
    let mut refused = server.conn().await;
    assert_error(&refused.read_json().await, "too many connections from your address");
    refused.expect_closed().await;
    assert_ok(&a.request("ping").await);
    drop(a);
    let mut again = chat_tests::eventually(Duration::from_secs(5), "a freed slot", || async {
        let mut c = server.conn().await;
        c.send_line("ping").await;
        let reply = c.read_json().await;
        (reply["status"] == "OK").then_some(c)
    })
    .await;
    assert_ok(&again.request("ping").await);
}

#[tokio::test]
async fn login_backoff_per_address_and_username() {
    let backoff = LoginBackoff { base: Duration::from_secs(30), ..LoginBackoff::default() };
    let server = TestServer::with_config(Config { login_backoff: backoff, ..Config::default() }).await;
    let mut guesser = server.conn().await;
    for _ in 0..4 {
        assert_error(&guesser.request("auth messi wrong").await, "wrong password");
    }
    // The fifth attempt, even with the right password, waits: nothing is checked.
    let reply = guesser.request("auth messi surabaya").await;
    let text = reply["message"].as_str().unwrap_or_default().to_string();
    assert!(text.starts_with("too many failed logins; try again in"), "{reply}");
    // Five failed logins close the connection.
    let closing = guesser.read_json().await;
    assert_error(&closing, "too many failed logins; connection closed");
    guesser.expect_closed().await;
    // Other users, from other addresses, log in meanwhile; this address still gets
    // every other request served.
    let mut other = client_from("127.0.0.3", &server).await;
    assert!(other.call_line("auth lineker surabaya").await.expect("reply").is_ok());
    let mut same_address = server.conn().await;
    assert_ok(&same_address.request("ping").await);
    assert_error(&same_address.request("auth lineker surabaya").await, "too many failed logins; try again in 30 s");
}

/// A protocol client whose connection comes from `ip` (any 127.0.0.0/8 address).
async fn client_from(ip: &str, server: &TestServer) -> Client<TcpStream> {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.bind(format!("{ip}:0").parse().expect("addr")).expect("bind");
    Client::new(socket.connect(server.addr()).await.expect("connect"))
}

#[tokio::test]
async fn username_backoff_is_capped_so_the_real_user_gets_in() {
    // A third party fails many times for messi from 127.0.0.1 ...
    let backoff = LoginBackoff { base: Duration::from_millis(100), max_user_delay: Duration::from_millis(300), ..LoginBackoff::default() };
    let server = TestServer::with_config(Config { login_backoff: backoff, ..Config::default() }).await;
    for _ in 0..3 {
        let mut c = server.conn().await;
        for _ in 0..4 {
            let _ = c.request("auth messi wrong").await;
            tokio::time::sleep(Duration::from_millis(120)).await;
        }
    }
    // ... the real messi, from another address (127.0.0.2), waits at most the cap.
    let mut real = client_from("127.0.0.2", &server).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let reply = real.call_line("auth messi surabaya").await.expect("reply");
        if reply.is_ok() {
            assert!(reply.token().is_some());
            break;
        }
        let reason = reply.message_text().unwrap_or_default();
        assert!(reason.starts_with("too many failed logins; try again in"), "{reason}");
        assert!(Instant::now() < deadline, "the real user was locked out past the username cap");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
