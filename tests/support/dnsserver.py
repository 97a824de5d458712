"""
A DNS server for tests, on loopback, answering from a fixed table of
records (twisted.names): SRV and A records for the test domains, so that
neither xmuc nor Prosody asks the machine's resolver.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import defer
from twisted.names import common, dns, error, server


class StaticResolver(common.ResolverBase):
    """
    Answers from C{records}: (name, type) -> list of record payloads.
    """

    def __init__(self) -> None:
        super().__init__()
        self.records: dict[tuple[bytes, int], list[Any]] = {}

    def add(self, name: str, payload: Any) -> None:
        key = (name.lower().encode("ascii"), payload.TYPE)
        self.records.setdefault(key, []).append(payload)

    def addServer(self, domain: str, host: str, port: int, address: str) -> None:
        """
        C{_xmpp-server._tcp.domain} SRV pointing at C{host:port}, and
        C{host} A C{address}.
        """
        self.add(f"_xmpp-server._tcp.{domain}", dns.Record_SRV(0, 5, port, host, ttl=60))
        self.add(host, dns.Record_A(address, ttl=60))

    def _lookup(self, name: bytes, cls: int, type: int, timeout: Any) -> defer.Deferred:
        name = name.lower()
        if type == dns.ALL_RECORDS:
            payloads = [p for (n, _), ps in self.records.items() if n == name for p in ps]
        else:
            payloads = self.records.get((name, type))
        if payloads:
            answers = [
                dns.RRHeader(name, payload.TYPE, cls, 60, payload, auth=True)
                for payload in payloads
            ]
            return defer.succeed((answers, [], []))
        # A name that exists, or has names below it (an empty
        # non-terminal such as _tcp.a.test), answers empty; only names
        # outside the table are NXDOMAIN.
        if any(key[0] == name or key[0].endswith(b"." + name) for key in self.records):
            return defer.succeed(([], [], []))
        return defer.fail(error.DomainError(name))


def listenDNS(reactor: Any, resolver: StaticResolver, port: int = 0) -> Any:
    """
    Serve C{resolver} over UDP on 127.0.0.1; returns the listening port.
    """
    factory = server.DNSServerFactory(clients=[resolver])
    return reactor.listenUDP(port, dns.DNSDatagramProtocol(factory), interface="127.0.0.1")
