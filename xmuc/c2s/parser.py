# -*- test-case-name: tests.c2s.test_parser -*-
"""
The XML parser of one client stream, which can free itself while idle.

An expat parser, with the state Twisted's domish element stream keeps around
it, holds about 12 KiB per stream: more than half of an idle plaintext
session. L{StreamParser.release} drops it while the stream sits between
stanzas, and the next read that carries more than whitespace builds a new
one, primed with the client's own stream header: its exact bytes, so the
default namespace, the stream prefix and any other declarations are in scope
as before and the client's closing tag still matches. The priming is not a
stream restart: the handler hears of the header once.

Only a parser with nothing buffered can be released: no element open, and
every byte it was given consumed by expat. A read can end in the middle of a
tag, an entity or a multi-byte character; expat keeps such a tail, and its
position (C{CurrentByteIndex}, the start of the first unconsumed token) then
lags behind the bytes fed.

Input a client may not send (DTDs, entity declarations, comments, processing
instructions), malformed input and stanzas over the size limit raise
L{StreamError} out of L{StreamParser.parse}.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

from twisted.words.xish import domish


class StreamError(Exception):
    """
    End the stream with this condition (RFC 6120 section 4.9.3).
    """

    def __init__(self, condition: str, text: str | None = None) -> None:
        super().__init__(condition)
        self.condition = condition
        self.text = text


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


#: A start tag: no '>' outside quoted attribute values.
_START_TAG = re.compile(rb"<[^'\">]*(?:(?:'[^']*'|\"[^\"]*\")[^'\">]*)*>")

#: XML white space (RFC 6120 whitespace keepalives).
_WHITESPACE = b" \t\r\n"


def _restricted(*args: Any) -> None:
    raise StreamError("restricted-xml", "no DTDs, entities, comments or PIs")


class StreamParser:
    """
    Parses one client stream (from its header to its end) for a
    L{StreamHandler}.

    @ivar released: whether the expat parser is dropped until more input.
    """

    __slots__ = (
        "_handler",
        "_maxStanzaSize",
        "_elements",
        "_expat",
        "_fed",
        "_header",
        "_stanzaStart",
        "released",
    )

    def __init__(self, handler: StreamHandler, maxStanzaSize: int) -> None:
        self._handler: StreamHandler | None = handler
        self._maxStanzaSize = maxStanzaSize
        self._header: bytes | None = None
        self.released = False
        self._build()

    def _build(self) -> None:
        elements = domish.ExpatElementStream()
        elements.DocumentStartEvent = self._started
        elements.ElementEvent = self._element
        elements.DocumentEndEvent = self._ended
        elements.maxStanzaSize = self._maxStanzaSize
        expat = elements.parser
        expat.StartDoctypeDeclHandler = _restricted
        expat.EntityDeclHandler = _restricted
        expat.ProcessingInstructionHandler = _restricted
        expat.CommentHandler = _restricted
        expat.SetParamEntityParsing(0)
        # Note where each stanza begins, so that one arriving whole in a
        # single read is measured too (domish only counts bytes per read).
        self._stanzaStart = 0
        expat.StartElementHandler = self._startElement
        self._elements = elements
        self._expat = expat
        self._fed = 0

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

    def parse(self, data: bytes) -> None:
        """
        Parse one read, rebuilding a released parser unless the read is
        only whitespace between stanzas.

        @raise StreamError: the input ends the stream.
        """
        if self.released:
            if not data.strip(_WHITESPACE):
                return
            self._rebuild()
        self._fed += len(data)
        try:
            self._elements.parse(data)
        except domish.ParserError as e:
            text = str(e)
            if "Maximum stanza size" in text or "Maximum element count" in text:
                raise StreamError("policy-violation", "stanza too large")
            raise StreamError("not-well-formed", text)

    def release(self) -> bool:
        """
        Drop the expat parser if the stream is between stanzas with nothing
        buffered; return whether the parser is released.
        """
        if self.released:
            return True
        elements = self._elements
        if (
            self._header is None
            or elements.currElem is not None
            or not elements.documentStarted
            or self._expat.CurrentByteIndex != self._fed
        ):
            return False
        self._elements = self._expat = None
        self.released = True
        return True

    def _rebuild(self) -> None:
        header = self._header
        self._build()
        self._elements.parse(header)
        self._fed = len(header)
        self._elements.stanzaSize = 0
        self.released = False

    # Expat and domish events

    def _startElement(self, name: str, attrs: dict) -> None:
        elements = self._elements
        if elements.currElem is None:
            if elements.documentStarted:
                self._stanzaStart = self._expat.CurrentByteIndex
            elif self._header is None:
                self._header = _startTag(self._expat.GetInputContext())
        elements._onStartElement(name, attrs)

    def _started(self, root: domish.Element) -> None:
        # A rebuilt parser's priming header is not news to the handler.
        handler = self._handler
        if handler is not None and not self.released:
            handler.streamStarted(root)

    def _element(self, element: domish.Element) -> None:
        handler = self._handler
        if handler is None:
            return
        if self._expat.CurrentByteIndex - self._stanzaStart > self._maxStanzaSize:
            raise StreamError("policy-violation", "stanza too large")
        handler.elementReceived(element)

    def _ended(self) -> None:
        handler = self._handler
        if handler is not None:
            handler.streamEnded()


def _startTag(context: bytes | None) -> bytes | None:
    """
    The start tag at the beginning of C{context} (the input from the
    current event on), or L{None} when expat does not keep its input.
    """
    if not context:
        return None
    match = _START_TAG.match(context)
    return match.group() if match else None
