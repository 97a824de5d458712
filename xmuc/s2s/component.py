# -*- test-case-name: tests.s2s.test_component -*-
"""
External components (XEP-0114, jabber:component:accept).

A component connects to the components port, names its host in the stream
header, and proves it knows the host's shared secret with a handshake
(hex SHA-1 of the stream id and the secret). Stanzas for the host then go to
it; while it is not connected they are answered with
C{service-unavailable}. A stanza it sends must come from its host (or a
JID on it). A connection that has not sent its handshake within
[components] C{auth_timeout} gets C{connection-timeout}. The streams parse
under the [s2s] limits, the pre-authentication ones until the handshake.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from twisted.internet import protocol
from twisted.python import failure
from twisted.words.protocols.jabber.jid import JID
from twisted.words.xish import domish

from xmuc.core.jid import InvalidJID, parseJID, prepDomain
from xmuc.core.stanza import toClientNamespace
from xmuc.parselimits import ParseLimits
from xmuc.xmlstream import NS_STREAMS, StreamError, XMLStream

NS_COMPONENT = "jabber:component:accept"
_STANZAS = frozenset(("message", "presence", "iq"))


def handshakeDigest(streamId: str, secret: str) -> str:
    """
    The handshake value of XEP-0114 section 3.
    """
    return hashlib.sha1((streamId + secret).encode("utf-8")).hexdigest()


class ComponentStream(XMLStream):
    """
    One component connection.
    """

    def __init__(self, manager: "ComponentManager") -> None:
        super().__init__(manager.node.clock)
        self.manager = manager
        self.host: str | None = None
        self.authenticated = False
        config = manager.node.config
        self.limits = ParseLimits.fromSection(config.s2s, False)
        self.closeTimeout = config.s2s.close_timeout
        self._authCall: Any = None

    def connectionMade(self) -> None:
        super().connectionMade()
        self._authCall = self.clock.callLater(
            self.manager.node.config.components.auth_timeout, self._authTimedOut
        )

    def _authTimedOut(self) -> None:
        self._authCall = None
        if not self.closed and not self.authenticated:
            self.timedOut("no handshake in time")

    def writeHeader(self) -> None:
        self.streamId = self.manager.node.makeId()
        host = domish.escapeToXml(self.host or self.manager.node.domain, 1)
        self.transport.write(
            (
                "<?xml version='1.0'?>"
                f"<stream:stream xmlns='{NS_COMPONENT}' xmlns:stream='{NS_STREAMS}' "
                f"id='{self.streamId}' from='{host}'>"
            ).encode("utf-8")
        )

    def onHeader(self, root: domish.Element) -> None:
        try:
            self.host = prepDomain(root.getAttribute("to", ""))
        except InvalidJID:
            self.host = None
        self.sendHeader()
        if root.uri != NS_STREAMS or root.defaultUri != NS_COMPONENT:
            raise StreamError("invalid-namespace")
        if self.host is None or self.host not in self.manager.secrets:
            raise StreamError("host-unknown")

    def onElement(self, element: domish.Element) -> None:
        if not self.authenticated:
            if element.name == "handshake" and element.uri == NS_COMPONENT:
                self._handshake(str(element).strip())
                return
            raise StreamError("not-authorized", "handshake first")
        if element.uri != NS_COMPONENT or element.name not in _STANZAS:
            raise StreamError("unsupported-stanza-type")
        try:
            sender = parseJID(element.getAttribute("from", ""))
        except InvalidJID:
            raise StreamError("invalid-from")
        if sender.host != self.host:
            raise StreamError("invalid-from", f"send from {self.host}")
        self.manager.node.router.route(toClientNamespace(element))

    def _handshake(self, digest: str) -> None:
        expected = handshakeDigest(self.streamId, self.manager.secrets[self.host])
        if not hmac.compare_digest(expected.encode("ascii"), digest.lower().encode("ascii", "replace")):
            raise StreamError("not-authorized", "wrong handshake")
        if not self.manager.attach(self):
            raise StreamError("conflict", f"{self.host} is already connected")
        self.authenticated = True
        if self._authCall is not None and self._authCall.active():
            self._authCall.cancel()
        self._authCall = None
        self.setLimits(ParseLimits.fromSection(self.manager.node.config.s2s, True))
        self.send(domish.Element((NS_COMPONENT, "handshake")))

    # The router's sink for the component's host

    def receive(self, stanza: domish.Element, to: JID) -> None:
        self.send(stanza)

    def connectionLost(self, reason: failure.Failure = protocol.connectionDone) -> None:
        super().connectionLost(reason)
        if self._authCall is not None and self._authCall.active():
            self._authCall.cancel()
        self._authCall = None
        if self.authenticated:
            self.manager.detach(self)

    def describePeer(self) -> str:
        return f"component {self.host or '?'}"


class _Offline:
    """
    The sink of a configured component that is not connected.
    """

    def __init__(self, router: Any) -> None:
        self.router = router

    def receive(self, stanza: domish.Element, to: JID) -> None:
        self.router.bounce(stanza, "service-unavailable", "the component is not connected")


class ComponentManager:
    """
    The configured components and their connections.
    """

    def __init__(self, node: Any) -> None:
        self.node = node
        self.secrets = {host: section.secret for host, section in node.config.componentSecrets.items()}
        self.streams: dict[str, ComponentStream] = {}
        self._offline = _Offline(node.router)
        for host in self.secrets:
            node.router.components[host] = self._offline

    def attach(self, stream: ComponentStream) -> bool:
        if stream.host in self.streams:
            return False
        self.streams[stream.host] = stream
        self.node.router.components[stream.host] = stream
        return True

    def detach(self, stream: ComponentStream) -> None:
        if self.streams.get(stream.host) is stream:
            del self.streams[stream.host]
            self.node.router.components[stream.host] = self._offline

    def listenFactory(self) -> protocol.Factory:
        return protocol.Factory.forProtocol(lambda: ComponentStream(self))

    def stop(self) -> None:
        for stream in list(self.streams.values()):
            stream.streamError("system-shutdown")
