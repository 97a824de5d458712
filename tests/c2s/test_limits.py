# -*- test-case-name: tests.c2s.test_limits -*-
"""
Tests for the limits of L{xmuc.c2s.stream}: authentication and idle
timeouts on a L{task.Clock}, and the per-connection rate limit.
"""

from __future__ import annotations

from twisted.trial import unittest

from tests.c2s import StreamClient, streamErrorCondition
from tests.support.harness import Harness

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
