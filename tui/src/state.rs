//! What the client remembers between runs, per server address and user: the
//! conversation list (people who are offline too), the input history, and the
//! newest message id seen (where `sync` catches up from at the next start).
//!
//! ```text
//! $XDG_STATE_HOME/chat/messi@127.0.0.1_8889.json     (~/.local/state/chat/...)
//! {"last_id": 42, "conversations": ["henderson", "lineker"], "history": ["/open lineker", "hi"]}
//! ```
//!
//! Written atomically: a temporary file in the same directory, flushed to disk,
//! then renamed over the old one, so a crash leaves the old state or the new one,
//! never half of one. A missing or unreadable file is an empty state (logged).

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Most input lines kept.
pub const HISTORY_KEPT: usize = 500;

/// The remembered state of one user on one server.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SavedState {
    /// The newest message id seen (the `sync` cursor); 0 for none.
    #[serde(default)]
    pub last_id: i64,
    /// Peers of the conversations, sorted.
    #[serde(default)]
    pub conversations: Vec<String>,
    /// Input lines, oldest first, at most [`HISTORY_KEPT`].
    #[serde(default)]
    pub history: Vec<String>,
}

/// The directory for state files: the XDG state directory (`$XDG_STATE_HOME/chat`,
/// `~/.local/state/chat`), or the local data directory where there is none
/// (macOS, Windows). `None` when there is no home directory.
pub fn dir() -> Option<PathBuf> {
    let dirs = directories::ProjectDirs::from("", "", "chat")?;
    Some(
        dirs.state_dir()
            .unwrap_or_else(|| dirs.data_local_dir())
            .to_path_buf(),
    )
}

/// The file of `user` on the server at `addr` inside `dir`. Characters that are
/// not safe in a file name become `_`.
pub fn file(dir: &Path, addr: &str, user: &str) -> PathBuf {
    let name: String = format!("{user}@{addr}")
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '-' | '@' => c,
            _ => '_',
        })
        .collect();
    dir.join(format!("{name}.json"))
}

/// Reads a state file; an empty state when it is missing or unreadable.
pub fn load(path: &Path) -> SavedState {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            tracing::warn!(path = %path.display(), error = %e, "state file unreadable; starting afresh");
            SavedState::default()
        }),
        Err(e) => {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(path = %path.display(), error = %e, "state file unreadable");
            }
            SavedState::default()
        }
    }
}

/// Writes a state file atomically (temporary file, fsync, rename), creating its
/// directory.
pub fn save(path: &Path, state: &SavedState) -> std::io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("state file has no directory"))?;
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    serde_json::to_writer(&mut tmp, state)?;
    tmp.flush()?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_and_loads_atomically_and_survives_garbage() {
        let dir = tempfile::tempdir().expect("dir");
        let path = file(dir.path(), "127.0.0.1:8889", "messi");
        assert_eq!(
            path.file_name().and_then(|n| n.to_str()),
            Some("messi@127.0.0.1_8889.json")
        );
        assert_eq!(load(&path), SavedState::default(), "missing: empty");
        let state = SavedState {
            last_id: 42,
            conversations: vec!["henderson".into(), "lineker".into()],
            history: vec!["/open lineker".into(), "hi".into()],
        };
        save(&path, &state).expect("save");
        assert_eq!(load(&path), state);
        let entries = std::fs::read_dir(dir.path()).expect("list").count();
        assert_eq!(entries, 1, "no temporary file left behind");
        std::fs::write(&path, b"{\"last_id\": 4").expect("write");
        assert_eq!(load(&path), SavedState::default(), "garbage: empty");
        assert_eq!(
            file(dir.path(), "tls://h:1", "a/b")
                .file_name()
                .and_then(|n| n.to_str()),
            Some("a_b@tls___h_1.json")
        );
    }
}
