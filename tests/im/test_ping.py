# -*- test-case-name: tests.im.test_ping -*-
"""
Tests for L{xmuc.im.ping}: XEP-0199 answered by the server.
"""

from __future__ import annotations

from twisted.trial import unittest

from tests.im.test_disco import errorCondition
from tests.support.harness import Harness

FEATURES = ("xmuc.im.delivery", "xmuc.im.ping")
PING = "<iq type='get' id='p1'{to}><ping xmlns='urn:xmpp:ping'/></iq>"


class PingTests(unittest.TestCase):
    def setUp(self) -> None:
        self.harness = Harness(features=FEATURES)
        self.alice = self.harness.login("alice")

    def ping(self, to: str | None):
        self.alice.send(PING.format(to=f" to='{to}'" if to else ""))
        [reply] = self.alice.received()
        self.assertEqual(reply["id"], "p1")
        return reply

    def test_server(self) -> None:
        """
        A ping to the domain is answered with an empty result from it.
        """
        reply = self.ping("localhost")
        self.assertEqual(reply["type"], "result")
        self.assertEqual(reply["from"], "localhost")
        self.assertEqual(list(reply.elements()), [])

    def test_ownAccount(self) -> None:
        """
        A ping without C{to} is answered on the account's behalf.
        """
        reply = self.ping(None)
        self.assertEqual(reply["type"], "result")

    def test_otherAccount(self) -> None:
        """
        A ping to another existing account's bare JID gets a result from
        that bare JID.
        """
        self.harness.createUser("bob")
        reply = self.ping("bob@localhost")
        self.assertEqual(reply["type"], "result")
        self.assertEqual(reply["from"], "bob@localhost")

    def test_missingAccount(self) -> None:
        """
        A ping to an account that does not exist is C{service-unavailable}.
        """
        self.assertEqual(errorCondition(self.ping("nobody@localhost")), "service-unavailable")

    def test_features(self) -> None:
        """
        Both the domain and accounts advertise C{urn:xmpp:ping}.
        """
        node = self.harness.node
        self.assertIn("urn:xmpp:ping", node.serverFeatures)
        self.assertIn("urn:xmpp:ping", node.accountFeatures)
