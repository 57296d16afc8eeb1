//! The open-file limit: every connection is a file descriptor, so the server raises
//! its soft limit to the hard limit at start and sizes its connection limit from it.

/// Descriptors kept free for the database, logs and accept back-pressure.
pub const RESERVED_FDS: u64 = 128;

/// Raises the soft open-file limit to the hard limit; returns `(soft, hard)` after.
pub fn raise_nofile_limit() -> (u64, u64) {
    #[cfg(unix)]
    {
        use rlimit::Resource;
        let (soft, hard) = Resource::NOFILE.get().unwrap_or((1024, 1024));
        if soft < hard && Resource::NOFILE.set(hard, hard).is_ok() {
            tracing::info!(
                before = soft,
                after = hard,
                hard,
                "raised open-file soft limit"
            );
            return (hard, hard);
        }
        tracing::info!(soft, hard, "open-file limit");
        (soft, hard)
    }
    #[cfg(not(unix))]
    {
        (8192, 8192)
    }
}

/// Default connection limit for a soft open-file limit.
pub fn default_max_connections(soft_limit: u64) -> usize {
    usize::try_from(soft_limit.saturating_sub(RESERVED_FDS).max(16)).unwrap_or(usize::MAX)
}
