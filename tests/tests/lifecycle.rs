//! Time and limits: session TTL, idle connections, the connection limit, graceful
//! shutdown (in-process and the real binary under SIGTERM/SIGINT), and the
//! `chat-server` flags that choose users and limits.

use chat_tests::{
    Config, IO_TIMEOUT, Poll, RawConn, ServerProcess, TERMINATOR, TestServer, assert_error,
    assert_ok, assert_python_ascii, eventually, parse_reply, run_bin, show,
};
use serde_json::json;
use std::io::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

const PONG: &[u8] = b"{\"status\": \"OK\", \"message\": \"pong\"}\r\n\r\n";
const TOO_MANY: &[u8] = b"{\"status\": \"ERROR\", \"message\": \"too many connections\"}\r\n\r\n";

/// Generous deadline for things that "eventually" happen.
const DEADLINE: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------------------------
// Sessions
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn an_unused_session_expires_after_the_ttl() {
    let ttl = Duration::from_millis(1500);
    let server = TestServer::with_config(Config {
        session_ttl: ttl,
        ..Config::default()
    })
    .await;
    let mut m = server.conn().await;
    let mut l = server.conn().await;
    let tm = m.login_demo("messi").await;
    let tl = l.login_demo("lineker").await;
    let who = l.request(&format!("user_aktif {tl}")).await;
    assert_eq!(who["users"], json!(["lineker", "messi"]));

    // lineker keeps using his session; messi's, left alone, must drop out of
    // who-is-on (polling with lineker's token does not touch messi's session).
    let poll = Poll::new(DEADLINE, "messi's idle session to expire");
    loop {
        let who = l.request(&format!("user_aktif {tl}")).await;
        assert_ok(&who);
        if who["users"] == json!(["lineker"]) {
            break;
        }
        poll.wait().await;
    }
    assert_error(
        &m.request(&format!("inbox {tm}")).await,
        "invalid or expired token",
    );
    assert_error(
        &m.request(&format!("send {tm} lineker hi")).await,
        "invalid or expired token",
    );
    // A session in use stays alive past the TTL: lineker's still works.
    assert_ok(&l.request(&format!("send {tl} messi masih aktif")).await);
    // And messi can log in again; his inbox was kept.
    let tm2 = m.login_demo("messi").await;
    let inbox = m.request(&format!("inbox {tm2}")).await;
    assert_eq!(inbox["messages"]["lineker"][0]["msg"], "masih aktif");
}

// ---------------------------------------------------------------------------------
// Idle connections
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn an_idle_connection_is_closed() {
    let server = TestServer::with_config(Config {
        idle_timeout: Duration::from_millis(300),
        ..Config::default()
    })
    .await;
    // Silent from the start.
    let mut silent = server.conn().await;
    // Active, then silent.
    let mut active = server.conn().await;
    let t = active.login_demo("messi").await;
    // Silent in the middle of a line.
    let mut partial = server.conn().await;
    partial.send("pin").await;

    for (name, c) in [
        ("silent", &mut silent),
        ("after a request", &mut active),
        ("mid-line", &mut partial),
    ] {
        match c.closed_within(DEADLINE).await {
            Ok(rest) => {
                // A server may say why before closing; it must not be half a reply.
                if !rest.is_empty() {
                    assert!(
                        rest.ends_with(TERMINATOR),
                        "{name}: partial reply {:?}",
                        show(&rest)
                    );
                    assert_eq!(parse_reply(&rest)["status"], "ERROR", "{name}");
                }
            }
            Err(rest) => panic!("{name}: idle connection still open; got {:?}", show(&rest)),
        }
    }
    // The session outlives the connection, and the server still serves.
    let mut again = server.conn().await;
    assert_ok(&again.request(&format!("user_aktif {t}")).await);
}

#[tokio::test]
async fn a_connection_in_use_is_not_idle() {
    let idle = Duration::from_millis(1500);
    let server = TestServer::with_config(Config {
        idle_timeout: idle,
        ..Config::default()
    })
    .await;
    let mut c = server.conn().await;
    // Requests every 100 ms for twice the idle timeout: never idle that long.
    let end = tokio::time::Instant::now() + idle * 2;
    while tokio::time::Instant::now() < end {
        assert_eq!(c.request_raw("ping").await, PONG);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------------------------
// Connection limit
// ---------------------------------------------------------------------------------

/// Connects and pings; `Ok` if served, `Err(reply)` if refused with a reply.
async fn try_serve(addr: SocketAddr) -> Result<RawConn, Vec<u8>> {
    let mut c = RawConn::connect(addr).await;
    // A refused connection may be closed before the ping is written.
    let _ = c.try_send("ping\r\n").await;
    match c.next_raw().await {
        Ok(Some(reply)) if reply == PONG => Ok(c),
        Ok(Some(reply)) => Err(reply),
        Ok(None) => Err(Vec::new()),
        Err(e) => panic!("connecting under the limit: {e}"),
    }
}

/// Asserts that a new connection gets exactly the `too many connections` ERROR and
/// is closed.
async fn assert_refused(addr: SocketAddr) {
    let mut c = RawConn::connect(addr).await;
    let reply = c.read_raw().await;
    assert_eq!(reply, TOO_MANY, "{:?}", show(&reply));
    match c.closed_within(IO_TIMEOUT).await {
        Ok(rest) => assert!(rest.is_empty(), "after the refusal: {:?}", show(&rest)),
        Err(rest) => panic!("refused connection left open; got {:?}", show(&rest)),
    }
}

#[tokio::test]
async fn one_connection_over_the_limit_is_refused_and_a_slot_frees_up() {
    let server = TestServer::with_config(Config {
        max_connections: 2,
        ..Config::default()
    })
    .await;
    let addr = server.addr();
    let mut first = try_serve(addr).await.expect("first connection served");
    let mut second = try_serve(addr).await.expect("second connection served");
    assert_refused(addr).await;
    assert_refused(addr).await;
    // The served ones are unaffected.
    assert_eq!(first.request_raw("ping").await, PONG);
    assert_eq!(second.request_raw("ping").await, PONG);

    // One leaves; its slot is reused (eventually: the server notices the close).
    drop(first);
    let mut third = eventually(DEADLINE, "a slot to free up", || async move {
        match try_serve(addr).await {
            Ok(c) => Some(c),
            Err(reply) if reply.is_empty() || reply == TOO_MANY => None,
            Err(reply) => panic!("unexpected reply: {:?}", show(&reply)),
        }
    })
    .await;
    assert_eq!(third.request_raw("ping").await, PONG);
    // Full again.
    assert_refused(addr).await;
    assert_eq!(second.request_raw("ping").await, PONG);
}

// ---------------------------------------------------------------------------------
// Graceful shutdown
// ---------------------------------------------------------------------------------

/// Reads everything until the server closes; asserts it is only whole `PONG`s and
/// returns how many.
async fn pongs_until_close(c: &mut RawConn, what: &str) -> usize {
    let rest = match c.closed_within(DEADLINE).await {
        Ok(rest) => rest,
        Err(rest) => panic!(
            "{what}: connection not closed by shutdown; got {} bytes",
            rest.len()
        ),
    };
    assert!(
        rest.len() % PONG.len() == 0 && rest.chunks(PONG.len()).all(|r| r == PONG),
        "{what}: a reply was cut or garbled at shutdown: ...{:?}",
        show(&rest[rest.len().saturating_sub(200)..])
    );
    rest.len() / PONG.len()
}

#[tokio::test]
async fn in_process_shutdown_closes_sessions_and_returns() {
    let server = TestServer::start().await;
    let addr = server.addr();
    let mut mid = server.conn().await;
    let t = mid.login_demo("messi").await;
    assert_ok(
        &mid.request(&format!("send {t} lineker sebelum berhenti"))
            .await,
    );
    let mut burst = server.conn().await;
    burst.send("ping\r\n".repeat(500)).await;
    assert_eq!(
        burst.read_raw().await,
        PONG,
        "the first request of the burst is answered"
    );

    server.shutdown().await.expect("run returned Ok");
    // The idle client mid-session is closed cleanly, without stray bytes.
    match mid.closed_within(DEADLINE).await {
        Ok(rest) => assert!(rest.is_empty(), "{:?}", show(&rest)),
        Err(_) => panic!("mid-session connection left open after run returned"),
    }
    pongs_until_close(&mut burst, "burst").await;
    assert!(
        RawConn::try_connect(addr).await.is_err(),
        "still accepting after shutdown"
    );
}

/// The real binary: a client mid-session and a client with requests in flight when
/// the signal arrives.
async fn graceful_exit_on(signal: &str) {
    let mut server = ServerProcess::start(&[]);
    let addr = server.addr();
    let mut mid = server.conn().await;
    let t = mid.login_demo("messi").await;
    assert_ok(
        &mid.request(&format!("send {t} henderson sebelum berhenti"))
            .await,
    );
    // Requests in flight: a burst written just before the signal.
    let mut burst = server.conn().await;
    burst.send("ping\r\n".repeat(500)).await;
    assert_eq!(
        burst.read_raw().await,
        PONG,
        "the first request of the burst is answered"
    );
    let mut late = server.conn().await;
    late.send(format!("inbox {t}\r\n")).await;

    server.signal(signal);
    let status = server.wait_exit(Duration::from_secs(10)).await;
    let Some(status) = status else {
        panic!(
            "chat-server still running 10 s after SIG{signal}; stderr:\n{}",
            server.stderr()
        );
    };
    assert_eq!(
        status.code(),
        Some(0),
        "exit status after SIG{signal}; stderr:\n{}",
        server.stderr()
    );

    match mid.closed_within(DEADLINE).await {
        Ok(rest) => assert!(rest.is_empty(), "mid-session client got {:?}", show(&rest)),
        Err(_) => panic!("mid-session connection open after the process exited"),
    }
    pongs_until_close(&mut burst, "burst").await;
    // A request sent before the signal is either answered whole or not at all.
    match late.closed_within(DEADLINE).await {
        Ok(rest) if rest.is_empty() => {}
        Ok(rest) => {
            let reply = parse_reply(&rest);
            assert_ok(&reply);
            assert_eq!(reply["messages"], json!({}));
        }
        Err(_) => panic!("connection open after the process exited"),
    }
    assert!(
        RawConn::try_connect(addr).await.is_err(),
        "new connections must be refused"
    );
    let logs = server.stderr();
    assert!(!logs.contains(&t), "the log shows a token");
    assert!(!logs.contains("surabaya"), "the log shows a password");
}

#[tokio::test]
async fn sigterm_exits_zero_after_answering() {
    graceful_exit_on("TERM").await;
}

#[tokio::test]
async fn sigint_exits_zero_after_answering() {
    graceful_exit_on("INT").await;
}

/// `listening on` means ready, signal handling included: a SIGTERM right after that
/// line is a graceful stop (exit 0), never death by the signal. Repeated because the
/// window, if there is one, is short.
#[tokio::test]
async fn sigterm_right_after_the_listening_line_exits_zero() {
    for round in 0..10 {
        for signal in ["TERM", "INT"] {
            let mut server = ServerProcess::start(&["--no-demo-users"]);
            server.signal(signal);
            let status = server
                .wait_exit(Duration::from_secs(10))
                .await
                .expect("exited");
            assert_eq!(
                status.code(),
                Some(0),
                "round {round}: SIG{signal} right after `listening on` gave {status}; stderr:\n{}",
                server.stderr()
            );
            assert_eq!(
                server.stdout(),
                "",
                "stdout has more than the `listening on` line"
            );
        }
    }
}

// ---------------------------------------------------------------------------------
// Users and flags of the binary
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn demo_users_exist_by_default_and_not_with_no_demo_users() {
    let server = ServerProcess::start(&[]);
    let mut c = server.conn().await;
    for (user, display) in chat_tests::DEMO_USERS {
        let reply = c.request(&format!("auth {user} surabaya")).await;
        assert_ok(&reply);
        assert_eq!(reply["display_name"], display);
    }
    drop(server);

    let server = ServerProcess::start(&["--no-demo-users"]);
    let mut c = server.conn().await;
    for (user, _) in chat_tests::DEMO_USERS {
        assert_error(
            &c.request(&format!("auth {user} surabaya")).await,
            "unknown user",
        );
    }
}

fn users_file() -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    write!(
        file,
        "# username password display name...\n\
         \n\
         arini hehe Arini Indah Nur Fuadah\n\
         # a comment between\n\
         budi rahasia123 Budi\n\
         dewi kembang Dewi Ayu 🌸 Saraswati\n"
    )
    .expect("write users file");
    file
}

#[tokio::test]
async fn users_file_adds_accounts() {
    let file = users_file();
    let path = file.path().to_str().expect("utf-8 path");
    let server = ServerProcess::start(&["--users", path]);
    let mut a = server.conn().await;
    let reply = a.request("auth arini hehe").await;
    assert_ok(&reply);
    assert_eq!(reply["username"], "arini");
    assert_eq!(reply["display_name"], "Arini Indah Nur Fuadah");
    let ta = reply["tokenid"].as_str().expect("token").to_string();
    assert_error(&a.request("auth budi hehe").await, "wrong password");
    // Demo users are still there without --no-demo-users.
    let mut m = server.conn().await;
    let tm = m.login_demo("messi").await;
    assert_ok(
        &m.request(&format!("send {tm} arini piye kabare rin?"))
            .await,
    );
    let inbox = a.request(&format!("inbox {ta}")).await;
    assert_eq!(
        inbox["messages"]["messi"][0],
        json!({
            "msg_from": "Lionel Messi",
            "msg_to": "Arini Indah Nur Fuadah",
            "msg": "piye kabare rin?",
            "id": inbox["messages"]["messi"][0]["id"],
            "ts": inbox["messages"]["messi"][0]["ts"],
        })
    );
    drop(server);

    let server = ServerProcess::start(&["--no-demo-users", "--users", path]);
    let mut c = server.conn().await;
    assert_ok(&c.request("auth budi rahasia123").await);
    assert_error(&c.request("auth messi surabaya").await, "unknown user");
    let reply = c.request("login arini hehe").await;
    assert_eq!(reply["display_name"], "Arini Indah Nur Fuadah");
    // A non-ASCII display name travels escaped, and comes back whole.
    let raw = c.request_raw("auth dewi kembang").await;
    assert_python_ascii(&raw);
    assert_eq!(parse_reply(&raw)["display_name"], "Dewi Ayu 🌸 Saraswati");
}

#[tokio::test]
async fn limit_flags_reach_the_server() {
    let server = ServerProcess::start(&[
        "--max-line",
        "64",
        "--max-connections",
        "2",
        "--session-ttl",
        "1s",
        "--idle-timeout",
        "30s",
    ]);
    let addr = server.addr();
    let mut c = try_serve(addr).await.expect("served");
    let t = c.login_demo("messi").await;
    let second = try_serve(addr).await.expect("served");
    assert_refused(addr).await;
    drop(second);
    let mut l = eventually(DEADLINE, "a free slot", || async move {
        try_serve(addr).await.ok()
    })
    .await;
    let mut tl = l.login_demo("lineker").await;
    let poll = Poll::new(DEADLINE, "messi's session to expire (--session-ttl 1s)");
    loop {
        let who = l.request(&format!("user_aktif {tl}")).await;
        if who["status"] == "ERROR" {
            // Only if this machine stalled for a whole TTL; that is not what is tested here.
            assert_error(&who, "invalid or expired token");
            tl = l.login_demo("lineker").await;
            continue;
        }
        if who["users"] == json!(["lineker"]) {
            break;
        }
        poll.wait().await;
    }
    assert_error(
        &c.request(&format!("inbox {t}")).await,
        "invalid or expired token",
    );

    let _ = c.try_send(format!("ping {}\r\n", "x".repeat(64))).await;
    assert_error(&c.read_json().await, "line too long (limit 64 bytes)");
    c.expect_closed().await;
}

#[tokio::test]
async fn allow_register_flag() {
    let server = ServerProcess::start(&[]);
    let mut c = server.conn().await;
    assert_error(
        &c.request("register zed sandi Zed Zedson").await,
        "registration is disabled",
    );
    drop(server);

    let server = ServerProcess::start(&["--allow-register"]);
    let mut c = server.conn().await;
    assert_ok(&c.request("register zed sandi Zed Zedson").await);
    let reply = c.request("auth zed sandi").await;
    assert_ok(&reply);
    assert_eq!(reply["display_name"], "Zed Zedson");
    // Taken names and the demo users stay protected.
    assert_eq!(c.request("register messi x").await["status"], "ERROR");
    assert_eq!(c.request("register zed other").await["status"], "ERROR");
    assert_ok(&c.request("auth messi surabaya").await);
}

#[test]
fn a_bad_flag_fails_fast_with_a_message() {
    let out = run_bin(
        "chat-server",
        &["--listen", "127.0.0.1:0", "--no-such-flag"],
        DEADLINE,
    );
    assert!(!out.status.success());
    assert!(!out.stderr.is_empty(), "no message on stderr");
    assert!(
        out.stdout.is_empty(),
        "stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}
