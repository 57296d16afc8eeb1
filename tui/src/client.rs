//! One connection to a chat server: write a request line, read its reply.
//!
//! The protocol is strictly request/response in order, so a client needs no
//! correlation ids: [`Client::call`] writes one line and reads one reply. Timeouts
//! and reconnection belong to the caller (the worker task), which knows the policy.

use bytes::BytesMut;
use chat_protocol::{FrameError, ReplyDecoder, Reply, Request};
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// What can go wrong talking to the server.
#[derive(Debug, Error)]
pub enum ClientError {
    /// Connecting, reading or writing failed.
    #[error("{context}: {source}")]
    Io {
        /// What we were doing.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The server closed the connection.
    #[error("connection closed by server")]
    Closed,
    /// The server sent something that is not a response.
    #[error(transparent)]
    Protocol(#[from] FrameError),
}

/// A connection to a chat server over any byte stream (TCP, TLS, a test pipe).
#[derive(Debug)]
pub struct Client<S = TcpStream> {
    stream: S,
    buf: BytesMut,
    decoder: ReplyDecoder,
}

impl Client<TcpStream> {
    /// Connects over TCP to `addr` (`host:port`).
    pub async fn connect(addr: &str) -> Result<Self, ClientError> {
        let stream = TcpStream::connect(addr).await.map_err(|source| ClientError::Io {
            context: format!("connecting to {addr}"),
            source,
        })?;
        // Requests are small and answered one at a time: don't let Nagle delay them.
        let _ = stream.set_nodelay(true);
        Ok(Client::new(stream))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    /// Wraps an established stream.
    pub fn new(stream: S) -> Self {
        Client { stream, buf: BytesMut::with_capacity(4096), decoder: ReplyDecoder::new() }
    }

    /// Sends `request` and waits for its reply.
    pub async fn call(&mut self, request: &Request) -> Result<Reply, ClientError> {
        self.call_line(&request.to_line()).await
    }

    /// Sends a raw line (a `\r\n` is added when missing) and waits for the reply.
    pub async fn call_line(&mut self, line: &str) -> Result<Reply, ClientError> {
        self.write_line(line).await?;
        self.read_reply().await
    }

    /// Writes one request line without waiting for the reply (for pipelining).
    pub async fn write_line(&mut self, line: &str) -> Result<(), ClientError> {
        let io = |source| ClientError::Io { context: "sending request".into(), source };
        self.stream.write_all(line.as_bytes()).await.map_err(io)?;
        if !line.ends_with('\n') {
            self.stream.write_all(b"\r\n").await.map_err(io)?;
        }
        self.stream.flush().await.map_err(io)
    }

    /// Reads the next reply.
    pub async fn read_reply(&mut self) -> Result<Reply, ClientError> {
        loop {
            if let Some(reply) = self.decoder.decode(&mut self.buf)? {
                return Ok(reply);
            }
            let n = self.stream.read_buf(&mut self.buf).await.map_err(|source| ClientError::Io {
                context: "reading reply".into(),
                source,
            })?;
            if n == 0 {
                return Err(ClientError::Closed);
            }
        }
    }

    /// The underlying stream.
    pub fn into_inner(self) -> S {
        self.stream
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::duplex;

    #[tokio::test]
    async fn call_writes_a_line_and_reads_one_reply() {
        let (a, mut b) = duplex(1024);
        let mut client = Client::new(a);
        let server = tokio::spawn(async move {
            let mut got = vec![0u8; 64];
            let n = b.read(&mut got).await.unwrap();
            got.truncate(n);
            b.write_all(b"{\"status\": \"OK\", \"message\": \"pong\"}\r\n").await.unwrap();
            b.write_all(b"\r\n").await.unwrap();
            got
        });
        let reply = client.call(&Request::Ping).await.unwrap();
        assert_eq!(reply.message_text().as_deref(), Some("pong"));
        assert_eq!(server.await.unwrap(), b"ping\r\n");
    }

    #[tokio::test]
    async fn closed_connection_is_reported() {
        let (a, b) = duplex(64);
        drop(b);
        let mut client = Client::new(a);
        assert!(client.call(&Request::Ping).await.is_err());
    }
}
