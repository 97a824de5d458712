# -*- test-case-name: tests.muc.features.test_subject -*-
"""
Tests for L{xmuc.muc.features.subject}.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from tests.muc.support import HOST, RoomHarness, child

ALICE, BOB = "alice@localhost/a", "bob@localhost/b"
SUBJECT = f"<message type='groupchat' id='s' to='room@{HOST}'><subject>{{text}}</subject></message>"


class SubjectTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.h = RoomHarness()
        self.h.create(ALICE, "room", "Alice")
        self.h.join(BOB, "room", "Bob")
        self.h.clear()

    def test_change(self) -> None:
        """
        A moderator's subject goes to all from its occupant JID, without a
        stanza-id, and entrants get it last.
        """
        self.h.send(ALICE, SUBJECT.format(text="Tea"))
        [message] = self.h.received(BOB)
        self.assertEqual(message["from"], f"room@{HOST}/Alice")
        self.assertEqual(str(child(message, message.uri, "subject")), "Tea")
        self.assertIsNone(child(message, "urn:xmpp:sid:0", "stanza-id"))
        self.h.join("carol@localhost/c", "room", "Carol")
        last = self.h.received("carol@localhost/c")[-1]
        self.assertEqual(str(child(last, last.uri, "subject")), "Tea")

    def test_participantForbidden(self) -> None:
        """
        A participant may not change the subject unless the room allows it.
        """
        self.assertEqual(self.h.refused(BOB, SUBJECT.format(text="Coffee")), "forbidden")
        self.h.configure(ALICE, "room", changesubject="1")
        self.h.send(BOB, SUBJECT.format(text="Coffee"))
        self.assertEqual(self.h.service.rooms["room"].subject.text, "Coffee")

    def test_withBody(self) -> None:
        """
        A message with a subject and a body is a plain message.
        """
        self.h.send(BOB, f"<message type='groupchat' to='room@{HOST}'><subject>x</subject>"
                         "<body>y</body></message>")
        self.assertEqual(self.h.service.rooms["room"].subject.text, "")
