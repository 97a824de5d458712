# -*- test-case-name: tests.s2s.test_federation -*-
"""
Two xmuc nodes federating on loopback: subscriptions, presence and
messages across them, with certificate authentication (SASL EXTERNAL) and
with dialback; bounces when the peer is down, and reconnection.
"""

from __future__ import annotations

from tests.integration.support import EventWaiter, asyncTest, wait
from tests.s2s.support import FederationTestCase


class Exchange:
    def assertAuthenticated(self, local: str, remote: str, method: str) -> None:
        """
        C{remote} accepted C{local} on an incoming stream with C{method}.
        """
        methods = {}
        for stream in self.node(remote).s2s.incoming:
            methods.update(stream.authenticated)
        self.assertEqual(methods.get(local), method)

    async def exchange(self, alice=None, bob=None) -> tuple:
        """
        alice@a.test and bob@b.test (or the two given clients) subscribe to
        each other, see each other's presence and exchange messages both
        ways.
        """
        alice = alice or await self.client("alice@a.test/phone")
        bob = bob or await self.client("bob@b.test/laptop")
        aliceJID, bobJID = alice.boundjid, bob.boundjid
        alicePresence = EventWaiter(alice, "presence_available")
        bobPresence = EventWaiter(bob, "presence_available")
        aliceMessages = EventWaiter(alice, "message")
        bobMessages = EventWaiter(bob, "message")
        alice.send_presence_subscription(pto=bobJID.bare)
        seen = await alicePresence.next(lambda p: p["from"].bare == bobJID.bare)
        self.assertEqual(seen["from"].full, bobJID.full)
        await bobPresence.next(lambda p: p["from"].bare == aliceJID.bare)
        alice.send_message(mto=bobJID.full, mbody="hello from alice", mtype="chat")
        message = await bobMessages.next(lambda m: m["body"])
        self.assertEqual((message["from"].full, message["body"]), (aliceJID.full, "hello from alice"))
        bob.send_message(mto=aliceJID.bare, mbody="hello from bob", mtype="chat")
        message = await aliceMessages.next(lambda m: m["body"])
        self.assertEqual((message["from"].full, message["body"]), (bobJID.full, "hello from bob"))
        return alice, bob


class CertificateFederationTests(Exchange, FederationTestCase):
    """
    Nodes with certificates from a CA they trust authenticate with SASL
    EXTERNAL, with dialback not allowed.
    """

    s2sConfig = "require_valid_certificate = true\ndialback = false\n"

    @asyncTest
    async def test_exchange(self) -> None:
        """
        Subscription, presence and messages cross in both directions, and
        both links are up.
        """
        await self.exchange()
        for local, remote in (("a.test", "b.test"), ("b.test", "a.test")):
            self.assertEqual(self.node(local).s2s.linkState(remote), "up")
            self.assertAuthenticated(local, remote, "EXTERNAL")

    @asyncTest
    async def test_bounceWhenPeerDown(self) -> None:
        """
        A message to a domain whose node is down comes back to the sender
        with remote-server-not-found, and the link reports down.
        """
        await wait(self.stopNode("b.test"))
        alice = await self.client("alice@a.test/phone")
        events = []
        self.node("a.test").s2s.watch(events.append, "b.test")
        errors = EventWaiter(alice, "message_error")
        alice.send_message(mto="bob@b.test", mbody="anyone?", mtype="chat")
        error = await errors.next()
        self.assertEqual(error["error"]["condition"], "remote-server-not-found")
        self.assertEqual(self.node("a.test").s2s.linkState("b.test"), "down")
        self.assertEqual(
            [type(e).__name__ for e in events], ["Bounced", "LinkDown"]
        )

    @asyncTest
    async def test_unknownDomain(self) -> None:
        """
        A message to a domain that cannot be resolved comes back with
        remote-server-not-found.
        """
        alice = await self.client("alice@a.test/phone")
        errors = EventWaiter(alice, "message_error")
        alice.send_message(mto="someone@nowhere.test", mbody="hello?", mtype="chat")
        error = await errors.next()
        self.assertEqual(error["error"]["condition"], "remote-server-not-found")
        self.assertIn("cannot resolve nowhere.test", error["error"]["text"])

    @asyncTest
    async def test_reconnect(self) -> None:
        """
        After the peer restarts, the next message reopens the link and
        arrives.
        """
        alice, bob = await self.exchange()
        await wait(self.stopNode("b.test"))
        await wait(self.startNode("b.test"))
        bob = await self.client("bob@b.test/laptop")
        messages = EventWaiter(bob, "message")
        alice.send_message(mto="bob@b.test/laptop", mbody="again", mtype="chat")
        message = await messages.next(lambda m: m["body"])
        self.assertEqual(message["body"], "again")


class DialbackFederationTests(Exchange, FederationTestCase):
    """
    Nodes with self-signed certificates fall back to dialback over TLS.
    """

    certificates = "self"

    @asyncTest
    async def test_exchange(self) -> None:
        """
        Subscription, presence and messages cross in both directions over
        dialback-authenticated streams.
        """
        await self.exchange()
        for local, remote in (("a.test", "b.test"), ("b.test", "a.test")):
            self.assertEqual(self.node(local).s2s.linkState(remote), "up")
            self.assertAuthenticated(local, remote, "dialback")
