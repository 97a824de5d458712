# -*- test-case-name: tests.test_node -*-
"""
Tests for L{xmuc.node}: the node's record of pending storage work.
"""

from __future__ import annotations

from twisted.internet import defer
from twisted.trial.unittest import SynchronousTestCase

from tests.support.harness import Harness


class PendingWorkTests(SynchronousTestCase):
    def test_trackUntilFired(self) -> None:
        """
        A tracked Deferred is pending until it fires, and its result goes
        on down its chain.
        """
        node = Harness().node
        d: defer.Deferred = defer.Deferred()
        self.assertIs(node.track(d), d)
        self.assertEqual(node.pending, {d})
        d.callback(7)
        self.assertEqual(node.pending, set())
        self.assertEqual(self.successResultOf(d), 7)

    def test_settled(self) -> None:
        """
        settled() fires once every Deferred pending at the call has fired,
        failures included (they are the tracker's to log).
        """
        node = Harness().node
        first, second = defer.Deferred(), defer.Deferred()
        second.addErrback(lambda f: None)
        node.track(first)
        node.track(second)
        settled = node.settled()
        first.callback(None)
        self.assertNoResult(settled)
        second.errback(RuntimeError("disk full"))
        self.successResultOf(settled)

    def test_settledTimeoutSparesWork(self) -> None:
        """
        Giving up on settled() (a stopping node's timeout cancels it) does
        not cancel the storage work itself: its callers are not told it
        failed while the store goes on to commit it.
        """
        node = Harness().node
        d: defer.Deferred = defer.Deferred()
        node.track(d)
        settled = node.settled()
        settled.cancel()
        self.assertNoResult(d)
        d.callback(7)
        self.assertEqual(self.successResultOf(d), 7)

    def test_roomWritesTracked(self) -> None:
        """
        The MUC service's storage writes are tracked: a room saved when its
        configuration changes is pending until the store answers.
        """
        harness = Harness()
        node = harness.node
        writes: list[defer.Deferred] = []
        store = node.store
        original = store.saveRoom

        def slowSave(host, room):
            d: defer.Deferred = defer.Deferred()
            writes.append(d)
            d.addCallback(lambda _: original(host, room))
            return d

        store.saveRoom = slowSave
        alice = harness.login("alice")
        alice.send("<presence to='tea@muc.localhost/Alice'><x xmlns='http://jabber.org/protocol/muc'/></presence>")
        alice.send("<iq type='set' id='c' to='tea@muc.localhost'><query xmlns="
                   "'http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'>"
                   "<field var='muc#roomconfig_persistentroom'><value>1</value></field>"
                   "</x></query></iq>")
        self.assertTrue(writes)
        self.assertTrue(set(writes) <= node.pending)
        for d in writes:
            d.callback(None)
        self.assertFalse(set(writes) & node.pending)


class HooksTests(SynchronousTestCase):
    def test_handlersLive(self) -> None:
        """
        handlers() is the live list of a hook's handlers, highest priority
        first, the same object before and after handlers are added (the
        router holds it).
        """
        from xmuc.core.hooks import Hooks

        hooks = Hooks()
        live = hooks.handlers("route-remote")
        self.assertEqual(live, [])
        low, high = (lambda: None), (lambda: None)
        hooks.add("route-remote", low, priority=-1)
        hooks.add("route-remote", high, priority=5)
        self.assertIs(hooks.handlers("route-remote"), live)
        self.assertEqual([handler for _, handler in live], [high, low])

    def test_notifyRunsEveryHandler(self) -> None:
        """
        notify() runs every handler in order, whatever they return: a
        handler that returns a Deferred (the room service's start) does
        not keep the next one from seeing the node start.
        """
        from twisted.internet import defer

        from xmuc.core.hooks import Hooks

        hooks = Hooks()
        seen: list[str] = []
        hooks.add("node-started", lambda: seen.append("rooms") or defer.Deferred())
        hooks.add("node-started", lambda: seen.append("replica"))
        self.assertIsNone(hooks.notify("node-started"))
        self.assertEqual(seen, ["rooms", "replica"])

    def test_fireStopsAtTrue(self) -> None:
        """
        fire() returns the first true result and runs no later handler.
        """
        from xmuc.core.hooks import Hooks

        hooks = Hooks()
        ran: list[str] = []
        hooks.add("e", lambda: ran.append("a") or 0, priority=3)
        hooks.add("e", lambda: ran.append("b") or "taken", priority=2)
        hooks.add("e", lambda: ran.append("c"), priority=1)
        self.assertEqual(hooks.fire("e"), "taken")
        self.assertEqual(ran, ["a", "b"])
        self.assertIsNone(hooks.fire("nothing"))
