# -*- test-case-name: tests.core.test_stanza -*-
"""
Parsing serialised XML kept in storage back into elements.
"""

from __future__ import annotations

from twisted.words.xish import domish


def parseElements(xml: str, namespace: str = "jabber:client") -> list[domish.Element]:
    """
    Parse serialised top-level elements as if they stood inside a stream
    whose default namespace is C{namespace}.
    """
    elements: list[domish.Element] = []
    stream = domish.elementStream()
    stream.DocumentStartEvent = lambda root: None
    stream.ElementEvent = elements.append
    stream.DocumentEndEvent = lambda: None
    stream.parse(f"<stream xmlns='{namespace}'>".encode("utf-8"))
    stream.parse(xml.encode("utf-8"))
    return elements


def parseStanza(xml: str) -> domish.Element:
    """
    Parse exactly one stored, serialised stanza.

    @raise ValueError: when the text is not exactly one element.
    """
    elements = parseElements(xml)
    if len(elements) != 1:
        raise ValueError(f"expected one stanza, found {len(elements)}")
    return elements[0]
