-- Delivery as one cursor per recipient instead of a flag per message (issue 19).
--
-- Ids become visible in id order (every transaction that inserts messages takes
-- one advisory lock before it draws ids, and holds it until it has committed; see
-- the store's module docs), so the messages a recipient has been given by `inbox`
-- are always a prefix of theirs by id: "delivered up to id N". A drain moves the
-- cursor and updates no message row, so draining writes one small row instead of
-- a new version of every message (which, with the flag, left a dead tuple and an
-- index entry per delivered message behind for VACUUM, and made concurrent
-- drains of one user scan each other's locked rows).

CREATE TABLE inbox_cursors (
    username        TEXT COLLATE "C" PRIMARY KEY,
    -- Every message to `username` with id <= this has been delivered.
    delivered_up_to BIGINT NOT NULL
);

-- Each recipient's cursor sits just below their oldest undelivered message, or at
-- their newest message when everything was delivered. (A message committed out of
-- id order under the old scheme could leave a delivered one above an undelivered
-- one; those are delivered again rather than never.)
INSERT INTO inbox_cursors (username, delivered_up_to)
SELECT recipient,
       COALESCE(min(id) FILTER (WHERE delivered_at_ms IS NULL) - 1, max(id))
FROM messages
GROUP BY recipient;

DROP INDEX messages_undelivered;
ALTER TABLE messages DROP COLUMN delivered_at_ms;

-- The inbox is now a recipient's messages above their cursor: a range of
-- messages_by_recipient (0003), which `sync` uses too.

-- Messages change only by INSERT: no VACUUM is needed for them to stay cheap to
-- read. The cursors are updated on every drain: keep them small even where
-- autovacuum runs rarely.
ALTER TABLE inbox_cursors SET (fillfactor = 50);
