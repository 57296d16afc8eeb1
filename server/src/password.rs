//! Password hashing: argon2id, verified in constant time, with equal cost for
//! unknown users so answers don't reveal which usernames exist.
//!
//! Hashing costs tens of milliseconds of CPU by design; callers on the async runtime
//! run these functions under `spawn_blocking`.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng};
use argon2::Argon2;
use std::sync::OnceLock;
use thiserror::Error;

/// Hashing failed (only on absurd inputs or a broken OS random source).
#[derive(Debug, Error)]
#[error("password hashing failed: {0}")]
pub struct PasswordError(String);

impl PasswordError {
    /// The hashing task itself failed (panicked or was cancelled).
    pub fn from_join(reason: String) -> Self {
        PasswordError(reason)
    }
}

/// An argon2id PHC string for `password`, with a fresh random salt.
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError(e.to_string()))
}

/// Whether `password` matches the PHC string `hash`. A malformed hash never matches.
/// argon2's verifier compares digests in constant time.
pub fn verify_password(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// Spends the same work as [`verify_password`] against a real account, for logins
/// naming an account that does not exist.
pub fn verify_against_dummy(password: &str) {
    static DUMMY: OnceLock<Option<String>> = OnceLock::new();
    if let Some(hash) = DUMMY.get_or_init(|| hash_password("no account has this password").ok()) {
        let _ = verify_password(password, hash);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_verifies_only_its_password() {
        let h = hash_password("surabaya").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password("surabaya", &h));
        assert!(!verify_password("Surabaya", &h));
        assert!(!verify_password("surabaya", "not a hash"));
        assert_ne!(h, hash_password("surabaya").unwrap(), "salted");
    }
}
