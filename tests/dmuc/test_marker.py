# -*- test-case-name: tests.dmuc.test_marker -*-
"""
Tests for L{xmuc.dmuc.marker}: the C{<x seq>} marker parses and renders,
is spliced into a serialised stanza and stripped from a received one
without touching the rest.
"""

from __future__ import annotations

from hypothesis import given
from twisted.trial.unittest import SynchronousTestCase
from twisted.words.xish import domish

from tests.dmuc import strategies as dst
from tests.support.harness import parseStanza
from xmuc.core.errors import toStanzaError
from xmuc.core.jid import parseJID
from xmuc.dmuc.marker import (
    Delay,
    Marker,
    findMarker,
    marked,
    markerBytes,
    parseMarker,
    renderMarker,
    spliceMarker,
    unmarked,
)
from xmuc.dmuc.ns import NS_DMUC
from xmuc.dmuc.wire import DMUCProtocolError
from xmuc.muc.events import HistoryRequest
from xmuc.muc.ns import NS_CLIENT, NS_MUC_USER, NS_OCCUPANT_ID
from xmuc.muc.stanzas import parseStamp

# Section 3 of ../shared/design/dmuc.md, verbatim.
ENTER_EXAMPLE = """<presence from='room@muc.A/BigCheese' to='dmuc@B'>
  <x xmlns='http://jabber.org/protocol/muc#user'>
    <item affiliation='none' role='participant' jid='rubenro@B/shaver'/>
  </x>
  <occupant-id xmlns='urn:xmpp:occupant-id:0' id='…'/>
  <x xmlns='urn:xmpp:tmp:dmuc:0' seq='42'>
    <enter jid='rubenro@B/shaver'/>
    <history maxstanzas='20'/>   <!-- the user's own <history/> request, copied -->
  </x>
</presence>"""

# Section 4's broadcast of a message, as the design page describes it.
BROADCAST_EXAMPLE = """<message from='room@muc.A/BigCheese' to='dmuc@B' type='groupchat'
    id='m1'><body>hello</body>
  <x xmlns='urn:xmpp:tmp:dmuc:0' seq='43'>
    <delay xmlns='urn:xmpp:delay' from='room@muc.A' stamp='1990-10-13T23:58:37Z'/>
  </x>
</message>"""

LEAVE_EXAMPLE = """<presence from='room@muc.A/BigCheese' to='dmuc@B' type='unavailable'>
  <x xmlns='urn:xmpp:tmp:dmuc:0' seq='44'><leave jid='rubenro@B/shaver'/></x>
</presence>"""


def marker(inner: str, seq: str = "seq='1'") -> domish.Element:
    return parseStanza(f"<x xmlns='{NS_DMUC}' {seq}>{inner}</x>")


class RoundTripTests(SynchronousTestCase):
    """
    Every marker survives rendering, as an element and as bytes.
    """

    @dst.bounded
    @given(dst.markers())
    def test_element(self, value: Marker) -> None:
        """
        parseMarker(renderMarker(m)) == m.
        """
        self.assertEqual(parseMarker(renderMarker(value)), value)

    @dst.bounded
    @given(dst.markers())
    def test_bytes(self, value: Marker) -> None:
        """
        The directly built bytes parse to the same marker.
        """
        self.assertEqual(parseMarker(parseStanza(markerBytes(value))), value)

    @dst.bounded
    @given(dst.markers(), dst.texts)
    def test_spliceThenStrip(self, value: Marker, body: str) -> None:
        """
        A marker spliced into a serialised stanza is found and stripped by
        the replica, leaving the stanza exactly as the primary serialised it.
        """
        stanza = domish.Element((NS_CLIENT, "message"))
        stanza["from"] = "room@muc.a/nick"
        stanza["type"] = "groupchat"
        if body:
            stanza.addElement("body", content=body)
        serialised = stanza.toXml().encode("utf-8")
        received = parseStanza(spliceMarker(serialised, "message", markerBytes(value)))
        stripped, found = unmarked(received)
        self.assertEqual(found, value)
        self.assertEqual(stripped.toXml().encode("utf-8"), serialised)


class ExampleTests(SynchronousTestCase):
    """
    The design page's marked stanzas.
    """

    def test_enter(self) -> None:
        """
        Section 3: the enter names the real JID and copies the history
        request; stripping leaves the muc#user element and occupant-id.
        """
        stanza = parseStanza(ENTER_EXAMPLE)
        stripped, value = unmarked(stanza)
        self.assertEqual(value, Marker(42, enter=parseJID("rubenro@b/shaver"),
                                       history=HistoryRequest(maxstanzas=20)))
        self.assertEqual([(c.uri, c.name) for c in stripped.elements()],
                         [(NS_MUC_USER, "x"), (NS_OCCUPANT_ID, "occupant-id")])
        self.assertIsNone(findMarker(stripped))
        self.assertIsNotNone(findMarker(stanza), "the received stanza is left as it is")

    def test_broadcast(self) -> None:
        """
        Section 4: a message carries the primary's delay in the marker.
        """
        _, value = unmarked(parseStanza(BROADCAST_EXAMPLE))
        self.assertEqual(value, Marker(43, delay=Delay(parseStamp("1990-10-13T23:58:37Z"),
                                                       parseJID("room@muc.a"))))

    def test_leave(self) -> None:
        """
        Section 3: the leaver's copy names its real JID.
        """
        _, value = unmarked(parseStanza(LEAVE_EXAMPLE))
        self.assertEqual(value, Marker(44, leave=parseJID("rubenro@b/shaver")))

    def test_fullHistoryRequest(self) -> None:
        """
        All four history attributes are copied.
        """
        value = parseMarker(marker("<enter jid='a@b/c'/><history maxstanzas='1' "
                                   "maxchars='2' seconds='3' since='1970-01-01T00:00:10Z'/>"))
        self.assertEqual(value.history, HistoryRequest(1, 2, 3, 10.0))

    def test_unmarkedStanza(self) -> None:
        """
        A stanza without a marker gives its template and no marker.
        """
        stanza = parseStanza("<message from='a@b/c' to='dmuc@b'><body>x</body></message>")
        template, value = unmarked(stanza)
        self.assertIsNone(value)
        self.assertEqual(template.toXml(), "<message xmlns='jabber:client' from='a@b/c'>"
                                           "<body>x</body></message>")

    def test_templateWithoutTo(self) -> None:
        """
        The template has no C{to} (the glue splices each occupant's), and
        the received stanza keeps its own.
        """
        stanza = parseStanza(ENTER_EXAMPLE)
        template, _ = unmarked(stanza)
        self.assertIsNone(template.getAttribute("to"))
        self.assertEqual(template["from"], "room@muc.A/BigCheese")
        self.assertEqual(stanza["to"], "dmuc@B")

    def test_marked(self) -> None:
        """
        marked() adds the marker to a light copy addressed to the replica;
        the original keeps its children.
        """
        stanza = parseStanza("<message from='room@muc.a/n' type='groupchat'>"
                             "<body>x</body></message>")
        copy = marked(stanza, Marker(7), "dmuc@b")
        self.assertEqual(copy["to"], "dmuc@b")
        self.assertEqual(parseMarker(findMarker(copy)), Marker(7))
        self.assertIsNone(findMarker(stanza))
        self.assertEqual(unmarked(copy)[0].toXml(), stanza.toXml())

    def test_spliceEmptyStanza(self) -> None:
        """
        A self-closed stanza is opened to take the marker.
        """
        spliced = spliceMarker(b"<presence from='r@m/n'/>", "presence", markerBytes(Marker(3)))
        self.assertEqual(spliced, b"<presence from='r@m/n'><x xmlns='urn:xmpp:tmp:dmuc:0' "
                                  b"seq='3'/></presence>")

    def test_spliceWrongStanza(self) -> None:
        """
        Splicing into bytes that are not that stanza is a programming error.
        """
        self.assertRaises(ValueError, spliceMarker, b"<message></message>", "presence", b"")


class MalformedTests(SynchronousTestCase):
    """
    Bad markers raise L{DMUCProtocolError} (bad-request).
    """

    def assertRefused(self, element: domish.Element, fragment: str) -> None:
        with self.assertRaises(DMUCProtocolError) as caught:
            parseMarker(element)
        self.assertIn(fragment, caught.exception.text)
        self.assertEqual(toStanzaError(caught.exception).condition, "bad-request")

    def test_seq(self) -> None:
        """
        seq is required, a decimal of at least 1.
        """
        for seq in ("", "seq='0'", "seq='-1'", "seq='x'", "seq='1e3'"):
            self.assertRefused(marker("", seq), "seq")

    def test_enterAndLeave(self) -> None:
        """
        One stanza cannot enter and leave.
        """
        self.assertRefused(marker("<enter jid='a@b/c'/><leave jid='a@b/c'/>"), "both")

    def test_repeated(self) -> None:
        """
        Each child appears at most once.
        """
        self.assertRefused(marker("<enter jid='a@b/c'/><enter jid='a@b/d'/>"), "more than one")
        self.assertRefused(marker("<leave jid='a@b/c'/><leave jid='a@b/d'/>"), "more than one")

    def test_historyWithoutEnter(self) -> None:
        """
        A history request belongs to an entrant.
        """
        self.assertRefused(marker("<history maxstanzas='1'/>"), "without <enter/>")

    def test_realJIDs(self) -> None:
        """
        enter and leave name full JIDs.
        """
        self.assertRefused(marker("<enter jid='a@b'/>"), "full JID")
        self.assertRefused(marker("<leave/>"), "jid")
        self.assertRefused(marker("<enter jid='a@@b/c'/>"), "jid")

    def test_badHistory(self) -> None:
        """
        History numbers are decimals, since an XEP-0082 DateTime with a zone.
        """
        self.assertRefused(marker("<enter jid='a@b/c'/><history maxchars='-1'/>"), "maxchars")
        self.assertRefused(marker("<enter jid='a@b/c'/><history since='yesterday'/>"), "since")
        self.assertRefused(marker("<enter jid='a@b/c'/>"
                                  "<history since='2026-01-01T00:00:00'/>"), "since")

    def test_badDelay(self) -> None:
        """
        The delay needs a valid stamp and from.
        """
        ns = "xmlns='urn:xmpp:delay'"
        self.assertRefused(marker(f"<delay {ns} from='r@m'/>"), "stamp")
        self.assertRefused(marker(f"<delay {ns} from='r@m' stamp='soon'/>"), "stamp")
        self.assertRefused(marker(f"<delay {ns} stamp='2026-01-01T00:00:00Z'/>"), "from")

    def test_twoMarkers(self) -> None:
        """
        A stanza with two DMUC elements is refused.
        """
        stanza = parseStanza(f"<message><x xmlns='{NS_DMUC}' seq='1'/>"
                             f"<x xmlns='{NS_DMUC}' seq='2'/></message>")
        with self.assertRaises(DMUCProtocolError):
            unmarked(stanza)
