# -*- test-case-name: tests.storage.test_rooms -*-
"""
The rooms part of L{xmuc.storage.sqlite.SQLiteStore}: persistent rooms and
room archives (schema 002), as transaction functions and the store
methods that run them.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred

from xmuc.storage.interfaces import (
    ArchivedMessage,
    ArchiveFilter,
    ArchivePage,
    ItemNotFound,
    StoredRoom,
)
from xmuc.storage.sqldmuc import dropPrimaryRoom

_COLUMNS = "stanza_id, stamp, nick, occupant, xml"


def saveRoom(txn: Any, host: str, room: StoredRoom) -> None:
    txn.execute("INSERT OR REPLACE INTO muc_rooms (host, name, data) VALUES (?, ?, ?)",
                (host, room.name, room.data))


def loadRooms(txn: Any, host: str) -> list[StoredRoom]:
    txn.execute("SELECT name, data FROM muc_rooms WHERE host = ? ORDER BY name", (host,))
    return [StoredRoom(name, data) for name, data in txn.fetchall()]


def deleteRoom(txn: Any, host: str, name: str) -> None:
    txn.execute("DELETE FROM muc_rooms WHERE host = ? AND name = ?", (host, name))
    txn.execute("DELETE FROM muc_archive WHERE host = ? AND room = ?", (host, name))
    dropPrimaryRoom(txn, host, name)


def deleteArchive(txn: Any, host: str, name: str) -> None:
    txn.execute("DELETE FROM muc_archive WHERE host = ? AND room = ? AND NOT EXISTS ("
                " SELECT 1 FROM muc_rooms WHERE host = ? AND name = ?)",
                (host, name, host, name))


def archiveMessage(txn: Any, host: str, room: str, message: ArchivedMessage,
                   keep: int) -> None:
    txn.execute(
        f"INSERT INTO muc_archive (host, room, {_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (host, room, message.stanzaId, message.stamp, message.nick, message.occupant,
         message.xml),
    )
    if keep:
        txn.execute(
            "DELETE FROM muc_archive WHERE host = ? AND room = ? AND id <= ("
            " SELECT id FROM muc_archive WHERE host = ? AND room = ?"
            " ORDER BY id DESC LIMIT 1 OFFSET ?)",
            (host, room, host, room, keep),
        )


def lastMessages(txn: Any, host: str, room: str, count: int) -> list[ArchivedMessage]:
    txn.execute(
        f"SELECT {_COLUMNS} FROM muc_archive WHERE host = ? AND room = ?"
        " ORDER BY id DESC LIMIT ?",
        (host, room, count),
    )
    return [ArchivedMessage(*row) for row in reversed(txn.fetchall())]


def _idOf(txn: Any, host: str, room: str, stanzaId: str) -> int:
    txn.execute("SELECT id FROM muc_archive WHERE host = ? AND room = ? AND stanza_id = ?",
                (host, room, stanzaId))
    row = txn.fetchone()
    if row is None:
        raise ItemNotFound(f"no archived message {stanzaId}")
    return row[0]


def queryArchive(txn: Any, host: str, room: str, query: ArchiveFilter) -> ArchivePage:
    where = ["host = ?", "room = ?"]
    args: list[Any] = [host, room]
    for clause, value in (("stamp >= ?", query.start), ("stamp <= ?", query.end),
                          ("occupant = ?", query.with_)):
        if value is not None:
            where.append(clause)
            args.append(value)
    matching = " AND ".join(where)
    txn.execute(f"SELECT COUNT(*) FROM muc_archive WHERE {matching}", args)
    count = txn.fetchone()[0]
    bounds, boundArgs = [], []
    if query.after is not None:
        bounds.append("id > ?")
        boundArgs.append(_idOf(txn, host, room, query.after))
    if query.before:
        bounds.append("id < ?")
        boundArgs.append(_idOf(txn, host, room, query.before))
    paged = " AND ".join([matching] + bounds)
    order = "DESC" if query.before is not None else "ASC"
    txn.execute(f"SELECT id, {_COLUMNS} FROM muc_archive WHERE {paged}"
                f" ORDER BY id {order} LIMIT ?", args + boundArgs + [query.max + 1])
    rows = txn.fetchall()
    complete = len(rows) <= query.max
    rows = rows[: query.max]
    if order == "DESC":
        rows.reverse()
    index = 0
    if rows:
        txn.execute(f"SELECT COUNT(*) FROM muc_archive WHERE {matching} AND id < ?",
                    args + [rows[0][0]])
        index = txn.fetchone()[0]
    return ArchivePage([ArchivedMessage(*row[1:]) for row in rows], complete, count, index)


class SQLiteRooms:
    """
    The room methods of the SQLite store (which provides C{_run} for reads
    and C{_write} for writes).
    """

    def _run(self, interaction: Any, *args: Any) -> Deferred[Any]:
        raise NotImplementedError()

    def _write(self, interaction: Any, *args: Any) -> Deferred[Any]:
        raise NotImplementedError()

    def saveRoom(self, host: str, room: StoredRoom) -> Deferred[None]:
        return self._write(saveRoom, host, room)

    def loadRooms(self, host: str) -> Deferred[list[StoredRoom]]:
        return self._run(loadRooms, host)

    def deleteRoom(self, host: str, name: str) -> Deferred[None]:
        return self._write(deleteRoom, host, name)

    def deleteArchive(self, host: str, name: str) -> Deferred[None]:
        return self._write(deleteArchive, host, name)

    def archiveMessage(self, host: str, room: str, message: ArchivedMessage,
                       keep: int) -> Deferred[None]:
        return self._write(archiveMessage, host, room, message, keep)

    def lastMessages(self, host: str, room: str, count: int) -> Deferred[list[ArchivedMessage]]:
        return self._run(lastMessages, host, room, count)

    def queryArchive(self, host: str, room: str, query: ArchiveFilter) -> Deferred[ArchivePage]:
        return self._run(queryArchive, host, room, query)
