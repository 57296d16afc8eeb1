//! JSON written byte-compatible with Python's `json.dumps` defaults.
//!
//! The course's server answers with `json.dumps(...)`: `", "` and `": "` separators
//! and every non-ASCII character escaped as `\uXXXX`. Staying ASCII is not cosmetic:
//! the course client decodes each 64-byte `recv` chunk on its own, so a multi-byte
//! UTF-8 character split across two chunks would crash it. Escaped, it never is.

use serde::Serialize;
use serde_json::ser::{Formatter, Serializer};
use std::io::{self, Write};

/// Formatter with Python's separators and `ensure_ascii`.
#[derive(Debug, Default, Clone, Copy)]
pub struct PythonFormatter;

impl Formatter for PythonFormatter {
    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }

    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }

    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            // Python escapes everything outside printable ASCII; serde_json has
            // already escaped the other control characters before calling us.
            if c.is_ascii() && c != '\u{7f}' {
                continue;
            }
            w.write_all(&fragment.as_bytes()[start..i])?;
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                write!(w, "\\u{unit:04x}")?;
            }
            start = i + c.len_utf8();
        }
        w.write_all(&fragment.as_bytes()[start..])
    }
}

/// Appends `value` as Python-style JSON to `out`.
pub fn write_python_json<T: Serialize + ?Sized>(
    out: &mut Vec<u8>,
    value: &T,
) -> serde_json::Result<()> {
    let mut ser = Serializer::with_formatter(out, PythonFormatter);
    value.serialize(&mut ser)
}

/// `value` as a Python-style JSON string.
pub fn to_python_json<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<String> {
    let mut out = Vec::new();
    write_python_json(&mut out, value)?;
    // The formatter writes ASCII only.
    String::from_utf8(out).map_err(|e| serde::ser::Error::custom(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn matches_python_json_dumps() {
        // python3 -c 'import json; print(json.dumps({"status": "OK", "a": [1, 2], "m": "é 🙂 \r\n\"x\""}))'
        let v = json!({"status": "OK", "a": [1, 2], "m": "é 🙂 \r\n\"x\""});
        assert_eq!(
            to_python_json(&v).unwrap(),
            r#"{"status": "OK", "a": [1, 2], "m": "\u00e9 \ud83d\ude42 \r\n\"x\""}"#
        );
    }

    #[test]
    fn escaped_output_parses_back_to_the_same_text() {
        let text = "Kapan ke Surabaya? 👨‍👩‍👧 漢字 \u{7f}\u{1}";
        assert!(
            to_python_json(&json!({ "m": "a\u{7f}b" }))
                .unwrap()
                .contains(r"a\u007fb")
        );
        let s = to_python_json(&json!({ "msg": text })).unwrap();
        assert!(s.is_ascii());
        let back: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(back["msg"], text);
    }
}
