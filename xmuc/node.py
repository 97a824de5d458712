# -*- test-case-name: tests.test_node -*-
"""
The node: one object holding what every part of the server shares, and the
registration points that feature modules hook into.

Feature modules (one XEP each, in L{xmuc.im}) expose C{install(node)}; the
list in L{FEATURES} is the one place they are enabled.

Hooks (named events, each a list of handlers; L{Hooks.fire} stops at the
first handler that returns a true value and returns that value):

  - C{c2s-outbound(session, stanza)}: a stanza from a client, after its
    C{from} was stamped and before routing; true means consumed.
  - C{local-inbound(stanza, to)}: a stanza for a local account, before
    delivery; true means consumed.
  - C{message-delivered(stanza, to, sessions)}: a message was delivered to
    these local sessions of the account C{to}.
  - C{message-sent(session, stanza)}: a client sent a message (after
    routing).
  - C{message-offline(stanza, to)}: nobody could take a message for the
    account C{to}; true means kept.
  - C{session-bound(session)}, C{session-closed(session)}.
  - C{session-initial-presence(session)}: a session sent its first
    available presence.
  - C{node-started()}: the store has started (before the listeners open).
  - C{node-stopping()}: the node is stopping, its listeners closed and its
    sessions still open.
  - C{route-remote(stanza, to)}: fired by the router (L{xmuc.router}) for
    a stanza bound for a remote domain, before s2s; true means taken.
"""

from __future__ import annotations

import importlib
import random as _random
from typing import Any, Awaitable, Callable

from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.words.protocols.jabber.error import StanzaError
from twisted.words.protocols.jabber.jid import JID
from twisted.words.protocols.jabber.xmlstream import toResponse
from twisted.words.xish import domish

from xmuc.c2s.derivation import SynchronousDerivation
from xmuc.c2s.throttle import AuthThrottle, ThrottleLimits
from xmuc.config import Config
from xmuc.core.errors import DOMAIN_ERRORS, exceptionReply
from xmuc.core.hooks import Hooks
from xmuc.iqrequests import IQRequests
from xmuc.router import Router
from xmuc.storage.interfaces import IStore
from xmuc.writes import TrackedStore

#: Feature modules, each with an C{install(node)} function.
FEATURES = (
    "xmuc.im.delivery",
    "xmuc.im.roster",
    "xmuc.im.presence",
    "xmuc.im.offline",
    "xmuc.im.disco",
    "xmuc.im.ping",
    "xmuc.im.version",
    "xmuc.im.last",
    "xmuc.im.time",
    "xmuc.im.vcard",
    "xmuc.im.blocking",
    "xmuc.im.carbons",
    "xmuc.im.register",
    "xmuc.im.adhoc",
    "xmuc.glue.muc",
    "xmuc.glue.dmuc",
)


IQHandler = Callable[
    [domish.Element, JID, Any],
    "domish.Element | None | Awaitable[domish.Element | None]",
]


class IQDispatcher:
    """
    Declarative IQ dispatch: handlers keyed by type and payload namespace.

    A handler is called as C{handler(iq, sender, session)} and returns the
    payload of the result (or L{None} for an empty result), possibly through
    a Deferred or coroutine. Raising a domain exception or a L{StanzaError}
    answers with the mapped error.
    """

    log = Logger()

    def __init__(self) -> None:
        self._handlers: dict[tuple[str, str], IQHandler] = {}

    def register(self, kind: str, namespace: str, handler: IQHandler) -> None:
        """
        Handle IQs of type C{kind} (C{get} or C{set}) whose payload is in
        C{namespace}.
        """
        self._handlers[(kind, namespace)] = handler

    def handles(self, namespace: str) -> bool:
        """
        Whether any handler is registered for C{namespace}.
        """
        return any(ns == namespace for _, ns in self._handlers)

    def dispatch(
        self,
        iq: domish.Element,
        sender: JID,
        session: Any,
        send: Callable[[domish.Element], None],
    ) -> bool:
        """
        Run the handler for a request IQ and C{send} its answer.

        @return: C{False} when no handler matches (the caller decides what
            that means), C{True} otherwise.
        """
        payload = _firstChild(iq)
        if payload is None:
            return False
        handler = self._handlers.get((iq.getAttribute("type"), payload.uri))
        if handler is None:
            return False

        def answer(result: domish.Element | None) -> None:
            response = toResponse(iq, "result")
            if result is not None:
                response.addChild(result)
            send(response)

        def fail(failure: Any) -> None:
            if not failure.check(StanzaError, *DOMAIN_ERRORS):
                self.log.failure("IQ handler failed", failure)
            reply = exceptionReply(iq, failure.value)
            if reply is not None:
                send(reply)

        # maybeDeferred also runs coroutine handlers (async def).
        d = defer.maybeDeferred(handler, iq, sender, session)
        d.addCallbacks(answer, fail)
        d.addErrback(lambda f: self.log.failure("Answering an IQ failed", f))
        return True


def _observe(d: defer.Deferred) -> defer.Deferred:
    """
    A Deferred that fires (with None) when C{d} does, leaving C{d}'s result
    to its chain; cancelling it leaves C{d} alone.
    """
    observer: defer.Deferred = defer.Deferred()

    def fired(result: Any) -> Any:
        if not observer.called:
            observer.callback(None)
        return result

    d.addBoth(fired)
    return observer


def _firstChild(element: domish.Element) -> domish.Element | None:
    for child in element.elements():
        return child
    return None


class Node:
    """
    One XMPP server node.

    @ivar clock: the reactor's time interface (a L{task.Clock} in tests).
    @ivar random: the source of ids and jitter.
    @ivar serverIQ: handlers for IQs addressed to the domain itself.
    @ivar accountIQ: handlers for IQs addressed to a local account's bare
        JID (or sent by a client without C{to}).
    @ivar serverFeatures: disco#info features of the domain.
    @ivar accountFeatures: disco#info features of an account's bare JID.
    @ivar channelBinding: the tls-server-end-point channel binding data of
        the node's certificate, L{None} without TLS.
    @ivar tlsContextFactory: the server TLS context factory, or L{None}.
    @ivar keyDerivation: runs password key derivations
        (L{xmuc.c2s.derivation}; at once on this thread unless given).
    @ivar authThrottle: failed-authentication records (L{xmuc.c2s.throttle}).
    @ivar store: the store, as a L{TrackedStore}: every operation counts in
        the write scope of the stream whose stanza started it (the write
        barrier, L{xmuc.writes}), and every write is L{track}ed.
    @ivar pending: storage work in flight (L{track}); a stopping node waits
        for it before it stops the store.
    @ivar iqRequests: the node's own IQ requests and their answers
        (L{xmuc.iqrequests}); pending ones fail when the node stops.
    """

    log = Logger()

    def __init__(
        self,
        config: Config,
        store: IStore,
        clock: IReactorTime,
        random: _random.Random | None = None,
        tlsContextFactory: Any = None,
        channelBinding: bytes | None = None,
        features: tuple[str, ...] = FEATURES,
        keyDerivation: Any = None,
    ) -> None:
        self.config = config
        self.domain = config.node.domain
        self.pending: set[defer.Deferred] = set()
        self.store = TrackedStore(store, self.track)
        self.clock = clock
        self.random = random or _random.Random()
        self.tlsContextFactory = tlsContextFactory
        self.channelBinding = channelBinding
        self.keyDerivation = keyDerivation or SynchronousDerivation()
        c2s = config.c2s
        self.authThrottle = AuthThrottle(
            clock,
            ThrottleLimits(
                c2s.auth_failures_per_address,
                c2s.auth_failures_per_account,
                c2s.auth_window,
                c2s.auth_backoff,
                c2s.auth_backoff_max,
            ),
        )
        self.hooks = Hooks()
        self.router = Router(self.domain, self.hooks)
        self.iqRequests = IQRequests(self.router.route, self.domain, clock, self.makeId,
                                     self.hosts)
        self.router.awaitAnswers(self.iqRequests.pending, self.iqRequests.take)
        self.hooks.add("node-stopping", self.iqRequests.stop)
        self.serverIQ = IQDispatcher()
        self.accountIQ = IQDispatcher()
        self.serverFeatures: set[str] = set()
        self.accountFeatures: set[str] = set()
        self.streamFeatures: list[Callable[[Any], domish.Element | None]] = []
        self.preAuthIQ = IQDispatcher()
        self.startedAt = clock.seconds()
        self.modules: dict[str, Any] = {}
        for name in features:
            module = importlib.import_module(name)
            self.modules[name.rsplit(".", 1)[-1]] = module.install(self)

    def route(self, stanza: domish.Element) -> None:
        """
        Send a stanza, stamped with its C{from}, towards its C{to}.
        """
        self.router.route(stanza)

    def hosts(self, domain: str) -> bool:
        """
        Whether this node serves C{domain}: its own, or a component's such
        as the MUC service.
        """
        return domain == self.domain or domain in self.router.components

    def addEntity(self, address: str, sink: Any) -> None:
        """
        Make the bare JID C{address} on the node's domain a local entity
        (L{Router.addEntity}): its stanzas go to C{sink}. Sessions bound
        under that JID (an account of the same name) are ended with a
        C{conflict} stream error.
        """
        for session in self.router.addEntity(address, sink):
            self.log.warn("Ending {session}: {address} is a local entity now",
                          session=session.jid.full(), address=address)
            session.stream.streamError("conflict", "this address belongs to a service")

    def isAdmin(self, address: JID) -> bool:
        """
        Whether the bare form of C{address} is a configured administrator.
        """
        return address.userhost() in self.config.services.admins

    def track(self, d: defer.Deferred) -> defer.Deferred:
        """
        Keep C{d} (storage work) among the node's pending work until it
        fires, so that a stopping node lets it finish before it stops the
        store. Every write through L{store} is tracked already.
        """
        self.pending.add(d)

        def done(result: Any) -> Any:
            self.pending.discard(d)
            return result

        d.addBoth(done)
        return d

    def settled(self) -> defer.Deferred:
        """
        A Deferred that fires once the work pending now has finished (its
        failures are the trackers' to log).
        """
        # Observers, not the work itself: cancelling a DeferredList (a
        # timeout on it) cancels its members, and a cancelled store
        # operation would report a failure while the store commits it.
        return defer.DeferredList([_observe(d) for d in self.pending], consumeErrors=True)

    def makeId(self) -> str:
        """
        A fresh identifier for stanzas and streams.
        """
        return "%016x" % self.random.getrandbits(64)
