-- Messages: every message sent, kept as history after delivery. Same meaning as
-- migrations/sqlite/0002_messages.sql.

CREATE TABLE messages (
    -- Identity (a sequence): ids never go back. Allocation order, not commit
    -- order: under concurrent sends a smaller id may commit a moment later.
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sender            TEXT COLLATE "C" NOT NULL,
    recipient         TEXT COLLATE "C" NOT NULL,
    sender_display    TEXT NOT NULL,
    recipient_display TEXT NOT NULL,
    -- UTF-8 text as bytes: PostgreSQL's TEXT cannot hold NUL, a message can.
    body              BYTEA NOT NULL,
    ts_ms             BIGINT NOT NULL,
    -- The conversation: the two usernames, smaller first (byte order), for history.
    pair_lo           TEXT COLLATE "C" NOT NULL,
    pair_hi           TEXT COLLATE "C" NOT NULL,
    -- Unix ms of the drain that delivered it; NULL while it waits in the inbox.
    delivered_at_ms   BIGINT
);

-- The inbox: undelivered messages of one recipient, oldest first. Partial, so it
-- stays as small as the backlog however long the history grows.
CREATE INDEX messages_undelivered ON messages (recipient, id) WHERE delivered_at_ms IS NULL;

-- History: one conversation, paged backwards by id.
CREATE INDEX messages_by_pair ON messages (pair_lo, pair_hi, id);
