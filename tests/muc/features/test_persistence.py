# -*- test-case-name: tests.muc.features.test_persistence -*-
"""
Tests for L{xmuc.muc.features.persistence}: what a persistent room asks
storage to keep, and a room brought back from its record.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from tests.muc.support import RoomHarness, child
from xmuc.muc import effects
from xmuc.muc.model import Affiliation

ALICE, BOB = "alice@localhost/a", "bob@localhost/b"


class PersistenceTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.h = RoomHarness()
        self.h.create(ALICE, "room", "Alice")
        self.h.configure(ALICE, "room", persistentroom="1", roomname="Tea")

    def saved(self):
        return [e.record for e in self.h.effects if isinstance(e, effects.SaveRoom)]

    def test_stays(self) -> None:
        """
        A persistent room stays when its last occupant leaves.
        """
        self.h.leave(ALICE, "room", "Alice")
        self.assertIn("room", self.h.service.rooms)

    def test_savedChanges(self) -> None:
        """
        Configuration, affiliation and subject changes are saved.
        """
        self.h.clear()
        self.h.admin(ALICE, "room", "<item jid='bob@localhost' affiliation='member'/>")
        self.h.send(ALICE, "<message type='groupchat' to='room@muc.localhost'>"
                           "<subject>Darjeeling</subject></message>")
        record = self.saved()[-1]
        self.assertEqual(record.config.name, "Tea")
        self.assertEqual(record.affiliations["bob@localhost"].affiliation, Affiliation.MEMBER)
        self.assertEqual(record.subject.text, "Darjeeling")

    def test_restored(self) -> None:
        """
        A service loading the record (and archived history) has the same
        room: configuration, owner, subject, history, occupant ids.
        """
        self.h.send(ALICE, "<message type='groupchat' to='room@muc.localhost'>"
                           "<subject>Darjeeling</subject></message>")
        self.h.say(ALICE, "room", "remember me")
        record = self.saved()[-1]
        old = self.h.service.rooms["room"]
        fresh = RoomHarness()
        fresh.service.load(record, list(old.history))
        fresh.join(BOB, "room", "Bob")
        got = fresh.received(BOB)
        self.assertEqual(str(child(got[-2], got[-2].uri, "body")), "remember me")
        self.assertEqual(str(child(got[-1], got[-1].uri, "subject")), "Darjeeling")
        room = fresh.service.rooms["room"]
        self.assertEqual(room.affiliation("alice@localhost"), Affiliation.OWNER)
        self.assertEqual(room.occupantIdOf("bob@localhost"), old.occupantIdOf("bob@localhost"))

    def test_madeTemporary(self) -> None:
        """
        A room made temporary again is deleted from storage.
        """
        self.h.configure(ALICE, "room", persistentroom="0")
        self.assertIn(effects.DeleteRoom("room"), self.h.effects)

    def test_destroyedForgotten(self) -> None:
        """
        A destroyed persistent room owns its stored record and has it
        deleted with its archive.
        """
        self.h.send(ALICE, "<iq type='set' id='d' to='room@muc.localhost'><query xmlns="
                           "'http://jabber.org/protocol/muc#owner'><destroy/></query></iq>")
        self.assertIn(effects.DeleteRoom("room"), self.h.effects)
        self.assertNotIn(effects.DeleteArchive("room"), self.h.effects)
