# -*- test-case-name: tests.s2s.test_unauthenticated -*-
"""
What a peer that has not authenticated can make the node do, over
in-memory transports and a L{task.Clock}: a bounded number of dialback
requests per stream, of verifications per stream and node-wide, of
unauthenticated streams per address and in all, and a stricter read rate
until a domain authenticates. The [peer:DOMAIN] policy a stream applies
inherits from [s2s].
"""

from __future__ import annotations

from twisted.internet import defer
from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport
from twisted.logger import Logger, formatEvent
from twisted.trial import unittest

from tests.support.harness import Harness
from xmuc.s2s.dialback import dialbackKey
from xmuc.s2s.incoming import IncomingStream
from xmuc.s2s.manager import S2SManager
from xmuc.s2s.tls import PeerVerifier

HEADER = (
    "<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' "
    "xmlns:db='jabber:server:dialback' from='{sender}' to='a.test' version='1.0'>"
)
BASE = "[s2s]\ndialback_secret = s3cret\nrequire_tls = false\n"
POLICY_VIOLATION = b"<policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"


def verify(number: int) -> bytes:
    return f"<db:verify from='b.test' to='a.test' id='S{number}'>k{number}</db:verify>".encode()


def result(domain: str) -> bytes:
    return f"<db:result from='{domain}' to='a.test'>key</db:result>".encode()


class UnauthenticatedTestCase(unittest.TestCase):
    config = ""

    def setUp(self) -> None:
        self.harness = Harness(domain="a.test", config=BASE + self.config)
        self.manager = S2SManager(self.harness.node, None, None, PeerVerifier(""))
        self.harness.node.router.remote = self.manager
        #: The verifications asked for, each (domain, Deferred).
        self.verifications: list[tuple[str, defer.Deferred]] = []
        self.manager.verifyDialback = self.fakeVerify

    def fakeVerify(self, originating: str, receiving: str, streamId: str, key: str) -> defer.Deferred:
        d: defer.Deferred = defer.Deferred()
        self.verifications.append((originating, d))
        return d

    def connect(
        self, sender: str = "b.test", host: str = "10.0.0.1"
    ) -> tuple[IncomingStream, StringTransport]:
        stream = IncomingStream(self.manager)
        transport = StringTransport(peerAddress=IPv4Address("TCP", host, 40000))
        stream.makeConnection(transport)
        stream.dataReceived(HEADER.format(sender=sender).encode())
        return stream, transport


class DialbackRequestTests(UnauthenticatedTestCase):
    def test_verifyFlood(self) -> None:
        """
        20,000 db:verify requests in one read on an unauthenticated stream:
        the first unauth_dialback_requests are answered, then the stream
        ends with policy-violation; the node computes no more keys than
        that.
        """
        keys = []
        original = self.manager.dialbackKey
        self.manager.dialbackKey = lambda *args: (keys.append(args), original(*args))[1]
        stream, transport = self.connect()
        stream.dataReceived(b"".join(verify(number) for number in range(20000)))
        data = transport.value()
        self.assertEqual(len(keys), 16)
        self.assertEqual(data.count(b"<verify "), 16)
        self.assertIn(POLICY_VIOLATION, data)
        self.assertIn(b"too many dialback requests before authentication", data)
        self.assertTrue(transport.disconnecting)
        stream.dataReceived(verify(1))
        self.assertEqual(len(keys), 16)

    def test_resultsCount(self) -> None:
        """
        db:result requests count against the same bound as db:verify.
        """
        stream, transport = self.connect()
        stream.dataReceived(b"".join(verify(number) for number in range(10)))
        stream.dataReceived(b"".join(result(f"d{number}.test") for number in range(7)))
        self.assertEqual(len(self.verifications), 6)
        self.assertIn(POLICY_VIOLATION, transport.value())

    def test_authenticatedStreamNotBounded(self) -> None:
        """
        Once a domain authenticated on the stream, db:verify requests are
        answered past the bound (its byte rate still applies).
        """
        stream, transport = self.connect()
        stream.dataReceived(result("b.test"))
        self.verifications[0][1].callback(True)
        key = dialbackKey("s3cret", "b.test", "a.test", "S1")
        stream.dataReceived(
            f"<db:verify from='b.test' to='a.test' id='S1'>{key}</db:verify>".encode() * 40
        )
        self.assertEqual(transport.value().count(b"type='valid'"), 41)
        self.assertFalse(transport.disconnecting)

    def test_pendingPerStream(self) -> None:
        """
        A stream with dialback_pending db:result verifications waiting is
        ended with policy-violation by one more; the node asks for no more.
        """
        stream, transport = self.connect()
        stream.dataReceived(b"".join(result(f"d{number}.test") for number in range(9)))
        self.assertEqual(len(self.verifications), 8)
        self.assertIn(b"too many dialback requests waiting", transport.value())

    def test_pendingAnsweredMakesRoom(self) -> None:
        """
        An answered verification frees its place on the stream.
        """
        stream, transport = self.connect()
        stream.dataReceived(b"".join(result(f"d{number}.test") for number in range(8)))
        self.verifications[0][1].callback(None)
        stream.dataReceived(result("d8.test"))
        self.assertEqual(len(self.verifications), 9)
        self.assertNotIn(POLICY_VIOLATION, transport.value())


class NodeWideVerificationTests(UnauthenticatedTestCase):
    config = "dialback_pending_max = 2\n"

    def test_nodeWideBound(self) -> None:
        """
        With dialback_pending_max verifications under way, a db:result on
        another stream is answered type='error' with resource-constraint
        (to retry later) and its stream stays open; once one verification
        ends, the next is taken.
        """
        first, _ = self.connect(host="10.0.0.1")
        first.dataReceived(result("b.test") + result("c.test"))
        second, transport = self.connect(sender="e.test", host="10.0.0.2")
        second.dataReceived(result("e.test"))
        self.assertEqual(len(self.verifications), 2)
        data = transport.value()
        self.assertIn(b"type='error'", data)
        self.assertIn(b"<error type='wait'><resource-constraint", data)
        self.assertFalse(transport.disconnecting)
        self.verifications[0][1].callback(False)
        second.dataReceived(result("e.test"))
        self.assertEqual([domain for domain, _ in self.verifications], ["b.test", "c.test", "e.test"])

    def test_closedStreamFreesItsVerifications(self) -> None:
        """
        Verifications of a stream that ended are given back when they
        finish, and their answer is not written.
        """
        first, transport = self.connect()
        first.dataReceived(result("b.test") + result("c.test"))
        first.connectionLost(None)
        for _, d in self.verifications:
            d.callback(True)
        self.assertEqual(self.manager.guard.verifications, 0)
        self.assertNotIn(b"type='valid'", transport.value())


class StreamCountTests(UnauthenticatedTestCase):
    config = "unauth_streams_per_address = 2\nunauth_streams_max = 3\n"

    def test_perAddress(self) -> None:
        """
        A third unauthenticated stream from one address ends at once with
        policy-violation; another address still gets in; a stream that
        authenticates or ends frees its place.
        """
        one, _ = self.connect(host="10.0.0.1")
        two, _ = self.connect(host="10.0.0.1")
        three, transport = self.connect(host="10.0.0.1")
        self.assertIn(POLICY_VIOLATION, transport.value())
        self.assertIn(b"too many unauthenticated streams from your address", transport.value())
        self.assertTrue(transport.disconnecting)
        three.connectionLost(None)
        other, transport = self.connect(host="10.0.0.2")
        self.assertFalse(transport.disconnecting)
        one.dataReceived(result("b.test"))
        self.verifications[0][1].callback(True)
        self.assertEqual(one.authenticated, {"b.test": "dialback"})
        four, transport = self.connect(host="10.0.0.1")
        self.assertFalse(transport.disconnecting)
        two.connectionLost(None)
        five, transport = self.connect(host="10.0.0.1")
        self.assertFalse(transport.disconnecting)

    def test_total(self) -> None:
        """
        Past unauth_streams_max unauthenticated streams in all, a new one
        ends at once with resource-constraint.
        """
        for host in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
            self.connect(host=host)
        stream, transport = self.connect(host="10.0.0.4")
        self.assertIn(b"<resource-constraint xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>",
                      transport.value())
        self.assertTrue(transport.disconnecting)


class RateTests(UnauthenticatedTestCase):
    config = "unauth_rate_limit = 1000\nunauth_rate_burst = 5000\n"

    def test_stricterRateBeforeAuthentication(self) -> None:
        """
        Before authentication, reading pauses once the peer is past
        unauth_rate_burst and resumes after unauth_rate_limit refills it;
        once a domain authenticated the stream gets [s2s] rate_limit and
        rate_burst.
        """
        stream, transport = self.connect()
        stream.dataReceived(b" " * 4000)
        self.assertEqual(transport.producerState, "producing")
        stream.dataReceived(b" " * 2000)
        self.assertEqual(transport.producerState, "paused")
        self.harness.clock.advance(2)
        self.assertEqual(transport.producerState, "producing")
        stream.dataReceived(result("b.test"))
        self.verifications[0][1].callback(True)
        self.assertEqual((stream.rateLimit, stream.rateBurst), (1048576, 4194304))
        self.harness.clock.advance(10)
        stream.dataReceived(b" " * 100000)
        self.assertEqual(transport.producerState, "producing")


class InheritedPolicyTests(UnauthenticatedTestCase):
    config = "dialback = false\n[peer:b.test]\nrequire_tls = false\n"

    def test_peerSectionKeepsDialbackOff(self) -> None:
        """
        [s2s] dialback = false holds for a peer whose section sets only
        require_tls: dialback is not offered, and a db:result is refused
        with not-acceptable without any verification.
        """
        stream, transport = self.connect()
        self.assertNotIn(b"urn:xmpp:features:dialback", transport.value())
        stream.dataReceived(result("b.test"))
        self.assertIn(b"<not-acceptable", transport.value())
        self.assertEqual(self.verifications, [])


class ConnectionRateTests(UnauthenticatedTestCase):
    config = "incoming_rate = 1\nincoming_burst = 2\n"

    def test_rate(self) -> None:
        """
        An address that opens streams faster than incoming_rate past a
        burst of incoming_burst has the next one ended at once with
        policy-violation, authenticated or not; a second later it may
        open one more.
        """
        for _ in range(2):
            stream, transport = self.connect()
            stream.authenticated["b.test"] = "EXTERNAL"
        stream, transport = self.connect()
        self.assertIn(POLICY_VIOLATION, transport.value())
        self.assertIn(b"slow down", transport.value())
        self.harness.clock.advance(1)
        stream, transport = self.connect()
        self.assertFalse(transport.disconnecting)

    def test_refusalsLogSparingly(self) -> None:
        """
        A flood of refused connections from one address is logged on the
        1st, 2nd, 4th, 8th ... refusal, with the count and the address,
        not once per connection.
        """
        lines: list[str] = []
        observer = lambda event: lines.append(formatEvent(event))  # noqa: E731
        self.manager.log = Logger(observer=observer)
        self.patch(IncomingStream, "log", Logger(observer=observer))
        for _ in range(2 + 100):
            self.connect()
        self.assertEqual(len(lines), 7)
        self.assertTrue(all(line.startswith("Refused") for line in lines))
        self.assertIn("Refused 64 s2s stream(s) from 10.0.0.1", lines[-1])
