# -*- test-case-name: tests.c2s.test_stream -*-
"""
Tests for L{xmuc.c2s.stream}: stream headers, features, the XML a client
may send, stanza size and closing (timeouts and rate limiting are in
L{tests.c2s.test_limits}).
"""

from __future__ import annotations

from twisted.trial import unittest

from tests.c2s import (
    NS_BIND,
    NS_SASL,
    NS_SASL_CB,
    NS_SESSION,
    NS_STREAMS,
    NS_TLS,
    StreamClient,
    header,
    streamErrorCondition,
)
from tests.support.harness import Harness
from xmuc.c2s.parser import ParserPool
from xmuc.c2s.stream import C2SFactory

PLAINTEXT = "[c2s]\nrequire_tls = false\n"


def mechanisms(features) -> list[str]:
    """
    The SASL mechanism names in a features element.
    """
    [offer] = list(features.elements(NS_SASL, "mechanisms"))
    return [str(mechanism) for mechanism in offer.elements()]


def children(features) -> set[tuple[str, str]]:
    """
    The qualified names of the features offered.
    """
    return {(child.uri, child.name) for child in features.elements()}


class HeaderTests(unittest.TestCase):
    """
    The stream header a client opens with.
    """

    def setUp(self) -> None:
        self.harness = Harness(config=PLAINTEXT)
        self.client = StreamClient(self.harness)

    def assertStreamError(self, condition: str) -> None:
        [error] = self.client.received()
        self.assertEqual(streamErrorCondition(error), condition)
        self.assertTrue(self.client.reader.ended)
        self.assertTrue(self.client.transport.disconnecting)
        self.assertTrue(self.client.stream.closed)

    def test_answer(self) -> None:
        """
        A good header is answered with a header from the domain, version
        1.0 and a fresh id, followed by the features.
        """
        features = self.client.open()
        [answer] = self.client.reader.headers
        self.assertEqual((answer.uri, answer.name), (NS_STREAMS, "stream"))
        self.assertEqual(answer["from"], "localhost")
        self.assertEqual(answer["version"], "1.0")
        self.assertEqual(answer["id"], self.client.stream.streamId)
        self.assertEqual(len(answer["id"]), 16)
        self.assertEqual(features.name, "features")
        self.assertFalse(self.client.transport.disconnecting)

    def test_wrongStreamNamespace(self) -> None:
        """
        A root element outside the streams namespace is
        C{invalid-namespace}, after the server's own header.
        """
        self.client.send(b"<stream xmlns='jabber:client' to='localhost' version='1.0'>")
        self.assertStreamError("invalid-namespace")
        self.assertEqual(len(self.client.reader.headers), 1)

    def test_wrongContentNamespace(self) -> None:
        """
        A default namespace other than C{jabber:client} (here the server
        namespace) is C{invalid-namespace}.
        """
        self.client.send(header(xmlns="jabber:server"))
        self.assertStreamError("invalid-namespace")

    def test_wrongHost(self) -> None:
        """
        A C{to} naming a domain the node does not serve is C{host-unknown}.
        """
        self.client.send(header(to="example.org"))
        self.assertStreamError("host-unknown")

    def test_missingHost(self) -> None:
        """
        A header without C{to} is C{host-unknown}: the client must say
        which domain it wants (RFC 6120 section 4.7.2).
        """
        self.client.send(header(to=None))
        self.assertStreamError("host-unknown")

    def test_unpreparedHost(self) -> None:
        """
        A C{to} that prepares to the domain (different case) is accepted.
        """
        self.client.send(header(to="LOCALHOST"))
        [features] = self.client.received()
        self.assertEqual(features.name, "features")

    def test_missingVersion(self) -> None:
        """
        A header without C{version} (a pre-RFC 3920 client) is
        C{unsupported-version}.
        """
        self.client.send(header(version=None))
        self.assertStreamError("unsupported-version")

    def test_oldVersion(self) -> None:
        """
        Version 0.9 is C{unsupported-version}.
        """
        self.client.send(header(version="0.9"))
        self.assertStreamError("unsupported-version")

    def test_garbageVersion(self) -> None:
        """
        A version that is not a number is C{unsupported-version}.
        """
        self.client.send(header(version="x.y"))
        self.assertStreamError("unsupported-version")

    def test_laterMinorVersion(self) -> None:
        """
        Version 1.1 is accepted (RFC 6120 section 4.7.5: same major).
        """
        self.client.send(header(version="1.1"))
        [features] = self.client.received()
        self.assertEqual(features.name, "features")


class FeaturesTests(unittest.TestCase):
    """
    The features offered at each step.
    """

    def test_startTLSRequired(self) -> None:
        """
        With TLS required and a certificate, the first features are
        STARTTLS marked required, with no mechanisms.
        """
        harness = Harness(tlsContextFactory=object(), channelBinding=b"cb")
        features = StreamClient(harness).open()
        self.assertNotIn((NS_SASL, "mechanisms"), children(features))
        [starttls] = list(features.elements(NS_TLS, "starttls"))
        self.assertEqual([c.name for c in starttls.elements()], ["required"])

    def test_startTLSOptional(self) -> None:
        """
        With TLS optional, STARTTLS is offered without C{required} beside
        the non-PLUS mechanisms (PLAIN is not offered in plaintext).
        """
        harness = Harness(config=PLAINTEXT, tlsContextFactory=object(), channelBinding=b"cb")
        features = StreamClient(harness).open()
        [starttls] = list(features.elements(NS_TLS, "starttls"))
        self.assertEqual(list(starttls.elements()), [])
        self.assertEqual(mechanisms(features), ["SCRAM-SHA-256", "SCRAM-SHA-1"])
        self.assertNotIn((NS_SASL_CB, "sasl-channel-binding"), children(features))

    def test_underTLS(self) -> None:
        """
        Under TLS the -PLUS mechanisms come first, PLAIN is offered, no
        STARTTLS, and XEP-0440 names tls-server-end-point.
        """
        harness = Harness(tlsContextFactory=object(), channelBinding=b"cb")
        features = StreamClient(harness, directTLS=True).open()
        self.assertEqual(
            mechanisms(features),
            ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"],
        )
        self.assertNotIn((NS_TLS, "starttls"), children(features))
        [cb] = list(features.elements(NS_SASL_CB, "sasl-channel-binding"))
        [binding] = list(cb.elements())
        self.assertEqual(
            (binding.name, binding["type"]), ("channel-binding", "tls-server-end-point")
        )

    def test_plainDisabled(self) -> None:
        """
        With C{allow_plain = false} PLAIN is not offered even under TLS.
        """
        harness = Harness(config="[c2s]\nallow_plain = false\n", channelBinding=b"cb")
        features = StreamClient(harness, directTLS=True).open()
        self.assertNotIn("PLAIN", mechanisms(features))

    def test_afterAuth(self) -> None:
        """
        After authentication the features are bind and an optional legacy
        session, with no mechanisms.
        """
        harness = Harness(config=PLAINTEXT)
        harness.createUser("alice")
        client = StreamClient(harness)
        features = client.authenticate()
        self.assertEqual(
            children(features)
            & {(NS_BIND, "bind"), (NS_SESSION, "session"), (NS_SASL, "mechanisms")},
            {(NS_BIND, "bind"), (NS_SESSION, "session")},
        )
        self.assertEqual([c.name for c in features.session.elements()], ["optional"])
        self.assertEqual(len(client.reader.headers), 2)
        self.assertNotEqual(client.reader.headers[0]["id"], client.reader.headers[1]["id"])


class RestrictedInputTests(unittest.TestCase):
    """
    What a client may not send.
    """

    def setUp(self) -> None:
        self.harness = Harness(config=PLAINTEXT + "max_stanza_size = 10000\n")
        self.harness.createUser("alice")
        self.client = StreamClient(self.harness)

    def assertStreamError(self, condition: str) -> list:
        elements = self.client.received()
        self.assertEqual(streamErrorCondition(elements[-1]), condition)
        self.assertTrue(self.client.transport.disconnecting)
        return elements

    def test_stanzaBeforeAuth(self) -> None:
        """
        A message before authentication is the stream error
        C{not-authorized}, and is not routed.
        """
        self.client.open()
        self.client.send("<message to='alice@localhost'><body>x</body></message>")
        self.assertStreamError("not-authorized")

    def test_iqBeforeBind(self) -> None:
        """
        An IQ other than bind after authentication but before binding is
        C{not-authorized}.
        """
        self.client.authenticate()
        self.client.send("<iq type='get' id='1'><query xmlns='jabber:iq:roster'/></iq>")
        self.assertStreamError("not-authorized")

    def test_malformed(self) -> None:
        """
        Mismatched tags are C{not-well-formed}.
        """
        self.client.open()
        self.client.send("<message><body></message>")
        self.assertStreamError("not-well-formed")

    def test_invalidUTF8(self) -> None:
        """
        Bytes that are not UTF-8 are C{not-well-formed}.
        """
        self.client.open()
        self.client.send(b"<message><body>\xff\xfe</body></message>")
        self.assertStreamError("not-well-formed")

    def test_doctype(self) -> None:
        """
        A DTD with an entity declaration is C{restricted-xml}, and the
        entity is never expanded into anything the server acts on.
        """
        seen = []
        self.harness.node.hooks.add("c2s-outbound", lambda s, stanza: seen.append(stanza))
        self.client.send(
            b"<?xml version='1.0'?><!DOCTYPE stream:stream ["
            b"<!ENTITY boom 'EXPANDED'>]>" + header()
        )
        self.client.send(b"<message><body>&boom;</body></message>")
        elements = self.assertStreamError("restricted-xml")
        self.assertNotIn(b"EXPANDED", b"".join(e.toXml().encode() for e in elements))
        self.assertEqual(seen, [])

    def test_comment(self) -> None:
        """
        An XML comment is C{restricted-xml} (RFC 6120 section 11.1).
        """
        self.client.open()
        self.client.send("<!-- hello -->")
        self.assertStreamError("restricted-xml")

    def test_processingInstruction(self) -> None:
        """
        A processing instruction is C{restricted-xml}.
        """
        self.client.open()
        self.client.send("<?foo bar?>")
        self.assertStreamError("restricted-xml")

    def test_undeclaredEntity(self) -> None:
        """
        A reference to an entity that was never declared is
        C{not-well-formed}.
        """
        self.client.open()
        self.client.send("<message><body>&xxe;</body></message>")
        self.assertStreamError("not-well-formed")

    def test_oversizeInPieces(self) -> None:
        """
        A stanza over C{max_stanza_size} arriving in several reads is
        C{policy-violation}.
        """
        self.client.open()
        self.client.send("<message><body>")
        for _ in range(5):
            self.client.send("x" * 4000)
        self.assertStreamError("policy-violation")

    def test_oversizeInOneRead(self) -> None:
        """
        A whole stanza over C{max_stanza_size} arriving in one read is
        C{policy-violation} too.
        """
        self.client.open()
        self.client.send("<message><body>" + "x" * 12000 + "</body></message>")
        self.assertStreamError("policy-violation")

    def test_underLimit(self) -> None:
        """
        Several stanzas that together exceed the limit but are each under
        it, in one read, are fine.
        """
        self.client.login()
        stanza = "<message to='alice@localhost'><body>" + "x" * 4000 + "</body></message>"
        self.client.send(stanza * 4)
        self.assertFalse(self.client.transport.disconnecting)

    def test_unsupportedElement(self) -> None:
        """
        A top-level element that is no stanza nor negotiation is
        C{unsupported-stanza-type}.
        """
        self.client.open()
        self.client.send("<foo xmlns='urn:example'/>")
        self.assertStreamError("unsupported-stanza-type")

    def test_stanzaInWrongNamespace(self) -> None:
        """
        A C{message} in a namespace other than jabber:client, after
        binding, is C{unsupported-stanza-type}.
        """
        self.client.login()
        self.client.send("<message xmlns='jabber:server' to='alice@localhost'/>")
        self.assertStreamError("unsupported-stanza-type")


class SharedParserTests(unittest.TestCase):
    """
    Bound streams borrow their parser from a shared pool for each read.
    """

    def setUp(self) -> None:
        self.harness = Harness(config=PLAINTEXT)
        self.harness.createUser("alice")
        self.harness.createUser("bob")
        self.pool = ParserPool(self.harness.config.c2s.max_stanza_size)
        self.alice = StreamClient(self.harness, parsers=self.pool)
        self.bob = StreamClient(self.harness, parsers=self.pool)
        self.alice.login("alice")
        self.bob.login("bob")

    def test_idleSessionsHoldNoParser(self) -> None:
        """
        A bound session gives its parser to the pool and holds none between
        reads; one still negotiating keeps its own.
        """
        self.assertTrue(self.alice.stream.parserReleased)
        self.assertTrue(self.bob.stream.parserReleased)
        self.assertEqual(self.pool.idle, 2)
        self.alice.send("<presence/>")
        self.assertEqual(self.pool.idle, 2)
        other = StreamClient(self.harness)
        other.open()
        self.assertFalse(other.stream.parserReleased)

    def test_splitStanzasInterleaved(self) -> None:
        """
        Stanzas of two sessions, each split across reads and interleaved,
        are parsed in their own streams and delivered.
        """
        self.alice.send("<message to='bob@localhost/res' id='a1' type='chat'><bo")
        self.bob.send("<message to='alice@localhost/res' id='b1' type='chat'><body>to")
        self.alice.send("dy>hi bob</body></message>")
        self.bob.send(" alice</body></message>")
        [toBob] = self.bob.received()
        [toAlice] = self.alice.received()
        self.assertEqual(
            (toBob.uri, toBob["from"], str(toBob.body)),
            ("jabber:client", "alice@localhost/res", "hi bob"),
        )
        self.assertEqual(
            (toAlice["from"], str(toAlice.body)), ("bob@localhost/res", "to alice")
        )
        self.assertTrue(self.alice.stream.parserReleased)
        self.assertTrue(self.bob.stream.parserReleased)

    def test_factoryPool(self) -> None:
        """
        The streams a factory builds share its pool, which a second factory
        (the direct-TLS listener) can be given too.
        """
        factory = C2SFactory(self.harness.node)
        direct = C2SFactory(self.harness.node, directTLS=True, parsers=factory.parsers)
        streams = [factory.buildProtocol(None), direct.buildProtocol(None)]
        self.assertEqual({id(stream._parsers) for stream in streams}, {id(factory.parsers)})

    def test_closeWhileShared(self) -> None:
        """
        A bound session's closing tag, parsed by a borrowed parser, closes
        the stream.
        """
        self.alice.send("</stream:stream>")
        self.assertEqual(self.alice.received(), [])
        self.assertTrue(self.alice.reader.ended)
        self.assertTrue(self.alice.transport.disconnecting)


class CloseTests(unittest.TestCase):
    """
    The end of a stream.
    """

    def setUp(self) -> None:
        self.harness = Harness(config=PLAINTEXT)
        self.harness.createUser("alice")
        self.client = StreamClient(self.harness)

    def test_clientCloses(self) -> None:
        """
        The client's C{</stream:stream>} is answered with the server's and
        the connection is closed; the session leaves the router.
        """
        self.client.login()
        self.client.send("</stream:stream>")
        self.assertEqual(self.client.received(), [])
        self.assertTrue(self.client.reader.ended)
        self.assertTrue(self.client.transport.disconnecting)
        self.assertEqual(list(self.harness.node.router.sessionsOf("alice@localhost")), [])

    def test_connectionLost(self) -> None:
        """
        A dropped connection removes the bound session from the router and
        cancels the idle timer.
        """
        self.client.login()
        router = self.harness.node.router
        self.assertIsNotNone(router.session("alice@localhost", "res"))
        self.client.stream.connectionLost()
        self.assertIsNone(router.session("alice@localhost", "res"))
        self.assertEqual(self.harness.clock.getDelayedCalls(), [])

    def test_stanzasAfterStreamErrorInSameRead(self) -> None:
        """
        Stanzas that follow, in the same read, one that ended the stream
        are ignored.
        """
        self.client.login()
        self.client.send(
            "<message from='mallory@localhost/x' to='alice@localhost'/>"
            "<message to='alice@localhost'/>"
        )
        [error] = self.client.received()
        self.assertEqual(streamErrorCondition(error), "invalid-from")
        self.assertTrue(self.client.transport.disconnecting)

    def test_noInputAfterClose(self) -> None:
        """
        Data after the stream was closed is ignored.
        """
        self.client.open()
        self.client.send("</stream:stream>")
        self.client.transport.clear()
        self.client.send("<message/>")
        self.assertEqual(self.client.transport.value(), b"")
