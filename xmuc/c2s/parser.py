# -*- test-case-name: tests.c2s.test_parser -*-
"""
The XML parsers of client streams, lent between bound streams.

An expat parser, with the state Twisted's domish element stream keeps around
it, holds about 12 KiB: more than half of an idle plaintext session. Yet a
stream needs one only while a read is parsed, or while a stanza is split
across reads. Freeing it while a session idles would not shrink the process:
CPython's allocators keep freed memory for reuse, so the resident size is set
by how many parsers were alive at once.

So a bound stream whose header set up the usual namespace context
(L{CANONICAL_HEADER}: default namespace C{jabber:client}, prefix C{stream}
for the streams namespace, nothing else) does not own a parser: each read
borrows one from the node's L{ParserPool} and gives it back when the read
ends between stanzas. A parser is only given back with no element open,
every byte it was given consumed by expat (a read can end in the middle of a
tag, an entity or a multi-byte character; expat keeps such a tail and its
position, the start of the first unconsumed token, then lags behind the
bytes fed) and without error, so that of the previous stream's input only
the namespace declarations of its header (the same for every borrower) are
still in effect; the next borrower's bytes start a fresh stanza. A stream that declared anything else
keeps its own parser, as do streams still negotiating.

Input a client may not send (DTDs, entity declarations, comments, processing
instructions), malformed input and stanzas over the L{ParseLimits} of the
parser (size, depth, elements, attributes: checked before each element is
built) raise L{StreamError} out of L{StreamParser.parse}. A stream's own
parser has the limits it was made with (the small pre-authentication ones
until SASL succeeds); pooled parsers have the pool's.
"""

from __future__ import annotations

from typing import Any, Protocol
from xml.parsers.expat import ExpatError

from twisted.words.xish import domish

from xmuc.parselimits import ParseLimits
from xmuc.xmlstream import StreamError, parseCheck

NS_CLIENT = "jabber:client"
NS_STREAMS = "http://etherx.jabber.org/streams"

#: The namespace context of a pooled parser, as most clients open streams.
CANONICAL_HEADER = (
    f"<stream:stream xmlns='{NS_CLIENT}' xmlns:stream='{NS_STREAMS}'>"
).encode("ascii")

#: A pooled parser that has parsed this much is dropped instead of reused,
#: bounding what expat's name tables can collect from many streams.
RECYCLE_BYTES = 1 << 20


class StreamHandler(Protocol):
    """
    What a L{StreamParser} reports to.
    """

    def streamStarted(self, root: domish.Element) -> None:
        """
        The client's stream header.
        """

    def elementReceived(self, element: domish.Element) -> None:
        """
        A whole top-level element (a stanza or a negotiation element).
        """

    def streamEnded(self) -> None:
        """
        The client closed its stream.
        """


def _restricted(*args: Any) -> None:
    raise StreamError("restricted-xml", "no DTDs, entities, comments or PIs")


class _Parser:
    """
    One expat parser and domish's element stream around it, reporting to
    its current C{handler}.

    @ivar fed: the bytes given to expat so far.
    @ivar canonical: whether the stream header was L{CANONICAL_HEADER} as
        far as namespaces go.
    @ivar ended: whether the stream's root element was closed.
    @ivar limits: the L{ParseLimits} of every stanza.
    """

    __slots__ = (
        "handler",
        "limits",
        "fed",
        "canonical",
        "ended",
        "_elements",
        "_expat",
        "_stanzaStart",
    )

    def __init__(self, limits: ParseLimits, header: bytes | None = None) -> None:
        # No handler yet: the events of the priming header go nowhere.
        self.handler: StreamHandler | None = None
        self.limits = limits
        self.canonical = False
        self.ended = False
        elements = domish.ExpatElementStream()
        elements.DocumentStartEvent = self._started
        elements.ElementEvent = self._element
        elements.DocumentEndEvent = self._ended
        elements.maxStanzaSize = limits.maxStanzaSize
        expat = elements.parser
        expat.StartDoctypeDeclHandler = _restricted
        expat.EntityDeclHandler = _restricted
        expat.ProcessingInstructionHandler = _restricted
        expat.CommentHandler = _restricted
        expat.SetParamEntityParsing(0)
        expat.StartElementHandler = self._startElement
        self._elements = elements
        self._expat = expat
        self._stanzaStart = 0
        self.fed = 0
        if header is not None:
            self.feed(header)
            elements.stanzaSize = 0

    def feed(self, data: bytes) -> bool:
        """
        Parse C{data} (what C{domish.ExpatElementStream.parse} does, one
        call shorter).

        @return: whether the parser is now between stanzas (see
            L{betweenStanzas}).
        @raise StreamError: the input ends the stream.
        """
        size = len(data)
        self.fed += size
        elements = self._elements
        elements.stanzaSize += size
        try:
            self._expat.Parse(data)
        except ExpatError as e:
            raise StreamError("not-well-formed", str(e))
        except domish.ParserError:
            # domish's limit on the elements in one stanza.
            raise StreamError("policy-violation", "stanza too large")
        if elements.stanzaSize > elements.maxStanzaSize:
            raise StreamError("policy-violation", "stanza too large")
        # betweenStanzas(), inlined: this runs for every read.
        return (
            elements.currElem is None
            and not self.ended
            and elements.documentStarted == 1
            and self._expat.CurrentByteIndex == self.fed
        )

    def betweenStanzas(self) -> bool:
        """
        Whether the stream is open with no element started and nothing
        buffered, so that the parser may serve another stream.
        """
        elements = self._elements
        return (
            not self.ended
            and elements.currElem is None
            and elements.documentStarted == 1
            and self._expat.CurrentByteIndex == self.fed
        )

    # Expat and domish events

    def _startElement(self, name: str, attrs: dict) -> None:
        elements = self._elements
        limits = self.limits
        # parseCheck's quick exits, inlined: this runs for every element.
        if elements.currElem is None:
            if elements.documentStarted:
                # Note where each stanza begins, so that one arriving whole
                # in a single read is measured too (domish counts bytes per
                # read).
                self._stanzaStart = self._expat.CurrentByteIndex
            if len(attrs) + len(elements.localPrefixes) > limits.maxAttributes:
                parseCheck(limits, elements, attrs)
        elif (
            elements.elementCount >= limits.watchFrom
            or len(attrs) + len(elements.localPrefixes) > limits.maxAttributes
        ):
            parseCheck(limits, elements, attrs)
        elements._onStartElement(name, attrs)

    def _started(self, root: domish.Element) -> None:
        self.canonical = _isCanonical(root)
        handler = self.handler
        if handler is not None:
            handler.streamStarted(root)

    def _element(self, element: domish.Element) -> None:
        handler = self.handler
        if handler is None:
            return
        if self._expat.CurrentByteIndex - self._stanzaStart > self.limits.maxStanzaSize:
            raise StreamError("policy-violation", "stanza too large")
        handler.elementReceived(element)

    def _ended(self) -> None:
        self.ended = True
        handler = self.handler
        if handler is not None:
            handler.streamEnded()


class ParserPool:
    """
    Spare parsers primed with L{CANONICAL_HEADER}, lent to the bound
    streams of one node for one read at a time.

    @param limits: the L{ParseLimits} of authenticated streams, and of the
        pooled parsers (a bare number is a stanza size limit, with the
        other limits at their defaults).
    @param spares: how many idle parsers to keep. Reads are parsed one at a
        time, so one is in use at once unless a handler feeds another
        stream while its own read is parsed; more are made when needed.
    @param preauth: the limits of streams not yet authenticated (they
        parse with parsers of their own); by default C{limits}.
    """

    def __init__(
        self, limits: ParseLimits | int, spares: int = 4, preauth: ParseLimits | None = None
    ) -> None:
        if isinstance(limits, int):
            limits = ParseLimits(maxStanzaSize=limits)
        self.limits = limits
        self.preauth = preauth or limits
        self.spares = spares
        self._idle: list[_Parser] = []

    def take(self) -> _Parser:
        """
        A parser inside a canonical stream, between stanzas.
        """
        if self._idle:
            return self._idle.pop()
        return _Parser(self.limits, CANONICAL_HEADER)

    def give(self, parser: _Parser) -> None:
        """
        Take back a parser that is L{_Parser.betweenStanzas} in a canonical
        stream.
        """
        parser.handler = None
        if len(self._idle) < self.spares and parser.fed < RECYCLE_BYTES:
            # Whitespace since the last stanza must not count toward the
            # size of the next borrower's first stanza.
            parser._elements.stanzaSize = 0
            self._idle.append(parser)

    @property
    def idle(self) -> int:
        """
        How many parsers wait in the pool.
        """
        return len(self._idle)


def _isCanonical(root: domish.Element) -> bool:
    """
    Whether a stream header sets up exactly the namespace context of
    L{CANONICAL_HEADER} (its attributes do not matter to parsing).
    """
    return (
        root.uri == NS_STREAMS
        and root.name == "stream"
        and root.defaultUri == NS_CLIENT
        and root.localPrefixes == {"stream": NS_STREAMS}
    )


class StreamParser:
    """
    Parses one client stream, from its header to its end, for a
    L{StreamHandler}.

    @ivar released: whether the stream holds no parser (between reads of a
        shared stream).
    """

    __slots__ = ("_handler", "_pool", "_parser", "_shared")

    def __init__(
        self, handler: StreamHandler, pool: ParserPool, limits: ParseLimits | None = None
    ) -> None:
        self._handler: StreamHandler | None = handler
        self._pool = pool
        self._parser: _Parser | None = _Parser(limits or pool.limits)
        self._parser.handler = handler
        self._shared = False

    @property
    def released(self) -> bool:
        return self._parser is None

    def parse(self, data: bytes) -> None:
        """
        Parse one read; a shared stream borrows a parser for it.

        @raise StreamError: the input ends the stream.
        """
        parser = self._parser
        if parser is None:
            parser = self._parser = self._pool.take()
            parser.handler = self._handler
        if parser.feed(data) and self._shared:
            self._parser = None
            self._pool.give(parser)

    def share(self) -> None:
        """
        The stream is bound: from now on, if its header was canonical, give
        the parser back to the pool whenever a read ends between stanzas.
        """
        parser = self._parser
        self._shared = parser is not None and parser.canonical and self._handler is not None

    def detach(self) -> None:
        """
        Stop reporting: a stream restart replaced this parser. The rest of
        the read that carried C{<starttls/>} was sent in plaintext (RFC 6120
        section 5.4.3.3: the client sends nothing more before the
        handshake); acting on it as if sent under TLS would let a man in the
        middle inject commands, such as an C{<auth/>} for an account of his
        own (CVE-2011-0411).
        """
        self._handler = None
        self._shared = False
        if self._parser is not None:
            self._parser.handler = None

    def close(self) -> None:
        """
        The stream ended: stop reporting and let go of the parser with
        whatever partial stanza it holds (a parser borrowed for the read
        under way is not given back to the pool).
        """
        self.detach()
        self._parser = None
