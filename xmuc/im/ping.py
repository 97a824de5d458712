# -*- test-case-name: tests.im.test_ping -*-
"""
XEP-0199 XMPP Ping: the server answers pings to its domain and, on the
account's behalf, to the bare JID of an existing account.

Pings to a full JID are delivered to that resource like any other IQ.
"""

from __future__ import annotations

from typing import Any

from twisted.words.protocols.jabber.error import StanzaError
from twisted.words.protocols.jabber.jid import JID
from twisted.words.xish import domish

from xmuc.core.jid import parseJID

NS_PING = "urn:xmpp:ping"


class Ping:
    """
    The ping handlers of a node.
    """

    def __init__(self, node: Any) -> None:
        self.node = node

    def server(self, iq: domish.Element, sender: JID, session: Any) -> None:
        """
        A pong is an empty result.
        """
        return None

    async def account(self, iq: domish.Element, sender: JID, session: Any) -> None:
        """
        Answer on behalf of an account that exists; as if there were no
        such account otherwise (RFC 6121 section 8.5.1).
        """
        username = parseJID(iq["to"]).user
        if not await self.node.store.getCredentials(username):
            raise StanzaError("service-unavailable")
        return None


def install(node: Any) -> Ping:
    ping = Ping(node)
    node.serverIQ.register("get", NS_PING, ping.server)
    node.accountIQ.register("get", NS_PING, ping.account)
    node.serverFeatures.add(NS_PING)
    node.accountFeatures.add(NS_PING)
    return ping
