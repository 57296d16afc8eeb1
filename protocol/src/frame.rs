//! Framing: splitting bytes into request lines (server side) and into responses
//! (client side). Pure functions over a `BytesMut` that the caller fills.
//!
//! A request line ends at `\n`, with an optional `\r` before it: the course client
//! sends `\r\n`, netcat and telnet users often only `\n`. A line longer than the
//! limit is an error as soon as the limit is passed, so a peer cannot make us buffer
//! more than that. A response ends at `\r\n\r\n`, which JSON text never contains.

use crate::error::FrameError;
use crate::response::Reply;
use bytes::{Buf, BytesMut};

/// What ends every response.
pub const RESPONSE_TERMINATOR: &[u8] = b"\r\n\r\n";

/// One request line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A line of valid UTF-8, terminator removed.
    Line(String),
    /// A complete line that is not valid UTF-8; the stream stays usable.
    InvalidUtf8,
}

/// Splits a byte stream into request lines of at most `max_len` bytes.
#[derive(Debug, Clone)]
pub struct LineDecoder {
    max_len: usize,
    /// Bytes at the front of the buffer already known to hold no `\n`.
    scanned: usize,
}

impl LineDecoder {
    /// A decoder for lines of at most `max_len` bytes (terminator not counted).
    pub fn new(max_len: usize) -> Self {
        LineDecoder {
            max_len,
            scanned: 0,
        }
    }

    /// The line limit.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// How many more bytes the buffer may take before it must hold a whole line:
    /// reading at most this much keeps the buffer within the limit.
    pub fn room(&self, buffered: usize) -> usize {
        (self.max_len + 2).saturating_sub(buffered).max(1)
    }

    /// Takes the next complete line out of `buf`, if there is one.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        let window = buf.len().min(self.max_len + 2);
        let newline = buf[self.scanned.min(window)..window]
            .iter()
            .position(|&b| b == b'\n');
        let Some(pos) = newline.map(|p| p + self.scanned) else {
            self.scanned = window;
            if buf.len() > self.max_len + 1 {
                return Err(FrameError::LineTooLong {
                    limit: self.max_len,
                });
            }
            return Ok(None);
        };
        self.scanned = 0;
        let mut line = buf.split_to(pos + 1);
        line.truncate(pos);
        if line.last() == Some(&b'\r') {
            line.truncate(pos - 1);
        }
        if line.len() > self.max_len {
            return Err(FrameError::LineTooLong {
                limit: self.max_len,
            });
        }
        Ok(Some(match String::from_utf8(line.to_vec()) {
            Ok(s) => Frame::Line(s),
            Err(_) => Frame::InvalidUtf8,
        }))
    }
}

/// Splits a byte stream into responses (client side).
#[derive(Debug, Clone, Default)]
pub struct ReplyDecoder {
    scanned: usize,
}

impl ReplyDecoder {
    /// A new decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the next complete response out of `buf` and parses it.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Reply>, FrameError> {
        let from = self.scanned.saturating_sub(RESPONSE_TERMINATOR.len() - 1);
        let Some(pos) = buf[from..]
            .windows(RESPONSE_TERMINATOR.len())
            .position(|w| w == RESPONSE_TERMINATOR)
            .map(|p| p + from)
        else {
            self.scanned = buf.len();
            return Ok(None);
        };
        self.scanned = 0;
        let body = buf.split_to(pos);
        buf.advance(RESPONSE_TERMINATOR.len());
        let text =
            std::str::from_utf8(&body).map_err(|e| FrameError::BadResponse(e.to_string()))?;
        Reply::parse(text.trim()).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn lines(input: &[u8], max: usize) -> Vec<Result<Frame, FrameError>> {
        let mut d = LineDecoder::new(max);
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        loop {
            match d.decode(&mut buf) {
                Ok(Some(f)) => out.push(Ok(f)),
                Ok(None) => break,
                Err(e) => {
                    out.push(Err(e));
                    break;
                }
            }
        }
        out
    }

    fn line(s: &str) -> Result<Frame, FrameError> {
        Ok(Frame::Line(s.into()))
    }

    #[test]
    fn crlf_lf_and_pipelining() {
        assert_eq!(
            lines(b"inbox a\r\ninbox b\nping\r\n\r\npartial", 100),
            vec![line("inbox a"), line("inbox b"), line("ping"), line("")]
        );
    }

    #[test]
    fn only_one_cr_is_stripped() {
        assert_eq!(lines(b"a\r\r\n", 100), vec![line("a\r")]);
    }

    #[test]
    fn invalid_utf8_is_reported_and_stream_continues() {
        assert_eq!(
            lines(b"send t u \xff\xfe\r\nping\r\n", 100),
            vec![Ok(Frame::InvalidUtf8), line("ping")]
        );
    }

    #[test]
    fn long_line_fails_without_waiting_for_newline() {
        let mut d = LineDecoder::new(8);
        let mut buf = BytesMut::from(&b"123456789"[..]);
        assert_eq!(d.decode(&mut buf), Ok(None)); // 9 bytes could still be "12345678\r"
        buf.extend_from_slice(b"0");
        assert_eq!(
            d.decode(&mut buf),
            Err(FrameError::LineTooLong { limit: 8 })
        );
    }

    #[test]
    fn line_at_the_limit_passes_one_over_fails() {
        assert_eq!(lines(b"12345678\r\n", 8), vec![line("12345678")]);
        assert_eq!(
            lines(b"123456789\n", 8),
            vec![Err(FrameError::LineTooLong { limit: 8 })]
        );
    }

    #[test]
    fn room_keeps_the_buffer_bounded() {
        let d = LineDecoder::new(8);
        assert_eq!(d.room(0), 10);
        assert_eq!(d.room(10), 1);
    }

    #[test]
    fn replies_split_anywhere_are_found() {
        let wire = b"{\"status\": \"OK\", \"message\": \"pong\"}\r\n\r\n{\"status\": \"ERROR\", \"message\": \"x\"}\r\n\r\n";
        for cut in 0..wire.len() {
            let mut d = ReplyDecoder::new();
            let mut buf = BytesMut::from(&wire[..cut]);
            let mut got = Vec::new();
            while let Some(r) = d.decode(&mut buf).unwrap() {
                got.push(r);
            }
            buf.extend_from_slice(&wire[cut..]);
            while let Some(r) = d.decode(&mut buf).unwrap() {
                got.push(r);
            }
            assert_eq!(got.len(), 2, "cut at {cut}");
            assert!(got[0].is_ok() && !got[1].is_ok());
        }
    }

    proptest! {
        #[test]
        fn any_bytes_in_any_chunks_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300), chunk in 1usize..17) {
            let mut d = LineDecoder::new(32);
            let mut buf = BytesMut::new();
            for c in data.chunks(chunk) {
                buf.extend_from_slice(c);
                loop {
                    match d.decode(&mut buf) {
                        Ok(Some(_)) => {}
                        Ok(None) => break,
                        Err(_) => { buf.clear(); d = LineDecoder::new(32); break; }
                    }
                }
                prop_assert!(buf.len() <= 34);
            }
        }

        #[test]
        fn chunking_does_not_change_the_lines(text in "[a-z \r\n]{0,200}", chunk in 1usize..9) {
            let whole = lines(text.as_bytes(), 1000);
            let mut d = LineDecoder::new(1000);
            let mut buf = BytesMut::new();
            let mut got = Vec::new();
            for c in text.as_bytes().chunks(chunk) {
                buf.extend_from_slice(c);
                while let Some(f) = d.decode(&mut buf).unwrap() {
                    got.push(Ok(f));
                }
            }
            prop_assert_eq!(got, whole);
        }
    }
}
