# -*- test-case-name: tests.im.test_offline -*-
"""
Tests for L{xmuc.im.offline}: offline storage (XEP-0160) with delay
stamps (XEP-0203).
"""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase
from twisted.words.xish import domish

from tests.im.test_roster import IM, errorCondition
from tests.support.harness import Harness, parseStanza
from xmuc.im.offline import NS_DELAY, stampOf, storability
from xmuc.storage.interfaces import OfflineMessage


def delayOf(message: domish.Element) -> domish.Element:
    [delay] = [c for c in message.elements() if c.uri == NS_DELAY]
    return delay


def bodies(stanzas: list[domish.Element]) -> list[str]:
    """
    The bodies of the messages among C{stanzas}, in order.
    """
    return [
        str(c)
        for s in stanzas
        if s.name == "message"
        for c in s.elements()
        if c.name == "body"
    ]


class OfflineTestCase(SynchronousTestCase):
    def setUp(self) -> None:
        self.h = Harness(features=IM)
        self.h.createUser("bob")
        self.alice = self.h.login("alice")

    def say(self, body: str, to: str = "bob@localhost", kind: str = "chat") -> None:
        self.alice.send(
            f"<message to='{to}' type='{kind}'><body>{body}</body></message>"
        )

    def stored(self, username: str = "bob") -> list[OfflineMessage]:
        """
        Take the stored messages (they are gone afterwards).
        """
        result: list[Any] = []
        self.h.store.popOffline(username).addCallback(result.append)
        return result[0]


class StoreTests(OfflineTestCase):
    """
    What is kept, and what is refused.
    """

    def test_storedWithDelay(self) -> None:
        """
        A chat message for an account without resources is kept with a
        delay stamped by the domain at the time it arrived, and the sender
        gets no error.
        """
        self.say("hello")
        [message] = self.stored()
        self.assertEqual(message.stamp, self.h.clock.seconds())
        kept = parseStanza(message.stanza)
        delay = delayOf(kept)
        self.assertEqual(delay["from"], "localhost")
        self.assertEqual(delay["stamp"], "2023-11-14T22:13:20Z")
        self.assertEqual(bodies([kept]), ["hello"])
        self.assertEqual(self.alice.received(), [])

    def test_deepestStored(self) -> None:
        """
        A message nested as deep as the largest max_depth a node accepts
        (200) is stored and comes back whole: nothing on the way recurses
        past Python's stack (deeper stanzas are refused while parsing).
        """
        depth = 199
        self.alice.send(
            "<message to='bob@localhost' type='chat'><body>deep</body>"
            + "<x xmlns='urn:example:deep'>" * depth + "</x>" * depth + "</message>"
        )
        [stored] = self.stored()
        element = parseStanza(stored.stanza)
        level = 1
        while (children := list(element.elements("urn:example:deep", "x"))):
            [element] = children
            level += 1
        self.assertEqual(level, depth + 1)

    def test_quotaFull(self) -> None:
        """
        Past the quota the sender gets service-unavailable.
        """
        self.h.store.maxOfflineMessages = 1
        self.say("one")
        self.say("two")
        [error] = self.alice.received()
        self.assertEqual(error["type"], "error")
        self.assertEqual(errorCondition(error), "service-unavailable")
        self.assertEqual(
            bodies([parseStanza(m.stanza) for m in self.stored()]), ["one"]
        )

    def test_unknownAccount(self) -> None:
        """
        A message for an account that does not exist is bounced with
        service-unavailable.
        """
        self.say("anyone?", to="nobody@localhost")
        [error] = self.alice.received()
        self.assertEqual(errorCondition(error), "service-unavailable")

    def test_chatStatesDropped(self) -> None:
        """
        A message carrying only a chat state is neither kept nor bounced.
        """
        self.alice.send(
            "<message to='bob@localhost' type='chat'>"
            "<composing xmlns='http://jabber.org/protocol/chatstates'/></message>"
        )
        self.assertEqual(self.stored(), [])
        self.assertEqual(self.alice.received(), [])

    def test_storability(self) -> None:
        """
        Chat and normal messages with content are kept, unless hinted
        otherwise; empty ones and other types are refused.
        """
        cases = [
            ("<message><body>x</body></message>", "store"),
            ("<message type='chat'><x xmlns='jabber:x:oob'/></message>", "store"),
            ("<message type='headline'><body>x</body></message>", "refuse"),
            ("<message type='chat'/>", "refuse"),
            (
                "<message type='chat'><active xmlns='http://jabber.org/protocol/chatstates'/></message>",
                "drop",
            ),
            (
                "<message type='chat'><body>x</body><no-store xmlns='urn:xmpp:hints'/></message>",
                "drop",
            ),
            (
                "<message type='chat'><active xmlns='http://jabber.org/protocol/chatstates'/>"
                "<store xmlns='urn:xmpp:hints'/></message>",
                "store",
            ),
        ]
        for xml, verdict in cases:
            self.assertEqual(storability(parseStanza(xml)), verdict, xml)

    def test_stamp(self) -> None:
        """
        Stamps are UTC with a Z.
        """
        self.assertEqual(stampOf(0), "1970-01-01T00:00:00Z")

    def test_feature(self) -> None:
        """
        The domain advertises msgoffline.
        """
        self.assertIn("msgoffline", self.h.node.serverFeatures)


class DeliveryTests(OfflineTestCase):
    """
    Handing kept messages back.
    """

    def test_deliveredInOrderAtInitialPresence(self) -> None:
        """
        The kept messages arrive, oldest first and with their delay, when
        the account sends initial presence, and are then gone.
        """
        self.say("one")
        self.h.clock.advance(5)
        self.say("two")
        bob = self.h.login("bob", create=False)
        self.assertEqual(bob.received(), [])
        bob.send("<presence/>")
        received = bob.received()
        self.assertEqual(bodies(received), ["one", "two"])
        messages = [s for s in received if s.name == "message"]
        self.assertEqual(
            [delayOf(m)["stamp"] for m in messages],
            ["2023-11-14T22:13:20Z", "2023-11-14T22:13:25Z"],
        )
        self.assertEqual(self.stored(), [])

    def test_negativePriorityWaits(self) -> None:
        """
        A resource with negative priority does not take offline messages;
        the next resource with a non-negative one does.
        """
        self.say("later")
        shy = self.h.login("bob", "shy", create=False)
        shy.send("<presence><priority>-1</priority></presence>")
        self.assertEqual(bodies(shy.received()), [])
        bob = self.h.login("bob", create=False)
        bob.send("<presence/>")
        self.assertEqual(bodies(bob.received()), ["later"])

    def test_onlyOnInitialPresence(self) -> None:
        """
        Presence updates do not deliver anything.
        """
        bob = self.h.login("bob", create=False)
        bob.send("<presence/>")
        bob.received()
        self.h.store.storeOffline(
            "bob", OfflineMessage("<message><body>x</body></message>", 0)
        )
        bob.send("<presence><show>away</show></presence>")
        self.assertEqual(bodies(bob.received()), [])

    def test_closedSessionKeepsMessages(self) -> None:
        """
        Messages taken for a session that closed meanwhile are kept again.
        """
        bob = self.h.login("bob", create=False)
        bob.disconnect()
        service = self.h.node.modules["offline"]
        service._deliver(
            [OfflineMessage("<message><body>x</body></message>", 1.0)], bob.session
        )
        [message] = self.stored()
        self.assertEqual(message.stamp, 1.0)
