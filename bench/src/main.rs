//! `chat-bench`: see `chat-bench --help` and `bench/README.md`.

use chat_bench::{Options, raise_nofile_limit};
use clap::Parser as _;
use std::io::Write as _;
use std::process::ExitCode;

fn main() -> ExitCode {
    let opts = Options::parse();
    let nofile = raise_nofile_limit();
    let wanted = match (opts.workload, opts.fanout) {
        (chat_bench::Workload::Delivery, Some(k)) => k + 1,
        (chat_bench::Workload::Delivery, None) => opts.pairs * 2,
        _ => opts.idle.unwrap_or(opts.connections),
    } as u64;
    if let Some(limit) = nofile
        && limit < wanted + 16
    {
        eprintln!(
            "chat-bench: warning: open-file limit {limit} is below the {wanted} connections asked for"
        );
    }
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = opts.threads {
        builder.worker_threads(threads.max(1));
    }
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("chat-bench: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(chat_bench::run(&opts)) {
        Ok(report) => {
            let text = match opts.json {
                true => format!("{}\n", report.to_json()),
                false => report.to_text(),
            };
            // Not `print!`, which panics when stdout is a pipe closed early (`| head`).
            if let Err(e) = std::io::stdout().lock().write_all(text.as_bytes()) {
                eprintln!("chat-bench: cannot write the report: {e}");
                return ExitCode::from(2);
            }
            if opts.fail_on_error && report.failed() {
                eprintln!(
                    "chat-bench: failing: {} errors, {} ops",
                    report.errors.total, report.ops
                );
                return ExitCode::from(1);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("chat-bench: {e:#}");
            ExitCode::from(2)
        }
    }
}
