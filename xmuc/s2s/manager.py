# -*- test-case-name: tests.s2s.test_link,tests.s2s.test_linkhealth -*-
"""
Federation: the router's sink for remote domains, and the registry of
links and incoming streams.

Other parts of the node watch links through L{S2SManager.watch} (events
from L{xmuc.core.links}), ask a link's state with L{S2SManager.linkState},
and keep a link up (made now, retried after every failure, pinged when
quiet, never closed as idle) with L{S2SManager.keepUp} until they release
it: the DMUC primary does so for the links to its replicas.
"""

from __future__ import annotations

from typing import Any, Callable

from twisted.internet import defer, endpoints, protocol
from twisted.logger import Logger
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.words.protocols.jabber.jid import JID
from twisted.words.xish import domish

from xmuc.core.jid import InvalidJID, parseJID
from xmuc.core.links import LinkEvent, LinkWatcher
from xmuc.s2s.dialback import dialbackKey
from xmuc.s2s.guard import IncomingGuard
from xmuc.s2s.incoming import IncomingStream
from xmuc.s2s.link import Link, verifyElement
from xmuc.s2s.resolve import Resolver
from xmuc.s2s.tls import PeerVerifier, S2STLS


#: Makes an outgoing connection: C{(host, port, directTLS, stream,
#: remote domain)} to a Deferred that fires once C{stream} is connected.
Connector = Callable[[str, int, bool, Any, str], defer.Deferred]


#: Links the table holds before the first sweep of dormant ones.
SWEEP_MIN = 64


class S2SManager:
    """
    @param connector: how outgoing connections are made (TCP, with TLS
        from the first byte for direct TLS, by default).

    @ivar links: outgoing links by (local domain, remote domain).
    @ivar incoming: the open incoming streams.
    """

    log = Logger()

    def __init__(
        self,
        node: Any,
        reactor: Any,
        tls: S2STLS | None,
        verifier: PeerVerifier,
        resolver: Resolver | None = None,
        connector: Connector | None = None,
    ) -> None:
        self.node = node
        self.config = node.config
        self.domain = node.domain
        self.router = node.router
        self.clock = node.clock
        self.random = node.random
        self.reactor = reactor
        self.tls = tls
        self.verifier = verifier
        self.resolver = resolver or Resolver(
            self.config.s2sHosts, self.config.s2s.dns_servers, reactor, node.random
        )
        self.secret = self.config.s2s.dialback_secret or "%032x" % node.random.getrandbits(128)
        self.links: dict[tuple[str, str], Link] = {}
        self._sweepAt = SWEEP_MIN
        self.incoming: set[IncomingStream] = set()
        s2s = self.config.s2s
        self.guard = IncomingGuard(
            s2s.unauth_streams_per_address,
            s2s.unauth_streams_max,
            s2s.dialback_pending_max,
            s2s.incoming_rate,
            s2s.incoming_burst,
        )
        self._watchers: list[tuple[str | None, LinkWatcher]] = []
        # The transport seam: TCP by default, an in-memory network in tests
        # (tests/support/fakenet.py).
        self._connector = connector or self._connectTCP

    # The router's sink for remote domains

    def receive(self, stanza: domish.Element, to: JID) -> None:
        local = self.domain
        sender = stanza.getAttribute("from")
        if sender:
            try:
                local = parseJID(sender).host
            except InvalidJID:
                local = None
            if local is None or not self.hosted(local):
                # Only our own domains' stanzas go out: a stanza from
                # elsewhere would be refused by the peer (invalid-from) and
                # cost the link.
                self.log.warn("Not relaying a stanza from {sender} to {to}",
                              sender=sender, to=to.full())
                self.router.bounce(stanza, "not-allowed", "this server relays nothing")
                return
        self.link(local, to.host).send(stanza)

    def link(self, local: str, remote: str) -> Link:
        """
        The link from C{local} to C{remote}, made on first use.
        """
        key = (local, remote)
        link = self.links.get(key)
        if link is None:
            if len(self.links) >= self._sweepAt:
                self._sweep()
            link = self.links[key] = Link(self, local, remote)
        return link

    def _sweep(self) -> None:
        """
        Forget the links that are idle or down with nothing waiting on
        them. A link is made for every domain a stanza or a dialback request
        names, made-up ones included, and would otherwise stay for ever;
        sweeping when the table has doubled keeps the cost per new link
        constant. A forgotten link's state reads C{idle}, and it is made
        again on its next use.
        """
        for key, link in list(self.links.items()):
            if link.dormant():
                del self.links[key]
        self._sweepAt = max(SWEEP_MIN, 2 * len(self.links))

    def hosted(self, domain: str) -> bool:
        """
        Whether this node serves C{domain} (its own, or a component's such
        as the MUC service).
        """
        return domain == self.domain or domain in self.router.components

    def inbound(self, stanza: domish.Element, to: JID) -> None:
        """
        An authorised stanza from a remote domain.
        """
        self.router.route(stanza, to)

    # Link health

    def watch(self, watcher: LinkWatcher, remote: str | None = None) -> Callable[[], None]:
        """
        Call C{watcher} with every link event for C{remote} (every domain
        when None).

        @return: a function that stops the watching.
        """
        entry = (remote, watcher)
        self._watchers.append(entry)
        return lambda: self._watchers.remove(entry) if entry in self._watchers else None

    def emit(self, event: LinkEvent) -> None:
        for remote, watcher in list(self._watchers):
            if remote is None or remote == event.remote:
                try:
                    watcher(event)
                except Exception:
                    self.log.failure("Link watcher failed on {event}", event=event)

    def keepUp(self, remote: str, local: str | None = None) -> Callable[[], None]:
        """
        Keep the link from C{local} (the node's domain by default) to
        C{remote} up until the returned function is called
        (L{Link.keepUp}). Its events reach the watchers as usual; the link
        is not forgotten by the sweep meanwhile.

        @return: the release.
        """
        return self.link(local or self.domain, remote).keepUp()

    def lastHeard(self, remote: str) -> float:
        """
        When an incoming stream that C{remote} authenticated on last
        received a byte (0 when none is open): the links' keepalive asks,
        once per C{keepalive} seconds at most, never per stanza.
        """
        heard = 0.0
        for stream in self.incoming:
            if remote in stream.authenticated and stream.lastActivity > heard:
                heard = stream.lastActivity
        return heard

    def requestIQ(self, iq: domish.Element, timeout: float) -> defer.Deferred:
        """
        Send a request of the node's own and wait for its answer
        (L{xmuc.iqrequests.IQRequests.request}): the links' keepalive
        pings.
        """
        return self.node.iqRequests.request(iq, timeout)

    def linkState(self, remote: str, local: str | None = None) -> str:
        """
        The state of the link from C{local} (the node's domain by default)
        to C{remote}: C{idle} when none was made.
        """
        link = self.links.get((local or self.domain, remote))
        return link.state if link is not None else "idle"

    # Dialback

    def dialbackKey(self, receiving: str, originating: str, streamId: str) -> str:
        return dialbackKey(self.secret, receiving, originating, streamId)

    def verifyDialback(
        self, originating: str, receiving: str, streamId: str, key: str
    ) -> defer.Deferred:
        """
        Ask C{originating}'s authoritative server whether C{key} is valid
        for the stream C{streamId} that C{receiving} (hosted here) gave it.
        """
        return self.link(receiving, originating).verify(
            verifyElement(receiving, originating, streamId, key)
        )

    def makeId(self) -> str:
        return self.node.makeId()

    # Connections

    def incomingStarted(self, stream: IncomingStream) -> tuple[str, str] | None:
        """
        A new incoming stream, unauthenticated.

        @return: L{None}, or the stream error condition and text it must
            end with (too many unauthenticated streams, L{IncomingGuard}).
        """
        self.incoming.add(stream)
        peer = stream.transport.getPeer()
        address = str(getattr(peer, "host", peer))
        refused = self.guard.admit(stream, address, self.clock.seconds())
        if refused is not None:
            count = self.guard.refusals(address)
            if count & (count - 1) == 0:
                # The 1st, 2nd, 4th, 8th ... refusal: a flood of
                # connections costs a few log lines, not one each.
                self.log.info("Refused {count} s2s stream(s) from {address} since the last one "
                              "admitted: {why}", count=count, address=address, why=refused[1])
        return refused

    def incomingAuthenticated(self, stream: IncomingStream) -> None:
        """
        C{stream} authenticated its first domain.
        """
        self.guard.authenticated(stream)

    def incomingEnded(self, stream: IncomingStream) -> None:
        self.incoming.discard(stream)
        self.guard.ended(stream)

    def listenFactory(self, directTLS: bool = False) -> protocol.Factory:
        """
        The factory of incoming streams (wrapped in TLS for direct TLS).
        """
        factory = protocol.Factory.forProtocol(lambda: IncomingStream(self, directTLS))
        if directTLS:
            return TLSMemoryBIOFactory(self.tls.serverCreator(), False, factory)
        return factory

    def connect(
        self, host: str, port: int, directTLS: bool, stream: Any, domain: str
    ) -> defer.Deferred:
        """
        Connect C{stream} to C{host:port} through the manager's connector.
        """
        return self._connector(host, port, directTLS, stream, domain)

    def _connectTCP(
        self, host: str, port: int, directTLS: bool, stream: Any, domain: str
    ) -> defer.Deferred:
        if ":" in host:
            endpoint = endpoints.TCP6ClientEndpoint(self.reactor, host, port)
        else:
            endpoint = endpoints.TCP4ClientEndpoint(self.reactor, host, port)
        if directTLS:
            endpoint = endpoints.wrapClientTLS(self.tls.clientCreator(stream, domain), endpoint)
        return endpoint.connect(_Once(stream))

    def stop(self) -> defer.Deferred:
        """
        Close every link and incoming stream (the node is stopping); the
        Deferred fires once no link is still connecting.
        """
        for stream in list(self.incoming):
            stream.streamError("system-shutdown")
        return defer.DeferredList([link.close() for link in list(self.links.values())])


class _Once(protocol.Factory):
    """
    A factory for one already built protocol.
    """

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def buildProtocol(self, addr: Any) -> Any:
        return self._stream
