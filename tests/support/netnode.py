# -*- test-case-name: tests.support.test_fakenet -*-
"""
The nodes of L{tests.support.fakenet}: what one node of the network is
made of besides the real xmuc parts (its clock, its clients, its view of
where other domains listen).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from twisted.internet import defer, task
from twisted.words.xish import domish

from tests.support.harness import FakeStream, parseStanza, parseStanzas
from xmuc.c2s.session import ClientSession
from xmuc.core.jid import parseJID
from xmuc.node import Node
from xmuc.s2s.manager import S2SManager
from xmuc.s2s.resolve import NoService, Target
from xmuc.storage.memory import MemoryStore


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


class NodeClock:
    """
    One node's view of the network's clock: the same time, and every call
    the node scheduled can be cancelled at once (L{FakeNetwork.crash}).
    After L{stop}, what the dead node's leftovers schedule never runs.
    """

    def __init__(self, clock: task.Clock) -> None:
        self._clock = clock
        self._calls: list[Any] = []
        self._pruneAt = 64
        self.stopped = False

    def seconds(self) -> float:
        return self._clock.seconds()

    def callLater(self, delay: float, call: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        delayed = self._clock.callLater(delay, call, *args, **kw)
        if self.stopped:
            delayed.cancel()
            return delayed
        if len(self._calls) >= self._pruneAt:
            self._calls = [c for c in self._calls if c.active()]
            self._pruneAt = max(64, 2 * len(self._calls))
        self._calls.append(delayed)
        return delayed

    def getDelayedCalls(self) -> list[Any]:
        return [c for c in self._calls if c.active()]

    def stop(self) -> None:
        self.stopped = True
        calls, self._calls = self._calls, []
        for delayed in calls:
            if delayed.active():
                delayed.cancel()


class HostTable:
    """
    The network's answer to "where does this domain listen": the node that
    hosts it (its own domain or a component's), never DNS.
    """

    def __init__(self, network: Any) -> None:
        self.network = network

    def resolve(self, domain: str) -> defer.Deferred:
        node = self.network.hosting(domain)
        if node is None:
            return defer.fail(NoService(f"{domain} is not on the fake network"))
        return defer.succeed([Target(node.address, 5269)])

    def address(self, host: str) -> defer.Deferred:
        return defer.succeed(host)


class NoVerifier:
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
    clock: "NodeClock"
    services: dict[str, Any] = field(default_factory=dict)
    clients: list[NetClient] = field(default_factory=list)
    crashed: bool = False

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
