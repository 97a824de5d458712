# -*- test-case-name: tests.muc.features.test_selfping -*-
"""
Tests for L{xmuc.muc.features.selfping} (XEP-0410).
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from tests.muc.support import HOST, RoomHarness

ALICE, BOB = "alice@localhost/a", "bob@localhost/b"
PING = f"<iq type='get' id='p' to='room@{HOST}/{{nick}}'><ping xmlns='urn:xmpp:ping'/></iq>"


class SelfPingTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.h = RoomHarness()
        self.h.create(ALICE, "room", "Alice")
        self.h.join(BOB, "room", "Bob")
        self.h.clear()

    def test_joined(self) -> None:
        """
        The room answers an occupant's ping to its own nickname itself.
        """
        self.h.send(BOB, PING.format(nick="Bob"))
        [answer] = self.h.received(BOB)
        self.assertEqual((answer["type"], answer["from"]), ("result", f"room@{HOST}/Bob"))
        self.assertEqual(self.h.received(ALICE), [])

    def test_notJoined(self) -> None:
        """
        Someone not in the room gets not-acceptable.
        """
        self.assertEqual(self.h.refused("bob@localhost/gone", PING.format(nick="Bob")),
                         "not-acceptable")

    def test_otherOccupant(self) -> None:
        """
        A ping to someone else is forwarded to them.
        """
        self.h.send(BOB, PING.format(nick="Alice"))
        [forwarded] = self.h.received(ALICE)
        self.assertEqual(forwarded["from"], f"room@{HOST}/Bob")
