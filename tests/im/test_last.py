# -*- test-case-name: tests.im.test_last -*-
"""
Tests for L{xmuc.im.last}: XEP-0012 uptime and accounts' last activity.
"""

from __future__ import annotations

from twisted.trial import unittest

from tests.im.test_disco import errorCondition
from tests.support.harness import Harness
from xmuc.storage.interfaces import LastActivity, RosterItem

FEATURES = ("xmuc.im.delivery", "xmuc.im.last")


class LastActivityTests(unittest.TestCase):
    def setUp(self) -> None:
        self.harness = Harness(features=FEATURES)
        self.bob = self.harness.login("bob")
        self.harness.createUser("alice")

    def ask(self, client, to: str | None):
        address = f" to='{to}'" if to else ""
        client.send(f"<iq type='get' id='l1'{address}><query xmlns='jabber:iq:last'/></iq>")
        [reply] = client.received()
        self.assertEqual(reply["id"], "l1")
        return reply

    def subscribe(self, subscription: str) -> None:
        """
        Put bob in alice's roster with this subscription state.
        """
        self.harness.store.setRosterItem(
            "alice", RosterItem("bob@localhost", subscription=subscription)
        )

    def test_uptime(self) -> None:
        """
        The domain answers with the seconds since the node started.
        """
        self.harness.clock.advance(42.7)
        reply = self.ask(self.bob, "localhost")
        self.assertEqual(reply["type"], "result")
        self.assertEqual(reply.query["seconds"], "42")

    def test_subscriberOffline(self) -> None:
        """
        A contact subscribed to an offline account gets the seconds since
        it went offline and the status it left with.
        """
        self.subscribe("from")
        now = self.harness.clock.seconds()
        self.harness.store.setLastActivity("alice", LastActivity(now, "Gone fishing"))
        self.harness.clock.advance(903)
        reply = self.ask(self.bob, "alice@localhost")
        self.assertEqual(reply["type"], "result")
        self.assertEqual(reply["from"], "alice@localhost")
        self.assertEqual(reply.query["seconds"], "903")
        self.assertEqual(str(reply.query), "Gone fishing")

    def test_bothSubscription(self) -> None:
        """
        A subscription C{both} allows the request too.
        """
        self.subscribe("both")
        self.harness.store.setLastActivity("alice", LastActivity(self.harness.clock.seconds()))
        self.assertEqual(self.ask(self.bob, "alice@localhost")["type"], "result")

    def test_notSubscribed(self) -> None:
        """
        A contact not subscribed to the account's presence is refused.
        """
        self.subscribe("to")
        self.harness.store.setLastActivity("alice", LastActivity(self.harness.clock.seconds()))
        self.assertEqual(errorCondition(self.ask(self.bob, "alice@localhost")), "forbidden")

    def test_stranger(self) -> None:
        """
        Somebody not in the roster at all is refused.
        """
        self.assertEqual(errorCondition(self.ask(self.bob, "alice@localhost")), "forbidden")

    def test_online(self) -> None:
        """
        An account with an available resource was active zero seconds
        ago.
        """
        self.subscribe("from")
        alice = self.harness.login("alice")
        alice.session.available = True
        reply = self.ask(self.bob, "alice@localhost")
        self.assertEqual(reply.query["seconds"], "0")

    def test_boundButUnavailable(self) -> None:
        """
        A bound resource that sent no available presence does not count
        as online.
        """
        self.subscribe("from")
        self.harness.login("alice")
        self.harness.store.setLastActivity("alice", LastActivity(self.harness.clock.seconds() - 5))
        self.assertEqual(self.ask(self.bob, "alice@localhost").query["seconds"], "5")

    def test_self(self) -> None:
        """
        An account may always ask about itself.
        """
        self.harness.store.setLastActivity("bob", LastActivity(self.harness.clock.seconds() - 60))
        reply = self.ask(self.bob, None)
        self.assertEqual(reply.query["seconds"], "60")

    def test_neverSeen(self) -> None:
        """
        An account with no recorded activity answers C{item-not-found}.
        """
        self.subscribe("from")
        self.assertEqual(errorCondition(self.ask(self.bob, "alice@localhost")), "item-not-found")

    def test_missingAccount(self) -> None:
        """
        An account that does not exist answers C{service-unavailable}.
        """
        self.assertEqual(
            errorCondition(self.ask(self.bob, "nobody@localhost")), "service-unavailable"
        )
