# -*- test-case-name: tests.s2s.test_link -*-
"""
The outgoing link's state machine, queue, bounces, expiry and idle close,
driven with a L{task.Clock} and a fake connector: no sockets.
"""

from __future__ import annotations

import random
from typing import Any

from twisted.internet import defer, error, task
from twisted.internet.testing import StringTransport
from twisted.logger import Logger, formatEvent
from twisted.python import failure
from twisted.trial import unittest

from tests.support.harness import parseStanza
from xmuc.config import parseConfig
from xmuc.core.links import (
    Bounced,
    IllegalTransition,
    LinkDown,
    LinkIdle,
    LinkUp,
    transition,
)
from xmuc.iqrequests import IQRequests
from xmuc.s2s.link import Link
from xmuc.s2s.resolve import NoService, Target


class FakeRouter:
    def __init__(self) -> None:
        self.bounces: list[tuple[str, str]] = []
        self.texts: list[str | None] = []

    def bounce(self, stanza: Any, condition: str, text: str | None = None) -> None:
        self.bounces.append((stanza.getAttribute("id"), condition))
        self.texts.append(text)


class FakeResolver:
    def __init__(self) -> None:
        self.failure: Exception | None = None

    def resolve(self, domain: str) -> defer.Deferred:
        if self.failure is not None:
            return defer.fail(self.failure)
        return defer.succeed([Target("127.0.0.9", 5269)])

    def address(self, host: str) -> defer.Deferred:
        return defer.succeed(host)


class FakeManager:
    """
    What a L{Link} needs of L{xmuc.s2s.manager.S2SManager}.
    """

    def __init__(self, s2s: str = "") -> None:
        self.config = parseConfig(
            "[s2s]\nqueue_max = 3\nqueue_expiry = 30\nidle_timeout = 100\n"
            "connect_timeout = 10\n" + ("" if "keepalive" in s2s else "keepalive = 0\n") + s2s
        )
        self.clock = task.Clock()
        self.router = FakeRouter()
        self.resolver = FakeResolver()
        self.events: list[Any] = []
        self.connections: list[tuple[defer.Deferred, Any]] = []
        self.random = random.Random(1)
        #: What the manager's lastHeard answers (incoming streams).
        self.heard = 0.0
        #: Where the node's own requests go (a link's send, set by a test).
        self.route: Any = lambda iq: None
        self.iqRequests = IQRequests(lambda iq: self.route(iq), "a.test", self.clock,
                                     lambda: "id%d" % len(self.iqRequests.pending),
                                     lambda domain: domain == "a.test")

    def requestIQ(self, iq: Any, timeout: float) -> defer.Deferred:
        return self.iqRequests.request(iq, timeout)

    def lastHeard(self, remote: str) -> float:
        return self.heard

    def emit(self, event: Any) -> None:
        self.events.append(event)

    def connect(self, host: str, port: int, directTLS: bool, stream: Any, domain: str) -> defer.Deferred:
        d: defer.Deferred = defer.Deferred()
        self.connections.append((d, stream))
        return d


def message(number: int) -> Any:
    return parseStanza(
        f"<message id='m{number}' from='alice@a.test' to='bob@b.test'><body>{number}</body></message>"
    )


class LinkTests(unittest.TestCase):
    def setUp(self) -> None:
        self.manager = FakeManager()
        self.link = Link(self.manager, "a.test", "b.test")

    def connectStream(self) -> tuple[Any, StringTransport]:
        """
        Let the pending connection succeed and its stream authenticate.
        """
        d, stream = self.manager.connections[-1]
        transport = StringTransport()
        stream.makeConnection(transport)
        d.callback(stream)
        stream._ready()
        return stream, transport

    def test_queuedInOrder(self) -> None:
        """
        Stanzas sent while the link is set up are queued, then written in
        order once it is up; LinkUp is announced.
        """
        self.link.send(message(1))
        self.link.send(message(2))
        self.assertEqual(self.link.state, "connecting")
        stream, transport = self.connectStream()
        self.assertEqual(self.link.state, "up")
        written = transport.value().decode()
        self.assertLess(written.index("m1"), written.index("m2"))
        self.assertNotIn("xmlns='jabber:client'", written)
        self.assertEqual(self.manager.events, [LinkUp("a.test", "b.test")])
        self.link.send(message(3))
        self.assertIn("m3", transport.value().decode())

    def test_refused(self) -> None:
        """
        When no connection can be made, every queued stanza goes back with
        remote-server-not-found, LinkDown says why, and the next stanza
        tries again once the back-off is over.
        """
        self.link.send(message(1))
        self.link.send(message(2))
        d, _ = self.manager.connections[-1]
        d.errback(error.ConnectionRefusedError())
        self.assertEqual(self.link.state, "down")
        self.assertEqual(
            self.manager.router.bounces,
            [("m1", "remote-server-not-found"), ("m2", "remote-server-not-found")],
        )
        self.assertEqual([type(e) for e in self.manager.events], [Bounced, Bounced, LinkDown])
        self.assertIn("refused", self.manager.events[-1].reason)
        self.link.send(message(3))
        self.assertEqual(self.link.state, "backoff")
        self.manager.clock.advance(1)
        self.assertEqual(self.link.state, "connecting")
        self.assertEqual(len(self.manager.connections), 2)

    def logged(self) -> list[str]:
        """
        Capture the link's log lines from now on; returns the list.
        """
        lines: list[str] = []
        self.link.log = Logger(observer=lambda event: lines.append(formatEvent(event)))
        return lines

    def test_bounceTextHidesInternals(self) -> None:
        """
        A stanza bounced because the connection was refused tells its
        sender the condition and that the server could not be reached,
        with no address, port or errno; one log line has those, with the
        link.
        """
        lines = self.logged()
        self.link.send(message(1))
        d, _ = self.manager.connections[-1]
        d.errback(error.ConnectionRefusedError(111, "Connection refused"))
        self.assertEqual(self.manager.router.bounces, [("m1", "remote-server-not-found")])
        self.assertEqual(self.manager.router.texts, ["The server b.test could not be reached"])
        [line] = [line for line in lines if "down" in line]
        self.assertIn("a.test -> b.test", line)
        for detail in ("127.0.0.9", "5269", "111", "refused"):
            self.assertIn(detail, line)
            self.assertNotIn(detail, self.manager.router.texts[0])

    def test_timeoutBounceText(self) -> None:
        """
        A stanza bounced because the peer never answered, or because it
        waited past queue_expiry, says the server did not answer in time;
        the time-out details stay in the log.
        """
        lines = self.logged()
        self.link.send(message(1))
        self.manager.clock.advance(10)
        self.assertEqual(self.manager.router.texts, ["The server b.test did not answer in time"])
        self.assertIn("127.0.0.9:5269", "".join(lines))
        self.manager.config = parseConfig("[s2s]\nqueue_expiry = 5\nconnect_timeout = 60\n")
        link = Link(self.manager, "a.test", "b.test")
        link.send(message(2))
        self.manager.clock.advance(5)
        self.assertEqual(self.manager.router.texts[-1], "The server b.test did not answer in time")

    def test_noService(self) -> None:
        """
        A domain with no server bounces with remote-server-not-found.
        """
        self.manager.resolver.failure = NoService("b.test offers no XMPP server")
        self.link.send(message(1))
        self.assertEqual(self.manager.router.bounces, [("m1", "remote-server-not-found")])
        self.assertEqual(self.manager.events[-1].condition, "remote-server-not-found")

    def test_connectTimeout(self) -> None:
        """
        A peer that never completes the connection within connect_timeout
        makes the queued stanzas bounce with remote-server-timeout.
        """
        self.link.send(message(1))
        self.manager.clock.advance(10)
        self.assertEqual(self.manager.router.bounces, [("m1", "remote-server-timeout")])
        self.assertEqual(self.link.state, "down")

    def test_negotiationTimeout(self) -> None:
        """
        A peer that accepts the connection and then says nothing times out
        the same way, and its connection is aborted.
        """
        self.link.send(message(1))
        d, stream = self.manager.connections[-1]
        transport = StringTransport()
        stream.makeConnection(transport)
        d.callback(stream)
        self.manager.clock.advance(10)
        self.assertTrue(transport.disconnecting)
        stream.connectionLost(failure.Failure(error.ConnectionAborted()))
        self.assertEqual(self.manager.router.bounces, [("m1", "remote-server-timeout")])

    def test_queueBound(self) -> None:
        """
        Past queue_max waiting stanzas, new ones bounce at once with
        resource-constraint.
        """
        for number in range(4):
            self.link.send(message(number))
        self.assertEqual(self.manager.router.bounces, [("m3", "resource-constraint")])

    def test_queueExpiry(self) -> None:
        """
        Stanzas older than queue_expiry go back with remote-server-timeout
        while the link is still being set up; younger ones wait.
        """
        self.manager.config = parseConfig(
            "[s2s]\nqueue_expiry = 5\nconnect_timeout = 60\nqueue_max = 10\n"
        )
        link = Link(self.manager, "a.test", "b.test")
        link.send(message(1))
        self.manager.clock.advance(3)
        link.send(message(2))
        self.manager.clock.advance(2)
        self.assertEqual(self.manager.router.bounces, [("m1", "remote-server-timeout")])
        self.manager.clock.advance(5)
        self.assertEqual(
            self.manager.router.bounces,
            [("m1", "remote-server-timeout"), ("m2", "remote-server-timeout")],
        )

    def test_idleClose(self) -> None:
        """
        A link quiet for idle_timeout closes its stream (LinkIdle) and
        reopens on the next stanza.
        """
        self.link.send(message(1))
        stream, transport = self.connectStream()
        self.manager.clock.advance(60)
        self.link.send(message(2))
        self.manager.clock.advance(60)
        self.assertFalse(transport.disconnecting)
        self.manager.clock.advance(40)
        self.assertTrue(transport.disconnecting)
        self.assertTrue(transport.value().endswith(b"</stream:stream>"))
        stream.connectionLost(failure.Failure(error.ConnectionDone()))
        self.assertEqual(self.link.state, "idle")
        self.assertIsInstance(self.manager.events[-1], LinkIdle)
        self.link.send(message(3))
        self.assertEqual(self.link.state, "connecting")

    def test_brokenStream(self) -> None:
        """
        An established stream that breaks reports LinkDown.
        """
        self.link.send(message(1))
        stream, transport = self.connectStream()
        stream.connectionLost(failure.Failure(error.ConnectionLost()))
        self.assertEqual(self.link.state, "down")
        self.assertIsInstance(self.manager.events[-1], LinkDown)

    def test_verifyWaitsForStream(self) -> None:
        """
        A dialback verification request opens the link and is written once
        the stream can carry it; the answer fires its Deferred.
        """
        from xmuc.s2s.link import verifyElement

        results: list[Any] = []
        self.link.verify(verifyElement("a.test", "b.test", "s1", "k")).addCallback(results.append)
        d, stream = self.manager.connections[-1]
        transport = StringTransport()
        stream.makeConnection(transport)
        stream.canVerify = True
        self.link.verifyReady(stream)
        self.assertIn(b"id='s1'", transport.value())
        self.link.verifyAnswered(parseStanza(
            "<verify xmlns='jabber:server:dialback' from='b.test' to='a.test' id='s1' type='valid'/>"
        ))
        self.assertEqual(results, [True])

    def test_unansweredVerifyForgotten(self) -> None:
        """
        A verification request the peer never answers fires None after
        two connect time-outs and is no longer kept by the link, which
        stays up.
        """
        from xmuc.s2s.link import verifyElement

        results: list[Any] = []
        self.link.verify(verifyElement("a.test", "b.test", "s1", "k")).addCallback(results.append)
        self.link.send(message(1))
        self.connectStream()
        self.manager.clock.advance(20)
        self.assertEqual(results, [None])
        self.assertEqual(self.link.pendingVerifications, 0)

    def test_closeWhileConnecting(self) -> None:
        """
        Closing a link (the node stops) while its TCP connection is still
        being made cancels the attempt: the close completes at once, the
        queued stanza bounces, and nothing is written to a transport that
        does not exist yet.
        """
        self.link.send(message(1))
        connecting, stream = self.manager.connections[-1]
        done = self.link.close()
        self.assertTrue(done.called)
        self.assertTrue(connecting.called)
        self.assertEqual(self.link.state, "down")
        self.assertEqual(self.manager.router.bounces, [("m1", "remote-server-not-found")])
        self.assertIsNone(stream.transport)

    def test_illegalTransition(self) -> None:
        """
        The transition table refuses an event the state does not list.
        """
        self.assertRaises(IllegalTransition, transition, "idle", "authenticated")
        self.assertEqual(transition("connecting", "authenticated"), "up")


class _Resolver:
    """
    Resolves nothing (L{NoService}) except C{slow.test}, whose answer
    never comes.
    """

    def resolve(self, domain: str) -> defer.Deferred:
        if domain == "slow.test":
            return defer.Deferred()
        return defer.fail(NoService(domain))


class LinkTableTests(unittest.TestCase):
    """
    The manager's table of links stays bounded however many domains are
    named, and never forgets a link that something depends on.
    """

    def setUp(self) -> None:
        from tests.support.harness import Harness
        from xmuc.s2s.manager import S2SManager
        from xmuc.s2s.tls import PeerVerifier

        self.harness = Harness(domain="a.test", config="[s2s]\nrequire_tls = false\n")
        self.manager = S2SManager(
            self.harness.node, None, None, PeerVerifier(""), resolver=_Resolver()
        )

    def send(self, domain: str, number: int) -> None:
        stanza = message(number)
        stanza["to"] = f"user@{domain}"
        self.manager.link("a.test", domain).send(stanza)

    def test_deadLinksForgotten(self) -> None:
        """
        Links to 1,000 made-up domains that could not be reached are
        forgotten: the table never holds more than the sweep threshold,
        and the most recent one still reads C{down}.
        """
        from xmuc.s2s.manager import SWEEP_MIN

        sizes = []
        for number in range(1000):
            self.send(f"nowhere{number}.test", number)
            sizes.append(len(self.manager.links))
        self.assertLessEqual(max(sizes), SWEEP_MIN)
        self.assertEqual(self.manager.linkState("nowhere999.test"), "down")

    def test_busyLinkKept(self) -> None:
        """
        A link still resolving, with a stanza queued, survives any number
        of sweeps; once the stanza is sent it is delivered to that link.
        """
        self.send("slow.test", 0)
        slow = self.manager.links[("a.test", "slow.test")]
        for number in range(1, 500):
            self.send(f"nowhere{number}.test", number)
        self.assertIs(self.manager.links[("a.test", "slow.test")], slow)
        self.assertEqual(self.manager.linkState("slow.test"), "connecting")
