# -*- test-case-name: tests.support.test_fakewire -*-
"""
The byte layer of the multi-node harness (L{tests.support.fakewire})
alone, with plain protocols: order, pausing, closing, faults.
"""

from __future__ import annotations

import random
from typing import Any

from twisted.internet import defer, error, protocol, task
from twisted.trial import unittest

from tests.support.fakewire import Wire


class Recorder(protocol.Protocol):
    """
    A protocol that keeps what it receives and how its connection ended.
    """

    def __init__(self) -> None:
        self.data: list[bytes] = []
        self.reason: Any = None

    def dataReceived(self, data: bytes) -> None:
        self.data.append(data)

    def connectionLost(self, reason: Any = None) -> None:
        self.reason = reason


class WireTests(unittest.TestCase):
    """
    The byte layer alone, with plain protocols.
    """

    def setUp(self) -> None:
        self.clock = task.Clock()
        self.wire = Wire(self.clock, random.Random(0), latency=0.01, jitter=0.005)
        self.server = Recorder()
        self.client = Recorder()
        d = self.wire.connect(("a", "10.0.0.1"), ("b", "10.0.0.2"),
                              lambda peer: self.server, self.client)
        connected: list[Any] = []
        d.addCallback(connected.append)
        self.clock.advance(1)
        self.assertEqual(connected, [self.client])

    def test_orderedStream(self) -> None:
        """
        Writes on one connection arrive in order whatever their jitter, each
        after the latency.
        """
        for n in range(50):
            self.client.transport.write(b"%d," % n)
        self.clock.advance(0.0099)
        self.assertEqual(self.server.data, [])
        self.clock.advance(1)
        self.assertEqual(b"".join(self.server.data), b"".join(b"%d," % n for n in range(50)))

    def test_pause(self) -> None:
        """
        A paused reader receives nothing until it resumes, then everything
        in order.
        """
        self.server.transport.pauseProducing()
        self.client.transport.write(b"one")
        self.client.transport.write(b"two")
        self.clock.advance(1)
        self.assertFalse(self.wire.busy)
        self.assertEqual(self.server.data, [])
        self.server.transport.resumeProducing()
        self.clock.advance(0)
        self.assertEqual(self.server.data, [b"one", b"two"])

    def test_close(self) -> None:
        """
        loseConnection: the peer gets the bytes written before it, then the
        connection ends cleanly on both sides.
        """
        self.client.transport.write(b"bye")
        self.client.transport.loseConnection()
        self.clock.advance(1)
        self.assertEqual(self.server.data, [b"bye"])
        self.assertTrue(self.server.reason.check(error.ConnectionDone))
        self.assertTrue(self.client.reason.check(error.ConnectionDone))

    def test_abort(self) -> None:
        """
        abortConnection: this side sees ConnectionAborted, the peer a reset.
        """
        self.client.transport.abortConnection()
        self.clock.advance(1)
        self.assertTrue(self.client.reason.check(error.ConnectionAborted))
        self.assertTrue(self.server.reason.check(error.ConnectionLost))

    def test_holdKeepsOrder(self) -> None:
        """
        Chunks held by a fault and chunks still in flight when it heals
        arrive in the order they were written.
        """
        self.wire.cut("a", "b", mode="hold")
        self.client.transport.write(b"1")
        self.clock.advance(1)
        self.client.transport.write(b"2")
        self.wire.heal()
        self.client.transport.write(b"3")
        self.clock.advance(1)
        self.assertEqual(self.server.data, [b"1", b"2", b"3"])

    def test_refuseAndBlackhole(self) -> None:
        """
        A refusing fault fails a new connection after a round trip; a
        blackhole leaves it hanging until it is cancelled.
        """
        self.wire.cut("a", "b", mode="drop", connect="refuse")
        failed: list[Any] = []
        self.wire.connect(("a", "10.0.0.1"), ("b", "10.0.0.2"), lambda p: Recorder(),
                          Recorder()).addErrback(failed.append)
        self.clock.advance(1)
        self.assertTrue(failed[0].check(error.ConnectionRefusedError))
        self.wire.cut("b", "a", mode="drop", connect="blackhole")
        self.wire.cut("a", "b", mode="drop", connect="blackhole")
        d = self.wire.connect(("a", "10.0.0.1"), ("b", "10.0.0.2"), lambda p: Recorder(),
                              Recorder())
        d.addErrback(failed.append)
        self.clock.advance(100)
        self.assertEqual(len(failed), 1)
        d.cancel()
        self.assertTrue(failed[1].check(defer.CancelledError))
