-- Schema 002: the rooms of the MUC service and their archives.

-- A persistent room: its state as the room engine serialised it (JSON).
CREATE TABLE muc_rooms (
    host TEXT NOT NULL,
    name TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (host, name)
);

-- The archive of each room, in arrival order (AUTOINCREMENT: ids never
-- come back, so paging by id is stable). stanza_id is the room's XEP-0359
-- id, which MAM queries page by.
CREATE TABLE muc_archive (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    host TEXT NOT NULL,
    room TEXT NOT NULL,
    stanza_id TEXT NOT NULL,
    stamp REAL NOT NULL,
    nick TEXT NOT NULL,
    occupant TEXT NOT NULL,
    xml TEXT NOT NULL
);

CREATE INDEX muc_archive_by_room ON muc_archive (host, room, id);
CREATE UNIQUE INDEX muc_archive_by_stanza_id ON muc_archive (host, room, stanza_id);
