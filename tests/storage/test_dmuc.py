# -*- test-case-name: tests.storage.test_dmuc -*-
"""
Tests for the distributed rooms part of L{xmuc.storage}: what the primary
and the replica keep (design page section 8), one suite run against both
stores.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from twisted.trial.unittest import TestCase

from xmuc.storage import (
    HistoryEntry,
    IStore,
    LocalMember,
    LoggedBroadcast,
    MemoryStore,
    OutOfSequence,
    PrimaryRoom,
    Replay,
    ReplicaAttachment,
    ReplicaChange,
    ReplicaOccupant,
    ReplicaRoom,
    ReplicaState,
    SpooledMessage,
    SQLiteStore,
    StoredRoom,
)
from xmuc.storage.interfaces import ItemNotFound

HOST = "muc.a.example"
R1 = "dmuc@b.example"
R2 = "dmuc@c.example"
ROOM = ReplicaRoom("room@muc.a.example", "muc.a.example", "e1", 0, "semi", 60, 3,
                   ("spam@b.example",))

if TYPE_CHECKING:
    _Base = TestCase
else:
    _Base = object


def logged(replica: str, *seqs: int) -> list[LoggedBroadcast]:
    return [LoggedBroadcast(replica, n, f"<message><body>{replica} {n} ✨</body></message>")
            for n in seqs]


def occupant(nick: str, role: str = "participant", jid: str | None = None) -> ReplicaOccupant:
    return ReplicaOccupant(nick, role, "none", jid, f"<presence from='room/{nick}'/>")


def history(*stamps: float) -> tuple[HistoryEntry, ...]:
    return tuple(HistoryEntry(s, f"<message><body>{s}</body></message>") for s in stamps)


def spooled(sender: str, originId: str, sent: float = 5.0) -> SpooledMessage:
    return SpooledMessage(originId, sender, "Nick", f"<message id='{originId}'/>", sent)


class PrimaryStoreTestsMixin(_Base):
    """
    What every store keeps for a room's replicas.
    """

    def makeStore(self) -> IStore:
        raise NotImplementedError()

    async def setUp(self) -> None:
        self.store = self.makeStore()
        await self.store.start()
        self.addCleanup(self.store.stop)

    async def attached(self, *replicas: str) -> None:
        await self.store.startEpoch(HOST, "room", "e1")
        for replica in replicas:
            await self.store.attachReplica(HOST, "room", ReplicaAttachment(replica, 10.0))

    async def replay(self, replica: str, after: int) -> Replay | None:
        return await self.store.replayBroadcasts(HOST, "room", replica, after)

    async def test_epochs(self) -> None:
        """
        A room's epoch comes back with its attachments, by room and only
        for its host.
        """
        self.assertEqual(await self.store.loadPrimaryRooms(HOST), [])
        await self.store.startEpoch(HOST, "b", "eb")
        await self.store.startEpoch(HOST, "a", "ea")
        await self.store.startEpoch("muc.other", "c", "ec")
        await self.store.attachReplica(HOST, "a", ReplicaAttachment(R2, 2.5))
        await self.store.attachReplica(HOST, "a", ReplicaAttachment(R1, 1.5, 4, 2))
        self.assertEqual(await self.store.loadPrimaryRooms(HOST), [
            PrimaryRoom("a", "ea", (ReplicaAttachment(R1, 1.5, 4, 2),
                                    ReplicaAttachment(R2, 2.5))),
            PrimaryRoom("b", "eb"),
        ])

    async def test_attachNeedsEpoch(self) -> None:
        """
        A replica cannot attach to a room without an epoch.
        """
        with self.assertRaises(ItemNotFound):
            await self.store.attachReplica(HOST, "room", ReplicaAttachment(R1, 1.0))
        self.assertEqual(await self.store.loadPrimaryRooms(HOST), [])

    async def test_appendAndReplay(self) -> None:
        """
        One broadcast logs any number of stanzas per replica and moves each
        replica's C{seq}; a replay gives what follows a C{seq}, complete.
        """
        await self.attached(R1, R2)
        await self.store.appendBroadcasts(HOST, "room", logged(R1, 1, 2) + logged(R2, 1), 10)
        await self.store.appendBroadcasts(HOST, "room", logged(R1, 3), 10)
        self.assertEqual(await self.replay(R1, 0), Replay(tuple(logged(R1, 1, 2, 3)), True, 3))
        self.assertEqual(await self.replay(R1, 2), Replay(tuple(logged(R1, 3)), True, 3))
        self.assertEqual(await self.replay(R1, 3), Replay((), True, 3))
        self.assertEqual(await self.replay(R2, 0), Replay(tuple(logged(R2, 1)), True, 1))
        rooms = await self.store.loadPrimaryRooms(HOST)
        self.assertEqual([a.seq for a in rooms[0].attachments], [3, 1])

    async def test_replayUnknown(self) -> None:
        """
        A replica that is not attached has no replay; one that claims a
        C{seq} never sent gets an incomplete one.
        """
        await self.attached(R1)
        self.assertIsNone(await self.replay(R2, 0))
        self.assertIsNone(await self.store.replayBroadcasts(HOST, "nowhere", R1, 0))
        self.assertEqual(await self.replay(R1, 5), Replay((), False, 0))

    async def test_outOfSequence(self) -> None:
        """
        A broadcast that skips or repeats a C{seq}, or names a replica not
        attached, fails, and nothing of its call is stored.
        """
        await self.attached(R1, R2)
        await self.store.appendBroadcasts(HOST, "room", logged(R1, 1), 0)
        for wrong in (logged(R2, 1) + logged(R1, 3), logged(R2, 1) + logged(R1, 1),
                      logged(R2, 2)):
            with self.assertRaises(OutOfSequence):
                await self.store.appendBroadcasts(HOST, "room", wrong, 0)
        with self.assertRaises(ItemNotFound):
            await self.store.appendBroadcasts(HOST, "room", logged(R2, 1) + logged("x@y", 1), 0)
        self.assertEqual(await self.replay(R1, 0), Replay(tuple(logged(R1, 1)), True, 1))
        self.assertEqual(await self.replay(R2, 0), Replay((), True, 0))

    async def test_keep(self) -> None:
        """
        Each replica's log keeps its last C{keep} entries: a replay from
        further back is incomplete.
        """
        await self.attached(R1, R2)
        for n in range(1, 6):
            await self.store.appendBroadcasts(HOST, "room", logged(R1, n), 3)
        await self.store.appendBroadcasts(HOST, "room", logged(R2, 1, 2), 3)
        self.assertEqual(await self.replay(R1, 2), Replay(tuple(logged(R1, 3, 4, 5)), True, 5))
        self.assertEqual(await self.replay(R1, 1), Replay(tuple(logged(R1, 3, 4, 5)), False, 5))
        self.assertEqual(await self.replay(R2, 0), Replay(tuple(logged(R2, 1, 2)), True, 2))

    async def test_acknowledge(self) -> None:
        """
        An acknowledgement drops what the replica holds from the log and
        never goes back; one past the last C{seq}, or for a replica not
        attached, fails.
        """
        await self.attached(R1)
        await self.store.appendBroadcasts(HOST, "room", logged(R1, 1, 2, 3), 0)
        await self.store.acknowledgeBroadcasts(HOST, "room", R1, 2)
        await self.store.acknowledgeBroadcasts(HOST, "room", R1, 1)
        self.assertEqual(await self.replay(R1, 2), Replay(tuple(logged(R1, 3)), True, 3))
        self.assertEqual(await self.replay(R1, 1), Replay(tuple(logged(R1, 3)), False, 3))
        rooms = await self.store.loadPrimaryRooms(HOST)
        self.assertEqual(rooms[0].attachments, (ReplicaAttachment(R1, 10.0, 3, 2),))
        with self.assertRaises(OutOfSequence):
            await self.store.acknowledgeBroadcasts(HOST, "room", R1, 4)
        with self.assertRaises(ItemNotFound):
            await self.store.acknowledgeBroadcasts(HOST, "room", R2, 0)

    async def test_reattach(self) -> None:
        """
        Attaching again starts the replica afresh: its log is dropped.
        """
        await self.attached(R1)
        await self.store.appendBroadcasts(HOST, "room", logged(R1, 1, 2), 0)
        await self.store.attachReplica(HOST, "room", ReplicaAttachment(R1, 20.0))
        self.assertEqual(await self.replay(R1, 0), Replay((), True, 0))
        await self.store.appendBroadcasts(HOST, "room", logged(R1, 1), 0)
        self.assertEqual(await self.replay(R1, 0), Replay(tuple(logged(R1, 1)), True, 1))

    async def test_newEpoch(self) -> None:
        """
        A new epoch drops the room's attachments and their logs.
        """
        await self.attached(R1)
        await self.store.appendBroadcasts(HOST, "room", logged(R1, 1), 0)
        await self.store.startEpoch(HOST, "room", "e2")
        self.assertEqual(await self.store.loadPrimaryRooms(HOST), [PrimaryRoom("room", "e2")])
        self.assertIsNone(await self.replay(R1, 0))
        await self.store.attachReplica(HOST, "room", ReplicaAttachment(R1, 1.0))
        self.assertEqual(await self.replay(R1, 0), Replay((), True, 0))

    async def test_detach(self) -> None:
        """
        A detach forgets the attachment and its log, and leaves the other
        replicas alone; detaching twice is no error.
        """
        await self.attached(R1, R2)
        await self.store.appendBroadcasts(HOST, "room", logged(R1, 1) + logged(R2, 1), 0)
        await self.store.detachReplica(HOST, "room", R1)
        await self.store.detachReplica(HOST, "room", R1)
        self.assertIsNone(await self.replay(R1, 0))
        self.assertEqual(await self.replay(R2, 0), Replay(tuple(logged(R2, 1)), True, 1))

    async def test_dropAndDeleteRoom(self) -> None:
        """
        Dropping a room's DMUC state, or deleting the room, forgets its
        epoch, attachments and log; other rooms keep theirs.
        """
        await self.attached(R1)
        await self.store.startEpoch(HOST, "other", "e9")
        await self.store.startEpoch(HOST, "stored", "e8")
        await self.store.saveRoom(HOST, StoredRoom("stored", "{}"))
        await self.store.appendBroadcasts(HOST, "room", logged(R1, 1), 0)
        await self.store.dropPrimaryRoom(HOST, "room")
        await self.store.dropPrimaryRoom(HOST, "room")
        await self.store.deleteRoom(HOST, "stored")
        self.assertEqual(await self.store.loadPrimaryRooms(HOST), [PrimaryRoom("other", "e9")])
        await self.attached(R1)
        self.assertEqual(await self.replay(R1, 0), Replay((), True, 0))


class ReplicaStoreTestsMixin(_Base):
    """
    What every store keeps for the rooms a replica mirrors.
    """

    def makeStore(self) -> IStore:
        raise NotImplementedError()

    async def setUp(self) -> None:
        self.store = self.makeStore()
        await self.store.start()
        self.addCleanup(self.store.stop)

    async def update(self, **change) -> None:
        room = change.pop("room", ROOM)
        await self.store.updateReplicaRoom(R1, ReplicaChange(room, **change))

    async def state(self) -> ReplicaState:
        [state] = await self.store.loadReplicaRooms(R1)
        return state

    async def test_rooms(self) -> None:
        """
        A first change creates the room with its settings, by room JID and
        only for its replica; a later one replaces them.
        """
        self.assertEqual(await self.store.loadReplicaRooms(R1), [])
        other = ReplicaRoom("a@muc.a.example", "muc.a.example", "e7", outcasts=["x@b"])
        await self.update(room=other)
        await self.update()
        await self.store.updateReplicaRoom(R2, ReplicaChange(ROOM))
        newer = ReplicaRoom(ROOM.room, ROOM.primary, "e2", 9, "non", 30, 5, (), "moderator")
        await self.update(room=newer)
        self.assertEqual(await self.store.loadReplicaRooms(R1), [
            ReplicaState(ReplicaRoom("a@muc.a.example", "muc.a.example", "e7",
                                     outcasts=("x@b",))),
            ReplicaState(newer),
        ])

    async def test_rosterOrder(self) -> None:
        """
        The roster keeps the order occupants came in: an update keeps an
        occupant's place, one that left and came back goes last, and a new
        roster replaces the old one.
        """
        await self.update(occupants=(occupant("a"), occupant("b"), occupant("c")))
        await self.update(occupants=(occupant("a", "moderator", "a@b.example/r"),))
        await self.update(gone=("b",))
        await self.update(gone=("c",), occupants=(occupant("c"), occupant("d")))
        self.assertEqual((await self.state()).occupants,
                         (occupant("a", "moderator", "a@b.example/r"), occupant("c"),
                          occupant("d")))
        await self.update(newRoster=True, occupants=(occupant("z"),))
        self.assertEqual((await self.state()).occupants, (occupant("z"),))

    async def test_members(self) -> None:
        """
        The local distribution list holds local real JIDs per nick, in the
        order they joined, apart from the roster.
        """
        a1, a2, b1 = (LocalMember("a", "u@b/1"), LocalMember("a", "u@b/2"),
                      LocalMember("b", "v@b/1"))
        await self.update(occupants=(occupant("a"),), joined=(a1, b1))
        await self.update(joined=(a2, a1))
        await self.update(gone=("a",), newRoster=True)
        self.assertEqual((await self.state()).members, (a1, b1, a2))
        await self.update(left=(a1, LocalMember("a", "nobody@b")))
        self.assertEqual((await self.state()).members, (b1, a2))

    async def test_history(self) -> None:
        """
        The history keeps the last C{historySize} stanzas, oldest first; a
        new history replaces it; a size of 0 keeps none.
        """
        await self.update(history=history(1.0, 2.0))
        await self.update(history=history(3.0, 4.0))
        self.assertEqual((await self.state()).history, history(2.0, 3.0, 4.0))
        await self.update(newHistory=True, history=history(9.0))
        self.assertEqual((await self.state()).history, history(9.0))
        await self.update(room=ReplicaRoom(ROOM.room, ROOM.primary, "e1", historySize=0),
                          history=history(10.0))
        self.assertEqual((await self.state()).history, ())

    async def test_spool(self) -> None:
        """
        Spooled messages are listed in the order spooled until the
        primary acknowledges them by sender and origin-id.
        """
        self.assertEqual(await self.store.listSpooled(R1, ROOM.room), [])
        first, second, third = (spooled("u@b/1", "o1"), spooled("u@b/2", "o1"),
                                spooled("u@b/1", "o2", 6.5))
        await self.update(spool=(first, second))
        await self.update(spool=(third,))
        self.assertEqual(await self.store.listSpooled(R1, ROOM.room), [first, second, third])
        await self.update(unspool=(first.key, ("u@b/1", "nope")))
        self.assertEqual(await self.store.listSpooled(R1, ROOM.room), [second, third])
        self.assertEqual((await self.state()).spool, (second, third))

    async def test_settingsKeepState(self) -> None:
        """
        A change of the settings alone (a new C{seq}, new outcasts) keeps
        the roster, the list, the history and the spool.
        """
        member = LocalMember("a", "u@b/1")
        await self.update(occupants=(occupant("a"),), joined=(member,),
                          history=history(1.0), spool=(spooled("u@b/1", "o1"),))
        newer = ReplicaRoom(ROOM.room, ROOM.primary, "e1", 7, outcasts=("b.example",))
        await self.update(room=newer)
        self.assertEqual(await self.state(), ReplicaState(
            newer, (occupant("a"),), (member,), history(1.0), (spooled("u@b/1", "o1"),)))

    async def test_detach(self) -> None:
        """
        Detaching forgets everything of the room, spool included, and
        leaves other rooms alone; detaching twice is no error.
        """
        other = ReplicaRoom("a@muc.a.example", "muc.a.example", "e7")
        await self.update(room=other, history=history(1.0))
        await self.update(occupants=(occupant("a"),), joined=(LocalMember("a", "u@b/1"),),
                          history=history(1.0), spool=(spooled("u@b/1", "o1"),))
        await self.store.detachReplicaRoom(R1, ROOM.room)
        await self.store.detachReplicaRoom(R1, ROOM.room)
        self.assertEqual(await self.store.loadReplicaRooms(R1),
                         [ReplicaState(other, history=history(1.0))])
        self.assertEqual(await self.store.listSpooled(R1, ROOM.room), [])
        await self.update()
        self.assertEqual((await self.store.loadReplicaRooms(R1))[1], ReplicaState(ROOM))


class MemoryPrimaryStoreTests(PrimaryStoreTestsMixin, TestCase):
    def makeStore(self) -> IStore:
        return MemoryStore()


class SQLitePrimaryStoreTests(PrimaryStoreTestsMixin, TestCase):
    def makeStore(self) -> IStore:
        return SQLiteStore(self.mktemp())


class MemoryReplicaStoreTests(ReplicaStoreTestsMixin, TestCase):
    def makeStore(self) -> IStore:
        return MemoryStore()


class SQLiteReplicaStoreTests(ReplicaStoreTestsMixin, TestCase):
    def makeStore(self) -> IStore:
        return SQLiteStore(self.mktemp())
