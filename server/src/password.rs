//! Password hashing: argon2id, verified in constant time, with equal cost for
//! unknown users so answers don't reveal which usernames exist.
//!
//! Hashing costs tens of milliseconds of CPU by design; callers on the async runtime
//! run these functions under `spawn_blocking`.

use argon2::Argon2;
use argon2::password_hash::{
    PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng,
};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Mutex, OnceLock};
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
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
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

/// A job for the hashing threads.
type Job = Box<dyn FnOnce() + Send>;

/// Jobs waiting for a hashing thread at most; more are refused ("server busy").
const QUEUE: usize = 1024;

/// A few dedicated threads for password work.
///
/// argon2 allocates 19 MiB per hash. On tokio's blocking pool, hashes land on many
/// threads, and the allocator keeps a 19 MiB arena for each; here there are as many
/// threads as cores, so that memory stays bounded, and so does the CPU a login flood
/// can take from serving messages. The threads end when the last handle is dropped.
#[derive(Debug, Clone)]
pub struct HashPool {
    jobs: SyncSender<Job>,
}

impl HashPool {
    /// A pool of `threads` hashing threads.
    pub fn new(threads: usize) -> Self {
        let (jobs, queue) = sync_channel::<Job>(QUEUE);
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..threads.max(1) {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    loop {
                        let job = match queue.lock() {
                            Ok(receiver) => receiver.recv(),
                            Err(poisoned) => poisoned.into_inner().recv(),
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a hashing thread");
            }
        }
        HashPool { jobs }
    }

    /// Runs `work` on a hashing thread; `None` when the queue is full or the pool is gone.
    pub async fn run<T, F>(&self, work: F) -> Option<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(work());
        });
        self.jobs.try_send(job).ok()?;
        result.await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pool_runs_jobs_concurrently_and_returns_results() {
        let pool = HashPool::new(2);
        let (a, b) = tokio::join!(
            pool.run(|| verify_password("x", "bad")),
            pool.run(|| 40 + 2)
        );
        assert_eq!((a, b), (Some(false), Some(42)));
    }

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
