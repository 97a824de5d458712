# -*- test-case-name: tests.c2s.test_limits -*-
"""
Tests for the limits of L{xmuc.c2s.stream}: authentication and idle
timeouts on a L{task.Clock}, the per-connection rate limit, and the parse
limits (depth, elements, attributes, bytes before authentication).
"""

from __future__ import annotations

import gc

from twisted.trial import unittest
from twisted.words.xish import domish

from tests.c2s import StreamClient, streamErrorCondition
from tests.support.harness import Harness
from xmuc.config import parseConfig
from xmuc.parselimits import ParseLimits

PLAINTEXT = "[c2s]\nrequire_tls = false\n"


class TimeoutTests(unittest.TestCase):
    """
    Streams that take too long or go silent.
    """

    def setUp(self) -> None:
        self.harness = Harness(config=PLAINTEXT + "auth_timeout = 30\nidle_timeout = 100\n")
        self.harness.createUser("alice")
        self.clock = self.harness.clock

    def test_authTimeout(self) -> None:
        """
        A stream not authenticated within C{auth_timeout} is closed with
        C{connection-timeout}, even while it keeps sending.
        """
        client = StreamClient(self.harness)
        client.open()
        self.clock.advance(29)
        client.send(" ")
        self.assertFalse(client.transport.disconnecting)
        self.clock.advance(1)
        [error] = client.received()
        self.assertEqual(streamErrorCondition(error), "connection-timeout")
        self.assertTrue(client.transport.disconnecting)

    def test_noHeaderTimeout(self) -> None:
        """
        A connection that sends nothing at all gets the server's header
        and C{connection-timeout} after C{auth_timeout}.
        """
        client = StreamClient(self.harness)
        self.clock.advance(30)
        [error] = client.received()
        self.assertEqual(len(client.reader.headers), 1)
        self.assertEqual(streamErrorCondition(error), "connection-timeout")

    def test_timeoutAbortsAStuckClose(self) -> None:
        """
        After the C{connection-timeout} error the transport is closed; if
        the connection is still there C{close_timeout} later (a client
        that does not read), it is aborted.
        """
        client = StreamClient(self.harness)
        client.open()
        self.clock.advance(30)
        self.assertEqual(streamErrorCondition(client.received()[-1]), "connection-timeout")
        self.assertTrue(client.transport.disconnecting)
        self.assertFalse(client.transport.disconnected)
        self.clock.advance(4.9)
        self.assertFalse(client.transport.disconnected)
        self.clock.advance(0.1)
        self.assertTrue(client.transport.disconnected)

    def test_closedInTime(self) -> None:
        """
        A connection that goes within C{close_timeout} of the stream's end
        is not aborted, and leaves no timer behind.
        """
        client = StreamClient(self.harness)
        client.open()
        client.send("</stream:stream>")
        self.assertTrue(client.transport.disconnecting)
        client.stream.connectionLost()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertFalse(client.transport.disconnected)

    def test_idleTimeout(self) -> None:
        """
        A bound session silent for C{idle_timeout} is closed with
        C{connection-timeout} and leaves the router.
        """
        client = StreamClient(self.harness)
        client.login()
        self.clock.advance(99)
        self.assertEqual(client.received(), [])
        self.clock.advance(1)
        [error] = client.received()
        self.assertEqual(streamErrorCondition(error), "connection-timeout")
        self.assertTrue(client.transport.disconnecting)
        self.assertEqual(list(self.harness.node.router.sessionsOf("alice@localhost")), [])

    def test_whitespaceKeepsAlive(self) -> None:
        """
        A bound session sending whitespace keepalives more often than
        C{idle_timeout} stays open.
        """
        client = StreamClient(self.harness)
        client.login()
        for _ in range(10):
            self.clock.advance(60)
            client.send(" ")
        self.assertEqual(client.received(), [])
        self.assertFalse(client.transport.disconnecting)
        self.clock.advance(100)
        [error] = client.received()
        self.assertEqual(streamErrorCondition(error), "connection-timeout")


class RateLimitTests(unittest.TestCase):
    """
    The token bucket on received bytes.
    """

    def setUp(self) -> None:
        self.harness = Harness(
            config=PLAINTEXT + "rate_limit = 1000\nrate_burst = 20000\n"
        )
        self.harness.createUser("alice")
        self.harness.createUser("bob")

    def test_burstPauses(self) -> None:
        """
        More than C{rate_burst} bytes at once pause reading; the transport
        resumes once the bucket has refilled at C{rate_limit} bytes per
        second.
        """
        client = StreamClient(self.harness)
        client.login()
        self.assertEqual(client.transport.producerState, "producing")
        # Login used under 1000 bytes, so 22000 more are 2000 to 3000 over
        # the burst: 2 to 3 seconds at 1000 bytes a second.
        client.send("<presence/>" * 2000)
        self.assertEqual(client.transport.producerState, "paused")
        self.harness.clock.advance(1.9)
        self.assertEqual(client.transport.producerState, "paused")
        self.harness.clock.advance(1.2)
        self.assertEqual(client.transport.producerState, "producing")
        self.assertFalse(client.transport.disconnecting)

    def test_pacedPastBurst(self) -> None:
        """
        Past its burst, one read of a whole socket buffer (64 KiB) is not
        handled at once: its bytes wait, with reading paused, and are
        handled as the bucket refills, at most C{READ_TURN} bytes in one
        turn, so the reactor is never held for long; nothing is lost.
        """
        from xmuc.xmlstream import READ_TURN

        alice = StreamClient(self.harness)
        alice.login("alice")
        bob = StreamClient(self.harness)
        bobJID = bob.login("bob")
        bob.received()
        alice.send(" " * 20000)
        message = f"<message to='{bobJID}' type='chat'><body>x</body></message>"
        count = 65536 // len(message)
        alice.send(message * count)
        self.assertEqual(alice.transport.producerState, "paused")
        delivered, turns = [len(bob.received())], 0
        while sum(delivered) < count and turns < 1000:
            self.harness.clock.advance(0.5)
            delivered.append(len(bob.received()))
            turns += 1
        self.assertEqual(sum(delivered), count)
        self.assertLessEqual(max(delivered), READ_TURN // len(message) + 1)
        # 64 KiB at 1000 bytes a second.
        self.assertGreater(turns * 0.5, 60)
        self.assertEqual(alice.transport.producerState, "producing")

    def test_underBurst(self) -> None:
        """
        Traffic within the burst does not pause.
        """
        client = StreamClient(self.harness)
        client.login()
        client.send("<presence/>" * 1000)
        self.assertEqual(client.transport.producerState, "producing")

    def test_unlimited(self) -> None:
        """
        With C{rate_limit = 0} nothing pauses.
        """
        harness = Harness(config=PLAINTEXT + "rate_limit = 0\nrate_burst = 10\n")
        harness.createUser("alice")
        client = StreamClient(harness)
        client.login()
        client.send("<presence/>" * 5000)
        self.assertEqual(client.transport.producerState, "producing")

    def test_floodDoesNotStarveOthers(self) -> None:
        """
        One client over its rate is paused while another client's
        messages are still delivered.
        """
        alice = StreamClient(self.harness)
        alice.login("alice")
        bob = StreamClient(self.harness)
        bob.login("bob")
        bob.send("<presence/>")
        alice.received()
        bob.received()
        alice.send("<message to='alice@localhost/nobody'/>" * 600)
        self.assertEqual(alice.transport.producerState, "paused")
        bob.send("<message to='alice@localhost/res' id='m1'><body>hi</body></message>")
        delivered = [e for e in alice.received() if e.getAttribute("id") == "m1"]
        self.assertEqual(len(delivered), 1)
        self.assertEqual(str(delivered[0].body), "hi")
        self.assertEqual(bob.transport.producerState, "producing")


class _CountedElement(domish.Element):
    """
    A domish element that counts the C{message} and C{a} elements made
    (those the tests send; not the server's own).
    """

    made = 0

    def __init__(self, qname, *args, **kwargs) -> None:
        if qname[1] in ("message", "a"):
            type(self).made += 1
        super().__init__(qname, *args, **kwargs)


def _live(cls: type) -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o) is cls)


class ParseLimitTests(unittest.TestCase):
    """
    Stanzas too deep, too big or too wide end the stream with
    C{policy-violation} while they are parsed, before the tree grows.
    """

    def setUp(self) -> None:
        self.harness = Harness(config=PLAINTEXT)
        self.harness.createUser("alice")
        self.client = StreamClient(self.harness)

    def assertStreamError(self, condition: str = "policy-violation", text: str | None = None) -> None:
        elements = self.client.received()
        self.assertTrue(elements, "no stream error")
        self.assertEqual(streamErrorCondition(elements[-1]), condition)
        if text is not None:
            self.assertIn(text, elements[-1].toXml())
        self.assertTrue(self.client.transport.disconnecting)

    def assertNoStreamError(self) -> None:
        for element in self.client.received():
            self.assertNotEqual(element.name, "error", element.toXml())
        self.assertFalse(self.client.transport.disconnecting)

    def sendInReads(self, data: bytes, size: int = 65536) -> None:
        for start in range(0, len(data), size):
            if self.client.stream.closed:
                break
            self.client.send(data[start:start + size])

    def test_deepNestingBeforeAuthentication(self) -> None:
        """
        The 255 KB stanza of 85,000 nested elements from an unauthenticated
        client ends the stream within its first read, after no more
        elements than the depth limit were built, and none of them is kept.
        """
        self.client.open()
        self.patch(domish, "Element", _CountedElement)
        self.patch(_CountedElement, "made", 0)
        self.sendInReads(b"<message>" + b"<a>" * 85000)
        self.assertStreamError(text="nested too deeply")
        self.assertLessEqual(_CountedElement.made, 32)
        self.assertEqual(_live(_CountedElement), 0)

    def test_depthLimit(self) -> None:
        """
        Once bound, a stanza nested C{max_depth} deep (the stanza being at
        depth 1) is accepted; one level more ends the stream.
        """
        self.client.login()
        self.client.send(
            "<message to='alice@localhost/res'>" + "<a>" * 31 + "</a>" * 31 + "</message>"
        )
        self.assertNoStreamError()
        self.client.send("<message to='alice@localhost/res'>" + "<a>" * 32)
        self.assertStreamError(text="nested too deeply")

    def test_elementLimit(self) -> None:
        """
        A bound stream may send a stanza of C{max_elements} elements, not
        one more, also flat ones that are never deep.
        """
        self.client.login()
        self.client.send("<message to='alice@localhost/res'>" + "<a/>" * 4999 + "</message>")
        self.assertNoStreamError()
        self.client.send("<message to='alice@localhost/res'>" + "<a/>" * 5000)
        self.assertStreamError(text="too many elements")

    def test_elementLimitBeforeAuthentication(self) -> None:
        """
        Before authentication a stanza may hold C{preauth_max_elements}
        elements: the 101st ends the stream.
        """
        self.client.open()
        self.patch(domish, "Element", _CountedElement)
        self.patch(_CountedElement, "made", 0)
        self.sendInReads(b"<message>" + b"<a/>" * 20000)
        self.assertStreamError(text="too many elements")
        self.assertLessEqual(_CountedElement.made, 100)

    def test_attributeLimit(self) -> None:
        """
        An element with more than C{max_attributes} attributes ends the
        stream; C{max_attributes} are fine.
        """
        self.client.login()
        attributes = " ".join(f"a{i}='x'" for i in range(31))
        self.client.send(f"<message to='alice@localhost/res' {attributes}/>")
        self.assertNoStreamError()
        attributes = " ".join(f"a{i}='x'" for i in range(33))
        self.client.send(f"<message {attributes}/>")
        self.assertStreamError(text="too many attributes")

    def test_namespaceDeclarationsCount(self) -> None:
        """
        Prefixed namespace declarations count as attributes.
        """
        self.client.open()
        declarations = " ".join(f"xmlns:p{i}='urn:x:{i}'" for i in range(31))
        self.client.send(f"<message a='1' b='2' {declarations}/>")
        self.assertStreamError(text="too many attributes")

    def test_sizeBeforeAuthentication(self) -> None:
        """
        Before authentication a stanza over C{preauth_stanza_size} bytes
        ends the stream, in one read or in several; after authentication
        the same stanza is fine.
        """
        self.client.open()
        self.client.send("<message><body>" + "x" * 6000)
        self.client.send("x" * 6000)
        self.assertStreamError(text="stanza too large")
        client = StreamClient(self.harness)
        client.login()
        client.send("<message to='alice@localhost/res'><body>" + "x" * 12000 + "</body></message>")
        self.assertFalse(client.transport.disconnecting)

    def test_sharedParserAfterLimit(self) -> None:
        """
        A bound stream that hits a limit in a pooled parser does not spoil
        the pool: another bound stream on the same pool goes on.
        """
        parsers = self.client.stream._parsers
        self.client.login()
        other = StreamClient(self.harness, parsers=parsers)
        other.login(resource="other")
        other.received()
        self.client.send("<message>" + "<a>" * 40)
        self.assertStreamError()
        other.send("<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>")
        [reply] = other.received()
        self.assertEqual((reply["type"], reply["id"]), ("result", "p1"))


class LimitsFromConfigTests(unittest.TestCase):
    """
    L{ParseLimits.fromSection}: the limits a section sets.
    """

    def test_preauthNeverLarger(self) -> None:
        """
        The pre-authentication limits are never over the authenticated ones
        (an operator lowering max_stanza_size lowers both).
        """
        section = parseConfig(
            "[c2s]\nmax_stanza_size = 10000\npreauth_stanza_size = 20000\n"
            "max_elements = 200\npreauth_max_elements = 300\n"
        ).c2s
        preauth = ParseLimits.fromSection(section, False)
        self.assertEqual((preauth.maxStanzaSize, preauth.maxElements), (10000, 200))
        full = ParseLimits.fromSection(section, True)
        self.assertEqual(
            (full.maxStanzaSize, full.maxDepth, full.maxElements, full.maxAttributes),
            (10000, 32, 200, 32),
        )
