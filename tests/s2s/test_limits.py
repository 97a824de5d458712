# -*- test-case-name: tests.s2s.test_limits -*-
"""
The parse limits and timeouts of server-to-server and component streams,
over in-memory transports on the harness's clock: the small limits before
the peer authenticates, the configured ones after, and timeouts that end
with the transport aborted.
"""

from __future__ import annotations

import os

from twisted.internet import defer
from twisted.internet.testing import StringTransport
from twisted.trial import unittest

from tests.support.harness import Harness
from xmuc.s2s.component import ComponentManager, ComponentStream, handshakeDigest
from xmuc.s2s.incoming import IncomingStream
from xmuc.s2s.manager import S2SManager
from xmuc.s2s.tls import PeerVerifier, S2STLS
from xmuc.tls import generateCertificate

HEADER = (
    b"<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' "
    b"xmlns:db='jabber:server:dialback' from='b.test' to='a.test' version='1.0'>"
)
COMPONENT_HEADER = (
    b"<stream:stream xmlns='jabber:component:accept' "
    b"xmlns:stream='http://etherx.jabber.org/streams' to='gw.a.test'>"
)
NESTED = b"<a>" * 85000


def feed(stream, data: bytes, size: int = 65536) -> int:
    """
    Deliver C{data} in reads of C{size} bytes until the stream closes;
    return how many reads it took.
    """
    reads = 0
    for start in range(0, len(data), size):
        if stream.closed:
            break
        stream.dataReceived(data[start:start + size])
        reads += 1
    return reads


class IncomingLimitTests(unittest.TestCase):
    """
    An incoming s2s stream parses under the pre-authentication limits until
    a domain is authenticated on it.
    """

    def setUp(self) -> None:
        self.harness = Harness(domain="a.test", config="[s2s]\nrequire_tls = false\n")
        self.manager = S2SManager(self.harness.node, None, None, PeerVerifier(""))
        self.harness.node.router.remote = self.manager
        self.stream = IncomingStream(self.manager)
        self.transport = StringTransport()
        self.stream.makeConnection(self.transport)
        self.stream.dataReceived(HEADER)

    def authenticate(self) -> None:
        self.harness.login("alice")
        self.patch(self.manager, "verifyDialback", lambda *args: defer.succeed(True))
        self.stream.dataReceived(b"<db:result from='b.test' to='a.test'>k</db:result>")
        self.assertIn(b"type='valid'", self.transport.value())
        self.transport.clear()

    def test_deepNestingBeforeAuthentication(self) -> None:
        """
        An unauthenticated peer's deeply nested stanza ends the stream with
        C{policy-violation} in its first read, and the parser, with the
        partial stanza, is let go at once.
        """
        self.assertEqual(feed(self.stream, b"<db:result>" + NESTED), 1)
        self.assertIn(b"<policy-violation", self.transport.value())
        self.assertIn(b"nested too deeply", self.transport.value())
        self.assertIsNone(self.stream._parser)

    def test_sizeBeforeAndAfterAuthentication(self) -> None:
        """
        A 12,000-byte stanza is over C{preauth_stanza_size} before
        authentication and fine after dialback succeeded.
        """
        big = b"<message from='x@b.test' to='alice@a.test/res'><body>" + b"x" * 12000 + b"</body></message>"
        self.authenticate()
        self.stream.dataReceived(big)
        self.assertNotIn(b"stream:error", self.transport.value())
        other = IncomingStream(self.manager)
        transport = StringTransport()
        other.makeConnection(transport)
        other.dataReceived(HEADER + big)
        self.assertIn(b"<policy-violation", transport.value())

    def test_elementsAfterAuthentication(self) -> None:
        """
        Authenticated, a peer may send up to [s2s] C{max_elements} (10,000)
        elements in a stanza; more ends the stream.
        """
        self.authenticate()
        self.stream.dataReceived(
            b"<message from='x@b.test' to='alice@a.test/res'>" + b"<a/>" * 9999 + b"</message>"
        )
        self.assertNotIn(b"stream:error", self.transport.value())
        feed(self.stream, b"<message from='x@b.test' to='alice@a.test/res'>" + b"<a/>" * 10000)
        # What is over the byte-rate budget is read as the budget refills.
        self.harness.clock.advance(1)
        self.assertIn(b"too many elements", self.transport.value())

    def test_unauthenticatedTimeoutAborts(self) -> None:
        """
        A peer that does not authenticate gets C{connection-timeout}, and
        its connection is aborted if still there C{close_timeout} later.
        """
        self.harness.clock.advance(30)
        self.assertIn(b"<connection-timeout", self.transport.value())
        self.assertFalse(self.transport.disconnected)
        self.harness.clock.advance(5)
        self.assertTrue(self.transport.disconnected)


class ComponentLimitTests(unittest.TestCase):
    """
    A component stream parses under the [s2s] pre-authentication limits
    until its handshake, and must send it within [components]
    C{auth_timeout}.
    """

    def setUp(self) -> None:
        self.harness = Harness(
            domain="a.test", config="[component:gw.a.test]\nsecret = sesame\n"
        )
        self.manager = ComponentManager(self.harness.node)
        self.stream = ComponentStream(self.manager)
        self.transport = StringTransport()
        self.stream.makeConnection(self.transport)
        self.stream.dataReceived(COMPONENT_HEADER)

    def test_deepNestingBeforeHandshake(self) -> None:
        """
        Deep nesting before the handshake ends the stream with
        C{policy-violation} in the first read.
        """
        self.assertEqual(feed(self.stream, b"<handshake>" + NESTED), 1)
        self.assertIn(b"<policy-violation", self.transport.value())

    def test_largeStanzaAfterHandshake(self) -> None:
        """
        After the handshake the [s2s] limits apply: a 12,000-byte stanza is
        routed.
        """
        digest = handshakeDigest(self.stream.streamId, "sesame")
        self.stream.dataReceived(f"<handshake>{digest}</handshake>".encode())
        self.stream.dataReceived(
            b"<message from='bot@gw.a.test' to='nobody@a.test'><body>"
            + b"x" * 12000 + b"</body></message>"
        )
        self.assertNotIn(b"stream:error", self.transport.value())

    def test_handshakeTimeout(self) -> None:
        """
        No handshake within C{auth_timeout} (30 s): C{connection-timeout},
        then the transport is aborted C{close_timeout} later if still
        there.
        """
        self.harness.clock.advance(29.9)
        self.assertNotIn(b"stream:error", self.transport.value())
        self.harness.clock.advance(0.1)
        self.assertIn(b"<connection-timeout", self.transport.value())
        self.harness.clock.advance(5)
        self.assertTrue(self.transport.disconnected)


class _RecordingTLSTransport(StringTransport):
    """
    A L{StringTransport} that records C{startTLS} without a handshake.
    """

    creator = None

    def startTLS(self, creator) -> None:
        self.creator = creator


class IncomingHandshakeTimeoutTests(unittest.TestCase):
    """
    An incoming s2s stream whose peer goes silent after C{<proceed/>}.
    """

    def setUp(self) -> None:
        directory = self.mktemp()
        cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
        generateCertificate("a.test", cert, key)
        self.harness = Harness(domain="a.test")
        self.manager = S2SManager(self.harness.node, None, S2STLS(cert, key), PeerVerifier(""))
        self.stream = IncomingStream(self.manager)
        self.transport = _RecordingTLSTransport()
        self.stream.makeConnection(self.transport)
        self.stream.dataReceived(HEADER)
        self.stream.dataReceived(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        self.assertIsNotNone(self.transport.creator)

    def test_silentAfterProceed(self) -> None:
        """
        The transport is aborted after [s2s] C{tls_handshake_timeout}
        (10 s), long before the 30 s the peer has to authenticate.
        """
        self.harness.clock.advance(9.9)
        self.assertFalse(self.transport.disconnected)
        self.harness.clock.advance(0.1)
        self.assertTrue(self.transport.disconnected)
        self.assertTrue(self.stream.closed)
