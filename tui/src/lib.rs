//! The `chat` client: a full-screen terminal UI and a plain line mode over one
//! protocol connection.
//!
//! # Layout
//! - [`client`]: one connection, request in, reply out.
//! - [`worker`]: the background task that owns the connection (poll, send,
//!   reconnect); [`reconnect`]: its states and backoff.
//! - [`app`]: the model and its update functions (no I/O); [`model`]: conversations
//!   and messages; [`login`]: the login form; [`line_history`]: Up/Down history.
//! - [`keys`]: key to action, table-tested; [`commands`]: what a typed line means.
//! - [`ui`]: drawing, pure; [`text`]: cell widths and wrapping; [`palette`]: a
//!   colour per person.
//! - [`event`]: the main loop, generic over the backend; [`input`]: terminal
//!   events from a reader thread.
//! - [`signals`]: SIGTERM, SIGHUP, SIGINT, turned into an orderly end.
//! - [`state`]: what is remembered between runs (conversations, input history,
//!   the last message id), written atomically.
//! - [`cli`], [`config`]: flags and the config file; [`tui`]: terminal setup and
//!   teardown for the real program; [`plain`]: the line mode; [`tls_trust`]:
//!   pinned certificates and fingerprints for `--tls`.
#![warn(clippy::unwrap_used)]

pub mod app;
pub mod cli;
pub mod client;
pub mod commands;
pub mod config;
pub mod event;
pub mod input;
pub mod keys;
pub mod line_history;
pub mod login;
pub mod model;
pub mod palette;
pub mod plain;
pub mod reconnect;
pub mod signals;
pub mod state;
pub mod text;
pub mod tls_trust;
pub mod tui;
pub mod ui;
pub mod worker;

#[cfg(test)]
mod testkit;
