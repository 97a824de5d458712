# -*- test-case-name: tests.im.test_delivery -*-
"""
Delivery of stanzas addressed to the node's own domain (RFC 6121 section 8).

  - to the domain itself: IQs go to the server's handlers;
  - to an account's bare JID: messages go to the available resources with
    the highest non-negative priority, else to offline storage; IQs are
    answered by the server on the account's behalf;
  - to a full JID: to that session when it is bound, else as for the bare
    JID (messages) or C{service-unavailable} (IQs).

Presence is handed to the presence module in every case.
"""

from __future__ import annotations

from typing import Any

from twisted.logger import Logger
from twisted.words.protocols.jabber.jid import JID
from twisted.words.xish import domish

from xmuc.core.errors import errorReply
from xmuc.core.jid import parseJID


class LocalDelivery:
    """
    The router's sink for the node's domain.
    """

    log = Logger()

    def __init__(self, node: Any) -> None:
        self.node = node
        self.router = node.router
        self.domain = node.domain

    def receive(self, stanza: domish.Element, to: JID) -> None:
        try:
            self._receive(stanza, to)
        except Exception:
            self.log.failure("Delivering a stanza to {to} failed", to=to.full())
            self.router.bounce(stanza, "internal-server-error")

    def _receive(self, stanza: domish.Element, to: JID) -> None:
        name = stanza.name
        node = self.node
        if name == "presence":
            node.modules["presence"].inbound(stanza, to)
            return
        if to.user is None:
            self._toServer(stanza, to)
            return
        if node.hooks.fire("local-inbound", stanza, to):
            return
        if name == "message":
            self._message(stanza, to)
        elif name == "iq":
            self._iq(stanza, to)
        else:
            self.router.bounce(stanza, "bad-request")

    # The domain itself

    def _toServer(self, stanza: domish.Element, to: JID) -> None:
        name = stanza.name
        if name == "iq":
            if to.resource is None and self._dispatch(self.node.serverIQ, stanza):
                return
            if stanza.getAttribute("type") in ("get", "set"):
                self.router.bounce(stanza, "service-unavailable")
        elif name == "message":
            if not self.node.hooks.fire("message-to-server", stanza, to):
                # RFC 6121 section 8.5.1: the server may ignore it; say so.
                self.router.bounce(stanza, "service-unavailable")

    def _dispatch(self, dispatcher: Any, stanza: domish.Element) -> bool:
        if stanza.getAttribute("type") not in ("get", "set"):
            return False
        try:
            sender = parseJID(stanza["from"])
        except Exception:
            return False
        return dispatcher.dispatch(stanza, sender, None, self.node.route)

    # Accounts

    def accountIQ(self, stanza: domish.Element, sender: JID, session: Any) -> None:
        """
        An IQ for an account's bare JID, possibly from the account itself
        (then C{session} is the sending session and C{to} may be absent).
        """
        kind = stanza.getAttribute("type")
        if kind not in ("get", "set"):
            return
        if session is not None and not stanza.getAttribute("to"):
            # Handled on the account's behalf: the answer carries no
            # addresses, as the request did not (RFC 6120 section 8.1.1.1).
            stanza["to"] = session.bare

            def send(reply: domish.Element) -> None:
                for attribute in ("to", "from"):
                    if reply.hasAttribute(attribute):
                        del reply[attribute]
                session.send(reply)

        else:
            send = self.node.route
        if not self.node.accountIQ.dispatch(stanza, sender, session, send):
            reply = errorReply(stanza, "service-unavailable")
            if reply is not None:
                send(reply)

    def _iq(self, stanza: domish.Element, to: JID) -> None:
        if to.resource is not None:
            target = self.router.session(to.userhost(), to.resource)
            if target is not None:
                target.send(stanza)
            elif stanza.getAttribute("type") in ("get", "set"):
                self.router.bounce(stanza, "service-unavailable")
            return
        sender = parseJID(stanza["from"])
        session = None
        if sender.userhost() == to.full():
            session = self.router.session(sender.userhost(), sender.resource)
        if stanza.getAttribute("type") in ("get", "set"):
            if not self.node.accountIQ.dispatch(stanza, sender, session, self.node.route):
                self.router.bounce(stanza, "service-unavailable")
        # IQ results and errors to a bare JID have nobody to go to.

    def _message(self, stanza: domish.Element, to: JID) -> None:
        kind = stanza.getAttribute("type", "normal")
        bare = to.userhost()
        if to.resource is not None:
            target = self.router.session(bare, to.resource)
            if target is not None:
                target.send(stanza)
                self.node.hooks.fire("message-delivered", stanza, to, (target,))
                return
        if kind == "groupchat":
            self.router.bounce(stanza, "service-unavailable")
            return
        targets = self.deliveryTargets(bare, kind)
        if targets:
            for target in targets:
                target.send(stanza)
            self.node.hooks.fire("message-delivered", stanza, to, targets)
            return
        if kind in ("headline", "error"):
            # RFC 6121 section 8.5.2.2.1: silently ignored by design.
            return
        self.node.hooks.fire("message-offline", stanza, to) or self.router.bounce(
            stanza, "service-unavailable"
        )

    def deliveryTargets(self, bare: str, kind: str) -> tuple[Any, ...]:
        """
        The sessions a message to a bare JID goes to: the available ones
        with the highest non-negative priority (all non-negative ones for
        headlines).
        """
        candidates = [
            s for s in self.router.sessionsOf(bare) if s.available and s.priority >= 0
        ]
        if not candidates or kind == "headline":
            return tuple(candidates)
        top = max(s.priority for s in candidates)
        return tuple(s for s in candidates if s.priority == top)


def install(node: Any) -> LocalDelivery:
    delivery = LocalDelivery(node)
    node.router.local = delivery
    return delivery
