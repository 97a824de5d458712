# -*- test-case-name: tests.s2s.test_streams -*-
"""
The initiating side of a server-to-server stream (RFC 6120).

Negotiation: stream header, STARTTLS (required by default), then SASL
EXTERNAL when the peer offers it (it does when our certificate is valid for
our domain, XEP-0178), else dialback (XEP-0220) when policy allows. The
peer's own certificate is checked after the handshake; policy may require
it to be valid. Once authenticated the stream carries stanzas from one
local domain to one remote domain, and meanwhile it can carry dialback
verification requests for the other direction.
"""

from __future__ import annotations

import base64
from typing import Any

from twisted.internet import defer
from twisted.internet.interfaces import IHandshakeListener
from twisted.python import failure
from twisted.words.xish import domish
from zope.interface import implementer

from xmuc.s2s.dialback import NS_DIALBACK, NS_DIALBACK_FEATURE, dialbackElement
from xmuc.parselimits import ParseLimits
from xmuc.xmlstream import NS_SASL, NS_STREAMS, NS_TLS, StreamError, XMLStream

NS_SERVER = "jabber:server"


class NegotiationFailed(Exception):
    """
    The stream could not be authenticated; the message says why.
    """


@implementer(IHandshakeListener)
class OutgoingStream(XMLStream):
    """
    One outgoing s2s stream of a L{xmuc.s2s.link.Link}.

    @ivar ready: fires with this stream once it is authenticated, or fails
        with L{NegotiationFailed} or the connection's loss.
    @ivar canVerify: dialback verification requests may be sent.
    @ivar peerClosed: the peer ended the stream cleanly.
    @ivar method: how the peer accepted us (C{EXTERNAL} or C{dialback}).
    """

    def __init__(self, link: Any, directTLS: bool = False) -> None:
        manager = link.manager
        super().__init__(manager.clock)
        config = manager.config.s2s
        # The peer sends only negotiation on this stream: the small limits
        # throughout.
        self.limits = ParseLimits.fromSection(config, False)
        self.handshakeTimeout = config.tls_handshake_timeout
        self.closeTimeout = config.close_timeout
        self.link = link
        self.manager = manager
        self.local = link.local
        self.remote = link.remote
        self.policy = manager.config.peerPolicy(link.remote)
        self.secure = directTLS
        self.tlsConnection: Any = None
        self.certificateError: str | None = "no TLS"
        self.authenticated = False
        self.method: str | None = None
        self.canVerify = False
        self.peerClosed = False
        self.ready: defer.Deferred = defer.Deferred()
        self._dialbackDeclared = False
        self._step = "header"

    # Header

    def connectionMade(self) -> None:
        super().connectionMade()
        self.sendHeader()

    def writeHeader(self) -> None:
        self.transport.write(
            (
                "<?xml version='1.0'?>"
                f"<stream:stream xmlns='{NS_SERVER}' xmlns:stream='{NS_STREAMS}' "
                f"xmlns:db='{NS_DIALBACK}' from='{domish.escapeToXml(self.local, 1)}' "
                f"to='{domish.escapeToXml(self.remote, 1)}' version='1.0'>"
            ).encode("utf-8")
        )

    def onHeader(self, root: domish.Element) -> None:
        if root.uri != NS_STREAMS or root.name != "stream" or root.defaultUri != NS_SERVER:
            raise StreamError("invalid-namespace")
        self.streamId = root.getAttribute("id", "")
        self._dialbackDeclared = NS_DIALBACK in root.localPrefixes.values()
        if not root.getAttribute("version", "").startswith("1."):
            # A pre-RFC 3920 server sends no features: dialback or nothing.
            self._onFeatures(domish.Element((NS_STREAMS, "features")))

    def handshakeCompleted(self) -> None:
        super().handshakeCompleted()
        self.certificateError = self.manager.verifier.check(self.tlsConnection, self.remote)

    # Elements

    def onElement(self, element: domish.Element) -> None:
        uri, name = element.uri, element.name
        if uri == NS_STREAMS and name == "features":
            self._onFeatures(element)
        elif uri == NS_TLS and name == "proceed" and self._step == "tls":
            self._startTLS()
        elif uri == NS_SASL and self._step == "sasl":
            self._onSASL(element)
        elif uri == NS_DIALBACK and name == "result" and self._step == "dialback":
            self._onResult(element)
        elif uri == NS_DIALBACK and name == "verify":
            self.link.verifyAnswered(element)
        elif uri == NS_STREAMS and name == "error":
            self._fail(f"stream error from peer: {_errorCondition(element)}")
        else:
            raise StreamError("unsupported-stanza-type", "this stream carries our stanzas only")

    def _onFeatures(self, features: domish.Element) -> None:
        if self.authenticated:
            self._ready()
            return
        if not self.secure:
            if self.manager.tls is not None and _child(features, NS_TLS, "starttls"):
                self._step = "tls"
                self.send(domish.Element((NS_TLS, "starttls")))
                return
            if self.policy.require_tls:
                self._fail("the peer does not offer TLS, which policy requires")
                return
        elif self.certificateError and self.policy.require_valid_certificate:
            self._fail(f"peer certificate refused: {self.certificateError}")
            return
        self.canVerify = True
        self.link.verifyReady(self)
        if self.secure and "EXTERNAL" in _mechanisms(features):
            self._step = "sasl"
            auth = domish.Element((NS_SASL, "auth"))
            auth["mechanism"] = "EXTERNAL"
            auth.addContent(base64.b64encode(self.local.encode("utf-8")).decode("ascii"))
            self.send(auth)
        elif self.policy.dialback and (
            _child(features, NS_DIALBACK_FEATURE, "dialback") or self._dialbackDeclared
        ):
            self._step = "dialback"
            key = self.manager.dialbackKey(self.remote, self.local, self.streamId)
            self.send(dialbackElement("result", self.local, self.remote, key=key))
        else:
            self._fail("no authentication method both sides accept")

    def _startTLS(self) -> None:
        self.startTLS(self.manager.tls.clientCreator(self, self.remote))
        self.secure = True
        self._restart()

    def _restart(self) -> None:
        self._headerSent = False
        self._step = "header"
        self.resetParser()
        self.sendHeader()

    def _onSASL(self, element: domish.Element) -> None:
        if element.name == "success":
            self.authenticated = True
            self.method = "EXTERNAL"
            self._restart()
        else:
            self._fail(f"SASL EXTERNAL refused: {_errorCondition(element)}")

    def _onResult(self, element: domish.Element) -> None:
        if element.getAttribute("from") != self.remote or element.getAttribute("to") != self.local:
            raise StreamError("invalid-from")
        if element.getAttribute("type") == "valid":
            self.authenticated = True
            self.method = "dialback"
            self._ready()
        else:
            self._fail(f"dialback refused ({element.getAttribute('type')})")

    def _ready(self) -> None:
        self._step = "ready"
        d, self.ready = self.ready, None
        if d is not None:
            d.callback(self)

    def _fail(self, reason: str) -> None:
        d, self.ready = self.ready, None
        if d is not None:
            d.errback(NegotiationFailed(reason))
        self.closeStream()

    # End

    def onEnd(self) -> None:
        self.peerClosed = True
        self.closeStream()

    def connectionLost(self, reason: failure.Failure = None) -> None:
        super().connectionLost(reason)
        d, self.ready = self.ready, None
        if d is not None:
            d.errback(NegotiationFailed(f"connection lost: {reason.getErrorMessage()}"))
        self.link.streamLost(self)

    def describePeer(self) -> str:
        return f"{self.remote} (outgoing from {self.local})"


def _child(element: domish.Element, uri: str, name: str) -> domish.Element | None:
    for child in element.elements(uri, name):
        return child
    return None


def _mechanisms(features: domish.Element) -> list[str]:
    mechanisms = _child(features, NS_SASL, "mechanisms")
    if mechanisms is None:
        return []
    return [str(child).strip() for child in mechanisms.elements(NS_SASL, "mechanism")]


def _errorCondition(element: domish.Element) -> str:
    for child in element.elements():
        if child.name != "text":
            return child.name
    return element.getAttribute("type", "unknown")
