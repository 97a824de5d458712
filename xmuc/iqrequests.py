# -*- test-case-name: tests.test_iqrequests -*-
"""
The node's own IQ requests: a server-originated IQ (from the node's
domain, a component such as a room, or a local entity such as the DMUC
replica) and the Deferred that its answer fires.

    d = node.iqRequests.request(iq, timeout=5)

The answer is matched by its C{id}, which comes from the node's injected
random and is unguessable, AND by both addresses: it must come from the
JID the request was sent to and go to the JID that sent it (RFC 6120
section 8.2.3 leaves the check to the requester). An answer from any other
JID, even with the right id, is not taken: it goes on being routed as if
the tracker did not exist, and is logged. The tracker answers nothing
itself.

  - a C{result} fires the Deferred with the result IQ;
  - an C{error} fails it with L{IQErrorReply} (a L{StanzaError} carrying
    the answer's condition, type and text, so that passing it on to a
    client says what the responder said, L{xmuc.core.errors.toStanzaError});
  - no answer within C{timeout} seconds (the node's clock) fails it with
    L{IQTimeout} (C{remote-server-timeout});
  - the node stopping (C{node-stopping}), or the caller cancelling the
    Deferred, fails it with L{defer.CancelledError}. An answer that comes
    after any of these is not taken.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.words.protocols.jabber.error import StanzaError, exceptionFromStanza
from twisted.words.protocols.jabber.jid import JID
from twisted.words.xish import domish

from xmuc.core.jid import InvalidJID, parseJID


class IQErrorReply(StanzaError):
    """
    The responder answered a request with an error.

    @ivar stanza: the error IQ.
    """

    def __init__(self, condition: str, type: str | None, text: str | None,
                 stanza: domish.Element) -> None:
        super().__init__(condition, type, text)
        self.stanza = stanza


class IQTimeout(StanzaError):
    """
    A request was not answered in time.
    """

    def __init__(self, text: str) -> None:
        super().__init__("remote-server-timeout", "wait", text)


@dataclass
class PendingRequest:
    """
    A request waiting for its answer.

    @ivar requester: the request's C{from}, prepared.
    @ivar responder: the request's C{to}, prepared: the only JID whose
        answer is taken.
    """

    requester: str
    responder: str
    deferred: defer.Deferred
    timer: Any


class IQRequests:
    """
    The node's pending IQ requests.

    @param route: sends a stanza (the router's C{route}).
    @param domain: the node's domain, the C{from} of a request without one.
    @param hosted: whether a domain is served by this node.
    @param makeId: fresh ids from the node's random.
    @ivar pending: the requests by id (the router reads its truth).
    """

    log = Logger()

    def __init__(self, route: Callable[[domish.Element], None], domain: str,
                 clock: IReactorTime, makeId: Callable[[], str],
                 hosted: Callable[[str], bool]) -> None:
        self._route = route
        self._domain = domain
        self._clock = clock
        self._makeId = makeId
        self._hosted = hosted
        self.pending: dict[str, PendingRequest] = {}

    def request(self, iq: domish.Element, timeout: float) -> defer.Deferred:
        """
        Send C{iq} (type C{get} or C{set}, with a C{to}; its C{from} is
        the node's domain when it has none) with a fresh id.

        @return: a Deferred for the answer (the module docstring says
            how it fires).
        @raise ValueError: for an IQ that is no request, has no valid
            C{to}, or comes from a JID this node does not host.
        """
        if iq.name != "iq" or iq.getAttribute("type") not in ("get", "set"):
            raise ValueError("only an IQ get or set is a request")
        try:
            responder = parseJID(iq["to"]).full()
            requester = parseJID(iq.getAttribute("from") or self._domain).full()
        except (KeyError, InvalidJID) as e:
            raise ValueError(f"a request needs a valid to and from: {e}")
        if not self._hosted(parseJID(requester).host):
            raise ValueError(f"{requester} is not hosted here")
        iq["from"] = requester
        iq["id"] = ident = self._freshId()
        d = defer.Deferred(lambda _: self._drop(ident))
        timer = self._clock.callLater(timeout, self._expire, ident, timeout)
        self.pending[ident] = PendingRequest(requester, responder, d, timer)
        # Registered first: a local responder may answer before route returns.
        self._route(iq)
        return d

    def take(self, stanza: domish.Element, to: JID) -> bool:
        """
        The router's offer of an IQ: take it when it answers a pending
        request, from the request's C{to} to its C{from}.
        """
        kind = stanza.getAttribute("type")
        if kind != "result" and kind != "error":
            return False
        ident = stanza.getAttribute("id")
        pending = self.pending.get(ident) if ident is not None else None
        if pending is None or to.full() != pending.requester:
            return False
        try:
            responder = parseJID(stanza.getAttribute("from") or "").full()
        except InvalidJID:
            responder = None
        if responder != pending.responder:
            self.log.warn("An answer to request {id} came from {sender}, not {expected}: "
                          "not taken", id=ident, sender=stanza.getAttribute("from"),
                          expected=pending.responder)
            return False
        del self.pending[ident]
        if pending.timer.active():
            pending.timer.cancel()
        if kind == "result":
            pending.deferred.callback(stanza)
        else:
            error = exceptionFromStanza(stanza)
            pending.deferred.errback(
                IQErrorReply(error.condition or "undefined-condition", error.type, error.text, stanza))
        return True

    def stop(self) -> None:
        """
        C{node-stopping}: fail every pending request (L{defer.CancelledError}).
        """
        for pending in list(self.pending.values()):
            pending.deferred.cancel()

    def _freshId(self) -> str:
        while True:
            ident = self._makeId()
            if ident not in self.pending:
                return ident

    def _drop(self, ident: str) -> None:
        pending = self.pending.pop(ident, None)
        if pending is not None and pending.timer.active():
            pending.timer.cancel()

    def _expire(self, ident: str, timeout: float) -> None:
        pending = self.pending.pop(ident, None)
        if pending is not None:
            pending.deferred.errback(IQTimeout(f"no answer within {timeout:g} seconds"))
