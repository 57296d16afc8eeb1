//! Every abuse limit triggers with its own clear error, and the server keeps serving
//! everyone else meanwhile.

use chat_server::Config;
use chat_server::throttle::LoginBackoff;
use chat_tests::{IO_TIMEOUT, TestServer, assert_error, assert_ok};
use chat_tui::client::Client;
use std::time::Duration;
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;

#[tokio::test]
async fn request_rate_per_connection() {
    let server = TestServer::with_config(Config {
        max_request_rate: 20,
        ..Config::default()
    })
    .await;
    let mut flood = server.conn().await;
    flood.send("ping\r\n".repeat(25)).await;
    let mut errors = 0;
    for _ in 0..25 {
        let reply = flood.read_json().await;
        if reply["status"] == "ERROR" {
            assert_error(
                &reply,
                "rate limit exceeded: at most 20 requests per second",
            );
            errors += 1;
        }
    }
    assert!(
        errors >= 4,
        "a burst of 25 over a rate of 20 got only {errors} errors"
    );
    // Another connection is not affected.
    let mut other = server.conn().await;
    assert_ok(&other.request("ping").await);
}

#[tokio::test]
async fn message_size() {
    let server = TestServer::with_config(Config {
        max_message: 10,
        ..Config::default()
    })
    .await;
    let mut c = server.conn().await;
    let token = c.login_demo("messi").await;
    assert_error(
        &c.request(&format!("send {token} lineker 01234567890"))
            .await,
        "message too long (limit 10 bytes)",
    );
    assert_ok(&c.request(&format!("send {token} lineker 0123456789")).await);
}

#[tokio::test]
async fn inbox_size_per_user_keeps_the_oldest_and_tells_the_sender() {
    let server = TestServer::with_config(Config {
        max_inbox: 3,
        ..Config::default()
    })
    .await;
    let mut messi = server.conn().await;
    let t = messi.login_demo("messi").await;
    for i in 0..3 {
        assert_ok(&messi.request(&format!("send {t} lineker m{i}")).await);
    }
    assert_error(
        &messi.request(&format!("send {t} lineker m3")).await,
        "recipient inbox full",
    );
    // Other recipients are not affected.
    assert_ok(&messi.request(&format!("send {t} henderson hi")).await);
    let mut lineker = server.conn().await;
    let t2 = lineker.login_demo("lineker").await;
    let inbox = lineker.request(&format!("inbox {t2}")).await;
    let texts: Vec<&str> = inbox["messages"]["messi"]
        .as_array()
        .expect("messages from messi")
        .iter()
        .filter_map(|m| m["msg"].as_str())
        .collect();
    assert_eq!(texts, ["m0", "m1", "m2"], "the oldest are kept");
    // Drained, the inbox takes messages again.
    assert_ok(&messi.request(&format!("send {t} lineker m4")).await);
}

#[tokio::test]
async fn connections_per_source_address() {
    let server = TestServer::with_config(Config {
        max_connections_per_ip: 2,
        ..Config::default()
    })
    .await;
    let mut a = server.conn().await;
    let _b = server.conn().await;
    let mut refused = server.conn().await;
    assert_error(
        &refused.read_json().await,
        "too many connections from your address",
    );
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
async fn login_backoff_delays_attempts_per_address_without_locking_out() {
    let backoff = LoginBackoff {
        base: Duration::from_millis(400),
        exempt_loopback: false,
        ..LoginBackoff::default()
    };
    let server = TestServer::with_config(Config {
        login_backoff: backoff,
        ..Config::default()
    })
    .await;
    let mut guesser = server.conn().await;
    for i in 0..6 {
        assert_error(
            &guesser.request(&format!("auth messi wrong{i}")).await,
            "wrong password",
        );
    }
    // The sixth failure set a delay: the next attempt waits before it is checked, and
    // then the right password works (a backoff, not a lockout) on the same connection.
    let started = Instant::now();
    let reply = guesser.request("auth messi surabaya").await;
    assert_ok(&reply);
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "no delay after six failures"
    );
    // Someone else from another address is not delayed by this address's failures.
    let mut other = client_from("127.0.0.3", &server).await;
    assert!(
        other
            .call_line("auth lineker surabaya")
            .await
            .expect("reply")
            .is_ok()
    );
}

#[tokio::test]
async fn username_backoff_is_capped_so_the_real_user_gets_in() {
    // A third party fails many times for messi, from three addresses ...
    let backoff = LoginBackoff {
        base: Duration::from_millis(100),
        max_user_delay: Duration::from_millis(300),
        max_ip_delay: Duration::from_millis(300),
        exempt_loopback: false,
    };
    let server = TestServer::with_config(Config {
        login_backoff: backoff,
        ..Config::default()
    })
    .await;
    for ip in ["127.0.0.4", "127.0.0.5", "127.0.0.6"] {
        let mut c = client_from(ip, &server).await;
        for _ in 0..6 {
            let reply = c.call_line("auth messi wrong").await.expect("reply");
            assert_eq!(reply.message_text().as_deref(), Some("wrong password"));
        }
    }
    // ... 18 failures: uncapped, the username's delay would be 100 ms * 2^12 = 410 s,
    // far past the client's read timeout. Capped, the real messi, from elsewhere, gets in.
    let mut real = client_from("127.0.0.2", &server).await;
    let reply = tokio::time::timeout(IO_TIMEOUT, real.call_line("auth messi surabaya"))
        .await
        .expect("the real user was locked out")
        .expect("reply");
    assert!(reply.is_ok() && reply.token().is_some(), "{reply:?}");
}

/// A protocol client whose connection comes from `ip` (any 127.0.0.0/8 address).
async fn client_from(ip: &str, server: &TestServer) -> Client<TcpStream> {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(format!("{ip}:0").parse().expect("addr"))
        .expect("bind");
    Client::new(socket.connect(server.addr()).await.expect("connect"))
}
