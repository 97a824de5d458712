# -*- test-case-name: tests.s2s.test_link,tests.s2s.test_linkhealth,tests.s2s.test_linkwrites -*-
"""
An outgoing link from one local domain to one remote domain.

Stanzas for the remote domain are queued while the link is set up and sent
in order once it is up. When it cannot be made they go back to their
senders with C{remote-server-not-found}, or C{remote-server-timeout} when
the peer never answered, and a plain text naming only the remote domain
(L{bounceText}); the addresses tried and why each failed go to the log. The queue is bounded and its stanzas expire. A
quiet link closes after C{idle_timeout} and reopens on demand. Every change
of state is an event for the node's watchers (L{xmuc.core.links}), and
every state and the event that moves it are in
L{xmuc.core.links.LINK_TRANSITIONS}.

Health: an up link's L{Keepalive<xmuc.s2s.keepalive>} finds a dead route
within twice C{keepalive}; the transport is then aborted and the link goes
down (C{no answer to keepalive}, C{remote-server-timeout}).

Reconnection: after a failure, the next attempt waits a back-off
(C{reconnect_min} doubling with each consecutive failure up to
C{reconnect_max}, less a random share from the node's injected random,
L{xmuc.core.links.backoffDelay}); stanzas sent meanwhile queue for it. A link
that something waits on, or that a watcher keeps up (L{Link.keepUp}), tries
again by itself when its back-off ends; a link closed cleanly (idle, or
closed by the peer) is not retried unless kept up. docs/links.md is the
operator's view.

Output passes the write barrier first (L{xmuc.s2s.barrier}): an IQ answer
to a remote domain leaves once the store committed what the stanzas before
it on the incoming stream asked for.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Callable

from twisted.internet import defer, error
from twisted.logger import Logger
from twisted.words.xish import domish

from xmuc.core.links import (
    Bounced,
    LinkDown,
    LinkIdle,
    LinkUp,
    backoffDelay,
    transition,
)
from xmuc.s2s.barrier import HeldOutput, mustWait
from xmuc.s2s.dialback import dialbackElement
from xmuc.s2s.keepalive import Keepalive, isKeepaliveAnswer
from xmuc.s2s.outgoing import NegotiationFailed, OutgoingStream
from xmuc.s2s.resolve import NoService


class _Timeout(Exception):
    pass


class Link:
    """
    @ivar state: one of L{xmuc.core.links.LINK_TRANSITIONS}.
    @ivar stream: the authenticated stream while C{up}.
    @ivar lastUsed: when a stanza was last sent (keepalive traffic aside).
    @ivar failures: consecutive failed attempts or deaths since the link
        was last up (the back-off's exponent).
    @ivar retryAt: the earliest time of the next attempt.
    """

    log = Logger()

    def __init__(self, manager: Any, local: str, remote: str) -> None:
        self.manager = manager
        self.config = manager.config.s2s
        self.local = local
        self.remote = remote
        self.state = "idle"
        self.stream: OutgoingStream | None = None
        self.lastUsed = 0.0
        self._queue: deque[tuple[domish.Element, float]] = deque()
        self._attempt: OutgoingStream | None = None
        self._verifies: dict[str, list[tuple[domish.Element, defer.Deferred]]] = {}
        self._timer: Any = None
        # The stream is being closed cleanly (idle_timeout).
        self._closing = False
        # The node is stopping: no more attempts.
        self._stopped = False
        self._retryTimer: Any = None
        self._keepalive: Keepalive | None = None
        self.failures = 0
        self.retryAt = 0.0
        self._keptUp = 0
        self._running: defer.Deferred | None = None
        # The TCP connection of the attempt, while it is being made.
        self._connecting: defer.Deferred | None = None
        # Output behind the write barrier, while some is held.
        self._held: HeldOutput | None = None

    def dormant(self) -> bool:
        """
        Whether nothing depends on this link: idle or down, with no
        stanza queued, no dialback verification waiting and no attempt
        under way.
        """
        return (
            self.state in ("idle", "down")
            and not self._queue
            and not self._verifies
            and self._running is None
            and self._attempt is None
            and self._held is None
            and not self._keptUp
        )

    def _event(self, event: str) -> None:
        self.state = transition(self.state, event)

    # Sending

    def send(self, stanza: domish.Element) -> None:
        """
        Send a stanza to the remote domain, or queue it until the link is
        up; behind the write barrier (L{xmuc.s2s.barrier}).
        """
        if self._held is None and (stanza.name != "iq" or not mustWait(stanza)):
            self._send(stanza)
            return
        keepalive = self._keepalive
        if keepalive is not None and stanza is keepalive.probing:
            # A keepalive ping is about the route, not about what is held.
            self._send(stanza)
            return
        if self._held is None:
            self._held = HeldOutput(self._send, self._drained)
        self._held.hold(stanza)

    def _drained(self, held: HeldOutput) -> None:
        if self._held is held:
            self._held = None

    @property
    def held(self) -> int:
        """
        The stanzas waiting behind the write barrier.
        """
        return len(self._held) if self._held is not None else 0

    def _send(self, stanza: domish.Element) -> None:
        now = self.manager.clock.seconds()
        if stanza.name != "iq" or not isKeepaliveAnswer(stanza, self.local, self.remote):
            self.lastUsed = now
        if self.state == "up" and not self.stream.closed:
            self.stream.send(stanza)
            return
        if len(self._queue) >= self.config.queue_max:
            self._bounce(stanza, "resource-constraint", "too many stanzas waiting for this server")
            return
        # While the stream closes (idle), the stanza waits for the next one.
        self._queue.append((stanza, now))
        self._demand()

    def _bounce(self, stanza: domish.Element, condition: str, text: str | None = None) -> None:
        self.manager.emit(Bounced(self.local, self.remote, stanza, condition))
        self.manager.router.bounce(stanza, condition, text)

    # Dialback verification over this link (XEP-0220 section 2.1.2)

    def verify(self, element: domish.Element) -> defer.Deferred:
        """
        Send a C{<db:verify/>} to the remote domain's authoritative server.

        @return: a Deferred firing with True (valid), False (invalid) or
            None (it could not be asked).
        """
        d: defer.Deferred = defer.Deferred()
        streamId = element["id"]
        entry = (element, d)
        self._verifies.setdefault(streamId, []).append(entry)
        stream = self.stream or self._attempt
        if stream is not None and stream.canVerify:
            stream.send(element)
        else:
            self._demand()
        d.addTimeout(self.config.connect_timeout * 2, self.manager.clock, lambda *a: None)
        d.addErrback(lambda f: None)
        d.addBoth(self._forgetVerify, streamId, entry)
        return d

    def _forgetVerify(self, result: Any, streamId: str, entry: tuple) -> Any:
        # A request that timed out on a link that stays up would otherwise
        # be kept for as long as the link lives.
        pending = self._verifies.get(streamId)
        if pending is not None and entry in pending:
            pending.remove(entry)
            if not pending:
                del self._verifies[streamId]
        return result

    @property
    def pendingVerifications(self) -> int:
        """
        The verification requests kept for an answer.
        """
        return sum(len(pending) for pending in self._verifies.values())

    def verifyReady(self, stream: OutgoingStream) -> None:
        """
        C{stream} can carry verification requests now.
        """
        for pending in self._verifies.values():
            for element, d in pending:
                if not d.called:
                    stream.send(element)

    def verifyAnswered(self, element: domish.Element) -> None:
        """
        The answer to one of our verification requests arrived.
        """
        pending = self._verifies.pop(element.getAttribute("id", ""), [])
        valid = element.getAttribute("type") == "valid"
        for _, d in pending:
            if not d.called:
                d.callback(valid)

    def _failVerifies(self) -> None:
        verifies, self._verifies = self._verifies, {}
        for pending in verifies.values():
            for _, d in pending:
                if not d.called:
                    d.callback(None)

    # Keeping up and connecting

    def keepUp(self) -> Callable[[], None]:
        """
        Keep the link up until the returned function is called: it is made
        now, retried after each failure (with the back-off) and after a
        clean close, and never closed for being idle. Calls nest.

        @return: the release (calling it more than once does nothing).
        """
        self._keptUp += 1
        released: list[bool] = []

        def release() -> None:
            if released:
                return
            released.append(True)
            self._keptUp -= 1
            if not self._keptUp and self.state == "backoff" and not self._wanted():
                self._cancelRetry()
                self._cancelTimer()
                self._event("released")

        self._demand()
        return release

    @property
    def keptUp(self) -> bool:
        """
        Whether a watcher keeps the link up.
        """
        return self._keptUp > 0

    def _wanted(self) -> bool:
        """
        Whether something waits for the link: a stanza, a verification, a
        watcher.
        """
        return bool(self._queue or self._verifies or self._keptUp)

    def _demand(self) -> None:
        """
        Something needs the link: make it now when it is idle, or after
        the back-off when it is down; else nothing to do.
        """
        if self._stopped:
            if self.state in ("idle", "down"):
                self._bounceQueue("the node is stopping", "remote-server-not-found")
            return
        if self.state == "idle":
            self._event("demand")
            self._connect()
        elif self.state == "down":
            self._event("demand")
            self._startExpiry()
            delay = self.retryAt - self.manager.clock.seconds()
            if delay <= 0:
                self._retry()
                return
            self.log.info("s2s link {local} -> {remote}: next attempt in {delay:.1f} s",
                          local=self.local, remote=self.remote, delay=delay)
            self._retryTimer = self.manager.clock.callLater(delay, self._retry)

    def _retry(self) -> None:
        self._retryTimer = None
        self._event("retryDue")
        self._connect()

    def _cancelRetry(self) -> None:
        if self._retryTimer is not None and self._retryTimer.active():
            self._retryTimer.cancel()
        self._retryTimer = None

    def _connect(self) -> None:
        self._startExpiry()
        d = self._running = self._tryTargets()
        d.addBoth(self._attemptEnded)
        d.addCallbacks(self._up, self._down)
        d.addErrback(lambda f: self.log.failure("Link {local} -> {remote} failed", f,
                                                local=self.local, remote=self.remote))

    @defer.inlineCallbacks
    def _tryTargets(self):
        manager = self.manager
        targets = yield manager.resolver.resolve(self.remote)
        reasons, timeouts = [], 0
        for target in targets:
            if self._stopped:
                break
            try:
                stream = yield self._tryTarget(target)
            except defer.CancelledError:
                if not self._stopped:
                    raise
                break
            except (_Timeout, defer.TimeoutError, error.TimeoutError) as e:
                timeouts += 1
                reasons.append(f"{target.host}:{target.port}: no answer ({e or 'timeout'})")
            except (NegotiationFailed, NoService, error.ConnectError, OSError) as e:
                reasons.append(f"{target.host}:{target.port}: {e}")
            else:
                return stream
        if self._stopped:
            raise _LinkFailed("the node is stopping", "remote-server-not-found", False)
        condition = "remote-server-timeout" if timeouts == len(targets) else "remote-server-not-found"
        raise _LinkFailed("; ".join(reasons), condition)

    @defer.inlineCallbacks
    def _tryTarget(self, target: Any):
        manager = self.manager
        address = yield manager.resolver.address(target.host)
        stream = OutgoingStream(self, target.directTLS)
        self._attempt = stream
        clock = manager.clock
        connecting = self._connecting = manager.connect(
            address, target.port, target.directTLS, stream, self.remote)
        timedOut = []

        def timeout() -> None:
            timedOut.append(True)
            if stream.transport is not None:
                stream.transport.abortConnection()
            else:
                connecting.cancel()

        timer = clock.callLater(self.config.connect_timeout, timeout)
        try:
            yield connecting
            result = yield stream.ready
        except Exception:
            if timedOut:
                raise _Timeout(f"nothing within {self.config.connect_timeout:g} s")
            raise
        finally:
            if timer.active():
                timer.cancel()
            if self._attempt is stream:
                self._attempt = None
                self._connecting = None
        return result

    def _attemptEnded(self, result: Any) -> Any:
        self._running = None
        return result

    def _up(self, stream: OutgoingStream) -> None:
        if self._stopped:
            stream.closeStream()
            self._fail("the node is stopping", "remote-server-not-found", dead=False)
            return
        self._event("authenticated")
        self.stream = stream
        self.failures = 0
        self.retryAt = 0.0
        self.verifyReady(stream)
        queue, self._queue = self._queue, deque()
        for stanza, _ in queue:
            stream.send(stanza)
        self.manager.emit(LinkUp(self.local, self.remote))
        self.lastUsed = self.manager.clock.seconds()
        self._schedule(self.config.idle_timeout, self._checkIdle)
        self._startKeepalive()

    def _down(self, reason: Any) -> None:
        dead = True
        if reason.check(_LinkFailed):
            text, condition, *rest = reason.value.args
            dead = rest[0] if rest else True
        elif reason.check(NoService):
            text, condition = str(reason.value), "remote-server-not-found"
        else:
            self.log.failure("Unexpected failure linking {remote}", reason, remote=self.remote)
            text, condition = reason.getErrorMessage(), "remote-server-not-found"
        self._fail(text, condition, dead=dead)

    def _fail(self, text: str, condition: str, event: str = "failed", dead: bool = True,
              established: bool = False) -> None:
        """
        The link goes down on C{event}: what was queued bounces with
        C{condition}, LinkDown is announced, and the back-off grows (for a
        C{dead} peer or route); a link kept up tries again after it.
        """
        self._event(event)
        self._cancelTimer()
        self._stopKeepalive()
        if dead:
            self.failures += 1
            self.retryAt = self.manager.clock.seconds() + backoffDelay(
                self.failures, self.config.reconnect_min, self.config.reconnect_max,
                self.manager.random)
        # The details (addresses, ports, errno, TLS errors) are for the
        # operator; the senders of the bounced stanzas learn the condition.
        self.log.info("s2s link {local} -> {remote} down ({condition}): {text}",
                      local=self.local, remote=self.remote, condition=condition, text=text)
        self._bounceQueue(text, condition)
        self._failVerifies()
        self.manager.emit(LinkDown(self.local, self.remote, text, condition, dead, established))
        if self._keptUp:
            self._demand()

    def _bounceQueue(self, text: str, condition: str) -> None:
        queue, self._queue = self._queue, deque()
        for stanza, _ in queue:
            self._bounce(stanza, condition, bounceText(condition, self.remote))

    # Keepalive

    def _startKeepalive(self) -> None:
        if self.config.keepalive > 0:
            self._keepalive = Keepalive(self, self.stream, self.config.keepalive)
            self._keepalive.start()

    def _stopKeepalive(self) -> None:
        keepalive, self._keepalive = self._keepalive, None
        if keepalive is not None:
            keepalive.stop()

    def unanswered(self, stream: OutgoingStream) -> None:
        """
        The keepalive of C{stream} found the route dead: abort the
        transport, and the link is down.
        """
        if stream is not self.stream or self.state != "up":
            return
        self.stream = None
        stream.abort("no answer to keepalive")
        self._fail("no answer to keepalive", "remote-server-timeout", event="unanswered",
                   established=True)

    # Timers

    def _schedule(self, delay: float, call: Any) -> None:
        self._cancelTimer()
        self._timer = self.manager.clock.callLater(delay, call)

    def _cancelTimer(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None

    def _startExpiry(self) -> None:
        if self._timer is None or not self._timer.active():
            self._schedule(self.config.queue_expiry, self._expire)

    def _expire(self) -> None:
        """
        Bounce stanzas that waited longer than C{queue_expiry} for a link
        still being set up, or waiting for its back-off.
        """
        if self.state not in ("connecting", "backoff"):
            return
        limit = self.manager.clock.seconds() - self.config.queue_expiry
        while self._queue and self._queue[0][1] <= limit:
            stanza, _ = self._queue.popleft()
            self._bounce(stanza, "remote-server-timeout",
                         bounceText("remote-server-timeout", self.remote))
        self._schedule(self.config.queue_expiry, self._expire)

    def _checkIdle(self) -> None:
        if self.state != "up":
            return
        quiet = self.manager.clock.seconds() - self.lastUsed
        if quiet < self.config.idle_timeout or self._keptUp:
            self._schedule(max(self.config.idle_timeout - quiet, 1.0), self._checkIdle)
            return
        self._closing = True
        self.stream.closeStream()

    # The stream's end

    def streamLost(self, stream: OutgoingStream) -> None:
        """
        An outgoing stream's connection ended.
        """
        if stream is not self.stream:
            return
        self.stream = None
        self._cancelTimer()
        self._stopKeepalive()
        if self._closing or stream.peerClosed or self._stopped:
            self._closing = False
            self._event("closedCleanly")
            self.manager.emit(LinkIdle(self.local, self.remote))
            if self._wanted():
                # Stanzas sent while the stream closed, or a watcher.
                self._demand()
        else:
            self._fail("connection lost", "remote-server-not-found", event="broken",
                       established=True)

    def close(self) -> defer.Deferred:
        """
        End the link (the node is stopping).

        @return: a Deferred that fires once no attempt is under way.
        """
        self._stopped = True
        self._cancelTimer()
        self._stopKeepalive()
        if self.state == "backoff":
            self._cancelRetry()
            self._fail("the node is stopping", "remote-server-not-found", event="stopping",
                       dead=False)
        for stream in (self.stream, self._attempt):
            if stream is None:
                continue
            if stream.transport is None:
                # Still connecting: there is no stream to close yet.
                if self._connecting is not None:
                    self._connecting.cancel()
            else:
                stream.closeStream()
        running = self._running
        if running is None:
            return defer.succeed(None)
        done: defer.Deferred = defer.Deferred()
        running.addBoth(lambda result: (done.callback(None), result)[1])
        return done


class _LinkFailed(Exception):
    pass


def bounceText(condition: str, remote: str) -> str:
    """
    The text of a stanza bounced because no link to C{remote} could be
    made: what a user can act on, nothing about addresses or errors.
    """
    if condition == "remote-server-timeout":
        return f"The server {remote} did not answer in time"
    return f"The server {remote} could not be reached"


def verifyElement(local: str, remote: str, streamId: str, key: str) -> domish.Element:
    """
    The C{<db:verify/>} asking C{remote} whether C{key} is its key for the
    stream C{streamId}.
    """
    return dialbackElement("verify", local, remote, key=key, streamId=streamId)
