//! Inputs the fuzzers (`protocol/fuzz`, run with `cargo +nightly fuzz run TARGET`)
//! found or that are kept as seeds, replayed on stable Rust in every test run: each
//! file in `fuzz/regressions/` goes through the parser and the framer, and the same
//! properties the fuzz targets check must hold.

use bytes::BytesMut;
use chat_protocol::{Frame, LineDecoder, Request};
use std::path::PathBuf;

fn inputs() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("dir entry").path();
            let bytes = std::fs::read(&path).expect("read input");
            (path.display().to_string(), bytes)
        })
        .collect();
    out.sort();
    out
}

fn frames(data: &[u8], chunk: usize) -> Vec<Option<Frame>> {
    let mut decoder = LineDecoder::new(64);
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
    }
    out
}

#[test]
fn regression_inputs_hold_the_fuzzed_properties() {
    let inputs = inputs();
    assert!(!inputs.is_empty(), "no regression inputs found");
    for (name, data) in inputs {
        if let Ok(line) = std::str::from_utf8(&data)
            && let Ok(request) = Request::parse(line)
        {
            let again = request.to_line();
            assert_eq!(
                Request::parse(again.trim_end_matches("\r\n")).as_ref(),
                Ok(&request),
                "{name}"
            );
        }
        let whole = frames(&data, data.len());
        for chunk in 1..=16 {
            assert_eq!(frames(&data, chunk), whole, "{name}: chunks of {chunk}");
        }
    }
}
