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
        self.assertEqual(error["error"]["text"], "The server nowhere.test could not be reached")

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


class SubdomainFederationTests(FederationTestCase):
    """
    A service on a subdomain of a node (here an external component,
    gw.a.test; the MUC service works the same way) federates under its own
    name: links from and to gw.a.test authenticate with its certificate
    name (*.a.test).
    """

    s2sConfig = "require_valid_certificate = true\ndialback = false\n"

    def configText(self, domain: str) -> str:
        text = super().configText(domain)
        if domain == "a.test":
            text += "[components]\nlisten = 127.0.0.1:0\n[component:gw.a.test]\nsecret = s\n"
        return text

    @asyncTest
    async def test_subdomain(self) -> None:
        """
        bob@b.test reaches bot@gw.a.test and gets its answer, over links
        authenticated as b.test and as gw.a.test.
        """
        import asyncio
        import re

        from tests.integration.support import readUntil
        from xmuc.s2s.component import handshakeDigest

        self.addHost("gw.a.test", self.s2sPorts["a.test"])
        port = self.services["a.test"].listening["components"][0].getHost().port
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        self.raw.append(writer)
        writer.write(b"<stream:stream xmlns='jabber:component:accept' "
                     b"xmlns:stream='http://etherx.jabber.org/streams' to='gw.a.test'>")
        header = (await readUntil(reader, b">")).decode()
        streamId = re.search(r"id='([^']+)'", header).group(1)
        writer.write(f"<handshake>{handshakeDigest(streamId, 's')}</handshake>".encode())
        await readUntil(reader, b"<handshake/>")
        bob = await self.client("bob@b.test/laptop")
        messages = EventWaiter(bob, "message")
        bob.send_message(mto="bot@gw.a.test", mbody="ping", mtype="chat")
        data = (await readUntil(reader, b"</message>")).decode()
        self.assertIn("from='bob@b.test/laptop'", data)
        writer.write(b"<message from='bot@gw.a.test' to='bob@b.test/laptop' type='chat'>"
                     b"<body>pong</body></message>")
        message = await messages.next(lambda m: m["body"])
        self.assertEqual((message["from"].full, message["body"]), ("bot@gw.a.test", "pong"))
        link = self.node("a.test").s2s.links[("gw.a.test", "b.test")]
        self.assertEqual((link.state, link.stream.method), ("up", "EXTERNAL"))
