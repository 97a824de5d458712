# -*- test-case-name: tests.dmuc.test_security -*-
"""
Security rules of distributed rooms (design section 7) at the engine
level: L{xmuc.dmuc.primary} and L{xmuc.dmuc.replica} on the fake link of
L{tests.dmuc.support}. The same rules end to end, over the real s2s layer,
are in L{tests.glue.test_dmucsecurity}.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase
from twisted.words.protocols.jabber.jid import JID

from tests.dmuc.support import HOST, REPLICA, World, overTheWire
from tests.support.harness import parseStanza
from xmuc.dmuc.ns import NS_DMUC

ROOM = f"room@{HOST}"
OWNER, BOB, BOB2 = "owner@a.example/o", "bob@b.example/p", "bob@b.example/tablet"


class RefusedSessionTests(SynchronousTestCase):
    """
    A session the replica refused is the only one that leaves.
    """

    def test_secondSession(self) -> None:
        """
        The primary admits a second session of Bob's (no directed
        presence: the replica refuses its enter, the primary removes it):
        Bob's first session gets no self-presence of that leave, stays on
        the replica's distribution list and gets the room's next message.
        """
        w = World()
        w.create(OWNER, "room", "Owner")
        w.join(BOB, "room", "Bob")
        w.received(BOB)
        join = parseStanza(f"<presence to='{ROOM}/Bob'><x xmlns='http://jabber.org/protocol/"
                           "muc'/></presence>")
        join["from"] = BOB2
        w._toService(overTheWire(join), JID(f"{ROOM}/Bob"))
        w.flush()
        self.assertTrue(any("forbidden" in b.toXml() for b in w.back))
        self.assertEqual(w.received(BOB2), [])
        self.assertEqual([x.getAttribute("type") for x in w.received(BOB)], [None])
        self.assertEqual(w.replica.rooms[ROOM].local["Bob"], [JID(BOB)])
        w.say(OWNER, "room", "still here")
        self.assertEqual([str(m.body) for m in w.received(BOB)], ["still here"])


class OccupantMarkerTests(SynchronousTestCase):
    """
    An occupant cannot put a DMUC element into the room's traffic.
    """

    def test_markerInMessage(self) -> None:
        """
        A groupchat message carrying a DMUC element with a far seq reaches
        the replica's users as any message (without the element), and the
        replica stays in sequence for the next one.
        """
        w = World()
        w.create(OWNER, "room", "Owner")
        w.join(BOB, "room", "Bob")
        w.received(BOB)
        w.send(OWNER, f"<message type='groupchat' id='x' to='{ROOM}'><body>one</body>"
                      f"<x xmlns='{NS_DMUC}' seq='1000'/></message>")
        w.say(OWNER, "room", "two")
        got = w.received(BOB)
        self.assertEqual([str(m.body) for m in got], ["one", "two"])
        self.assertNotIn(NS_DMUC, got[0].toXml())
        self.assertEqual(w.replica.rooms[ROOM].phase.value, "live")


class QueryTests(SynchronousTestCase):
    """
    The replica answers every IQ get (RFC 6120 8.2.3).
    """

    def test_get(self) -> None:
        """
        A ping to the replica's JID is answered C{service-unavailable}; a
        result (an answer to something) is not answered.
        """
        w = World()
        for kind, answers in (("get", ["service-unavailable"]), ("result", [])):
            iq = parseStanza(f"<iq type='{kind}' id='p' to='{REPLICA.full()}'>"
                             "<ping xmlns='urn:xmpp:ping'/></iq>")
            iq["from"] = OWNER
            done = w.replica.receive(overTheWire(iq), w.now)
            self.assertEqual([e.stanza.error.firstChildElement().name for e in done], answers)
