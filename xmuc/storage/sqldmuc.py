# -*- test-case-name: tests.storage.test_dmuc -*-
"""
The distributed rooms part of L{xmuc.storage.sqlite.SQLiteStore} (schema
003): the primary's epochs, attachments and broadcast logs, and the
replica's mirrored rooms, as transaction functions and the store methods
that run them.

Each function runs in its own savepoint (L{xmuc.storage.writer}), so a
function that raises half way leaves nothing of itself behind. Deleting a
row of C{dmuc_primary_rooms} or C{dmuc_replica_rooms} cascades to every
row that hangs from it.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Sequence

from twisted.internet.defer import Deferred

from xmuc.core.errors import ItemNotFound
from xmuc.storage.dmucinterfaces import (
    HistoryEntry,
    LocalMember,
    LoggedBroadcast,
    OutOfSequence,
    PrimaryRoom,
    Replay,
    ReplicaAttachment,
    ReplicaChange,
    ReplicaOccupant,
    ReplicaRoom,
    ReplicaState,
    SpooledMessage,
)

# The primary side


def loadPrimaryRooms(txn: Any, host: str) -> list[PrimaryRoom]:
    txn.execute("SELECT room, epoch FROM dmuc_primary_rooms WHERE host = ? ORDER BY room",
                (host,))
    rooms = txn.fetchall()
    txn.execute("SELECT room, replica, since, seq, acked FROM dmuc_attachments"
                " WHERE host = ? ORDER BY room, replica", (host,))
    attachments: dict[str, list[ReplicaAttachment]] = {}
    for room, *fields in txn.fetchall():
        attachments.setdefault(room, []).append(ReplicaAttachment(*fields))
    return [PrimaryRoom(room, epoch, tuple(attachments.get(room, ())))
            for room, epoch in rooms]


def dropPrimaryRoom(txn: Any, host: str, room: str) -> None:
    txn.execute("DELETE FROM dmuc_primary_rooms WHERE host = ? AND room = ?", (host, room))


def startEpoch(txn: Any, host: str, room: str, epoch: str) -> None:
    # Not INSERT OR REPLACE: its implicit delete would not cascade.
    dropPrimaryRoom(txn, host, room)
    txn.execute("INSERT INTO dmuc_primary_rooms (host, room, epoch) VALUES (?, ?, ?)",
                (host, room, epoch))


def detachReplica(txn: Any, host: str, room: str, replica: str) -> None:
    txn.execute("DELETE FROM dmuc_attachments WHERE host = ? AND room = ? AND replica = ?",
                (host, room, replica))


def attachReplica(txn: Any, host: str, room: str, attachment: ReplicaAttachment) -> None:
    detachReplica(txn, host, room, attachment.replica)
    try:
        txn.execute("INSERT INTO dmuc_attachments (host, room, replica, since, seq, acked)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (host, room, attachment.replica, attachment.since, attachment.seq,
                     attachment.acked))
    except sqlite3.IntegrityError:
        raise ItemNotFound(f"room {room} has no epoch") from None


def _attachment(txn: Any, host: str, room: str, replica: str) -> tuple[int, int] | None:
    txn.execute("SELECT seq, acked FROM dmuc_attachments"
                " WHERE host = ? AND room = ? AND replica = ?", (host, room, replica))
    row = txn.fetchone()
    return None if row is None else (row[0], row[1])


def appendBroadcasts(txn: Any, host: str, room: str, broadcasts: Sequence[LoggedBroadcast],
                     keep: int) -> None:
    seqs: dict[str, int] = {}
    for broadcast in broadcasts:
        replica = broadcast.replica
        if replica not in seqs:
            attachment = _attachment(txn, host, room, replica)
            if attachment is None:
                raise ItemNotFound(f"{replica} is not attached")
            seqs[replica] = attachment[0]
        if broadcast.seq != seqs[replica] + 1:
            raise OutOfSequence(f"seq {broadcast.seq} for {replica} after {seqs[replica]}")
        seqs[replica] = broadcast.seq
    txn.executemany("INSERT INTO dmuc_broadcast_log (host, room, replica, seq, xml)"
                    " VALUES (?, ?, ?, ?, ?)",
                    [(host, room, b.replica, b.seq, b.xml) for b in broadcasts])
    for replica, seq in seqs.items():
        txn.execute("UPDATE dmuc_attachments SET seq = ?"
                    " WHERE host = ? AND room = ? AND replica = ?", (seq, host, room, replica))
        if keep:
            txn.execute("DELETE FROM dmuc_broadcast_log"
                        " WHERE host = ? AND room = ? AND replica = ? AND seq <= ?",
                        (host, room, replica, seq - keep))


def replayBroadcasts(txn: Any, host: str, room: str, replica: str,
                     after: int) -> Replay | None:
    attachment = _attachment(txn, host, room, replica)
    if attachment is None:
        return None
    seq = attachment[0]
    if after >= seq:
        return Replay((), after == seq, seq)
    txn.execute("SELECT seq, xml FROM dmuc_broadcast_log"
                " WHERE host = ? AND room = ? AND replica = ? AND seq > ? ORDER BY seq",
                (host, room, replica, after))
    broadcasts = tuple(LoggedBroadcast(replica, n, xml) for n, xml in txn.fetchall())
    return Replay(broadcasts, bool(broadcasts) and broadcasts[0].seq == after + 1, seq)


def acknowledgeBroadcasts(txn: Any, host: str, room: str, replica: str, seq: int) -> None:
    attachment = _attachment(txn, host, room, replica)
    if attachment is None:
        raise ItemNotFound(f"{replica} is not attached to {room}")
    if seq > attachment[0]:
        raise OutOfSequence(f"{replica} acknowledged {seq} past {attachment[0]}")
    if seq <= attachment[1]:
        return
    txn.execute("UPDATE dmuc_attachments SET acked = ?"
                " WHERE host = ? AND room = ? AND replica = ?", (seq, host, room, replica))
    txn.execute("DELETE FROM dmuc_broadcast_log"
                " WHERE host = ? AND room = ? AND replica = ? AND seq <= ?",
                (host, room, replica, seq))


# The replica side

_ROOM = ("room, primary_jid, epoch, seq, anonymity, keepalive, history_size, outcasts,"
         " broadcast")
_OCCUPANT = "nick, role, affiliation, jid, presence"
_SPOOLED = "origin_id, sender, nick, xml, sent"


def _replicaRoom(row: tuple[Any, ...]) -> ReplicaRoom:
    *fields, outcasts, broadcast = row
    return ReplicaRoom(*fields, outcasts=tuple(json.loads(outcasts)), broadcast=broadcast)


def _rows(txn: Any, sql: str, replica: str) -> dict[str, list[tuple[Any, ...]]]:
    """
    The rows of C{sql} (whose first column is the room) by room.
    """
    txn.execute(sql, (replica,))
    byRoom: dict[str, list[tuple[Any, ...]]] = {}
    for room, *fields in txn.fetchall():
        byRoom.setdefault(room, []).append(tuple(fields))
    return byRoom


def loadReplicaRooms(txn: Any, replica: str) -> list[ReplicaState]:
    txn.execute(f"SELECT {_ROOM} FROM dmuc_replica_rooms WHERE replica = ? ORDER BY room",
                (replica,))
    rooms = [_replicaRoom(row) for row in txn.fetchall()]
    where = "WHERE replica = ? ORDER BY room, id"
    occupants = _rows(txn, f"SELECT room, {_OCCUPANT} FROM dmuc_replica_occupants {where}",
                      replica)
    members = _rows(txn, f"SELECT room, nick, jid FROM dmuc_replica_members {where}", replica)
    history = _rows(txn, f"SELECT room, stamp, xml FROM dmuc_replica_history {where}",
                    replica)
    spool = _rows(txn, f"SELECT room, {_SPOOLED} FROM dmuc_spool {where}", replica)
    return [
        ReplicaState(
            room,
            tuple(ReplicaOccupant(*row) for row in occupants.get(room.room, ())),
            tuple(LocalMember(*row) for row in members.get(room.room, ())),
            tuple(HistoryEntry(*row) for row in history.get(room.room, ())),
            tuple(SpooledMessage(*row) for row in spool.get(room.room, ())),
        )
        for room in rooms
    ]


def _saveReplicaRoom(txn: Any, replica: str, room: ReplicaRoom) -> None:
    # An upsert, not INSERT OR REPLACE: replacing the row would cascade.
    txn.execute(
        f"INSERT INTO dmuc_replica_rooms (replica, {_ROOM}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (replica, room) DO UPDATE SET primary_jid = excluded.primary_jid,"
        " epoch = excluded.epoch, seq = excluded.seq, anonymity = excluded.anonymity,"
        " keepalive = excluded.keepalive, history_size = excluded.history_size,"
        " outcasts = excluded.outcasts, broadcast = excluded.broadcast",
        (replica, room.room, room.primary, room.epoch, room.seq, room.anonymity,
         room.keepalive, room.historySize, json.dumps(list(room.outcasts), ensure_ascii=False),
         room.broadcast),
    )


def _remove(txn: Any, replica: str, room: str, change: ReplicaChange) -> None:
    key = (replica, room)
    if change.newRoster:
        txn.execute("DELETE FROM dmuc_replica_occupants WHERE replica = ? AND room = ?", key)
    if change.newHistory:
        txn.execute("DELETE FROM dmuc_replica_history WHERE replica = ? AND room = ?", key)
    txn.executemany("DELETE FROM dmuc_replica_occupants"
                    " WHERE replica = ? AND room = ? AND nick = ?",
                    [key + (nick,) for nick in change.gone])
    txn.executemany("DELETE FROM dmuc_replica_members"
                    " WHERE replica = ? AND room = ? AND nick = ? AND jid = ?",
                    [key + (m.nick, m.jid) for m in change.left])
    txn.executemany("DELETE FROM dmuc_spool"
                    " WHERE replica = ? AND room = ? AND sender = ? AND origin_id = ?",
                    [key + tuple(k) for k in change.unspool])


def _add(txn: Any, replica: str, room: str, change: ReplicaChange) -> None:
    key = (replica, room)
    # The upsert updates the row in place: an occupant keeps its id, and so
    # its place in the roster's order.
    txn.executemany(
        f"INSERT INTO dmuc_replica_occupants (replica, room, {_OCCUPANT})"
        " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (replica, room, nick) DO UPDATE SET"
        " role = excluded.role, affiliation = excluded.affiliation, jid = excluded.jid,"
        " presence = excluded.presence",
        [key + (o.nick, o.role, o.affiliation, o.jid, o.presence) for o in change.occupants])
    txn.executemany("INSERT OR IGNORE INTO dmuc_replica_members (replica, room, nick, jid)"
                    " VALUES (?, ?, ?, ?)", [key + (m.nick, m.jid) for m in change.joined])
    txn.executemany("INSERT INTO dmuc_replica_history (replica, room, stamp, xml)"
                    " VALUES (?, ?, ?, ?)", [key + (h.stamp, h.xml) for h in change.history])
    txn.execute("DELETE FROM dmuc_replica_history WHERE replica = ? AND room = ? AND id NOT IN"
                " (SELECT id FROM dmuc_replica_history WHERE replica = ? AND room = ?"
                " ORDER BY id DESC LIMIT ?)", key + key + (max(0, change.room.historySize),))
    txn.executemany(f"INSERT INTO dmuc_spool (replica, room, {_SPOOLED})"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [key + (m.originId, m.sender, m.nick, m.xml, m.sent) for m in change.spool])


def updateReplicaRoom(txn: Any, replica: str, change: ReplicaChange) -> None:
    _saveReplicaRoom(txn, replica, change.room)
    _remove(txn, replica, change.room.room, change)
    _add(txn, replica, change.room.room, change)


def listSpooled(txn: Any, replica: str, room: str) -> list[SpooledMessage]:
    txn.execute(f"SELECT {_SPOOLED} FROM dmuc_spool WHERE replica = ? AND room = ?"
                " ORDER BY id", (replica, room))
    return [SpooledMessage(*row) for row in txn.fetchall()]


def detachReplicaRoom(txn: Any, replica: str, room: str) -> None:
    txn.execute("DELETE FROM dmuc_replica_rooms WHERE replica = ? AND room = ?",
                (replica, room))


class SQLiteDMUC:
    """
    The distributed rooms methods of the SQLite store (which provides
    C{_run} for reads and C{_write} for writes).
    """

    def _run(self, interaction: Any, *args: Any) -> Deferred[Any]:
        raise NotImplementedError()

    def _write(self, interaction: Any, *args: Any) -> Deferred[Any]:
        raise NotImplementedError()

    def loadPrimaryRooms(self, host: str) -> Deferred[list[PrimaryRoom]]:
        return self._run(loadPrimaryRooms, host)

    def startEpoch(self, host: str, room: str, epoch: str) -> Deferred[None]:
        return self._write(startEpoch, host, room, epoch)

    def dropPrimaryRoom(self, host: str, room: str) -> Deferred[None]:
        return self._write(dropPrimaryRoom, host, room)

    def attachReplica(self, host: str, room: str,
                      attachment: ReplicaAttachment) -> Deferred[None]:
        return self._write(attachReplica, host, room, attachment)

    def detachReplica(self, host: str, room: str, replica: str) -> Deferred[None]:
        return self._write(detachReplica, host, room, replica)

    def appendBroadcasts(self, host: str, room: str, broadcasts: Sequence[LoggedBroadcast],
                         keep: int) -> Deferred[None]:
        return self._write(appendBroadcasts, host, room, tuple(broadcasts), keep)

    def replayBroadcasts(self, host: str, room: str, replica: str,
                         after: int) -> Deferred[Replay | None]:
        return self._run(replayBroadcasts, host, room, replica, after)

    def acknowledgeBroadcasts(self, host: str, room: str, replica: str,
                              seq: int) -> Deferred[None]:
        return self._write(acknowledgeBroadcasts, host, room, replica, seq)

    def loadReplicaRooms(self, replica: str) -> Deferred[list[ReplicaState]]:
        return self._run(loadReplicaRooms, replica)

    def updateReplicaRoom(self, replica: str, change: ReplicaChange) -> Deferred[None]:
        return self._write(updateReplicaRoom, replica, change)

    def listSpooled(self, replica: str, room: str) -> Deferred[list[SpooledMessage]]:
        return self._run(listSpooled, replica, room)

    def detachReplicaRoom(self, replica: str, room: str) -> Deferred[None]:
        return self._write(detachReplicaRoom, replica, room)
