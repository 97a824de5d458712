# -*- test-case-name: tests.s2s.test_streams,tests.c2s.test_stream,tests.test_writes -*-
"""
What the XML streams of the node share.

L{StreamBase}, under every stream (client, server, component): a
per-connection byte-rate limit, TCP_NODELAY, the stream header once per
stream, stream errors and closing, the timers that give up on a peer (a
TLS handshake that does not finish within C{handshakeTimeout}, and a
closed stream whose transport is still there C{closeTimeout} later, abort
the transport: a close would wait on the peer for ever, on its handshake,
its close-notify or its reading), and the stream's write scope
(L{xmuc.writes}): what it reads is handled in its scope, it stops reading
while the store is busy with what it submitted, and the IQs it writes wait
for the storage work its earlier input started.

L{xmuc.parselimits.ParseLimits}, what one stanza may hold, are checked in
the parsers' start-element callbacks (L{parseCheck}) before the tree
grows; streams use a smaller set before the peer authenticates.

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
from twisted.internet.interfaces import IHandshakeListener, INegotiated
from twisted.logger import Logger
from twisted.python import failure
from twisted.words.xish import domish
from zope.interface import implementer

from xmuc.core.stanza import stanzaXml
from xmuc.parselimits import ParseLimits, checkStart
from xmuc.writes import CURRENT, WriteScope

NS_STREAMS = "http://etherx.jabber.org/streams"
#: Bytes of one connection's input over its rate handled in one turn of the
#: reactor: a few small stanzas, a fraction of a millisecond of work (4 KiB
#: left a room flood's ping p99 at 3.9 ms, 1 KiB at 2.4 ms, idle 0.6-0.9 ms).
READ_TURN = 1024
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


def parseCheck(limits: ParseLimits, elements: Any, attrs: dict) -> None:
    """
    L{checkStart} for a parser's start-element callback.

    @raise StreamError: C{policy-violation} when a limit is crossed.
    """
    why = checkStart(limits, elements, attrs)
    if why is not None:
        raise StreamError("policy-violation", why)


def streamXml(element: domish.Element) -> bytes:
    """
    Serialise a stream-level element with the C{stream:} prefix the stream
    header declared.
    """
    return element.toXml(
        prefixes={NS_STREAMS: "stream"}, prefixesInScope=["stream"]
    ).encode("utf-8")


@implementer(IHandshakeListener)
class StreamBase(protocol.Protocol):
    """
    What every stream of the node does the same way, whatever its parser:
    the byte-rate limit, the stream header once per stream, stream errors
    and closing, and giving up on a peer.

    @ivar rateLimit: bytes per second (0: no limit); past it reading pauses.
    @ivar rateBurst: bytes allowed in one burst.
    @ivar handshakeTimeout: seconds a TLS handshake may take (STARTTLS or a
        direct-TLS port) before the transport is aborted.
    @ivar closeTimeout: seconds a closed stream's transport may take to go
        (flushing, TLS close-notify) before it is aborted.
    @ivar lastActivity: when the peer last sent anything.
    @ivar writeScope: the store operations its input started, not yet
        answered (L{xmuc.writes}).
    """

    log = Logger()
    rateLimit = 0
    rateBurst = 0
    handshakeTimeout = 10.0
    closeTimeout = 5.0

    def __init__(self, clock: Any) -> None:
        self.clock = clock
        self.closed = False
        self.streamId = ""
        self._headerSent = False
        self._tokens = 0.0
        self._tokensAt = 0.0
        self._storeHeld = False
        # Bytes read but not handled yet (over the rate, or past one
        # turn's share), and the call that handles them later.
        self._unread: bytearray | None = None
        self._drainCall: Any = None
        self._producing = True
        # The timer that aborts the transport: the handshake's while a TLS
        # handshake runs, then the close's once the stream is closed.
        self._abortCall: Any = None
        self.lastActivity = 0.0
        self.writeScope = WriteScope(self)
        self._heldOutput: deque[tuple[bytes, int | None]] | None = None
        # The stream was closed while output was held: its end is written,
        # and the connection lost, once the held output has gone.
        self._endHeld = False

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
        if INegotiated.providedBy(self.transport):
            # Under a direct-TLS listener's TLS layer: the handshake has
            # not happened yet.
            self._expectHandshake()

    def connectionLost(self, reason: failure.Failure = protocol.connectionDone) -> None:
        self.closed = True
        self._cancelTimers()
        self._unread = None
        self._heldOutput = None
        self._endHeld = False

    def _cancelTimers(self) -> None:
        for name in ("_drainCall", "_abortCall"):
            call = getattr(self, name)
            if call is not None and call.active():
                call.cancel()
            setattr(self, name, None)

    # TLS and giving up

    def startTLS(self, creator: Any) -> None:
        """
        Start TLS on the transport (after C{<proceed/>}); the handshake
        must finish within C{handshakeTimeout}.
        """
        # Bytes that came after <starttls/> in the clear are never handled
        # (RFC 6120 section 5.3.3: they could be injected).
        self._unread = None
        if self._drainCall is not None and self._drainCall.active():
            self._drainCall.cancel()
        self._drainCall = None
        self.transport.startTLS(creator)
        self._updateProducing()
        self._expectHandshake()

    def _expectHandshake(self) -> None:
        if self._abortCall is None and not self.closed:
            self._abortCall = self.clock.callLater(
                self.handshakeTimeout, self.abort, "TLS handshake took too long"
            )

    def handshakeCompleted(self) -> None:
        """
        The TLS layer finished its handshake (L{IHandshakeListener}).
        """
        if self.closed:
            # The timer is the close's now.
            return
        call, self._abortCall = self._abortCall, None
        if call is not None and call.active():
            call.cancel()

    @property
    def handshaking(self) -> bool:
        """
        Whether a TLS handshake was started and has not finished: nothing
        written now can reach the peer.
        """
        return self._abortCall is not None and not self.closed

    def timedOut(self, text: str) -> None:
        """
        Give up on a peer that did not do its part in time: the one way
        every stream timeout ends a connection. It gets
        C{connection-timeout}, and the transport is aborted if the stream
        is not gone within C{closeTimeout}; in the middle of a TLS
        handshake the error could not be sent, so it is aborted at once.
        """
        if self.handshaking:
            self.abort(text)
        else:
            self.streamError("connection-timeout", text)

    def abort(self, why: str) -> None:
        """
        Drop the connection now, without a stream error or a TLS
        close-notify (they would wait on the peer).
        """
        if self.transport is None:
            return
        self.log.info(
            "{kind} aborted ({why}) with {peer}",
            kind=type(self).__name__, why=why, peer=self.describePeer(),
        )
        wasClosed = self.closed
        self.closed = True
        self._cancelTimers()
        self._heldOutput = None
        self._endHeld = False
        self.transport.abortConnection()
        if not wasClosed:
            self.streamClosed()

    def _closeTimedOut(self) -> None:
        self._abortCall = None
        self.abort("the connection did not close in time")

    def dataReceived(self, data: bytes) -> None:
        """
        Handle what the peer sent, no faster than C{rateLimit}: a read is
        handled as far as the token bucket allows, and what is left waits
        in C{_unread}, with the transport paused, to be handled at most
        C{READ_TURN} bytes at a time as the bucket refills. A connection
        over its rate therefore never holds the reactor for long (a read
        after a pause can bring a whole socket buffer), and is served at
        its rate whatever size its reads come in.
        """
        if self.closed:
            return
        if self._unread is not None:
            self._unread += data
            return
        self._take(data, len(data))

    def _take(self, data: bytes, turn: int) -> None:
        now = self.clock.seconds()
        self.lastActivity = now
        allowed = self._allowance(now, turn)
        if len(data) > allowed:
            self._unread = bytearray(data[allowed:])
            data = data[:allowed]
            self._updateProducing()
        if data:
            self._handle(data)
        if self._unread is not None and not self.closed:
            self._scheduleDrain()

    def _allowance(self, now: float, turn: int) -> int:
        """
        How many bytes may be handled now: at most C{turn}, within what
        the token bucket holds.
        """
        if not self.rateLimit:
            return turn
        self._tokens = min(self.rateBurst, self._tokens + (now - self._tokensAt) * self.rateLimit)
        self._tokensAt = now
        return max(0, min(turn, int(self._tokens)))

    def _handle(self, data: bytes) -> None:
        self._tokens -= len(data)
        token = CURRENT.set(self.writeScope)
        try:
            self.parse(data)
        except StreamError as e:
            self.streamError(e.condition, e.text)
        finally:
            CURRENT.reset(token)

    def _scheduleDrain(self) -> None:
        """
        Handle the unread bytes at the next turn, or once the bucket holds
        a turn's share (or all of them, if fewer).
        """
        if self._drainCall is not None:
            return
        delay = 0.0
        if self.rateLimit:
            wanted = min(len(self._unread or b""), READ_TURN, self.rateBurst)
            delay = max(0.0, (wanted - self._tokens) / self.rateLimit)
        self._drainCall = self.clock.callLater(delay, self._drain)

    def _drain(self) -> None:
        self._drainCall = None
        unread, self._unread = self._unread, None
        if self.closed or unread is None:
            return
        self._take(bytes(unread), READ_TURN)
        if self._unread is None:
            self._updateProducing()

    def _updateProducing(self) -> None:
        """
        Pause the transport while bytes wait or the store is busy, and
        resume it once neither holds.
        """
        transport = self.transport
        if self.closed or transport is None:
            return
        producing = self._unread is None and not self._storeHeld
        if producing != self._producing:
            self._producing = producing
            if producing:
                transport.resumeProducing()
            else:
                transport.pauseProducing()

    @property
    def readingPaused(self) -> bool:
        """
        Whether the transport is paused: bytes wait for the byte-rate
        budget, or the store is busy with what this stream submitted.
        """
        return not self._producing

    def parse(self, data: bytes) -> None:
        """
        Feed bytes to the stream's parser.

        @raise StreamError: the input ends the stream.
        """
        raise NotImplementedError()

    def holdReading(self) -> None:
        """
        Back-pressure: the store is busy and this stream's input submitted
        to it; stop reading until it drains (the rest of the current read
        is still handled).
        """
        if self._storeHeld or self.closed:
            return
        self._storeHeld = True
        self._updateProducing()

    def releaseReading(self) -> None:
        """
        The store drained: read again (unless the rate limit holds).
        """
        if not self._storeHeld:
            return
        self._storeHeld = False
        self._updateProducing()

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
            if self.closed and not self._endHeld:
                held.clear()
                break
            data, mark = held[0]
            if mark is not None and not scope.passed(mark):
                scope.whenPassed(mark, self._flushHeld)
                return
            held.popleft()
            self.transport.write(data)
        self._heldOutput = None
        if self._endHeld:
            self._endHeld = False
            self._writeEnd()

    def streamError(self, condition: str, text: str | None = None, logged: bool = True) -> None:
        """
        Send a stream error and close the stream (RFC 6120 section 4.9);
        log it unless the caller logs such errors itself (C{logged}).
        """
        if self.closed:
            return
        self.sendHeader()
        error = domish.Element((NS_STREAMS, "error"))
        error.addElement((NS_STREAM_ERRORS, condition))
        if text:
            error.addElement((NS_STREAM_ERRORS, "text"), content=text)
        if logged:
            self.log.info(
                "{kind} stream error {condition} ({text}) with {peer}",
                kind=type(self).__name__,
                condition=condition,
                text=text,
                peer=self.describePeer(),
            )
        # What was held behind the barrier must not follow the error.
        self._heldOutput = None
        self.transport.write(streamXml(error))
        self.closeStream()

    def describePeer(self) -> str:
        """
        Who is at the other end, for log lines.
        """
        return str(self.transport.getPeer())

    def closeStream(self) -> None:
        """
        Close the stream and the connection: the closing tag goes after
        the IQ answers held behind the write barrier, once they went (at
        most C{closeTimeout} later, when the transport is aborted).
        """
        if self.closed:
            return
        self.closed = True
        self._cancelTimers()
        self._unread = None
        if not self._producing:
            # A paused transport would wait for a read to notice the end.
            self._producing = True
            self.transport.resumeProducing()
        if self._heldOutput:
            # IQ answers held behind the write barrier go first (RFC 6120
            # section 4.4: what is pending is sent before the closing tag);
            # the close timer below bounds the wait.
            self._endHeld = True
        else:
            self._writeEnd()
        # A peer that does not read, or never finishes a TLS handshake,
        # would keep a lost connection open for ever.
        self._abortCall = self.clock.callLater(self.closeTimeout, self._closeTimedOut)
        self.streamClosed()

    def _writeEnd(self) -> None:
        self.transport.write(b"</stream:stream>")
        self.transport.loseConnection()

    def streamClosed(self) -> None:
        """
        This side closed the stream (for subclasses).
        """


class XMLStream(StreamBase):
    """
    A stream with its own expat parser (server-to-server and component
    streams).

    @ivar limits: the L{ParseLimits} in force (L{setLimits} changes them
        once the peer authenticated).
    """

    limits = ParseLimits()

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
        self._dropParser()

    def streamClosed(self) -> None:
        # Whatever the parser held (a partial stanza up to the limits) goes
        # now, not when the transport is gone.
        self._dropParser()

    def _dropParser(self) -> None:
        self._parser = None
        self._expat = None

    def setLimits(self, limits: ParseLimits) -> None:
        """
        Parse with C{limits} from the next element on.
        """
        self.limits = limits
        if self._parser is not None:
            self._parser.maxStanzaSize = limits.maxStanzaSize

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
        parser.maxStanzaSize = self.limits.maxStanzaSize
        expat = parser.parser
        expat.StartDoctypeDeclHandler = self._restricted
        expat.EntityDeclHandler = self._restricted
        expat.ProcessingInstructionHandler = self._restricted
        expat.CommentHandler = self._restricted
        expat.SetParamEntityParsing(0)
        startElement = expat.StartElementHandler

        def onStartElement(name: str, attrs: dict, _parser: Any = parser) -> None:
            parseCheck(self.limits, _parser, attrs)
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
        if self._expat.CurrentByteIndex - self._stanzaStart > self.limits.maxStanzaSize:
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
