-- Confirmation between `chat-server user ...` and a running server.
--
-- A serving process keeps sessions and inbox counts in memory. When the command
-- changes an account while a server runs, it increments `requested` after its
-- change and waits until the server, having noticed the change and reloaded,
-- raises `applied` to at least that number: so when the command returns, the
-- running server already refuses a removed user's token or an old password.

CREATE TABLE admin_sync (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    requested INTEGER NOT NULL,
    applied   INTEGER NOT NULL
);

INSERT INTO admin_sync (id, requested, applied) VALUES (1, 0, 0);
