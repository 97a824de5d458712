# -*- test-case-name: tests.s2s.test_streams -*-
"""
The receiving side of s2s streams over an in-memory transport: stream
errors for bad headers and unauthorised stanzas, dialback verification
answers, the features offered, and the restricted XML rules.
"""

from __future__ import annotations

from twisted.internet.testing import StringTransport
from twisted.trial import unittest

from tests.support.harness import Harness, parseStanza
from xmuc.core.jid import parseJID
from xmuc.s2s.dialback import dialbackKey
from xmuc.s2s.incoming import IncomingStream
from xmuc.s2s.manager import S2SManager
from xmuc.s2s.tls import PeerVerifier

HEADER = (
    "<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' "
    "xmlns:db='jabber:server:dialback' from='{sender}' to='{to}' version='1.0'>"
)


class IncomingStreamTests(unittest.TestCase):
    def setUp(self) -> None:
        self.harness = Harness(domain="a.test", config="[s2s]\ndialback_secret = s3cret\nrequire_tls = false\n")
        node = self.harness.node
        self.manager = S2SManager(node, None, None, PeerVerifier(""))
        node.router.remote = self.manager

    def connect(self, sender: str = "b.test", to: str = "a.test") -> tuple[IncomingStream, StringTransport]:
        stream = IncomingStream(self.manager)
        transport = StringTransport()
        stream.makeConnection(transport)
        stream.dataReceived(HEADER.format(sender=sender, to=to).encode())
        return stream, transport

    def test_features(self) -> None:
        """
        Without TLS configured and TLS not required, the features offer
        dialback and no SASL mechanism (no certificate to check).
        """
        stream, transport = self.connect()
        data = transport.value().decode()
        self.assertIn("id='", data)
        self.assertIn("<dialback xmlns='urn:xmpp:features:dialback'><errors/></dialback>", data)
        self.assertNotIn("mechanisms", data)

    def test_unknownHost(self) -> None:
        """
        A stream to a domain this node does not serve ends with host-unknown.
        """
        stream, transport = self.connect(to="elsewhere.test")
        self.assertIn(b"<host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>", transport.value())
        self.assertTrue(transport.disconnecting)

    def test_wrongNamespace(self) -> None:
        """
        A stream in jabber:client on the s2s port ends with invalid-namespace.
        """
        stream = IncomingStream(self.manager)
        transport = StringTransport()
        stream.makeConnection(transport)
        stream.dataReceived(HEADER.replace("jabber:server'", "jabber:client'").format(
            sender="b.test", to="a.test").encode())
        self.assertIn(b"<invalid-namespace", transport.value())

    def test_stanzaBeforeAuthentication(self) -> None:
        """
        A stanza on an unauthenticated stream ends it with not-authorized.
        """
        stream, transport = self.connect()
        stream.dataReceived(b"<message from='bob@b.test' to='alice@a.test'><body>x</body></message>")
        self.assertIn(b"<not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>", transport.value())

    def test_missingAddress(self) -> None:
        """
        A stanza without from or to ends the stream with improper-addressing.
        """
        stream, transport = self.connect()
        stream.authenticated["b.test"] = "dialback"
        stream.dataReceived(b"<message to='alice@a.test'><body>x</body></message>")
        self.assertIn(b"<improper-addressing", transport.value())

    def test_stanzaToUnservedDomain(self) -> None:
        """
        A stanza to a domain this node does not serve ends the stream with
        host-unknown.
        """
        stream, transport = self.connect()
        stream.authenticated["b.test"] = "dialback"
        stream.dataReceived(b"<message from='bob@b.test' to='carol@c.test'><body>x</body></message>")
        self.assertIn(b"<host-unknown", transport.value())

    def test_verifyValid(self) -> None:
        """
        A db:verify with the key this node made for that stream is answered
        type='valid'; any other key type='invalid' (XEP-0220 section 2.3).
        """
        stream, transport = self.connect()
        key = dialbackKey("s3cret", "b.test", "a.test", "S1")
        stream.dataReceived(
            f"<db:verify from='b.test' to='a.test' id='S1'>{key}</db:verify>".encode()
        )
        self.assertIn(b"type='valid'", transport.value())
        transport.clear()
        stream.dataReceived(b"<db:verify from='b.test' to='a.test' id='S1'>0badc0de</db:verify>")
        self.assertIn(b"type='invalid'", transport.value())
        self.assertFalse(transport.disconnecting)

    def test_verifyForUnservedDomain(self) -> None:
        """
        A db:verify for a domain not hosted here gets type='error' with
        item-not-found.
        """
        stream, transport = self.connect()
        stream.dataReceived(b"<db:verify from='b.test' to='c.test' id='S1'>k</db:verify>")
        self.assertIn(b"type='error'", transport.value())
        self.assertIn(b"<item-not-found", transport.value())

    def test_dialbackRefusedByPolicy(self) -> None:
        """
        When policy requires valid certificates, a db:result is answered
        type='error' with not-acceptable and nothing is verified.
        """
        self.harness = Harness(
            domain="a.test",
            config="[s2s]\nrequire_tls = false\n[peer:b.test]\nrequire_tls = false\n"
                   "require_valid_certificate = true\n",
        )
        self.manager = S2SManager(self.harness.node, None, None, PeerVerifier(""))
        stream, transport = self.connect()
        self.assertNotIn(b"urn:xmpp:features:dialback", transport.value())
        stream.dataReceived(b"<db:result from='b.test' to='a.test'>k</db:result>")
        self.assertIn(b"<not-acceptable", transport.value())
        self.assertEqual(self.manager.links, {})

    def test_restrictedXML(self) -> None:
        """
        A comment on an s2s stream ends it with restricted-xml.
        """
        stream, transport = self.connect()
        stream.dataReceived(b"<!-- hi -->")
        self.assertIn(b"<restricted-xml", transport.value())

    def test_oversizeStanza(self) -> None:
        """
        A stanza over [s2s] max_stanza_size ends the stream with
        policy-violation, also when it arrives in one read.
        """
        self.harness = Harness(domain="a.test", config="[s2s]\nmax_stanza_size = 10000\nrequire_tls = false\n")
        self.manager = S2SManager(self.harness.node, None, None, PeerVerifier(""))
        stream, transport = self.connect()
        stream.authenticated["b.test"] = "dialback"
        stream.dataReceived(
            b"<message from='bob@b.test' to='alice@a.test'><body>" + b"x" * 12000 + b"</body></message>"
        )
        self.assertIn(b"<policy-violation", transport.value())

    def test_authenticatedStanzaRouted(self) -> None:
        """
        A stanza from an authenticated domain reaches the local user, in
        the client namespace.
        """
        alice = self.harness.login("alice")
        stream, transport = self.connect()
        stream.authenticated["b.test"] = "dialback"
        stream.dataReceived(
            b"<message from='bob@b.test/x' to='alice@a.test/res' type='chat'><body>hi</body></message>"
        )
        data = b"".join(alice.stream.written)
        self.assertIn(b"<body>hi</body>", data)
        self.assertNotIn(b"jabber:server", data)
        [received] = alice.received()
        self.assertEqual(received.uri, "jabber:client")

    def test_unauthenticatedTimeout(self) -> None:
        """
        A peer that does not authenticate within three connect time-outs
        gets connection-timeout.
        """
        stream, transport = self.connect()
        self.harness.clock.advance(29)
        self.assertFalse(transport.disconnecting)
        self.harness.clock.advance(1)
        self.assertIn(b"<connection-timeout", transport.value())

    def test_idleClose(self) -> None:
        """
        An authenticated stream quiet for idle_timeout is closed cleanly;
        traffic postpones that.
        """
        stream, transport = self.connect()
        stream.authenticated["b.test"] = "dialback"
        self.harness.clock.advance(30)
        stream.dataReceived(b" ")
        self.harness.clock.advance(599)
        self.assertFalse(transport.disconnecting)
        self.harness.clock.advance(31)
        self.assertTrue(transport.disconnecting)
        self.assertTrue(transport.value().endswith(b"</stream:stream>"))


class RelayTests(unittest.TestCase):
    def test_noRelay(self) -> None:
        """
        A stanza for a remote domain whose from is not a domain of this
        node is not sent (it would be an open relay, and the peer would end
        the link with invalid-from); it is answered with not-allowed.
        """
        harness = Harness(domain="a.test")
        manager = S2SManager(harness.node, None, None, PeerVerifier(""))
        bounced = []
        harness.node.router.bounce = lambda stanza, condition, text=None: bounced.append(condition)
        stanza = parseStanza("<message from='eve@c.test' to='bob@b.test'><body>x</body></message>")
        manager.receive(stanza, parseJID("bob@b.test"))
        self.assertEqual((bounced, manager.links), (["not-allowed"], {}))
