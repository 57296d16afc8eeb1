//! The wire protocol of the course chat service, as a pure library (no I/O).
//!
//! A request is one line of words ended by `\n` (optionally `\r\n`); a response is one
//! JSON object followed by `\r\n\r\n`. Two dialects name the same operations:
//!
//! ```text
//! dialect A (course reference)        dialect B (seed 000)
//! auth <username> <password>          login <username> <password>
//! send <token> <to> <message...>      chat <token> <to> <message...>
//! inbox <token>                       kotakmasuk <token>
//! user_aktif <token>                  user_on <token>
//! logout <token>                      logout <token>
//! ```
//!
//! Extensions (`register`, `history`, `sync`, `ping`) are new commands; extra JSON fields are
//! only ever added, so programs written for the course keep working.
//!
//! # Layout
//! - [`args`]: a cursor over the words of a request line.
//! - [`request`]: [`Request`], parsed from and formatted to a line.
//! - [`response`]: [`Response`] as the server writes it, [`Reply`] as a client reads it.
//! - [`sync`]: the answer to `sync`, the long poll that drains nothing, and the
//!   feature list.
//! - [`json`]: JSON written the way Python's `json.dumps` writes it (ASCII only).
//! - [`frame`]: splitting a byte stream into request lines and into responses.
//! - [`error`]: what can go wrong while parsing.
#![warn(clippy::unwrap_used)]

pub mod args;
pub mod error;
pub mod frame;
pub mod json;
pub mod request;
pub mod response;
pub mod sync;

pub use error::{FrameError, ParseError};
pub use frame::{Frame, LineDecoder, RESPONSE_TERMINATOR, ReplyDecoder};
pub use request::{
    Dialect, HISTORY_DEFAULT_LIMIT, HISTORY_MAX_LIMIT, Request, SYNC_MAX_WAIT_SECONDS, echo,
};
pub use response::{
    ActiveUsers, HistoryEntry, InboxGroup, InboxMessage, LoginInfo, Reply, Response, Status,
};
pub use sync::{FEATURES, PresenceUpdate, SYNC_PAGE, SyncAnswer, SyncEntry, SyncView};

/// The course's well-known port.
pub const DEFAULT_PORT: u16 = 8889;

/// Default longest request line, in bytes, not counting the line terminator.
pub const DEFAULT_MAX_LINE: usize = 64 * 1024;
