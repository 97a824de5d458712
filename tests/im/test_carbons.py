# -*- test-case-name: tests.im.test_carbons -*-
"""
Tests for L{xmuc.im.carbons}: XEP-0280 message carbons.
"""

from __future__ import annotations

from twisted.trial import unittest
from twisted.words.xish import domish

from tests.im.test_blocking import RecordingSink
from tests.im.test_disco import errorCondition
from tests.support.harness import Harness, parseStanza
from xmuc.core.jid import parseJID
from xmuc.im.carbons import isEligible

FEATURES = ("xmuc.im.delivery", "xmuc.im.carbons")
NS = "urn:xmpp:carbons:2"
NS_FORWARD = "urn:xmpp:forward:0"
ENABLE = f"<iq type='set' id='c1'><enable xmlns='{NS}'/></iq>"


def forwarded(carbon, kind: str):
    """
    The message inside a carbon of this kind (C{received} or C{sent}).
    """
    [wrapper] = [c for c in carbon.elements() if c.uri == NS and c.name == kind]
    [forward] = list(wrapper.elements(NS_FORWARD, "forwarded"))
    [message] = list(forward.elements("jabber:client", "message"))
    return message


class CarbonsTestMixin:
    def setUp(self) -> None:
        self.harness = Harness(features=FEATURES)
        self.phone = self.online("alice", "phone", carbons=True)
        self.laptop = self.online("alice", "laptop", carbons=True)
        self.bob = self.online("bob", "res")

    def online(self, username: str, resource: str, carbons: bool = False, priority: int = 0):
        client = self.harness.login(username, resource)
        client.session.available = True
        client.session.priority = priority
        if carbons:
            client.send(ENABLE)
            [reply] = client.received()
            self.assertEqual(reply["type"], "result")
        return client


class SwitchTests(CarbonsTestMixin, unittest.TestCase):
    def test_enable(self) -> None:
        """
        C{<enable/>} switches carbons on for that resource only.
        """
        self.assertTrue(self.phone.session.carbons)
        self.assertFalse(self.bob.session.carbons)

    def test_disable(self) -> None:
        """
        C{<disable/>} switches them off.
        """
        self.phone.send(f"<iq type='set' id='c2'><disable xmlns='{NS}'/></iq>")
        [reply] = self.phone.received()
        self.assertEqual(reply["type"], "result")
        self.assertFalse(self.phone.session.carbons)

    def test_enableAtServer(self) -> None:
        """
        Clients that address the server get the same.
        """
        self.bob.send(f"<iq type='set' id='c3' to='localhost'><enable xmlns='{NS}'/></iq>")
        [reply] = self.bob.received()
        self.assertEqual(reply["type"], "result")
        self.assertTrue(self.bob.session.carbons)

    def test_notForOthers(self) -> None:
        """
        Nobody switches carbons of another account.
        """
        self.bob.send(f"<iq type='set' id='c4' to='alice@localhost'><disable xmlns='{NS}'/></iq>")
        [reply] = self.bob.received()
        self.assertEqual(errorCondition(reply), "forbidden")
        self.assertTrue(self.phone.session.carbons)

    def test_feature(self) -> None:
        """
        The server advertises C{urn:xmpp:carbons:2}.
        """
        self.assertIn(NS, self.harness.node.serverFeatures)


class ReceivedTests(CarbonsTestMixin, unittest.TestCase):
    def test_toFullJID(self) -> None:
        """
        A chat message to one resource is copied, as C{<received/>}, to the
        account's other carbons-enabled resources, from the bare JID.
        """
        self.bob.send(
            "<message to='alice@localhost/phone' type='chat' id='m1'>"
            "<body>hi &amp; bye</body></message>"
        )
        [original] = self.phone.received()
        self.assertEqual(original["id"], "m1")
        [carbon] = self.laptop.received()
        self.assertEqual(carbon["from"], "alice@localhost")
        self.assertEqual(carbon["to"], "alice@localhost/laptop")
        inner = forwarded(carbon, "received")
        self.assertEqual(inner["id"], "m1")
        self.assertEqual(inner["from"], "bob@localhost/res")
        self.assertEqual(str(inner.body), "hi & bye")

    def test_toBareJIDHighestPriority(self) -> None:
        """
        A message to the bare JID that went to the highest-priority
        resource is copied to the others.
        """
        self.phone.session.priority = 5
        self.bob.send("<message to='alice@localhost' type='chat' id='m2'><body>x</body></message>")
        self.assertEqual([m["id"] for m in self.phone.received()], ["m2"])
        [carbon] = self.laptop.received()
        self.assertEqual(forwarded(carbon, "received")["id"], "m2")

    def test_deliveredToAll(self) -> None:
        """
        Resources that got the message itself get no copy.
        """
        self.bob.send("<message to='alice@localhost' type='chat' id='m3'><body>x</body></message>")
        self.assertEqual([m["id"] for m in self.phone.received()], ["m3"])
        self.assertEqual([m["id"] for m in self.laptop.received()], ["m3"])

    def test_notEnabled(self) -> None:
        """
        A resource without carbons gets no copy.
        """
        desktop = self.online("alice", "desktop")
        self.bob.send("<message to='alice@localhost/phone' type='chat'><body>x</body></message>")
        self.assertEqual(desktop.received(), [])
        self.assertEqual(len(self.laptop.received()), 1)

    def test_unavailable(self) -> None:
        """
        A carbons-enabled resource that is not available gets no copy.
        """
        self.laptop.session.available = False
        self.bob.send("<message to='alice@localhost/phone' type='chat'><body>x</body></message>")
        self.assertEqual(self.laptop.received(), [])

    def test_privateMessage(self) -> None:
        """
        A message marked private and no-copy is not copied.
        """
        self.bob.send(
            "<message to='alice@localhost/phone' type='chat'><body>x</body>"
            f"<private xmlns='{NS}'/><no-copy xmlns='urn:xmpp:hints'/></message>"
        )
        self.assertEqual(len(self.phone.received()), 1)
        self.assertEqual(self.laptop.received(), [])


class NamespaceTests(CarbonsTestMixin, unittest.TestCase):
    def test_serverBuiltMessage(self) -> None:
        """
        A message the server built without a namespace is forwarded in
        C{jabber:client}, as XEP-0297 requires.
        """
        message = domish.Element((None, "message"))
        message["from"] = "bob@localhost/res"
        message["type"] = "chat"
        message.addElement("body", content="built")
        carbons = self.harness.node.modules["carbons"]
        carbons.delivered(message, parseJID("alice@localhost/phone"), [self.phone.session])
        [carbon] = self.laptop.received()
        inner = forwarded(carbon, "received")
        self.assertEqual(inner.body.uri, "jabber:client")
        self.assertEqual(str(inner.body), "built")


class SentTests(CarbonsTestMixin, unittest.TestCase):
    def test_sent(self) -> None:
        """
        A chat message a resource sends is copied, as C{<sent/>}, to the
        account's other carbons-enabled resources, not to the sender.
        """
        self.phone.send("<message to='bob@localhost' type='chat' id='s1'><body>yo</body></message>")
        self.assertEqual([m["id"] for m in self.bob.received()], ["s1"])
        self.assertEqual(self.phone.received(), [])
        [carbon] = self.laptop.received()
        self.assertEqual(
            (carbon["from"], carbon["to"]), ("alice@localhost", "alice@localhost/laptop")
        )
        inner = forwarded(carbon, "sent")
        self.assertEqual((inner["from"], inner["to"]), ("alice@localhost/phone", "bob@localhost"))

    def test_privateSent(self) -> None:
        """
        A sent message with C{<private/>} is not copied.
        """
        self.phone.send(
            "<message to='bob@localhost' type='chat'><body>yo</body>"
            f"<private xmlns='{NS}'/></message>"
        )
        self.assertEqual(self.laptop.received(), [])

    def test_groupchatNotCopied(self) -> None:
        """
        Groupchat messages are never copied.
        """
        remote = RecordingSink()
        self.harness.node.router.remote = remote
        self.phone.send("<message to='room@muc.example' type='groupchat'><body>x</body></message>")
        self.assertEqual(len(remote.stanzas), 1)
        self.assertEqual(self.laptop.received(), [])

    def test_toOwnAccount(self) -> None:
        """
        A message between two resources of the account is not copied as
        sent (the delivery copies it as received).
        """
        desktop = self.online("alice", "desktop", carbons=True)
        self.phone.send(
            "<message to='alice@localhost/laptop' type='chat' id='o1'><body>x</body></message>"
        )
        self.assertEqual([m["id"] for m in self.laptop.received()], ["o1"])
        [carbon] = desktop.received()
        self.assertEqual(forwarded(carbon, "received")["id"], "o1")


class EligibilityTests(unittest.TestCase):
    def check(self, xml: str) -> bool:
        return isEligible(parseStanza(xml))

    def test_chat(self) -> None:
        """
        Chat messages are copied, even without a body (chat states).
        """
        self.assertTrue(self.check("<message type='chat'><body>x</body></message>"))
        self.assertTrue(self.check("<message type='chat'/>"))

    def test_normal(self) -> None:
        """
        Normal messages are copied with a body or an IM payload only.
        """
        self.assertTrue(self.check("<message><body>x</body></message>"))
        receipt = "<message><received xmlns='urn:xmpp:receipts' id='1'/></message>"
        self.assertTrue(self.check(receipt))
        self.assertFalse(self.check("<message><x xmlns='jabber:x:conference'/></message>"))

    def test_others(self) -> None:
        """
        Headlines and groupchat are not copied; errors are.
        """
        self.assertFalse(self.check("<message type='headline'><body>x</body></message>"))
        self.assertFalse(self.check("<message type='groupchat'><body>x</body></message>"))
        self.assertTrue(self.check("<message type='error'><error type='cancel'/></message>"))

    def test_carbonsAndHints(self) -> None:
        """
        Carbons themselves, private and no-copy messages are not copied.
        """
        self.assertFalse(self.check(f"<message type='chat'><sent xmlns='{NS}'/></message>"))
        self.assertFalse(
            self.check(
                "<message type='chat'><body>x</body><no-copy xmlns='urn:xmpp:hints'/></message>"
            )
        )
