# -*- test-case-name: tests.c2s.test_stream -*-
"""
The client-to-server stream (RFC 6120): negotiation, STARTTLS, SASL,
resource binding, limits and timeouts.

One L{C2SStream} per TCP connection. It parses with Twisted's expat element
stream directly (no XPath observers on the hot path) and moves through the
states of L{_STATES}:

  - C{tls}: waiting for STARTTLS (when TLS is required and not yet on);
  - C{auth}: waiting for SASL;
  - C{bind}: authenticated, waiting for resource binding;
  - C{session}: bound; stanzas are routed.

A stream restart (after TLS and after SASL) resets the parser and expects a
new stream header; any state change outside the table raises. Until SASL
succeeds the parser has the small pre-authentication limits
(C{preauth_stanza_size}, C{preauth_max_elements}); every timeout goes
through L{StreamBase.timedOut}, which aborts the transport when the peer
does not let it close. Once bound, a
stream borrows its parser for each read from a L{ParserPool} shared by the
node's client listeners (L{xmuc.c2s.parser}).
"""

from __future__ import annotations

import base64
from typing import Any

from twisted.internet import defer, protocol
from twisted.python import failure
from twisted.words.xish import domish

from xmuc.c2s.parser import ParserPool, StreamParser
from xmuc.c2s.sasl import AuthContext, Challenge, MechanismSet, SASLFailure, Success
from xmuc.c2s.session import ClientSession
from xmuc.core.errors import errorReply
from xmuc.core.jid import InvalidJID, parseJID
from xmuc.parselimits import ParseLimits
from xmuc.tls import ChannelBindings, transportBindings
from xmuc.xmlstream import NS_STREAMS, StreamBase, StreamError, streamXml


def makePool(section: Any, spares: int = 4) -> ParserPool:
    """
    The parser pool for client streams under a [c2s] section's limits.
    """
    return ParserPool(
        ParseLimits.fromSection(section, True), spares, ParseLimits.fromSection(section, False)
    )

NS_CLIENT = "jabber:client"
NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind"
NS_SESSION = "urn:ietf:params:xml:ns:xmpp-session"
NS_SASL_CB = "urn:xmpp:sasl-cb:0"

_STATES = {
    "tls": {"auth"},
    "auth": {"bind"},
    "bind": {"session"},
    "session": set(),
}

_STANZAS = frozenset(("message", "presence", "iq"))

#: SASL failures that count towards [c2s] auth_failures_per_stream.
_COUNTED_FAILURES = frozenset(
    ("not-authorized", "invalid-authzid", "malformed-request", "temporary-auth-failure")
)


def _streamHeader(domain: str, streamId: str) -> bytes:
    return (
        "<?xml version='1.0'?>"
        f"<stream:stream xmlns='{NS_CLIENT}' xmlns:stream='{NS_STREAMS}' "
        f"id='{streamId}' from='{domish.escapeToXml(domain, 1)}' version='1.0' "
        "xml:lang='en'>"
    ).encode("utf-8")


class C2SStream(StreamBase):
    """
    One client connection.

    @ivar secure: whether TLS is on (STARTTLS done, or a direct-TLS port).
    @ivar session: the L{ClientSession} once a resource is bound.
    """

    def __init__(
        self, node: Any, directTLS: bool = False, parsers: ParserPool | None = None
    ) -> None:
        super().__init__(node.clock)
        self.node = node
        self.config = node.config.c2s
        self.rateLimit = self.config.rate_limit
        self.rateBurst = self.config.rate_burst
        if parsers is None:
            parsers = makePool(self.config, spares=1)
        self._parsers = parsers
        self.secure = directTLS
        self.state = "auth"
        self.username: str | None = None
        self.session: ClientSession | None = None
        self._parser: Any = None
        self._mechanism: Any = None
        self._authFailures = 0
        self._bindings: ChannelBindings | None = None
        self._timer: Any = None
        # Whether this connection holds one of its address's places for
        # refused connections (_refuseAddress).
        self._held = False

    # Read from the configuration, not copied into every stream (an idle
    # session's size counts).

    @property
    def handshakeTimeout(self) -> float:  # type: ignore[override]
        return self.config.tls_handshake_timeout

    @property
    def closeTimeout(self) -> float:  # type: ignore[override]
        return self.config.close_timeout

    # Connection

    def connectionMade(self) -> None:
        super().connectionMade()
        if self.node.authThrottle.refusing(self._peerHost()):
            self._refuseAddress()
            return
        clock = self.node.clock
        if self.config.require_tls and not self.secure:
            self.state = "tls"
        self._resetParser()
        self._timer = clock.callLater(self.config.auth_timeout, self._timeout)

    def _refuseAddress(self) -> None:
        """
        Refuse a connection from an address whose logins are in backoff,
        before it costs a TLS handshake or a parser. It is first held for
        C{refused_hold} seconds, unread (a guesser that reconnects as soon
        as it is refused is slowed to one attempt per hold on each of its
        connections), unless the address already has as many held as
        allowed. Not logged per connection: the throttle logged the
        address when its backoff began.
        """
        hold = self.config.refused_hold
        if hold and self.node.authThrottle.hold(self._peerHost()):
            self._held = True
            self.transport.pauseProducing()
            self._timer = self.node.clock.callLater(hold, self._refuseNow)
            return
        self._refuseNow()

    def _refuseNow(self) -> None:
        """
        The refusal itself: on a direct-TLS port (nothing can be said
        before the handshake) the connection is dropped, otherwise it gets
        the stream error.
        """
        self._timer = None
        self._releaseHold()
        if self.secure:
            self.closed = True
            self.transport.abortConnection()
            return
        self.streamError(
            "policy-violation", "too many failed authentications from your address; try later",
            logged=False,
        )

    def _releaseHold(self) -> None:
        """
        Give back this connection's place among its address's held
        refusals, if it has one (once, whichever way it ends).
        """
        if self._held:
            self._held = False
            self.node.authThrottle.unhold(self._peerHost())

    def connectionLost(self, reason: failure.Failure = protocol.connectionDone) -> None:
        super().connectionLost(reason)
        self._releaseHold()
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        self._parser = None
        if self.session is not None:
            session, self.session = self.session, None
            session.closed()

    def _timeout(self) -> None:
        """
        Close a stream that did not authenticate in time, or an
        authenticated one that was silent for C{idle_timeout}.
        """
        self._timer = None
        if self.closed:
            return
        if self.state != "session":
            self.timedOut("authentication took too long")
            return
        idle = self.node.clock.seconds() - self.lastActivity
        remaining = self.config.idle_timeout - idle
        if remaining > 0:
            self._timer = self.node.clock.callLater(remaining, self._timeout)
        else:
            self.timedOut("idle for too long")

    @property
    def parserReleased(self) -> bool:
        """
        Whether the stream holds no XML parser: a bound stream gives its
        parser back to the pool between reads.
        """
        return self._parser is not None and self._parser.released

    # Input

    def parse(self, data: bytes) -> None:
        self._parser.parse(data)

    def _resetParser(self) -> None:
        if self._parser is not None:
            self._parser.detach()
        pool = self._parsers
        limits = pool.limits if self.username is not None else pool.preauth
        self._parser = StreamParser(self, pool, limits)

    # Parser events

    def writeHeader(self) -> None:
        self.streamId = self.node.makeId()
        self.transport.write(_streamHeader(self.node.domain, self.streamId))

    def streamStarted(self, root: domish.Element) -> None:
        self.sendHeader()
        if root.uri != NS_STREAMS or root.name != "stream":
            raise StreamError("invalid-namespace")
        if root.defaultUri != NS_CLIENT:
            raise StreamError("invalid-namespace", "expected jabber:client")
        if root.getAttribute("to") != self.node.domain:
            try:
                to = parseJID(root.getAttribute("to") or "").host
            except InvalidJID:
                to = None
            if to != self.node.domain:
                raise StreamError("host-unknown")
        version = root.getAttribute("version", "0.9")
        try:
            major = int(version.split(".")[0])
        except ValueError:
            raise StreamError("unsupported-version")
        if major < 1:
            raise StreamError("unsupported-version")
        self.transport.write(streamXml(self._features()))

    def streamEnded(self) -> None:
        self.closeStream()

    def elementReceived(self, element: domish.Element) -> None:
        if self.closed:
            # An earlier stanza of the same read ended the stream.
            return
        state = self.state
        if state == "session" and element.name in _STANZAS and element.uri == NS_CLIENT:
            self.session.outbound(element)
            return
        if element.uri == NS_TLS and element.name == "starttls":
            self._startTLS()
        elif element.uri == NS_SASL:
            self._sasl(element)
        elif element.name == "iq" and element.uri == NS_CLIENT:
            self._preSessionIQ(element)
        elif element.name in _STANZAS and element.uri == NS_CLIENT:
            raise StreamError("not-authorized", "authenticate first")
        else:
            raise StreamError("unsupported-stanza-type")

    def _setState(self, new: str) -> None:
        if new not in _STATES[self.state]:
            raise AssertionError(f"illegal c2s transition {self.state} -> {new}")
        self.state = new

    # Features

    def _features(self) -> domish.Element:
        features = domish.Element((NS_STREAMS, "features"))
        if self.state in ("tls", "auth") and not self.secure and self.node.tlsContextFactory:
            tls = features.addElement((NS_TLS, "starttls"))
            if self.state == "tls":
                tls.addElement("required")
        if self.state == "auth":
            mechanisms = features.addElement((NS_SASL, "mechanisms"))
            for name in self._mechanisms().names:
                mechanisms.addElement("mechanism", content=name)
            advertised = self._channelBindings().advertised
            if advertised:
                binding = features.addElement((NS_SASL_CB, "sasl-channel-binding"))
                for name in advertised:
                    binding.addElement("channel-binding")["type"] = name
        for provider in self.node.streamFeatures:
            element = provider(self)
            if element is not None:
                features.addChild(element)
        if self.state == "bind":
            features.addElement((NS_BIND, "bind"))
            session = features.addElement((NS_SESSION, "session"))
            session.addElement("optional")
        return features

    def _channelBindings(self) -> ChannelBindings:
        """
        The stream's channel binding data (L{xmuc.tls.connectionBindings}),
        computed once after the TLS handshake; none without TLS.
        """
        if not self.secure:
            return ChannelBindings()
        if self._bindings is None:
            self._bindings = transportBindings(self.transport, self.node.channelBinding)
        return self._bindings

    def _mechanisms(self) -> MechanismSet:
        node = self.node
        context = AuthContext(
            node.store.getCredentials,
            node.domain,
            node.keyDerivation,
            self._admit,
            dict(self._channelBindings().data),
        )
        return MechanismSet(context, self.secure, self.config.allow_plain)

    def _peerHost(self) -> str:
        return str(getattr(self.transport.getPeer(), "host", "unknown"))

    def _admit(self, username: str) -> defer.Deferred:
        """
        Whether an attempt on C{username} may go on (L{AuthThrottle.admit});
        not once the stream has closed while it waited.
        """

        def stillOpen(_: Any) -> None:
            if self.closed:
                raise SASLFailure("aborted")

        return self.node.authThrottle.admit(self._peerHost(), username).addCallback(stillOpen)

    # STARTTLS

    def _startTLS(self) -> None:
        if self.secure or self.node.tlsContextFactory is None or self.state not in (
            "tls",
            "auth",
        ):
            self._send(domish.Element((NS_TLS, "failure")))
            self.closeStream()
            return
        self._send(domish.Element((NS_TLS, "proceed")))
        self.startTLS(self.node.tlsContextFactory)
        self.secure = True
        if self.state == "tls":
            self._setState("auth")
        self._restart()

    def _restart(self) -> None:
        self._headerSent = False
        self._resetParser()

    # SASL

    def _sasl(self, element: domish.Element) -> None:
        if self.state == "tls":
            self._saslFailure("encryption-required")
            return
        if self.state != "auth":
            raise StreamError("policy-violation", "already authenticated")
        if element.name == "auth":
            try:
                self._mechanism = self._mechanisms().create(element.getAttribute("mechanism", ""))
            except SASLFailure as e:
                self._saslFailure(e.condition, e.text)
                return
            text = str(element).strip()
            if not text:
                self._step(None)
                return
            data = self._decode(text)
            if data is not None:
                self._step(data)
        elif element.name == "response":
            if self._mechanism is None:
                self._saslFailure("malformed-request", "no authentication under way")
                return
            data = self._decode(str(element).strip() or "=")
            if data is not None:
                self._step(data)
        elif element.name == "abort":
            self._mechanism = None
            self._saslFailure("aborted")
        else:
            raise StreamError("unsupported-stanza-type")

    def _decode(self, text: str) -> bytes | None:
        if text == "=":
            return b""
        try:
            return base64.b64decode(text, validate=True)
        except ValueError:
            self._saslFailure("incorrect-encoding")
            return None

    def _step(self, data: bytes | None) -> None:
        mechanism = self._mechanism
        d = mechanism.step(data)

        def answered(result: Any) -> None:
            if self.closed or self._mechanism is not mechanism:
                return
            if isinstance(result, Challenge):
                self._saslSend("challenge", result.data)
            elif isinstance(result, Success):
                if self._refusedMeanwhile():
                    return
                self._authenticated(result)

        def failed(reason: failure.Failure) -> None:
            if self.closed or self._mechanism is not mechanism:
                # Nobody waits for this answer any more, but a wrong
                # password still counts (else a guesser that never waits
                # would have its passwords hashed unthrottled).
                if reason.check(SASLFailure) and reason.value.condition == "not-authorized":
                    self._countFailure(mechanism)
                return
            if reason.check(SASLFailure):
                if reason.value.condition == "not-authorized" and self._refusedMeanwhile():
                    return
                self._saslFailure(reason.value.condition, reason.value.text)
            else:
                self.log.failure("SASL mechanism failed", reason)
                self._saslFailure("temporary-auth-failure")

        d.addCallbacks(answered, failed)

    def _saslSend(self, name: str, data: bytes | None) -> None:
        element = domish.Element((NS_SASL, name))
        if data is not None:
            element.addContent(base64.b64encode(data).decode("ascii") or "=")
        self._send(element)

    def _saslFailure(self, condition: str, text: str | None = None) -> None:
        mechanism, self._mechanism = self._mechanism, None
        element = domish.Element((NS_SASL, "failure"))
        element.addElement(condition)
        if text:
            element.addElement("text", content=text)
        self._send(element)
        if condition == "not-authorized":
            self._countFailure(mechanism)
        if condition in _COUNTED_FAILURES:
            self._authFailures += 1
            if self._authFailures >= self.config.auth_failures_per_stream:
                self.streamError("policy-violation", "too many failed authentications")

    def _refusedMeanwhile(self) -> bool:
        """
        Before a verdict on a password is told: if the address went into
        backoff since the attempt was admitted (other attempts from it,
        in parallel, failed), answer C{temporary-auth-failure} instead,
        as L{AuthThrottle.admit} would now, so parallel streams do not
        multiply a guesser's attempts past the limit.
        """
        if not self.node.authThrottle.refusing(self._peerHost()):
            return False
        self._saslFailure("temporary-auth-failure", "too many failed attempts, try later")
        return True

    def _countFailure(self, mechanism: Any) -> None:
        """
        Tell the throttle that an attempt on a known account name failed.
        """
        if mechanism is not None and mechanism.username:
            self.node.authThrottle.failed(self._peerHost(), mechanism.username)

    def _authenticated(self, result: Success) -> None:
        mechanism, self._mechanism = self._mechanism, None
        self.username = result.username
        self.node.authThrottle.succeeded(self._peerHost(), result.username)
        self.log.info(
            "{username} authenticated from {peer} with {mechanism} (binding: {binding})",
            username=result.username,
            peer=self._peerHost(),
            mechanism=mechanism.name if mechanism is not None else "?",
            binding=result.bindingType or "none",
        )
        self._setState("bind")
        self._saslSend("success", result.data)
        self._restart()

    # Before the session

    def _preSessionIQ(self, iq: domish.Element) -> None:
        if self.state == "bind":
            bind = iq.firstChildElement()
            if bind is not None and bind.uri == NS_BIND and iq.getAttribute("type") == "set":
                self._bind(iq, bind)
                return
        elif self.node.preAuthIQ.dispatch(iq, None, self, self._send):
            return
        raise StreamError("not-authorized", "authenticate and bind first")

    def _bind(self, iq: domish.Element, bind: domish.Element) -> None:
        requested = None
        for child in bind.elements(NS_BIND, "resource"):
            requested = str(child).strip() or None
        node = self.node
        try:
            if requested is None:
                requested = "xmuc-" + node.makeId()[:8]
            address = parseJID(f"{self.username}@{node.domain}/{requested}")
        except InvalidJID:
            self._send(errorReply(iq, "bad-request"))
            return
        if node.router.entity(address.userhost()) is not None:
            # A local entity (the DMUC replica) owns the address: an
            # account of that name must not speak for it.
            self._send(errorReply(iq, "not-allowed", "this address belongs to a service"))
            return
        self._setState("session")
        self.session = ClientSession(node, self, address)
        result = domish.Element((None, "iq"))
        result["type"] = "result"
        if iq.getAttribute("id"):
            result["id"] = iq["id"]
        result.addElement((NS_BIND, "bind")).addElement("jid", content=address.full())
        self._send(result)
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = node.clock.callLater(self.config.idle_timeout, self._timeout)
        self._parser.share()
        self.session.bound()

    # Output

    def _send(self, element: domish.Element) -> None:
        if not self.closed:
            self.transport.write(element.toXml().encode("utf-8"))

    def describePeer(self) -> str:
        return self.session.jid.full() if self.session else str(self.transport.getPeer())

    def streamClosed(self) -> None:
        if self._parser is not None:
            self._parser.close()
        if self.session is not None:
            session, self.session = self.session, None
            session.closed()


class C2SFactory(protocol.Factory):
    """
    Makes a L{C2SStream} per connection.
    """

    def __init__(
        self, node: Any, directTLS: bool = False, parsers: ParserPool | None = None
    ) -> None:
        self.node = node
        self.directTLS = directTLS
        if parsers is None:
            parsers = makePool(node.config.c2s)
        self.parsers = parsers

    def buildProtocol(self, addr: Any) -> C2SStream:
        stream = C2SStream(self.node, self.directTLS, self.parsers)
        stream.factory = self
        return stream
