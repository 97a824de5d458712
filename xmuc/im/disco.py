# -*- test-case-name: tests.im.test_disco -*-
"""
XEP-0030 service discovery for the node's domain and its accounts.

  - C{disco#info} of the domain: the identity C{server/im} and the features
    of L{Node.serverFeatures}; of an account's bare JID: the identity
    C{account/registered} and L{Node.accountFeatures}.
  - C{disco#items} of the domain: the components the router serves (the MUC
    service); of an account: nothing.

Other modules publish named nodes of the domain with L{Disco.addNode} (the
ad-hoc module publishes C{http://jabber.org/protocol/commands}); a request
for any other node answers C{item-not-found}.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

from twisted.internet import defer
from twisted.words.protocols.jabber.error import StanzaError
from twisted.words.protocols.jabber.jid import JID
from twisted.words.xish import domish
from tx_xmpp.disco import (
    NS_DISCO_INFO,
    NS_DISCO_ITEMS,
    DiscoFeature,
    DiscoIdentity,
    DiscoInfo,
    DiscoItem,
    DiscoItems,
)

from xmuc.core.jid import makeJID, parseJID

#: Called with the requester; returns the identities and features of a node.
InfoFunction = Callable[[JID], "Iterable[DiscoIdentity | DiscoFeature]"]
#: Called with the requester; returns the items of a node.
ItemsFunction = Callable[[JID], Iterable[DiscoItem]]


@dataclass(frozen=True)
class NodeHandlers:
    """
    How to answer for one named node of the domain.
    """

    info: InfoFunction | None
    items: ItemsFunction | None


class Disco:
    """
    The disco handlers of a node, and the registry of named nodes.
    """

    def __init__(self, node: Any) -> None:
        self.node = node
        self._nodes: dict[str, NodeHandlers] = {}
        #: What else the domain's disco#info lists after its features
        #: (XEP-0128 forms: the DMUC replica's, L{xmuc.glue.dmuc}).
        self.serverExtensions: list[Any] = []

    def addNode(
        self,
        name: str,
        infoFn: InfoFunction | None = None,
        itemsFn: ItemsFunction | None = None,
    ) -> None:
        """
        Publish a named node of the domain. Either function may raise a
        L{StanzaError} (for example C{forbidden}) or return a Deferred; a
        missing one answers with an empty result.
        """
        self._nodes[name] = NodeHandlers(infoFn, itemsFn)

    # The domain

    def serverInfo(self, iq: domish.Element, sender: JID, session: Any) -> Any:
        name = iq.firstChildElement().getAttribute("node")
        if name:
            handlers = self._handlersFor(name)
            if handlers.info is None:
                return _infoElement(name, ())
            d = defer.maybeDeferred(handlers.info, sender)
            return d.addCallback(lambda entries: _infoElement(name, entries))
        entries: list[DiscoIdentity | DiscoFeature] = [
            DiscoIdentity("server", "im", "xmuc")
        ]
        entries.extend(DiscoFeature(f) for f in sorted(self.node.serverFeatures))
        entries.extend(self.serverExtensions)
        return _infoElement("", entries)

    def serverItems(self, iq: domish.Element, sender: JID, session: Any) -> Any:
        name = iq.firstChildElement().getAttribute("node")
        if name:
            handlers = self._handlersFor(name)
            if handlers.items is None:
                return _itemsElement(name, ())
            d = defer.maybeDeferred(handlers.items, sender)
            return d.addCallback(lambda items: _itemsElement(name, items))
        items = [
            DiscoItem(makeJID(None, host)) for host in sorted(self.node.router.components)
        ]
        return _itemsElement("", items)

    def _handlersFor(self, name: str) -> NodeHandlers:
        handlers = self._nodes.get(name)
        if handlers is None:
            raise StanzaError("item-not-found")
        return handlers

    # Accounts

    async def accountInfo(
        self, iq: domish.Element, sender: JID, session: Any
    ) -> domish.Element:
        await self._checkAccount(iq)
        entries: list[DiscoIdentity | DiscoFeature] = [
            DiscoIdentity("account", "registered")
        ]
        entries.extend(DiscoFeature(f) for f in sorted(self.node.accountFeatures))
        return _infoElement("", entries)

    async def accountItems(
        self, iq: domish.Element, sender: JID, session: Any
    ) -> domish.Element:
        await self._checkAccount(iq)
        return _itemsElement("", ())

    async def _checkAccount(self, iq: domish.Element) -> None:
        """
        Answer for existing accounts only, and only about the account
        itself: named nodes of accounts do not exist.
        """
        if iq.firstChildElement().getAttribute("node"):
            raise StanzaError("item-not-found")
        username = parseJID(iq["to"]).user
        if not await self.node.store.getCredentials(username):
            # RFC 6121 section 8.5.1: as if there were no such account.
            raise StanzaError("service-unavailable")


def _infoElement(
    name: str, entries: Iterable[DiscoIdentity | DiscoFeature]
) -> domish.Element:
    info = DiscoInfo()
    info.nodeIdentifier = name
    for entry in entries:
        info.append(entry)
    return info.toElement()


def _itemsElement(name: str, entries: Iterable[DiscoItem]) -> domish.Element:
    items = DiscoItems()
    items.nodeIdentifier = name
    for entry in entries:
        items.append(entry)
    return items.toElement()


def install(node: Any) -> Disco:
    disco = Disco(node)
    node.serverIQ.register("get", NS_DISCO_INFO, disco.serverInfo)
    node.serverIQ.register("get", NS_DISCO_ITEMS, disco.serverItems)
    node.accountIQ.register("get", NS_DISCO_INFO, disco.accountInfo)
    node.accountIQ.register("get", NS_DISCO_ITEMS, disco.accountItems)
    for features in (node.serverFeatures, node.accountFeatures):
        features.update((NS_DISCO_INFO, NS_DISCO_ITEMS))
    return disco
