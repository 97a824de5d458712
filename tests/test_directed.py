# -*- test-case-name: tests.test_directed -*-
"""
Tests for L{xmuc.directed}: directed-presence records follow what the
addressed entity answers (a refused join, a nick change, a kick), for a
room on the node and for a room on another node of the FakeNetwork.
"""

from __future__ import annotations

from twisted.trial import unittest
from twisted.words.protocols.jabber.jid import JID

from tests.support.fakenet import FakeNetwork
from tests.support.harness import Harness, parseStanza
from xmuc.directed import DirectedPresenceRecords

MUC = "http://jabber.org/protocol/muc"
JOIN = "<presence to='{room}/{nick}'><x xmlns='" + MUC + "'/></presence>"
INSTANT = ("<iq type='set' id='c' to='{room}'><query xmlns='" + MUC + "#owner'>"
           "<x xmlns='jabber:x:data' type='submit'/></query></iq>")
KICK = ("<iq type='set' id='k' to='{room}'><query xmlns='" + MUC + "#admin'>"
        "<item nick='{nick}' role='none'/></query></iq>")


class RecordTests(unittest.TestCase):
    """
    The records alone.
    """

    def setUp(self) -> None:
        self.records = DirectedPresenceRecords()
        self.changes: list[tuple[str, str, bool]] = []
        self.records.watchDirectedPresence(lambda *change: self.changes.append(change))

    def deliver(self, xml: str, *to: str) -> None:
        self.records.presenceDelivered(parseStanza(xml), [JID(t) for t in to])

    def test_errorEnds(self) -> None:
        """
        An error presence from the target ends the record, for the
        recipient only; watchers hear of it.
        """
        self.records.recordDirectedPresence("u@h/1", "r@m/n")
        self.records.recordDirectedPresence("u@h/2", "r@m/n")
        self.deliver("<presence type='error' from='R@M/n'/>", "u@h/1")
        self.assertEqual(self.records.directedPresence("u@h/1"), frozenset())
        self.assertTrue(self.records.hasDirectedPresence("u@h/2", "r@m/n"))
        self.assertEqual(self.changes[-1], ("u@h/1", "r@m/n", False))

    def test_othersIgnored(self) -> None:
        """
        Available presence, or presence from an entity nobody sent
        presence to, changes nothing; so does a 303 from an entity the
        recipient has no record for (nobody can plant a record).
        """
        self.records.recordDirectedPresence("u@h/1", "r@m/n")
        self.deliver("<presence from='r@m/n'/>", "u@h/1")
        self.deliver("<presence type='unavailable' from='r@m/other'/>", "u@h/1")
        self.deliver("<presence type='unavailable' from='r@m/n'><x xmlns='" + MUC +
                     "#user'><item nick='x'/><status code='303'/></x></presence>", "u@h/2")
        self.deliver("<presence type='error'/>", "u@h/1")
        self.assertEqual(self.records.directedPresence("u@h/1"), frozenset({"r@m/n"}))
        self.assertEqual(self.records.directedPresence("u@h/2"), frozenset())

    def test_nickChangeMoves(self) -> None:
        """
        An unavailable presence with 303 moves the record to the new
        nickname, even one the user did not send presence to.
        """
        self.records.recordDirectedPresence("u@h/1", "r@m/old")
        self.deliver("<presence type='unavailable' from='r@m/old'><x xmlns='" + MUC +
                     "#user'><item nick='New'/><status code='303'/><status code='110'/>"
                     "</x></presence>", "u@h/1")
        self.assertEqual(self.records.directedPresence("u@h/1"), frozenset({"r@m/New"}))

    def test_leaveAnswerKeepsNewRecord(self) -> None:
        """
        A leave, then at once a join again: the room's answer to the leave
        (an unavailable self-presence, 110 alone) ends no record, so the
        new join's stays; the next such presence ends it as usual, and a
        kick (307) always does.
        """
        leave = ("<presence type='unavailable' from='r@m/n'><x xmlns='" + MUC +
                 "#user'><status code='110'/></x></presence>")
        self.records.recordDirectedPresence("u@h/1", "r@m/n")
        self.records.withdrawDirectedPresence("u@h/1", "r@m/n")
        self.assertTrue(self.records.hasDirectedPresenceAt("u@h/1", "r@m"))
        self.records.recordDirectedPresence("u@h/1", "r@m/n")
        self.deliver(leave, "u@h/1")
        self.assertEqual(self.records.directedPresence("u@h/1"), frozenset({"r@m/n"}))
        self.deliver(leave, "u@h/1")
        self.assertEqual(self.records.directedPresence("u@h/1"), frozenset())
        self.records.recordDirectedPresence("u@h/1", "r@m/n")
        self.records.withdrawDirectedPresence("u@h/1", "r@m/n")
        self.records.recordDirectedPresence("u@h/1", "r@m/n")
        self.deliver("<presence type='unavailable' from='r@m/n'><x xmlns='" + MUC +
                     "#user'><status code='110'/><status code='307'/></x></presence>", "u@h/1")
        self.assertEqual(self.records.directedPresence("u@h/1"), frozenset())

    def test_withdrawnUntilAnswered(self) -> None:
        """
        After a leave the user is still at the room (hasDirectedPresenceAt)
        until the room answers it; a leave where it had no record, or a
        session going unavailable, leaves nothing pending.
        """
        self.records.withdrawDirectedPresence("u@h/1", "r@m/n")
        self.assertFalse(self.records.hasDirectedPresenceAt("u@h/1", "r@m"))
        self.records.recordDirectedPresence("u@h/1", "r@m/n")
        self.records.withdrawDirectedPresence("u@h/1", "r@m/n")
        self.assertTrue(self.records.hasDirectedPresenceAt("u@h/1", "r@m"))
        self.assertFalse(self.records.hasDirectedPresence("u@h/1", "r@m/n"))
        self.records.clearDirectedPresence("u@h/1")
        self.assertFalse(self.records.hasDirectedPresenceAt("u@h/1", "r@m"))

    def test_presentAt(self) -> None:
        """
        hasDirectedPresenceAt: presence at the bare JID or any full JID
        under it, and nothing else.
        """
        self.records.recordDirectedPresence("u@h/1", "r@m/n")
        self.assertTrue(self.records.hasDirectedPresenceAt("u@h/1", "r@m"))
        self.assertFalse(self.records.hasDirectedPresenceAt("u@h/1", "r@m2"))
        self.assertFalse(self.records.hasDirectedPresenceAt("u@h/1", "r"))
        self.records.recordDirectedPresence("u@h/1", "bob@h")
        self.assertTrue(self.records.hasDirectedPresenceAt("u@h/1", "bob@h"))


class LocalRoomTests(unittest.TestCase):
    """
    A room of the node's own MUC service, whose presence reaches the
    sessions straight from the room's fan-out.
    """

    room = "tea@muc.localhost"

    def setUp(self) -> None:
        self.h = Harness()
        self.router = self.h.node.router
        self.alice = self.h.login("alice")
        self.bob = self.h.login("bob")

    def records(self, user: str) -> frozenset[str]:
        return self.router.directedPresence(f"{user}@localhost/res")

    def open(self) -> None:
        self.alice.send(JOIN.format(room=self.room, nick="Alice"))
        self.alice.send(INSTANT.format(room=self.room))
        self.alice.received()

    def test_refusedJoin(self) -> None:
        """
        A join the room refuses (a locked room) leaves no record.
        """
        self.alice.send(JOIN.format(room=self.room, nick="Alice"))
        self.bob.send(JOIN.format(room=self.room, nick="Bob"))
        [error] = self.bob.received()
        self.assertEqual(error["type"], "error")
        self.assertEqual(self.records("bob"), frozenset())
        self.assertEqual(self.records("alice"), frozenset({f"{self.room}/Alice"}))

    def test_nickChange(self) -> None:
        """
        A nick change the room confirms (303) leaves one record, for the
        new nickname; leaving then cleans everything.
        """
        self.open()
        self.alice.send(f"<presence to='{self.room}/Alicia'/>")
        self.assertEqual(self.records("alice"), frozenset({f"{self.room}/Alicia"}))
        self.assertTrue(self.router.hasDirectedPresenceAt("alice@localhost/res", self.room))
        self.alice.send(f"<presence type='unavailable' to='{self.room}/Alicia'/>")
        self.assertEqual(self.records("alice"), frozenset())

    def test_refusedNickChange(self) -> None:
        """
        A nick change the room refuses (conflict) keeps the record for the
        nickname the user still has, and only that one.
        """
        self.open()
        self.bob.send(JOIN.format(room=self.room, nick="Bob"))
        self.bob.send(f"<presence to='{self.room}/Alice'/>")
        self.assertEqual(self.records("bob"), frozenset({f"{self.room}/Bob"}))

    def test_kicked(self) -> None:
        """
        An occupant kicked from the room has no record left there.
        """
        self.open()
        self.bob.send(JOIN.format(room=self.room, nick="Bob"))
        self.bob.received()
        self.alice.send(KICK.format(room=self.room, nick="Bob"))
        [kicked] = self.bob.received()
        self.assertEqual(kicked["type"], "unavailable")
        self.assertEqual(self.records("bob"), frozenset())


class RemoteRoomTests(unittest.TestCase):
    """
    A room on a.test, a user of b.test: the answers come over s2s.
    """

    room = "room@muc.a.test"

    def setUp(self) -> None:
        self.net = FakeNetwork(("a.test", "b.test"), seed=5)
        self.alice = self.net.login("alice@a.test")
        self.bob = self.net.login("bob@b.test")
        self.router = self.net.node("b.test").node.router

    def records(self) -> frozenset[str]:
        return self.router.directedPresence("bob@b.test/res")

    def open(self) -> None:
        self.alice.send(JOIN.format(room=self.room, nick="alice"))
        self.alice.send(INSTANT.format(room=self.room))
        self.net.flush()

    def test_refusedJoin(self) -> None:
        """
        A join the remote room refuses (locked) leaves no record on the
        user's node.
        """
        self.alice.send(JOIN.format(room=self.room, nick="alice"))
        self.net.flush()
        self.bob.send(JOIN.format(room=self.room, nick="bob"))
        self.assertEqual(self.records(), frozenset({f"{self.room}/bob"}))
        self.net.flush()
        [error] = self.bob.received()
        self.assertEqual(error["type"], "error")
        self.assertEqual(self.records(), frozenset())

    def test_unreachable(self) -> None:
        """
        A join to a room on a server that does not exist bounces, and
        leaves no record.
        """
        self.bob.send(JOIN.format(room="room@muc.nowhere.test", nick="bob"))
        self.net.flush()
        self.assertEqual(self.records(), frozenset())

    def test_nickChangeAndLeave(self) -> None:
        """
        A nick change confirmed over s2s moves the record; leaving then
        cleans everything.
        """
        self.open()
        self.bob.send(JOIN.format(room=self.room, nick="bob"))
        self.net.flush()
        self.bob.send(f"<presence to='{self.room}/robert'/>")
        self.net.flush()
        self.assertEqual(self.records(), frozenset({f"{self.room}/robert"}))
        self.bob.send(f"<presence type='unavailable' to='{self.room}/robert'/>")
        self.net.flush()
        self.assertEqual(self.records(), frozenset())
