# -*- test-case-name: tests.s2s.test_streams,tests.c2s.test_stream,tests.test_writes -*-
"""
What the XML streams of the node share.

L{StreamBase}, under every stream (client, server, component): a
per-connection byte-rate limit, TCP_NODELAY, the stream header once per
stream, stream errors and closing, and the stream's write scope
(L{xmuc.writes}): what it reads is handled in its scope, it stops reading
while the store is busy with what it submitted, and the IQs it writes wait
for the storage work its earlier input started.

L{XMLStream}, under server-to-server and component streams: an expat parser
of its own that refuses DTDs, entities, comments and processing
instructions (RFC 6120 section 11.1), a stanza size limit that also catches
stanzas arriving whole in one read, and a guard against input injected
before a TLS handshake. (Client streams share pooled parsers instead,
L{xmuc.c2s.parser}.) Subclasses write their own stream header and handle
the header and top-level elements.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from twisted.internet import protocol
from twisted.logger import Logger
from twisted.python import failure
from twisted.words.xish import domish

from xmuc.core.stanza import stanzaXml
from xmuc.writes import CURRENT, WriteScope

NS_STREAMS = "http://etherx.jabber.org/streams"
NS_STREAM_ERRORS = "urn:ietf:params:xml:ns:xmpp-streams"
NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"


class StreamError(Exception):
    """
    Raised by stream handlers: end the stream with this condition.
    """

    def __init__(self, condition: str, text: str | None = None) -> None:
        super().__init__(condition)
        self.condition = condition
        self.text = text


def streamXml(element: domish.Element) -> bytes:
    """
    Serialise a stream-level element with the C{stream:} prefix the stream
    header declared.
    """
    return element.toXml(
        prefixes={NS_STREAMS: "stream"}, prefixesInScope=["stream"]
    ).encode("utf-8")


class StreamBase(protocol.Protocol):
    """
    What every stream of the node does the same way, whatever its parser:
    the byte-rate limit, the stream header once per stream, stream errors
    and closing.

    @ivar rateLimit: bytes per second (0: no limit); past it reading pauses.
    @ivar rateBurst: bytes allowed in one burst.
    @ivar lastActivity: when the peer last sent anything.
    @ivar writeScope: the store operations its input started, not yet
        answered (L{xmuc.writes}).
    """

    log = Logger()
    rateLimit = 0
    rateBurst = 0

    def __init__(self, clock: Any) -> None:
        self.clock = clock
        self.closed = False
        self.streamId = ""
        self._headerSent = False
        self._tokens = 0.0
        self._tokensAt = 0.0
        self._paused = False
        self._storeHeld = False
        self._resumeCall: Any = None
        self.lastActivity = 0.0
        self.writeScope = WriteScope(self)
        self._heldOutput: deque[tuple[bytes, int | None]] | None = None

    def writeHeader(self) -> None:
        """
        Send this side's stream header.
        """
        raise NotImplementedError()

    def connectionMade(self) -> None:
        # Stanzas are small writes; Nagle's algorithm would hold one back
        # until the previous one is acknowledged.
        setNoDelay = getattr(self.transport, "setTcpNoDelay", None)
        if setNoDelay is not None:
            setNoDelay(True)
        self.lastActivity = self._tokensAt = self.clock.seconds()
        self._tokens = float(self.rateBurst)

    def connectionLost(self, reason: failure.Failure = protocol.connectionDone) -> None:
        self.closed = True
        if self._resumeCall is not None and self._resumeCall.active():
            self._resumeCall.cancel()

    def received(self, size: int) -> float:
        """
        Account for C{size} bytes just read; returns the time.
        """
        now = self.clock.seconds()
        self.lastActivity = now
        if self.rateLimit:
            self._limit(size, now)
        return now

    def dataReceived(self, data: bytes) -> None:
        if self.closed:
            return
        self.received(len(data))
        token = CURRENT.set(self.writeScope)
        try:
            self.parse(data)
        except StreamError as e:
            self.streamError(e.condition, e.text)
        finally:
            CURRENT.reset(token)

    def parse(self, data: bytes) -> None:
        """
        Feed bytes to the stream's parser.

        @raise StreamError: the input ends the stream.
        """
        raise NotImplementedError()

    def _limit(self, size: int, now: float) -> None:
        """
        Token bucket on received bytes: a peer over its rate has its
        reading paused until the bucket refills, so one flood cannot starve
        the other connections.
        """
        rate = self.rateLimit
        self._tokens = min(self.rateBurst, self._tokens + (now - self._tokensAt) * rate)
        self._tokensAt = now
        self._tokens -= size
        if self._tokens < 0 and not self._paused:
            self._paused = True
            if not self._storeHeld:
                self.transport.pauseProducing()
            self._resumeCall = self.clock.callLater(-self._tokens / rate, self._resume)

    def _resume(self) -> None:
        self._paused = False
        if not self.closed and not self._storeHeld:
            self.transport.resumeProducing()

    def holdReading(self) -> None:
        """
        Back-pressure: the store is busy and this stream's input submitted
        to it; stop reading until it drains (the rest of the current read
        is still handled).
        """
        if self._storeHeld or self.closed:
            return
        self._storeHeld = True
        if not self._paused:
            self.transport.pauseProducing()

    def releaseReading(self) -> None:
        """
        The store drained: read again (unless the rate limit holds).
        """
        if not self._storeHeld:
            return
        self._storeHeld = False
        if not self.closed and not self._paused:
            self.transport.resumeProducing()

    def sendHeader(self) -> None:
        """
        Send the stream header once per stream.
        """
        if not self._headerSent:
            self._headerSent = True
            self.writeHeader()

    def sendBytes(self, data: bytes) -> None:
        """
        Write an already serialised stanza, behind the write barrier: an IQ
        waits until the store operations open in this stream's scope now
        are answered, and anything written after a waiting IQ waits behind
        it.
        """
        if self.closed:
            return
        held = self._heldOutput
        if held is None:
            scope = self.writeScope
            if not scope.open or not data.startswith(b"<iq"):
                self.transport.write(data)
                return
            held = self._heldOutput = deque()
        mark = self.writeScope.mark() if data.startswith(b"<iq") else None
        held.append((data, mark))
        if len(held) == 1:
            self._flushHeld()

    def _flushHeld(self) -> None:
        """
        Write the held output up to the first IQ whose barrier has not
        passed yet, and wait for that one.
        """
        held, scope = self._heldOutput, self.writeScope
        while held:
            if self.closed:
                held.clear()
                break
            data, mark = held[0]
            if mark is not None and not scope.passed(mark):
                scope.whenPassed(mark, self._flushHeld)
                return
            held.popleft()
            self.transport.write(data)
        self._heldOutput = None

    def streamError(self, condition: str, text: str | None = None) -> None:
        """
        Send a stream error and close the stream (RFC 6120 section 4.9).
        """
        if self.closed:
            return
        self.sendHeader()
        error = domish.Element((NS_STREAMS, "error"))
        error.addElement((NS_STREAM_ERRORS, condition))
        if text:
            error.addElement((NS_STREAM_ERRORS, "text"), content=text)
        self.log.info(
            "{kind} stream error {condition} ({text}) with {peer}",
            kind=type(self).__name__,
            condition=condition,
            text=text,
            peer=self.describePeer(),
        )
        self.transport.write(streamXml(error))
        self.closeStream()

    def describePeer(self) -> str:
        """
        Who is at the other end, for log lines.
        """
        return str(self.transport.getPeer())

    def closeStream(self) -> None:
        """
        Close the stream and the connection.
        """
        if self.closed:
            return
        self.transport.write(b"</stream:stream>")
        self.closed = True
        if self._resumeCall is not None and self._resumeCall.active():
            self._resumeCall.cancel()
        if self._paused or self._storeHeld:
            # A paused transport would wait for a read to notice the end.
            self.transport.resumeProducing()
        self.transport.loseConnection()
        self.streamClosed()

    def streamClosed(self) -> None:
        """
        This side closed the stream (for subclasses).
        """


class XMLStream(StreamBase):
    """
    A stream with its own expat parser (server-to-server and component
    streams).

    @ivar maxStanzaSize: bytes; a larger stanza ends the stream.
    """

    maxStanzaSize = 262144

    def __init__(self, clock: Any) -> None:
        super().__init__(clock)
        self._parser: Any = None
        self._expat: Any = None
        self._stanzaStart = 0

    # To be provided by subclasses

    def onHeader(self, root: domish.Element) -> None:
        """
        The peer's stream header arrived.
        """
        raise NotImplementedError()

    def onElement(self, element: domish.Element) -> None:
        """
        A top-level element arrived.
        """
        raise NotImplementedError()

    # Connection

    def connectionMade(self) -> None:
        super().connectionMade()
        self.resetParser()

    def connectionLost(self, reason: failure.Failure = protocol.connectionDone) -> None:
        super().connectionLost(reason)
        self._parser = None

    # Input

    def parse(self, data: bytes) -> None:
        try:
            self._parser.parse(data)
        except domish.ParserError as e:
            text = str(e)
            if "Maximum stanza size" in text or "Maximum element count" in text:
                raise StreamError("policy-violation", "stanza too large")
            raise StreamError("not-well-formed", text)

    def resetParser(self) -> None:
        """
        Start parsing a new stream (at connection start and at each
        stream restart).
        """
        parser = domish.elementStream()
        parser.DocumentStartEvent = self._current(parser, self.onHeader)
        parser.ElementEvent = self._current(parser, self._onElement)
        parser.DocumentEndEvent = self._current(parser, self.onEnd)
        parser.maxStanzaSize = self.maxStanzaSize
        expat = parser.parser
        expat.StartDoctypeDeclHandler = self._restricted
        expat.EntityDeclHandler = self._restricted
        expat.ProcessingInstructionHandler = self._restricted
        expat.CommentHandler = self._restricted
        expat.SetParamEntityParsing(0)
        startElement = expat.StartElementHandler

        def onStartElement(name: str, attrs: dict, _parser: Any = parser) -> None:
            # Note where each stanza begins, so that one arriving whole in
            # a single read is measured too.
            if _parser.currElem is None and _parser.documentStarted:
                self._stanzaStart = expat.CurrentByteIndex
            startElement(name, attrs)

        expat.StartElementHandler = onStartElement
        self._stanzaStart = 0
        self._expat = expat
        self._parser = parser

    def _current(self, parser: Any, handler: Any) -> Any:
        """
        Drop the events of a parser that a stream restart replaced: input
        that came in the same read as C{<starttls/>} was sent in the clear
        and must not be acted on as if it came under TLS (CVE-2011-0411).
        """

        def handle(*args: Any) -> None:
            if self._parser is parser:
                handler(*args)

        return handle

    def _restricted(self, *args: Any) -> None:
        raise StreamError("restricted-xml", "no DTDs, entities, comments or PIs")

    def _onElement(self, element: domish.Element) -> None:
        if self._expat.CurrentByteIndex - self._stanzaStart > self.maxStanzaSize:
            raise StreamError("policy-violation", "stanza too large")
        self.onElement(element)

    def onEnd(self) -> None:
        """
        The peer closed its stream.
        """
        self.closeStream()

    # Output

    def send(self, element: domish.Element) -> None:
        """
        Send a stanza (in the stream's namespace) or a stream-level element.
        """
        if self.closed:
            return
        if element.uri == NS_STREAMS:
            self.transport.write(streamXml(element))
        else:
            self.transport.write(stanzaXml(element).encode("utf-8"))
