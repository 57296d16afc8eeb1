//! Several `chat-server` processes on one PostgreSQL database behave as one server
//! (issue 7): messages, sessions, who-is-on and logouts cross nodes; concurrent
//! drains on different nodes deliver each message once; a node killed mid-load loses
//! nothing it acknowledged; a node cut off from the database answers `storage
//! unavailable` within seconds and recovers by itself.
//!
//! Each test makes a schema of its own in the test database (`CHAT_TEST_POSTGRES_URL`,
//! default `postgres://postgres@127.0.0.1:5432/test`) and starts real
//! `chat-server --db postgres://...` processes on it, at the same time, on a new
//! database (so both try to create the schema and the demo users). Without
//! PostgreSQL a test prints `skipping: PostgreSQL not reachable at ...` and passes,
//! except with `CI=true`, where it fails.

use chat_server::storage::postgres::testing::ScratchSchema;
use chat_tests::{RawConn, ServerProcess, assert_error, assert_ok, eventually};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Nodes on one scratch schema. Fields drop in order: the nodes are killed before
/// their schema is dropped.
struct Cluster {
    nodes: Vec<ServerProcess>,
    /// Held only so the schema outlives the nodes.
    _schema: ScratchSchema,
}

impl Cluster {
    /// `n` nodes started at once on a new schema; `None` if the test is skipped.
    async fn start(test: &str, n: usize) -> Option<Cluster> {
        let schema = ScratchSchema::create_or_skip(test).await?;
        let urls = vec![schema.url().to_string(); n];
        let nodes = start_nodes(urls).await;
        Some(Cluster {
            nodes,
            _schema: schema,
        })
    }

    fn node(&self, i: usize) -> &ServerProcess {
        &self.nodes[i]
    }
}

/// Starts one `chat-server --db URL` per URL, all at once, and waits for each to
/// print its `listening on` line.
async fn start_nodes(urls: Vec<String>) -> Vec<ServerProcess> {
    let starting: Vec<_> = urls
        .into_iter()
        .map(|url| {
            // No request-rate limit: the tests poll as fast as the nodes answer.
            tokio::task::spawn_blocking(move || {
                ServerProcess::start(&["--db", &url, "--max-request-rate", "0"])
            })
        })
        .collect();
    let mut nodes = Vec::new();
    for start in starting {
        nodes.push(start.await.expect("a node failed to start"));
    }
    nodes
}

/// A connection to `node` with `username` logged in; returns it and the token.
async fn logged_in(node: &ServerProcess, username: &str) -> (RawConn, String) {
    let mut conn = node.conn().await;
    let token = conn.login_demo(username).await;
    (conn, token)
}

/// The `(id, text)` of every message in an inbox reply, in reply order.
fn inbox_messages(reply: &Value) -> Vec<(i64, String)> {
    assert_ok(reply);
    let groups = reply["messages"]
        .as_object()
        .unwrap_or_else(|| panic!("inbox reply without messages: {reply}"));
    groups
        .values()
        .flat_map(|list| list.as_array().cloned().unwrap_or_default())
        .map(|m| {
            let id = m["id"]
                .as_i64()
                .unwrap_or_else(|| panic!("message without id: {m}"));
            let text = m["msg"]
                .as_str()
                .unwrap_or_else(|| panic!("message without msg: {m}"))
                .to_string();
            (id, text)
        })
        .collect()
}

#[tokio::test]
async fn message_sent_on_one_node_is_delivered_once_on_the_other() {
    let Some(cluster) =
        Cluster::start("message_sent_on_one_node_is_delivered_once_on_the_other", 2).await
    else {
        return;
    };
    let (mut messi_a, messi) = logged_in(cluster.node(0), "messi").await;
    let (mut lineker_b, lineker) = logged_in(cluster.node(1), "lineker").await;

    assert_ok(
        &messi_a
            .request(&format!("send {messi} lineker  piye kabare? "))
            .await,
    );
    let got = inbox_messages(&lineker_b.request(&format!("inbox {lineker}")).await);
    assert_eq!(
        got.iter().map(|(_, t)| t.as_str()).collect::<Vec<_>>(),
        ["piye kabare?"]
    );
    assert!(
        inbox_messages(&lineker_b.request(&format!("inbox {lineker}")).await).is_empty(),
        "delivered twice"
    );
    // Nor does the node it was sent on still hold it.
    let mut lineker_a = cluster.node(0).conn().await;
    assert!(
        inbox_messages(&lineker_a.request(&format!("inbox {lineker}")).await).is_empty(),
        "delivered twice"
    );
}

#[tokio::test]
async fn a_token_from_one_node_works_on_the_other() {
    let Some(cluster) = Cluster::start("a_token_from_one_node_works_on_the_other", 2).await else {
        return;
    };
    let (_messi_a, messi) = logged_in(cluster.node(0), "messi").await;
    // The client reconnects elsewhere (as behind a load balancer) with the same token.
    let mut messi_b = cluster.node(1).conn().await;
    assert_ok(
        &messi_b
            .request(&format!("send {messi} henderson hello from b"))
            .await,
    );
    assert_ok(&messi_b.request(&format!("inbox {messi}")).await);
    let (mut henderson_a, henderson) = logged_in(cluster.node(0), "henderson").await;
    let got = inbox_messages(&henderson_a.request(&format!("inbox {henderson}")).await);
    assert_eq!(
        got.iter().map(|(_, t)| t.as_str()).collect::<Vec<_>>(),
        ["hello from b"]
    );
    // An unknown token is refused on both.
    let mut other = cluster.node(1).conn().await;
    assert_error(
        &other
            .request("inbox 00000000-0000-4000-8000-000000000000")
            .await,
        "invalid or expired token",
    );
}

#[tokio::test]
async fn who_is_on_lists_the_users_of_every_node() {
    let Some(cluster) = Cluster::start("who_is_on_lists_the_users_of_every_node", 2).await else {
        return;
    };
    let (mut messi_a, messi) = logged_in(cluster.node(0), "messi").await;
    let (mut lineker_b, lineker) = logged_in(cluster.node(1), "lineker").await;
    let expected = "lineker, messi, ";
    let on_a = messi_a.request(&format!("user_aktif {messi}")).await;
    assert_ok(&on_a);
    assert_eq!(on_a["message"], expected, "{on_a}");
    let on_b = lineker_b.request(&format!("user_on {lineker}")).await;
    assert_eq!(on_b["message"], expected, "{on_b}");
}

#[tokio::test]
async fn logout_on_one_node_ends_the_session_on_the_other_at_once() {
    let Some(cluster) = Cluster::start(
        "logout_on_one_node_ends_the_session_on_the_other_at_once",
        2,
    )
    .await
    else {
        return;
    };
    let (mut messi_a, messi) = logged_in(cluster.node(0), "messi").await;
    let (mut lineker_b, lineker) = logged_in(cluster.node(1), "lineker").await;
    let mut messi_b = cluster.node(1).conn().await;
    assert_ok(&messi_b.request(&format!("inbox {messi}")).await);

    assert_ok(&messi_a.request(&format!("logout {messi}")).await);
    // No waiting: the very next request on the other node is refused.
    assert_error(
        &messi_b.request(&format!("inbox {messi}")).await,
        "invalid or expired token",
    );
    assert_error(
        &messi_b.request(&format!("send {messi} lineker hi")).await,
        "invalid or expired token",
    );
    let on = lineker_b.request(&format!("user_aktif {lineker}")).await;
    assert_eq!(on["message"], "lineker, ", "{on}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_drains_on_two_nodes_deliver_each_message_once() {
    const N: usize = 300;
    let Some(cluster) = Cluster::start(
        "concurrent_drains_on_two_nodes_deliver_each_message_once",
        2,
    )
    .await
    else {
        return;
    };
    let (_lineker, lineker) = logged_in(cluster.node(0), "lineker").await;
    let (_messi, messi) = logged_in(cluster.node(1), "messi").await;
    let sent_all = Arc::new(AtomicBool::new(false));

    // Two senders (one per node) and four drainers of the same inbox (two per node).
    let senders: Vec<JoinHandle<()>> = (0..2)
        .map(|k| {
            let addr = cluster.node(k).addr();
            let token = lineker.clone();
            tokio::spawn(async move {
                let mut conn = RawConn::connect(addr).await;
                for i in (k..N).step_by(2) {
                    assert_ok(&conn.request(&format!("send {token} messi m{i}")).await);
                }
            })
        })
        .collect();
    let drainers: Vec<JoinHandle<Vec<(i64, String)>>> = (0..4)
        .map(|k| {
            let addr = cluster.node(k % 2).addr();
            let (token, sent_all) = (messi.clone(), sent_all.clone());
            tokio::spawn(async move {
                let mut conn = RawConn::connect(addr).await;
                let mut got = Vec::new();
                loop {
                    let done = sent_all.load(Ordering::SeqCst);
                    let batch = inbox_messages(&conn.request(&format!("inbox {token}")).await);
                    if done && batch.is_empty() {
                        return got;
                    }
                    got.extend(batch);
                }
            })
        })
        .collect();
    for sender in senders {
        sender.await.expect("sender");
    }
    sent_all.store(true, Ordering::SeqCst);
    let mut all = Vec::new();
    let mut per_drainer = Vec::new();
    for drainer in drainers {
        let got = drainer.await.expect("drainer");
        per_drainer.push(got.len());
        all.extend(got);
    }
    let mut seen = HashMap::new();
    for (id, text) in &all {
        *seen.entry(text.clone()).or_insert(0) += 1;
        assert!(seen[text] == 1, "{text} (id {id}) delivered twice");
    }
    let missing: Vec<usize> = (0..N)
        .filter(|i| !seen.contains_key(&format!("m{i}")))
        .collect();
    assert!(missing.is_empty(), "never delivered: {missing:?}");
    assert_eq!(all.len(), N);
    assert!(
        per_drainer.iter().filter(|n| **n > 0).count() >= 2,
        "the drains did not overlap: {per_drainer:?}"
    );
}

/// Sends `send TOKEN messi TAG-i` on `conn` until it fails or `stop` is set;
/// returns the texts that got `OK`. A failure (the node died) ends the loop.
async fn send_until_failure(
    addr: SocketAddr,
    token: String,
    tag: String,
    acked: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) -> Vec<String> {
    let mut ok = Vec::new();
    let Ok(mut conn) = RawConn::try_connect(addr).await else {
        return ok;
    };
    for i in 0.. {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let text = format!("{tag}-{i}");
        if conn
            .try_send(format!("send {token} messi {text}\r\n"))
            .await
            .is_err()
        {
            break;
        }
        match conn.next_raw_within(Duration::from_secs(10)).await {
            Ok(Some(raw)) => {
                let reply = chat_tests::parse_reply(&raw);
                if reply["status"] != "OK" {
                    break;
                }
                ok.push(text);
                acked.fetch_add(1, Ordering::SeqCst);
            }
            _ => break,
        }
    }
    ok
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_node_mid_load_loses_no_acknowledged_message() {
    let Some(mut cluster) =
        Cluster::start("killing_a_node_mid_load_loses_no_acknowledged_message", 2).await
    else {
        return;
    };
    let (_lineker, lineker) = logged_in(cluster.node(0), "lineker").await;
    let (mut messi_b, messi) = logged_in(cluster.node(1), "messi").await;
    let acked_on_a = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));

    // Four connections sending through node A, two through node B.
    let senders: Vec<JoinHandle<Vec<String>>> = (0..6)
        .map(|k| {
            let node = if k < 4 { 0 } else { 1 };
            let counter = if node == 0 {
                acked_on_a.clone()
            } else {
                Arc::new(AtomicUsize::new(0))
            };
            tokio::spawn(send_until_failure(
                cluster.node(node).addr(),
                lineker.clone(),
                format!("n{node}c{k}"),
                counter,
                stop.clone(),
            ))
        })
        .collect();
    eventually(
        Duration::from_secs(30),
        "200 sends acknowledged by node A",
        || {
            let acked = acked_on_a.load(Ordering::SeqCst);
            async move { (acked >= 200).then_some(()) }
        },
    )
    .await;
    cluster.nodes[0].kill();
    // Node B keeps serving while A is dead; then stop the load.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);
    let mut acked = Vec::new();
    for sender in senders {
        acked.extend(sender.await.expect("sender"));
    }
    assert!(
        acked.iter().any(|t| t.starts_with("n1")),
        "node B acknowledged nothing"
    );

    // Everything acknowledged (by either node) is in messi's inbox, once.
    let mut received: HashMap<String, usize> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let batch = inbox_messages(&messi_b.request(&format!("inbox {messi}")).await);
        if batch.is_empty() {
            break;
        }
        for (_, text) in batch {
            *received.entry(text).or_insert(0) += 1;
        }
        assert!(Instant::now() < deadline, "the inbox never emptied");
    }
    let duplicated: Vec<_> = received.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        duplicated.is_empty(),
        "delivered more than once: {duplicated:?}"
    );
    let lost: Vec<&String> = acked
        .iter()
        .filter(|t| !received.contains_key(*t))
        .collect();
    assert!(lost.is_empty(), "acknowledged with OK but lost: {lost:?}");
}

/// A TCP proxy in front of PostgreSQL that the test can cut like a dead network:
/// while cut, open connections stay open but carry nothing, and new ones are
/// accepted and never answered (so clients hang: the worst case). `restore` closes
/// every frozen connection (as a healed network's resets would) and forwards again.
struct Proxy {
    port: u16,
    up: watch::Sender<bool>,
    frozen: Arc<std::sync::Mutex<Vec<TcpStream>>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    async fn start(target: (String, u16)) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("proxy addr").port();
        let up = watch::Sender::new(true);
        let frozen: Arc<std::sync::Mutex<Vec<TcpStream>>> = Arc::default();
        let accept = {
            let (up, frozen) = (up.clone(), frozen.clone());
            tokio::spawn(async move {
                while let Ok((client, _)) = listener.accept().await {
                    tokio::spawn(link(client, target.clone(), up.subscribe(), frozen.clone()));
                }
            })
        };
        Proxy {
            port,
            up,
            frozen,
            accept,
        }
    }

    /// Stops forwarding: open connections freeze, new ones are held silent.
    fn cut(&self) {
        self.up.send_replace(false);
    }

    /// Closes every frozen connection and forwards new ones again.
    fn restore(&self) {
        self.up.send_replace(true);
        self.frozen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

/// Forwards one client connection until it ends or the proxy is cut; then parks
/// both sockets, open and silent, in `frozen`.
async fn link(
    mut client: TcpStream,
    target: (String, u16),
    mut up: watch::Receiver<bool>,
    frozen: Arc<std::sync::Mutex<Vec<TcpStream>>>,
) {
    let park = |streams: Vec<TcpStream>| {
        frozen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(streams)
    };
    if !*up.borrow() {
        return park(vec![client]);
    }
    let Ok(mut server) = TcpStream::connect((target.0.as_str(), target.1)).await else {
        return;
    };
    let cut = {
        let copy = tokio::io::copy_bidirectional(&mut client, &mut server);
        tokio::select! {
            _ = copy => false,
            _ = up.wait_for(|up| !*up) => true,
        }
    };
    if cut {
        park(vec![client, server]);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.restore();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_loses_the_database_answers_unavailable_and_recovers() {
    let Some(schema) = ScratchSchema::create_or_skip(
        "a_node_that_loses_the_database_answers_unavailable_and_recovers",
    )
    .await
    else {
        return;
    };
    let Some(target) = schema.server_address() else {
        let notice = "skipping: the test database is on a Unix socket; the proxy needs TCP\n";
        let _ = std::io::Write::write_all(&mut std::io::stderr(), notice.as_bytes());
        return;
    };
    let proxy = Proxy::start(target).await;
    // Node A reaches the database through the proxy, node B directly.
    let nodes = start_nodes(vec![
        schema.url_via("127.0.0.1", proxy.port),
        schema.url().to_string(),
    ])
    .await;
    let (mut messi_a, messi) = logged_in(&nodes[0], "messi").await;
    let (mut lineker_b, lineker) = logged_in(&nodes[1], "lineker").await;
    assert_ok(
        &messi_a
            .request(&format!("send {messi} lineker before"))
            .await,
    );

    proxy.cut();
    let started = Instant::now();
    let reply = messi_a
        .request(&format!("send {messi} lineker during"))
        .await;
    assert_error(&reply, "storage unavailable");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "took {:?} to answer",
        started.elapsed()
    );
    // A new connection is answered too (a login needs the database as well).
    let mut fresh = nodes[0].conn().await;
    let started = Instant::now();
    let reply = fresh.request("auth henderson surabaya").await;
    assert_error(&reply, "storage unavailable");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "took {:?} to answer",
        started.elapsed()
    );
    // The other node is unaffected.
    assert_ok(
        &lineker_b
            .request(&format!("send {lineker} messi while a is cut off"))
            .await,
    );

    proxy.restore();
    eventually(
        Duration::from_secs(30),
        "node A serves again after the database returns",
        || {
            let addr = nodes[0].addr();
            let messi = messi.clone();
            async move {
                let mut conn = RawConn::connect(addr).await;
                let reply = conn.request(&format!("send {messi} lineker after")).await;
                (reply["status"] == "OK").then_some(())
            }
        },
    )
    .await;
    let texts: Vec<String> = inbox_messages(&lineker_b.request(&format!("inbox {lineker}")).await)
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    assert_eq!(
        texts.first().map(String::as_str),
        Some("before"),
        "{texts:?}"
    );
    assert_eq!(texts.last().map(String::as_str), Some("after"), "{texts:?}");
    assert!(
        !texts.iter().any(|t| t == "during"),
        "a refused message was stored: {texts:?}"
    );
    let got: HashSet<String> = inbox_messages(&messi_a.request(&format!("inbox {messi}")).await)
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    assert!(got.contains("while a is cut off"), "{got:?}");
    drop(nodes);
    drop(proxy);
}
