# -*- test-case-name: tests.dmuc.test_persist -*-
"""
Tests for the persistence effects of L{xmuc.dmuc.primary} and
L{xmuc.dmuc.replica} (L{xmuc.dmuc.persist}, L{xmuc.dmuc.mirror}): what
each engine asks storage to keep, over the fake link of
L{tests.dmuc.support}, and what a restored engine does with it.
"""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase
from twisted.words.protocols.jabber.jid import JID

from tests.dmuc.support import HOST, REPLICA, World, overTheWire
from tests.dmuc.test_engines import BOB, BEN, OWNER, ROOM, script
from xmuc.dmuc import persist
from xmuc.dmuc.marker import Marker, marked, unmarked
from xmuc.dmuc.ns import NS_DMUC
from xmuc.muc.effects import Send
from xmuc.muc.stanzas import stanza


def markedCrossings(w: World) -> list[tuple[int, str]]:
    """
    The C{(seq, stanza)} of every marked stanza that crossed to the replica.
    """
    out = []
    for element in w.crossings:
        if element.getAttribute("to") == REPLICA.full():
            _, marker = unmarked(overTheWire(element))
            if marker is not None:
                out.append((marker.seq, element.toXml()))
    return out


def logged(w: World) -> list[tuple[int, str]]:
    return [(seq, element.toXml()) for e in w.keptA if isinstance(e, persist.LogBroadcasts)
            for replica, seq, element in e.entries if replica == REPLICA.full()]


def ofType(kept: list[Any], kind: type) -> list[Any]:
    return [e for e in kept if isinstance(e, kind)]


class PrimaryPersistenceTests(SynchronousTestCase):
    """
    What the primary asks to keep.
    """

    def test_logHoldsWhatWasSent(self) -> None:
        """
        Over a whole session (joins, talk, nick changes, kicks, bans,
        leaves, destruction), every marked stanza that went to the
        replica is logged once, byte for byte, in the order sent, but for
        the destruction's own, whose log goes with the room; the room's
        epoch starts once and is dropped when the room ends.
        """
        w = World()
        script(w, nonAnonymous=False)
        sent, kept = markedCrossings(w), logged(w)
        self.assertGreater(len(kept), 30)
        self.assertEqual(kept, sent[:len(kept)])
        self.assertTrue(all("<destroy>" in xml for _, xml in sent[len(kept):]))
        [start] = ofType(w.keptA, persist.StartEpoch)
        self.assertEqual(ofType(w.keptA, persist.DropEpoch), [persist.DropEpoch("room")])
        self.assertNotIn("room", w.primary.epochs)

    def test_attachAndDetach(self) -> None:
        """
        The first entrant of B starts the room's epoch and records the
        attachment before anything is logged for it; its leaving drops the
        attachment and, with no replica left, the epoch: the next attach
        starts a new one, so a numbering never starts over in an epoch.
        """
        w = World()
        w.create(OWNER, "room", "Owner")
        w.join(BOB, "room", "Bob")
        kinds = [type(e) for e in w.keptA]
        self.assertEqual(kinds[:3], [persist.StartEpoch, persist.AttachReplica,
                                     persist.LogBroadcasts])
        epoch = w.keptA[0].epoch
        self.assertEqual(w.primary.rooms["room"].epoch, epoch)
        self.assertEqual(w.keptA[1], persist.AttachReplica("room", REPLICA.full(), w.now, 0))
        w.leave(BOB, "room", "Bob")
        self.assertEqual(w.keptA[-2:], [persist.DetachReplica("room", REPLICA.full()),
                                        persist.DropEpoch("room")])
        w.join(BEN, "room", "Ben")
        [_, again] = ofType(w.keptA, persist.StartEpoch)
        self.assertNotEqual(again.epoch, epoch)
        attaches = [c.toXml() for c in w.crossings if "<attach" in c.toXml()]
        self.assertEqual([f"epoch='{e}'" in xml for e, xml in zip((epoch, again.epoch),
                                                                  attaches)], [True, True])

    def test_secondReplicaGoesOn(self) -> None:
        """
        While another replica keeps the epoch alive, a replica detached
        and attached again goes on from the C{seq} it had reached, after
        a detach in case the first one was lost.
        """
        w = World()
        w.primary.replicaFound("c.example", JID("dmuc@c.example"))
        w.create(OWNER, "room", "Owner")
        w.send("cal@c.example/c", f"<presence to='{ROOM}/Cal'/>")
        w.join(BOB, "room", "Bob")
        w.leave(BOB, "room", "Bob")
        seq = w.primary.restored["room"]["b.example"].seq
        self.assertGreater(seq, 3)
        w.crossings = []
        w.join(BOB, "room", "Bob")
        iqs = [c for c in w.crossings if c.name == "iq"]
        self.assertIn("<detach", iqs[0].toXml())
        self.assertEqual(markedCrossings(w)[0][0], seq + 1)
        self.assertIn(persist.AttachReplica("room", REPLICA.full(), w.now, seq), w.keptA)
        self.assertEqual(ofType(w.keptA, persist.DropEpoch), [])

    def test_restartIsANewEpoch(self) -> None:
        """
        After a restart the room starts a new epoch (its occupants were in
        memory: a replica's copy of the old one must not be taken for
        current), and a replica attached before is first detached (its
        copy may hold sessions the room lost), then attached again in the
        new epoch, numbered from 1; B's user is served as ever.
        """
        w = World()
        w.create(OWNER, "room", "Owner")
        self.assertEqual(w.primary.load([persist.RestoredRoom("room", "e1", (
            persist.RestoredAttachment(REPLICA.full(), 41),))]), [])
        self.assertEqual(w.primary.epochs, {})
        w.say(OWNER, "room", "before", "h1")
        w.join(BOB, "room", "Bob")
        iqs = [c for c in w.crossings if c.name == "iq"]
        self.assertIn("detach", iqs[0].toXml())
        [started] = ofType(w.keptA, persist.StartEpoch)
        self.assertNotEqual(started.epoch, "e1")
        self.assertIn(f"epoch='{started.epoch}'", iqs[1].toXml())
        self.assertEqual(markedCrossings(w)[0][0], 1)
        self.assertIn(persist.AttachReplica("room", REPLICA.full(), w.now, 0), w.keptA)
        got = w.received(BOB)
        self.assertTrue(any(p.name == "presence" and "code='110'" in p.toXml() for p in got))
        self.assertEqual([str(m.body) for m in got if m.name == "message" and m.body],
                         ["before"])
        self.assertEqual(w.replica.rooms[ROOM].lastSeq, w.primary.attachment(
            "room", "b.example").seq)

    def test_loadDropsEndedRooms(self) -> None:
        """
        The stored state of a room that did not survive the restart (a
        temporary room) is dropped at load.
        """
        w = World()
        self.assertEqual(w.primary.load([persist.RestoredRoom("gone", "e1")]),
                         [persist.DropEpoch("gone")])
        self.assertEqual(w.primary.epochs, {})


class ReplicaPersistenceTests(SynchronousTestCase):
    """
    What the replica asks to keep, and what it does with it at start.
    """

    def test_oneSavePerStep(self) -> None:
        """
        Each step the replica applies (the attach, every marked stanza)
        is saved once, with the C{seq} it reached; history entries are
        saved as they come, the roster whole when it changed, local
        members as they join and leave.
        """
        w = World()
        w.create(OWNER, "room", "Owner")
        w.say(OWNER, "room", "before", "h1")
        w.join(BOB, "room", "Bob")
        w.say(BOB, "room", "hi", "b1")
        saves = ofType(w.keptB, persist.SaveMirror)
        seqs = [s.seq for s in saves]
        self.assertEqual(seqs, [0] + [seq for seq, _ in markedCrossings(w)])
        self.assertTrue(saves[0].newHistory)
        self.assertEqual(saves[0].roster, ())
        self.assertEqual([str(e.stanza.body) for s in saves for e in s.history],
                         ["before", "hi"])
        self.assertEqual([j for s in saves for j in s.joined], [("Bob", BOB)])
        self.assertEqual(saves[-1].roster, None)  # a message
        rosters = [s.roster for s in saves if s.roster]
        self.assertEqual([o.nick for o in rosters[-1]], ["Owner", "Bob"])
        w.leave(BOB, "room", "Bob")
        self.assertEqual(w.keptB[-1], persist.DropMirror(ROOM))

    def restored(self) -> persist.RestoredMirror:
        w = World()
        w.create(OWNER, "room", "Owner")
        w.join(BOB, "room", "Bob")
        w.say(OWNER, "room", "old", "h1")
        mirror = w.replica.rooms[ROOM]
        return persist.RestoredMirror(
            ROOM, HOST, mirror.epoch, mirror.lastSeq, False, 10,
            roster=tuple(w.replica.rooms[ROOM].roster[n].view().rendered[True]
                         for n in mirror.roster),
            local=(("Bob", BOB),), history=tuple(mirror.history))

    def test_restoredServesNothing(self) -> None:
        """
        A mirror restored at start is kept (roster, members, history,
        C{seq}) but never served: the room's stanzas for it are refused
        as for a room not attached, and nobody gets anything.
        """
        stored = self.restored()
        w = World()
        w.replica.restore([stored])
        self.assertEqual(w.replica.rooms, {})
        kept = w.replica.restored[ROOM]
        self.assertEqual((list(kept.roster), kept.lastSeq, kept.local),
                         (["Owner", "Bob"], stored.seq, {"Bob": [JID(BOB)]}))
        self.assertEqual([str(e.stanza.body) for e in kept.history], ["old"])
        message = stanza("message", f"{ROOM}/Owner", REPLICA.full(), "groupchat")
        message.addElement("body", content="stale?")
        done = w.replica.receive(overTheWire(marked(message, Marker(stored.seq + 1))), w.now)
        [answer] = done
        self.assertIsInstance(answer, Send)
        self.assertIn("item-not-found", answer.stanza.toXml())

    def test_attachReplacesRestored(self) -> None:
        """
        An attach of a restored room makes a fresh mirror: what was stored
        is replaced, its stale local members removed.
        """
        stored = self.restored()
        w = World()
        w.replica.restore([stored])
        w.create(OWNER, "room", "Owner")
        w.join(BEN, "room", "Ben")
        self.assertNotIn(ROOM, w.replica.restored)
        first = ofType(w.keptB, persist.SaveMirror)[0]
        self.assertEqual((first.left, first.newHistory, first.roster),
                         ((("Bob", BOB),), True, ()))
        self.assertEqual(list(w.replica.rooms[ROOM].local), ["Ben"])

    def test_detachOfRestored(self) -> None:
        """
        A detach of a restored room forgets it.
        """
        w = World()
        w.replica.restore([self.restored()])
        iq = stanza("iq", ROOM, REPLICA.full(), "set", "d1")
        iq.addElement((NS_DMUC, "detach"))
        done = w.replica.receive(overTheWire(iq), w.now)
        self.assertEqual(done[1:], [persist.DropMirror(ROOM)])
        self.assertEqual(w.replica.restored, {})
