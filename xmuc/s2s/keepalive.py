# -*- test-case-name: tests.s2s.test_linkhealth -*-
"""
The keepalive of an up server-to-server link: telling a dead route from a
quiet one (docs/links.md).

While its stream is up, a link that carried a stanza since it last heard
from the peer, or that a watcher keeps up, pings the remote domain
(XEP-0199, from the local domain) after C{keepalive} seconds without a
byte from it: on the link's own stream or on any incoming stream the peer
authenticated (the manager's C{lastHeard}), whitespace keepalives
included. Any answer, a result or an error (a peer that does not do
pings), proves the route; none within C{keepalive} seconds more means it
is dead, and the link is told (C{unanswered}). So a dead route is found
within twice C{keepalive} of the last byte heard. A link that carried
nothing since the peer was heard is looked at again after C{keepalive}
seconds, not pinged: nothing can have been lost on it.

The ping goes out through the node's IQ tracker (the manager's
C{requestIQ}, L{xmuc.iqrequests}), which matches the answer by id and by
both addresses. Neither the pings nor the answers to the peer's pings
(L{isKeepaliveAnswer}) count as use of the link, so that they keep no link
from closing when idle.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import defer
from twisted.logger import Logger
from twisted.words.xish import domish

from xmuc.iqrequests import IQErrorReply, IQTimeout

NS_PING = "urn:xmpp:ping"


class Keepalive:
    """
    The keepalive of one up stream of a link.

    @param link: the L{xmuc.s2s.link.Link} (its manager, C{lastUsed},
        C{keptUp}, and C{unanswered} to call when the route is dead).
    @param stream: the link's up stream.
    @param interval: C{keepalive} seconds (above 0).
    @ivar probing: the ping while it is routed (the link sends it past
        its held output).
    """

    log = Logger()

    def __init__(self, link: Any, stream: Any, interval: float) -> None:
        self.link = link
        self.stream = stream
        self.interval = interval
        self.clock = link.manager.clock
        self.probing: domish.Element | None = None
        self._timer: Any = None
        self._probe: defer.Deferred | None = None
        self._answeredAt = 0.0
        self._stopped = False

    def start(self) -> None:
        self._timer = self.clock.callLater(self.interval, self._check)

    def stop(self) -> None:
        """
        The stream is no longer up: no more pings, the pending one is
        forgotten.
        """
        self._stopped = True
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        probe, self._probe = self._probe, None
        if probe is not None:
            probe.cancel()

    def lastHeard(self) -> float:
        """
        When the peer last sent a byte: on the link's stream, on an
        incoming stream it authenticated, or an answer to our ping.
        """
        heard = max(self.link.manager.lastHeard(self.link.remote), self._answeredAt)
        return max(heard, self.stream.lastActivity)

    def _check(self) -> None:
        """
        Ping the peer if it has been silent for C{interval} seconds and the
        link carried a stanza since it was last heard (or is kept up); else
        look again when that could be so.
        """
        self._timer = None
        if self._stopped or self._probe is not None:
            return
        heard = self.lastHeard()
        wait = heard + self.interval - self.clock.seconds()
        if wait <= 0 and not self.link.keptUp and self.link.lastUsed < heard:
            # Nothing sent since the peer was heard: nothing can be lost.
            wait = self.interval
        if wait > 0:
            self._timer = self.clock.callLater(wait, self._check)
            return
        self._ping()

    def _ping(self) -> None:
        link = self.link
        iq = domish.Element((None, "iq"))
        iq["type"] = "get"
        iq["from"] = link.local
        iq["to"] = link.remote
        iq.addElement((NS_PING, "ping"))
        used = link.lastUsed
        self.probing = iq
        try:
            d = link.manager.requestIQ(iq, self.interval)
        except ValueError:
            # A local domain the node no longer hosts: nothing to ping from.
            self.log.failure("No keepalive from {local}", local=link.local)
            return
        finally:
            self.probing = None
            link.lastUsed = used
        self._probe = d
        d.addCallbacks(self._answered, self._unanswered)

    def _answered(self, result: Any) -> None:
        if self._stopped:
            return
        self._probe = None
        self._answeredAt = self.clock.seconds()
        self._check()

    def _unanswered(self, reason: Any) -> None:
        if reason.check(IQErrorReply):
            # An error from the peer comes over the route as well as a
            # result would.
            self._answered(None)
            return
        if self._stopped or reason.check(defer.CancelledError):
            return
        self._probe = None
        if not reason.check(IQTimeout):
            self.log.failure("Keepalive to {remote} failed", reason, remote=self.link.remote)
        self.link.unanswered(self.stream)


def isKeepaliveAnswer(iq: domish.Element, local: str, remote: str) -> bool:
    """
    Whether the IQ C{iq}, sent from C{local} to C{remote}, answers a ping
    of the peer server (domain to domain, empty): keepalive traffic, no
    use of the link.
    """
    return (iq.getAttribute("type") == "result" and iq.getAttribute("to") == remote
            and iq.getAttribute("from") == local and not iq.children)
