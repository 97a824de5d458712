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
from typing import Any, Callable, Iterable, Sequence

from twisted.internet import defer, task

from tests.support.fakewire import Fault, Wire
from tests.support.netnode import (
    HostTable,
    NetClient,
    NetNode,
    NodeClock,
    NoVerifier,
    nodeConfig,
)
from xmuc.c2s.sasl import makeCredentials
from xmuc.config import parseConfig
from xmuc.core.jid import parseJID
from xmuc.node import Node
from xmuc.s2s.manager import S2SManager
from xmuc.storage.memory import MemoryStore
from xmuc.tap import federate

__all__ = ["FakeNetwork", "NetClient", "NetNode", "NotSettled", "SERVICES", "ServiceFactory"]

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
        self._factories = (*SERVICES, *services)
        self._configs: dict[str, str] = {}
        self.nodes: dict[str, NetNode] = {}
        #: Clients of nodes that crashed, kept for their transcripts.
        self.retired: list[NetClient] = []
        for index, domain in enumerate(domains):
            extra = config.get(domain, "") if isinstance(config, dict) else config
            self._configs[domain] = nodeConfig(domain, s2s, extra)
            self.nodes[domain] = self._build(domain, f"10.0.0.{index + 1}", MemoryStore())

    # Nodes and clients

    def _build(self, domain: str, address: str, store: MemoryStore) -> NetNode:
        store.start()
        config = parseConfig(self._configs[domain])
        clock = NodeClock(self.clock)
        node = Node(config, store, clock, random.Random(self.random.getrandbits(64)))
        manager = S2SManager(
            node, clock, None, NoVerifier(), resolver=HostTable(self),
            connector=lambda host, port, direct, stream, remote: self._connect(
                domain, host, direct, stream),
        )
        # The same wiring as the composition root (xmuc.tap.NodeService).
        federate(node, manager)
        net = NetNode(domain, address, node, store, manager, clock)
        for factory in self._factories:
            net.services[factory.__name__] = factory(net)
        node.hooks.notify("node-started")
        return net

    def crash(self, domain: str, connect: str = "refuse") -> None:
        """
        The node of C{domain} stops dead: no stopping hooks, its timers
        never run, its clients are gone (kept in L{retired}), its peers'
        connections are reset; until L{restart}, connections to it are
        refused (C{refuse}: the process died) or hang (C{blackhole}: the
        machine is off).
        """
        net = self.nodes[domain]
        net.clock.stop()
        self.wire.crash(domain, connect)
        self.retired += net.clients
        net.clients = []
        net.crashed = True

    def stop(self, domain: str) -> None:
        """
        Stop the node of C{domain} as the composition root does
        (L{xmuc.tap.NodeService.stopService}): C{node-stopping} (rooms say
        332), its clients' streams end, its s2s links and streams close;
        once that has reached the wire the node is down as after L{crash}
        (connections refused).
        """
        net = self.nodes[domain]
        net.node.hooks.notify("node-stopping")
        for session in list(net.node.router.allSessions()):
            session.stream.streamError("system-shutdown")
        net.s2s.stop()
        self.flush()
        self.crash(domain)

    def restart(self, domain: str) -> NetNode:
        """
        Start the crashed node of C{domain} again: a new node on the same
        store (what it saved survives), at the same address; its users log
        in again.
        """
        old = self.nodes[domain]
        if not old.crashed:
            raise ValueError(f"{domain} is running: crash it first")
        self.nodes[domain] = net = self._build(domain, old.address, old.store)
        self.wire.revive(domain)
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
        its initial presence (to its roster contacts: none unless the test
        made some) and its echo is read: L{NetClient.received} starts empty.
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
        def accept(peer: Any) -> Any:
            # The node there when the connection arrives (it may have been
            # restarted meanwhile).
            return self.nodes[target.domain].s2s.listenFactory().buildProtocol(peer)

        return self.wire.connect((src, origin.address), (target.domain, target.address),
                                 accept, stream)

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
        if (a is None) != (b is None):
            raise ValueError("heal() heals everything, heal(a, b) one pair")
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
