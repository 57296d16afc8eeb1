//! `chat-server`: a Tokio server for the course chat protocol.
//!
//! One task per connection; every request is parsed by `chat_protocol`, applied by
//! the command of the same name in [`cmd`] against a [`storage::Store`], and answered
//! with one `Response`. Only [`connection`] touches sockets.
//!
//! # Layout
//! - [`listener`]: accept loops, connection limits, TLS, graceful shutdown ([`run`], [`serve`]).
//! - [`tls`]: certificate loading for TLS listeners.
//! - [`proxy_protocol`]: PROXY headers from trusted load balancers.
//! - [`handler`]: one connection's request loop: idle timeout, login-failure limit.
//! - [`connection`]: bytes to request lines and responses to bytes.
//! - [`cmd`]: one file per command; [`cmd::dispatch`] maps a request to a response.
//! - [`context`]: what commands share: the store and the settings.
//! - [`session`]: tokens and clocks. [`password`]: argon2id hashing.
//! - [`users`]: demo accounts and `--users` files.
//! - [`storage`]: the `Store` trait and its backends.
//! - [`cli`]: the command line (flags and `user` subcommands).
//! - [`config`]: limits and policies. [`shutdown`]: SIGINT/SIGTERM. [`limits`]: open-file limit.
//! - [`metrics`]: Prometheus metrics and the `--metrics-listen` endpoint.
//! - [`throttle`]: login backoff, connections per address, request rate.
//! - [`presence`]: who came online or left, for waiting `sync` requests.
//! - [`text_rules`]: which characters text may hold; [`log_escape`]: the text log's escaping.
#![warn(clippy::unwrap_used)]

pub mod accounts;
pub mod cli;
pub mod cmd;
pub mod config;
pub mod connection;
pub mod context;
pub mod handler;
pub mod limits;
pub mod listener;
pub mod log_escape;
pub mod metrics;
pub mod password;
pub mod presence;
pub mod proxy_protocol;
pub mod session;
pub mod shutdown;
pub mod storage;
#[cfg(test)]
mod test_log;
pub mod text_rules;
pub mod throttle;
pub mod tls;
pub mod users;

pub use config::Config;
pub use context::Context;
pub use listener::{Listener, run, serve};
