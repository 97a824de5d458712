"""
Integration support: a real node on a loopback port, driven by slixmpp
clients and raw sockets on the same asyncio loop.

The tests run under trial's asyncio reactor (C{--reactor=asyncio}), so the
node (Twisted) and slixmpp (asyncio) share one event loop and the tests
wait on events, never on sleeps. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any, Callable

from twisted.internet import defer
from twisted.trial import unittest

from xmuc.config import parseConfig
from xmuc.tap import NodeService

TIMEOUT = 15.0


def requireAsyncioReactor() -> Any:
    """
    The running reactor, which must be the asyncio one.
    """
    from twisted.internet import reactor

    if not hasattr(reactor, "_asyncioEventloop"):
        raise unittest.FailTest(
            "integration tests need trial --reactor=asyncio (see README.md)"
        )
    return reactor


def asyncTest(method: Callable[..., Any]) -> Callable[..., defer.Deferred]:
    """
    Run an C{async def} test method as an asyncio task and hand trial a
    Deferred for it.
    """

    def run(self: Any) -> defer.Deferred:
        requireAsyncioReactor()
        return defer.Deferred.fromFuture(asyncio.ensure_future(method(self)))

    run.__name__ = method.__name__
    run.__doc__ = method.__doc__
    return run


async def wait(d: defer.Deferred | asyncio.Future | Any, timeout: float = TIMEOUT) -> Any:
    """
    Await a Deferred or future, failing the test after C{timeout} seconds.
    """
    if isinstance(d, defer.Deferred):
        d = d.asFuture(asyncio.get_event_loop())
    return await asyncio.wait_for(d, timeout)


class NodeTestCase(unittest.TestCase):
    """
    Starts a node with its own data directory on 127.0.0.1 (ports chosen by
    the kernel) before each test, and stops it and every client after.

    @ivar extraConfig: node.ini text appended to the base configuration.
    """

    extraConfig = ""
    domain = "localhost"

    def setUp(self) -> defer.Deferred:
        reactor = requireAsyncioReactor()
        base = self.mktemp()
        text = (
            f"[node]\ndomain = {self.domain}\ndata_dir = {base}\n"
            # dns_servers points at a closed loopback port: a stray look-up
            # fails here and never reaches the machine's resolver.
            + ("" if "[s2s]" in self.extraConfig
               else "[s2s]\nlisten = 127.0.0.1:0\ndns_servers = 127.0.0.1:1\n")
            + "[c2s]\nlisten = 127.0.0.1:0\ndirect_tls_listen = 127.0.0.1:0\n"
            + self.extraConfig
        )
        self.config = parseConfig(text)
        self.service = NodeService(self.config, reactor)
        self.node = self.service.node
        self.clients: list[Any] = []
        self.raw: list[asyncio.StreamWriter] = []
        return self.service.startService()

    @property
    def port(self) -> int:
        return self.service.listening["c2s"][0].getHost().port

    @property
    def directTLSPort(self) -> int:
        return self.service.listening["c2s-direct"][0].getHost().port

    def clientContext(self) -> ssl.SSLContext:
        """
        A client TLS context trusting the node's generated certificate.
        """
        context = ssl.create_default_context(cafile=self.config.certificatePath)
        context.check_hostname = True
        return context

    async def tearDownAsync(self) -> None:
        for writer in self.raw:
            writer.close()
        await stopClients(self.clients)

    def tearDown(self) -> defer.Deferred:
        d = defer.Deferred.fromFuture(asyncio.ensure_future(self.tearDownAsync()))
        d.addBoth(lambda _: self.service.stopService())
        return d

    async def createUser(self, username: str, password: str = "secret") -> None:
        from xmuc.c2s.sasl import makeCredentials

        await wait(self.node.store.createUser(username, makeCredentials(password)))

    async def client(
        self,
        jid: str,
        password: str = "secret",
        mechanism: str | None = None,
        directTLS: bool = False,
        plugins: tuple[str, ...] = (),
        presence: bool = True,
    ) -> Any:
        """
        A logged-in slixmpp client (session started, initial presence sent
        unless C{presence} is false).
        """
        port = self.directTLSPort if directTLS else self.port
        return await startClient(
            self.clients, jid, password, port, self.clientContext(),
            mechanism=mechanism, directTLS=directTLS, plugins=plugins, presence=presence,
        )

    async def rawConnection(
        self, tls: bool = False
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """
        A plain TCP (or direct TLS) connection to the node.
        """
        if tls:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1",
                self.directTLSPort,
                ssl=self.clientContext(),
                server_hostname=self.domain,
            )
        else:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.raw.append(writer)
        return reader, writer


async def startClient(
    clients: list[Any],
    jid: str,
    password: str,
    port: int,
    context: ssl.SSLContext,
    mechanism: str | None = None,
    directTLS: bool = False,
    plugins: tuple[str, ...] = (),
    presence: bool = True,
) -> Any:
    """
    A slixmpp client logged in to 127.0.0.1:C{port} (session started,
    initial presence sent unless C{presence} is false), added to
    C{clients} so that the test's clean-up disconnects it.
    """
    import slixmpp

    client = slixmpp.ClientXMPP(jid, password, sasl_mech=mechanism)
    for plugin in plugins:
        client.register_plugin(plugin)
    client.ssl_context = context
    client.enable_direct_tls = directTLS
    client.enable_starttls = not directTLS
    client.enable_plaintext = False
    client.reconnect_max_attempts = 0
    started: asyncio.Future = asyncio.get_event_loop().create_future()

    def sessionStarted(event: Any) -> None:
        if presence:
            client.send_presence()
        if not started.done():
            started.set_result(True)

    def authFailed(event: Any) -> None:
        if not started.done():
            started.set_exception(AuthenticationFailed(jid))

    client.add_event_handler("session_start", sessionStarted)
    client.add_event_handler("failed_all_auth", authFailed)
    clients.append(client)
    client.connect("127.0.0.1", port)
    await wait(started)
    return client


async def stopClients(clients: list[Any]) -> None:
    """
    Disconnect every client (aborting those that do not answer).
    """
    for client in clients:
        try:
            await asyncio.wait_for(client.disconnect(wait=0), 5)
        except Exception:
            client.abort()
    # slixmpp keeps a task sending its output queue for the client's whole
    # life and cancels it only when the client is garbage collected, when
    # asyncio can no longer run it and prints "Task was destroyed but it is
    # pending!" for each client: end those tasks here, while the loop runs.
    senders = [task for client in clients
               if (task := getattr(client, "_run_out_filters", None)) is not None]
    for task in senders:
        task.cancel()
    await asyncio.gather(*senders, return_exceptions=True)


class AuthenticationFailed(Exception):
    """
    slixmpp reported that every mechanism failed.
    """


class EventWaiter:
    """
    Collects one slixmpp event and lets a test await the next occurrence
    that matches a predicate.
    """

    def __init__(self, client: Any, event: str) -> None:
        self._items: list[Any] = []
        self._waiters: list[tuple[Callable[[Any], bool], asyncio.Future]] = []
        client.add_event_handler(event, self._seen)

    def _seen(self, item: Any) -> None:
        for predicate, future in list(self._waiters):
            if not future.done() and predicate(item):
                future.set_result(item)
                self._waiters.remove((predicate, future))
                return
        self._items.append(item)

    async def next(self, predicate: Callable[[Any], bool] = lambda item: True) -> Any:
        for item in self._items:
            if predicate(item):
                self._items.remove(item)
                return item
        future = asyncio.get_event_loop().create_future()
        self._waiters.append((predicate, future))
        return await wait(future)


async def readUntil(reader: asyncio.StreamReader, marker: bytes, limit: int = 65536) -> bytes:
    """
    Read until C{marker} appears, the connection closes, or the time-out.
    """
    data = b""
    while marker not in data and len(data) < limit:
        chunk = await asyncio.wait_for(reader.read(4096), TIMEOUT)
        if not chunk:
            break
        data += chunk
    return data
