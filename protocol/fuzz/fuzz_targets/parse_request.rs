//! Fuzz target: any text through `Request::parse`; whatever parses must format back
//! to a line that parses to the same request.
#![no_main]

use chat_protocol::Request;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else { return };
    if let Ok(request) = Request::parse(line) {
        let again = request.to_line();
        let back = Request::parse(again.trim_end_matches("\r\n"));
        assert_eq!(back.as_ref(), Ok(&request), "round trip of {line:?} via {again:?}");
    }
});
