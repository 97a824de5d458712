# -*- test-case-name: tests.test_writes -*-
"""
Tests for the write barrier (L{xmuc.writes}) on real c2s streams: a stream
hands its client an IQ answer only after the store answered every
operation its earlier stanzas started, keeps its output in order, and stops
reading while the store is busy with what it submitted.

The node runs on a L{HeldStore}: a memory store whose operations wait, when
it holds them, until the test releases them one by one.
"""

from __future__ import annotations

from typing import Any, Callable

from twisted.internet import defer
from twisted.trial import unittest
from zope.interface.interface import Method

from tests.c2s import StreamClient
from tests.support.harness import Harness, parseStanza

from xmuc.storage.memory import MemoryStore
from xmuc.storage.interfaces import IStore, OfflineMessage
from xmuc.writes import CURRENT, READS, WRITES, TrackedStore, WriteScope, later

PING = "<iq type='get' to='localhost' id='ping1'><ping xmlns='urn:xmpp:ping'/></iq>"
PLAINTEXT = "[c2s]\nrequire_tls = false\nrate_limit = 0\n"
TO_BOB = "<message to='bob@localhost' type='chat'><body>hi</body></message>"

_OPERATIONS = WRITES + READS


class HeldStore(MemoryStore):
    """
    A memory store whose operations, while C{holding}, wait in C{held}
    until L{release}; C{busy} and L{whenDrained} are the test's to set.
    """

    def __init__(self) -> None:
        super().__init__()
        self.holding = False
        self.held: list[tuple[str, Callable[[], defer.Deferred], defer.Deferred]] = []
        self.busy = False
        self.drained: defer.Deferred = defer.Deferred()
        self.calls: list[str] = []

    def release(self) -> str:
        """
        Run the oldest held operation; returns its name.
        """
        name, run, d = self.held.pop(0)
        run().chainDeferred(d)
        return name

    def whenDrained(self) -> defer.Deferred:
        return self.drained if self.busy else defer.succeed(None)


def _held(name: str) -> Callable[..., defer.Deferred]:
    real = getattr(MemoryStore, name)

    def method(self: HeldStore, *args: Any) -> defer.Deferred:
        self.calls.append(name)
        if not self.holding:
            return real(self, *args)
        d: defer.Deferred = defer.Deferred()
        self.held.append((name, lambda: real(self, *args), d))
        return d

    return method


for _name in _OPERATIONS:
    setattr(HeldStore, _name, _held(_name))


class ClassificationTests(unittest.SynchronousTestCase):
    """
    L{TrackedStore} knows every operation of L{IStore}.
    """

    def test_everyOperation(self) -> None:
        """
        Every operation of L{IStore} (all but opening, closing and waiting
        for the store) is a write or a read of L{TrackedStore}, once, so
        that none escapes the write barrier through C{__getattr__}.
        """
        operations = {name for name, spec in IStore.namesAndDescriptions(all=True)
                      if isinstance(spec, Method)} - {"start", "stop", "whenDrained"}
        self.assertEqual(sorted(WRITES + READS), sorted(operations))
        for name in operations:
            self.assertIn(name, vars(TrackedStore))


class ScopeTests(unittest.SynchronousTestCase):
    """
    L{WriteScope}'s ranks and waiters, alone.
    """

    def test_waitsForOlderOnly(self) -> None:
        """
        A waiter passes once the items up to its mark closed, whatever is
        still open after it.
        """
        scope = WriteScope()
        first = scope.opened()
        mark = scope.mark()
        later_ = scope.opened()
        passed = []
        scope.whenPassed(mark, lambda: passed.append(True))
        self.assertEqual(passed, [])
        scope.closed(first)
        self.assertEqual(passed, [True])
        self.assertFalse(scope.passed(scope.mark()))
        scope.closed(later_)
        self.assertTrue(scope.passed(scope.mark()))

    def test_waitersInAnyOrder(self) -> None:
        """
        A waiter for an early mark that registered after one for a later
        mark (two outgoing links holding answers from the same incoming
        stream, each reaching its answer at its own time) passes as soon as
        its own items closed, not once the later waiter's did.
        """
        scope = WriteScope()
        first = scope.opened()
        early = scope.mark()
        second = scope.opened()
        passed = []
        scope.whenPassed(scope.mark(), lambda: passed.append("late"))
        scope.whenPassed(early, lambda: passed.append("early"))
        scope.closed(first)
        self.assertEqual(passed, ["early"])
        scope.closed(second)
        self.assertEqual(passed, ["early", "late"])

    def test_continuationKeepsRank(self) -> None:
        """
        An item opened in the callbacks of an item's relay keeps the
        waiter of that item waiting, though opened after the mark.
        """
        scope = WriteScope()
        read: defer.Deferred = defer.Deferred()
        write: defer.Deferred = defer.Deferred()
        relayed = scope.relay(read)
        relayed.addCallback(lambda _: scope.relay(write))
        passed = []
        scope.whenPassed(scope.mark(), lambda: passed.append(True))
        read.callback(None)
        self.assertEqual(passed, [])
        write.callback(None)
        self.assertEqual(passed, [True])

    def test_later(self) -> None:
        """
        A continuation is an open item until called, and runs in the scope.
        """
        scope = WriteScope()
        seen = []
        continuation = scope.run(later, lambda: seen.append(CURRENT.get()))
        self.assertFalse(scope.passed(scope.mark()))
        self.assertIsNone(CURRENT.get())
        continuation()
        self.assertEqual(seen, [scope])
        self.assertTrue(scope.passed(scope.mark()))


class BarrierTests(unittest.TestCase):
    """
    IQ answers wait for the writes of the stanzas before them on their
    stream.
    """

    def setUp(self) -> None:
        self.store = HeldStore()
        self.harness = Harness(config=PLAINTEXT, store=self.store)
        for name in ("alice", "bob", "carol"):
            self.harness.createUser(name)
        self.alice = StreamClient(self.harness)
        self.alice.login("alice")
        self.alice.received()
        self.store.holding = True

    def ids(self, client: StreamClient) -> list[str | None]:
        return [element.getAttribute("id") for element in client.received()]

    def releaseAll(self) -> list[str]:
        """
        Release the held operations one by one (and those they lead to),
        checking that alice's ping is not answered while any is held.
        """
        released = []
        while self.store.held:
            self.assertNotIn("ping1", self.ids(self.alice), released)
            released.append(self.store.release())
        return released

    def test_pingWaitsForWrite(self) -> None:
        """
        A ping after a message to an offline user is answered only once the
        store stored the message (after the recipient's block list was
        read).
        """
        self.alice.send(TO_BOB + PING)
        self.assertEqual(self.releaseAll(), ["getBlockList", "storeOffline"])
        self.assertEqual(self.ids(self.alice), ["ping1"])
        self.store.holding = False
        self.assertEqual(len(self.successResultOf(self.store.popOffline("bob"))), 1)

    def test_chainAfterRead(self) -> None:
        """
        A write that starts after a read (a subscription request: roster
        read, then roster write, for each side) holds the ping until it is
        answered too.
        """
        self.alice.send("<presence type='subscribe' to='bob@localhost'/>" + PING)
        self.assertEqual(self.releaseAll(),
                         ["getRoster", "setRosterItem", "getRoster", "setRosterItem"])
        self.assertEqual(self.ids(self.alice), ["ping1"])

    def test_orderKept(self) -> None:
        """
        What the stream sends after a held answer waits behind it.
        """
        bob = self.harness.login("bob", create=False)
        bob.send("<presence/>")
        self.alice.send(TO_BOB + PING)
        bob.send("<message to='alice@localhost/res' type='chat' id='m1'><body>yo</body>"
                 "</message>")
        self.assertEqual(self.ids(self.alice), [])
        while self.store.held:
            self.store.release()
        self.assertEqual(self.ids(self.alice), ["ping1", "m1"])

    def test_answerBeforeEnd(self) -> None:
        """
        A client that closes its stream right after an IQ still gets the
        answer once the writes before it committed, before the server's
        end of the stream (RFC 6120 section 4.4: pending output is sent
        before the closing tag).
        """
        self.alice.send(TO_BOB + PING + "</stream:stream>")
        self.assertEqual(self.alice.transport.value(), b"")
        self.assertFalse(self.alice.transport.disconnecting)
        self.releaseAll()
        output = self.alice.transport.value()
        self.assertTrue(output.endswith(b"</stream:stream>"), output)
        self.assertEqual(self.ids(self.alice), ["ping1"])
        self.assertTrue(self.alice.reader.ended)
        self.assertTrue(self.alice.transport.disconnecting)

    def test_idleStreamAtOnce(self) -> None:
        """
        With nothing pending, the answer goes out at once.
        """
        self.alice.send(PING)
        self.assertEqual(self.ids(self.alice), ["ping1"])

    def test_perStream(self) -> None:
        """
        Another stream's answers do not wait for this stream's writes.
        """
        self.store.holding = False
        carol = StreamClient(self.harness)
        carol.login("carol")
        carol.received()
        self.store.holding = True
        self.alice.send(TO_BOB)
        carol.send(PING)
        self.assertEqual(self.ids(carol), ["ping1"])

    def test_failedWriteReleases(self) -> None:
        """
        A write that fails releases the barrier too; its bounce (here: an
        unknown user) comes after the answer that was held first.
        """
        self.alice.send("<message to='nobody@localhost' type='chat'><body>x</body></message>"
                        + PING)
        self.releaseAll()
        received = self.alice.received()
        self.assertEqual([(e.name, e.getAttribute("type")) for e in received],
                         [("iq", "result"), ("message", "error")])

    def test_sharedLoad(self) -> None:
        """
        A stanza waiting for a load another stream's stanza started (the
        recipient's block list, read once for both) stays in its own
        sender's scope: that sender's ping waits for its own write.
        """
        self.store.holding = False
        carol = StreamClient(self.harness)
        carol.login("carol")
        carol.received()
        self.store.holding = True
        self.alice.send(TO_BOB)
        carol.send(TO_BOB + PING)
        released = []
        while self.store.held:
            self.assertNotIn("ping1", self.ids(carol), released)
            released.append(self.store.release())
        self.assertEqual(released, ["getBlockList", "storeOffline", "storeOffline"])
        self.assertEqual(self.ids(carol), ["ping1"])

    def test_parkedStanza(self) -> None:
        """
        A stanza parked until the rooms load (which the node started, in
        no stream's scope) is in its own sender's scope while it waits:
        that sender's ping waits for the load.
        """
        self.harness = Harness(config=PLAINTEXT, store=HeldStore(), start=False)
        self.store = self.harness.store
        for name in ("alice", "carol"):
            self.harness.createUser(name)
        self.alice = StreamClient(self.harness)
        self.alice.login("alice")
        carol = StreamClient(self.harness)
        carol.login("carol")
        carol.received()
        self.store.holding = True
        self.harness.start()
        self.alice.send("<presence to='tea@muc.localhost/alice'>"
                        "<x xmlns='http://jabber.org/protocol/muc'/></presence>")
        carol.send("<presence to='coffee@muc.localhost/carol'>"
                   "<x xmlns='http://jabber.org/protocol/muc'/></presence>" + PING)
        self.assertEqual([name for name, _, _ in self.store.held], ["loadRooms"])
        self.assertNotIn("ping1", self.ids(carol))
        self.store.release()
        self.assertIn("ping1", self.ids(carol))


class BackPressureTests(unittest.TestCase):
    """
    A stream that submits to a busy store stops reading until it drains.
    """

    def setUp(self) -> None:
        self.store = HeldStore()
        self.harness = Harness(config=PLAINTEXT, store=self.store)
        for name in ("alice", "bob", "carol"):
            self.harness.createUser(name)
        self.alice = StreamClient(self.harness)
        self.alice.login("alice")
        self.carol = StreamClient(self.harness)
        self.carol.login("carol")
        self.store.busy = True

    def test_pausedUntilDrained(self) -> None:
        """
        The submitting stream pauses; the one that submitted nothing keeps
        reading; both read once the store drained, and nothing was dropped.
        """
        self.alice.send(TO_BOB)
        self.assertEqual(self.alice.transport.producerState, "paused")
        self.carol.send(PING)
        self.assertEqual(self.carol.transport.producerState, "producing")
        self.store.busy = False
        self.store.drained.callback(None)
        self.assertEqual(self.alice.transport.producerState, "producing")
        messages = self.successResultOf(self.store.popOffline("bob"))
        self.assertEqual(len(messages), 1)
        self.assertIsInstance(messages[0], OfflineMessage)

    def test_storeSeesNothingWhileBusy(self) -> None:
        """
        However many streams send while the store is busy, none of their
        operations reaches it (its queue cannot grow); they wait with their
        streams, which stop reading, and go in, each stream's in order, once
        it drained.
        """
        self.harness.createUser("dave")
        streams = [self.alice, self.carol]
        self.store.calls.clear()
        for i in range(3):
            for client, to in zip(streams, ("bob", "dave")):
                client.send(f"<message to='{to}@localhost' type='chat'><body>{i}</body>"
                            "</message>")
        self.assertEqual(self.store.calls, [])
        self.assertEqual([c.transport.producerState for c in streams], ["paused"] * 2)
        self.store.busy = False
        self.store.drained.callback(None)
        self.assertEqual([c.transport.producerState for c in streams], ["producing"] * 2)
        self.store.holding = False
        for to in ("bob", "dave"):
            bodies = [str(parseStanza(m.stanza).body)
                      for m in self.successResultOf(self.store.popOffline(to))]
            self.assertEqual(bodies, ["0", "1", "2"])

    def test_orderAcrossStreams(self) -> None:
        """
        Once operations are parked, later ones park behind them even when
        the store is no longer busy, so the store sees every operation in
        the order it was made.
        """
        self.harness.createUser("dave")
        self.store.calls.clear()
        self.alice.send(TO_BOB)
        self.store.busy = False
        self.carol.send("<message to='dave@localhost' type='chat'><body>x</body></message>")
        self.assertEqual(self.store.calls, [])
        self.store.drained.callback(None)
        self.assertEqual(self.store.calls,
                         ["getBlockList", "getBlockList", "storeOffline", "storeOffline"])
        self.store.holding = False
        [first] = self.successResultOf(self.store.popOffline("bob"))
        self.assertEqual(str(parseStanza(first.stanza).body), "hi")

    def test_rateLimitStillHolds(self) -> None:
        """
        Draining does not resume a stream that its byte-rate limit paused;
        the rate limit's own resumption does.
        """
        store = HeldStore()
        harness = Harness(config="[c2s]\nrequire_tls = false\nrate_limit = 100\n"
                          "rate_burst = 2000\n", store=store)
        harness.createUser("alice")
        harness.createUser("bob")
        alice = StreamClient(harness)
        alice.login("alice")
        store.busy = True
        # Past the burst: the message is handled, the whitespace after it
        # waits for the budget, with reading paused.
        alice.send(TO_BOB + " " * 2000)
        self.assertEqual(alice.transport.producerState, "paused")
        store.busy = False
        store.drained.callback(None)
        self.assertEqual(alice.transport.producerState, "paused")
        harness.clock.advance(3600)
        self.assertEqual(alice.transport.producerState, "producing")
