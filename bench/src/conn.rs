//! One client connection: connect (from a spread of loopback source addresses), send a
//! pre-formatted line, read until the reply's terminator.
//!
//! The hot path allocates nothing per request: the request is a byte slice formatted
//! once, replies land in a read buffer that is reused, the terminator search is a
//! pre-built [`memmem::Finder`], and a chat reply's status is read from its first bytes
//! (`{"status": "OK", ...`) without parsing the JSON. Set-up requests (`auth`,
//! `register`) go through [`chat_protocol::ReplyDecoder`] and are parsed in full.

use bytes::{Buf, BytesMut};
use chat_protocol::{RESPONSE_TERMINATOR, Reply, ReplyDecoder};
use memchr::memmem;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use thiserror::Error;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};

/// Initial read buffer: small, since idle mode holds tens of thousands of connections.
const INITIAL_BUFFER: usize = 2 * 1024;
/// Free space below which the read buffer grows (by at least [`GROW_BY`]) before a read.
const MIN_SPARE: usize = 1024;
/// Least growth of a full read buffer.
const GROW_BY: usize = 8 * 1024;

/// Why a request got no usable reply.
#[derive(Debug, Error)]
pub enum ConnError {
    /// The socket failed.
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    /// The server closed the connection.
    #[error("connection closed by the server")]
    Closed,
    /// The reply could not be understood.
    #[error("bad reply: {0}")]
    BadReply(String),
}

/// How a reply ended the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// `"status": "OK"`, or any reply in raw mode.
    Ok,
    /// `"status": "ERROR"`.
    ErrorReply,
    /// A chat reply without a recognisable status.
    Unrecognized,
}

/// How replies are judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyKind {
    /// Chat JSON: read the status.
    Chat,
    /// Anything: every complete reply is a success, except those that start with the
    /// error prefix (e.g. `-` for redis-server's `-ERR ...`, `-DENIED ...`).
    Raw {
        /// Start of an error reply; `None` when every reply is a success.
        error_prefix: Option<Vec<u8>>,
    },
}

/// How a connection's replies are framed and judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Framing {
    /// What ends a reply.
    pub terminator: Vec<u8>,
    /// How a reply is judged.
    pub kind: ReplyKind,
}

impl Framing {
    /// Chat replies: JSON ended by `\r\n\r\n`.
    pub fn chat() -> Self {
        Framing {
            terminator: RESPONSE_TERMINATOR.to_vec(),
            kind: ReplyKind::Chat,
        }
    }

    /// Any reply ended by `terminator`; those starting with `error_prefix` are errors.
    pub fn raw(terminator: Vec<u8>, error_prefix: Option<Vec<u8>>) -> Self {
        Framing {
            terminator,
            kind: ReplyKind::Raw { error_prefix },
        }
    }

    /// A connection over `stream` framed so.
    pub fn wrap(&self, stream: TcpStream) -> Conn {
        Conn::new(stream, &self.terminator, self.kind.clone())
    }
}

/// The source address for connection `index` to `server`: one of `spread` loopback
/// addresses 127.0.0.2, 127.0.0.3, ... when the server is on IPv4 loopback, else none
/// (the kernel chooses). Each source address has its own ephemeral ports, so `spread`
/// of them allow `spread` times as many connections to one server port.
pub fn source_for(server: SocketAddr, index: usize, spread: u32) -> Option<SocketAddr> {
    let IpAddr::V4(ip) = server.ip() else {
        return None;
    };
    if spread == 0 || !ip.is_loopback() {
        return None;
    }
    let offset = u32::try_from(index % spread as usize).ok()?;
    // 127.0.0.2 upwards, staying inside 127.0.0.0/8.
    let host = (0x7f00_0002u32 + offset).min(0x7fff_fffe);
    Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::from(host)), 0))
}

/// Opens a TCP connection with Nagle off, bound to [`source_for`] first.
pub async fn connect(server: SocketAddr, index: usize, spread: u32) -> io::Result<TcpStream> {
    let socket = if server.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(source) = source_for(server, index, spread) {
        socket.bind(source)?;
    }
    let stream = socket.connect(server).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// A connection with its reusable read buffer and terminator finder.
#[derive(Debug)]
pub struct Conn {
    stream: TcpStream,
    buf: BytesMut,
    finder: memmem::Finder<'static>,
    kind: ReplyKind,
    decoder: ReplyDecoder,
}

impl Conn {
    /// A chat connection (replies end with `\r\n\r\n`).
    pub fn chat(stream: TcpStream) -> Self {
        Self::new(stream, RESPONSE_TERMINATOR, ReplyKind::Chat)
    }

    /// A connection whose replies end with `terminator` and are judged as `kind`.
    pub fn new(stream: TcpStream, terminator: &[u8], kind: ReplyKind) -> Self {
        Conn {
            stream,
            buf: BytesMut::with_capacity(INITIAL_BUFFER),
            finder: memmem::Finder::new(terminator).into_owned(),
            kind,
            decoder: ReplyDecoder::new(),
        }
    }

    /// Sends `line` (terminator included) and waits for one whole reply.
    pub async fn round_trip(&mut self, line: &[u8]) -> Result<Outcome, ConnError> {
        self.stream.write_all(line).await?;
        self.read_reply().await
    }

    /// Waits for one whole reply (the request was sent already) and judges it.
    pub async fn read_reply(&mut self) -> Result<Outcome, ConnError> {
        let mut scanned: usize = 0;
        loop {
            let from = scanned.saturating_sub(self.finder.needle().len().saturating_sub(1));
            if let Some(pos) = self.finder.find(&self.buf[from..]) {
                let end = from + pos;
                let outcome = match &self.kind {
                    ReplyKind::Chat => chat_status(&self.buf[..end]),
                    ReplyKind::Raw {
                        error_prefix: Some(prefix),
                    } if self.buf.starts_with(prefix) => Outcome::ErrorReply,
                    ReplyKind::Raw { .. } => Outcome::Ok,
                };
                self.buf.advance(end + self.finder.needle().len());
                return Ok(outcome);
            }
            scanned = self.buf.len();
            self.fill().await?;
        }
    }

    /// Writes `line` (terminator included) without waiting for a reply.
    pub async fn send(&mut self, line: &[u8]) -> Result<(), ConnError> {
        self.stream.write_all(line).await?;
        Ok(())
    }

    /// Waits for one whole reply and returns its body, terminator removed.
    /// Cancel-safe: what was read stays in the buffer for the next call.
    pub async fn read_body(&mut self) -> Result<BytesMut, ConnError> {
        let mut scanned: usize = 0;
        loop {
            let from = scanned.saturating_sub(self.finder.needle().len().saturating_sub(1));
            if let Some(pos) = self.finder.find(&self.buf[from..]) {
                let body = self.buf.split_to(from + pos);
                self.buf.advance(self.finder.needle().len());
                return Ok(body);
            }
            scanned = self.buf.len();
            self.fill().await?;
        }
    }

    /// Sends `line` and parses the reply in full (for set-up requests).
    pub async fn request(&mut self, line: &[u8]) -> Result<Reply, ConnError> {
        self.stream.write_all(line).await?;
        loop {
            match self.decoder.decode(&mut self.buf) {
                Ok(Some(reply)) => return Ok(reply),
                Ok(None) => self.fill().await?,
                Err(e) => return Err(ConnError::BadReply(e.to_string())),
            }
        }
    }

    /// Reads what the socket has into the buffer.
    async fn fill(&mut self) -> Result<(), ConnError> {
        if self.buf.capacity() - self.buf.len() < MIN_SPARE {
            // Reclaims the consumed front of the buffer when it can, else reallocates.
            self.buf.reserve(GROW_BY.max(self.buf.len()));
        }
        match self.stream.read_buf(&mut self.buf).await? {
            0 => Err(ConnError::Closed),
            _ => Ok(()),
        }
    }
}

/// Reads a chat reply's status from its first bytes: the server writes `"status"`
/// first (`{"status": "OK", ...}`), so no JSON parsing is needed to tell OK from ERROR.
pub fn chat_status(body: &[u8]) -> Outcome {
    let head = &body[..body.len().min(64)];
    let Some(at) = memmem::find(head, b"\"status\"") else {
        return Outcome::Unrecognized;
    };
    let rest = &head[at + b"\"status\"".len()..];
    let rest = rest.trim_ascii_start();
    let Some(rest) = rest.strip_prefix(b":") else {
        return Outcome::Unrecognized;
    };
    let rest = rest.trim_ascii_start();
    if rest.starts_with(b"\"OK\"") {
        Outcome::Ok
    } else if rest.starts_with(b"\"ERROR\"") {
        Outcome::ErrorReply
    } else {
        Outcome::Unrecognized
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_is_read_from_the_head() {
        assert_eq!(
            chat_status(br#"{"status": "OK", "messages": {}}"#),
            Outcome::Ok
        );
        assert_eq!(chat_status(br#"{"status":"OK"}"#), Outcome::Ok);
        assert_eq!(
            chat_status(br#"{"status": "ERROR", "message": "x"}"#),
            Outcome::ErrorReply
        );
        assert_eq!(chat_status(br#"{"message": "x"}"#), Outcome::Unrecognized);
        assert_eq!(chat_status(br#"{"status": 1}"#), Outcome::Unrecognized);
        assert_eq!(chat_status(b""), Outcome::Unrecognized);
        assert_eq!(chat_status(br#"{"status""#), Outcome::Unrecognized);
    }

    #[test]
    fn sources_spread_over_loopback_only() {
        let server: SocketAddr = "127.0.0.1:8889".parse().expect("addr");
        assert_eq!(
            source_for(server, 0, 64),
            Some("127.0.0.2:0".parse().expect("addr"))
        );
        assert_eq!(
            source_for(server, 65, 64),
            Some("127.0.0.3:0".parse().expect("addr"))
        );
        assert_eq!(
            source_for(server, 300, 1000),
            Some("127.0.1.46:0".parse().expect("addr"))
        );
        assert_eq!(source_for(server, 5, 0), None);
        assert_eq!(source_for("10.0.0.1:1".parse().expect("addr"), 5, 64), None);
        assert_eq!(source_for("[::1]:1".parse().expect("addr"), 5, 64), None);
    }

    #[tokio::test]
    async fn replies_split_across_reads_are_found() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.expect("accept");
            let mut line = [0u8; 5];
            s.read_exact(&mut line).await.expect("read");
            for part in [&b"+PO"[..], b"NG\r", b"\n"] {
                s.write_all(part).await.expect("write");
                s.flush().await.expect("flush");
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            s.read_exact(&mut line).await.expect("read");
            s.write_all(b"-DENIED no\r\n").await.expect("write");
            s.write_all(b"{\"status\": \"ERROR\"}\r\n\r\n")
                .await
                .expect("write");
        });
        let stream = connect(addr, 0, 4).await.expect("connect");
        let mut raw = Conn::new(
            stream,
            b"\r\n",
            ReplyKind::Raw {
                error_prefix: Some(b"-".to_vec()),
            },
        );
        assert_eq!(raw.round_trip(b"PING\n").await.expect("reply"), Outcome::Ok);
        assert_eq!(
            raw.round_trip(b"PING\n").await.expect("reply"),
            Outcome::ErrorReply
        );
        raw.kind = ReplyKind::Chat;
        raw.finder = memmem::Finder::new(RESPONSE_TERMINATOR).into_owned();
        assert_eq!(raw.read_reply().await.expect("reply"), Outcome::ErrorReply);
        assert!(matches!(raw.read_reply().await, Err(ConnError::Closed)));
        server.await.expect("server");
    }
}
