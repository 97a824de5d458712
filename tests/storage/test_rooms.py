# -*- test-case-name: tests.storage.test_rooms -*-
"""
Tests for the rooms part of L{xmuc.storage}: persistent rooms and room
archives with MAM paging, one suite run against both stores.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from twisted.trial.unittest import TestCase

from xmuc.storage import (
    ArchivedMessage,
    ArchiveFilter,
    IStore,
    MemoryStore,
    SQLiteStore,
    StoredRoom,
)
from xmuc.storage.interfaces import ItemNotFound

HOST = "muc.localhost"

if TYPE_CHECKING:
    _Base = TestCase
else:
    _Base = object


def message(n: int, occupant: str = "alice@localhost") -> ArchivedMessage:
    return ArchivedMessage(f"id{n}", 1000.0 + n, "Alice", occupant,
                           f"<message type='groupchat'><body>m{n} ✨</body></message>")


class RoomStoreTestsMixin(_Base):
    """
    What every store does with rooms.
    """

    def makeStore(self) -> IStore:
        raise NotImplementedError()

    async def setUp(self) -> None:
        self.store = self.makeStore()
        await self.store.start()
        self.addCleanup(self.store.stop)

    async def fill(self, count: int, room: str = "room") -> None:
        for n in range(count):
            occupant = "bob@localhost" if n % 3 == 0 else "alice@localhost"
            await self.store.archiveMessage(HOST, room, message(n, occupant), 0)

    async def ids(self, **query) -> tuple[list[str], bool, int, int]:
        page = await self.store.queryArchive(HOST, "room", ArchiveFilter(**query))
        return [m.stanzaId for m in page.messages], page.complete, page.count, page.index

    async def test_rooms(self) -> None:
        """
        Saved rooms come back by name, replaced by a later save, and only
        for their host; a deleted one is gone with its archive.
        """
        await self.store.saveRoom(HOST, StoredRoom("b", "{}"))
        await self.store.saveRoom(HOST, StoredRoom("a", '{"v": 1}'))
        await self.store.saveRoom(HOST, StoredRoom("a", '{"v": 2}'))
        await self.store.saveRoom("muc.other", StoredRoom("c", "{}"))
        rooms = await self.store.loadRooms(HOST)
        self.assertEqual(rooms, [StoredRoom("a", '{"v": 2}'), StoredRoom("b", "{}")])
        await self.fill(2, "a")
        await self.store.deleteRoom(HOST, "a")
        self.assertEqual(await self.store.loadRooms(HOST), [StoredRoom("b", "{}")])
        self.assertEqual(await self.store.lastMessages(HOST, "a", 10), [])

    async def test_deleteArchive(self) -> None:
        """
        Deleting a temporary room's archive leaves the archive of a room
        with a stored record (and the record) alone, and only drops the
        archive of a room without one.
        """
        await self.store.saveRoom(HOST, StoredRoom("kept", "{}"))
        await self.fill(2, "kept")
        await self.fill(2, "temporary")
        await self.store.deleteArchive(HOST, "kept")
        await self.store.deleteArchive(HOST, "temporary")
        self.assertEqual(await self.store.loadRooms(HOST), [StoredRoom("kept", "{}")])
        self.assertEqual(len(await self.store.lastMessages(HOST, "kept", 10)), 2)
        self.assertEqual(await self.store.lastMessages(HOST, "temporary", 10), [])

    async def test_lastMessages(self) -> None:
        """
        The last messages come oldest first, whole.
        """
        await self.fill(5)
        last = await self.store.lastMessages(HOST, "room", 2)
        self.assertEqual(last, [message(3, "bob@localhost"), message(4)])
        self.assertEqual(len(await self.store.lastMessages(HOST, "room", 50)), 5)

    async def test_keep(self) -> None:
        """
        Archiving with C{keep} drops the oldest beyond it.
        """
        for n in range(5):
            await self.store.archiveMessage(HOST, "room", message(n), 3)
        self.assertEqual([m.stanzaId for m in await self.store.lastMessages(HOST, "room", 9)],
                         ["id2", "id3", "id4"])

    async def test_firstPage(self) -> None:
        """
        A query without paging gets the oldest C{max}, incomplete when more
        follow, with the total count.
        """
        await self.fill(5)
        self.assertEqual(await self.ids(max=2), (["id0", "id1"], False, 5, 0))
        self.assertEqual(await self.ids(max=10), ([f"id{n}" for n in range(5)], True, 5, 0))

    async def test_after(self) -> None:
        """
        C{after} pages forward.
        """
        await self.fill(5)
        self.assertEqual(await self.ids(max=2, after="id1"), (["id2", "id3"], False, 5, 2))
        self.assertEqual(await self.ids(max=2, after="id3"), (["id4"], True, 5, 4))

    async def test_before(self) -> None:
        """
        An empty C{before} is the last page; an id pages backward.
        """
        await self.fill(5)
        self.assertEqual(await self.ids(max=2, before=""), (["id3", "id4"], False, 5, 3))
        self.assertEqual(await self.ids(max=2, before="id2"), (["id0", "id1"], True, 5, 0))

    async def test_filters(self) -> None:
        """
        Time and sender filters narrow the matches and the count.
        """
        await self.fill(7)
        self.assertEqual(await self.ids(with_="bob@localhost"),
                         (["id0", "id3", "id6"], True, 3, 0))
        self.assertEqual(await self.ids(start=1002.0, end=1004.0),
                         (["id2", "id3", "id4"], True, 3, 0))
        self.assertEqual(await self.ids(with_="bob@localhost", after="id0", max=1),
                         (["id3"], False, 3, 1))

    async def test_unknownId(self) -> None:
        """
        Paging from an id the room does not have is L{ItemNotFound}.
        """
        await self.fill(2)
        with self.assertRaises(ItemNotFound):
            await self.ids(after="nope")
        with self.assertRaises(ItemNotFound):
            await self.ids(before="nope")

    async def test_roomsApart(self) -> None:
        """
        Each room has its own archive.
        """
        await self.fill(2, "room")
        await self.fill(3, "other")
        self.assertEqual((await self.ids())[2], 2)


class MemoryRoomStoreTests(RoomStoreTestsMixin, TestCase):
    def makeStore(self) -> IStore:
        return MemoryStore()


class SQLiteRoomStoreTests(RoomStoreTestsMixin, TestCase):
    def makeStore(self) -> IStore:
        return SQLiteStore(self.mktemp())
