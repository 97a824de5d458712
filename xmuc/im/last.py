# -*- test-case-name: tests.im.test_last -*-
"""
XEP-0012 Last Activity.

  - To the domain: the server's uptime, in seconds since the node started.
  - To an account's bare JID (answered by the server, section 4): how long
    ago the account was last online, with the status it left with; C{0}
    while it has an available resource. Only the account itself and
    contacts subscribed to its presence (subscription C{from} or C{both}
    in its roster) may ask; others get C{forbidden}. An account never seen
    online answers C{item-not-found}.

Requests to a full JID go to the client (idle time) like any other IQ.
"""

from __future__ import annotations

from typing import Any

from twisted.words.protocols.jabber.error import StanzaError
from twisted.words.protocols.jabber.jid import JID
from twisted.words.xish import domish

from xmuc.core.jid import parseJID

NS_LAST = "jabber:iq:last"


def _query(seconds: float, status: str = "") -> domish.Element:
    query = domish.Element((NS_LAST, "query"))
    query["seconds"] = str(max(0, int(seconds)))
    if status:
        query.addContent(status)
    return query


class LastActivity:
    """
    The last-activity handlers of a node.
    """

    def __init__(self, node: Any) -> None:
        self.node = node

    def server(self, iq: domish.Element, sender: JID, session: Any) -> domish.Element:
        """
        The node's uptime.
        """
        return _query(self.node.clock.seconds() - self.node.startedAt)

    async def account(
        self, iq: domish.Element, sender: JID, session: Any
    ) -> domish.Element:
        """
        An account's last activity, for itself and its subscribers.
        """
        account = parseJID(iq["to"])
        username, bare = account.user, account.userhost()
        store = self.node.store
        if not await store.getCredentials(username):
            raise StanzaError("service-unavailable")
        requester = sender.userhost()
        if requester != bare:
            roster = await store.getRoster(username)
            item = roster.items.get(requester)
            if item is None or item.subscription not in ("from", "both"):
                raise StanzaError("forbidden")
        if any(s.available for s in self.node.router.sessionsOf(bare)):
            return _query(0)
        activity = await store.getLastActivity(username)
        if activity is None:
            raise StanzaError("item-not-found")
        return _query(self.node.clock.seconds() - activity.stamp, activity.status)


def install(node: Any) -> LastActivity:
    last = LastActivity(node)
    node.serverIQ.register("get", NS_LAST, last.server)
    node.accountIQ.register("get", NS_LAST, last.account)
    node.serverFeatures.add(NS_LAST)
    node.accountFeatures.add(NS_LAST)
    return last
