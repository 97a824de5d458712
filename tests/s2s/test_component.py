# -*- test-case-name: tests.s2s.test_component -*-
"""
External components (XEP-0114) over a real socket.
"""

from __future__ import annotations

import asyncio
import re

from tests.integration.support import EventWaiter, NodeTestCase, asyncTest, readUntil
from xmuc.s2s.component import handshakeDigest

HEADER = (
    b"<stream:stream xmlns='jabber:component:accept' "
    b"xmlns:stream='http://etherx.jabber.org/streams' to='%s'>"
)


class ComponentTests(NodeTestCase):
    extraConfig = (
        "[components]\nlisten = 127.0.0.1:0\n"
        "[component:gw.localhost]\nsecret = sesame\n"
    )

    async def connect(self, host: bytes = b"gw.localhost"):
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", self.service.listening["components"][0].getHost().port
        )
        self.raw.append(writer)
        writer.write(HEADER % host)
        header = (await readUntil(reader, b">")).decode()
        return reader, writer, header

    async def attach(self, secret: str = "sesame"):
        reader, writer, header = await self.connect()
        streamId = re.search(r"id='([^']+)'", header).group(1)
        writer.write(f"<handshake>{handshakeDigest(streamId, secret)}</handshake>".encode())
        return reader, writer, await readUntil(reader, b"handshake")

    @asyncTest
    async def test_traffic(self) -> None:
        """
        After the handshake the component gets stanzas for its host and
        its stanzas reach local users.
        """
        reader, writer, answer = await self.attach()
        self.assertIn("<handshake/>", answer.decode())
        await self.createUser("alice")
        alice = await self.client("alice@localhost/a")
        messages = EventWaiter(alice, "message")
        alice.send_message(mto="bot@gw.localhost", mbody="ping")
        data = (await readUntil(reader, b"</message>")).decode()
        self.assertIn("from='alice@localhost/a'", data)
        self.assertIn("<body>ping</body>", data)
        writer.write(b"<message from='bot@gw.localhost' to='alice@localhost/a'><body>pong</body></message>")
        message = await messages.next(lambda m: m["body"])
        self.assertEqual((message["from"].full, message["body"]), ("bot@gw.localhost", "pong"))

    @asyncTest
    async def test_wrongSecret(self) -> None:
        """
        A wrong handshake ends the stream with not-authorized.
        """
        reader, writer, answer = await self.attach(secret="wrong")
        answer += await readUntil(reader, b"</stream:stream>")
        self.assertIn(b"<not-authorized", answer)

    @asyncTest
    async def test_unknownHost(self) -> None:
        """
        A component for a host that is not configured gets host-unknown.
        """
        reader, writer, header = await self.connect(b"nope.localhost")
        data = header.encode() + await readUntil(reader, b"</stream:stream>")
        self.assertIn(b"<host-unknown", data)

    @asyncTest
    async def test_conflict(self) -> None:
        """
        A second connection for a host already attached gets conflict, and
        the first one stays attached.
        """
        await self.attach()
        reader, writer, answer = await self.attach()
        answer += await readUntil(reader, b"</stream:stream>")
        self.assertIn(b"<conflict", answer)
        self.assertIn("gw.localhost", self.service.components.streams)

    @asyncTest
    async def test_offline(self) -> None:
        """
        A stanza for a configured component that is not connected comes
        back with service-unavailable.
        """
        await self.createUser("alice")
        alice = await self.client("alice@localhost/a")
        errors = EventWaiter(alice, "message_error")
        alice.send_message(mto="bot@gw.localhost", mbody="anyone?")
        error = await errors.next()
        self.assertEqual(error["error"]["condition"], "service-unavailable")

    @asyncTest
    async def test_forgedFrom(self) -> None:
        """
        A stanza from outside the component's host ends its stream with
        invalid-from.
        """
        reader, writer, answer = await self.attach()
        writer.write(b"<message from='admin@localhost' to='alice@localhost'><body>x</body></message>")
        data = await readUntil(reader, b"</stream:stream>")
        self.assertIn(b"<invalid-from", data)
