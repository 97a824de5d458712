# -*- test-case-name: tests.c2s.test_session -*-
"""
A bound client session: the addressing rules for what a client sends
(RFC 6120 section 8.1) and the session's IM state.
"""

from __future__ import annotations

from typing import Any

from twisted.logger import Logger
from twisted.words.protocols.jabber.jid import JID
from twisted.words.xish import domish

from xmuc.core.jid import InvalidJID, bareJID, parseJID
from xmuc.core.stanza import stanzaXml

NS_SESSION = "urn:ietf:params:xml:ns:xmpp-session"


class ClientSession:
    """
    The IM side of one bound resource.

    @ivar jid: the full JID.
    @ivar bare: the bare JID string (the account).
    @ivar available: whether it sent available presence and not yet
        unavailable.
    @ivar priority: the priority of its last available presence.
    @ivar presence: its last broadcast available presence, or L{None}.
    @ivar interested: whether it requested the roster (RFC 6121 section
        2.1.6: an interested resource gets roster pushes and subscription
        requests).
    @ivar carbons: whether it enabled message carbons (XEP-0280).
    @ivar blocked: the account's block list (XEP-0191), loaded at bind.
    """

    log = Logger()

    def __init__(self, node: Any, stream: Any, address: JID) -> None:
        self.node = node
        self.stream = stream
        self.jid = address
        self.full = address.full()
        self.bare = address.userhost()
        self.username = address.user
        self.available = False
        self.priority = 0
        self.presence: domish.Element | None = None
        self.interested = False
        self.carbons = False
        self.blocked: frozenset[str] = frozenset()
        self.isClosed = False

    def __repr__(self) -> str:
        return f"<ClientSession {self.full}>"

    # Life cycle

    def bound(self) -> None:
        """
        Register with the router, replacing a session with the same full
        JID (which is ended with a C{conflict} stream error).
        """
        previous = self.node.router.addSession(self)
        if previous is not None and previous is not self:
            previous.stream.streamError("conflict", "replaced by a new session")
        self.node.hooks.fire("session-bound", self)

    def closed(self) -> None:
        """
        The stream ended: leave the router and let the IM logic clean up
        (unavailable presence broadcast and the like).
        """
        if self.isClosed:
            return
        self.isClosed = True
        self.node.hooks.fire("session-closed", self)
        self.node.router.removeSession(self)

    # Output

    def send(self, stanza: domish.Element) -> None:
        """
        Deliver a stanza to the client.
        """
        self.stream.sendBytes(stanzaXml(stanza).encode("utf-8"))

    def sendBytes(self, data: bytes) -> None:
        """
        Deliver an already serialised stanza.
        """
        self.stream.sendBytes(data)

    # Input

    def outbound(self, stanza: domish.Element) -> None:
        """
        A stanza from the client: check and stamp its addressing, then hand
        it to the IM logic.
        """
        node = self.node
        sender = stanza.getAttribute("from")
        if sender is not None and sender != self.full:
            try:
                claimed = parseJID(sender)
            except InvalidJID:
                claimed = None
            if claimed is None or (claimed != self.jid and claimed.full() != self.bare):
                self.stream.streamError("invalid-from")
                return
        stanza["from"] = self.full
        to = stanza.getAttribute("to")
        if to is not None:
            try:
                toJID = parseJID(to)
            except InvalidJID:
                reply = _errorFor(stanza, "jid-malformed")
                if reply is not None:
                    self.send(reply)
                return
            stanza["to"] = toJID.full()
        else:
            toJID = None
        if self._legacySession(stanza, toJID):
            return
        try:
            if node.hooks.fire("c2s-outbound", self, stanza):
                return
            name = stanza.name
            if name == "presence":
                node.modules["presence"].outbound(self, stanza, toJID)
            elif name == "iq" and (toJID is None or toJID.full() == self.bare):
                node.modules["delivery"].accountIQ(stanza, self.jid, self)
            elif toJID is None:
                stanza["to"] = self.bare
                node.router.route(stanza, bareJID(self.jid))
            else:
                node.router.route(stanza, toJID)
            if name == "message":
                node.hooks.fire("message-sent", self, stanza)
        except Exception:
            self.log.failure("Handling a stanza from {who} failed", who=self.full)
            reply = _errorFor(stanza, "internal-server-error")
            if reply is not None:
                self.send(reply)

    def _legacySession(self, stanza: domish.Element, toJID: JID | None) -> bool:
        """
        Answer the RFC 3921 session IQ, which binding made a no-op (RFC 6121
        appendix E) but which old clients still send and wait on.
        """
        if stanza.name != "iq" or stanza.getAttribute("type") != "set":
            return False
        payload = stanza.firstChildElement()
        if payload is None or (payload.uri, payload.name) != (NS_SESSION, "session"):
            return False
        if toJID is not None and toJID.full() not in (self.node.domain, self.bare):
            return False
        reply = domish.Element((None, "iq"))
        reply["type"] = "result"
        if stanza.getAttribute("id") is not None:
            reply["id"] = stanza["id"]
        if toJID is not None:
            reply["from"] = toJID.full()
        self.send(reply)
        return True


def _errorFor(stanza: domish.Element, condition: str) -> domish.Element | None:
    from xmuc.core.errors import errorReply

    reply = errorReply(stanza, condition)
    if reply is not None and reply.getAttribute("to"):
        del reply["to"]
    return reply
