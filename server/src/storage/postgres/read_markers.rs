//! Read markers on PostgreSQL (migration 0005): one row per user and conversation,
//! moved forward only, versioned from one sequence.

/// Moves a marker forward; returns a row (the new version) only when it moved, and
/// then also notifies the other nodes (`$4`: the payload naming the user), so the
/// user's syncs waiting there learn of it too (see `notify.rs`).
pub(super) const SET: &str = concat!(
    "WITH moved AS (INSERT INTO read_markers (username, peer, message_id, version) \
     VALUES ($1, $2, $3, nextval('read_marker_versions')) \
     ON CONFLICT (username, peer) DO UPDATE SET message_id = excluded.message_id, \
     version = excluded.version WHERE excluded.message_id > read_markers.message_id \
     RETURNING version) \
     SELECT moved.version FROM moved, LATERAL (SELECT pg_notify(",
    super::notify::channel_sql!(),
    ", $4)) AS told"
);

/// A user's markers set after a version.
pub(super) const SINCE: &str = "SELECT peer, message_id, version FROM read_markers \
     WHERE username = $1 AND version > $2 ORDER BY peer";
