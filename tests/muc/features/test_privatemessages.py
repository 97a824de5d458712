# -*- test-case-name: tests.muc.features.test_privatemessages -*-
"""
Tests for L{xmuc.muc.features.privatemessages}.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from tests.muc.support import HOST, RoomHarness, child
from xmuc.muc.ns import NS_MUC_USER, NS_OCCUPANT_ID

ALICE, BOB = "alice@localhost/a", "bob@localhost/b"
PM = f"<message type='{{kind}}' id='p' to='room@{HOST}/{{nick}}'><body>psst</body></message>"


class PrivateMessageTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.h = RoomHarness()
        self.h.create(ALICE, "room", "Alice")
        self.h.join(BOB, "room", "Bob")
        self.h.join("bob@localhost/phone", "room", "Bob")
        self.h.clear()

    def test_delivered(self) -> None:
        """
        A private message reaches every client of the addressee from the
        sender's occupant JID, marked with muc#user and an occupant-id.
        """
        self.h.send(ALICE, PM.format(kind="chat", nick="Bob"))
        for who in (BOB, "bob@localhost/phone"):
            [message] = self.h.received(who)
            self.assertEqual((message["from"], message["type"]), (f"room@{HOST}/Alice", "chat"))
            self.assertIsNotNone(child(message, NS_MUC_USER, "x"))
            self.assertIsNotNone(child(message, NS_OCCUPANT_ID, "occupant-id"))

    def test_errors(self) -> None:
        """
        A groupchat-typed private message is bad-request, one to nobody
        item-not-found, one from outside not-acceptable.
        """
        self.assertEqual(self.h.refused(ALICE, PM.format(kind="groupchat", nick="Bob")),
                         "bad-request")
        self.assertEqual(self.h.refused(ALICE, PM.format(kind="chat", nick="Nobody")),
                         "item-not-found")
        self.assertEqual(self.h.refused("eve@localhost/e", PM.format(kind="chat", nick="Bob")),
                         "not-acceptable")

    def test_policy(self) -> None:
        """
        With allowpm set to moderators, a participant may not send one
        (forbidden) but the moderator may.
        """
        self.h.configure(ALICE, "room", allowpm="moderators")
        self.assertEqual(self.h.refused(BOB, PM.format(kind="chat", nick="Alice")), "forbidden")
        self.h.send(ALICE, PM.format(kind="chat", nick="Bob"))
