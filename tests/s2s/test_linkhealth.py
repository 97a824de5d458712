# -*- test-case-name: tests.s2s.test_linkhealth -*-
"""
Tests for the health of server-to-server links (L{xmuc.s2s.link}): the
keepalive that tells a dead route from a quiet one, reconnection with a
jittered exponential back-off, links kept up for a watcher, and idle links
that are left alone; first on a L{task.Clock} with the link alone, then on
the L{FakeNetwork} of whole nodes.
"""

from __future__ import annotations

import random
from typing import Any

from twisted.internet import error
from twisted.internet.testing import StringTransport
from twisted.python import failure
from twisted.trial import unittest
from twisted.words.protocols.jabber.jid import JID

from tests.s2s.test_link import FakeManager, message
from tests.s2s.test_linkwrites import _elements
from tests.support.fakenet import FakeNetwork
from tests.support.harness import parseStanza
from xmuc.core.links import BACKOFF_JITTER, LinkDown, LinkIdle, LinkUp, backoffDelay
from xmuc.s2s.link import Link

KEEPALIVE = "keepalive = 10\nreconnect_min = 1\nreconnect_max = 8\n"


class KeepaliveTests(unittest.TestCase):
    """
    An up link pings a silent peer and finds a dead route within twice
    C{keepalive}.
    """

    def setUp(self) -> None:
        self.manager = FakeManager(KEEPALIVE)
        self.link = Link(self.manager, "a.test", "b.test")
        self.manager.route = self.link.send
        self.link.send(message(0))
        self.stream, self.transport = self.connect()
        self.transport.clear()

    def connect(self) -> tuple[Any, StringTransport]:
        d, stream = self.manager.connections[-1]
        transport = StringTransport()
        stream.makeConnection(transport)
        d.callback(stream)
        stream._ready()
        return stream, transport

    def advance(self, seconds: float) -> None:
        self.manager.clock.advance(seconds)

    def pings(self) -> list[str]:
        """
        The ids of the pings written so far.
        """
        return [e["id"] for e in _elements(self.transport.value())
                if e.name == "iq" and e.getAttribute("type") == "get"
                and e.firstChildElement() is not None
                and e.firstChildElement().uri == "urn:xmpp:ping"]

    def pong(self, ident: str, kind: str = "result") -> None:
        """
        The peer answers ping C{ident} (over an incoming stream, which
        the manager hears).
        """
        self.manager.heard = self.manager.clock.seconds()
        answer = parseStanza(f"<iq type='{kind}' id='{ident}' from='b.test' to='a.test'/>")
        self.assertTrue(self.manager.iqRequests.take(answer, JID("a.test")))

    def test_pingAfterSilence(self) -> None:
        """
        With a stanza sent and nothing heard for keepalive seconds, the
        link pings the remote domain from the local one; an answer keeps
        it up, and the next ping comes after keepalive seconds more of
        silence (once a stanza was sent again).
        """
        self.advance(9)
        self.assertEqual(self.pings(), [])
        self.advance(1)
        [ident] = self.pings()
        [ping] = [e for e in _elements(self.transport.value()) if e.getAttribute("id") == ident]
        self.assertEqual((ping["from"], ping["to"]), ("a.test", "b.test"))
        self.pong(ident)
        self.link.send(message(1))
        self.advance(9.5)
        self.assertEqual(len(self.pings()), 1)
        self.advance(0.5)
        self.assertEqual(len(self.pings()), 2)
        self.assertEqual(self.link.state, "up")

    def test_noAnswerDead(self) -> None:
        """
        A ping not answered within keepalive seconds: the transport is
        aborted, LinkDown says "no answer to keepalive" with
        remote-server-timeout and that an established link died, within
        twice keepalive of the last byte heard.
        """
        self.advance(10)
        self.assertEqual(len(self.pings()), 1)
        self.advance(9.9)
        self.assertEqual(self.link.state, "up")
        self.advance(0.1)
        self.assertTrue(self.transport.aborted if hasattr(self.transport, "aborted")
                        else self.transport.disconnecting)
        self.assertEqual(self.link.state, "down")
        self.assertEqual(self.manager.events[-1],
                         LinkDown("a.test", "b.test", "no answer to keepalive",
                                  "remote-server-timeout", dead=True, established=True))
        self.stream.connectionLost(failure.Failure(error.ConnectionAborted()))
        self.assertEqual(len([e for e in self.manager.events if isinstance(e, LinkDown)]), 1)

    def test_queuedBounce(self) -> None:
        """
        What waits for the link when it is found dead (stanzas sent while
        its stream closes) bounces with remote-server-timeout.
        """
        self.advance(10)
        self.stream.closed = True
        self.link.send(message(5))
        self.advance(10)
        self.assertEqual(self.manager.router.bounces, [("m5", "remote-server-timeout")])

    def test_errorAnswerAlive(self) -> None:
        """
        An error answer (a peer that does not do pings) proves the route
        as well as a result: the link stays up.
        """
        self.advance(10)
        [ident] = self.pings()
        self.pong(ident, "error")
        self.advance(30)
        self.assertEqual(self.link.state, "up")

    def test_whitespaceCounts(self) -> None:
        """
        Bytes from the peer on the link's own stream, a whitespace
        keepalive included, count as traffic: no ping is due until
        keepalive seconds after them (for a stanza sent since).
        """
        self.advance(9)
        self.stream.dataReceived(b" ")
        self.link.send(message(1))
        self.advance(9)
        self.assertEqual(self.pings(), [])
        self.advance(1)
        self.assertEqual(len(self.pings()), 1)

    def test_incomingTrafficCounts(self) -> None:
        """
        Bytes from the peer on an incoming stream it authenticated count
        too.
        """
        self.advance(9)
        self.manager.heard = self.manager.clock.seconds()
        self.advance(9)
        self.assertEqual(self.pings(), [])

    def test_quietLinkLeftAlone(self) -> None:
        """
        A link that carried nothing since the peer last answered is not
        pinged again, and the pings are no use of it: it closes after
        idle_timeout all the same (LinkIdle, clean) and is not retried.
        """
        self.advance(10)
        [ident] = self.pings()
        self.pong(ident)
        self.advance(80)
        self.assertEqual(len(self.pings()), 1)
        self.advance(10)
        self.assertTrue(self.transport.disconnecting)
        self.stream.connectionLost(failure.Failure(error.ConnectionDone()))
        self.assertEqual(self.manager.events[-1], LinkIdle("a.test", "b.test"))
        self.assertFalse(self.manager.events[-1].dead)
        self.advance(1000)
        self.assertEqual(len(self.manager.connections), 1)
        self.assertEqual(self.link.state, "idle")

    def test_off(self) -> None:
        """
        keepalive = 0: no ping, ever.
        """
        manager = FakeManager("keepalive = 0\n")
        link = Link(manager, "a.test", "b.test")
        manager.route = link.send
        link.send(message(0))
        d, stream = manager.connections[-1]
        transport = StringTransport()
        stream.makeConnection(transport)
        d.callback(stream)
        stream._ready()
        link.send(message(1))
        manager.clock.advance(99)
        self.assertNotIn(b"urn:xmpp:ping", transport.value())
        self.assertEqual(link.state, "up")


class BackoffTests(unittest.TestCase):
    """
    Reconnection after failures: jittered exponential back-off, bounded,
    deterministic for a seed; only for links something waits on.
    """

    def attemptTimes(self, seed: int, failures: int = 6) -> list[float]:
        """
        The times of the attempts of a link kept up whose every
        connection is refused.
        """
        manager = FakeManager(KEEPALIVE)
        manager.random = random.Random(seed)
        link = Link(manager, "a.test", "b.test")
        link.keepUp()
        times = [manager.clock.seconds()]
        for _ in range(failures):
            d, _ = manager.connections[-1]
            d.errback(error.ConnectionRefusedError())
            count = len(manager.connections)
            steps = 0
            while len(manager.connections) == count:
                manager.clock.advance(0.05)
                steps += 1
                self.assertLess(steps, 1000)
            times.append(manager.clock.seconds())
        return times

    def test_doublingBounded(self) -> None:
        """
        The waits between attempts double from reconnect_min, each less a
        jitter of at most a quarter, up to reconnect_max.
        """
        times = self.attemptTimes(seed=1)
        waits = [b - a for a, b in zip(times, times[1:])]
        for n, wait in enumerate(waits):
            base = min(8.0, 2.0 ** n)
            self.assertGreaterEqual(wait, base * (1 - BACKOFF_JITTER) - 0.001, waits)
            self.assertLessEqual(wait, base + 0.05, waits)

    def test_deterministic(self) -> None:
        """
        The same seed gives the same waits; another seed other ones.
        """
        self.assertEqual(self.attemptTimes(seed=4), self.attemptTimes(seed=4))
        self.assertNotEqual(self.attemptTimes(seed=4), self.attemptTimes(seed=5))

    def test_delayFunction(self) -> None:
        """
        L{backoffDelay} alone: bounded by its maximum however many
        failures, never below the jittered share.
        """
        rng = random.Random(0)
        for failures in (1, 2, 10, 1000):
            delay = backoffDelay(failures, 1.0, 60.0, rng)
            base = min(60.0, 2.0 ** (failures - 1))
            self.assertTrue(base * (1 - BACKOFF_JITTER) <= delay <= base, (failures, delay))

    def test_reconnectLinkUp(self) -> None:
        """
        A kept-up link whose peer comes back is up again at the next
        attempt (LinkUp), and its back-off starts afresh.
        """
        manager = FakeManager(KEEPALIVE)
        link = Link(manager, "a.test", "b.test")
        link.keepUp()
        manager.connections[-1][0].errback(error.ConnectionRefusedError())
        manager.clock.advance(1)
        self.assertEqual(link.state, "connecting")
        d, stream = manager.connections[-1]
        stream.makeConnection(StringTransport())
        d.callback(stream)
        stream._ready()
        self.assertEqual(manager.events[-1], LinkUp("a.test", "b.test"))
        self.assertEqual(link.failures, 0)

    def test_brokenRetried(self) -> None:
        """
        A kept-up link whose connection is reset goes down (dead,
        established) and tries again after the first back-off.
        """
        manager = FakeManager(KEEPALIVE)
        link = Link(manager, "a.test", "b.test")
        link.keepUp()
        d, stream = manager.connections[-1]
        stream.makeConnection(StringTransport())
        d.callback(stream)
        stream._ready()
        stream.connectionLost(failure.Failure(error.ConnectionLost()))
        down = manager.events[-1]
        self.assertEqual((type(down), down.dead, down.established), (LinkDown, True, True))
        self.assertEqual(link.state, "backoff")
        manager.clock.advance(1)
        self.assertEqual(len(manager.connections), 2)

    def test_notWantedNotRetried(self) -> None:
        """
        A link nobody waits on stays down after a failure: no attempt
        until the next stanza.
        """
        manager = FakeManager(KEEPALIVE)
        link = Link(manager, "a.test", "b.test")
        link.send(message(1))
        manager.connections[-1][0].errback(error.ConnectionRefusedError())
        manager.clock.advance(100)
        self.assertEqual((link.state, len(manager.connections)), ("down", 1))

    def test_release(self) -> None:
        """
        Released while it waits for its back-off, a link with nothing
        queued stays down.
        """
        manager = FakeManager(KEEPALIVE)
        link = Link(manager, "a.test", "b.test")
        release = link.keepUp()
        manager.connections[-1][0].errback(error.ConnectionRefusedError())
        self.assertEqual(link.state, "backoff")
        release()
        release()
        self.assertEqual(link.state, "down")
        manager.clock.advance(100)
        self.assertEqual(len(manager.connections), 1)
        self.assertTrue(link.dormant())

    def test_keptUpNotIdle(self) -> None:
        """
        A kept-up link is not closed for being idle.
        """
        manager = FakeManager("keepalive = 0\n")
        link = Link(manager, "a.test", "b.test")
        link.keepUp()
        d, stream = manager.connections[-1]
        transport = StringTransport()
        stream.makeConnection(transport)
        d.callback(stream)
        stream._ready()
        manager.clock.advance(1000)
        self.assertFalse(transport.disconnecting)
        self.assertFalse(link.dormant())

    def test_stopWhileWaiting(self) -> None:
        """
        The node stopping while a link waits for its back-off: the queued
        stanza bounces, LinkDown says the peer is not to blame (not dead),
        and no attempt follows.
        """
        manager = FakeManager(KEEPALIVE)
        link = Link(manager, "a.test", "b.test")
        link.send(message(1))
        manager.connections[-1][0].errback(error.ConnectionRefusedError())
        link.send(message(2))
        self.assertEqual(link.state, "backoff")
        self.assertTrue(link.close().called)
        self.assertEqual(manager.router.bounces[-1], ("m2", "remote-server-not-found"))
        self.assertFalse(manager.events[-1].dead)
        manager.clock.advance(100)
        self.assertEqual(len(manager.connections), 1)


def _downs(events: list[Any]) -> list[Any]:
    return [e for e in events if isinstance(e, LinkDown)]


class NetworkHealthTests(unittest.TestCase):
    """
    Link health between whole nodes on the FakeNetwork.
    """

    S2S = "keepalive = 30\nconnect_timeout = 5\nidle_timeout = 600\n"

    def network(self, seed: int = 1, s2s: str = S2S) -> tuple[FakeNetwork, list[Any]]:
        net = FakeNetwork(("a.test", "b.test"), seed=seed, s2s=s2s)
        events: list[Any] = []
        net.node("a.test").s2s.watch(events.append, "b.test")
        self.release = net.node("a.test").s2s.keepUp("b.test")
        net.flush()
        self.assertEqual(net.node("a.test").s2s.linkState("b.test"), "up")
        return net, events

    def test_dropDetected(self) -> None:
        """
        A kept-up link across a partition that drops (TCP looks open) is
        found dead within twice keepalive, by its unanswered ping.
        """
        net, events = self.network()
        start = net.clock.seconds()
        net.partition(["a.test"], ["b.test"], mode="drop")
        net.advance(60)
        [down] = _downs(events)
        self.assertEqual((down.reason, down.condition, down.dead, down.established),
                         ("no answer to keepalive", "remote-server-timeout", True, True))
        self.assertLessEqual(net.clock.seconds() - start, 60)

    def test_quietRouteNotDead(self) -> None:
        """
        Without a partition, a quiet kept-up link answers its pings and
        stays up for ever.
        """
        net, events = self.network()
        net.advance(600)
        self.assertEqual(_downs(events), [])
        self.assertEqual(net.node("a.test").s2s.linkState("b.test"), "up")

    def test_peerWhitespaceCounts(self) -> None:
        """
        Whitespace keepalives the peer sends on its own link to us (our
        incoming stream) count as traffic: a kept-up link that hears them
        sends no ping.
        """
        net, events = self.network()
        since = len(net.events)
        back = net.node("b.test").s2s.links[("b.test", "a.test")]
        for _ in range(10):
            back.stream.transport.write(b" ")
            net.advance(20)
        pings = [e for e in net.events[since:]
                 if e[1] == "data" and e[2] == "a.test" and b"urn:xmpp:ping" in e[5]]
        self.assertEqual(pings, [])
        net.advance(100)
        pings = [e for e in net.events[since:]
                 if e[1] == "data" and e[2] == "a.test" and b"urn:xmpp:ping" in e[5]]
        self.assertNotEqual(pings, [])
        self.assertEqual(_downs(events), [])

    def test_resetAtOnce(self) -> None:
        """
        A partition that resets the connections is seen at once.
        """
        net, events = self.network()
        net.partition(["a.test"], ["b.test"], mode="reset")
        net.flush(quiet=0.5)
        [down] = _downs(events)[:1]
        self.assertEqual((down.reason, down.dead, down.established),
                         ("connection lost", True, True))

    def test_healReconnects(self) -> None:
        """
        While the partition lasts the link retries with a growing back-off;
        after heal the next attempt succeeds: LinkUp.
        """
        net, events = self.network()
        net.partition(["a.test"], ["b.test"], mode="reset")
        net.advance(40)
        self.assertGreater(len(_downs(events)), 3)
        self.assertNotEqual(net.node("a.test").s2s.linkState("b.test"), "up")
        net.heal()
        net.advance(60)
        self.assertIsInstance(events[-1], LinkUp)
        self.assertEqual(net.node("a.test").s2s.linkState("b.test"), "up")

    def test_backoffSeeded(self) -> None:
        """
        The times of the attempts during a partition are the same for the
        same seed.
        """
        def run(seed: int) -> list[float]:
            net, events = self.network(seed)
            net.partition(["a.test"], ["b.test"], mode="reset")
            net.advance(100)
            return [e[0] for e in net.events if e[1] == "connect"]

        self.assertEqual(run(3), run(3))

    def test_idleNotRetried(self) -> None:
        """
        A link nobody keeps up closes after idle_timeout (LinkIdle, clean)
        and no attempt follows.
        """
        net, events = self.network(s2s="keepalive = 30\nidle_timeout = 100\n")
        self.release()
        net.advance(200)
        self.assertIsInstance(events[-1], LinkIdle)
        connects = len([e for e in net.events if e[1] == "connect"])
        net.advance(1000)
        self.assertEqual(len([e for e in net.events if e[1] == "connect"]), connects)
        self.assertEqual(net.node("a.test").s2s.linkState("b.test"), "idle")
