//! Session tokens and time.
//!
//! Tokens are bearer secrets: UUID v4 drawn from the OS random source (122 random
//! bits), so they cannot be guessed. They are never logged, and never stored: the
//! store keeps [`token_key`], a SHA-256 of the token. Looking a session up by that key
//! means no comparison ever runs over the secret itself (so its timing reveals
//! nothing about it), and a copy of the database holds no usable token.

use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::macros::format_description;

/// A new, unguessable session token.
pub fn new_token() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The key a session is stored under: hex SHA-256 of the token.
pub fn token_key(token: &str) -> String {
    // Every request computes this: a table, not `format!` (which showed up at ~5 %
    // of an `inbox`'s server time in perf).
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(token.as_bytes());
    let mut key = String::with_capacity(64);
    for byte in digest {
        key.push(char::from(HEX[usize::from(byte >> 4)]));
        key.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    key
}

/// Wall-clock time in Unix milliseconds.
pub fn now_ms() -> i64 {
    let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
    (nanos / 1_000_000) as i64
}

/// RFC 3339 UTC with milliseconds, e.g. `2026-11-22T02:13:22.123Z`.
pub fn rfc3339_ms(ms: i64) -> String {
    let format =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00.000Z".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_uuid_v4_and_distinct() {
        let a = new_token();
        let b = new_token();
        assert_ne!(a, b);
        let parsed = uuid::Uuid::parse_str(&a).unwrap();
        assert_eq!(parsed.get_version_num(), 4);
    }

    #[test]
    fn token_keys_are_sha256_hex() {
        // echo -n abc | sha256sum
        assert_eq!(
            token_key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn timestamps_are_rfc3339_utc_millis() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(1_795_400_002_123), "2026-11-23T02:13:22.123Z");
    }
}
