# -*- test-case-name: tests.s2s.test_prosody -*-
"""
Interop with a real Prosody: a Prosody user and an xmuc user subscribe to
each other and exchange messages in both directions, once with certificate
authentication (SASL EXTERNAL both ways) and once with dialback. Both
servers find each other through SRV records served by a DNS server the
test runs on loopback.
"""

from __future__ import annotations

import asyncio
import os
import ssl

from twisted.internet import defer
from twisted.trial import unittest

from tests.integration.support import startClient
from tests.s2s.support import FederationTestCase, freePort
from tests.s2s.test_federation import Exchange
from tests.support.dnsserver import StaticResolver, listenDNS
from tests.support.prosody import ProsodyPeer, prosodyAvailable
from xmuc.tls import generateCertificate

PROSODY_DOMAIN = "p.test"


class _ProsodyFederation(Exchange, FederationTestCase):
    """
    One xmuc node (a.test) and one Prosody (p.test).
    """

    domains = ("a.test",)
    secureAuth = True

    def prepare(self) -> None:
        if not prosodyAvailable():
            raise unittest.SkipTest("Prosody is not installed (.ci/run installs it)")
        self.dns = StaticResolver()
        self.dnsPort = listenDNS(self.reactor, self.dns)
        port = self.dnsPort.getHost().port
        self.prosodyPorts = (freePort(), freePort())
        self.dns.addServer(PROSODY_DOMAIN, PROSODY_DOMAIN, self.prosodyPorts[1], "127.0.0.1")
        self.s2sConfig = self.policy + f"dns_servers = 127.0.0.1:{port}\n"
        directory = os.path.join(self.base, "prosody")
        os.makedirs(directory)
        if self.certificates == "ca":
            cert, key = self.ca.issue(PROSODY_DOMAIN)
            self.prosodyCA = self.ca.path
        else:
            cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
            generateCertificate(PROSODY_DOMAIN, cert, key)
            self.prosodyCA = cert
        os.chmod(key, 0o644)
        self.prosody = ProsodyPeer(
            directory, PROSODY_DOMAIN, self.prosodyPorts[0], self.prosodyPorts[1],
            cert, key, self.ca.path, port, self.secureAuth,
        )
        self.prosody.register("pat", "secret")
        self.prosody.start()

    def tearDown(self) -> defer.Deferred:
        # The nodes stop first, while Prosody and the DNS server still
        # answer; then Prosody (by its PID) and the DNS server.
        d = super().tearDown()
        d.addBoth(lambda _: self.prosody.stop())
        d.addBoth(lambda _: self.dnsPort.stopListening())
        return d

    def started(self) -> None:
        for domain in self.domains:
            self.dns.addServer(domain, domain, self.s2sPorts[domain], "127.0.0.1")

    async def prosodyClient(self) -> object:
        context = ssl.create_default_context(cafile=self.prosodyCA)
        return await startClient(self.clients, "pat@p.test/desk", "secret", self.prosodyPorts[0], context)

    async def checkExchange(self, method: str) -> None:
        alice = await self.client("alice@a.test/phone")
        pat = await self.prosodyClient()
        try:
            await self.exchange(alice, pat)
        except (asyncio.TimeoutError, AssertionError):
            self.fail("exchange failed; Prosody's log:\n" + self.prosody.logText()[-6000:])
        s2s = self.node("a.test").s2s
        self.assertEqual(s2s.linkState(PROSODY_DOMAIN), "up")
        self.assertEqual(s2s.links[("a.test", PROSODY_DOMAIN)].stream.method, method)
        methods = {}
        for stream in self.node("a.test").s2s.incoming:
            methods.update(stream.authenticated)
        self.assertEqual(methods.get(PROSODY_DOMAIN), method)
        self.assertIn(self.prosodyMark(method), self.prosody.logText())

    def prosodyMark(self, method: str) -> str:
        # What Prosody logs when it accepts us (mod_saslauth), or when it
        # confirms its own key to us (mod_dialback, as authoritative server).
        if method == "EXTERNAL":
            return "Accepting SASL EXTERNAL identity from a.test"
        return "verified dialback key... it is valid"


class ProsodyCertificateTests(_ProsodyFederation):
    """
    Certificates from a CA both servers trust: SASL EXTERNAL both ways,
    dialback refused on both sides.
    """

    certificates = "ca"
    secureAuth = True
    policy = "require_valid_certificate = true\ndialback = false\n"

    def test_exchange(self) -> defer.Deferred:
        """
        pat@p.test (Prosody) and alice@a.test (xmuc) subscribe to each
        other and exchange messages both ways over SASL EXTERNAL links.
        """
        return defer.Deferred.fromFuture(asyncio.ensure_future(self.checkExchange("EXTERNAL")))


class ProsodyDialbackTests(_ProsodyFederation):
    """
    Self-signed certificates neither side trusts: dialback over TLS.
    """

    certificates = "self"
    secureAuth = False
    policy = ""

    def test_exchange(self) -> defer.Deferred:
        """
        pat@p.test (Prosody) and alice@a.test (xmuc) subscribe to each
        other and exchange messages both ways over dialback.
        """
        return defer.Deferred.fromFuture(asyncio.ensure_future(self.checkExchange("dialback")))
