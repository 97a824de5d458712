# -*- test-case-name: tests.muc.test_parse -*-
"""
Tests for L{xmuc.muc.parse}: stanzas into events, and bad input refused
at the edge.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from tests.support.harness import parseStanza
from xmuc.core.errors import BadRequest, ServiceUnavailable
from xmuc.core.jid import InvalidJID, parseJID
from xmuc.muc import events as ev
from xmuc.muc.model import Affiliation, Role
from xmuc.muc.parse import parseStanza as parseEvent


def parse(xml: str, sender: str = "alice@localhost/a"):
    stanza = parseStanza(xml)
    stanza["from"] = sender
    return parseEvent(stanza, parseJID(stanza["to"]))


class ParseTests(SynchronousTestCase):
    def test_join(self) -> None:
        """
        A join carries its nickname, password, history request and the
        presence payload without the MUC element.
        """
        event = parse("<presence to='r@muc.localhost/Al'><show>away</show><x xmlns="
                      "'http://jabber.org/protocol/muc'><password>pw</password><history "
                      "maxstanzas='5' since='2024-01-01T00:00:00Z'/></x></presence>")
        self.assertIsInstance(event, ev.PresenceIn)
        self.assertEqual((event.nick, event.available, event.join.password), ("Al", True, "pw"))
        self.assertEqual(event.join.history.maxstanzas, 5)
        self.assertEqual(event.join.history.since, 1704067200.0)
        self.assertEqual([c.name for c in event.payload], ["show"])

    def test_forgedPresence(self) -> None:
        """
        A client's presence with muc#user items is bad-request.
        """
        self.assertRaises(BadRequest, parse,
                          "<presence to='r@muc.localhost/Al'><x xmlns='http://jabber.org/"
                          "protocol/muc#user'><item affiliation='owner'/></x></presence>")

    def test_subscriptions(self) -> None:
        """
        Subscription requests are service-unavailable; probes are ignored.
        """
        self.assertRaises(ServiceUnavailable, parse,
                          "<presence type='subscribe' to='r@muc.localhost'/>")
        self.assertIsNone(parse("<presence type='probe' to='r@muc.localhost/Al'/>"))

    def test_error(self) -> None:
        """
        An error stanza becomes a delivery failure with its condition.
        """
        event = parse("<message type='error' to='r@muc.localhost/Al'><error type='wait'>"
                      "<remote-server-timeout xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
                      "</error></message>")
        self.assertEqual((event.name, event.condition), ("message", "remote-server-timeout"))

    def test_admin(self) -> None:
        """
        muc#admin items parse to roles and affiliations; unknown labels
        are bad-request and bad JIDs jid-malformed.
        """
        event = parse("<iq type='set' id='1' to='r@muc.localhost'><query xmlns='http://jabber."
                      "org/protocol/muc#admin'><item nick='B' role='none'><reason>x</reason>"
                      "</item><item jid='c@localhost' affiliation='outcast'/></query></iq>")
        self.assertEqual([(i.role, i.affiliation) for i in event.items],
                         [(Role.NONE, None), (None, Affiliation.OUTCAST)])
        self.assertEqual(event.items[0].reason, "x")
        self.assertRaises(BadRequest, parse,
                          "<iq type='set' id='1' to='r@muc.localhost'><query xmlns='http://"
                          "jabber.org/protocol/muc#admin'><item nick='B' role='king'/></query></iq>")
        self.assertRaises(InvalidJID, parse,
                          "<iq type='set' id='1' to='r@muc.localhost'><query xmlns='http://"
                          "jabber.org/protocol/muc#admin'><item jid='@@' affiliation='member'/>"
                          "</query></iq>")

    def test_unknownIQ(self) -> None:
        """
        An IQ the room does not implement is service-unavailable; one
        without a payload bad-request.
        """
        self.assertRaises(ServiceUnavailable, parse,
                          "<iq type='get' id='1' to='r@muc.localhost'><q xmlns='urn:x'/></iq>")
        self.assertRaises(BadRequest, parse, "<iq type='get' id='1' to='r@muc.localhost'/>")

    def test_ids(self) -> None:
        """
        Stanza-ids by the room are removed from what clients send; others'
        are kept.
        """
        event = parse("<message type='groupchat' to='r@muc.localhost'><body>x</body>"
                      "<stanza-id xmlns='urn:xmpp:sid:0' id='1' by='r@muc.localhost'/>"
                      "<stanza-id xmlns='urn:xmpp:sid:0' id='2' by='alice@localhost'/>"
                      "</message>")
        self.assertEqual([c.getAttribute("id") for c in event.payload], [None, "2"])

    def test_dmucMarker(self) -> None:
        """
        A DMUC element a client puts in its message or presence is
        removed: only the room's primary marks its copies for replicas.
        """
        x = "<x xmlns='urn:xmpp:tmp:dmuc:0' seq='7'><enter jid='bob@b.example/p'/></x>"
        for xml in (f"<message type='groupchat' to='r@muc.localhost'><body>x</body>{x}</message>",
                    f"<presence to='r@muc.localhost/Al'><status>s</status>{x}</presence>"):
            self.assertEqual([c.uri for c in parse(xml).payload], ["jabber:client"])

    def test_mam(self) -> None:
        """
        A MAM query reads its form and RSM set.
        """
        event = parse("<iq type='set' id='q' to='r@muc.localhost'><query xmlns='urn:xmpp:mam:2'"
                      " queryid='f'><x xmlns='jabber:x:data' type='submit'><field var='with'>"
                      "<value>bob@localhost/x</value></field></x><set xmlns='http://jabber.org/"
                      "protocol/rsm'><max>10</max><before/></set></query></iq>")
        self.assertEqual((event.queryId, event.with_, event.max, event.before),
                         ("f", "bob@localhost", 10, ""))
