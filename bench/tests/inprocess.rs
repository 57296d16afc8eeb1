//! The tool against a real server on a real socket: chat-server runs in-process on
//! 127.0.0.1:0 with the memory store and the demo users; each test runs one short
//! mode of the tool and checks that it counted work and no errors.

use chat_bench::{Options, Report};
use chat_server::Config;
use chat_server::storage::MemoryStore;
use clap::Parser as _;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// A running in-process server; stopped on drop.
struct Server {
    addr: SocketAddr,
    stop: CancellationToken,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn server(config: Config) -> Server {
    let store = MemoryStore::new();
    chat_server::users::seed_demo_users(&store)
        .await
        .expect("demo users");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let stop = CancellationToken::new();
    tokio::spawn(chat_server::run(listener, store, config, stop.clone()));
    Server { addr, stop }
}

/// Benchmarks exceed any per-connection request rate by design.
fn bench_config() -> Config {
    Config {
        max_request_rate: 0,
        ..Config::default()
    }
}

async fn bench(addr: SocketAddr, args: &[&str]) -> Report {
    let addr = addr.to_string();
    let mut all = vec!["chat-bench", "--addr", &addr, "--warmup", "200ms"];
    all.extend_from_slice(args);
    let opts = Options::try_parse_from(all).expect("options");
    chat_bench::run(&opts).await.expect("run")
}

fn assert_clean(report: &Report) {
    assert_eq!(report.errors.total, 0, "{}", report.to_text());
    assert!(!report.failed(), "{}", report.to_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbox_closed_loop_counts_ops_without_errors() {
    let s = server(bench_config()).await;
    let report = bench(
        s.addr,
        &[
            "--duration",
            "1s",
            "--connections",
            "4",
            "--workload",
            "inbox",
        ],
    )
    .await;
    assert_clean(&report);
    assert!(report.ops > 0);
    let latency = report.latency.expect("latency");
    assert!(
        latency.p50_us > 0.0
            && latency.p50_us <= latency.p99_us
            && latency.p99_us <= latency.max_us
    );
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).expect("json");
    assert_eq!(json["errors"]["total"], 0);
    assert!(json["ops"].as_u64().expect("ops") > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_and_ping_workloads() {
    let s = server(bench_config()).await;
    for workload in ["send", "ping"] {
        let report = bench(s.addr, &["--duration", "500ms", "-c", "3", "-w", workload]).await;
        assert_clean(&report);
        assert!(report.ops > 0, "{workload}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_replies_are_counted() {
    let s = server(bench_config()).await;
    let dir = std::env::temp_dir().join(format!("chat-bench-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("users");
    std::fs::write(&file, "messi wrong-password\n").expect("write");
    let addr = s.addr.to_string();
    let opts = Options::try_parse_from([
        "chat-bench",
        "--addr",
        &addr,
        "--users",
        "1",
        "--user-file",
        file.to_str().expect("utf-8 path"),
        "-d",
        "200ms",
    ])
    .expect("options");
    let err = chat_bench::run(&opts).await.expect_err("login must fail");
    assert!(format!("{err:#}").contains("auth messi"), "{err:#}");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_server_shows_error_replies() {
    let s = server(Config {
        max_request_rate: 50,
        ..Config::default()
    })
    .await;
    let report = bench(s.addr, &["--duration", "500ms", "-c", "2", "-w", "inbox"]).await;
    assert!(report.errors.error_replies > 0, "{}", report.to_text());
    assert!(report.failed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mix_clients_poll_and_send() {
    let s = server(bench_config()).await;
    let report = bench(
        s.addr,
        &[
            "-w",
            "mix",
            "-c",
            "20",
            "-d",
            "1s",
            "--poll-interval",
            "100ms",
            "--send-every",
            "300ms",
        ],
    )
    .await;
    assert_clean(&report);
    let mix = report.mix.expect("mix details");
    assert!(
        mix.inbox > 0 && mix.user_aktif > 0 && mix.send > 0,
        "{mix:?}"
    );
    assert_eq!(report.ops, mix.inbox + mix.user_aktif + mix.send);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_holds_connections_and_bursts() {
    let s = server(bench_config()).await;
    let pid = std::process::id().to_string();
    let report = bench(
        s.addr,
        &[
            "--idle",
            "40",
            "--burst",
            "-d",
            "300ms",
            "--server-pid",
            &pid,
        ],
    )
    .await;
    assert_clean(&report);
    let idle = report.idle.expect("idle details");
    assert_eq!(idle.established, 40);
    assert!(idle.server_rss_before_kib.is_some() && idle.server_rss_after_kib.is_some());
    let burst = idle.burst.expect("burst");
    assert_eq!(
        (burst.sent, burst.answered, burst.within_deadline),
        (40, 40, 40)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_reports_refused_connections() {
    let s = server(Config {
        max_connections: 10,
        ..bench_config()
    })
    .await;
    let report = bench(s.addr, &["--idle", "15", "-d", "100ms"]).await;
    let idle = report.idle.as_ref().expect("idle details");
    // The login connection may still hold its slot for a moment: 9 or 10 get in.
    assert!((9..=10).contains(&idle.established), "{}", report.to_text());
    assert_eq!(
        report.errors.connect_failures as usize,
        15 - idle.established
    );
    assert!(idle.first_error.is_some());
    assert!(report.failed());
}

/// A tiny redis-like server: answers `+PONG\r\n` to every `PING\r\n`.
async fn pong_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let mut pending = 0usize;
                while let Ok(n) = socket.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    pending += buf[..n].iter().filter(|&&b| b == b'\n').count();
                    while pending > 0 {
                        if socket.write_all(b"+PONG\r\n").await.is_err() {
                            return;
                        }
                        pending -= 1;
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_mode_loads_an_inline_protocol() {
    let addr = pong_server().await;
    let report = bench(
        addr,
        &[
            "--raw",
            "PING\\r\\n",
            "--terminator",
            "\\r\\n",
            "-c",
            "4",
            "-d",
            "500ms",
        ],
    )
    .await;
    assert_clean(&report);
    assert_eq!(report.mode, "raw");
    assert!(report.ops > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_creates_missing_accounts() {
    let s = server(Config {
        allow_register: true,
        ..bench_config()
    })
    .await;
    let report = bench(
        s.addr,
        &["--users", "5", "--register", "-c", "5", "-d", "300ms"],
    )
    .await;
    assert_clean(&report);
    assert_eq!(report.users, 5);
}

/// A report written into a pipe nobody reads any more (`chat-bench ... | head -c0`)
/// ends the tool with an error message and exit status 2, not a panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_stdout_is_reported_not_a_panic() {
    let s = server(bench_config()).await;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_chat-bench"))
        .args(["--addr", &s.addr.to_string(), "-w", "ping", "-c", "1"])
        .args(["--duration", "200ms", "--warmup", "0s"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn chat-bench");
    drop(child.stdout.take());
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .await
        .expect("read stderr");
    let status = child.wait().await.expect("wait");
    assert_eq!(status.code(), Some(2), "stderr: {stderr}");
    assert!(
        stderr.contains("cannot write the report") && !stderr.contains("panicked"),
        "stderr: {stderr}"
    );
}
