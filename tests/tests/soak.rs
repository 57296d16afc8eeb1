//! Soak and fault test: a real `chat-server` under mixed load for `CHAT_SOAK_SECS`
//! seconds (60 by default; the 30-minute run is `CHAT_SOAK_SECS=1800`, see README).
//!
//! Chatty clients log in, send, poll, reuse tokens on new connections, and drop
//! mid-line; garbage clients send invalid UTF-8, over-long lines, unknown commands and
//! half lines; a prober pings throughout. Afterwards every message that got `OK` must
//! have been delivered exactly once, nothing delivered that was never sent, and the
//! server's memory must be back near its level after warm-up.

use chat_tests::{IO_TIMEOUT, ServerProcess};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::{Instant, timeout};

const USERS: usize = 8;
const CHATTY: usize = 16;
const GARBAGE: usize = 4;
const MAX_LINE: usize = 2048;

/// A tiny deterministic PRNG (xorshift64*): the test needs variety, not quality.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// What the clients saw, for the final accounting.
#[derive(Default)]
struct Ledger {
    /// id -> text of every send answered OK.
    accepted: HashMap<i64, String>,
    /// Texts of sends whose answer never came (connection dropped): may or may not exist.
    in_doubt: HashSet<String>,
    /// (id, text) of every delivered message, duplicates kept.
    delivered: Vec<(i64, String)>,
    requests: u64,
}

type Shared = Arc<Mutex<Ledger>>;

fn ledger(shared: &Shared) -> std::sync::MutexGuard<'_, Ledger> {
    shared.lock().expect("ledger lock")
}

async fn connect_from(ip: &str, addr: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(format!("{ip}:0").parse().expect("ip"))?;
    socket.connect(addr).await
}

/// One request/reply on a raw stream; `None` when the connection broke.
async fn call(stream: &mut TcpStream, buf: &mut Vec<u8>, line: &str) -> Option<Value> {
    stream
        .write_all(format!("{line}\r\n").as_bytes())
        .await
        .ok()?;
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let body: Vec<u8> = buf.drain(..end + 4).collect();
            return serde_json::from_slice(&body[..end]).ok();
        }
        let mut chunk = [0u8; 8192];
        let n = timeout(IO_TIMEOUT, stream.read(&mut chunk))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn record_inbox(shared: &Shared, reply: &Value) {
    let Some(groups) = reply["messages"].as_object() else {
        return;
    };
    let mut l = ledger(shared);
    for list in groups.values() {
        for m in list.as_array().into_iter().flatten() {
            if let (Some(id), Some(text)) = (m["id"].as_i64(), m["msg"].as_str()) {
                l.delivered.push((id, text.to_string()));
            }
        }
    }
}

async fn chatty(addr: SocketAddr, me: usize, until: Instant, shared: Shared) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (me as u64 + 1));
    let user = format!("soak{}", me % USERS);
    let mut token: Option<String> = None;
    let mut seq = 0u64;
    while Instant::now() < until {
        let Ok(mut stream) = connect_from("127.0.0.1", addr).await else {
            continue;
        };
        let mut buf = Vec::new();
        if token.is_none() || rng.below(4) == 0 {
            let reply = call(&mut stream, &mut buf, &format!("auth {user} pw")).await;
            token = reply.and_then(|r| r["tokenid"].as_str().map(str::to_string));
        }
        let Some(tok) = token.clone() else { continue };
        for _ in 0..(5 + rng.below(40)) {
            ledger(&shared).requests += 1;
            if rng.below(10) < 6 {
                seq += 1;
                let text = format!("soak {me} {seq} ✓");
                let to = format!("soak{}", rng.below(USERS as u64));
                match call(&mut stream, &mut buf, &format!("send {tok} {to} {text}")).await {
                    Some(r) if r["status"] == "OK" => {
                        let id = r["id"].as_i64().expect("send reply has an id");
                        ledger(&shared).accepted.insert(id, text);
                    }
                    Some(r) => panic!("send refused under soak: {r}"),
                    None => {
                        ledger(&shared).in_doubt.insert(text);
                        break;
                    }
                }
            } else {
                match call(&mut stream, &mut buf, &format!("inbox {tok}")).await {
                    Some(r) => record_inbox(&shared, &r),
                    None => break,
                }
            }
        }
        if rng.below(5) == 0 {
            // Drop mid-line: half a send, then close. It must not be delivered.
            let _ = stream
                .write_all(format!("send {tok} soak0 never-complete").as_bytes())
                .await;
        }
    }
}

async fn garbage(addr: SocketAddr, me: usize, until: Instant) {
    let mut rng = Rng(0xD1B5_4A32_D192_ED03 ^ (me as u64 + 7));
    while Instant::now() < until {
        let Ok(mut stream) = connect_from("127.0.0.2", addr).await else {
            continue;
        };
        let payload: Vec<u8> = match rng.below(6) {
            0 => (0..rng.below(300))
                .map(|_| rng.next() as u8)
                .chain(*b"\n")
                .collect(),
            1 => b"send x y \xff\xfe\xfd\r\ninbox \xc3\x28\r\n".to_vec(),
            2 => vec![b'a'; MAX_LINE + 10],
            3 => b"frobnicate now\r\n\r\n\n\n   \r\nuser_on\r\nhistory\r\n".to_vec(),
            4 => b"chat abc".to_vec(),
            _ => b"send".repeat(100),
        };
        let _ = stream.write_all(&payload).await;
        let mut sink = [0u8; 4096];
        let _ = timeout(Duration::from_millis(50), stream.read(&mut sink)).await;
    }
}

/// Pings on one long connection and on fresh ones; every probe must be answered.
async fn prober(addr: SocketAddr, until: Instant) -> u64 {
    let mut probes = 0;
    let mut stream = TcpStream::connect(addr).await.expect("prober connect");
    let mut buf = Vec::new();
    while Instant::now() < until {
        let reply = call(&mut stream, &mut buf, "ping")
            .await
            .expect("health probe unanswered");
        assert_eq!(reply["message"], "pong");
        if probes % 8 == 0 {
            let mut fresh = TcpStream::connect(addr).await.expect("fresh probe connect");
            let reply = call(&mut fresh, &mut Vec::new(), "ping")
                .await
                .expect("fresh probe unanswered");
            assert_eq!(reply["message"], "pong");
        }
        probes += 1;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    probes
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

async fn run_phase(addr: SocketAddr, secs: f64, shared: &Shared) -> u64 {
    let until = Instant::now() + Duration::from_secs_f64(secs);
    let mut tasks = Vec::new();
    for i in 0..CHATTY {
        tasks.push(tokio::spawn(chatty(addr, i, until, shared.clone())));
    }
    for i in 0..GARBAGE {
        tasks.push(tokio::spawn(garbage(addr, i, until)));
    }
    let probes = tokio::spawn(prober(addr, until));
    for t in tasks {
        t.await.expect("client task panicked");
    }
    probes.await.expect("prober panicked")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_mixed_load_with_faults() {
    let secs: f64 = std::env::var("CHAT_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60.0);
    let dir = tempfile::tempdir().expect("tempdir");
    let users = dir.path().join("users.txt");
    let mut f = std::fs::File::create(&users).expect("users file");
    for i in 0..USERS {
        writeln!(f, "soak{i} pw Soak Tester {i}").expect("write users");
    }
    let db = std::env::var("CHAT_SOAK_DB")
        .unwrap_or_else(|_| format!("sqlite://{}", dir.path().join("soak.db").display()));
    let max_line = MAX_LINE.to_string();
    let server = ServerProcess::start(&[
        "--db",
        &db,
        "--users",
        users.to_str().expect("utf-8 path"),
        "--max-line",
        &max_line,
        "--no-demo-users",
    ]);
    let addr = server.addr();
    let shared: Shared = Arc::default();

    // Warm-up: the same load, so caches and allocator arenas reach their working size.
    let warm = (secs / 6.0).max(5.0);
    run_phase(addr, warm, &shared).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let baseline = rss_kib(server.pid());

    let probes = run_phase(addr, secs, &shared).await;

    // Everything left in the inboxes.
    let mut c = TcpStream::connect(addr).await.expect("connect");
    let mut buf = Vec::new();
    for i in 0..USERS {
        let login = call(&mut c, &mut buf, &format!("auth soak{i} pw"))
            .await
            .expect("login");
        let tok = login["tokenid"].as_str().expect("token").to_string();
        let reply = call(&mut c, &mut buf, &format!("inbox {tok}"))
            .await
            .expect("inbox");
        record_inbox(&shared, &reply);
    }
    drop(c);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kib(server.pid());

    let l = ledger(&shared);
    let mut seen = HashSet::new();
    for (id, text) in &l.delivered {
        assert!(seen.insert(*id), "message {id} ({text}) delivered twice");
        match l.accepted.get(id) {
            Some(sent) => assert_eq!(sent, text, "message {id} changed in transit"),
            None => assert!(
                l.in_doubt.contains(text),
                "message {id} ({text}) delivered but never sent"
            ),
        }
    }
    let lost: Vec<_> = l.accepted.keys().filter(|id| !seen.contains(id)).collect();
    assert!(
        lost.is_empty(),
        "{} accepted messages never delivered: {lost:?}",
        lost.len()
    );
    assert!(
        l.accepted.len() > 100,
        "the soak sent too little to mean anything: {}",
        l.accepted.len()
    );
    assert!(probes > 0);
    // Memory back near its post-warm-up level: a leak grows with the run's length.
    let allowed = baseline / 4 + 16 * 1024;
    eprintln!(
        "soak: {secs}s, {} requests, {} accepted, {} delivered, {} in doubt, {probes} probes, rss {baseline} KiB -> {after} KiB",
        l.requests,
        l.accepted.len(),
        l.delivered.len(),
        l.in_doubt.len()
    );
    assert!(
        after <= baseline + allowed,
        "server memory grew from {baseline} KiB to {after} KiB"
    );
}
