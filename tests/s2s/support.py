"""
A multi-node harness: several xmuc nodes on 127.0.0.1, each with its own
data directory and ports, federating through the static host table
([s2s_hosts]) with certificates from a test CA (or their own self-signed
ones, which leaves them dialback). Never the machine's DNS resolver.
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
from typing import Any

from twisted.internet import defer
from twisted.trial import unittest

from tests.integration.support import (
    requireAsyncioReactor,
    startClient,
    stopClients,
    wait,
)
from tests.support.pki import TestCA
from xmuc.c2s.sasl import makeCredentials
from xmuc.config import Address, parseConfig
from xmuc.core.errors import UserExists
from xmuc.tap import NodeService


def freePort() -> int:
    """
    A TCP port on 127.0.0.1 that nothing listens on right now.
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FederationTestCase(unittest.TestCase):
    """
    Starts one node per domain in L{domains} before each test and stops
    them (and every client) after.

    @cvar certificates: C{"ca"}: certificates from the test CA, trusted by
        every node (SASL EXTERNAL); C{"self"}: each node's own self-signed
        certificate (dialback).
    @cvar s2sConfig: extra [s2s] lines for every node.

    Nodes listen on ports the kernel chooses; every node's static host
    table ([s2s_hosts]) is kept up to date with the others' ports and with
    the test's own peers (L{addHost}).
    """

    domains: tuple[str, ...] = ("a.test", "b.test")
    certificates = "ca"
    s2sConfig = ""

    def setUp(self) -> defer.Deferred:
        self.reactor = requireAsyncioReactor()
        self.base = os.path.abspath(self.mktemp())
        os.makedirs(self.base)
        self.ca = TestCA(os.path.join(self.base, "ca"))
        self.s2sPorts: dict[str, int] = {}
        self.hosts: dict[str, int] = {}
        self.prepare()
        self.services: dict[str, NodeService] = {}
        self.clients: list[Any] = []
        self.raw: list[Any] = []
        d = defer.gatherResults([self.startNode(domain) for domain in self.domains])
        d.addCallback(lambda _: self.started())
        return d

    def prepare(self) -> None:
        """
        Set up what the nodes' configuration needs (for subclasses).
        """

    def started(self) -> None:
        """
        Every node has started once (for subclasses).
        """

    def addHost(self, domain: str, port: int) -> None:
        """
        Tell every node that C{domain} listens on 127.0.0.1:C{port}.
        """
        self.hosts[domain] = port
        self._refreshHosts()

    def _refreshHosts(self) -> None:
        table = {**self.s2sPorts, **self.hosts}
        for own, service in self.services.items():
            for domain, port in table.items():
                if domain != own:
                    service.config.s2sHosts[domain] = (Address("127.0.0.1", port),)

    def configText(self, domain: str) -> str:
        tls = ""
        if self.certificates == "ca":
            cert, key = self.ca.issue(domain)
            tls = f"[tls]\ncertificate = {cert}\nkey = {key}\n"
        return (
            f"[node]\ndomain = {domain}\ndata_dir = {os.path.join(self.base, domain)}\n"
            + tls
            + "[c2s]\nlisten = 127.0.0.1:0\n"
            + "[storage]\nbackend = memory\n"
            + "[s2s]\nlisten = 127.0.0.1:0\n"
            + f"ca_file = {self.ca.path}\n"
            + ("" if "connect_timeout" in self.s2sConfig else "connect_timeout = 3\n")
            # Never the machine's resolver: a closed loopback port unless
            # the test runs its own DNS server.
            + ("" if "dns_servers" in self.s2sConfig else "dns_servers = 127.0.0.1:1\n")
            + self.s2sConfig
        )

    def startNode(self, domain: str) -> defer.Deferred:
        config = parseConfig(self.configText(domain))
        service = NodeService(config, self.reactor)
        self.services[domain] = service

        def listening(_: Any) -> None:
            self.s2sPorts[domain] = service.listening["s2s"][0].getHost().port
            self._refreshHosts()

        return service.startService().addCallback(listening)

    def stopNode(self, domain: str) -> defer.Deferred:
        return self.services.pop(domain).stopService()

    def node(self, domain: str) -> Any:
        return self.services[domain].node

    def tearDown(self) -> defer.Deferred:
        for writer in self.raw:
            writer.close()
        d = defer.Deferred.fromFuture(asyncio.ensure_future(stopClients(self.clients)))
        d.addBoth(
            lambda _: defer.gatherResults(
                [service.stopService() for service in self.services.values()]
            )
        )
        return d

    def clientContext(self, domain: str) -> ssl.SSLContext:
        service = self.services[domain]
        cafile = self.ca.path if self.certificates == "ca" else service.config.certificatePath
        return ssl.create_default_context(cafile=cafile)

    async def createUser(self, jid: str, password: str = "secret") -> None:
        user, domain = jid.split("@")
        try:
            await wait(self.node(domain).store.createUser(user, makeCredentials(password)))
        except UserExists:
            pass

    async def client(self, jid: str, password: str = "secret", **kwargs: Any) -> Any:
        """
        A slixmpp client logged in to the node of C{jid}'s domain (created
        as a user first).
        """
        bare = jid.split("/")[0]
        await self.createUser(bare, password)
        domain = bare.split("@")[1]
        port = self.services[domain].listening["c2s"][0].getHost().port
        return await startClient(
            self.clients, jid, password, port, self.clientContext(domain), **kwargs
        )
