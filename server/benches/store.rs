//! Durable sends per second: SQLite with group commit, SQLite with one transaction
//! per send (group commit off), and the in-memory store, side by side.
//!
//! ```text
//! CARGO_TARGET_DIR=... cargo bench -p chat-server --bench store
//! BENCH_SECS=3 BENCH_DIR=/var/tmp cargo bench -p chat-server --bench store
//! ```
//!
//! `C` tasks each send messages back to back (`append_message`, which returns only
//! after the commit) for `BENCH_SECS` seconds (default 2) per cell; every cell gets a
//! fresh database file in a temporary directory under `BENCH_DIR` (default: the
//! system's temporary directory; it must be on a real disk for fsync to count).

use chat_server::storage::sqlite::{SqliteOptions, SqliteStore};
use chat_server::storage::{MemoryStore, NewMessage, Store};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const CONCURRENCY: [usize; 4] = [1, 8, 64, 256];

/// What one cell measured.
struct Cell {
    sends_per_sec: f64,
    /// Sends per committed transaction (SQLite only).
    per_commit: Option<f64>,
}

/// `tasks` senders hammering `store` for `secs`; returns completed sends and the
/// sends per second.
async fn hammer<S: Store>(store: &S, tasks: usize, secs: f64) -> Result<(u64, f64), String> {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let start = Instant::now();
    let workers: Vec<_> = (0..tasks)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut sent = 0u64;
                while Instant::now() < deadline {
                    let message = NewMessage {
                        from: format!("sender{t}"),
                        to: format!("user{}", t % 16),
                        from_display: "Sender".into(),
                        to_display: "Recipient".into(),
                        text: format!("message {sent} from task {t}: piye kabare?"),
                        ts_ms: sent as i64,
                    };
                    store
                        .append_message(message)
                        .await
                        .map_err(|e| e.to_string())?;
                    sent += 1;
                }
                Ok::<u64, String>(sent)
            })
        })
        .collect();
    let mut total = 0;
    for worker in workers {
        total += worker.await.map_err(|e| e.to_string())??;
    }
    Ok((total, total as f64 / start.elapsed().as_secs_f64()))
}

async fn sqlite_cell(
    dir: &std::path::Path,
    tasks: usize,
    secs: f64,
    max_batch: usize,
) -> Result<Cell, String> {
    let cell_dir =
        tempfile::tempdir_in(dir).map_err(|e| format!("temp dir in {}: {e}", dir.display()))?;
    let options = SqliteOptions {
        max_batch,
        ..SqliteOptions::default()
    };
    let (store, _) = SqliteStore::open_with(&cell_dir.path().join("bench.db"), options)
        .await
        .map_err(|e| e.to_string())?;
    let commits_before = store.commits();
    let (sent, rate) = hammer(&store, tasks, secs).await?;
    let commits = (store.commits() - commits_before).max(1) as f64;
    Ok(Cell {
        sends_per_sec: rate,
        per_commit: Some(sent as f64 / commits),
    })
}

async fn memory_cell(tasks: usize, secs: f64) -> Result<Cell, String> {
    Ok(Cell {
        sends_per_sec: hammer(&MemoryStore::new(), tasks, secs).await?.1,
        per_commit: None,
    })
}

fn show(cell: &Cell) -> String {
    match cell.per_commit {
        Some(batch) => format!("{:>10.0} ({:>5.1}/tx)", cell.sends_per_sec, batch),
        None => format!("{:>10.0}", cell.sends_per_sec),
    }
}

async fn run() -> Result<(), String> {
    let secs: f64 = std::env::var("BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    let dir = std::env::var_os("BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    println!(
        "durable sends per second ({secs} s per cell; SQLite WAL, synchronous=FULL, files in {})",
        dir.display()
    );
    println!("(n/tx: sends per committed transaction, i.e. per fsync of the WAL)");
    println!();
    println!(
        "{:>11} | {:>25} | {:>25} | {:>10}",
        "concurrency", "sqlite group commit", "sqlite 1 tx per send", "memory"
    );
    println!("{:->11}-+-{:->25}-+-{:->25}-+-{:->10}", "", "", "", "");
    for tasks in CONCURRENCY {
        let group = sqlite_cell(&dir, tasks, secs, SqliteOptions::default().max_batch).await?;
        let single = sqlite_cell(&dir, tasks, secs, 1).await?;
        let memory = memory_cell(tasks, secs).await?;
        println!(
            "{:>11} | {:>25} | {:>25} | {:>10}",
            tasks,
            show(&group),
            show(&single),
            show(&memory)
        );
    }
    Ok(())
}

fn main() {
    // `cargo bench` passes `--bench`; there is nothing to filter, so arguments are ignored.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("store bench: cannot start tokio: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = runtime.block_on(run()) {
        eprintln!("store bench failed: {e}");
        std::process::exit(1);
    }
}
