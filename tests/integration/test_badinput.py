# -*- test-case-name: tests.integration.test_badinput -*-
"""
Bad input over real sockets: each gets its stream error, and the node keeps
serving a slixmpp client logged in beside it. Also a SCRAM-SHA-256-PLUS
login with tls-server-end-point channel binding from a raw client (slixmpp
implements only tls-unique and tls-exporter).
"""

from __future__ import annotations

import base64
import re

from scramp import ScramClient

from tests.integration.support import EventWaiter, NodeTestCase, asyncTest, readUntil
from xmuc.tls import loadCertificateBinding

HEADER = (
    b"<?xml version='1.0'?><stream:stream to='localhost' xmlns='jabber:client' "
    b"xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
)


class BadInputTests(NodeTestCase):
    """
    Each bad input ends only the offending stream.
    """

    extraConfig = "require_tls = false\nmax_stanza_size = 20000\n"

    async def _bystander(self):
        await self.createUser("bob")
        await self.createUser("carol")
        bob = await self.client("bob@localhost/b")
        carol = await self.client("carol@localhost/c")
        return bob, carol

    async def _stillServing(self, bob, carol) -> None:
        messages = EventWaiter(carol, "message")
        bob.send_message(mto="carol@localhost/c", mbody="still here", mtype="chat")
        message = await messages.next()
        self.assertEqual(message["body"], "still here")

    async def _streamError(self, payload: bytes) -> bytes:
        reader, writer = await self.rawConnection()
        writer.write(HEADER)
        await readUntil(reader, b"</stream:features>")
        writer.write(payload)
        return await readUntil(reader, b"</stream:stream>")

    @asyncTest
    async def test_malformedXML(self) -> None:
        """
        Malformed XML ends that stream with not-well-formed.
        """
        bob, carol = await self._bystander()
        data = await self._streamError(b"<message><body>x</mess>")
        self.assertIn(b"<not-well-formed xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>", data)
        await self._stillServing(bob, carol)

    @asyncTest
    async def test_invalidUTF8(self) -> None:
        """
        Bytes that are not UTF-8 end that stream with not-well-formed.
        """
        bob, carol = await self._bystander()
        data = await self._streamError(b"<message><body>\xff\xfe</body></message>")
        self.assertIn(b"not-well-formed", data)
        await self._stillServing(bob, carol)

    @asyncTest
    async def test_entityDeclaration(self) -> None:
        """
        A DTD with an entity declaration is refused with restricted-xml and
        never expanded.
        """
        bob, carol = await self._bystander()
        reader, writer = await self.rawConnection()
        writer.write(
            b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'aaaaaaaaaa'>]>" + HEADER[21:]
        )
        data = await readUntil(reader, b"</stream:stream>")
        self.assertIn(b"restricted-xml", data)
        self.assertNotIn(b"aaaaaaaaaa", data)
        await self._stillServing(bob, carol)

    @asyncTest
    async def test_oversizeStanza(self) -> None:
        """
        A stanza over max_stanza_size ends the stream with policy-violation.
        """
        bob, carol = await self._bystander()
        data = await self._streamError(b"<message><body>" + b"x" * 30000 + b"</body></message>")
        self.assertIn(b"policy-violation", data)
        await self._stillServing(bob, carol)

    @asyncTest
    async def test_stanzaBeforeAuthentication(self) -> None:
        """
        A message before authentication ends the stream with not-authorized.
        """
        bob, carol = await self._bystander()
        data = await self._streamError(b"<message to='bob@localhost'><body>hi</body></message>")
        self.assertIn(b"<not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>", data)
        await self._stillServing(bob, carol)

    @asyncTest
    async def test_unknownMechanism(self) -> None:
        """
        An unknown SASL mechanism gets invalid-mechanism, and the stream
        stays open for another try.
        """
        reader, writer = await self.rawConnection()
        writer.write(HEADER)
        await readUntil(reader, b"</stream:features>")
        writer.write(b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='X-NOPE'/>")
        data = await readUntil(reader, b"</failure>")
        self.assertIn(b"<invalid-mechanism/>", data)
        self.assertFalse(writer.is_closing())


class RequiredTLSTests(NodeTestCase):
    """
    With the default configuration TLS comes before authentication.
    """

    @asyncTest
    async def test_authBeforeTLS(self) -> None:
        """
        SASL before STARTTLS is refused with encryption-required.
        """
        reader, writer = await self.rawConnection()
        writer.write(HEADER)
        features = await readUntil(reader, b"</stream:features>")
        self.assertIn(b"<required/>", features)
        writer.write(b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGEAYg==</auth>")
        data = await readUntil(reader, b"</failure>")
        self.assertIn(b"<encryption-required/>", data)

    @asyncTest
    async def test_scramPlusWithServerEndPoint(self) -> None:
        """
        A raw client on the direct-TLS port logs in with
        SCRAM-SHA-256-PLUS, binding to the server certificate
        (tls-server-end-point), and the server's final message verifies.
        """
        await self.createUser("alice", "s3cret")
        reader, writer = await self.rawConnection(tls=True)
        writer.write(HEADER)
        features = await readUntil(reader, b"</stream:features>")
        self.assertIn(b"<mechanism>SCRAM-SHA-256-PLUS</mechanism>", features)
        self.assertIn(b"<channel-binding type='tls-server-end-point'/>", features)
        binding = loadCertificateBinding(self.config.certificatePath)
        client = ScramClient(
            ["SCRAM-SHA-256-PLUS"], "alice", "s3cret",
            channel_binding=("tls-server-end-point", binding),
        )
        first = base64.b64encode(client.get_client_first().encode()).decode()
        writer.write(
            f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' "
            f"mechanism='SCRAM-SHA-256-PLUS'>{first}</auth>".encode()
        )
        challenge = await readUntil(reader, b"</challenge>")
        serverFirst = re.search(rb"<challenge[^>]*>([^<]+)</challenge>", challenge).group(1)
        client.set_server_first(base64.b64decode(serverFirst).decode())
        final = base64.b64encode(client.get_client_final().encode()).decode()
        writer.write(f"<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>{final}</response>".encode())
        success = await readUntil(reader, b"</success>")
        serverFinal = re.search(rb"<success[^>]*>([^<]+)</success>", success).group(1)
        client.set_server_final(base64.b64decode(serverFinal).decode())
