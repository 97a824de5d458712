# -*- test-case-name: tests.muc.test_messages -*-
"""
Tests for L{xmuc.muc.messages}: messages to all occupants, their ids, and
IQs forwarded to and from occupants.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from tests.muc.support import HOST, RoomHarness, child
from xmuc.muc import effects
from xmuc.muc.ns import NS_OCCUPANT_ID, NS_SID

ALICE, BOB, CAROL = "alice@localhost/a", "bob@localhost/b", "carol@remote.example/c"


class GroupchatTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.h = RoomHarness()
        self.h.create(ALICE, "room", "Alice")
        self.h.join(BOB, "room", "Bob")
        self.h.join(CAROL, "room", "Carol")
        self.h.clear()

    def test_reflected(self) -> None:
        """
        A message goes to every occupant, the sender too, from the
        sender's occupant JID with its id, a stanza-id by the room and the
        sender's occupant-id.
        """
        done = self.h.say(BOB, "room", "hello", id="abc")
        [broadcast] = [e for e in done if isinstance(e, effects.Broadcast)]
        self.assertEqual({j.full() for j in broadcast.recipients}, {ALICE, BOB, CAROL})
        for who in (ALICE, BOB, CAROL):
            [message] = self.h.received(who)
            self.assertEqual(message["from"], f"room@{HOST}/Bob")
            self.assertEqual(message["id"], "abc")
            self.assertEqual(message["type"], "groupchat")
            self.assertEqual(child(message, NS_SID, "stanza-id")["by"], f"room@{HOST}")
            self.assertIsNotNone(child(message, NS_OCCUPANT_ID, "occupant-id"))

    def test_oneStanzaForAll(self) -> None:
        """
        The broadcast is one stanza without C{to}: the glue serialises it
        once.
        """
        done = self.h.say(BOB, "room", "hello")
        [broadcast] = [e for e in done if isinstance(e, effects.Broadcast)]
        self.assertFalse(broadcast.stanza.hasAttribute("to"))

    def test_notOccupant(self) -> None:
        """
        A message from someone not in the room is C{not-acceptable}.
        """
        self.assertEqual(self.h.refused("dave@localhost/d", "<message type='groupchat' "
                                        "to='room@muc.localhost'><body>x</body></message>"),
                         "not-acceptable")

    def test_forgedStatus(self) -> None:
        """
        Status codes or items in a client's muc#user element are
        C{bad-request}; forged stanza-ids and occupant-ids are removed.
        """
        forged = ("<message type='groupchat' to='room@muc.localhost'><body>x</body>"
                  "<x xmlns='http://jabber.org/protocol/muc#user'><status code='110'/></x>"
                  "</message>")
        self.assertEqual(self.h.refused(BOB, forged), "bad-request")
        self.h.send(BOB, "<message type='groupchat' to='room@muc.localhost'><body>x</body>"
                         "<stanza-id xmlns='urn:xmpp:sid:0' id='fake' by='room@muc.localhost'/>"
                         "<occupant-id xmlns='urn:xmpp:occupant-id:0' id='fake'/></message>")
        [message] = self.h.received(ALICE)
        self.assertEqual(len(list(message.elements(NS_SID, "stanza-id"))), 1)
        self.assertNotEqual(child(message, NS_SID, "stanza-id")["id"], "fake")
        self.assertNotEqual(child(message, NS_OCCUPANT_ID, "occupant-id")["id"], "fake")

    def test_chatStateNotArchived(self) -> None:
        """
        A message without a body (a chat state) is reflected without a
        stanza-id and stays out of the history.
        """
        self.h.send(BOB, "<message type='groupchat' to='room@muc.localhost'><active xmlns="
                         "'http://jabber.org/protocol/chatstates'/></message>")
        [message] = self.h.received(ALICE)
        self.assertIsNone(child(message, NS_SID, "stanza-id"))
        self.assertEqual(len(self.h.service.rooms["room"].history), 0)

    def test_wrongType(self) -> None:
        """
        A chat message to the room itself is C{bad-request}.
        """
        self.assertEqual(self.h.refused(BOB, "<message type='chat' to='room@muc.localhost'>"
                                             "<body>x</body></message>"), "bad-request")


class IQForwardingTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.h = RoomHarness()
        self.h.create(ALICE, "room", "Alice")
        self.h.join(BOB, "room", "Bob")
        self.h.clear()

    def test_roundTrip(self) -> None:
        """
        An IQ to an occupant goes to its client from the asker's occupant
        JID under the room's id; the answer comes back with the asker's id
        from the answerer's occupant JID.
        """
        self.h.send(ALICE, f"<iq type='get' id='v1' to='room@{HOST}/Bob'>"
                           "<query xmlns='jabber:iq:version'/></iq>")
        [forwarded] = self.h.received(BOB)
        self.assertEqual(forwarded["from"], f"room@{HOST}/Alice")
        self.assertNotEqual(forwarded["id"], "v1")
        self.h.send(BOB, f"<iq type='result' id='{forwarded['id']}' to='room@{HOST}/Alice'>"
                         "<query xmlns='jabber:iq:version'><name>x</name></query></iq>")
        [answer] = self.h.received(ALICE)
        self.assertEqual((answer["id"], answer["from"], answer["type"]),
                         ("v1", f"room@{HOST}/Bob", "result"))

    def test_vcardToAccount(self) -> None:
        """
        vCard requests go to the occupant's bare JID.
        """
        self.h.send(ALICE, f"<iq type='get' id='v1' to='room@{HOST}/Bob'>"
                           "<vCard xmlns='vcard-temp'/></iq>")
        self.assertEqual(len(self.h.received("bob@localhost")), 1)

    def test_unknownOccupant(self) -> None:
        """
        An IQ to a nickname nobody holds is C{item-not-found}.
        """
        self.assertEqual(self.h.refused(ALICE, f"<iq type='get' id='v' to='room@{HOST}/X'>"
                                               "<query xmlns='jabber:iq:version'/></iq>"),
                         "item-not-found")

    def test_strayReply(self) -> None:
        """
        An answer the room did not ask for is dropped.
        """
        self.assertEqual(self.h.send(BOB, f"<iq type='result' id='nope' to='room@{HOST}/Alice'/>"),
                         [])
