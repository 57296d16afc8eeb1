//! Errors of parsing and framing. Their `Display` text is what the server sends back
//! in `{"status": "ERROR", "message": ...}`, so it is written for the person at the
//! other end: precise, English, without internals.

use thiserror::Error;

/// Why a request line is not a valid request.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    /// The line held nothing but whitespace.
    #[error("empty request")]
    Empty,
    /// The first word names no command.
    #[error("unknown command: {0}")]
    UnknownCommand(String),
    /// Arguments are missing, extra, or malformed; carries the command's usage line.
    #[error("usage: {0}")]
    Usage(&'static str),
    /// `send`/`chat` whose message is empty once trimmed.
    #[error("empty message")]
    EmptyMessage,
}

/// Why a byte stream could not be split into lines.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FrameError {
    /// A line grew past the limit before its terminator arrived.
    #[error("line too long (limit {limit} bytes)")]
    LineTooLong {
        /// The limit in force, in bytes.
        limit: usize,
    },
    /// A response could not be parsed as JSON.
    #[error("malformed response: {0}")]
    BadResponse(String),
}
