# -*- test-case-name: tests.storage.test_rooms -*-
"""
The rooms part of L{xmuc.storage.memory.MemoryStore}: persistent rooms and
room archives in dictionaries.
"""

from __future__ import annotations

from typing import Callable

from twisted.internet import defer
from twisted.internet.defer import Deferred

from xmuc.storage.interfaces import (
    ArchivedMessage,
    ArchiveFilter,
    ArchivePage,
    ItemNotFound,
    StoredRoom,
)


def _position(messages: list[ArchivedMessage], stanzaId: str) -> int:
    for index, message in enumerate(messages):
        if message.stanzaId == stanzaId:
            return index
    raise ItemNotFound(f"no archived message {stanzaId}")


def _matcher(query: ArchiveFilter) -> Callable[[ArchivedMessage], bool]:
    def matches(message: ArchivedMessage) -> bool:
        return (
            (query.start is None or message.stamp >= query.start)
            and (query.end is None or message.stamp <= query.end)
            and (query.with_ is None or message.occupant == query.with_)
        )

    return matches


def page(messages: list[ArchivedMessage], query: ArchiveFilter) -> ArchivePage:
    """
    The page of C{messages} (a room's whole archive, oldest first) that a
    query asks for.
    """
    matches = _matcher(query)
    indexed = [(i, m) for i, m in enumerate(messages) if matches(m)]
    if query.after is not None:
        cut = _position(messages, query.after)
        indexed = [(i, m) for i, m in indexed if i > cut]
    backward = query.before is not None
    if query.before:
        cut = _position(messages, query.before)
        indexed = [(i, m) for i, m in indexed if i < cut]
    chosen = indexed[-query.max:] if backward and query.max else indexed[:query.max]
    complete = len(chosen) == len(indexed)
    count = sum(1 for m in messages if matches(m))
    index = 0
    if chosen:
        first = chosen[0][0]
        index = sum(1 for i, m in enumerate(messages) if i < first and matches(m))
    return ArchivePage([m for _, m in chosen], complete, count, index)


class MemoryRooms:
    """
    Rooms and archives for the memory store.
    """

    def __init__(self) -> None:
        self._rooms: dict[tuple[str, str], StoredRoom] = {}
        self._archives: dict[tuple[str, str], list[ArchivedMessage]] = {}

    def saveRoom(self, host: str, room: StoredRoom) -> Deferred[None]:
        self._rooms[(host, room.name)] = room
        return defer.succeed(None)

    def loadRooms(self, host: str) -> Deferred[list[StoredRoom]]:
        rooms = [r for (h, _), r in sorted(self._rooms.items()) if h == host]
        return defer.succeed(rooms)

    def deleteRoom(self, host: str, name: str) -> Deferred[None]:
        self._rooms.pop((host, name), None)
        self._archives.pop((host, name), None)
        return defer.succeed(None)

    def deleteArchive(self, host: str, name: str) -> Deferred[None]:
        if (host, name) not in self._rooms:
            self._archives.pop((host, name), None)
        return defer.succeed(None)

    def archiveMessage(self, host: str, room: str, message: ArchivedMessage,
                       keep: int) -> Deferred[None]:
        archive = self._archives.setdefault((host, room), [])
        archive.append(message)
        if keep and len(archive) > keep:
            del archive[: len(archive) - keep]
        return defer.succeed(None)

    def lastMessages(self, host: str, room: str, count: int) -> Deferred[list[ArchivedMessage]]:
        archive = self._archives.get((host, room), [])
        return defer.succeed(archive[max(0, len(archive) - count):] if count else [])

    def queryArchive(self, host: str, room: str, query: ArchiveFilter) -> Deferred[ArchivePage]:
        return defer.maybeDeferred(page, self._archives.get((host, room), []), query)
