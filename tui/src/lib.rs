//! The `chat` client: a full-screen terminal UI and a plain line mode over one
//! protocol connection.
//!
//! # Layout
//! - [`client`]: one connection, request in, reply out.
#![warn(clippy::unwrap_used)]

pub mod client;
