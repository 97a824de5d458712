-- Schema 003: distributed rooms (DMUC), what the primary and the replica
-- keep (design page section 8). Child rows cascade from their room row.

-- The primary side. A room's epoch: the opaque value that changes when
-- its broadcast log is lost. host is the MUC service, room the localpart.
CREATE TABLE dmuc_primary_rooms (
    host TEXT NOT NULL,
    room TEXT NOT NULL,
    epoch TEXT NOT NULL,
    PRIMARY KEY (host, room)
);

-- One replica attached to a room: seq is the last number given to a
-- broadcast for it, acked the last one it is known to hold.
CREATE TABLE dmuc_attachments (
    host TEXT NOT NULL,
    room TEXT NOT NULL,
    replica TEXT NOT NULL,
    since REAL NOT NULL,
    seq INTEGER NOT NULL,
    acked INTEGER NOT NULL,
    PRIMARY KEY (host, room, replica),
    FOREIGN KEY (host, room) REFERENCES dmuc_primary_rooms (host, room)
        ON DELETE CASCADE
);

-- The bounded broadcast log: each stanza as it was (or, during a split,
-- would have been) sent to one replica, under that replica's seq.
CREATE TABLE dmuc_broadcast_log (
    host TEXT NOT NULL,
    room TEXT NOT NULL,
    replica TEXT NOT NULL,
    seq INTEGER NOT NULL,
    xml TEXT NOT NULL,
    PRIMARY KEY (host, room, replica, seq),
    FOREIGN KEY (host, room, replica) REFERENCES dmuc_attachments (host, room, replica)
        ON DELETE CASCADE
);

-- The replica side: one row per room a replica JID mirrors. outcasts is a
-- JSON array of the bans the primary last sent.
CREATE TABLE dmuc_replica_rooms (
    replica TEXT NOT NULL,
    room TEXT NOT NULL,
    primary_jid TEXT NOT NULL,
    epoch TEXT NOT NULL,
    seq INTEGER NOT NULL,
    anonymity TEXT NOT NULL,
    keepalive INTEGER NOT NULL,
    history_size INTEGER NOT NULL,
    outcasts TEXT NOT NULL,
    PRIMARY KEY (replica, room)
);

-- The roster as the primary last told it; id keeps the roster's order
-- (an update is an upsert, which keeps the row's id).
CREATE TABLE dmuc_replica_occupants (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    replica TEXT NOT NULL,
    room TEXT NOT NULL,
    nick TEXT NOT NULL,
    role TEXT NOT NULL,
    affiliation TEXT NOT NULL,
    jid TEXT,
    presence TEXT NOT NULL,
    UNIQUE (replica, room, nick),
    FOREIGN KEY (replica, room) REFERENCES dmuc_replica_rooms (replica, room)
        ON DELETE CASCADE
);

-- The local distribution list: the local real JIDs of each occupant.
CREATE TABLE dmuc_replica_members (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    replica TEXT NOT NULL,
    room TEXT NOT NULL,
    nick TEXT NOT NULL,
    jid TEXT NOT NULL,
    UNIQUE (replica, room, nick, jid),
    FOREIGN KEY (replica, room) REFERENCES dmuc_replica_rooms (replica, room)
        ON DELETE CASCADE
);

-- The replica's history, oldest first; stamp is the primary's delay stamp.
CREATE TABLE dmuc_replica_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    replica TEXT NOT NULL,
    room TEXT NOT NULL,
    stamp REAL NOT NULL,
    xml TEXT NOT NULL,
    FOREIGN KEY (replica, room) REFERENCES dmuc_replica_rooms (replica, room)
        ON DELETE CASCADE
);

CREATE INDEX dmuc_replica_history_by_room ON dmuc_replica_history (replica, room, id);

-- The split spool: messages local occupants sent while the room was split,
-- in the order they were sent, until the primary acknowledges them.
CREATE TABLE dmuc_spool (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    replica TEXT NOT NULL,
    room TEXT NOT NULL,
    origin_id TEXT NOT NULL,
    sender TEXT NOT NULL,
    nick TEXT NOT NULL,
    xml TEXT NOT NULL,
    sent REAL NOT NULL,
    FOREIGN KEY (replica, room) REFERENCES dmuc_replica_rooms (replica, room)
        ON DELETE CASCADE
);

CREATE INDEX dmuc_spool_by_room ON dmuc_spool (replica, room, id);
CREATE INDEX dmuc_spool_by_key ON dmuc_spool (replica, room, sender, origin_id);
