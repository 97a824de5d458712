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

from twisted.internet import defer, task
from twisted.words.xish import domish

from tests.support.fakewire import Fault, Wire
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


class NetClient:
    """
    A bound resource on one node of the network, driven by a test.

    @ivar transcript: every stanza this client received, serialised, in
        order (never cleared; L{received} returns the new ones).
    """

    def __init__(self, node: Node, address: str) -> None:
        self.node = node
        self.jid = parseJID(address)
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
        """
        Whether this node serves C{domain} (its own or a component's).
        """
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
    2-5 whole nodes (up to 9) joined by in-memory links on one clock.

    @param domains: one node per domain, at 10.0.0.1, 10.0.0.2, ...
    @param seed: the one source of randomness: jitter, and each node's own
        L{random.Random} (ids, dialback secrets, room salts).
    @param latency: seconds a write takes in each direction.
    @param jitter: up to this many seconds more, per write, seeded.
    @param s2s: extra [s2s] lines for every node.
    @param config: extra sections for every node, or by domain.
    @param services: per-node service factories besides L{SERVICES}.

    @ivar wire: the byte layer (L{tests.support.fakewire.Wire}); its
        C{events} are the network's transport events.
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
        self.wire = Wire(self.clock, self.random, latency, jitter, EPOCH)
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
        client = NetClient(net.node, address)
        net.clients.append(client)
        if available:
            client.send("<presence/>")
            client.received()
        return client

    def clients(self) -> list[NetClient]:
        return [client for net in self.nodes.values() for client in net.clients]

    def _connect(self, src: str, host: str, directTLS: bool, stream: Any) -> defer.Deferred:
        """
        The connector of node C{src}'s s2s layer: join C{stream} to the
        incoming s2s factory of the node at C{host} (plaintext only: a
        direct TLS target finds nothing listening).
        """
        target = next((n for n in self.nodes.values() if n.address == host), None)
        origin = self.nodes[src]
        if target is None or directTLS:
            return self.wire.connect((src, origin.address), None, lambda peer: None, stream)
        factory = target.s2s.listenFactory()
        return self.wire.connect((src, origin.address), (target.domain, target.address),
                                 factory.buildProtocol, stream)

    # Time

    def advance(self, seconds: float) -> None:
        """
        Let C{seconds} pass, running what falls due on the way: time moves
        from one due call to the next (so each runs at its own time, and
        what it schedules meanwhile runs too), then to the end.
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
        next, which is exact (every call runs at its own time) and quick.

        @return: the number of steps taken.
        @raise NotSettled: after C{maxSteps} steps (a loop that never ends,
            such as two services answering each other for ever).
        """
        for steps in range(maxSteps):
            due = self._nextDue()
            if not self.wire.busy and (due is None or due - self.clock.seconds() > quiet):
                return steps
            self.clock.advance(max(0.0, due - self.clock.seconds()))
        raise NotSettled(f"still busy after {maxSteps} steps at "
                         f"t={self.clock.seconds() - EPOCH:.3f}")

    # Link behaviour (L{tests.support.fakewire})

    @property
    def events(self) -> list[tuple]:
        """
        The transport events so far (L{Wire.events}).
        """
        return self.wire.events

    @property
    def faults(self) -> dict[tuple[str, str], Fault]:
        return self.wire.faults

    def setLatency(self, src: str, dst: str, seconds: float) -> None:
        """
        Writes from C{src} to C{dst} take C{seconds} (before jitter).
        """
        self.wire.setLatency(src, dst, seconds)

    def delay(self, src: str, dst: str, extra: float) -> None:
        """
        Writes from C{src} to C{dst} take C{extra} seconds longer than the
        network's latency from now on (0 restores it).
        """
        self.wire.setLatency(src, dst, self.wire.latency + extra)

    def cut(self, src: str, dst: str, mode: str = "drop", connect: str | None = None) -> None:
        """
        Put a fault on the direction C{src} -> C{dst}: C{mode} C{drop},
        C{hold} or C{reset}, C{connect} C{refuse} or C{blackhole}
        (L{Fault}; by default a reset refuses, the others blackhole).
        """
        self.wire.cut(src, dst, mode, connect)

    def partition(self, *groups: Iterable[str], mode: str = "drop",
                  connect: str | None = None) -> None:
        """
        Split the network: nodes in different groups cannot reach each
        other, in either direction (L{cut} on each such pair). Nodes named
        in no group form one more group together, so
        C{partition(["a.test"])} cuts a.test off from the rest.
        """
        sides = [set(group) for group in groups]
        rest = set(self.nodes) - set().union(*sides)
        if rest:
            sides.append(rest)
        side = {domain: index for index, group in enumerate(sides) for domain in group}
        for src in self.nodes:
            for dst in self.nodes:
                if side[src] != side[dst]:
                    self.wire.cut(src, dst, mode, connect)

    def heal(self, a: str | None = None, b: str | None = None) -> None:
        """
        End every fault, or those between C{a} and C{b} (both
        directions): held bytes leave, hanging connections complete.
        """
        self.wire.heal(None if a is None else [(a, b), (b, a)])

    def resetConnections(self, a: str, b: str) -> None:
        """
        Reset every connection between C{a} and C{b} now, with no lasting
        fault (a peer that crashed and came back).
        """
        self.wire.resetConnections(a, b)

    def traffic(self, since: int = 0) -> dict[tuple[str, str], tuple[int, int]]:
        """
        Writes and bytes delivered per direction, from event number
        C{since} on (C{len(net.events)} taken before a step): a stream
        writes one stanza at a time, so writes count stanzas once the
        streams are up.
        """
        counts: dict[tuple[str, str], tuple[int, int]] = {}
        for _, kind, src, dst, _, detail in self.wire.events[since:]:
            if kind == "data":
                writes, size = counts.get((src, dst), (0, 0))
                counts[(src, dst)] = (writes + 1, size + len(detail))
        return counts

    # Transcripts

    def transcript(self) -> dict[str, list[str]]:
        """
        Every client's received stanzas so far, by full JID (reading what
        they have not read yet).
        """
        for client in self.clients():
            client.received()
        return {client.jid.full(): list(client.transcript) for client in self.clients()}
