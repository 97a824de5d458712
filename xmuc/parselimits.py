# -*- test-case-name: tests.c2s.test_limits,tests.s2s.test_limits -*-
"""
What one stanza may hold, checked while it is parsed.

A domish element costs some 560 bytes of memory for as little as the 3
bytes of C{<a>}, so a byte limit alone lets a stanza of 255 KB hold 46 MiB.
L{checkStart} runs in the parser's start-element callback, before the
element is built, and tells which of the L{ParseLimits} (depth, elements
per stanza, attributes per element) the element would cross; the byte
limit is counted by the parsers per read. Streams turn a crossed limit into
a C{policy-violation} stream error (RFC 6120 section 4.9.3.12). Pure: no
reactor, no parser of its own; the element stream is domish's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ParseLimits:
    """
    What one stanza may hold. Hitting a limit ends the stream with
    C{policy-violation} (RFC 6120 section 4.9.3.12: a stanza over a
    configured limit) before the element that crosses it is built.

    @ivar maxStanzaSize: bytes of one stanza.
    @ivar maxDepth: nesting, the stanza itself being at depth 1.
    @ivar maxElements: elements in one stanza, the stanza included.
    @ivar maxAttributes: attributes of one element, prefixed namespace
        declarations included.
    """

    maxStanzaSize: int = 262144
    maxDepth: int = 32
    maxElements: int = 5000
    maxAttributes: int = 32
    #: Below this many elements in a stanza neither its depth nor its
    #: element count can be over a limit: nothing to check.
    watchFrom: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "watchFrom", min(self.maxDepth, self.maxElements))

    @classmethod
    def fromSection(cls, section: Any, authenticated: bool) -> "ParseLimits":
        """
        The limits a [c2s] or [s2s] section sets, before (the C{preauth_}
        options) or after the peer authenticated.
        """
        if authenticated:
            return cls(
                section.max_stanza_size, section.max_depth, section.max_elements,
                section.max_attributes,
            )
        return cls(
            min(section.preauth_stanza_size, section.max_stanza_size),
            section.max_depth,
            min(section.preauth_max_elements, section.max_elements),
            section.max_attributes,
        )


def checkStart(limits: ParseLimits, elements: Any, attrs: dict) -> str | None:
    """
    Called from expat's start-element callback before domish's element
    stream C{elements} builds the element: the attribute count, and, once
    the open stanza holds L{ParseLimits.watchFrom} elements, its element
    count and the new element's depth (found by walking up its parents,
    which only stanzas with many elements pay for).

    @return: None, or which limit the element crosses (the text of the
        C{policy-violation} stream error).
    """
    # Prefixed namespace declarations are attributes too (domish collects
    # them in localPrefixes before the element starts).
    if len(attrs) + len(elements.localPrefixes) > limits.maxAttributes:
        return "too many attributes on one element"
    parent = elements.currElem
    if parent is None:
        return None
    count = elements.elementCount
    if count < limits.watchFrom:
        return None
    if count >= limits.maxElements:
        return "too many elements in one stanza"
    depth = 1
    while parent is not None:
        depth += 1
        parent = parent.parent
    if depth > limits.maxDepth:
        return "elements nested too deeply"
    return None
