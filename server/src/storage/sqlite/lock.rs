//! The server lock: at most one serving process per SQLite database.
//!
//! A serving process keeps part of the database in memory (see `hot`), which is
//! exact only while it is the one server writing the file. It holds an exclusive
//! lock on `<database>.lock` for as long as it runs; a second server on the same
//! file is refused at start, naming the first one's pid. `chat-server user ...`
//! takes no lock: it asks whether one is held to know if a server must confirm
//! its change.

use super::writer::unavailable;
use crate::storage::StoreResult;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a starting server waits for the lock (a `user` command may hold it
/// shared for an instant while asking).
const WAIT: Duration = Duration::from_secs(2);

/// The held lock; released when dropped (or when the process dies).
#[derive(Debug)]
pub(super) struct ServerLock {
    _file: File,
}

/// The lock file of the database at `db`.
pub(super) fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

fn open(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}

/// Takes the server lock of `db`, or fails naming the process that holds it.
pub(super) async fn acquire(db: &Path) -> StoreResult<ServerLock> {
    let path = lock_path(db);
    let shown = path.display();
    let mut file = open(&path).map_err(|e| unavailable(&format!("cannot open {shown}"), e))?;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(TryLockError::WouldBlock) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                let holder = if holder.is_empty() { "?" } else { holder };
                return Err(unavailable(
                    &format!("{} is in use", db.display()),
                    format!("another chat-server (pid {holder}) serves it; {shown} is its lock"),
                ));
            }
            Err(TryLockError::Error(e)) => {
                return Err(unavailable(&format!("cannot lock {shown}"), e));
            }
        }
    }
    // For the message above, in the next server that tries.
    let pid = std::process::id();
    let written = file
        .set_len(0)
        .and_then(|()| file.seek(SeekFrom::Start(0)))
        .and_then(|_| writeln!(file, "{pid}"));
    if let Err(e) = written {
        tracing::warn!(error = %e, file = %shown, "could not write the pid into the lock file");
    }
    Ok(ServerLock { _file: file })
}

/// Whether a server holds the lock of `db` now.
pub(super) fn server_running(db: &Path) -> bool {
    let Ok(file) = open(&lock_path(db)) else {
        return false;
    };
    // Shared, and dropped at once: a server starting now waits out this instant.
    matches!(file.try_lock_shared(), Err(TryLockError::WouldBlock))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_server_per_database() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("chat.db");
        assert!(!server_running(&db));
        let held = acquire(&db).await.expect("first");
        assert!(server_running(&db));
        let err = acquire(&db).await.expect_err("second").to_string();
        assert!(
            err.contains("is in use") && err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        drop(held);
        assert!(!server_running(&db));
        acquire(&db).await.expect("after release");
    }
}
