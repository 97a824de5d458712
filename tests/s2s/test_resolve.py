# -*- test-case-name: tests.s2s.test_resolve -*-
"""
Finding a remote domain's server: the static table, SRV records from a DNS
server the test runs on loopback (never the machine's resolver), their
order, the fallback to port 5269, and "no service" records.
"""

from __future__ import annotations

import random

from twisted.internet import defer
from twisted.names import dns
from twisted.trial import unittest

from tests.integration.support import requireAsyncioReactor
from tests.support.dnsserver import StaticResolver, listenDNS
from xmuc.config import Address
from xmuc.s2s.resolve import NoService, Resolver, Target, orderRecords


class OrderTests(unittest.TestCase):
    def test_priorityThenDirectTLS(self) -> None:
        """
        Lower priority values come first; at equal priority direct TLS
        (XEP-0368) comes before STARTTLS.
        """
        records = [
            (dns.Record_SRV(20, 0, 5269, "late.example"), False),
            (dns.Record_SRV(10, 0, 5269, "starttls.example"), False),
            (dns.Record_SRV(10, 0, 5270, "direct.example"), True),
        ]
        targets = orderRecords(records, random.Random(1))
        self.assertEqual(
            targets,
            [
                Target("direct.example", 5270, True),
                Target("starttls.example", 5269, False),
                Target("late.example", 5269, False),
            ],
        )

    def test_weights(self) -> None:
        """
        Within a priority, heavier records come first more often.
        """
        records = [
            (dns.Record_SRV(0, 90, 1, "heavy.example"), False),
            (dns.Record_SRV(0, 10, 2, "light.example"), False),
        ]
        rng = random.Random(7)
        firsts = [orderRecords(records, rng)[0].host for _ in range(200)]
        self.assertGreater(firsts.count("heavy.example"), 150)


class ResolverTests(unittest.TestCase):
    def setUp(self) -> None:
        self.reactor = requireAsyncioReactor()
        self.dns = StaticResolver()
        self.port = listenDNS(self.reactor, self.dns)
        self.addCleanup(self.port.stopListening)
        server = Address("127.0.0.1", self.port.getHost().port)
        self.resolver = Resolver(
            {"static.test": (Address("127.0.0.5", 5999),)}, (server,), self.reactor, random.Random(0)
        )

    def test_staticWins(self) -> None:
        """
        A domain in [s2s_hosts] is not looked up at all.
        """
        self.dns.addServer("static.test", "elsewhere.test", 1234, "127.0.0.6")
        d = self.resolver.resolve("static.test")
        d.addCallback(self.assertEqual, [Target("127.0.0.5", 5999)])
        return d

    @defer.inlineCallbacks
    def test_srv(self) -> None:
        """
        _xmpp-server._tcp and _xmpps-server._tcp records are both used; the
        target's address comes from the same DNS server.
        """
        self.dns.addServer("srv.test", "xmpp.srv.test", 5300, "127.0.0.7")
        self.dns.add("_xmpps-server._tcp.srv.test", dns.Record_SRV(0, 5, 5301, "xmpp.srv.test"))
        targets = yield self.resolver.resolve("srv.test")
        self.assertEqual(
            targets, [Target("xmpp.srv.test", 5301, True), Target("xmpp.srv.test", 5300, False)]
        )
        address = yield self.resolver.address("xmpp.srv.test")
        self.assertEqual(address, "127.0.0.7")

    @defer.inlineCallbacks
    def test_fallback(self) -> None:
        """
        Without SRV records the domain itself is tried on port 5269.
        """
        self.dns.add("plain.test", dns.Record_A("127.0.0.8"))
        targets = yield self.resolver.resolve("plain.test")
        self.assertEqual(targets, [Target("plain.test", 5269)])

    def test_noService(self) -> None:
        """
        A single SRV record with the target '.' says there is no service.
        """
        self.dns.add("_xmpp-server._tcp.none.test", dns.Record_SRV(0, 0, 0, b""))
        return self.assertFailure(self.resolver.resolve("none.test"), NoService)

    def test_unknownHost(self) -> None:
        """
        A host name that does not resolve fails with NoService.
        """
        return self.assertFailure(self.resolver.address("nowhere.test"), NoService)
