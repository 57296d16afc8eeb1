-- Read markers (the `read` command, issue 15): per user and conversation, the newest
-- message the user has read, so unread counts agree on every device. `version`
-- comes from one sequence, so it grows with every marker that moves; a connection
-- asks only for the markers set since it last looked (an index range on
-- (username, version)).

CREATE SEQUENCE read_marker_versions;

CREATE TABLE read_markers (
    username   TEXT COLLATE "C" NOT NULL,
    peer       TEXT COLLATE "C" NOT NULL,
    message_id BIGINT NOT NULL,
    version    BIGINT NOT NULL,
    PRIMARY KEY (username, peer)
);

CREATE INDEX read_markers_by_version ON read_markers (username, version);
