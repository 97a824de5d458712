# -*- test-case-name: tests.c2s.test_parser -*-
"""
Tests for L{xmuc.c2s.parser}: releasing the expat parser of a stream between
stanzas and parsing correctly with the one built after it.
"""

from __future__ import annotations

from twisted.trial import unittest
from twisted.words.xish import domish

from tests.c2s import NS_STREAMS, header
from xmuc.c2s.parser import StreamError, StreamParser

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


class ReleaseTests(unittest.TestCase):
    """
    L{StreamParser.release} and the parser built on the next read.
    """

    def setUp(self) -> None:
        self.handler = Recorder()
        self.parser = StreamParser(self.handler, 10000)

    def open(self, data: bytes | None = None) -> None:
        """
        Send a stream header and one stanza, so the stream is between
        stanzas.
        """
        self.parser.parse(data or header())
        self.parser.parse(b"<presence/>")
        self.handler.elements = []

    def test_stanzaAfterRelease(self) -> None:
        """
        A stanza sent after a release is parsed by a new parser in the
        stream's namespace context (default namespace C{jabber:client},
        children in their own namespaces), and the handler hears of the
        header only once.
        """
        self.open()
        self.assertTrue(self.parser.release())
        self.assertTrue(self.parser.released)
        self.parser.parse(
            b"<iq type='get' id='1'><query xmlns='jabber:iq:roster'/></iq>"
        )
        self.assertFalse(self.parser.released)
        [iq] = self.handler.elements
        self.assertEqual((iq.uri, iq.name, iq["id"]), (NS_CLIENT, "iq", "1"))
        self.assertEqual((iq.query.uri, iq.query.name), ("jabber:iq:roster", "query"))
        self.assertEqual(len(self.handler.headers), 1)

    def test_stanzaSplitAfterRelease(self) -> None:
        """
        A stanza split across reads right after a release is put together
        by the new parser.
        """
        self.open()
        self.parser.release()
        self.parser.parse(b"<message to='bob@localhost'><bo")
        self.assertEqual(self.handler.elements, [])
        self.parser.parse("dy>h\u00e9</body></message>".encode("utf-8"))
        [message] = self.handler.elements
        self.assertEqual((message.uri, message.name), (NS_CLIENT, "message"))
        self.assertEqual(message["to"], "bob@localhost")
        self.assertEqual((message.body.uri, str(message.body)), (NS_CLIENT, "h\u00e9"))

    def test_releaseAgain(self) -> None:
        """
        The rebuilt parser can be released and rebuilt again.
        """
        self.open()
        for n in range(3):
            self.assertTrue(self.parser.release())
            self.parser.parse(f"<message id='{n}'/>".encode())
        self.assertEqual([m["id"] for m in self.handler.elements], ["0", "1", "2"])

    def test_whitespaceKeepsReleased(self) -> None:
        """
        Whitespace keepalives on a released stream build no parser.
        """
        self.open()
        self.parser.release()
        self.parser.parse(b" \r\n\t ")
        self.assertTrue(self.parser.released)
        self.parser.parse(b" <presence/>")
        self.assertFalse(self.parser.released)
        self.assertEqual([e.name for e in self.handler.elements], ["presence"])

    def test_streamPrefixAndDeclarations(self) -> None:
        """
        The client's own stream prefix and the namespaces its header
        declares stay in scope, and its closing tag ends the stream.
        """
        self.open(
            b"<s:stream xmlns='jabber:client' xmlns:s='http://etherx.jabber.org/streams'"
            b" xmlns:x='urn:example:x' to='localhost' id='a>b' version='1.0'>"
        )
        self.parser.release()
        self.parser.parse(b"<message><x:data/></message>")
        [message] = self.handler.elements
        self.assertEqual(message.firstChildElement().uri, "urn:example:x")
        self.parser.release()
        self.parser.parse(b"</s:stream>")
        self.assertEqual(self.handler.ended, 1)
        [root] = self.handler.headers
        self.assertEqual((root.uri, root.name), (NS_STREAMS, "stream"))

    def test_notBeforeHeader(self) -> None:
        """
        A parser still waiting for (the rest of) the header is not
        released.
        """
        self.assertFalse(self.parser.release())
        self.parser.parse(header()[:20])
        self.assertFalse(self.parser.release())

    def test_notInsideStanza(self) -> None:
        """
        A parser inside a stanza is not released, and the stanza completes.
        """
        self.open()
        self.parser.parse(b"<message><body>partial")
        self.assertFalse(self.parser.release())
        self.parser.parse(b" text</body></message>")
        self.assertEqual(str(self.handler.elements[0].body), "partial text")

    def test_notWithBufferedBytes(self) -> None:
        """
        A parser holding unparsed bytes between stanzas (half a start tag,
        half an entity, half a UTF-8 character) is not released.
        """
        for tail in (b"<message to='a>", b"&am", b"\xc3"):
            parser = StreamParser(Recorder(), 10000)
            parser.parse(header())
            parser.parse(tail)
            self.assertFalse(parser.release(), tail)
        self.open()
        self.parser.parse(b"<message to='a>b'")
        self.assertFalse(self.parser.release())
        self.parser.parse(b"/>")
        self.assertEqual(self.handler.elements[0]["to"], "a>b")

    def test_sizeLimitAfterRelease(self) -> None:
        """
        A rebuilt parser still refuses a stanza over the size limit, in one
        read or in several, and accepts one under it.
        """
        self.open()
        self.parser.release()
        self.parser.parse(b"<message><body>" + b"x" * 9000 + b"</body></message>")
        self.parser.release()
        error = self.assertRaises(
            StreamError,
            self.parser.parse,
            b"<message><body>" + b"x" * 12000 + b"</body></message>",
        )
        self.assertEqual(error.condition, "policy-violation")
        self.assertEqual(len(self.handler.elements), 1)

    def test_restrictedAfterRelease(self) -> None:
        """
        A rebuilt parser still refuses comments.
        """
        self.open()
        self.parser.release()
        error = self.assertRaises(StreamError, self.parser.parse, b"<!-- hi -->")
        self.assertEqual(error.condition, "restricted-xml")

    def test_malformedAfterRelease(self) -> None:
        """
        Malformed input to a rebuilt parser is C{not-well-formed}.
        """
        self.open()
        self.parser.release()
        error = self.assertRaises(StreamError, self.parser.parse, b"<a></b>")
        self.assertEqual(error.condition, "not-well-formed")


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
        parser = StreamParser(handler, 10000)
        parser.parse(header())

        class Restarting(Recorder):
            def elementReceived(self, element: domish.Element) -> None:
                handler.elementReceived(element)
                parser.detach()

        parser._handler = Restarting()
        parser.parse(b"<starttls/><auth/>")
        self.assertEqual([e.name for e in handler.elements], ["starttls"])
