"""
A node without sockets: an in-memory store, a L{task.Clock}, and fake
clients whose sessions are bound directly, for IM and service tests.

    h = Harness()
    alice = h.login("alice")          # creates the account, binds "res"
    alice.send("<iq type='get' id='1'><query xmlns='jabber:iq:roster'/></iq>")
    [reply] = alice.received()
"""

from __future__ import annotations

import random
from typing import Any

from twisted.internet import task
from twisted.words.xish import domish

from xmuc.c2s.sasl import makeCredentials
from xmuc.c2s.session import ClientSession
from xmuc.config import parseConfig
from xmuc.core.jid import parseJID
from xmuc.node import FEATURES, Node
from xmuc.storage.memory import MemoryStore


def parseStanzas(data: bytes | str, namespace: str = "jabber:client") -> list[domish.Element]:
    """
    Parse a run of serialised stanzas as if inside a stream.
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    elements: list[domish.Element] = []
    stream = domish.elementStream()
    stream.DocumentStartEvent = lambda root: None
    stream.ElementEvent = elements.append
    stream.DocumentEndEvent = lambda: None
    stream.parse(
        f"<stream:stream xmlns='{namespace}' "
        "xmlns:stream='http://etherx.jabber.org/streams'>".encode()
    )
    stream.parse(data)
    return elements


def parseStanza(data: bytes | str) -> domish.Element:
    """
    Parse exactly one stanza.
    """
    [element] = parseStanzas(data)
    return element


class FakeStream:
    """
    Stands in for L{C2SStream} under a session: records what is written.
    """

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.errors: list[str] = []
        self.closed = False
        self.session: ClientSession | None = None

    def sendBytes(self, data: bytes) -> None:
        if not self.closed:
            self.written.append(data)

    def streamError(self, condition: str, text: str | None = None) -> None:
        self.errors.append(condition)
        self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.session is not None:
            self.session.closed()


class FakeClient:
    """
    A bound resource driven by a test.
    """

    def __init__(self, node: Node, address: str) -> None:
        self.node = node
        self.stream = FakeStream()
        self.jid = parseJID(address)
        self.session = ClientSession(node, self.stream, self.jid)
        self.stream.session = self.session
        self.session.bound()

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
        return parseStanzas(data)

    def disconnect(self) -> None:
        """
        Drop the connection (the session closes without unavailable
        presence from the client).
        """
        self.stream.close()


class Harness:
    """
    One node under test.

    @param features: feature modules to install (all by default).
    @param config: extra node.ini text, e.g. C{"[services]\\nregistration = true"}.
    @param tlsContextFactory: the node's server TLS context factory, for
        stream tests (L{None}: no STARTTLS offered).
    @param channelBinding: the node's tls-server-end-point data.
    @param store: the node's store (a L{MemoryStore} or one derived from
        it); a fresh L{MemoryStore} by default.
    @param start: whether to L{start} the node at once.
    """

    def __init__(
        self,
        domain: str = "localhost",
        features: tuple[str, ...] = FEATURES,
        config: str = "",
        seed: int = 0,
        tlsContextFactory: Any = None,
        channelBinding: bytes | None = None,
        store: MemoryStore | None = None,
        start: bool = True,
    ) -> None:
        self.clock = task.Clock()
        self.clock.advance(1_700_000_000)
        self.store = MemoryStore() if store is None else store
        self.store.start()
        self.config = parseConfig(f"[node]\ndomain = {domain}\n{config}")
        self.node = Node(
            self.config,
            self.store,
            self.clock,
            random.Random(seed),
            tlsContextFactory=tlsContextFactory,
            channelBinding=channelBinding,
            features=features,
        )
        self.domain = domain
        if start:
            self.start()

    def start(self) -> None:
        """
        What the node does once its store started (the rooms load); done
        at construction unless C{start} is false.
        """
        self.node.hooks.notify("node-started")

    def createUser(self, username: str, password: str = "secret") -> None:
        """
        Create an account synchronously (the memory store answers at once).
        """
        self.store.createUser(username, makeCredentials(password))

    def login(
        self, username: str, resource: str = "res", create: bool = True
    ) -> FakeClient:
        """
        Bind a resource for an account, creating it unless it exists.
        """
        if create:
            credentials: Any = []
            self.store.getCredentials(username).addCallback(credentials.append)
            if not credentials[0]:
                self.createUser(username)
        return FakeClient(self.node, f"{username}@{self.domain}/{resource}")
