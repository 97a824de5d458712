# -*- test-case-name: tests.s2s.test_badinput -*-
"""
Bad input over s2s: each case ends as RFC 6120 and XEP-0220 say, and the
link between the two real nodes keeps working beside it.

The bad peer is a raw connection driven by the test (asyncio streams, TLS
with a client certificate from the test CA where it needs one).
"""

from __future__ import annotations

import asyncio
import ssl

from tests.integration.support import TIMEOUT, EventWaiter, asyncTest, readUntil
from tests.s2s.support import FederationTestCase

HEADER = (
    "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
    "xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' "
    "from='{sender}' to='{to}' version='1.0'>"
)


class RawPeer:
    """
    A hand-driven s2s peer.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    def send(self, text: str) -> None:
        self.writer.write(text.encode("utf-8"))

    async def until(self, *markers: str) -> str:
        """
        Read until one of C{markers} appears (bounded by the test time-out).
        """
        data = b""
        while not any(marker.encode("utf-8") in data for marker in markers):
            chunk = await asyncio.wait_for(self.reader.read(4096), TIMEOUT)
            if not chunk:
                break
            data += chunk
        return data.decode("utf-8", "replace")

    async def open(self, sender: str, to: str) -> str:
        self.send(HEADER.format(sender=sender, to=to))
        return await self.until("</stream:features>", "<stream:features/>")

    async def startTLS(self, context: ssl.SSLContext, sender: str, to: str) -> str:
        self.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        await self.until("<proceed")
        await self.writer.start_tls(context, server_hostname=to)
        return await self.open(sender, to)


class _BadPeerCase(FederationTestCase):
    async def peer(self, domain: str = "a.test") -> RawPeer:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.s2sPorts[domain])
        self.raw.append(writer)
        return RawPeer(reader, writer)

    def peerContext(self, certDomain: str | None = None) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.ca.path)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        if certDomain is not None:
            cert, key = self.ca.issue(certDomain)
            context.load_cert_chain(cert, key)
        return context

    async def assertStillFederating(self) -> None:
        """
        alice@a.test and bob@b.test can still exchange a message.
        """
        alice = await self.client("alice@a.test/check")
        bob = await self.client("bob@b.test/check")
        messages = EventWaiter(bob, "message")
        alice.send_message(mto="bob@b.test/check", mbody="still here", mtype="chat")
        message = await messages.next(lambda m: m["body"])
        self.assertEqual(message["body"], "still here")

    async def authenticatedPeer(self, domain: str = "evil.test") -> RawPeer:
        """
        A raw peer authenticated to a.test as C{domain} with SASL EXTERNAL
        (its certificate is from the CA the nodes trust).
        """
        peer = await self.peer()
        await peer.open(domain, "a.test")
        features = await peer.startTLS(self.peerContext(domain), domain, "a.test")
        self.assertIn("<mechanism>EXTERNAL</mechanism>", features)
        peer.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>=</auth>")
        self.assertIn("<success", await peer.until("success"))
        await peer.open(domain, "a.test")
        return peer


class CertificateBadInputTests(_BadPeerCase):
    """
    Nodes that accept only valid certificates.
    """

    s2sConfig = "require_valid_certificate = true\ndialback = false\nrate_limit = 2000\nrate_burst = 4000\n"

    @asyncTest
    async def test_certificateForAnotherDomain(self) -> None:
        """
        A peer claiming b.test with a certificate for evil.test is offered
        neither EXTERNAL nor dialback, its EXTERNAL attempt fails with
        not-authorized, and a stanza then ends its stream with
        not-authorized.
        """
        peer = await self.peer()
        await peer.open("b.test", "a.test")
        features = await peer.startTLS(self.peerContext("evil.test"), "b.test", "a.test")
        self.assertNotIn("EXTERNAL", features)
        self.assertNotIn("urn:xmpp:features:dialback", features)
        peer.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>"
                  "Yi50ZXN0</auth>")
        self.assertIn("<not-authorized/>", await peer.until("</failure>"))
        peer.send("<message from='bob@b.test' to='alice@a.test'><body>x</body></message>")
        data = await peer.until("</stream:stream>")
        self.assertIn("<not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>", data)
        await self.assertStillFederating()

    @asyncTest
    async def test_impostorServer(self) -> None:
        """
        When a.test connects to what it was told is b.test and finds a
        certificate for another domain, the link fails and the message
        comes back with remote-server-not-found and a plain text (the
        certificate's problem is for the log).
        """
        async def impostor(reader, writer) -> None:
            self.raw.append(writer)
            await readUntil(reader, b">")
            writer.write(HEADER.format(sender="b.test", to="a.test").encode()
                         + b"<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
                           b"</stream:features>")
            await readUntil(reader, b"<starttls")
            writer.write(b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*self.ca.issue("evil.test"))
            await writer.start_tls(context)
            await readUntil(reader, b"version")
            writer.write(HEADER.format(sender="b.test", to="a.test").encode()
                         + b"<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
                           b"<mechanism>EXTERNAL</mechanism></mechanisms></stream:features>")
            await readUntil(reader, b"</auth>")

        server = await asyncio.start_server(impostor, "127.0.0.1", 0)
        self.addCleanup(server.close)
        self.addHost("b.test", server.sockets[0].getsockname()[1])
        alice = await self.client("alice@a.test/phone")
        errors = EventWaiter(alice, "message_error")
        alice.send_message(mto="bob@b.test", mbody="hi", mtype="chat")
        error = await errors.next()
        self.assertEqual(error["error"]["condition"], "remote-server-not-found")
        self.assertEqual(error["error"]["text"], "The server b.test could not be reached")

    @asyncTest
    async def test_forgedFrom(self) -> None:
        """
        A stanza whose from is not the domain the stream authenticated ends
        the stream with invalid-from, and is not delivered.
        """
        alice = await self.client("alice@a.test/phone")
        messages = EventWaiter(alice, "message")
        peer = await self.authenticatedPeer("evil.test")
        peer.send("<message from='bob@b.test' to='alice@a.test/phone' type='chat'>"
                  "<body>forged</body></message>")
        data = await peer.until("</stream:stream>")
        self.assertIn("<invalid-from xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>", data)
        bob = await self.client("bob@b.test/laptop")
        bob.send_message(mto="alice@a.test/phone", mbody="real", mtype="chat")
        message = await messages.next(lambda m: m["body"])
        self.assertEqual(message["body"], "real")

    @asyncTest
    async def test_closedMidStanza(self) -> None:
        """
        A peer that closes in the middle of a stanza loses that stanza and
        nothing else; the node goes on federating.
        """
        alice = await self.client("alice@a.test/phone")
        messages = EventWaiter(alice, "message")
        peer = await self.authenticatedPeer("evil.test")
        peer.send("<message from='mallory@evil.test' to='alice@a.test/phone' type='chat'><body>hal")
        await peer.writer.drain()
        peer.writer.close()
        await self.assertStillFederating()
        bob = self.clients[-1]
        bob.send_message(mto="alice@a.test/phone", mbody="after", mtype="chat")
        message = await messages.next(lambda m: m["body"])
        self.assertEqual((message["from"].bare, message["body"]), ("bob@b.test", "after"))

    @asyncTest
    async def test_flood(self) -> None:
        """
        A peer sending faster than [s2s] rate_limit has its reading paused;
        the other link is unaffected.
        """
        peer = await self.authenticatedPeer("evil.test")
        filler = "<presence from='m@evil.test' to='nobody@a.test' type='probe'/>" * 400
        for _ in range(5):
            peer.send(filler)
        await peer.writer.drain()
        streams = [s for s in self.node("a.test").s2s.incoming if "evil.test" in s.authenticated]
        self.assertEqual(len(streams), 1)
        await self.assertStillFederating()
        self.assertTrue(streams[0].readingPaused)


class DialbackBadInputTests(_BadPeerCase):
    """
    Nodes with self-signed certificates, which rely on dialback.
    """

    certificates = "self"

    @asyncTest
    async def test_dialbackKeyDoesNotVerify(self) -> None:
        """
        A peer claiming b.test with a key b.test never made is answered
        type='invalid' (a.test asked b.test, XEP-0220 section 2.4) and its
        stream is closed.
        """
        peer = await self.peer()
        await peer.open("b.test", "a.test")
        features = await peer.startTLS(self.peerContext(), "b.test", "a.test")
        self.assertIn("urn:xmpp:features:dialback", features)
        peer.send("<db:result from='b.test' to='a.test'>00000000deadbeef</db:result>")
        data = await peer.until("</stream:stream>")
        self.assertIn("type='invalid'", data)
        await self.assertStillFederating()


class TimeoutTests(FederationTestCase):
    """
    A peer that accepts connections and never answers.
    """

    s2sConfig = "connect_timeout = 1\n"

    @asyncTest
    async def test_peerNeverAnswers(self) -> None:
        """
        A message to a server that never answers comes back with
        remote-server-timeout after connect_timeout.
        """
        connected = []

        async def silent(reader, writer) -> None:
            connected.append(writer)
            self.raw.append(writer)

        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        self.addCleanup(server.close)
        self.addHost("silent.test", server.sockets[0].getsockname()[1])
        alice = await self.client("alice@a.test/phone")
        errors = EventWaiter(alice, "message_error")
        alice.send_message(mto="someone@silent.test", mbody="hello?", mtype="chat")
        error = await errors.next()
        self.assertEqual(error["error"]["condition"], "remote-server-timeout")
        self.assertEqual(len(connected), 1)
        self.assertEqual(self.node("a.test").s2s.linkState("silent.test"), "down")
