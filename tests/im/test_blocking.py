# -*- test-case-name: tests.im.test_blocking -*-
"""
Tests for L{xmuc.im.blocking}: XEP-0191 block lists, pushes and
enforcement.
"""

from __future__ import annotations

from twisted.trial import unittest

from tests.im.test_disco import errorCondition
from tests.support.harness import Harness, parseStanza
from xmuc.core.jid import parseJID
from xmuc.im.blocking import isBlocked
from xmuc.storage.interfaces import RosterItem

FEATURES = ("xmuc.im.delivery", "xmuc.im.blocking")
NS = "urn:xmpp:blocking"


class RecordingSink:
    """
    Stands in for s2s: keeps what is routed to remote domains.
    """

    def __init__(self) -> None:
        self.stanzas = []

    def receive(self, stanza, to) -> None:
        self.stanzas.append(stanza)


def items(element) -> list[str]:
    return sorted(item["jid"] for item in element.elements(NS, "item"))


class BlockingTestMixin:
    def setUp(self) -> None:
        self.harness = Harness(features=FEATURES)
        self.remote = RecordingSink()
        self.harness.node.router.remote = self.remote
        self.alice = self.harness.login("alice")
        self.bob = self.harness.login("bob")
        for client in (self.alice, self.bob):
            client.session.available = True

    def iq(self, client, kind: str, payload: str):
        client.send(f"<iq type='{kind}' id='b1'>{payload}</iq>")
        replies = [r for r in client.received() if r.getAttribute("id") == "b1"]
        [reply] = replies
        return reply

    def block(self, client, *jids: str):
        entries = "".join(f"<item jid='{jid}'/>" for jid in jids)
        return self.iq(client, "set", f"<block xmlns='{NS}'>{entries}</block>")

    def unblock(self, client, *jids: str):
        entries = "".join(f"<item jid='{jid}'/>" for jid in jids)
        return self.iq(client, "set", f"<unblock xmlns='{NS}'>{entries}</unblock>")

    def blocklist(self, client) -> list[str]:
        reply = self.iq(client, "get", f"<blocklist xmlns='{NS}'/>")
        self.assertEqual(reply["type"], "result")
        return items(reply.blocklist)


class ListTests(BlockingTestMixin, unittest.TestCase):
    def test_emptyList(self) -> None:
        """
        A new account has an empty block list.
        """
        self.assertEqual(self.blocklist(self.alice), [])

    def test_block(self) -> None:
        """
        Blocked JIDs are stored, prepared, and listed.
        """
        reply = self.block(self.alice, "Bob@LOCALHOST", "spam.example")
        self.assertEqual(reply["type"], "result")
        self.assertEqual(self.blocklist(self.alice), ["bob@localhost", "spam.example"])
        self.assertEqual(
            self.harness.store.getBlockList("alice").result, {"bob@localhost", "spam.example"}
        )

    def test_unblock(self) -> None:
        """
        Unblocking removes only the named JIDs.
        """
        self.block(self.alice, "bob@localhost", "spam.example")
        self.assertEqual(self.unblock(self.alice, "spam.example")["type"], "result")
        self.assertEqual(self.blocklist(self.alice), ["bob@localhost"])

    def test_unblockAll(self) -> None:
        """
        An unblock without items empties the list.
        """
        self.block(self.alice, "bob@localhost", "spam.example")
        self.unblock(self.alice)
        self.assertEqual(self.blocklist(self.alice), [])
        self.assertEqual(self.harness.store.getBlockList("alice").result, set())

    def test_blockNothing(self) -> None:
        """
        A block without items is a C{bad-request}.
        """
        self.assertEqual(errorCondition(self.block(self.alice)), "bad-request")

    def test_blockMalformed(self) -> None:
        """
        An invalid JID is C{jid-malformed} and nothing is blocked.
        """
        self.assertEqual(errorCondition(self.block(self.alice, "a@b@c")), "jid-malformed")
        self.assertEqual(self.blocklist(self.alice), [])

    def test_othersList(self) -> None:
        """
        Nobody else may read or change an account's block list.
        """
        self.bob.send(f"<iq type='get' id='x' to='alice@localhost'><blocklist xmlns='{NS}'/></iq>")
        [reply] = self.bob.received()
        self.assertEqual(errorCondition(reply), "forbidden")

    def test_sessionsInSync(self) -> None:
        """
        Every session of the account has the current list in
        C{session.blocked}, including one bound later.
        """
        other = self.harness.login("alice", "other")
        self.block(self.alice, "bob@localhost")
        self.assertEqual(self.alice.session.blocked, {"bob@localhost"})
        self.assertEqual(other.session.blocked, {"bob@localhost"})
        later = self.harness.login("alice", "later")
        self.assertEqual(later.session.blocked, {"bob@localhost"})
        self.unblock(self.alice)
        self.assertEqual(other.session.blocked, set())

    def test_oneSharedList(self) -> None:
        """
        The sessions of an account share one frozen list, not a copy each.
        """
        other = self.harness.login("alice", "other")
        self.assertIs(other.session.blocked, self.alice.session.blocked)
        self.block(self.alice, "bob@localhost")
        self.assertIsInstance(self.alice.session.blocked, frozenset)
        self.assertIs(other.session.blocked, self.alice.session.blocked)

    def test_loadedAtBind(self) -> None:
        """
        A session bound for an account with a stored list gets it.
        """
        self.harness.createUser("carol")
        self.harness.store.addBlocks("carol", ["bob@localhost"])
        carol = self.harness.login("carol")
        self.assertEqual(carol.session.blocked, {"bob@localhost"})


class PushTests(BlockingTestMixin, unittest.TestCase):
    def test_pushToInterested(self) -> None:
        """
        A change is pushed to every resource that retrieved the list, and
        to no other.
        """
        other = self.harness.login("alice", "other")
        quiet = self.harness.login("alice", "quiet")
        self.blocklist(other)
        self.blocklist(self.alice)
        self.block(self.alice, "spam.example")
        [push] = other.received()
        self.assertEqual((push["type"], push["to"]), ("set", "alice@localhost/other"))
        self.assertEqual(items(push.block), ["spam.example"])
        self.assertEqual(quiet.received(), [])

    def test_unblockAllPush(self) -> None:
        """
        Unblocking everything pushes an empty C{<unblock/>}.
        """
        other = self.harness.login("alice", "other")
        self.blocklist(other)
        self.block(self.alice, "spam.example")
        other.received()
        self.unblock(self.alice)
        [push] = other.received()
        self.assertEqual(push.unblock.uri, NS)
        self.assertEqual(items(push.unblock), [])


class EnforcementTests(BlockingTestMixin, unittest.TestCase):
    def test_outboundMessage(self) -> None:
        """
        A message to a blocked JID is refused with C{not-acceptable} and
        the blocking error, and not delivered.
        """
        self.block(self.alice, "bob@localhost")
        self.alice.send(
            "<message to='bob@localhost/res' type='chat' id='m1'><body>hi</body></message>"
        )
        [reply] = self.alice.received()
        self.assertEqual(errorCondition(reply), "not-acceptable")
        self.assertEqual(reply["id"], "m1")
        [blocked] = [c for c in reply.error.elements() if c.name == "blocked"]
        self.assertEqual(blocked.uri, "urn:xmpp:blocking:errors")
        self.assertEqual(self.bob.received(), [])

    def test_outboundPresenceDropped(self) -> None:
        """
        Presence to a blocked JID is dropped without an error.
        """
        self.block(self.alice, "remote.example")
        self.alice.send("<presence to='juliet@remote.example'/>")
        self.assertEqual(self.alice.received(), [])
        self.assertEqual(self.remote.stanzas, [])

    def test_inboundMessage(self) -> None:
        """
        A message from a blocked JID is answered C{service-unavailable} and
        not delivered; an unblocked one arrives.
        """
        self.block(self.alice, "bob@localhost")
        self.bob.send("<message to='alice@localhost' type='chat' id='m2'><body>hi</body></message>")
        [reply] = self.bob.received()
        self.assertEqual(errorCondition(reply), "service-unavailable")
        self.assertEqual(self.alice.received(), [])
        self.unblock(self.alice, "bob@localhost")
        self.bob.send("<message to='alice@localhost' type='chat' id='m3'><body>hi</body></message>")
        [message] = self.alice.received()
        self.assertEqual(message["id"], "m3")

    def test_inboundIQ(self) -> None:
        """
        An IQ request from a blocked JID is C{service-unavailable}.
        """
        self.block(self.alice, "bob@localhost/res")
        self.bob.send("<iq to='alice@localhost/res' type='get' id='q'><query xmlns='urn:x'/></iq>")
        [reply] = self.bob.received()
        self.assertEqual(errorCondition(reply), "service-unavailable")
        self.assertEqual(self.alice.received(), [])

    def test_inboundToOfflineAccount(self) -> None:
        """
        Blocking holds for an account with no session: its list is looked
        up when a stanza arrives.
        """
        self.harness.createUser("carol")
        self.harness.store.addBlocks("carol", ["localhost"])
        self.bob.send("<message to='carol@localhost' type='chat' id='m4'><body>x</body></message>")
        [reply] = self.bob.received()
        self.assertEqual(errorCondition(reply), "service-unavailable")
        self.assertIsNotNone(self.harness.node.modules["blocking"].cached("carol@localhost"))

    def test_ownResourcesNeverBlocked(self) -> None:
        """
        Blocking one's own domain does not cut off one's own resources.
        """
        other = self.harness.login("alice", "other")
        other.session.available = True
        self.block(self.alice, "localhost")
        other.send("<message to='alice@localhost/res' type='chat' id='m5'><body>x</body></message>")
        [message] = self.alice.received()
        self.assertEqual(message["id"], "m5")


class PresenceTests(BlockingTestMixin, unittest.TestCase):
    def setUp(self) -> None:
        super().setUp()
        self.harness.store.setRosterItem(
            "alice", RosterItem("juliet@remote.example", subscription="from")
        )
        self.alice.session.presence = parseStanza("<presence><show>away</show></presence>")

    def test_blockHidesPresence(self) -> None:
        """
        Blocking a subscribed contact sends it unavailable presence from
        each available resource.
        """
        self.block(self.alice, "juliet@remote.example")
        [presence] = self.remote.stanzas
        self.assertEqual(presence["type"], "unavailable")
        self.assertEqual(presence["from"], "alice@localhost/res")
        self.assertEqual(presence["to"], "juliet@remote.example")

    def test_blockUnsubscribed(self) -> None:
        """
        A contact that could not see the presence gets nothing.
        """
        self.block(self.alice, "romeo@remote.example")
        self.assertEqual(self.remote.stanzas, [])

    def test_blockDirectedPresence(self) -> None:
        """
        An address that got directed presence gets unavailable presence,
        and the directed-presence record is dropped.
        """
        router = self.harness.node.router
        router.recordDirectedPresence("alice@localhost/res", "room@chat.example/alice")
        self.block(self.alice, "chat.example")
        self.assertEqual(
            [p["to"] for p in self.remote.stanzas], ["room@chat.example/alice"]
        )
        self.assertFalse(
            router.hasDirectedPresence("alice@localhost/res", "room@chat.example/alice")
        )

    def test_unblockShowsPresence(self) -> None:
        """
        Unblocking a subscribed contact sends it the current presence.
        """
        self.block(self.alice, "juliet@remote.example")
        del self.remote.stanzas[:]
        self.unblock(self.alice, "juliet@remote.example")
        [presence] = self.remote.stanzas
        self.assertIsNone(presence.getAttribute("type"))
        self.assertEqual(presence["to"], "juliet@remote.example")
        self.assertEqual(str(presence.show), "away")


class MatchingTests(unittest.TestCase):
    def test_domain(self) -> None:
        """
        A domain blocks itself and every JID at it.
        """
        blocked = {"example.com"}
        for text in ("example.com", "a@example.com", "a@example.com/r", "example.com/r"):
            self.assertTrue(isBlocked(blocked, parseJID(text)), text)
        self.assertFalse(isBlocked(blocked, parseJID("a@other.com")))

    def test_bare(self) -> None:
        """
        A bare JID blocks all its resources, not the domain.
        """
        blocked = {"a@example.com"}
        self.assertTrue(isBlocked(blocked, parseJID("a@example.com/r")))
        self.assertFalse(isBlocked(blocked, parseJID("example.com")))
        self.assertFalse(isBlocked(blocked, parseJID("b@example.com")))

    def test_full(self) -> None:
        """
        A full JID blocks only itself.
        """
        blocked = {"a@example.com/r"}
        self.assertTrue(isBlocked(blocked, parseJID("a@example.com/r")))
        self.assertFalse(isBlocked(blocked, parseJID("a@example.com/s")))
        self.assertFalse(isBlocked(blocked, parseJID("a@example.com")))

    def test_domainResource(self) -> None:
        """
        A domain with a resource blocks that exact address.
        """
        blocked = {"example.com/r"}
        self.assertTrue(isBlocked(blocked, parseJID("example.com/r")))
        self.assertTrue(isBlocked(blocked, parseJID("a@example.com/r")))
        self.assertFalse(isBlocked(blocked, parseJID("example.com")))
