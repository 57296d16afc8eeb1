-- Accounts and sessions (PostgreSQL). Same tables and meaning as
-- migrations/sqlite/0001_accounts_and_sessions.sql.
--
-- Usernames use the "C" collation: ordering is byte order, as in the other
-- backends (sorted lists come out the same whatever the database's locale).
--
-- Sessions have no foreign key to users on purpose: the store deletes a user's
-- sessions itself (same semantics as the in-memory store, which checks nothing).

CREATE TABLE users (
    username      TEXT COLLATE "C" PRIMARY KEY,
    display_name  TEXT NOT NULL,
    country       TEXT,
    -- PHC string of an argon2id hash, never the password.
    password_hash TEXT NOT NULL
);

CREATE TABLE sessions (
    token        TEXT PRIMARY KEY,
    username     TEXT COLLATE "C" NOT NULL,
    -- Unix ms; may lag the true last use by the store's write threshold (<= 60 s).
    last_seen_ms BIGINT NOT NULL
);

CREATE INDEX sessions_by_username ON sessions (username);
CREATE INDEX sessions_by_last_seen ON sessions (last_seen_ms);
