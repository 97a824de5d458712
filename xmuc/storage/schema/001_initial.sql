-- Schema 001: accounts and the per-user IM state of one node.
-- Every per-user table references users with ON DELETE CASCADE, so deleting
-- a user row removes everything of theirs (foreign_keys is switched on by
-- every connection the store opens).

CREATE TABLE users (
    username TEXT PRIMARY KEY NOT NULL,
    -- RFC 6121 roster version; grows by one per roster change.
    roster_version INTEGER NOT NULL DEFAULT 0
);

-- One row per user per SCRAM mechanism.
CREATE TABLE credentials (
    username TEXT NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    mechanism TEXT NOT NULL,
    salt BLOB NOT NULL,
    stored_key BLOB NOT NULL,
    server_key BLOB NOT NULL,
    iterations INTEGER NOT NULL,
    PRIMARY KEY (username, mechanism)
);

CREATE TABLE roster_items (
    username TEXT NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    jid TEXT NOT NULL,
    name TEXT,
    subscription TEXT NOT NULL DEFAULT 'none',
    ask INTEGER NOT NULL DEFAULT 0,
    approved INTEGER NOT NULL DEFAULT 0,
    -- A JSON array of group names, in the order the client gave them.
    groups TEXT NOT NULL DEFAULT '[]',
    pending_in INTEGER NOT NULL DEFAULT 0,
    pending_in_stanza TEXT,
    in_roster INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (username, jid)
);

-- AUTOINCREMENT so that ids never get reused and always give arrival order.
CREATE TABLE offline_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    stanza TEXT NOT NULL,
    stamp REAL NOT NULL
);

CREATE INDEX offline_messages_by_user ON offline_messages (username, id);

CREATE TABLE vcards (
    username TEXT PRIMARY KEY NOT NULL
        REFERENCES users (username) ON DELETE CASCADE,
    xml TEXT NOT NULL
);

CREATE TABLE block_list (
    username TEXT NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    jid TEXT NOT NULL,
    PRIMARY KEY (username, jid)
);

CREATE TABLE last_activity (
    username TEXT PRIMARY KEY NOT NULL
        REFERENCES users (username) ON DELETE CASCADE,
    stamp REAL NOT NULL,
    status TEXT NOT NULL DEFAULT ''
);
