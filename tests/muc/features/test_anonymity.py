# -*- test-case-name: tests.muc.features.test_anonymity -*-
"""
Tests for L{xmuc.muc.features.anonymity}.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from tests.muc.support import RoomHarness, codes, item

ALICE, BOB, CAROL = "alice@localhost/a", "bob@localhost/b", "carol@localhost/c"


class AnonymityTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.h = RoomHarness()
        self.h.create(ALICE, "room", "Alice")

    def test_nonAnonymous(self) -> None:
        """
        In a non-anonymous room everyone sees real JIDs, and entrants are
        told so with status 100.
        """
        self.h.configure(ALICE, "room", whois="anyone")
        self.h.join(BOB, "room", "Bob")
        self.h.join(CAROL, "room", "Carol")
        got = self.h.received(CAROL)
        self.assertEqual(item(got[1])["jid"], BOB)
        self.assertIn(100, codes(got[2]))
        self.assertEqual(item(self.h.received(BOB)[-1])["jid"], CAROL)

    def test_semiAnonymousNoCode(self) -> None:
        """
        Semi-anonymous rooms do not send 100.
        """
        self.h.join(BOB, "room", "Bob")
        self.assertNotIn(100, codes(self.h.received(BOB)[1]))

    def test_change(self) -> None:
        """
        Becoming semi-anonymous again is announced with 173.
        """
        self.h.configure(ALICE, "room", whois="anyone")
        self.h.join(BOB, "room", "Bob")
        self.h.clear()
        self.h.configure(ALICE, "room", whois="moderators")
        [notice] = self.h.received(BOB)
        self.assertEqual(codes(notice), {104, 173})
