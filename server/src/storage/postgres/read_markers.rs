//! Read markers on PostgreSQL (migration 0005): one row per user and conversation,
//! moved forward only, versioned from one sequence.

/// Moves a marker forward; returns a row (the new version) only when it moved.
pub(super) const SET: &str = "INSERT INTO read_markers (username, peer, message_id, version) \
     VALUES ($1, $2, $3, nextval('read_marker_versions')) \
     ON CONFLICT (username, peer) DO UPDATE SET message_id = excluded.message_id, \
     version = excluded.version WHERE excluded.message_id > read_markers.message_id \
     RETURNING version";

/// A user's markers set after a version.
pub(super) const SINCE: &str = "SELECT peer, message_id, version FROM read_markers \
     WHERE username = $1 AND version > $2 ORDER BY peer";
