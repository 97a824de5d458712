# -*- test-case-name: tests.test_tap -*-
"""
The composition root: C{twistd xmuc -c node.ini} builds a node here.

This is the only module that touches the global reactor.
"""

from __future__ import annotations

import os
import random
import sys
from typing import Any

from twisted.application import service
from twisted.internet import defer, endpoints, task
from twisted.logger import Logger
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.python import usage

from xmuc.c2s.derivation import ThreadedDerivation
from xmuc.c2s.stream import C2SFactory, makePool
from xmuc.config import Address, Config, ConfigError, loadConfig
from xmuc.node import Node
from xmuc.s2s.component import ComponentManager
from xmuc.s2s.manager import S2SManager
from xmuc.s2s.tls import PeerVerifier, S2STLS
from xmuc.storage import makeStore
from xmuc.tls import ServerContextFactory, generateCertificate, loadCertificateBinding


class Options(usage.Options):
    """
    Command line of the twistd plugin.
    """

    optParameters = [
        ["config", "c", "node.ini", "The node's configuration file."],
    ]


def _endpoint(reactor: Any, address: Address, backlog: int) -> Any:
    cls = endpoints.TCP6ServerEndpoint if ":" in address.host else endpoints.TCP4ServerEndpoint
    return cls(reactor, address.port, backlog=backlog, interface=address.host)


def prepareTLS(config: Config) -> tuple[Any, bytes]:
    """
    Load (generating on first start when none is configured) the node's
    certificate; return the context factory and channel binding data.
    """
    certPath, keyPath = config.certificatePath, config.keyPath
    if config.generateCertificate and not os.path.exists(certPath):
        generateCertificate(config.node.domain, certPath, keyPath)
    try:
        factory = ServerContextFactory(certPath, keyPath, alpn=(b"xmpp-client",))
        binding = loadCertificateBinding(certPath)
    except Exception as e:
        raise ConfigError(f"[tls] certificate: cannot load {certPath}: {e}")
    return factory, binding


def sqliteSettings(config: Config) -> dict[str, Any]:
    """
    The SQLite store's settings from [storage] (for L{makeStore}).
    """
    storage = config.storage
    if storage.backend != "sqlite":
        return {}
    return {"synchronous": storage.synchronous, "batchSize": storage.batch_size,
            "highWater": storage.queue_high_water, "lowWater": storage.queue_low_water}


def federate(node: Node, s2s: S2SManager) -> None:
    """
    Make C{s2s} the node's sink for remote domains and tell the services
    that watch links about it (the multi-node test harness,
    tests/support/fakenet.py, wires its nodes here too).
    """
    node.router.remote = s2s
    node.s2s = s2s
    muc = node.modules.get("muc")
    if muc is not None:
        s2s.watch(muc.linkEvent)
    dmuc = node.modules.get("dmuc")
    if dmuc is not None and dmuc.primary is not None:
        s2s.watch(dmuc.primary.linkEvent)


class NodeService(service.MultiService):
    """
    Starts the store, then the listeners; stops them in reverse.
    """

    log = Logger()

    def __init__(self, config: Config, reactor: Any) -> None:
        super().__init__()
        self.config = config
        self.reactor = reactor
        os.makedirs(config.dataDir, exist_ok=True)
        tlsFactory, binding = prepareTLS(config)
        self.store = makeStore(
            config.storage.backend,
            config.storagePath,
            reactor=reactor,
            maxOfflineMessages=config.storage.max_offline,
            **sqliteSettings(config),
        )
        # Password hashing runs in a pool of its own, off the reactor.
        self.derivation = ThreadedDerivation(
            reactor, config.c2s.hash_threads, config.c2s.hash_queue
        )
        self.node = Node(
            config,
            self.store,
            reactor,
            random.Random(),
            tlsContextFactory=tlsFactory,
            channelBinding=binding,
            keyDerivation=self.derivation,
        )
        self.s2s = S2SManager(
            self.node,
            reactor,
            S2STLS(config.certificatePath, config.keyPath),
            PeerVerifier(config.caPath),
        )
        federate(self.node, self.s2s)
        self.components = ComponentManager(self.node)
        #: Listening ports by kind: c2s, c2s-direct, s2s, s2s-direct, components.
        self.listening: dict[str, list[Any]] = {}

    #: Set by the twistd entry point: a failed start ends the program.
    exitOnFailure = False

    def startService(self) -> defer.Deferred:
        service.MultiService.startService(self)
        d = self._start()
        if self.exitOnFailure:
            d.addErrback(self._startFailed)
        return d

    def _startFailed(self, reason: Any) -> None:
        sys.stderr.write(f"xmuc: cannot start: {reason.getErrorMessage()}\n")
        self.log.failure("Start-up failed", reason)
        self.reactor.stop()

    @defer.inlineCallbacks
    def _start(self):
        yield self.store.start()
        self.derivation.start()
        # Services that read the store at start (persistent rooms) begin now.
        self.node.hooks.notify("node-started")
        config = self.config
        # One parser pool for every client listener.
        parsers = makePool(config.c2s)
        direct = TLSMemoryBIOFactory(
            self.node.tlsContextFactory, False, C2SFactory(self.node, directTLS=True, parsers=parsers)
        )
        listeners = [
            ("c2s", config.c2s.listen, C2SFactory(self.node, parsers=parsers)),
            ("c2s-direct", config.c2s.direct_tls_listen, direct),
            ("s2s", config.s2s.listen, self.s2s.listenFactory()),
            ("s2s-direct", config.s2s.direct_tls_listen, self.s2s.listenFactory(directTLS=True)),
            ("components", config.components.listen, self.components.listenFactory()),
        ]
        for kind, addresses, factory in listeners:
            for address in addresses:
                port = yield _endpoint(self.reactor, address, config.c2s.backlog).listen(factory)
                self.listening.setdefault(kind, []).append(port)
                self.log.info("{kind} listening on {address}", kind=kind, address=address)
        self.log.info("xmuc node {domain} started", domain=config.node.domain)

    @defer.inlineCallbacks
    def stopService(self):
        listening, self.listening = self.listening, {}
        for ports in listening.values():
            for port in ports:
                yield port.stopListening()
        self.node.hooks.notify("node-stopping")
        for session in list(self.node.router.allSessions()):
            session.stream.streamError("system-shutdown")
        self.components.stop()
        yield self.s2s.stop()
        # Let the closing sessions' presence work reach the store first.
        roster = self.node.modules.get("roster")
        for _ in range(500):
            if roster is None or not roster.busy:
                break
            yield task.deferLater(self.reactor, 0.01, lambda: None)
        # Then the node's other pending storage work (room saves, archive
        # writes, the 332 broadcasts' effects), at most 5 seconds.
        settled = self.node.settled()
        settled.addTimeout(5, self.reactor)
        try:
            yield settled
        except defer.TimeoutError:
            self.log.warn("Stopping with storage work still pending")
        yield service.MultiService.stopService(self)
        self.derivation.stop()
        yield self.store.stop()


def makeService(options: Options) -> service.IService:
    """
    Build the node service from the command line; a configuration error
    ends the program with one line on standard error.
    """
    from twisted.internet import reactor

    try:
        config = loadConfig(options["config"])
        nodeService = NodeService(config, reactor)
    except ConfigError as e:
        sys.stderr.write(f"xmuc: {e}\n")
        raise SystemExit(1)
    nodeService.exitOnFailure = True
    return nodeService
