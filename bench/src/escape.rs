//! Backslash escapes in `--raw` and `--terminator`, so a shell argument can carry
//! control bytes:
//!
//! ```text
//! \r  carriage return     \n  line feed     \t  tab     \0  NUL
//! \\  backslash           \xHH  the byte with hex value HH
//! ```

use thiserror::Error;

/// Why an escaped argument could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EscapeError {
    /// A backslash ends the text.
    #[error("a lone backslash ends {0:?}: write \\\\ for a backslash")]
    Trailing(String),
    /// `\` followed by a letter that is not an escape.
    #[error("unknown escape \\{escape} in {text:?} (known: \\r \\n \\t \\0 \\\\ \\xHH)")]
    Unknown {
        /// The character after the backslash.
        escape: char,
        /// The whole argument.
        text: String,
    },
    /// `\x` not followed by two hex digits.
    #[error("\\x needs two hex digits in {0:?}")]
    BadHex(String),
}

/// Decodes the escapes of `text` into the bytes they stand for.
pub fn unescape(text: &str) -> Result<Vec<u8>, EscapeError> {
    let mut out = Vec::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut utf8 = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
            continue;
        }
        let byte = match chars.next() {
            None => return Err(EscapeError::Trailing(text.to_string())),
            Some('r') => b'\r',
            Some('n') => b'\n',
            Some('t') => b'\t',
            Some('0') => 0,
            Some('\\') => b'\\',
            Some('x') => {
                let hex: String = chars.by_ref().take(2).collect();
                if hex.len() != 2 {
                    return Err(EscapeError::BadHex(text.to_string()));
                }
                u8::from_str_radix(&hex, 16).map_err(|_| EscapeError::BadHex(text.to_string()))?
            }
            Some(other) => {
                return Err(EscapeError::Unknown {
                    escape: other,
                    text: text.to_string(),
                });
            }
        };
        out.push(byte);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let cases: &[(&str, &[u8])] = &[
            ("PING\\r\\n", b"PING\r\n"),
            ("\\r\\n\\r\\n", b"\r\n\r\n"),
            ("plain", b"plain"),
            ("", b""),
            ("a\\tb\\0c", b"a\tb\0c"),
            ("back\\\\slash", b"back\\slash"),
            ("\\x41\\x7e\\xff", b"A~\xff"),
            ("\\x0A", b"\n"),
            ("caf\u{e9}", "caf\u{e9}".as_bytes()),
        ];
        for (input, want) in cases {
            assert_eq!(unescape(input).as_deref(), Ok(*want), "{input:?}");
        }
    }

    #[test]
    fn errors() {
        assert!(matches!(unescape("abc\\"), Err(EscapeError::Trailing(_))));
        assert!(matches!(
            unescape("\\q"),
            Err(EscapeError::Unknown { escape: 'q', .. })
        ));
        assert!(matches!(unescape("\\x4"), Err(EscapeError::BadHex(_))));
        assert!(matches!(unescape("\\xzz"), Err(EscapeError::BadHex(_))));
        assert!(matches!(
            unescape("\\x\u{e9}1"),
            Err(EscapeError::BadHex(_))
        ));
    }
}
