-- Messages: every message sent, kept as history after delivery.

CREATE TABLE messages (
    -- AUTOINCREMENT: ids never go back, even if the newest rows were ever deleted.
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    sender            TEXT NOT NULL,
    recipient         TEXT NOT NULL,
    sender_display    TEXT NOT NULL,
    recipient_display TEXT NOT NULL,
    body              TEXT NOT NULL,
    ts_ms             INTEGER NOT NULL,
    -- The conversation: the two usernames, smaller first (byte order), for history.
    pair_lo           TEXT NOT NULL,
    pair_hi           TEXT NOT NULL,
    -- Unix ms of the drain that delivered it; NULL while it waits in the inbox.
    delivered_at_ms   INTEGER
);

-- The inbox: undelivered messages of one recipient, oldest first. Partial, so it
-- stays as small as the backlog however long the history grows.
CREATE INDEX messages_undelivered ON messages (recipient, id) WHERE delivered_at_ms IS NULL;

-- History: one conversation, paged backwards by id.
CREATE INDEX messages_by_pair ON messages (pair_lo, pair_hi, id);
