//! A client connection: bytes in, request lines out; responses in, bytes out.
//!
//! Reads never take more than the line limit allows ([`LineDecoder::room`]), so a peer
//! that never sends a newline costs at most the limit in memory. Responses are
//! queued and written together when the connection runs out of buffered requests,
//! so pipelined requests are answered in one write.
//!
//! A connection that waits for its peer holds no buffers at all: bytes are read
//! into a chunk on the stack of the poll that finds them, and only what arrived is
//! kept. Most connections wait most of the time (a chat client polls once a second),
//! so this is what sets the memory cost of a connection.

use bytes::BytesMut;
use chat_protocol::{Frame, FrameError, LineDecoder, Response};
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Poll, ready};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

/// Most bytes taken from the socket in one read.
const READ_CHUNK: usize = 4096;

/// Framed, buffered access to one client stream.
#[derive(Debug)]
pub struct Connection<T> {
    stream: T,
    read_buf: BytesMut,
    decoder: LineDecoder,
    write_buf: Vec<u8>,
}

impl<T: AsyncRead + AsyncWrite + Unpin> Connection<T> {
    /// Wraps `stream`, accepting lines of at most `max_line` bytes.
    pub fn new(stream: T, max_line: usize) -> Self {
        Connection {
            stream,
            read_buf: BytesMut::new(),
            decoder: LineDecoder::new(max_line),
            write_buf: Vec::new(),
        }
    }

    /// The next request line already buffered, without touching the socket.
    pub fn buffered_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        self.decoder.decode(&mut self.read_buf)
    }

    /// Reads more bytes from the peer. `Ok(false)` means the peer closed cleanly.
    /// Cancel-safe: nothing is lost if the future is dropped.
    pub async fn read_more(&mut self) -> io::Result<bool> {
        if self.read_buf.is_empty() {
            // Let go of the last read's allocation before waiting.
            self.read_buf = BytesMut::new();
        }
        let room = self.decoder.room(self.read_buf.len()).min(READ_CHUNK);
        let (stream, read_buf) = (&mut self.stream, &mut self.read_buf);
        let n = std::future::poll_fn(|cx| {
            let mut chunk = [MaybeUninit::<u8>::uninit(); READ_CHUNK];
            let mut buf = ReadBuf::uninit(&mut chunk[..room]);
            ready!(Pin::new(&mut *stream).poll_read(cx, &mut buf))?;
            read_buf.extend_from_slice(buf.filled());
            Poll::Ready(Ok::<usize, io::Error>(buf.filled().len()))
        })
        .await?;
        Ok(n > 0)
    }

    /// Bytes received but not yet taken as a request line.
    pub fn buffered(&self) -> usize {
        self.read_buf.len()
    }

    /// Queues a response; it is sent by the next [`flush`](Self::flush).
    pub fn queue(&mut self, response: &Response) {
        response.write_to(&mut self.write_buf);
    }

    /// Writes every queued response.
    pub async fn flush(&mut self) -> io::Result<()> {
        if self.write_buf.is_empty() {
            return Ok(());
        }
        self.stream.write_all(&self.write_buf).await?;
        self.stream.flush().await?;
        // Nothing is kept while the connection waits for its next request.
        self.write_buf = Vec::new();
        Ok(())
    }

    /// Sends `response` now.
    pub async fn send(&mut self, response: &Response) -> io::Result<()> {
        self.queue(response);
        self.flush().await
    }
}
