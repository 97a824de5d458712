-- Schema 004: the roles whose presence a mirrored room broadcasts
-- (muc#roomconfig_presencebroadcast, from the primary's attach), as their
-- labels separated by spaces. Rooms mirrored before it broadcast every
-- role's presence as far as the replica knew: the default says so.
ALTER TABLE dmuc_replica_rooms
    ADD COLUMN broadcast TEXT NOT NULL DEFAULT 'moderator participant visitor';
