# -*- test-case-name: tests.muc.features.test_history -*-
"""
Tests for L{xmuc.muc.features.history}: what an entrant gets of the
history, by each kind of request.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from tests.muc.support import RoomHarness, child
from xmuc.muc import effects
from xmuc.muc.ns import NS_DELAY
from xmuc.muc.stanzas import stamp

ALICE, BOB = "alice@localhost/a", "bob@localhost/b"


class HistoryTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.h = RoomHarness()
        self.h.create(ALICE, "room", "Alice")
        for n in range(5):
            self.h.say(ALICE, "room", f"m{n}")
            self.h.advance(60)
        self.h.clear()

    def history(self, request: str = "") -> list[str]:
        self.h.join(BOB, "room", "Bob", request)
        got = self.h.received(BOB)
        return [str(child(m, m.uri, "body")) for m in got if child(m, m.uri, "body")]

    def test_default(self) -> None:
        """
        Without a request the whole kept history comes, each message with a
        delay from the room stamped at its time.
        """
        self.h.join(BOB, "room", "Bob")
        got = [m for m in self.h.received(BOB) if child(m, m.uri, "body")]
        self.assertEqual(len(got), 5)
        delay = child(got[0], NS_DELAY, "delay")
        self.assertEqual(delay["from"], "room@muc.localhost")
        self.assertEqual(delay["stamp"], stamp(1_700_000_000))

    def test_maxstanzas(self) -> None:
        """
        maxstanzas keeps the last ones; 0 none.
        """
        self.assertEqual(self.history("<history maxstanzas='2'/>"), ["m3", "m4"])
        self.h.leave(BOB, "room", "Bob")
        self.assertEqual(self.history("<history maxstanzas='0'/>"), [])

    def test_seconds(self) -> None:
        """
        seconds keeps what is that recent.
        """
        self.assertEqual(self.history("<history seconds='130'/>"), ["m3", "m4"])

    def test_since(self) -> None:
        """
        since keeps what came after the time.
        """
        since = stamp(1_700_000_000 + 150)
        self.assertEqual(self.history(f"<history since='{since}'/>"), ["m3", "m4"])

    def test_maxchars(self) -> None:
        """
        maxchars counts whole stanzas: 0 gives none, a little more than
        one stanza gives one.
        """
        self.assertEqual(self.history("<history maxchars='0'/>"), [])
        self.h.leave(BOB, "room", "Bob")
        size = len(self.h.service.rooms["room"].history[-1].stanza.toXml())
        self.assertEqual(self.history(f"<history maxchars='{size + 10}'/>"), ["m4"])

    def test_badRequest(self) -> None:
        """
        A history request with a bad value is C{bad-request}.
        """
        join = ("<presence to='room@muc.localhost/Bob'><x xmlns='http://jabber.org/protocol/muc'>"
                "<history {}/></x></presence>")
        for attribute in ("maxstanzas='x'", "since='yesterday'", "seconds='-1'"):
            self.assertEqual(self.h.refused(BOB, join.format(attribute)), "bad-request")

    def test_length(self) -> None:
        """
        The room keeps muc#maxhistoryfetch messages.
        """
        self.h.configure(ALICE, "room", **{"muc#maxhistoryfetch": "2"})
        self.assertEqual(self.history(), ["m3", "m4"])


class OriginalStampTests(SynchronousTestCase):
    """
    A message keeps the stamp the room gave it when it first received it.
    """

    def setUp(self) -> None:
        self.h = RoomHarness()
        self.h.create(ALICE, "room", "Alice")

    def delays(self, jid: str) -> list[list[tuple[str, str]]]:
        return [[(d.getAttribute("from"), d["stamp"]) for d in m.elements(NS_DELAY, "delay")]
                for m in self.h.received(jid) if child(m, m.uri, "body")]

    def test_clientCannotStampForTheRoom(self) -> None:
        """
        A C{<delay/>} a client puts in its message in the room's name is
        removed: the history shows exactly one delay, the room's, at the
        time the room received the message.
        """
        self.h.send(ALICE, "<message type='groupchat' id='m' to='room@muc.localhost'>"
                           "<body>old news</body><delay xmlns='urn:xmpp:delay' "
                           "from='room@muc.localhost' stamp='2001-01-01T00:00:00Z'/></message>")
        echoed = self.h.received(ALICE)
        self.assertEqual(list(echoed[0].elements(NS_DELAY, "delay")), [])
        self.h.join(BOB, "room", "Bob")
        self.assertEqual(self.delays(BOB), [[("room@muc.localhost", stamp(1_700_000_000))]])

    def test_laterJoinsSameStamp(self) -> None:
        """
        Entrants an hour apart see the message with the same stamp, and a
        seconds request is judged against it, not the time of the join.
        """
        self.h.say(ALICE, "room", "hello")
        self.h.advance(3600)
        self.h.join(BOB, "room", "Bob")
        self.h.advance(3600)
        self.h.join("carol@localhost/c", "room", "Carol")
        expected = [[("room@muc.localhost", stamp(1_700_000_000))]]
        self.assertEqual(self.delays(BOB), expected)
        self.assertEqual(self.delays("carol@localhost/c"), expected)
        self.h.join("dave@localhost/d", "room", "Dave", "<history seconds='7199'/>")
        self.assertEqual(self.delays("dave@localhost/d"), [])

    def test_archiveStamp(self) -> None:
        """
        The archive record carries the stamp of the room's first receipt.
        """
        done = self.h.say(ALICE, "room", "hello")
        [record] = [e for e in done if isinstance(e, effects.Archive)]
        self.assertEqual(record.stamp, 1_700_000_000)
        self.assertEqual(self.h.service.rooms["room"].history[-1].stamp, 1_700_000_000)
