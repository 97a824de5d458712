# -*- test-case-name: tests.muc.features.test_ghosts -*-
"""
Tests for L{xmuc.muc.features.ghosts}: delivery errors remove occupants,
but an unreachable server gets a grace period.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from tests.muc.support import HOST, RoomHarness, codes

ALICE, BOB = "alice@localhost/a", "bob@localhost/b"
REMOTE1, REMOTE2 = "r1@remote.example/x", "r2@remote.example/y"


def bounce(condition: str, name: str = "message") -> str:
    return (f"<{name} type='error' to='room@{HOST}/Alice'><error type='cancel'>"
            f"<{condition} xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></{name}>")


class GhostTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.h = RoomHarness()
        self.h.create(ALICE, "room", "Alice")
        for who, nick in ((BOB, "Bob"), (REMOTE1, "R1"), (REMOTE2, "R2")):
            self.h.join(who, "room", nick)
        self.h.clear()
        self.room = self.h.service.rooms["room"]

    def test_deliveryError(self) -> None:
        """
        A message error from an occupant's client removes it at once with
        status 333.
        """
        self.h.send(BOB, bounce("service-unavailable"))
        [gone] = self.h.received(ALICE)
        self.assertEqual(gone["type"], "unavailable")
        self.assertEqual(codes(gone), {333})
        self.assertIsNone(self.room.occupantByNick("Bob"))

    def test_presenceError(self) -> None:
        """
        So does a presence error.
        """
        self.h.send(BOB, bounce("recipient-unavailable", "presence"))
        self.assertIsNone(self.room.occupantByNick("Bob"))

    def test_unreachableGrace(self) -> None:
        """
        remote-server-not-found keeps every occupant of that server during
        the grace period; if the link stays down they go with 333.
        """
        self.h.send(REMOTE1, bounce("remote-server-not-found"))
        self.h.send(REMOTE2, bounce("remote-server-timeout"))
        self.assertEqual(self.h.received(ALICE), [])
        self.h.advance(self.h.service.settings.ghostGrace - 1)
        self.assertIsNotNone(self.room.occupantByNick("R1"))
        self.h.advance(2)
        gone = self.h.received(ALICE)
        self.assertEqual([codes(p) for p in gone], [{333}, {333}])
        self.assertIsNone(self.room.occupantByNick("R2"))

    def test_linkComesBack(self) -> None:
        """
        A stanza from the server during the grace period shows the link
        works: nobody is removed.
        """
        self.h.send(REMOTE1, bounce("remote-server-not-found"))
        self.h.send(REMOTE2, bounce("remote-server-not-found"))
        self.h.say(REMOTE2, "room", "still here")
        self.assertEqual(self.h.timers, {})
        self.h.advance(self.h.service.settings.ghostGrace * 2)
        self.assertIsNotNone(self.room.occupantByNick("R1"))

    def test_strangerError(self) -> None:
        """
        An error from someone not in the room changes nothing.
        """
        self.assertEqual(self.h.send("dave@localhost/d", bounce("service-unavailable")), [])
