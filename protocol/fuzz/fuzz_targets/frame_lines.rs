//! Fuzz target: any bytes, fed in chunks whose sizes the input chooses, through
//! `LineDecoder`; the buffer must never exceed the limit and chunking must not change
//! the lines found.
#![no_main]

use bytes::BytesMut;
use chat_protocol::{Frame, LineDecoder};
use libfuzzer_sys::fuzz_target;

const LIMIT: usize = 64;

fn lines(data: &[u8], chunk: usize) -> Vec<Option<Frame>> {
    let mut decoder = LineDecoder::new(LIMIT);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for piece in data.chunks(chunk.max(1)) {
        buf.extend_from_slice(piece);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(frame)) => out.push(Some(frame)),
                Ok(None) => break,
                Err(_) => {
                    out.push(None);
                    return out;
                }
            }
        }
        assert!(buf.len() <= LIMIT + 2 + chunk, "buffer grew to {}", buf.len());
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, rest)) = data.split_first() else { return };
    let whole = lines(rest, rest.len().max(1));
    let chunked = lines(rest, usize::from(chunk % 17) + 1);
    // An over-long line is detected at the same place whatever the chunking, so the
    // frames before it agree exactly.
    assert_eq!(whole, chunked);
});
