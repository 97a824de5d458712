# -*- test-case-name: tests.dmuc.test_wire -*-
"""
Tests for L{xmuc.dmuc.wire}: the DMUC iq payloads parse into values and
render back, the design page's examples parse, malformed ones are refused
with C{bad-request}.
"""

from __future__ import annotations

import re

from hypothesis import given
from twisted.trial.unittest import SynchronousTestCase

from tests.dmuc import strategies as dst
from tests.support.harness import parseStanza
from xmuc.core.errors import ServiceUnavailable, toStanzaError
from xmuc.core.jid import parseJID
from xmuc.dmuc import wire
from xmuc.dmuc.ns import NS_DMUC
from xmuc.muc.model import ALL_ROLES, Role
from xmuc.muc.ns import NS_CLIENT, NS_SID

# Section 2 of ../shared/design/dmuc.md, verbatim.
ATTACH_EXAMPLE = """<iq type='set' from='room@muc.A' to='dmuc@B' id='a1'>
  <attach xmlns='urn:xmpp:tmp:dmuc:0' epoch='7f3c…' keepalive='60' history='50'
          anonymity='semi'/>
</iq>"""

# Section 6, verbatim except that the placeholders inside tags (<presence …/>,
# <message …>), which are not XML, are dropped.
RESYNC_EXAMPLE = """<iq type='set' from='dmuc@B' to='room@muc.A' id='r1'>
  <resync xmlns='urn:xmpp:tmp:dmuc:0' epoch='7f3c…' last-seq='57'>
    <occupant jid='rubenro@B/shaver' nick='BigCheese'> <presence/> </occupant>
    <spooled> <message><origin-id/><delay/></message> … </spooled>
  </resync>
</iq>"""

# Section 6 with the placeholders filled in as a replica would send them.
RESYNC_FILLED = """<iq type='set' from='dmuc@B' to='room@muc.A' id='r1'>
  <resync xmlns='urn:xmpp:tmp:dmuc:0' epoch='7f3c…' last-seq='57'>
    <occupant jid='rubenro@B/shaver' nick='BigCheese'>
      <presence xmlns='jabber:client' from='rubenro@B/shaver' to='room@muc.A/BigCheese'>
        <show>away</show></presence>
    </occupant>
    <spooled>
      <message xmlns='jabber:client' from='rubenro@B/shaver' to='room@muc.A'
               type='groupchat'><body>still there?</body>
        <origin-id xmlns='urn:xmpp:sid:0' id='o1'/>
        <delay xmlns='urn:xmpp:delay' stamp='2026-12-07T23:00:00Z'/></message>
    </spooled>
  </resync>
</iq>"""


def payloadOf(xml: str):
    return parseStanza(xml).firstChildElement()


def dmuc(xml: str):
    """
    A DMUC element from its serialisation (the namespace is added).
    """
    return parseStanza(re.sub(r"^<([a-z-]+)", rf"<\1 xmlns='{NS_DMUC}'", xml, count=1))


class RoundTripTests(SynchronousTestCase):
    """
    parse(render(x)) == x for every payload value.
    """

    @dst.bounded
    @given(dst.payloads)
    def test_roundTrip(self, value) -> None:
        """
        Every payload value renders to an element that parses back to it.
        """
        self.assertEqual(wire.parse(wire.render(value)), value)

    @dst.bounded
    @given(dst.payloads)
    def test_roundTripThroughText(self, value) -> None:
        """
        The same holds through the serialisation a stream carries.
        """
        self.assertEqual(wire.parse(parseStanza(wire.render(value).toXml())), value)

    @dst.bounded
    @given(dst.embedded("message"))
    def test_embeddedElement(self, value) -> None:
        """
        An embedded stanza gives back a jabber:client element that embeds
        to the same value.
        """
        element = value.element()
        self.assertEqual(element.uri, NS_CLIENT)
        self.assertEqual(wire.embed(element), value)


class ExampleTests(SynchronousTestCase):
    """
    The design page's examples.
    """

    def test_attach(self) -> None:
        """
        Section 2's attach: epoch, keepalive, history, anonymity, no
        outcasts.
        """
        value = wire.parse(payloadOf(ATTACH_EXAMPLE))
        self.assertEqual(value, wire.Attach("7f3c…", 60, 50, wire.Anonymity.SEMI, ()))

    def test_attachWithOutcasts(self) -> None:
        """
        Outcast children give bare JIDs or the replica's domain, in order.
        """
        value = wire.parse(dmuc("<attach epoch='e' keepalive='60' history='0' "
                                "anonymity='non'><outcast jid='troll@B'/>"
                                "<outcast jid='B'/></attach>"))
        self.assertEqual(value.outcasts, (parseJID("troll@b"), parseJID("b")))
        self.assertIs(value.anonymity, wire.Anonymity.NON)

    def test_attachBroadcast(self) -> None:
        """
        The broadcast attribute lists the roles whose presence the room
        broadcasts; without it every role's is, and an empty one is none.
        """
        value = wire.parse(dmuc("<attach epoch='e' keepalive='60' history='0' "
                                "anonymity='semi' broadcast='participant moderator'/>"))
        self.assertEqual(value.broadcast, frozenset((Role.MODERATOR, Role.PARTICIPANT)))
        self.assertEqual(value.render().getAttribute("broadcast"), "moderator participant")
        self.assertEqual(wire.parse(payloadOf(ATTACH_EXAMPLE)).broadcast, ALL_ROLES)
        self.assertIsNone(wire.parse(payloadOf(ATTACH_EXAMPLE)).render().getAttribute(
            "broadcast"))
        empty = wire.parse(dmuc("<attach epoch='e' keepalive='60' history='0' "
                                "anonymity='semi' broadcast=''/>"))
        self.assertEqual(empty.broadcast, frozenset())
        self.assertEqual(wire.parse(empty.render()), empty)

    def test_outcastsUpdate(self) -> None:
        """
        The updated list after the attach is an <outcasts/> of outcasts.
        """
        value = wire.parse(dmuc("<outcasts><outcast jid='troll@B'/></outcasts>"))
        self.assertEqual(value, wire.Outcasts((parseJID("troll@b"),)))
        self.assertEqual(wire.parse(dmuc("<outcasts/>")), wire.Outcasts(()))

    def test_detach(self) -> None:
        """
        Section 2's detach.
        """
        iq = parseStanza("<iq type='set' from='room@muc.A' to='dmuc@B' id='d1'>"
                         "<detach xmlns='urn:xmpp:tmp:dmuc:0'/></iq>")
        self.assertEqual(wire.parse(iq.firstChildElement()), wire.Detach())

    def test_resyncVerbatim(self) -> None:
        """
        Section 6's resync: the occupant and the spooled message inherit
        the DMUC namespace there, and are moved into jabber:client.
        """
        value = wire.parse(payloadOf(RESYNC_EXAMPLE))
        self.assertEqual((value.epoch, value.lastSeq), ("7f3c…", 57))
        [occupant] = value.occupants
        self.assertEqual((occupant.jid, occupant.nick), (parseJID("rubenro@b/shaver"),
                                                         "BigCheese"))
        self.assertEqual(occupant.presence.element().uri, NS_CLIENT)
        [message] = value.spooled
        element = message.element()
        self.assertEqual((element.uri, element.name), (NS_CLIENT, "message"))
        self.assertEqual([c.uri for c in element.elements()], [NS_CLIENT, NS_CLIENT])

    def test_resyncFilled(self) -> None:
        """
        The filled-in resync keeps each stanza's own children and
        namespaces: show, body, origin-id, delay.
        """
        value = wire.parse(payloadOf(RESYNC_FILLED))
        presence = value.occupants[0].presence.element()
        self.assertEqual(str(next(presence.elements(NS_CLIENT, "show"))), "away")
        message = value.spooled[0].element()
        self.assertEqual(str(next(message.elements(NS_CLIENT, "body"))), "still there?")
        self.assertEqual(next(message.elements(NS_SID, "origin-id"))["id"], "o1")
        self.assertEqual(message["from"], "rubenro@B/shaver")

    def test_resynced(self) -> None:
        """
        The resync answer names its mode and the seq range that follows.
        """
        value = wire.parse(dmuc("<resynced epoch='e2' mode='snapshot' last-seq='80' "
                                "count='23'/>"))
        self.assertEqual(value, wire.Resynced("e2", wire.ResyncMode.SNAPSHOT, 80, 23))

    def test_serverNamespace(self) -> None:
        """
        An embedded stanza in jabber:server is taken as its jabber:client
        form.
        """
        element = parseStanza(
            f"<resync xmlns='{NS_DMUC}' epoch='e' last-seq='0'><spooled>"
            "<message xmlns='jabber:server' from='a@b/c'><body>x</body></message>"
            "</spooled></resync>")
        [message] = wire.parse(element).spooled
        self.assertEqual(message.xml, "<message from='a@b/c'><body>x</body></message>")

    def test_embedLeavesOriginal(self) -> None:
        """
        Parsing does not move the received tree into another namespace.
        """
        element = payloadOf(RESYNC_EXAMPLE)
        wire.parse(element)
        occupant = next(element.elements(NS_DMUC, "occupant"))
        self.assertEqual(occupant.firstChildElement().uri, NS_DMUC)

    def test_unknownChildrenIgnored(self) -> None:
        """
        Children in other namespaces, and DMUC children this revision does
        not know, are ignored.
        """
        value = wire.parse(dmuc("<attach epoch='e' keepalive='5' history='1' "
                                "anonymity='semi'><later/><y xmlns='urn:other'/></attach>"))
        self.assertEqual(value, wire.Attach("e", 5, 1, wire.Anonymity.SEMI))


class MalformedTests(SynchronousTestCase):
    """
    Malformed payloads raise L{wire.DMUCProtocolError}, answered
    C{bad-request}.
    """

    def assertRefused(self, xml: str, fragment: str) -> None:
        with self.assertRaises(wire.DMUCProtocolError) as caught:
            wire.parse(dmuc(xml))
        self.assertIn(fragment, caught.exception.text)
        error = toStanzaError(caught.exception)
        self.assertEqual((error.condition, error.type), ("bad-request", "modify"))
        self.assertEqual(caught.exception.condition, "bad-request")

    def test_attachMissingAttributes(self) -> None:
        """
        An attach without epoch, keepalive, history or anonymity is refused.
        """
        full = {"epoch": "e", "keepalive": "60", "history": "50", "anonymity": "semi"}
        for missing in full:
            attributes = " ".join(f"{k}='{v}'" for k, v in full.items() if k != missing)
            self.assertRefused(f"<attach {attributes}/>", missing)

    def test_attachBadNumbers(self) -> None:
        """
        Numbers must be ASCII decimal digits in range: no sign, no space,
        no other script's digits, no zero keepalive, nothing past 2**63-1.
        """
        for keepalive in ("-1", "+5", " 5", "٥", "0", "5.0", str(2**63), ""):
            self.assertRefused(f"<attach epoch='e' keepalive='{keepalive}' history='1' "
                               "anonymity='semi'/>", "keepalive")

    def test_attachBadAnonymity(self) -> None:
        """
        Anonymity is non or semi.
        """
        self.assertRefused("<attach epoch='e' keepalive='1' history='1' anonymity='full'/>",
                           "anonymity")

    def test_attachBadBroadcast(self) -> None:
        """
        Broadcast names only occupants' roles.
        """
        for text in ("none", "moderator owner"):
            self.assertRefused("<attach epoch='e' keepalive='1' history='1' anonymity='semi' "
                               f"broadcast='{text}'/>", "broadcast")

    def test_longEpoch(self) -> None:
        """
        An epoch is at most 128 characters.
        """
        self.assertRefused(f"<attach epoch='{'e' * 129}' keepalive='1' history='1' "
                           "anonymity='semi'/>", "epoch")

    def test_outcastBadJID(self) -> None:
        """
        An outcast must be a valid bare JID.
        """
        self.assertRefused("<outcasts><outcast jid='a@b/c'/></outcasts>", "bare")
        self.assertRefused("<outcasts><outcast jid='@b'/></outcasts>", "jid")
        self.assertRefused("<outcasts><outcast/></outcasts>", "jid")

    def test_resyncOccupants(self) -> None:
        """
        An occupant has a full JID, a nickname and exactly one presence.
        """
        presence = "<presence xmlns='jabber:client'/>"
        self.assertRefused(f"<resync epoch='e' last-seq='1'><occupant jid='a@b' nick='n'>"
                           f"{presence}</occupant></resync>", "full")
        self.assertRefused(f"<resync epoch='e' last-seq='1'><occupant jid='a@b/c'>"
                           f"{presence}</occupant></resync>", "nick")
        self.assertRefused("<resync epoch='e' last-seq='1'><occupant jid='a@b/c' nick='n'/>"
                           "</resync>", "exactly one")
        self.assertRefused(f"<resync epoch='e' last-seq='1'><occupant jid='a@b/c' nick='n'>"
                           f"{presence}{presence}</occupant></resync>", "exactly one")
        self.assertRefused("<resync epoch='e' last-seq='1'><occupant jid='a@b/c' nick='n'>"
                           "<message xmlns='jabber:client'/></occupant></resync>", "presence")

    def test_resyncSpool(self) -> None:
        """
        The spool holds messages only, and there is at most one spool.
        """
        self.assertRefused("<resync epoch='e' last-seq='1'><spooled>"
                           "<presence xmlns='jabber:client'/></spooled></resync>", "message")
        self.assertRefused("<resync epoch='e' last-seq='1'><spooled>"
                           "<message xmlns='urn:other'/></spooled></resync>", "message")
        self.assertRefused("<resync epoch='e' last-seq='1'><spooled/><spooled/></resync>",
                           "more than one")

    def test_resyncNumbers(self) -> None:
        """
        A resync needs its epoch and a last-seq.
        """
        self.assertRefused("<resync epoch='e'/>", "last-seq")
        self.assertRefused("<resync last-seq='3'/>", "epoch")

    def test_resyncedBad(self) -> None:
        """
        The answer's mode is replay or snapshot, and it cannot announce
        more stanzas than its last seq.
        """
        self.assertRefused("<resynced epoch='e' mode='merge' last-seq='1' count='0'/>", "mode")
        self.assertRefused("<resynced epoch='e' mode='replay' last-seq='1' count='2'/>",
                           "count")
        self.assertRefused("<resynced epoch='e' mode='replay' last-seq='1'/>", "count")

    def test_unknownPayload(self) -> None:
        """
        An element this node does not know is service-unavailable (RFC
        6120 section 8.4), not bad-request.
        """
        for xml in (f"<merge xmlns='{NS_DMUC}'/>", "<attach xmlns='urn:other'/>"):
            with self.assertRaises(ServiceUnavailable):
                wire.parse(parseStanza(xml))

    def test_wrongElementForClass(self) -> None:
        """
        A value class refuses another element.
        """
        with self.assertRaises(wire.DMUCProtocolError):
            wire.Attach.parse(dmuc("<detach/>"))


class CanonicalTests(SynchronousTestCase):
    """
    An embedded stanza has one serialisation whatever prefixes it came with.
    """

    def test_prefixes(self) -> None:
        """
        A spooled message written with namespace prefixes embeds exactly as
        the same message written with default namespaces.
        """
        prefixed = parseStanza(
            f"<resync xmlns='{NS_DMUC}' xmlns:c='jabber:client' xmlns:s='urn:x' epoch='e' "
            "last-seq='0'><spooled><c:message from='a@b/c'><c:body>x</c:body><s:y/>"
            "</c:message></spooled></resync>")
        plain = parseStanza(
            f"<resync xmlns='{NS_DMUC}' epoch='e' last-seq='0'><spooled>"
            "<message xmlns='jabber:client' from='a@b/c'><body>x</body><y xmlns='urn:x'/>"
            "</message></spooled></resync>")
        self.assertEqual(wire.parse(prefixed), wire.parse(plain))
        self.assertEqual(wire.parse(plain).spooled[0].xml,
                         "<message from='a@b/c'><body>x</body><y xmlns='urn:x'/></message>")

    def test_explicitDMUCChildKept(self) -> None:
        """
        Inside a jabber:client stanza, a child that really is in the DMUC
        namespace keeps it.
        """
        element = parseStanza(
            f"<resync xmlns='{NS_DMUC}' epoch='e' last-seq='0'><spooled>"
            "<message xmlns='jabber:client'><x xmlns='urn:xmpp:tmp:dmuc:0' seq='1'/>"
            "</message></spooled></resync>")
        message = wire.parse(element).spooled[0].element()
        self.assertEqual(message.firstChildElement().uri, NS_DMUC)
