-- Read markers (the `read` command, issue 15): per user and conversation, the newest
-- message the user has read, so unread counts agree on every device. `version`
-- grows per user with every marker that moves, so a connection asks only for the
-- markers set since it last looked (an index range on (username, version)).

CREATE TABLE read_markers (
    username   TEXT NOT NULL,
    peer       TEXT NOT NULL,
    message_id INTEGER NOT NULL,
    version    INTEGER NOT NULL,
    PRIMARY KEY (username, peer)
) WITHOUT ROWID;

CREATE INDEX read_markers_by_version ON read_markers (username, version);
