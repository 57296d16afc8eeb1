//! `chat-bench`: a closed-loop load generator for the chat server over real TCP.
//!
//! Every connection keeps one request in flight and measures each reply's latency
//! into an HDR histogram; the run reports ops/s, p50/p99/p99.9/max and errors, as text
//! or JSON. The same loop speaks any line protocol (`--raw`), so redis-server's inline
//! `PING` measured by the same tool in the same run is the reference point.
//!
//! # Layout
//! - [`cli`]: the options ([`Options`]) and the mode they select.
//! - [`escape`]: `\r\n`-style escapes of `--raw` and `--terminator`.
//! - [`conn`]: one connection: spread source addresses, send a line, read a reply.
//! - [`pool`]: opening thousands of connections with bounded concurrency.
//! - [`accounts`]: which users to act as, logging them in once, pre-formatted lines.
//! - [`stats`]: the measurement window, sharded histograms, error counters.
//! - [`workload`]: the closed loop (`inbox`, `send`, `ping`, `--raw`).
//! - [`mix`]: simulated TUI clients polling on their own clocks.
//! - [`idle`]: holding N connections, server memory, the simultaneous burst.
//! - [`delivery`]: sender/receiver pairs over chat (`sync`, `inbox`) or IRC: latency,
//!   lost and duplicated messages, server CPU per delivered message.
//! - [`report`]: the result as a value, JSON and text.
#![warn(clippy::unwrap_used)]

pub mod accounts;
pub mod cli;
pub mod conn;
pub mod delivery;
pub mod escape;
pub mod idle;
pub mod mix;
pub mod pool;
pub mod report;
pub mod stats;
pub mod workload;

pub use cli::{Mode, Options, Protocol, Receive, Workload};
pub use report::Report;

use anyhow::{Context as _, Result, anyhow};
use std::net::SocketAddr;

/// Runs what `opts` asks for against the server and reports it. Must run inside a
/// Tokio runtime (a multi-threaded one, so the tool is not the bottleneck).
pub async fn run(opts: &Options) -> Result<Report> {
    opts.validate().map_err(|e| anyhow!(e))?;
    let mode = opts.mode()?;
    let server = resolve(&opts.addr).await?;
    match mode {
        Mode::Closed(workload) => workload::run(server, opts, workload::Load::Chat(workload)).await,
        Mode::Raw {
            line,
            terminator,
            error_prefix,
        } => {
            let load = workload::Load::Raw {
                line,
                terminator,
                error_prefix,
            };
            workload::run(server, opts, load).await
        }
        Mode::Mix => mix::run(server, opts).await,
        Mode::Idle(count) => idle::run(server, opts, count).await,
        Mode::Delivery => delivery::run(server, opts).await,
    }
}

/// The first address `addr` (host:port) resolves to.
async fn resolve(addr: &str) -> Result<SocketAddr> {
    tokio::net::lookup_host(addr)
        .await
        .with_context(|| format!("resolving {addr}"))?
        .next()
        .ok_or_else(|| anyhow!("{addr} resolves to no address"))
}

/// Raises this process's open-file soft limit to its hard limit (thousands of
/// connections need thousands of descriptors); returns the new soft limit.
pub fn raise_nofile_limit() -> Option<u64> {
    rlimit::increase_nofile_limit(u64::MAX).ok()
}
