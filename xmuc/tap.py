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

from xmuc.c2s.parser import ParserPool
from xmuc.c2s.stream import C2SFactory
from xmuc.config import Address, Config, ConfigError, loadConfig
from xmuc.node import Node
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
        )
        self.node = Node(
            config,
            self.store,
            reactor,
            random.Random(),
            tlsContextFactory=tlsFactory,
            channelBinding=binding,
        )
        self.ports: list[Any] = []

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
        config = self.config
        # One parser pool for every client listener.
        parsers = ParserPool(config.c2s.max_stanza_size)
        plain = C2SFactory(self.node, parsers=parsers)
        for address in config.c2s.listen:
            port = yield _endpoint(self.reactor, address, config.c2s.backlog).listen(plain)
            self.ports.append(port)
            self.log.info("c2s listening on {address}", address=address)
        direct = TLSMemoryBIOFactory(
            self.node.tlsContextFactory, False, C2SFactory(self.node, directTLS=True, parsers=parsers)
        )
        for address in config.c2s.direct_tls_listen:
            port = yield _endpoint(self.reactor, address, config.c2s.backlog).listen(direct)
            self.ports.append(port)
            self.log.info("c2s direct TLS listening on {address}", address=address)
        self.log.info("xmuc node {domain} started", domain=config.node.domain)

    @defer.inlineCallbacks
    def stopService(self):
        for port in self.ports:
            yield port.stopListening()
        self.ports = []
        for session in list(self.node.router.allSessions()):
            session.stream.streamError("system-shutdown")
        # Let the closing sessions' presence work reach the store first.
        roster = self.node.modules.get("roster")
        for _ in range(500):
            if roster is None or not roster.busy:
                break
            yield task.deferLater(self.reactor, 0.01, lambda: None)
        yield service.MultiService.stopService(self)
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
