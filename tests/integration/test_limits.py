# -*- test-case-name: tests.integration.test_limits -*-
"""
Parse limits and timeouts over real loopback sockets, with Twisted's real
TLS layer: many connections stalled in a TLS handshake are all closed by
the node once their timeout passes, and a deeply nested stanza from an
unauthenticated client ends only that stream.
"""

from __future__ import annotations

import asyncio

from tests.integration.support import NodeTestCase, asyncTest, readUntil, wait

HEADER = (
    b"<?xml version='1.0'?><stream:stream to='localhost' xmlns='jabber:client' "
    b"xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
)
STARTTLS = b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
CONNECTIONS = 50


async def closedByPeer(reader: asyncio.StreamReader) -> None:
    """
    Return once the other end has closed or reset the connection.
    """
    try:
        while await reader.read(65536):
            pass
    except ConnectionError:
        pass


class StalledTLSTests(NodeTestCase):
    """
    Clients that stop in the middle of a TLS handshake: after C{<proceed/>}
    on STARTTLS, or right after connecting to a direct-TLS port. Here
    C{auth_timeout} (1 s) ends them, before the 10 s handshake timeout.
    """

    extraConfig = "require_tls = false\nauth_timeout = 1\n"

    async def stalledAfterProceed(self) -> list[asyncio.StreamReader]:
        readers = []
        for _ in range(CONNECTIONS):
            reader, writer = await self.rawConnection()
            writer.write(HEADER)
            await readUntil(reader, b"</stream:features>")
            writer.write(STARTTLS)
            self.assertIn(b"<proceed", await readUntil(reader, b"<proceed"))
            readers.append(reader)
        return readers

    @asyncTest
    async def test_silentAfterProceed(self) -> None:
        """
        Fifty clients silent after C{<proceed/>} are all disconnected by
        the node once the timeout passes.
        """
        readers = await self.stalledAfterProceed()
        await wait(asyncio.gather(*(closedByPeer(r) for r in readers)))

    @asyncTest
    async def test_directTLSSilent(self) -> None:
        """
        Fifty connections to the direct-TLS port that never send a
        ClientHello are all disconnected.
        """
        readers = []
        for _ in range(CONNECTIONS):
            reader, writer = await asyncio.open_connection("127.0.0.1", self.directTLSPort)
            self.raw.append(writer)
            readers.append(reader)
        await wait(asyncio.gather(*(closedByPeer(r) for r in readers)))


class HandshakeTimeoutTests(StalledTLSTests):
    """
    The same with C{tls_handshake_timeout} (1 s) ending them, before the
    authentication timeout.
    """

    extraConfig = "require_tls = false\nauth_timeout = 300\ntls_handshake_timeout = 1\n"


class NestingTests(NodeTestCase):
    """
    The deep-nesting stanza of xmuc issue 8 over a real socket.
    """

    extraConfig = "require_tls = false\n"

    @asyncTest
    async def test_deepNestingBeforeAuthentication(self) -> None:
        """
        85,000 nested elements from an unauthenticated client end its
        stream with C{policy-violation}; a client connected beside it can
        still open a stream.
        """
        reader, writer = await self.rawConnection()
        writer.write(HEADER)
        await readUntil(reader, b"</stream:features>")
        writer.write(b"<message>" + b"<a>" * 85000)
        data = await readUntil(reader, b"</stream:stream>")
        self.assertIn(b"<policy-violation", data)
        await wait(closedByPeer(reader))
        other, otherWriter = await self.rawConnection()
        otherWriter.write(HEADER)
        self.assertIn(b"<mechanism>", await readUntil(other, b"</stream:features>"))
