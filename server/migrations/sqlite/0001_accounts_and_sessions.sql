-- Accounts and sessions.
--
-- Sessions have no foreign key to users on purpose: the store deletes a user's
-- sessions itself (same semantics as the in-memory store, which checks nothing).

CREATE TABLE users (
    username      TEXT PRIMARY KEY NOT NULL,
    display_name  TEXT NOT NULL,
    country       TEXT,
    -- PHC string of an argon2id hash, never the password.
    password_hash TEXT NOT NULL
);

CREATE TABLE sessions (
    token        TEXT PRIMARY KEY NOT NULL,
    username     TEXT NOT NULL,
    -- Unix ms; may lag the true last use by the store's write threshold (<= 60 s).
    last_seen_ms INTEGER NOT NULL
);

CREATE INDEX sessions_by_username ON sessions (username);
CREATE INDEX sessions_by_last_seen ON sessions (last_seen_ms);
