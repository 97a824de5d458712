# -*- test-case-name: tests.im.test_disco -*-
"""
Tests for L{xmuc.im.disco}: XEP-0030 for the domain and for accounts.
"""

from __future__ import annotations

from twisted.trial import unittest
from twisted.words.protocols.jabber.error import StanzaError
from twisted.words.xish import domish
from tx_xmpp.disco import DiscoFeature, DiscoIdentity, DiscoItem

from tests.support.harness import Harness
from xmuc.core.jid import parseJID

FEATURES = ("xmuc.im.delivery", "xmuc.im.disco", "xmuc.im.ping")
NS_INFO = "http://jabber.org/protocol/disco#info"
NS_ITEMS = "http://jabber.org/protocol/disco#items"


def errorCondition(stanza: domish.Element) -> str | None:
    """
    The defined condition of an error stanza, or L{None}.
    """
    if stanza.getAttribute("type") != "error":
        return None
    for error in stanza.elements():
        if error.name != "error":
            continue
        for child in error.elements():
            if child.uri == "urn:ietf:params:xml:ns:xmpp-stanzas" and child.name != "text":
                return child.name
    return None


class DiscoTestMixin:
    def setUp(self) -> None:
        self.harness = Harness(features=FEATURES)
        self.disco = self.harness.node.modules["disco"]
        self.alice = self.harness.login("alice")

    def ask(self, namespace: str, to: str | None = "localhost", node: str | None = None):
        """
        Send a disco request from alice and return the one answer.
        """
        address = f" to='{to}'" if to else ""
        nodeAttribute = f" node='{node}'" if node else ""
        self.alice.send(
            f"<iq type='get' id='d1'{address}><query xmlns='{namespace}'{nodeAttribute}/></iq>"
        )
        [reply] = self.alice.received()
        self.assertEqual(reply["id"], "d1")
        return reply


class ServerInfoTests(DiscoTestMixin, unittest.TestCase):
    def test_identityAndFeatures(self) -> None:
        """
        The domain is a C{server/im} with the sorted features of
        C{node.serverFeatures}, the disco namespaces among them.
        """
        self.harness.node.serverFeatures.add("urn:example:late")
        reply = self.ask(NS_INFO)
        self.assertEqual(reply["type"], "result")
        query = reply.query
        [identity] = list(query.elements(NS_INFO, "identity"))
        self.assertEqual((identity["category"], identity["type"]), ("server", "im"))
        features = [f["var"] for f in query.elements(NS_INFO, "feature")]
        self.assertEqual(features, sorted(self.harness.node.serverFeatures))
        for expected in (NS_INFO, NS_ITEMS, "urn:xmpp:ping", "urn:example:late"):
            self.assertIn(expected, features)

    def test_unknownNode(self) -> None:
        """
        An info request for a node nobody published is C{item-not-found}.
        """
        reply = self.ask(NS_INFO, node="urn:example:nothing")
        self.assertEqual(errorCondition(reply), "item-not-found")

    def test_publishedNode(self) -> None:
        """
        A node published with C{addNode} answers with what its function
        returns for the requester, and keeps the node attribute.
        """
        requesters = []

        def info(requester):
            requesters.append(requester)
            return [DiscoIdentity("automation", "command-list"), DiscoFeature("urn:x")]

        self.disco.addNode("urn:example:node", info, None)
        reply = self.ask(NS_INFO, node="urn:example:node")
        self.assertEqual(reply.query["node"], "urn:example:node")
        [identity] = list(reply.query.elements(NS_INFO, "identity"))
        self.assertEqual(identity["type"], "command-list")
        self.assertEqual([f["var"] for f in reply.query.elements(NS_INFO, "feature")], ["urn:x"])
        self.assertEqual(requesters, [parseJID("alice@localhost/res")])

    def test_nodeRefuses(self) -> None:
        """
        A node function that raises a stanza error answers with it.
        """

        def refuse(requester):
            raise StanzaError("forbidden")

        self.disco.addNode("urn:example:secret", refuse, refuse)
        self.assertEqual(errorCondition(self.ask(NS_INFO, node="urn:example:secret")), "forbidden")
        self.assertEqual(errorCondition(self.ask(NS_ITEMS, node="urn:example:secret")), "forbidden")


class ServerItemsTests(DiscoTestMixin, unittest.TestCase):
    def test_components(self) -> None:
        """
        The items of the domain are the components the router serves.
        """
        self.harness.node.router.components["muc.localhost"] = object()
        self.harness.node.router.components["a.localhost"] = object()
        reply = self.ask(NS_ITEMS)
        jids = [item["jid"] for item in reply.query.elements(NS_ITEMS, "item")]
        self.assertEqual(jids, ["a.localhost", "muc.localhost"])

    def test_noComponents(self) -> None:
        """
        Without components the domain has no items.
        """
        reply = self.ask(NS_ITEMS)
        self.assertEqual(reply["type"], "result")
        self.assertEqual(list(reply.query.elements()), [])

    def test_publishedItems(self) -> None:
        """
        The items of a published node come from its items function.
        """
        self.disco.addNode(
            "urn:example:list",
            None,
            lambda requester: [DiscoItem(parseJID("localhost"), "n1", "One")],
        )
        reply = self.ask(NS_ITEMS, node="urn:example:list")
        [item] = list(reply.query.elements(NS_ITEMS, "item"))
        self.assertEqual((item["jid"], item["node"], item["name"]), ("localhost", "n1", "One"))

    def test_unknownNode(self) -> None:
        """
        An items request for an unknown node is C{item-not-found}.
        """
        self.assertEqual(errorCondition(self.ask(NS_ITEMS, node="nope")), "item-not-found")


class AccountTests(DiscoTestMixin, unittest.TestCase):
    def assertAccountInfo(self, reply: domish.Element) -> None:
        self.assertEqual(reply["type"], "result")
        [identity] = list(reply.query.elements(NS_INFO, "identity"))
        self.assertEqual((identity["category"], identity["type"]), ("account", "registered"))
        features = [f["var"] for f in reply.query.elements(NS_INFO, "feature")]
        self.assertEqual(features, sorted(self.harness.node.accountFeatures))
        self.assertIn("urn:xmpp:ping", features)

    def test_ownAccount(self) -> None:
        """
        An account asking about itself (without C{to}) gets the
        C{account/registered} identity and the account features.
        """
        self.assertAccountInfo(self.ask(NS_INFO, to=None))

    def test_otherAccount(self) -> None:
        """
        Anyone may ask about an existing account's bare JID.
        """
        self.harness.createUser("bob")
        self.assertAccountInfo(self.ask(NS_INFO, to="bob@localhost"))

    def test_missingAccount(self) -> None:
        """
        An account that does not exist answers as RFC 6121 says for one:
        C{service-unavailable}.
        """
        self.assertEqual(
            errorCondition(self.ask(NS_INFO, to="nobody@localhost")), "service-unavailable"
        )

    def test_accountItems(self) -> None:
        """
        An account has no items.
        """
        reply = self.ask(NS_ITEMS, to="alice@localhost")
        self.assertEqual(reply["type"], "result")
        self.assertEqual(list(reply.query.elements()), [])

    def test_accountNode(self) -> None:
        """
        Accounts have no named nodes.
        """
        reply = self.ask(NS_INFO, to="alice@localhost", node="urn:example:x")
        self.assertEqual(errorCondition(reply), "item-not-found")
