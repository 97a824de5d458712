# -*- test-case-name: tests.support.test_fakewire,tests.support.test_fakenet -*-
"""
The byte layer of L{tests.support.fakenet}: in-memory TCP connections
between named nodes, on a L{task.Clock}, with per-direction latency,
seeded jitter and faults. It knows nothing of XMPP.

Each connection is two L{FakeTransport}s joined by two L{_Pipe}s, one per
direction. A write is one chunk; it arrives after the direction's latency
plus a seeded jitter, never before the chunk written before it on the same
connection (one TCP stream does not reorder). Chunks on different
connections interleave as their times fall.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from twisted.internet import defer, error, task
from twisted.internet.address import IPv4Address
from twisted.internet.interfaces import ITransport
from twisted.python import failure
from zope.interface import implementer

#: What a fault does to the bytes flowing in its direction.
MODES = frozenset(("drop", "hold", "reset"))
#: What a fault does to new connections: refused at once, or never answered.
CONNECTS = frozenset(("refuse", "blackhole"))
#: The connect behaviour of each mode unless the caller says otherwise.
DEFAULT_CONNECT = {"drop": "blackhole", "hold": "blackhole", "reset": "refuse"}


@dataclass(frozen=True)
class Fault:
    """
    What one direction of the network does now.

    @ivar mode: C{drop} (chunks vanish, connections stay open: a dead
        route), C{hold} (chunks wait and arrive after the fault heals, as
        TCP retransmission would deliver them after a short outage), or
        C{reset} (the connections are reset when the fault begins).
    @ivar connect: C{refuse} (new connections fail after a round trip:
        connection refused) or C{blackhole} (they hang until the caller
        gives up, or complete when the fault heals).
    """

    mode: str
    connect: str


class _Pipe:
    """
    One direction of a connection: chunks in flight, in order, each with
    the time it arrives.

    @ivar held: chunks a C{hold} fault keeps, in order.
    """

    def __init__(self, wire: "Wire", src: str, dst: str, receiver: "FakeTransport") -> None:
        self.wire = wire
        self.src = src
        self.dst = dst
        self.receiver = receiver
        self.queue: list[tuple[float, str, bytes]] = []
        self.held: list[tuple[str, bytes]] = []
        self.lastAt = 0.0
        self.timer: Any = None

    def push(self, kind: str, data: bytes = b"") -> None:
        at = max(self.wire.arrival(self.src, self.dst), self.lastAt)
        self.lastAt = at
        self.queue.append((at, kind, data))
        self.schedule()

    def schedule(self) -> None:
        if self.timer is None and self.queue and not self.receiver.paused:
            clock = self.wire.clock
            self.timer = clock.callLater(max(0.0, self.queue[0][0] - clock.seconds()), self._due)

    def _due(self) -> None:
        self.timer = None
        now = self.wire.clock.seconds()
        while self.queue and self.queue[0][0] <= now and not self.receiver.paused:
            _, kind, data = self.queue.pop(0)
            self.wire.carry(self, kind, data)
        self.schedule()

    def release(self) -> None:
        """
        The fault ended: the held chunks leave now, in their order.
        """
        # The chunks still in flight were written after the held ones: they
        # leave behind them, so that the stream keeps its order.
        chunks = self.held + [(kind, data) for _, kind, data in self.queue]
        self.held, self.queue, self.lastAt = [], [], 0.0
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        for kind, data in chunks:
            self.push(kind, data)

    @property
    def pending(self) -> bool:
        """
        Whether chunks are on their way (a paused reader takes none).
        """
        return bool(self.queue) and not self.receiver.paused


@implementer(ITransport)
class FakeTransport:
    """
    One end of an in-memory connection.

    Writes go into the pipe towards the other end; C{loseConnection}
    sends a FIN after them, C{abortConnection} a reset; either way this
    end's protocol sees C{connectionLost} on the next turn of the clock.
    Pausing stops delivery to this end (reading back-pressure). A
    registered producer is kept but never paused: the buffers are
    unbounded.
    """

    disconnecting = False

    def __init__(self, wire: "Wire", conn: int, node: str, peerNode: str,
                 host: IPv4Address, peer: IPv4Address) -> None:
        self.wire = wire
        self.conn = conn
        self.node = node
        self.peerNode = peerNode
        self.host = host
        self.peer = peer
        self.protocol: Any = None
        self.out: _Pipe | None = None
        self.into: _Pipe | None = None
        self.paused = False
        self.lost = False
        self.producer: Any = None

    # ITransport

    def write(self, data: bytes) -> None:
        if not self.disconnecting and not self.lost and data:
            self.out.push("data", data)

    def writeSequence(self, data: Iterable[bytes]) -> None:
        self.write(b"".join(data))

    def loseConnection(self) -> None:
        if self.disconnecting or self.lost:
            return
        self.disconnecting = True
        self.out.push("fin")
        self.wire.lose(self, error.ConnectionDone("closed"))

    def abortConnection(self) -> None:
        if self.lost:
            return
        self.disconnecting = True
        self.out.push("rst")
        self.wire.lose(self, error.ConnectionAborted())

    def getPeer(self) -> IPv4Address:
        return self.peer

    def getHost(self) -> IPv4Address:
        return self.host

    # What the streams also use

    def setTcpNoDelay(self, enabled: bool) -> None:
        pass

    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        if self.paused:
            self.paused = False
            self.into.schedule()

    def stopProducing(self) -> None:
        self.loseConnection()

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        self.producer = producer

    def unregisterProducer(self) -> None:
        self.producer = None


class Wire:
    """
    Connections between named nodes, their timing and their faults.

    @ivar events: what happened, in order: tuples of (seconds since
        C{start}, kind, from node, to node, connection number, detail); the
        kinds are C{connect}, C{refused}, C{hang}, C{accepted},
        C{connected}, C{data} (detail: the bytes), C{fin}, C{rst},
        C{dropped}, C{held}, C{lost}, C{crash}.
    @ivar faults: the fault on each direction that has one.
    """

    def __init__(self, clock: task.Clock, random: random.Random, latency: float,
                 jitter: float, start: float = 0.0) -> None:
        self.clock = clock
        self.random = random
        self.latency = latency
        self.jitter = jitter
        self.start = start
        self.events: list[tuple] = []
        self.faults: dict[tuple[str, str], Fault] = {}
        self._latencies: dict[tuple[str, str], float] = {}
        self._pipes: list[_Pipe] = []
        self._transports: dict[int, tuple[FakeTransport, FakeTransport]] = {}
        self._hanging: list[tuple[str, str, Callable[[], None], defer.Deferred]] = []
        #: Crashed nodes, each with what a connection to it meets.
        self.down: dict[str, str] = {}
        self._conns = 0
        self._ports = 40000

    # Timing

    def setLatency(self, src: str, dst: str, seconds: float) -> None:
        """
        Chunks from C{src} to C{dst} take C{seconds} (before jitter).
        """
        self._latencies[(src, dst)] = seconds

    def arrival(self, src: str, dst: str) -> float:
        """
        When a chunk sent now from C{src} to C{dst} arrives.
        """
        latency = self._latencies.get((src, dst), self.latency)
        return self.clock.seconds() + latency + self.random.uniform(0, self.jitter)

    @property
    def busy(self) -> bool:
        """
        Whether any chunk is on its way (held chunks are not).
        """
        return any(pipe.pending for pipe in self._pipes)

    # Faults

    def cut(self, src: str, dst: str, mode: str = "drop", connect: str | None = None) -> None:
        """
        Put a fault on the direction C{src} -> C{dst} (L{Fault}). A
        connection needs both directions, so new connections between the two
        nodes either way meet the fault's C{connect}.
        """
        if mode not in MODES:
            raise ValueError(f"mode {mode!r}: one of {sorted(MODES)}")
        connect = connect or DEFAULT_CONNECT[mode]
        if connect not in CONNECTS:
            raise ValueError(f"connect {connect!r}: one of {sorted(CONNECTS)}")
        self.faults[(src, dst)] = Fault(mode, connect)
        if mode == "reset":
            self.resetConnections(src, dst)

    def heal(self, pairs: Iterable[tuple[str, str]] | None = None) -> None:
        """
        End the faults on C{pairs} (every fault by default): held chunks
        leave, hanging connections complete.
        """
        pairs = list(self.faults) if pairs is None else list(pairs)
        for pair in pairs:
            self.faults.pop(pair, None)
        for pipe in self._pipes:
            if (pipe.src, pipe.dst) in pairs:
                pipe.release()
        self._retry()

    def _retry(self) -> None:
        # Hanging connections whose way is clear now complete (the SYN is
        # retransmitted).
        hanging, self._hanging = self._hanging, []
        for entry in hanging:
            src, dst, complete, _ = entry
            if self._connectFault(src, dst) is None and dst not in self.down:
                complete()
            else:
                self._hanging.append(entry)

    def crash(self, node: str, connect: str = "refuse") -> None:
        """
        Node C{node} stops: its ends of every connection are gone without
        a word to its protocols, and until L{revive} new connections to it
        meet C{connect}. With C{refuse} the process died on a host that is
        up: the peers get a reset (after the latency, through the faults on
        the way) and new connections are refused. With C{blackhole} the
        host is off: the peers learn nothing (what they send vanishes) and
        new connections hang.
        """
        if connect not in CONNECTS:
            raise ValueError(f"connect {connect!r}: one of {sorted(CONNECTS)}")
        self.down[node] = connect
        for conn, ends in list(self._transports.items()):
            for end in ends:
                if end.node == node:
                    self.event("crash", end.node, end.peerNode, conn)
                    if not end.lost and connect == "refuse":
                        end.out.push("rst")
                    end.protocol = None
                    end.lost = end.disconnecting = True
        self._hanging = [entry for entry in self._hanging if entry[0] != node]

    def revive(self, node: str) -> None:
        """
        Node C{node} listens again: hanging connections to it complete.
        """
        self.down.pop(node, None)
        self._retry()

    def resetConnections(self, a: str, b: str) -> None:
        """
        Reset every open connection between nodes C{a} and C{b} (a crashed
        peer, an RST): both ends see the connection lost, now.
        """
        for conn, (one, other) in list(self._transports.items()):
            if {one.node, other.node} == {a, b} and not (one.lost and other.lost):
                self.event("rst", one.node, other.node, conn, "reset by the network")
                for end in (one, other):
                    end.disconnecting = True
                    self.lose(end, error.ConnectionLost("reset by the network"))

    def _connectFault(self, src: str, dst: str) -> Fault | None:
        return self.faults.get((src, dst)) or self.faults.get((dst, src))

    # Connections

    def event(self, kind: str, src: str, dst: str, conn: int, detail: Any = "") -> None:
        self.events.append((round(self.clock.seconds() - self.start, 6), kind, src, dst, conn,
                            detail))

    def connect(
        self,
        src: tuple[str, str],
        dst: tuple[str, str] | None,
        accept: Callable[[IPv4Address], Any],
        protocol: Any,
    ) -> defer.Deferred:
        """
        Connect C{protocol} on node C{src} (name, address) to node C{dst}
        (L{None}: nothing listens there), whose C{accept(peer)} builds the
        protocol of the other end.

        @return: a Deferred firing with C{protocol} once it is connected
            (after a round trip), or failing with
            L{error.ConnectionRefusedError}; cancelling it abandons a
            hanging connection.
        """
        if src[0] in self.down:
            # What a crashed node's leftovers try never happens.
            return defer.Deferred()
        self._conns += 1
        conn = self._conns
        name = dst[0] if dst is not None else "?"
        self.event("connect", src[0], name, conn)
        fault = self._connectFault(src[0], name) if dst is not None else None
        down = self.down.get(name)
        if dst is None or "refuse" in (down, fault and fault.connect):
            self.event("refused", src[0], name, conn, "partition" if fault else "nothing listens")
            return self._refuse(src[0], name)
        d: defer.Deferred = defer.Deferred(self._cancelHanging)

        def complete() -> None:
            self._establish(conn, src, dst, accept, protocol, d)

        if fault is not None or down is not None:
            self.event("hang", src[0], name, conn)
            self._hanging.append((src[0], name, complete, d))
        else:
            complete()
        return d

    def _cancelHanging(self, d: defer.Deferred) -> None:
        self._hanging = [entry for entry in self._hanging if entry[3] is not d]

    def _refuse(self, src: str, dst: str) -> defer.Deferred:
        # The refusal comes back after a round trip.
        d: defer.Deferred = defer.Deferred()
        rtt = self.arrival(src, dst) + self.arrival(dst, src) - 2 * self.clock.seconds()
        self.clock.callLater(rtt, d.errback, failure.Failure(error.ConnectionRefusedError()))
        return d

    def _establish(self, conn: int, src: tuple[str, str], dst: tuple[str, str],
                   accept: Callable[[IPv4Address], Any], protocol: Any,
                   d: defer.Deferred) -> None:
        """
        The SYN reaches C{dst} after one way, the answer C{src} after the
        round trip; each protocol is connected then.
        """
        self._ports += 1
        client = IPv4Address("TCP", src[1], self._ports)
        server = IPv4Address("TCP", dst[1], 5269)
        outgoing = FakeTransport(self, conn, src[0], dst[0], client, server)
        incoming = FakeTransport(self, conn, dst[0], src[0], server, client)
        outgoing.out = incoming.into = _Pipe(self, src[0], dst[0], incoming)
        incoming.out = outgoing.into = _Pipe(self, dst[0], src[0], outgoing)
        self._pipes += [outgoing.out, incoming.out]
        self._transports[conn] = (outgoing, incoming)

        def accepted() -> None:
            if dst[0] in self.down:
                # It crashed while the SYN was on its way: reset.
                incoming.lost = True
                self.event("refused", src[0], dst[0], conn, "crashed")
                incoming.out.push("rst")
                return
            incoming.protocol = accept(client)
            self.event("accepted", src[0], dst[0], conn)
            incoming.protocol.makeConnection(incoming)

        def connected() -> None:
            if src[0] in self.down:
                outgoing.lost = True
                return
            if outgoing.lost:
                # Reset before it was connected: refused.
                d.errback(failure.Failure(error.ConnectionRefusedError()))
                return
            if d.called:
                # Cancelled meanwhile (a connect timeout).
                outgoing.abortConnection()
                return
            outgoing.protocol = protocol
            self.event("connected", src[0], dst[0], conn)
            protocol.makeConnection(outgoing)
            d.callback(protocol)

        now = self.clock.seconds()
        there = self.arrival(src[0], dst[0]) - now
        back = self.arrival(dst[0], src[0]) - now
        self.clock.callLater(there, accepted)
        self.clock.callLater(there + back, connected)

    def carry(self, pipe: _Pipe, kind: str, data: bytes) -> None:
        """
        A chunk reaches the end of C{pipe}: delivered, dropped or held by
        the direction's fault.
        """
        receiver = pipe.receiver
        conn = receiver.conn
        fault = self.faults.get((pipe.src, pipe.dst))
        if fault is not None and fault.mode == "drop":
            self.event("dropped", pipe.src, pipe.dst, conn, kind)
            return
        if fault is not None and fault.mode == "hold":
            self.event("held", pipe.src, pipe.dst, conn, kind)
            pipe.held.append((kind, data))
            return
        if receiver.lost:
            return
        if receiver.protocol is None:
            # Not connected yet: a reset refuses the connection.
            receiver.lost = kind == "rst"
            return
        if kind == "data":
            self.event("data", pipe.src, pipe.dst, conn, data)
            # An exception here fails the test (a real reactor would log
            # it and drop the connection): the harness hides no bug.
            receiver.protocol.dataReceived(data)
        elif kind == "fin":
            self.event("fin", pipe.src, pipe.dst, conn)
            self.lose(receiver, error.ConnectionDone("closed by the peer"))
        else:
            self.event("rst", pipe.src, pipe.dst, conn)
            self.lose(receiver, error.ConnectionLost("reset by the peer"))

    def lose(self, end: FakeTransport, reason: Exception) -> None:
        """
        End C{end}'s side of its connection: its protocol sees
        C{connectionLost} on the next turn, as with a real reactor.
        """
        if end.lost:
            return
        end.lost = True

        def lost() -> None:
            self.event("lost", end.node, end.peerNode, end.conn, type(reason).__name__)
            if end.protocol is not None:
                end.protocol.connectionLost(failure.Failure(reason))
            pair = self._transports.get(end.conn)
            if pair is not None and all(t.lost for t in pair):
                del self._transports[end.conn]
                self._pipes = [p for p in self._pipes if p.receiver.conn != end.conn]

        self.clock.callLater(0, lost)
