# -*- test-case-name: tests.s2s.test_streams,tests.s2s.test_unauthenticated -*-
"""
The receiving side of server-to-server streams (RFC 6120).

A peer authenticates a domain on the stream with SASL EXTERNAL (its
certificate must verify and name that domain, XEP-0178) or with dialback
(XEP-0220, when policy allows), possibly several domains one after the
other. Stanzas are accepted only with a C{from} in an authenticated domain
and a C{to} in a domain this node hosts; anything else ends the stream
with the condition RFC 6120 gives. Dialback verification requests
(C{<db:verify/>}) are answered on any stream, authenticated or not.

Until a peer authenticates a domain, what it can make the node do is
bounded: a stricter read rate ([s2s] unauth_rate_limit, unauth_rate_burst),
a few dialback requests (unauth_dialback_requests, then the stream ends
with C{policy-violation}), a few db:result verifications waiting per stream
(dialback_pending, the same) and node-wide (dialback_pending_max, then the
db:result is answered C{resource-constraint}), how fast one address opens
streams, and how many unauthenticated streams it and everyone may hold
(L{xmuc.s2s.guard}).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from twisted.python import failure
from twisted.words.xish import domish

from xmuc.core.jid import InvalidJID, parseJID, prepDomain
from xmuc.core.stanza import toClientNamespace
from xmuc.s2s.dialback import (
    NS_DIALBACK,
    NS_DIALBACK_FEATURE,
    dialbackElement,
    keysMatch,
)
from xmuc.parselimits import ParseLimits
from xmuc.xmlstream import NS_SASL, NS_STREAMS, NS_TLS, StreamError, XMLStream

NS_SERVER = "jabber:server"
_STANZAS = frozenset(("message", "presence", "iq"))


class IncomingStream(XMLStream):
    """
    One incoming s2s connection.

    @ivar localDomain: the hosted domain the peer addressed (header C{to}).
    @ivar peerDomain: the domain the peer said it is (header C{from}).
    @ivar authenticated: the remote domains this stream may send from, each
        with how it was authenticated (C{EXTERNAL} or C{dialback}).
    """

    def __init__(self, manager: Any, directTLS: bool = False) -> None:
        super().__init__(manager.clock)
        config = manager.config.s2s
        # The small parse limits and the stricter rate until a domain is
        # authenticated on the stream (_authenticate).
        self.limits = ParseLimits.fromSection(config, False)
        self.rateLimit = config.unauth_rate_limit
        self.rateBurst = config.unauth_rate_burst
        self.handshakeTimeout = config.tls_handshake_timeout
        self.closeTimeout = config.close_timeout
        self.manager = manager
        self.secure = directTLS
        self.tlsConnection: Any = None
        self.localDomain = manager.domain
        self.peerDomain: str | None = None
        self.authenticated: dict[str, str] = {}
        self._version = False
        self._idleCall: Any = None
        self._dialbackRequests = 0
        self._verifying = 0

    def connectionMade(self) -> None:
        super().connectionMade()
        refused = self.manager.incomingStarted(self)
        if refused is not None:
            # The manager logs refusals, sparingly: a connection flood must
            # not become a log flood.
            self.streamError(*refused, logged=False)
            return
        self._idleCall = self.clock.callLater(self._quietLimit(), self._checkIdle)

    def connectionLost(self, reason: failure.Failure = None) -> None:
        super().connectionLost(reason)
        if self._idleCall is not None and self._idleCall.active():
            self._idleCall.cancel()
        self.manager.incomingEnded(self)

    def _quietLimit(self) -> float:
        # A peer gets a few connect time-outs to authenticate, then
        # idle_timeout of silence before the stream is closed.
        config = self.manager.config.s2s
        return config.idle_timeout if self.authenticated else 3 * config.connect_timeout

    def _checkIdle(self) -> None:
        quiet = self.clock.seconds() - self.lastActivity
        limit = self._quietLimit()
        if quiet >= limit:
            self._idleCall = None
            if self.authenticated:
                self.closeStream()
            else:
                self.timedOut("no authentication in time")
            return
        self._idleCall = self.clock.callLater(limit - quiet, self._checkIdle)

    # Header

    def writeHeader(self) -> None:
        self.streamId = self.manager.makeId()
        to = f" to='{domish.escapeToXml(self.peerDomain, 1)}'" if self.peerDomain else ""
        version = " version='1.0'" if self._version else ""
        self.transport.write(
            (
                "<?xml version='1.0'?>"
                f"<stream:stream xmlns='{NS_SERVER}' xmlns:stream='{NS_STREAMS}' "
                f"xmlns:db='{NS_DIALBACK}' id='{self.streamId}' "
                f"from='{domish.escapeToXml(self.localDomain, 1)}'{to}{version}>"
            ).encode("utf-8")
        )

    def onHeader(self, root: domish.Element) -> None:
        self._version = root.getAttribute("version", "").startswith("1.")
        to = root.getAttribute("to")
        sender = root.getAttribute("from")
        try:
            if to:
                self.localDomain = prepDomain(to)
        except InvalidJID:
            self.sendHeader()
            raise StreamError("host-unknown")
        try:
            self.peerDomain = prepDomain(sender) if sender else None
        except InvalidJID:
            self.sendHeader()
            raise StreamError("invalid-from")
        self.sendHeader()
        if root.uri != NS_STREAMS or root.name != "stream" or root.defaultUri != NS_SERVER:
            raise StreamError("invalid-namespace")
        if not self.manager.hosted(self.localDomain):
            raise StreamError("host-unknown")
        if self._version:
            self.send(self._features())

    def _policy(self) -> Any:
        return self.manager.config.peerPolicy(self.peerDomain or "")

    def _features(self) -> domish.Element:
        features = domish.Element((NS_STREAMS, "features"))
        policy = self._policy()
        if not self.secure and self.manager.tls is not None:
            starttls = features.addElement((NS_TLS, "starttls"))
            if policy.require_tls:
                starttls.addElement("required")
                return features
        if self.secure and self.peerDomain and self.peerDomain not in self.authenticated:
            if self._certificateError(self.peerDomain) is None:
                mechanisms = features.addElement((NS_SASL, "mechanisms"))
                mechanisms.addElement("mechanism", content="EXTERNAL")
        if policy.dialback and not policy.require_valid_certificate:
            features.addElement((NS_DIALBACK_FEATURE, "dialback")).addElement("errors")
        return features

    def _certificateError(self, domain: str) -> str | None:
        return self.manager.verifier.check(self.tlsConnection, domain)

    # Elements

    def onElement(self, element: domish.Element) -> None:
        uri, name = element.uri, element.name
        if uri == NS_SERVER and name in _STANZAS:
            self._onStanza(element)
        elif uri == NS_DIALBACK and name == "verify":
            self._countDialback()
            self._onVerify(element)
        elif uri == NS_DIALBACK and name == "result":
            self._countDialback()
            self._onResult(element)
        elif uri == NS_TLS and name == "starttls":
            self._startTLS()
        elif uri == NS_SASL and name == "auth":
            self._onAuth(element)
        elif uri == NS_STREAMS and name == "error":
            self.log.info("s2s peer {peer} ended its stream: {error}",
                          peer=self.describePeer(), error=element.toXml())
            self.closeStream()
        else:
            raise StreamError("unsupported-stanza-type")

    def _startTLS(self) -> None:
        if self.secure or self.manager.tls is None:
            self.send(domish.Element((NS_TLS, "failure")))
            self.closeStream()
            return
        self.send(domish.Element((NS_TLS, "proceed")))
        self.startTLS(self.manager.tls.serverCreator(self))
        self.secure = True
        self._restart()

    def _restart(self) -> None:
        self._headerSent = False
        self.resetParser()

    def _onAuth(self, element: domish.Element) -> None:
        if element.getAttribute("mechanism") != "EXTERNAL" or not self.secure:
            self._saslFailure("invalid-mechanism")
            return
        text = str(element).strip()
        try:
            authzid = base64.b64decode(text, validate=True).decode("utf-8") if text not in ("", "=") else ""
        except (binascii.Error, ValueError):
            self._saslFailure("incorrect-encoding")
            return
        try:
            domain = prepDomain(authzid) if authzid else self.peerDomain
        except InvalidJID:
            domain = None
        if not domain:
            self._saslFailure("invalid-authzid")
            return
        why = self._certificateError(domain)
        if why is not None:
            # The verifier's reason (OpenSSL's words) is for the log.
            self.log.info("s2s peer {peer}: SASL EXTERNAL for {domain} refused: {why}",
                          peer=self.describePeer(), domain=domain, why=why)
            self._saslFailure("not-authorized", f"no valid certificate for {domain}")
            return
        self._authenticate(domain, "EXTERNAL")
        self.send(domish.Element((NS_SASL, "success")))
        self._restart()

    def _authenticate(self, domain: str, method: str) -> None:
        """
        C{domain} may send on this stream now; the first one lifts the
        bounds on unauthenticated streams and the small parse limits.
        """
        if not self.authenticated:
            config = self.manager.config.s2s
            self.rateLimit = config.rate_limit
            self.rateBurst = config.rate_burst
            self.manager.incomingAuthenticated(self)
            self.setLimits(ParseLimits.fromSection(config, True))
        self.authenticated[domain] = method

    def _saslFailure(self, condition: str, text: str | None = None) -> None:
        element = domish.Element((NS_SASL, "failure"))
        element.addElement(condition)
        if text:
            element.addElement("text", content=text)
        self.send(element)

    # Dialback

    def _countDialback(self) -> None:
        """
        One more db:verify or db:result; before authentication only
        unauth_dialback_requests are answered on one stream.
        """
        if self.authenticated:
            return
        self._dialbackRequests += 1
        limit = self.manager.config.s2s.unauth_dialback_requests
        if limit and self._dialbackRequests > limit:
            raise StreamError("policy-violation", "too many dialback requests before authentication")

    def _onVerify(self, element: domish.Element) -> None:
        """
        Another server asks whether a key is ours (we are authoritative).
        """
        sender, recipient = element.getAttribute("from"), element.getAttribute("to")
        streamId = element.getAttribute("id")
        if not sender or not recipient or not streamId:
            raise StreamError("improper-addressing")
        if not self.manager.hosted(recipient):
            self.send(dialbackElement("verify", recipient, sender, kind="error",
                                      streamId=streamId, condition="item-not-found"))
            return
        expected = self.manager.dialbackKey(sender, recipient, streamId)
        valid = keysMatch(expected, str(element))
        self.send(dialbackElement("verify", recipient, sender, streamId=streamId,
                                  kind="valid" if valid else "invalid"))

    def _onResult(self, element: domish.Element) -> None:
        """
        A peer asks to be authenticated for a domain with a dialback key.
        """
        sender, recipient = element.getAttribute("from"), element.getAttribute("to")
        if not sender or not recipient:
            raise StreamError("improper-addressing")
        try:
            sender = prepDomain(sender)
        except InvalidJID:
            raise StreamError("invalid-from")
        if not self.manager.hosted(recipient):
            self.send(dialbackElement("result", recipient, sender, kind="error",
                                      condition="item-not-found"))
            return
        policy = self.manager.config.peerPolicy(sender)
        if not policy.dialback or policy.require_valid_certificate or (
            policy.require_tls and not self.secure
        ):
            self.send(dialbackElement("result", recipient, sender, kind="error",
                                      condition="not-acceptable"))
            return
        pending = self.manager.config.s2s.dialback_pending
        if pending and self._verifying >= pending:
            raise StreamError("policy-violation", "too many dialback requests waiting")
        if not self.manager.guard.startVerification():
            self.send(dialbackElement("result", recipient, sender, kind="error",
                                      condition="resource-constraint", errorType="wait"))
            return
        self._verifying += 1
        d = self.manager.verifyDialback(sender, recipient, self.streamId, str(element).strip())
        d.addCallback(self._verified, sender, recipient)

    def _verified(self, valid: bool | None, sender: str, recipient: str) -> None:
        self._verifying -= 1
        self.manager.guard.endVerification()
        if self.closed:
            return
        if valid:
            self._authenticate(sender, "dialback")
            self.send(dialbackElement("result", recipient, sender, kind="valid"))
        elif valid is None:
            self.send(dialbackElement("result", recipient, sender, kind="error",
                                      condition="remote-connection-failed"))
        else:
            self.send(dialbackElement("result", recipient, sender, kind="invalid"))
            self.closeStream()

    # Stanzas

    def _onStanza(self, stanza: domish.Element) -> None:
        if not self.authenticated:
            raise StreamError("not-authorized", "authenticate first")
        sender, recipient = stanza.getAttribute("from"), stanza.getAttribute("to")
        if not sender or not recipient:
            raise StreamError("improper-addressing")
        try:
            sender = parseJID(sender)
        except InvalidJID:
            raise StreamError("invalid-from")
        try:
            recipient = parseJID(recipient)
        except InvalidJID:
            self.manager.router.bounce(stanza, "jid-malformed")
            return
        if sender.host not in self.authenticated:
            raise StreamError("invalid-from", f"{sender.host} is not authenticated here")
        if not self.manager.hosted(recipient.host):
            raise StreamError("host-unknown", f"{recipient.host} is not served here")
        self.manager.inbound(toClientNamespace(stanza), recipient)

    def describePeer(self) -> str:
        return f"{self.peerDomain or '?'} (incoming, {self.transport.getPeer()})"

