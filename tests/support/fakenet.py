# -*- test-case-name: tests.support.test_fakenet -*-
"""
A network of whole xmuc nodes in one process, on one L{task.Clock}.

Each node is a real L{Node} (router, IM features, the MUC service) on its
own L{MemoryStore}, federating through the real s2s layer
(L{S2SManager}, links, incoming and outgoing streams, dialback). Only the
transport is fake: the manager's connector joins an outgoing stream to the
destination node's incoming s2s factory with a pair of in-memory
transports whose bytes travel on the shared clock, with a per-direction
latency and seeded jitter. Plaintext s2s with dialback (no TLS), and a
host table answered from the network's own nodes (no DNS).

    net = FakeNetwork(("a.test", "b.test"), seed=1)
    alice = net.login("alice@a.test")
    bob = net.login("bob@b.test")
    alice.send("<message to='bob@b.test/res' type='chat'><body>hi</body></message>")
    net.flush()
    [message] = bob.received()

Faults are per direction (an ordered pair of nodes): see L{FakeNetwork.cut}
and L{FakeNetwork.partition}; what each models is in docs/fakenet.md.
Bytes on one connection never reorder (it is one TCP stream); bytes on
different connections (other directions, other node pairs) arrive in the
order their jittered latencies give, which the seed decides.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

from twisted.internet import defer, error, task
from twisted.internet.address import IPv4Address
from twisted.internet.interfaces import ITransport
from twisted.python import failure
from twisted.words.xish import domish
from zope.interface import implementer

from tests.support.harness import FakeStream, parseStanza, parseStanzas
from xmuc.c2s.sasl import makeCredentials
from xmuc.c2s.session import ClientSession
from xmuc.config import parseConfig
from xmuc.core.jid import parseJID
from xmuc.node import Node
from xmuc.s2s.manager import S2SManager
from xmuc.s2s.resolve import NoService, Target
from xmuc.storage.memory import MemoryStore
from xmuc.tap import federate

#: Where the clock starts (the same as L{tests.support.harness}).
EPOCH = 1_700_000_000.0

#: What a fault does to the bytes already flowing in its direction.
MODES = frozenset(("drop", "hold", "reset"))
#: What a fault does to new connections: refused at once, or never answered.
CONNECTS = frozenset(("refuse", "blackhole"))
#: The connect behaviour of each mode unless the caller says otherwise.
DEFAULT_CONNECT = {"drop": "blackhole", "hold": "blackhole", "reset": "refuse"}

#: A per-node service factory: called with the L{NetNode} once its s2s
#: layer is wired and before C{node-started}; returns the service (kept in
#: L{NetNode.services} under the factory's C{__name__}).
ServiceFactory = Callable[["NetNode"], Any]

#: Per-node services every network builds besides the node's own features
#: (the MUC service is one of those). The DMUC replica service of issue 9
#: item 2 is added here (or per network through C{services=}).
SERVICES: tuple[ServiceFactory, ...] = ()


class NotSettled(Exception):
    """
    L{FakeNetwork.flush} ran out of steps with work still due.
    """


@dataclass(frozen=True)
class Fault:
    """
    What one direction of the network does now.

    @ivar mode: C{drop} (bytes vanish, connections stay open: a dead
        route), C{hold} (bytes wait and arrive after L{FakeNetwork.heal},
        as TCP retransmission would deliver them), or C{reset} (the
        connections are reset when the fault begins).
    @ivar connect: C{refuse} (new connections fail at once: connection
        refused) or C{blackhole} (they hang until the link layer's connect
        timeout, or complete when the fault heals).
    """

    mode: str
    connect: str


class _Pipe:
    """
    One direction of a connection: chunks in flight, in order, each with
    the time it arrives.
    """

    def __init__(self, network: "FakeNetwork", src: str, dst: str, receiver: "FakeTransport") -> None:
        self.network = network
        self.src = src
        self.dst = dst
        self.receiver = receiver
        self.queue: list[tuple[float, str, bytes]] = []
        self.held: list[tuple[str, bytes]] = []
        self.lastAt = 0.0
        self.timer: Any = None

    def push(self, kind: str, data: bytes = b"") -> None:
        at = max(self.network.arrival(self.src, self.dst), self.lastAt)
        self.lastAt = at
        self.queue.append((at, kind, data))
        self._schedule()

    def _schedule(self) -> None:
        if self.timer is None and self.queue and not self.receiver.paused:
            clock = self.network.clock
            self.timer = clock.callLater(max(0.0, self.queue[0][0] - clock.seconds()), self._due)

    def _due(self) -> None:
        self.timer = None
        now = self.network.clock.seconds()
        while self.queue and self.queue[0][0] <= now and not self.receiver.paused:
            _, kind, data = self.queue.pop(0)
            self.network.carry(self, kind, data)
        self._schedule()

    def release(self) -> None:
        """
        The fault ended: the held chunks leave now, in their order.
        """
        held, self.held = self.held, []
        for kind, data in held:
            self.push(kind, data)

    @property
    def pending(self) -> bool:
        """
        Whether bytes are on their way (a paused reader takes none).
        """
        return bool(self.queue) and not self.receiver.paused


@implementer(ITransport)
class FakeTransport:
    """
    One end of an in-memory connection, for the protocol of one node.

    Writes go into the pipe towards the other end; C{loseConnection}
    sends a FIN after them, C{abortConnection} a reset. Pausing stops
    delivery to this end (back-pressure on reading). A registered producer
    is kept but never paused: the buffers are unbounded.
    """

    disconnecting = False

    def __init__(self, network: "FakeNetwork", conn: int, node: str, peerNode: str,
                 host: IPv4Address, peer: IPv4Address) -> None:
        self.network = network
        self.conn = conn
        self.node = node
        self.peerNode = peerNode
        self.host = host
        self.peer = peer
        self.protocol: Any = None
        self.out: _Pipe | None = None
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
        self.network.lose(self, error.ConnectionDone("closed"))

    def abortConnection(self) -> None:
        if self.lost:
            return
        self.disconnecting = True
        self.out.push("rst")
        self.network.lose(self, error.ConnectionAborted())

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
            pipe = self.network.pipeTo(self)
            if pipe is not None:
                pipe._schedule()

    def stopProducing(self) -> None:
        self.loseConnection()

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        self.producer = producer

    def unregisterProducer(self) -> None:
        self.producer = None


class NetClient:
    """
    A bound resource on one node of the network, driven by a test.

    @ivar transcript: every stanza this client received, serialised, in
        order (never cleared; L{received} returns the new ones).
    """

    def __init__(self, node: Node, address: str, network: "FakeNetwork") -> None:
        self.node = node
        self.jid = parseJID(address)
        self.network = network
        self.stream = FakeStream()
        self.session = ClientSession(node, self.stream, self.jid)
        self.stream.session = self.session
        self.session.bound()
        self.transcript: list[str] = []
        self._read = 0

    def send(self, stanza: str | domish.Element) -> None:
        """
        Send a stanza as the client would (serialised XML or an element).
        """
        if isinstance(stanza, str):
            stanza = parseStanza(stanza)
        self.session.outbound(stanza)

    def received(self) -> list[domish.Element]:
        """
        The stanzas delivered to the client since the last call.
        """
        data = b"".join(self.stream.written)
        self.stream.written = []
        stanzas = parseStanzas(data)
        self.transcript.extend(stanza.toXml() for stanza in stanzas)
        return stanzas

    def disconnect(self) -> None:
        """
        Drop the client's connection (no unavailable presence from it).
        """
        self.stream.close()


class _HostTable:
    """
    The network's answer to "where does this domain listen": the node that
    hosts it (its own domain or a component's), never DNS.
    """

    def __init__(self, network: "FakeNetwork") -> None:
        self.network = network

    def resolve(self, domain: str) -> defer.Deferred:
        node = self.network.hosting(domain)
        if node is None:
            return defer.fail(NoService(f"{domain} is not on the fake network"))
        return defer.succeed([Target(node.address, 5269)])

    def address(self, host: str) -> defer.Deferred:
        return defer.succeed(host)


class _NoVerifier:
    """
    Certificates are never checked: there is no TLS on the fake network.
    """

    def check(self, connection: Any, domain: str) -> str:
        return "no TLS"


@dataclass
class NetNode:
    """
    One whole node of the network.

    @ivar services: what the network's service factories built, by name.
    """

    domain: str
    address: str
    node: Node
    store: MemoryStore
    s2s: S2SManager
    services: dict[str, Any] = field(default_factory=dict)
    clients: list[NetClient] = field(default_factory=list)

    @property
    def muc(self) -> Any:
        """
        The node's MUC component.
        """
        return self.node.modules["muc"]

    def hosts(self, domain: str) -> bool:
        return domain == self.domain or domain in self.node.router.components


def nodeConfig(domain: str, s2s: str = "", extra: str = "") -> str:
    """
    The node.ini text of a network node: plaintext s2s with dialback,
    then C{s2s} lines in [s2s] and C{extra} sections.
    """
    return (
        f"[node]\ndomain = {domain}\n[s2s]\nrequire_tls = false\ndialback = true\n"
        + s2s + "\n" + extra
    )


class FakeNetwork:
    """
    2-5 whole nodes joined by in-memory links on one clock.

    @param domains: one node per domain, at 10.0.0.1, 10.0.0.2, ...
    @param seed: the one source of randomness: jitter, and each node's own
        L{random.Random} (ids, dialback secrets, room salts).
    @param latency: seconds a byte takes in each direction.
    @param jitter: up to this many seconds more, per write, seeded.
    @param s2s: extra [s2s] lines for every node.
    @param config: extra sections for every node, or per domain.
    @param services: per-node service factories besides L{SERVICES}.

    @ivar events: what the transports did, in order: tuples of (seconds
        since the start, kind, from node, to node, connection number,
        detail); the kinds are C{connect}, C{refused}, C{hang},
        C{accepted}, C{connected}, C{data}, C{fin}, C{rst}, C{dropped},
        C{held}, C{lost}.
    """

    def __init__(
        self,
        domains: Sequence[str] = ("a.test", "b.test"),
        seed: int = 0,
        latency: float = 0.005,
        jitter: float = 0.002,
        s2s: str = "",
        config: str | dict[str, str] = "",
        services: Sequence[ServiceFactory] = (),
    ) -> None:
        if not 1 <= len(domains) <= 9:
            raise ValueError("a fake network has 1 to 9 nodes")
        self.clock = task.Clock()
        self.clock.advance(EPOCH)
        self.random = random.Random(seed)
        self.latency = latency
        self.jitter = jitter
        self.events: list[tuple] = []
        self.faults: dict[tuple[str, str], Fault] = {}
        self._latencies: dict[tuple[str, str], float] = {}
        self._pipes: list[_Pipe] = []
        self._transports: dict[int, tuple[FakeTransport, FakeTransport]] = {}
        self._hanging: list[tuple[str, str, Callable[[], None], defer.Deferred]] = []
        self._conns = 0
        self._ports = 40000
        self.nodes: dict[str, NetNode] = {}
        for index, domain in enumerate(domains):
            extra = config.get(domain, "") if isinstance(config, dict) else config
            self.nodes[domain] = self._build(domain, f"10.0.0.{index + 1}", s2s, extra,
                                             (*SERVICES, *services))

    # Nodes and clients

    def _build(self, domain: str, address: str, s2s: str, extra: str,
               factories: Sequence[ServiceFactory]) -> NetNode:
        store = MemoryStore()
        store.start()
        config = parseConfig(nodeConfig(domain, s2s, extra))
        node = Node(config, store, self.clock, random.Random(self.random.getrandbits(64)))
        manager = S2SManager(
            node, self.clock, None, _NoVerifier(), resolver=_HostTable(self),
            connector=lambda host, port, direct, stream, remote: self._connect(
                domain, host, direct, stream),
        )
        # The same wiring as the composition root (xmuc.tap.NodeService).
        federate(node, manager)
        net = NetNode(domain, address, node, store, manager)
        for factory in factories:
            net.services[factory.__name__] = factory(net)
        node.hooks.fire("node-started")
        return net

    def node(self, domain: str) -> NetNode:
        return self.nodes[domain]

    def hosting(self, domain: str) -> NetNode | None:
        """
        The node that serves C{domain}, if any.
        """
        for net in self.nodes.values():
            if net.hosts(domain):
                return net
        return None

    def login(self, address: str, available: bool = True) -> NetClient:
        """
        Bind a client for C{address} (C{user@domain}, C{/res} by default) on
        its domain's node, creating the account; with C{available} it sends
        its initial presence (delivered locally, nothing crosses s2s) and
        its echo is read: L{NetClient.received} starts empty.
        """
        if "/" not in address:
            address += "/res"
        jid = parseJID(address)
        net = self.nodes[jid.host]
        found: list[Any] = []
        net.store.getCredentials(jid.user).addCallback(found.append)
        if not found[0]:
            net.store.createUser(jid.user, makeCredentials("secret"))
        client = NetClient(net.node, address, self)
        net.clients.append(client)
        if available:
            client.send("<presence/>")
            client.received()
        return client

    def clients(self) -> list[NetClient]:
        return [client for net in self.nodes.values() for client in net.clients]

    # Time

    def advance(self, seconds: float, step: float = 0.001) -> None:
        """
        Let C{seconds} pass, running what falls due on the way (in steps
        of at most C{step}, from one due call to the next).
        """
        end = self.clock.seconds() + seconds
        while True:
            due = self._nextDue()
            if due is None or due > end:
                break
            self.clock.advance(max(0.0, due - self.clock.seconds()))
        self.clock.advance(max(0.0, end - self.clock.seconds()))

    def _nextDue(self) -> float | None:
        calls = self.clock.getDelayedCalls()
        return min(call.getTime() for call in calls) if calls else None

    def flush(self, quiet: float = 1.0, maxSteps: int = 10000) -> int:
        """
        Run the network until it settles: no bytes in flight and no timer
        due within C{quiet} seconds. Time moves from one due call to the
        next.

        @return: the number of steps taken.
        @raise NotSettled: after C{maxSteps} steps (a loop that never ends,
            such as two services answering each other for ever).
        """
        for steps in range(maxSteps):
            due = self._nextDue()
            inFlight = any(pipe.pending for pipe in self._pipes)
            if not inFlight and (due is None or due - self.clock.seconds() > quiet):
                return steps
            self.clock.advance(max(0.0, due - self.clock.seconds()))
        raise NotSettled(f"still busy after {maxSteps} steps at "
                         f"t={self.clock.seconds() - EPOCH:.3f}")

    # Link behaviour

    def setLatency(self, src: str, dst: str, seconds: float) -> None:
        """
        Bytes from C{src} to C{dst} take C{seconds} (before jitter).
        """
        self._latencies[(src, dst)] = seconds

    def delay(self, src: str, dst: str, extra: float) -> None:
        """
        Bytes from C{src} to C{dst} take C{extra} seconds longer than the
        network's latency from now on (0 restores it).
        """
        self.setLatency(src, dst, self.latency + extra)

    def arrival(self, src: str, dst: str) -> float:
        """
        When a write from C{src} to C{dst} made now arrives.
        """
        latency = self._latencies.get((src, dst), self.latency)
        return self.clock.seconds() + latency + self.random.uniform(0, self.jitter)

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

    def partition(self, *groups: Iterable[str], mode: str = "drop",
                  connect: str | None = None) -> None:
        """
        Split the network: nodes in different groups cannot reach each
        other, in both directions. Nodes named in no group form one more
        group together, so C{partition(["a.test"])} cuts a.test off.
        """
        sides = [set(group) for group in groups]
        rest = set(self.nodes) - set().union(*sides)
        if rest:
            sides.append(rest)
        side = {domain: index for index, group in enumerate(sides) for domain in group}
        for src in self.nodes:
            for dst in self.nodes:
                if side[src] != side[dst]:
                    self.cut(src, dst, mode, connect)

    def heal(self, src: str | None = None, dst: str | None = None) -> None:
        """
        End every fault (or the one on C{src} -> C{dst}, and its reverse
        when only C{src} and C{dst} are given as a pair): held bytes leave,
        hanging connections complete.
        """
        pairs = list(self.faults) if src is None else [(src, dst), (dst, src)]
        for pair in pairs:
            self.faults.pop(pair, None)
        for pipe in self._pipes:
            if (pipe.src, pipe.dst) in pairs:
                pipe.release()
        hanging, self._hanging = self._hanging, []
        for entry in hanging:
            s, d, complete, _ = entry
            if self._connectFault(s, d) is None:
                complete()
            else:
                self._hanging.append(entry)

    def resetConnections(self, a: str, b: str) -> None:
        """
        Reset every connection between nodes C{a} and C{b} (a crashed peer,
        an RST): both ends see the connection lost, now.
        """
        for conn, (one, other) in list(self._transports.items()):
            if {one.node, other.node} == {a, b}:
                self._event("rst", one.node, other.node, conn, "reset by the network")
                for end in (one, other):
                    end.disconnecting = True
                    self.lose(end, error.ConnectionLost("reset by the network"))

    def _connectFault(self, src: str, dst: str) -> Fault | None:
        return self.faults.get((src, dst)) or self.faults.get((dst, src))

    # Connections

    def _event(self, kind: str, src: str, dst: str, conn: int, detail: Any = "") -> None:
        self.events.append((round(self.clock.seconds() - EPOCH, 6), kind, src, dst, conn, detail))

    def _connect(self, src: str, host: str, directTLS: bool, stream: Any) -> defer.Deferred:
        """
        The connector of node C{src}: join C{stream} to the node at C{host}.
        """
        target = next((n for n in self.nodes.values() if n.address == host), None)
        self._conns += 1
        conn = self._conns
        dst = target.domain if target is not None else host
        self._event("connect", src, dst, conn)
        if target is None or directTLS:
            self._event("refused", src, dst, conn, "nothing listens there")
            return self._later(error.ConnectionRefusedError(), src, dst)
        fault = self._connectFault(src, dst)
        if fault is not None and fault.connect == "refuse":
            self._event("refused", src, dst, conn, "partition")
            return self._later(error.ConnectionRefusedError(), src, dst)
        d: defer.Deferred = defer.Deferred(lambda d: self._cancelHanging(d))

        def complete() -> None:
            self._establish(conn, self.nodes[src], target, stream, d)

        if fault is not None:
            self._event("hang", src, dst, conn)
            self._hanging.append((src, dst, complete, d))
        else:
            complete()
        return d

    def _cancelHanging(self, d: defer.Deferred) -> None:
        self._hanging = [entry for entry in self._hanging if entry[3] is not d]

    def _later(self, reason: Exception, src: str, dst: str) -> defer.Deferred:
        # The refusal comes back after a round trip.
        d: defer.Deferred = defer.Deferred()
        rtt = self.arrival(src, dst) + self.arrival(dst, src) - 2 * self.clock.seconds()
        self.clock.callLater(rtt, d.errback, failure.Failure(reason))
        return d

    def _establish(self, conn: int, src: NetNode, dst: NetNode, stream: Any,
                   d: defer.Deferred) -> None:
        """
        The SYN reaches C{dst} after one way, the answer C{src} after the
        round trip; then both protocols are connected.
        """
        self._ports += 1
        client = IPv4Address("TCP", src.address, self._ports)
        server = IPv4Address("TCP", dst.address, 5269)
        outgoing = FakeTransport(self, conn, src.domain, dst.domain, client, server)
        incoming = FakeTransport(self, conn, dst.domain, src.domain, server, client)
        outgoing.out = _Pipe(self, src.domain, dst.domain, incoming)
        incoming.out = _Pipe(self, dst.domain, src.domain, outgoing)
        self._pipes += [outgoing.out, incoming.out]
        self._transports[conn] = (outgoing, incoming)

        def accepted() -> None:
            protocol = dst.s2s.listenFactory().buildProtocol(client)
            incoming.protocol = protocol
            self._event("accepted", src.domain, dst.domain, conn)
            protocol.makeConnection(incoming)

        def connected() -> None:
            if d.called:
                # Cancelled meanwhile (the link's connect timeout).
                outgoing.abortConnection()
                return
            outgoing.protocol = stream
            self._event("connected", src.domain, dst.domain, conn)
            stream.makeConnection(outgoing)
            d.callback(stream)

        now = self.clock.seconds()
        there = self.arrival(src.domain, dst.domain) - now
        back = self.arrival(dst.domain, src.domain) - now
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
            self._event("dropped", pipe.src, pipe.dst, conn, kind)
            return
        if fault is not None and fault.mode == "hold":
            self._event("held", pipe.src, pipe.dst, conn, kind)
            pipe.held.append((kind, data))
            return
        if receiver.lost or receiver.protocol is None:
            return
        if kind == "data":
            self._event("data", pipe.src, pipe.dst, conn, data)
            receiver.protocol.dataReceived(data)
        elif kind == "fin":
            self._event("fin", pipe.src, pipe.dst, conn)
            self.lose(receiver, error.ConnectionDone("closed by the peer"))
        else:
            self._event("rst", pipe.src, pipe.dst, conn)
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
            self._event("lost", end.node, end.peerNode, end.conn, type(reason).__name__)
            if end.protocol is not None:
                end.protocol.connectionLost(failure.Failure(reason))
            pair = self._transports.get(end.conn)
            if pair is not None and all(t.lost for t in pair):
                del self._transports[end.conn]
                self._pipes = [p for p in self._pipes if p.receiver.conn != end.conn]

        self.clock.callLater(0, lost)

    def pipeTo(self, end: FakeTransport) -> _Pipe | None:
        for pipe in self._pipes:
            if pipe.receiver is end:
                return pipe
        return None

    # Transcripts

    def transcript(self) -> dict[str, list[str]]:
        """
        Every client's received stanzas so far, by full JID.
        """
        for client in self.clients():
            client.received()
        return {client.jid.full(): list(client.transcript) for client in self.clients()}
