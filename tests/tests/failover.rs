//! Failover (issue 19): two `chat-server` nodes on one PostgreSQL behind haproxy
//! (Debian's package). Killing a node mid-conversation: clients reconnect through
//! haproxy to the other node, nothing acknowledged is lost, nothing is delivered
//! twice. Stopping and restarting PostgreSQL itself: the nodes answer `storage
//! unavailable` while it is down and recover by themselves.
//!
//! Skipped (with a notice) without PostgreSQL or haproxy, except with `CI=true`.
//! The PostgreSQL restart stops the machine's database, which other tests may be
//! using: it runs only with `CHAT_TEST_PG_RESTART=1` (`.ci/run` sets it for a final
//! invocation of its own), and always starts PostgreSQL again, even when it fails.

use chat_server::storage::postgres::testing::{ScratchSchema, in_ci};
use chat_tests::{RawConn, ServerProcess, eventually, parse_reply};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// haproxy in TCP mode in front of `nodes`, killed on drop.
struct Haproxy {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Haproxy {
    /// `None` (after a notice) when haproxy is not installed, outside CI.
    fn start(test: &str, nodes: &[SocketAddr]) -> Option<Haproxy> {
        if Command::new("haproxy").arg("-v").output().is_err() {
            assert!(
                !in_ci(),
                "{test}: haproxy is not installed (apt-get install haproxy)"
            );
            eprintln!("{test}: skipping: haproxy is not installed");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let servers: String = nodes
            .iter()
            .enumerate()
            .map(|(i, addr)| format!("    server node{i} {addr} check inter 200ms fall 1 rise 2\n"))
            .collect();
        // Round robin; a dead node fails its health check within 200 ms, and a
        // connection that haproxy cannot open to it is retried on the other one.
        let config = format!(
            "global\n    maxconn 1000\ndefaults\n    mode tcp\n    timeout connect 1s\n    timeout client 60s\n    timeout server 60s\n    retries 3\n    option redispatch\nfrontend chat\n    bind 127.0.0.1:{port}\n    default_backend nodes\nbackend nodes\n    balance roundrobin\n{servers}"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("haproxy.cfg");
        std::fs::write(&path, config).expect("write config");
        let child = Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start haproxy");
        let mut child = child;
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        for _ in 0..100 {
            if std::net::TcpStream::connect(addr).is_ok() {
                return Some(Haproxy {
                    child,
                    addr,
                    _dir: dir,
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("haproxy did not listen on {addr}");
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Two nodes on a new schema (fields drop in order: nodes before the schema).
struct Pair {
    nodes: Vec<ServerProcess>,
    _schema: ScratchSchema,
}

async fn two_nodes(test: &str) -> Option<Pair> {
    let schema = ScratchSchema::create_or_skip(test).await?;
    let mut nodes = Vec::new();
    for _ in 0..2 {
        let url = schema.url().to_string();
        nodes.push(
            tokio::task::spawn_blocking(move || {
                ServerProcess::start(&["--db", &url, "--max-request-rate", "0"])
            })
            .await
            .expect("a node failed to start"),
        );
    }
    Some(Pair {
        nodes,
        _schema: schema,
    })
}

/// A connection through `addr` that retries until one is open and answers `ping`.
async fn reconnect(addr: SocketAddr) -> RawConn {
    loop {
        if let Ok(mut conn) = RawConn::try_connect(addr).await
            && conn.try_send("ping\r\n").await.is_ok()
            && let Ok(Some(raw)) = conn.next_raw_within(Duration::from_secs(5)).await
            && parse_reply(&raw)["status"] == "OK"
        {
            return conn;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One request on `conn`; `None` when the connection broke (the caller reconnects).
async fn request(conn: &mut RawConn, line: &str) -> Option<Value> {
    conn.try_send(format!("{line}\r\n")).await.ok()?;
    match conn.next_raw_within(Duration::from_secs(10)).await {
        Ok(Some(raw)) => Some(parse_reply(&raw)),
        _ => None,
    }
}

/// The `(id, text)` of each message of an inbox reply.
fn inbox_messages(reply: &Value) -> Vec<(i64, String)> {
    reply["messages"]
        .as_object()
        .map(|groups| {
            groups
                .values()
                .flat_map(|list| list.as_array().cloned().unwrap_or_default())
                .filter_map(|m| Some((m["id"].as_i64()?, m["msg"].as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// Every text stored between the token's user and `peer`, through `history` pages.
async fn stored_texts(addr: SocketAddr, token: &str, peer: &str) -> Vec<String> {
    let mut conn = reconnect(addr).await;
    let mut texts = Vec::new();
    let mut before = String::new();
    loop {
        let reply = request(&mut conn, &format!("history {token} {peer} 100{before}"))
            .await
            .expect("history");
        let page = reply["messages"].as_array().cloned().unwrap_or_default();
        if page.is_empty() {
            return texts;
        }
        let first = page[0]["id"].as_i64().expect("id");
        texts.extend(
            page.iter()
                .filter_map(|m| m["msg"].as_str().map(str::to_string)),
        );
        before = format!(" {first}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_conversation_fails_over_through_haproxy() {
    const TEST: &str = "a_node_killed_mid_conversation_fails_over_through_haproxy";
    let Some(mut pair) = two_nodes(TEST).await else {
        return;
    };
    let addrs: Vec<SocketAddr> = pair.nodes.iter().map(|n| n.addr()).collect();
    let Some(proxy) = Haproxy::start(TEST, &addrs) else {
        return;
    };
    let front = proxy.addr;
    let lineker = reconnect(front).await.login_demo("lineker").await;
    let messi = reconnect(front).await.login_demo("messi").await;
    let stop = Arc::new(AtomicBool::new(false));
    let acked_count = Arc::new(AtomicUsize::new(0));
    let next_index = Arc::new(AtomicUsize::new(0));

    // The sender: one message after another; a broken connection is reopened
    // through haproxy and the next message sent (one whose reply was lost is not
    // sent again: it may have been stored).
    let sender = {
        let (stop, acked_count, token) = (stop.clone(), acked_count.clone(), lineker.clone());
        let next_index = next_index.clone();
        tokio::spawn(async move {
            let mut acked = Vec::new();
            let mut conn = reconnect(front).await;
            for i in 0.. {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                next_index.store(i, Ordering::SeqCst);
                let text = format!("m-{i}");
                match request(&mut conn, &format!("send {token} messi {text}")).await {
                    Some(reply) if reply["status"] == "OK" => {
                        acked.push(text);
                        acked_count.fetch_add(1, Ordering::SeqCst);
                    }
                    Some(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                    None => conn = reconnect(front).await,
                }
            }
            acked
        })
    };
    // The receiver: polls `inbox` the same way.
    let receiver = {
        let (stop, token) = (stop.clone(), messi.clone());
        tokio::spawn(async move {
            let mut got = Vec::new();
            let mut conn = reconnect(front).await;
            loop {
                let stopping = stop.load(Ordering::SeqCst);
                match request(&mut conn, &format!("inbox {token}")).await {
                    Some(reply) if reply["status"] == "OK" => {
                        let batch = inbox_messages(&reply);
                        if stopping && batch.is_empty() {
                            return got;
                        }
                        got.extend(batch);
                    }
                    Some(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                    None => conn = reconnect(front).await,
                }
            }
        })
    };

    let count = |n: usize| {
        let acked_count = acked_count.clone();
        move || {
            let acked = acked_count.load(Ordering::SeqCst);
            async move { (acked >= n).then_some(()) }
        }
    };
    eventually(
        Duration::from_secs(60),
        "100 sends acknowledged",
        count(100),
    )
    .await;
    pair.nodes[0].kill();
    let kill_index = next_index.load(Ordering::SeqCst);
    let at_kill = acked_count.load(Ordering::SeqCst);
    eventually(
        Duration::from_secs(60),
        "100 more sends acknowledged after the kill (through the other node)",
        count(at_kill + 100),
    )
    .await;
    stop.store(true, Ordering::SeqCst);
    let acked = sender.await.expect("sender");
    let received = receiver.await.expect("receiver");

    let mut seen = HashSet::new();
    let twice: Vec<_> = received
        .iter()
        .filter(|(id, _)| !seen.insert(*id))
        .collect();
    assert!(twice.is_empty(), "delivered twice: {twice:?}");
    let stored = stored_texts(pair.nodes[1].addr(), &messi, "lineker").await;
    let mut copies: HashMap<&str, usize> = HashMap::new();
    for text in &stored {
        *copies.entry(text).or_default() += 1;
    }
    let lost: Vec<_> = acked
        .iter()
        .filter(|t| !copies.contains_key(t.as_str()))
        .collect();
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
    let doubled: Vec<_> = copies.iter().filter(|(_, n)| **n > 1).collect();
    assert!(doubled.is_empty(), "stored twice: {doubled:?}");
    // The receiver got every acknowledged message, except those of a drain whose
    // reply died with the killed node (`inbox` is at most once by design; they are
    // stored, above): only messages sent before the kill can be among them.
    let got: HashSet<&str> = received.iter().map(|(_, t)| t.as_str()).collect();
    assert!(
        got.iter().all(|t| copies.contains_key(t)),
        "received unknown messages"
    );
    let late: Vec<_> = acked
        .iter()
        .filter(|t| !got.contains(t.as_str()))
        .filter(|t| {
            t.strip_prefix("m-")
                .and_then(|i| i.parse::<usize>().ok())
                .is_some_and(|i| i > kill_index + 1)
        })
        .collect();
    assert!(
        late.is_empty(),
        "sent after the kill, never received: {late:?}"
    );
}

/// Sends `line` on `conn` every 200 ms until it is answered `OK` (at most a minute).
async fn retry_until_ok(conn: &mut RawConn, line: &str) -> Value {
    for _ in 0..300 {
        if let Some(reply) = request(conn, line).await
            && reply["status"] == "OK"
        {
            return reply;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("never answered OK: {line}");
}

/// The local cluster's `pg_ctlcluster` arguments (`VERSION main`), from
/// `/etc/postgresql`.
fn cluster_version() -> Option<String> {
    let mut versions: Vec<String> = std::fs::read_dir("/etc/postgresql")
        .ok()?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    versions.sort();
    versions.pop()
}

fn pg_ctl(version: &str, action: &str) -> bool {
    let mut cmd = Command::new("pg_ctlcluster");
    cmd.args(["--skip-systemctl-redirect", version, "main", action]);
    if action == "stop" {
        cmd.args(["--", "-m", "fast"]);
    }
    cmd.status().is_ok_and(|s| s.success())
}

/// Starts PostgreSQL again when dropped, whatever happened in between.
struct RestartGuard(String);

impl Drop for RestartGuard {
    fn drop(&mut self) {
        for _ in 0..10 {
            if pg_ctl(&self.0, "start")
                || Command::new("pg_isready")
                    .args(["-q", "-h", "127.0.0.1", "-p", "5432"])
                    .status()
                    .is_ok_and(|s| s.success())
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        eprintln!("could not start PostgreSQL {} again", self.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_answer_unavailable_while_postgresql_restarts_and_recover_by_themselves() {
    const TEST: &str = "nodes_answer_unavailable_while_postgresql_restarts";
    if std::env::var("CHAT_TEST_PG_RESTART").as_deref() != Ok("1") {
        eprintln!(
            "{TEST}: skipping: stops the machine's PostgreSQL; set CHAT_TEST_PG_RESTART=1 (.ci/run does, in a run of its own)"
        );
        return;
    }
    let Some(version) = cluster_version() else {
        assert!(!in_ci(), "{TEST}: no local PostgreSQL cluster to restart");
        eprintln!("{TEST}: skipping: no local PostgreSQL cluster in /etc/postgresql");
        return;
    };
    let Some(pair) = two_nodes(TEST).await else {
        return;
    };
    let (a, b) = (pair.nodes[0].addr(), pair.nodes[1].addr());
    let mut on_a = reconnect(a).await;
    let mut on_b = reconnect(b).await;
    let lineker = on_a.login_demo("lineker").await;
    let messi = on_b.login_demo("messi").await;
    let sent = request(&mut on_a, &format!("send {lineker} messi before")).await;
    assert_eq!(
        sent.as_ref().map(|r| r["status"].clone()),
        Some("OK".into())
    );

    let guard = RestartGuard(version.clone());
    assert!(pg_ctl(&version, "stop"), "pg_ctlcluster stop failed");
    for (conn, line) in [
        (&mut on_a, format!("send {lineker} messi during")),
        (&mut on_b, format!("inbox {messi}")),
    ] {
        let reply = request(conn, &line).await.expect("the node answers");
        assert_eq!(
            reply,
            serde_json::json!({"status": "ERROR", "message": "storage unavailable"}),
            "{line}"
        );
    }
    drop(guard); // PostgreSQL starts again.

    // Both nodes recover on their own: the same connections, no restart of a node.
    let after = retry_until_ok(&mut on_a, &format!("send {lineker} messi after")).await;
    assert!(after["id"].as_i64().is_some(), "{after}");
    let texts = inbox_messages(&retry_until_ok(&mut on_b, &format!("inbox {messi}")).await);
    let texts: Vec<&str> = texts.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(
        texts,
        ["before", "after"],
        "nothing lost, nothing from the outage"
    );
}
