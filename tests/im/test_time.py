# -*- test-case-name: tests.im.test_time -*-
"""
Tests for L{xmuc.im.time}: XEP-0202 of the server, from the node's clock.
"""

from __future__ import annotations

from twisted.trial import unittest

from tests.support.harness import Harness
from xmuc.im.time import formatUTC

FEATURES = ("xmuc.im.delivery", "xmuc.im.time")
REQUEST = "<iq type='get' id='t1' to='localhost'><time xmlns='urn:xmpp:time'/></iq>"


class TimeTests(unittest.TestCase):
    def setUp(self) -> None:
        self.harness = Harness(features=FEATURES)
        self.alice = self.harness.login("alice")

    def ask(self):
        self.alice.send(REQUEST)
        [reply] = self.alice.received()
        self.assertEqual(reply["type"], "result")
        return reply.time

    def test_utcFromClock(self) -> None:
        """
        The time is the node clock's, in UTC with a zero offset.
        """
        self.harness.clock.advance(0.25)
        time = self.ask()
        self.assertEqual(str(time.tzo), "+00:00")
        self.assertEqual(str(time.utc), "2023-11-14T22:13:20.250Z")

    def test_followsClock(self) -> None:
        """
        Advancing the clock advances the answer.
        """
        self.harness.clock.advance(3600)
        self.assertEqual(str(self.ask().utc), "2023-11-14T23:13:20.000Z")

    def test_formatUTC(self) -> None:
        """
        L{formatUTC} writes an XEP-0082 DateTime with milliseconds.
        """
        self.assertEqual(formatUTC(0), "1970-01-01T00:00:00.000Z")
        self.assertEqual(formatUTC(86400.5), "1970-01-02T00:00:00.500Z")

    def test_feature(self) -> None:
        """
        The domain advertises C{urn:xmpp:time}.
        """
        self.assertIn("urn:xmpp:time", self.harness.node.serverFeatures)
