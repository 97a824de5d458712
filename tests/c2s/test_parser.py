# -*- test-case-name: tests.c2s.test_parser -*-
"""
Tests for L{xmuc.c2s.parser}: stream parsing, and parsers lent between bound
streams by a L{ParserPool}, with every stanza parsed in its own stream.
"""

from __future__ import annotations

from twisted.trial import unittest
from twisted.words.xish import domish

from tests.c2s import NS_STREAMS, header
from xmuc.c2s import parser as parserModule
from xmuc.c2s.parser import ParserPool, StreamError, StreamParser

NS_CLIENT = "jabber:client"


class Recorder:
    """
    A L{xmuc.c2s.parser.StreamHandler} that records what it hears.
    """

    def __init__(self) -> None:
        self.headers: list[domish.Element] = []
        self.elements: list[domish.Element] = []
        self.ended = 0

    def streamStarted(self, root: domish.Element) -> None:
        self.headers.append(root)

    def elementReceived(self, element: domish.Element) -> None:
        self.elements.append(element)

    def streamEnded(self) -> None:
        self.ended += 1


class Stream:
    """
    A L{StreamParser} and what it reported.
    """

    def __init__(self, pool: ParserPool, opening: bytes | None = None, bind: bool = True) -> None:
        self.handler = Recorder()
        self.parser = StreamParser(self.handler, pool)
        self.parser.parse(opening or header())
        if bind:
            self.parser.share()
            self.parser.parse(b" ")

    def names(self) -> list[str]:
        names = [element.name for element in self.handler.elements]
        self.handler.elements = []
        return names


class SharedParserTests(unittest.TestCase):
    """
    Bound streams with the usual header borrow a parser for each read.
    """

    def setUp(self) -> None:
        self.pool = ParserPool(10000)

    def test_stanzaInStreamNamespaces(self) -> None:
        """
        A bound stream holds no parser between reads; its stanzas are
        parsed in the stream's namespaces (default C{jabber:client},
        children in their own) and the header is reported once.
        """
        stream = Stream(self.pool)
        self.assertTrue(stream.parser.released)
        stream.parser.parse(b"<iq type='get' id='1'><query xmlns='jabber:iq:roster'/></iq>")
        self.assertTrue(stream.parser.released)
        [iq] = stream.handler.elements
        self.assertEqual((iq.uri, iq.name, iq["id"]), (NS_CLIENT, "iq", "1"))
        self.assertEqual((iq.query.uri, iq.query.name), ("jabber:iq:roster", "query"))
        [root] = stream.handler.headers
        self.assertEqual((root.uri, root.name), (NS_STREAMS, "stream"))

    def test_stanzaSplitAcrossReads(self) -> None:
        """
        A stanza split across reads (even inside a UTF-8 character) keeps
        the borrowed parser until it is complete.
        """
        stream = Stream(self.pool)
        stream.parser.parse(b"<message to='bob@localhost'><body>h\xc3")
        self.assertFalse(stream.parser.released)
        stream.parser.parse(b"\xa9</bo")
        stream.parser.parse(b"dy></message>")
        self.assertTrue(stream.parser.released)
        [message] = stream.handler.elements
        self.assertEqual((message.uri, message["to"]), (NS_CLIENT, "bob@localhost"))
        self.assertEqual((message.body.uri, str(message.body)), (NS_CLIENT, "h\u00e9"))

    def test_interleavedStreams(self) -> None:
        """
        While one stream holds a parser for its unfinished stanza, another
        stream's reads are parsed by another parser: neither sees the
        other's bytes.
        """
        alice, bob = Stream(self.pool), Stream(self.pool)
        alice.parser.parse(b"<message id='a'><body>from alice")
        bob.parser.parse(b"<message id='b'><body>from bob</body></message>")
        bob.parser.parse(b"<presence/>")
        self.assertEqual(alice.handler.elements, [])
        alice.parser.parse(b"</body></message>")
        self.assertEqual(
            [(m["id"], str(m.body)) for m in alice.handler.elements], [("a", "from alice")]
        )
        self.assertEqual(bob.names(), ["message", "presence"])

    def test_bufferedTailKeepsParser(self) -> None:
        """
        A read that ends between stanzas but inside a token (half a start
        tag, half an entity, half a character reference) keeps the parser;
        the next read completes the token in the same stream.
        """
        for tail, rest, expected in (
            (b"<message to='a>", b"b'/>", "a>b"),
            (b"<message to='&am", b"p;'/>", "&"),
            (b"<message to='&#x4", b"1;'/>", "A"),
        ):
            stream = Stream(self.pool)
            stream.parser.parse(tail)
            self.assertFalse(stream.parser.released, tail)
            Stream(self.pool).parser.parse(b"<presence/>")
            stream.parser.parse(rest)
            self.assertTrue(stream.parser.released)
            [message] = stream.handler.elements
            self.assertEqual(message["to"], expected)

    def test_reusedParser(self) -> None:
        """
        Streams take turns with the parsers in the pool (their own, given
        back after binding) without making new ones.
        """
        alice, bob = Stream(self.pool), Stream(self.pool)
        for n in range(3):
            alice.parser.parse(f"<message id='a{n}'/>".encode())
            bob.parser.parse(f"<presence id='b{n}'/>".encode())
        self.assertEqual([m["id"] for m in alice.handler.elements], ["a0", "a1", "a2"])
        self.assertEqual([p["id"] for p in bob.handler.elements], ["b0", "b1", "b2"])
        self.assertEqual(self.pool.idle, 2)

    def test_keepalivesDoNotAddUp(self) -> None:
        """
        Whitespace from many streams through a pooled parser does not count
        toward the next stanza's size limit.
        """
        streams = [Stream(self.pool) for _ in range(5)]
        for _ in range(3000):
            for stream in streams:
                stream.parser.parse(b" ")
        streams[0].parser.parse(b"<message><body>" + b"x" * 9000 + b"</body></message>")
        self.assertEqual(streams[0].names(), ["message"])

    def test_sizeLimit(self) -> None:
        """
        A stanza over the limit in one read is C{policy-violation}, and the
        failed parser is not lent again.
        """
        stream = Stream(self.pool)
        error = self.assertRaises(
            StreamError,
            stream.parser.parse,
            b"<message><body>" + b"x" * 12000 + b"</body></message>",
        )
        self.assertEqual(error.condition, "policy-violation")
        self.assertEqual(self.pool.idle, 0)

    def test_restricted(self) -> None:
        """
        Comments are C{restricted-xml} on a borrowed parser too.
        """
        stream = Stream(self.pool)
        error = self.assertRaises(StreamError, stream.parser.parse, b"<!-- hi -->")
        self.assertEqual(error.condition, "restricted-xml")

    def test_malformedNotLent(self) -> None:
        """
        Malformed input is C{not-well-formed}; the broken parser is not lent
        to the next stream, which parses normally.
        """
        stream = Stream(self.pool)
        error = self.assertRaises(StreamError, stream.parser.parse, b"<a></b>")
        self.assertEqual(error.condition, "not-well-formed")
        self.assertEqual(self.pool.idle, 0)
        other = Stream(self.pool)
        other.parser.parse(b"<presence/>")
        self.assertEqual(other.names(), ["presence"])

    def test_handlerErrorNotLent(self) -> None:
        """
        A parser whose handler raised in the middle of a read is not lent
        again.
        """

        class Failing(Recorder):
            def elementReceived(self, element: domish.Element) -> None:
                raise StreamError("unsupported-stanza-type")

        stream = Stream(self.pool)
        stream.parser._handler = Failing()
        stream.parser.parse(b" ")
        self.assertEqual(self.pool.idle, 1)
        self.assertRaises(StreamError, stream.parser.parse, b"<x/><presence/>")
        self.assertEqual(self.pool.idle, 0)

    def test_close(self) -> None:
        """
        The client's closing tag ends the stream; the ended parser is not
        lent again.
        """
        stream = Stream(self.pool)
        stream.parser.parse(b"</stream:stream>")
        self.assertEqual(stream.handler.ended, 1)
        self.assertEqual(self.pool.idle, 0)

    def test_recycled(self) -> None:
        """
        A parser that has parsed L{parserModule.RECYCLE_BYTES} is dropped
        rather than lent again.
        """
        self.patch(parserModule, "RECYCLE_BYTES", 50)
        stream = Stream(self.pool)
        self.assertEqual(self.pool.idle, 0)
        stream.parser.parse(b"<presence/>")
        self.assertEqual(stream.names(), ["presence"])

    def test_spares(self) -> None:
        """
        The pool keeps at most C{spares} idle parsers.
        """
        pool = ParserPool(10000, spares=2)
        streams = [Stream(pool, bind=False) for _ in range(4)]
        for stream in streams:
            stream.parser.share()
            stream.parser.parse(b" ")
        self.assertEqual(pool.idle, 2)

    def test_reentrant(self) -> None:
        """
        A handler that feeds another stream while its own read is parsed
        (one local stream delivering straight into another) gets that
        stream parsed by a parser of its own.
        """
        bob = Stream(self.pool)

        class Forwarding(Recorder):
            def elementReceived(self, element: domish.Element) -> None:
                super().elementReceived(element)
                bob.parser.parse(b"<presence id='inner'/>")

        alice = Stream(self.pool)
        forwarding = Forwarding()
        alice.parser._handler = forwarding
        alice.parser.parse(b" ")
        alice.parser.parse(b"<message id='outer'/><message id='second'/>")
        self.assertEqual([m["id"] for m in forwarding.elements], ["outer", "second"])
        self.assertEqual([p["id"] for p in bob.handler.elements], ["inner", "inner"])


class PrivateParserTests(unittest.TestCase):
    """
    Streams that keep their own parser.
    """

    def setUp(self) -> None:
        self.pool = ParserPool(10000)

    def test_beforeBinding(self) -> None:
        """
        A stream not yet bound keeps its parser between reads.
        """
        stream = Stream(self.pool, bind=False)
        stream.parser.parse(b"<auth/>")
        self.assertFalse(stream.parser.released)

    def test_otherDeclarations(self) -> None:
        """
        A stream whose header uses another stream prefix or declares more
        namespaces keeps its own parser, in which those stay in scope and
        its closing tag matches.
        """
        stream = Stream(
            self.pool,
            b"<s:stream xmlns='jabber:client' xmlns:s='http://etherx.jabber.org/streams'"
            b" xmlns:x='urn:example:x' to='localhost' version='1.0'>",
        )
        self.assertFalse(stream.parser.released)
        stream.parser.parse(b"<message><x:data/></message>")
        [message] = stream.handler.elements
        self.assertEqual(message.firstChildElement().uri, "urn:example:x")
        stream.parser.parse(b"</s:stream>")
        self.assertEqual(stream.handler.ended, 1)

    def test_otherAttributesShared(self) -> None:
        """
        Attributes of the header other than namespace declarations (here
        in another order, with C{xml:lang}) do not stop sharing.
        """
        stream = Stream(
            self.pool,
            b"<stream:stream xml:lang='en' version='1.0' to='localhost'"
            b" xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:client'>",
        )
        self.assertTrue(stream.parser.released)


class DetachTests(unittest.TestCase):
    """
    L{StreamParser.detach}: a parser a stream restart replaced.
    """

    def test_silentAfterDetach(self) -> None:
        """
        Elements parsed after L{StreamParser.detach} (the rest of the read
        that carried C{<starttls/>}) are not reported.
        """
        handler = Recorder()
        parser = StreamParser(handler, ParserPool(10000))
        parser.parse(header())

        class Restarting(Recorder):
            def elementReceived(self, element: domish.Element) -> None:
                handler.elementReceived(element)
                parser.detach()

        parser._parser.handler = Restarting()
        parser.parse(b"<starttls/><auth/>")
        self.assertEqual([e.name for e in handler.elements], ["starttls"])
