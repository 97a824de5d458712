# -*- test-case-name: tests.muc.features.test_logging -*-
"""
Tests for L{xmuc.muc.features.logging}: status codes and archive effects.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from tests.muc.support import RoomHarness, codes
from xmuc.muc import effects

ALICE, BOB = "alice@localhost/a", "bob@localhost/b"


class LoggingTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.h = RoomHarness()
        self.h.create(ALICE, "room", "Alice")

    def test_archived(self) -> None:
        """
        A logged room archives each message with a body under its
        stanza-id, with the sender's nickname and bare JID.
        """
        done = self.h.say(ALICE, "room", "keep me")
        [archive] = [e for e in done if isinstance(e, effects.Archive)]
        [broadcast] = [e for e in done if isinstance(e, effects.Broadcast)]
        self.assertIs(archive.stanza, broadcast.stanza)
        self.assertEqual((archive.room, archive.nick, archive.occupant),
                         ("room", "Alice", "alice@localhost"))

    def test_notLogged(self) -> None:
        """
        A temporary room without logging archives nothing; entrants get no
        170, and occupants learn of the change from 171 then 170.
        """
        self.h.join(BOB, "room", "Bob")
        self.h.clear()
        self.h.configure(ALICE, "room", enablelogging="0")
        self.assertEqual(codes(self.h.received(BOB)[0]), {104, 171})
        done = self.h.say(ALICE, "room", "forget me")
        self.assertFalse(any(isinstance(e, effects.Archive) for e in done))
        self.h.leave(BOB, "room", "Bob")
        self.h.join(BOB, "room", "Bob")
        self.assertNotIn(170, codes(self.h.received(BOB)[-2]))
        self.h.configure(ALICE, "room", enablelogging="1")
        self.assertEqual(codes(self.h.received(BOB)[-1]), {104, 170})

    def test_persistentArchives(self) -> None:
        """
        A persistent room archives even without logging: its history must
        survive a restart.
        """
        self.h.configure(ALICE, "room", enablelogging="0", persistentroom="1")
        done = self.h.say(ALICE, "room", "keep me")
        self.assertTrue(any(isinstance(e, effects.Archive) for e in done))
