# -*- test-case-name: tests.s2s.test_linkwrites -*-
"""
Tests for the write barrier on server-to-server links: an IQ answer that
the node generates while handling a stanza read from a remote domain
leaves on the outgoing link to that domain only once the store answered
what that stream's earlier stanzas asked it to do, and the link keeps its
order behind it (L{xmuc.s2s.link.Link.send}, L{xmuc.writes}).
"""

from __future__ import annotations

from typing import Any

from twisted.internet import defer
from twisted.internet.testing import StringTransport
from twisted.trial import unittest

from tests.s2s.test_link import FakeManager, message
from tests.support.fakenet import FakeNetwork
from tests.support.harness import parseStanza
from xmuc.c2s.sasl import makeCredentials
from xmuc.s2s.link import Link
from xmuc.writes import READS, WRITES, WriteScope


def answer(ident: str, kind: str = "result") -> Any:
    return parseStanza(f"<iq type='{kind}' id='{ident}' from='a.test' to='bob@b.test/r'/>")


class LinkBarrierTests(unittest.TestCase):
    """
    The barrier in the link alone, with a scope whose items the test opens
    and closes.
    """

    def setUp(self) -> None:
        self.manager = FakeManager()
        self.link = Link(self.manager, "a.test", "b.test")
        self.link.send(message(0))
        d, stream = self.manager.connections[-1]
        self.transport = StringTransport()
        stream.makeConnection(self.transport)
        d.callback(stream)
        stream._ready()
        self.transport.clear()
        self.scope = WriteScope()

    def written(self) -> list[str]:
        return [element.getAttribute("id") for element in _elements(self.transport.value())]

    def test_answerWaits(self) -> None:
        """
        An IQ result sent while the current scope has an open item waits
        until it closes; what is sent after it on the link, in the scope or
        not, waits behind it; then everything leaves in order.
        """
        rank = self.scope.opened()
        self.scope.run(self.link.send, answer("r1"))
        self.scope.run(self.link.send, message(2))
        self.link.send(message(3))
        self.assertEqual(self.written(), [])
        self.scope.closed(rank)
        self.assertEqual(self.written(), ["r1", "m2", "m3"])
        self.link.send(message(4))
        self.assertEqual(self.written(), ["r1", "m2", "m3", "m4"])

    def test_errorWaits(self) -> None:
        """
        An IQ error waits the same way.
        """
        rank = self.scope.opened()
        self.scope.run(self.link.send, answer("e1", "error"))
        self.assertEqual(self.written(), [])
        self.scope.closed(rank)
        self.assertEqual(self.written(), ["e1"])

    def test_nothingOpen(self) -> None:
        """
        With no open item in the scope (or no scope), answers leave at once.
        """
        self.scope.run(self.link.send, answer("r1"))
        self.link.send(answer("r2"))
        self.assertEqual(self.written(), ["r1", "r2"])

    def test_requestsAndMessagesDoNotWait(self) -> None:
        """
        Only answers wait: a message or an IQ request sent from a scope
        with open items leaves at once.
        """
        self.scope.opened()
        self.scope.run(self.link.send, message(1))
        request = parseStanza("<iq type='get' id='g1' from='a.test' to='b.test'/>")
        self.scope.run(self.link.send, request)
        self.assertEqual(self.written(), ["m1", "g1"])

    def test_onlyEarlierItems(self) -> None:
        """
        An answer waits for the items open when it was sent, not for those
        opened after it.
        """
        first = self.scope.opened()
        self.scope.run(self.link.send, answer("r1"))
        later = self.scope.opened()
        self.scope.closed(first)
        self.assertEqual(self.written(), ["r1"])
        self.scope.closed(later)

    def test_twoScopes(self) -> None:
        """
        Answers from two streams' scopes each wait for their own scope, in
        the link's order: the second leaves only after the first.
        """
        other = WriteScope()
        first = self.scope.opened()
        second = other.opened()
        self.scope.run(self.link.send, answer("r1"))
        other.run(self.link.send, answer("r2"))
        other.closed(second)
        self.assertEqual(self.written(), [])
        self.scope.closed(first)
        self.assertEqual(self.written(), ["r1", "r2"])


class _Holding:
    """
    A store in front of a node's memory store whose operations wait, while
    C{holding}, until the test releases them one by one.
    """

    def __init__(self, store: Any) -> None:
        self.store = store
        self.holding = False
        self.held: list[tuple[str, tuple[Any, ...], defer.Deferred]] = []

    def __getattr__(self, name: str) -> Any:
        real = getattr(self.store, name)
        if name not in WRITES + READS:
            return real

        def method(*args: Any) -> defer.Deferred:
            if not self.holding:
                return real(*args)
            d: defer.Deferred = defer.Deferred()
            self.held.append((name, args, d))
            return d

        return method

    def release(self) -> str:
        name, args, d = self.held.pop(0)
        getattr(self.store, name)(*args).chainDeferred(d)
        return name


PING = "<iq type='get' to='a.test' id='p{n}'><ping xmlns='urn:xmpp:ping'/></iq>"
TO_ALICE = "<message to='alice@a.test' type='chat' id='m{n}'><body>{n}</body></message>"


class FederatedBarrierTests(unittest.TestCase):
    """
    A remote user's pings to a.test are answered over the federation only
    once a.test stored the messages sent before them.
    """

    def setUp(self) -> None:
        self.net = FakeNetwork(("a.test", "b.test"), seed=3)
        a = self.net.node("a.test")
        a.store.createUser("alice", makeCredentials("secret"))
        self.bob = self.net.login("bob@b.test")
        # Both links up before the store is held.
        self.bob.send(PING.format(n=0))
        self.net.flush()
        self.assertEqual(self.pongs(), ["p0"])
        self.store = _Holding(a.node.store.store)
        a.node.store.store = self.store
        self.memory = self.store.store

    def pongs(self) -> list[str]:
        return [e.getAttribute("id") for e in self.bob.received() if e.name == "iq"]

    def test_pongsWaitForOfflineWrites(self) -> None:
        """
        Three messages to offline alice, each followed by a ping: while
        a.test's store holds its operations no pong crosses; released one
        by one, a pong never crosses before the write of the message sent
        before it; in the end every message is stored and the pongs came
        in order.
        """
        self.store.holding = True
        for n in (1, 2, 3):
            self.bob.send(TO_ALICE.format(n=n))
            self.bob.send(PING.format(n=n))
        self.net.flush()
        self.assertEqual(self.pongs(), [])
        seen: list[str] = []
        released: list[str] = []
        while self.store.held:
            released.append(self.store.release())
            self.net.flush()
            seen += self.pongs()
            self.assertLessEqual(len(seen), released.count("storeOffline"), released)
        self.assertEqual(seen, ["p1", "p2", "p3"])
        self.store.holding = False
        stored = self.successResultOf(self.memory.popOffline("alice"))
        self.assertEqual(len(stored), 3)

    def test_pongPerMessage(self) -> None:
        """
        Pong n crosses once message n is stored, before later messages'
        writes are released.
        """
        self.store.holding = True
        for n in (1, 2):
            self.bob.send(TO_ALICE.format(n=n))
            self.bob.send(PING.format(n=n))
        self.net.flush()
        pongs: list[str] = []
        stores = 0
        while self.store.held:
            name = self.store.release()
            self.net.flush()
            pongs += self.pongs()
            if name == "storeOffline":
                stores += 1
                self.assertEqual(len(pongs), stores, pongs)
            else:
                self.assertEqual(len(pongs), stores, pongs)
        self.assertEqual(pongs, ["p1", "p2"])

    def test_noPendingAtOnce(self) -> None:
        """
        A ping with nothing pending is answered without waiting.
        """
        self.store.holding = True
        self.bob.send(PING.format(n=9))
        self.net.flush()
        self.assertEqual(self.pongs(), ["p9"])


def _elements(data: bytes) -> list[Any]:
    from twisted.words.xish import domish

    elements: list[Any] = []
    parser = domish.elementStream()
    parser.DocumentStartEvent = lambda root: None
    parser.ElementEvent = elements.append
    parser.DocumentEndEvent = lambda: None
    parser.parse(b"<stream:stream xmlns='jabber:server' "
                 b"xmlns:stream='http://etherx.jabber.org/streams'>" + data)
    return elements
