# -*- test-case-name: tests.muc.features.test_registration -*-
"""
Tests for L{xmuc.muc.features.registration}: reserved nicknames.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from tests.muc.support import HOST, RoomHarness, child
from xmuc.muc.model import Affiliation
from xmuc.muc.ns import NS_DISCO_INFO, NS_REGISTER

ALICE, BOB = "alice@localhost/a", "bob@localhost/b"
GET = f"<iq type='get' id='r' to='room@{HOST}'><query xmlns='jabber:iq:register'/></iq>"
SET = (f"<iq type='set' id='r' to='room@{HOST}'><query xmlns='jabber:iq:register'>"
       "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>"
       "http://jabber.org/protocol/muc#register</value></field><field var="
       "'muc#register_roomnick'><value>{nick}</value></field></x></query></iq>")


class RegistrationTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.h = RoomHarness()
        self.h.create(ALICE, "room", "Alice")
        self.room = self.h.service.rooms["room"]

    def test_register(self) -> None:
        """
        Registering reserves the nickname and makes a member; the form is
        then answered with the registered nickname.
        """
        self.h.send(BOB, GET)
        [form] = self.h.received(BOB)
        self.assertIn(b"muc#register_roomnick", form.toXml().encode())
        self.h.send(BOB, SET.format(nick="Bobby"))
        self.assertEqual(self.room.affiliation("bob@localhost"), Affiliation.MEMBER)
        self.h.received(BOB)
        self.h.send(BOB, GET)
        [answer] = self.h.received(BOB)
        query = child(answer, NS_REGISTER, "query")
        self.assertIsNotNone(child(query, NS_REGISTER, "registered"))
        self.assertEqual(str(child(query, NS_REGISTER, "username")), "Bobby")

    def test_reserved(self) -> None:
        """
        Nobody else enters with, or changes to, a reserved nickname.
        """
        self.h.send(BOB, SET.format(nick="Bobby"))
        self.assertEqual(self.h.refused("eve@localhost/e", f"<presence to='room@{HOST}/bobby'/>"),
                         "conflict")
        self.h.join("eve@localhost/e", "room", "Eve")
        self.assertEqual(self.h.refused("eve@localhost/e", f"<presence to='room@{HOST}/Bobby'/>"),
                         "conflict")
        self.h.join(BOB, "room", "Bobby")

    def test_taken(self) -> None:
        """
        Registering a nickname someone else reserved is a conflict.
        """
        self.h.send(BOB, SET.format(nick="Bobby"))
        self.assertEqual(self.h.refused("eve@localhost/e", SET.format(nick="BOBBY")), "conflict")

    def test_discoverNick(self) -> None:
        """
        The x-roomuser-item node tells a user their reserved nickname.
        """
        self.h.send(BOB, SET.format(nick="Bobby"))
        self.h.received(BOB)
        self.h.send(BOB, f"<iq type='get' id='d' to='room@{HOST}'><query xmlns="
                         f"'{NS_DISCO_INFO}' node='x-roomuser-item'/></iq>")
        [answer] = self.h.received(BOB)
        identity = child(child(answer, NS_DISCO_INFO, "query"), NS_DISCO_INFO, "identity")
        self.assertEqual(identity["name"], "Bobby")

    def test_unregister(self) -> None:
        """
        Removing the registration frees the nickname and the membership.
        """
        self.h.send(BOB, SET.format(nick="Bobby"))
        self.h.send(BOB, f"<iq type='set' id='r' to='room@{HOST}'><query xmlns="
                         "'jabber:iq:register'><remove/></query></iq>")
        self.assertEqual(self.room.affiliation("bob@localhost"), Affiliation.NONE)
        self.h.join("eve@localhost/e", "room", "Bobby")

    def test_membersOnly(self) -> None:
        """
        In a members-only room outsiders cannot register (not-acceptable).
        """
        self.h.configure(ALICE, "room", membersonly="1")
        self.assertEqual(self.h.refused(BOB, SET.format(nick="Bobby")), "not-acceptable")
