# -*- test-case-name: tests.glue.test_dmucstore -*-
"""
Tests for L{xmuc.glue.dmucstore}: the persistence effects of both engines
(over the fake link of L{tests.dmuc.support}) carried out on a real store,
memory and SQLite, and loaded back into fresh engines.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted.trial.unittest import TestCase

from tests.dmuc.support import HOST, REPLICA, World
from tests.dmuc.test_engines import BEN, BOB, OWNER, ROOM
from tests.dmuc.test_persist import markedCrossings
from xmuc.dmuc import persist
from xmuc.dmuc.mirror import restore
from xmuc.glue.dmucstore import PrimaryStore, ReplicaStore
from xmuc.muc.model import Role
from xmuc.storage import IStore, MemoryStore, SQLiteStore

if TYPE_CHECKING:
    _Base = TestCase
else:
    _Base = object


def talk(w: World) -> None:
    """
    A room with B's users coming, talking, changing nick and leaving.
    """
    w.create(OWNER, "room", "Owner")
    w.say(OWNER, "room", "first", "h1")
    w.join(BOB, "room", "Bob")
    w.join(BEN, "room", "Ben")
    for n in range(6):
        w.say(BOB if n % 2 else OWNER, "room", f"line {n}", f"l{n}")
    w.send(BEN, f"<presence to='{ROOM}/Benjamin'/>")
    w.send(BOB, f"<presence to='{ROOM}/Bob'><show>away</show></presence>")


def state(mirror: Any) -> Any:
    """
    What a mirror holds, comparable.
    """
    return (mirror.epoch, mirror.lastSeq, mirror.nonAnonymous, mirror.historyLimit,
            mirror.presenceBroadcast,
            [(m.nick, m.role, m.affiliation, m.jid, m.occupantId,
              [p.toXml() for p in m.payload]) for m in mirror.roster.values()],
            {n: [j.full() for j in js] for n, js in mirror.local.items()},
            [(e.stanza.toXml(), e.stamp, e.stanzaId) for e in mirror.history])


class StoreTestsMixin(_Base):
    """
    Both engines' state, through the store and back.
    """

    logSize = 5

    def makeStore(self) -> IStore:
        raise NotImplementedError()

    async def setUp(self) -> None:
        self.store = self.makeStore()
        await self.store.start()
        self.addCleanup(self.store.stop)
        self.primary = PrimaryStore(self.store, HOST, self.logSize)
        self.replica = ReplicaStore(self.store, REPLICA.full())

    async def keep(self, w: World) -> None:
        runners = self.primary.runners()
        for effect in w.keptA:
            await runners[type(effect)](effect, None)
        for effect in w.keptB:
            if isinstance(effect, persist.SaveMirror):
                await self.replica.save(effect)
            else:
                await self.replica.drop(effect)
        w.keptA, w.keptB = [], []

    async def test_primaryKept(self) -> None:
        """
        The store holds the room's epoch and the replica's C{seq}, and its
        log the last C{log_size} stanzas sent to the replica, as sent.
        """
        w = World()
        talk(w)
        await self.keep(w)
        [room] = await self.primary.load()
        self.assertEqual(room.epoch, w.primary.epochs["room"])
        attachment = w.primary.attachment("room", "b.example")
        self.assertEqual(room.attachments, (persist.RestoredAttachment(
            REPLICA.full(), attachment.seq),))
        replay = await self.store.replayBroadcasts(HOST, "room", REPLICA.full(),
                                                   attachment.seq - self.logSize)
        sent = markedCrossings(w)
        self.assertEqual([(b.seq, b.xml) for b in replay.broadcasts], sent[-self.logSize:])
        self.assertTrue(replay.complete)
        early = await self.store.replayBroadcasts(HOST, "room", REPLICA.full(), 0)
        self.assertFalse(early.complete)

    async def test_replicaKept(self) -> None:
        """
        The replica's mirror comes back from the store as it was: roster
        (in order, with roles, real JIDs, payloads), local members,
        history and C{seq}; once B's users left, neither side keeps
        anything of the room.
        """
        w = World()
        talk(w)
        await self.keep(w)
        [stored] = await self.replica.load()
        self.assertEqual(state(restore(stored)), state(w.replica.rooms[ROOM]))
        w.leave(BOB, "room", "Bob")
        w.leave(BEN, "room", "Benjamin")
        await self.keep(w)
        self.assertEqual(await self.replica.load(), [])
        self.assertEqual(await self.primary.load(), [])

    async def test_broadcastKept(self) -> None:
        """
        The roles whose presence the room broadcasts, as the attach told
        the replica, come back from the store with the mirror.
        """
        w = World()
        w.create(OWNER, "room", "Owner")
        w.send(OWNER, f"<iq type='set' id='cfg' to='{ROOM}'>"
                      "<query xmlns='http://jabber.org/protocol/muc#owner'>"
                      "<x xmlns='jabber:x:data' type='submit'>"
                      "<field var='muc#roomconfig_presencebroadcast'>"
                      "<value>moderator</value><value>participant</value></field>"
                      "</x></query></iq>")
        w.join(BOB, "room", "Bob")
        await self.keep(w)
        mirror = w.replica.rooms[ROOM]
        self.assertEqual(mirror.presenceBroadcast,
                         frozenset((Role.MODERATOR, Role.PARTICIPANT)))
        [stored] = await self.replica.load()
        self.assertEqual(state(restore(stored)), state(mirror))

    async def test_restartStartsANewEpoch(self) -> None:
        """
        A primary restarted on the store does not take up the room's old
        epoch (the occupants were in memory): the next attach starts a new
        one, which the store takes with its attachment numbered from 1,
        so nothing of the old numbering is used again.
        """
        w = World()
        talk(w)
        await self.keep(w)
        rooms = await self.primary.load()
        # A node's random is not the same after a restart.
        again = World(seed=7)
        again.create(OWNER, "room", "Owner")
        again.keptA = []
        self.assertEqual(again.primary.load(rooms), [])
        again.join(BOB, "room", "Bob")
        again.say(BOB, "room", "back", "r1")
        self.assertEqual(markedCrossings(again)[0][0], 1)
        await self.keep(again)
        [room] = await self.primary.load()
        self.assertNotEqual(room.epoch, w.primary.epochs["room"])
        self.assertEqual(room.epoch, again.primary.epochs["room"])
        self.assertEqual(room.attachments[0].seq,
                         again.primary.attachment("room", "b.example").seq)


class MemoryStoreTests(StoreTestsMixin, TestCase):
    def makeStore(self) -> IStore:
        return MemoryStore()


class SQLiteStoreTests(StoreTestsMixin, TestCase):
    def makeStore(self) -> IStore:
        return SQLiteStore(self.mktemp())
