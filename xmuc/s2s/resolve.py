# -*- test-case-name: tests.s2s.test_resolve -*-
"""
Where a remote domain's server listens (RFC 6120 section 3.2, XEP-0368).

A static table from node.ini wins over DNS. Otherwise the SRV records
C{_xmpps-server._tcp} (direct TLS) and C{_xmpp-server._tcp} (STARTTLS) are
asked for together, through twisted.names with short timeouts so that a
failed look-up fails fast; with no SRV records the domain itself is tried
on port 5269. A single SRV record with the target C{.} says the domain
offers no service.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, Iterable

from twisted.internet import defer
from twisted.names import client, dns

from xmuc.config import Address

#: Seconds to wait for each DNS query attempt; failures end quickly.
DNS_TIMEOUTS = (1, 2)


@dataclass(frozen=True)
class Target:
    """
    One place to connect to.

    @ivar directTLS: TLS from the first byte (XEP-0368), else STARTTLS.
    """

    host: str
    port: int
    directTLS: bool = False


class NoService(Exception):
    """
    The domain has no XMPP server (the look-up failed, or it says so).
    """


def isAddress(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def orderRecords(records: Iterable[tuple[dns.Record_SRV, bool]], random: Any) -> list[Target]:
    """
    Order SRV records by priority, direct TLS before STARTTLS at the same
    priority (XEP-0368), and by weighted random choice within each group
    (RFC 2782).
    """
    groups: dict[tuple[int, bool], list[dns.Record_SRV]] = {}
    for record, direct in records:
        groups.setdefault((record.priority, not direct), []).append(record)
    targets = []
    for (priority, starttls) in sorted(groups):
        group = groups[(priority, starttls)]
        while group:
            record = group.pop(_weightedPick(group, random))
            targets.append(Target(str(record.target).rstrip("."), record.port, not starttls))
    return targets


def _weightedPick(group: list[dns.Record_SRV], random: Any) -> int:
    total = sum(record.weight for record in group)
    if not total:
        return 0
    point = random.randint(1, total)
    running = 0
    for index, record in enumerate(group):
        running += record.weight
        if running >= point:
            return index
    return len(group) - 1


class Resolver:
    """
    Finds the targets of remote domains.

    @param static: the [s2s_hosts] table.
    @param servers: DNS servers to ask; empty means the system's
        (/etc/resolv.conf and /etc/hosts).
    """

    def __init__(
        self,
        static: dict[str, tuple[Address, ...]],
        servers: tuple[Address, ...],
        reactor: Any,
        random: Any,
    ) -> None:
        self._static = static
        self._random = random
        self._reactor = reactor
        self._dns: Any = None
        self._servers = [(a.host, a.port) for a in servers]

    def _resolver(self) -> Any:
        # Built on first use: a node that only uses its static table never
        # reads the system's resolver configuration.
        if self._dns is None:
            if self._servers:
                self._dns = client.Resolver(servers=self._servers, reactor=self._reactor)
            else:
                self._dns = client.createResolver(reactor=self._reactor)
        return self._dns

    @defer.inlineCallbacks
    def resolve(self, domain: str):
        """
        @return: a Deferred firing with a non-empty list of L{Target}s.
        @raise NoService: (through the Deferred) when there is none.
        """
        if domain in self._static:
            return [Target(a.host, a.port) for a in self._static[domain]]
        resolver = self._resolver()
        ace = domain.encode("idna").decode("ascii")
        queries = [
            self._srv(resolver, f"_xmpps-server._tcp.{ace}", True),
            self._srv(resolver, f"_xmpp-server._tcp.{ace}", False),
        ]
        results = yield defer.gatherResults(queries)
        records = [entry for result in results for entry in result]
        if any(str(record.target) in ("", ".") for record, _ in records):
            if len(records) == 1:
                raise NoService(f"{domain} says it offers no XMPP server (SRV target '.')")
            records = [entry for entry in records if str(entry[0].target) not in ("", ".")]
        targets = orderRecords(records, self._random) if records else [Target(ace, 5269)]
        return targets

    def _srv(self, resolver: Any, name: str, direct: bool) -> defer.Deferred:
        d = resolver.lookupService(name, timeout=DNS_TIMEOUTS)

        def answered(result: Any) -> list[tuple[dns.Record_SRV, bool]]:
            answers = result[0]
            return [
                (answer.payload, direct)
                for answer in answers
                if answer.type == dns.SRV
            ]

        def failed(reason: Any) -> list:
            # No such name, no answer, or no server reachable: fall back to
            # the domain itself (whose address look-up then decides).
            return []

        d.addCallbacks(answered, failed)
        return d

    @defer.inlineCallbacks
    def address(self, host: str):
        """
        The IP address to connect to for a target host name, looked up
        through the same resolver (never the machine's own stub when
        DNS servers are configured).
        """
        if isAddress(host):
            return host
        resolver = self._resolver()
        try:
            address = yield resolver.getHostByName(host, timeout=DNS_TIMEOUTS)
        except Exception as e:
            raise NoService(f"cannot resolve {host}: {type(e).__name__}")
        return address
