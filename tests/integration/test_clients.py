# -*- test-case-name: tests.integration.test_clients -*-
"""
A real node on a loopback port, driven by slixmpp (a real third-party
client): login with every SASL mechanism slixmpp implements, roster,
subscriptions, presence, messages, carbons and offline delivery.
"""

from __future__ import annotations

import asyncio

from tests.integration.support import (
    AuthenticationFailed,
    EventWaiter,
    NodeTestCase,
    asyncTest,
    wait,
)


class LoginTests(NodeTestCase):
    """
    slixmpp logs in over STARTTLS and direct TLS with each mechanism.
    """

    async def _login(self, mechanism: str | None, directTLS: bool = False) -> None:
        await self.createUser("alice")
        client = await self.client(
            "alice@localhost/phone", mechanism=mechanism, directTLS=directTLS
        )
        self.assertEqual(str(client.boundjid), "alice@localhost/phone")
        session = self.node.router.session("alice@localhost", "phone")
        self.assertIsNotNone(session)
        self.assertTrue(session.stream.secure)

    @asyncTest
    async def test_scramSHA256(self) -> None:
        """
        SCRAM-SHA-256 over STARTTLS binds the requested resource.
        """
        await self._login("SCRAM-SHA-256")

    @asyncTest
    async def test_scramSHA1(self) -> None:
        """
        SCRAM-SHA-1 over STARTTLS works.
        """
        await self._login("SCRAM-SHA-1")

    @asyncTest
    async def test_plain(self) -> None:
        """
        PLAIN over STARTTLS works (checked against the stored SCRAM keys).
        """
        await self._login("PLAIN")

    @asyncTest
    async def test_directTLS(self) -> None:
        """
        The direct-TLS listener (XEP-0368) accepts a login.
        """
        await self._login("SCRAM-SHA-256", directTLS=True)

    @asyncTest
    async def test_wrongPassword(self) -> None:
        """
        A wrong password fails authentication, and the node keeps serving:
        the right password works right after.
        """
        await self.createUser("alice")
        with self.assertRaises(AuthenticationFailed):
            await self.client("alice@localhost/a", password="wrong", mechanism="SCRAM-SHA-256")
        client = await self.client("alice@localhost/b")
        self.assertEqual(str(client.boundjid), "alice@localhost/b")

    @asyncTest
    async def test_serverGeneratedResource(self) -> None:
        """
        A client that asks for no resource gets one from the server.
        """
        await self.createUser("alice")
        client = await self.client("alice@localhost")
        self.assertTrue(client.boundjid.resource)
        self.assertEqual(client.boundjid.bare, "alice@localhost")

    @asyncTest
    async def test_resourceConflict(self) -> None:
        """
        A second login with the same full JID replaces the first session.
        """
        await self.createUser("alice")
        first = await self.client("alice@localhost/same")
        errors = EventWaiter(first, "stream_error")
        await self.client("alice@localhost/same")
        error = await errors.next()
        self.assertEqual(error["condition"], "conflict")
        sessions = list(self.node.router.sessionsOf("alice@localhost"))
        self.assertEqual(len(sessions), 1)


class ChatTests(NodeTestCase):
    """
    Two users subscribe to each other, see presence and exchange messages.
    """

    @asyncTest
    async def test_subscriptionPresenceAndMessages(self) -> None:
        """
        Alice asks Bob for a subscription, Bob approves and asks back; both
        rosters end at C{both}, each sees the other online, and messages
        travel both ways.
        """
        await self.createUser("alice")
        await self.createUser("bob")
        alice = await self.client("alice@localhost/a")
        bob = await self.client("bob@localhost/b")
        for client in (alice, bob):
            client.auto_authorize = True
            client.auto_subscribe = True
            await client.get_roster()
        aliceSees = EventWaiter(alice, "got_online")
        bobSees = EventWaiter(bob, "got_online")
        alice.send_presence_subscription("bob@localhost")
        await aliceSees.next(lambda p: p["from"].bare == "bob@localhost")
        await bobSees.next(lambda p: p["from"].bare == "alice@localhost")
        await wait(self._rosterReaches(alice, "bob@localhost", "both"))
        await wait(self._rosterReaches(bob, "alice@localhost", "both"))

        bobMessages = EventWaiter(bob, "message")
        aliceMessages = EventWaiter(alice, "message")
        alice.send_message(mto="bob@localhost", mbody="hello bob", mtype="chat")
        message = await bobMessages.next()
        self.assertEqual(message["body"], "hello bob")
        self.assertEqual(message["from"].full, "alice@localhost/a")
        bob.send_message(mto="alice@localhost/a", mbody="hi alice", mtype="chat")
        message = await aliceMessages.next()
        self.assertEqual(message["body"], "hi alice")

    async def _rosterReaches(self, client, contact: str, state: str) -> None:
        for _ in range(200):
            if client.client_roster[contact]["subscription"] == state:
                return
            await asyncio.sleep(0.02)
        self.fail(f"{contact} never reached {state}")

    @asyncTest
    async def test_rosterSetAndGet(self) -> None:
        """
        A roster item set by the client is pushed back with a new version;
        a later versioned roster get answers "up to date" with an empty
        result (RFC 6121 section 2.6.3), and the client's roster, built from
        the pushes, holds the item.
        """
        await self.createUser("alice")
        alice = await self.client("alice@localhost/a")
        await alice.get_roster()
        firstVersion = alice.client_roster.version
        await alice.update_roster("carol@example.org", name="Carol", groups=["Friends"])
        for _ in range(200):
            if "carol@example.org" in alice.client_roster:
                break
            await asyncio.sleep(0.02)
        item = alice.client_roster["carol@example.org"]
        self.assertEqual(item["name"], "Carol")
        self.assertEqual(list(item["groups"]), ["Friends"])
        self.assertNotEqual(alice.client_roster.version, firstVersion)
        result = await alice.get_roster()
        self.assertEqual(dict(result["roster"]["items"]), {})

    @asyncTest
    async def test_offlineDelivery(self) -> None:
        """
        A message to an offline user is kept and delivered, with a delay
        stamp, when the user next sends available presence.
        """
        await self.createUser("alice")
        await self.createUser("bob")
        alice = await self.client("alice@localhost/a")
        alice.send_message(mto="bob@localhost", mbody="while you were out", mtype="chat")
        for _ in range(200):
            stored = await wait(self.node.store.popOffline("bob"))
            if stored:
                for message in stored:
                    await wait(self.node.store.storeOffline("bob", message))
                break
            await asyncio.sleep(0.02)
        bob = await self.client("bob@localhost/b", presence=False, plugins=("xep_0203",))
        messages = EventWaiter(bob, "message")
        bob.send_presence()
        message = await messages.next()
        self.assertEqual(message["body"], "while you were out")
        self.assertEqual(message["from"].full, "alice@localhost/a")
        self.assertTrue(message["delay"]["stamp"])

    @asyncTest
    async def test_carbons(self) -> None:
        """
        With carbons enabled on two resources, a message Bob receives on
        one is copied to the other, and one he sends is copied too.
        """
        await self.createUser("alice")
        await self.createUser("bob")
        alice = await self.client("alice@localhost/a")
        phone = await self.client("bob@localhost/phone", plugins=("xep_0280",))
        laptop = await self.client("bob@localhost/laptop", plugins=("xep_0280",))
        await phone.plugin["xep_0280"].enable()
        await laptop.plugin["xep_0280"].enable()
        received = EventWaiter(laptop, "carbon_received")
        sent = EventWaiter(laptop, "carbon_sent")
        alice.send_message(mto="bob@localhost/phone", mbody="to the phone", mtype="chat")
        carbon = await received.next()
        self.assertEqual(carbon["carbon_received"]["body"], "to the phone")
        phone.send_message(mto="alice@localhost", mbody="from the phone", mtype="chat")
        carbon = await sent.next()
        self.assertEqual(carbon["carbon_sent"]["body"], "from the phone")
