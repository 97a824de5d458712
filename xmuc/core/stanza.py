# -*- test-case-name: tests.core.test_stanza -*-
"""
Serialising stanzas for a stream, parsing serialised XML kept in storage
back into elements, and light copies of stanzas for fan-out.
"""

from __future__ import annotations

from typing import Any, Iterable

from twisted.words.xish import domish


#: The namespaces a stanza takes from its stream (RFC 6120 section 4.8.3).
STANZA_NAMESPACES = frozenset(
    ("jabber:client", "jabber:server", "jabber:component:accept")
)


def stanzaXml(stanza: domish.Element) -> str:
    """
    Serialise a stanza for whatever stream carries it: its stream-content
    namespace is left implicit, so the stanza takes the namespace of the
    stream it is written to. This is how a stanza that came over s2s in
    C{jabber:server} reaches a client in C{jabber:client}, and the other
    way round.
    """
    if stanza.uri in STANZA_NAMESPACES and stanza.defaultUri == stanza.uri:
        return stanza.toXml(defaultUri=stanza.uri)
    return stanza.toXml()


def toClientNamespace(stanza: domish.Element) -> domish.Element:
    """
    Move a stanza that arrived in C{jabber:server} (or a component's
    C{jabber:component:accept}) into C{jabber:client}, with every child that
    took that namespace from it, so that the node holds one form of stanza
    whichever stream it came from (RFC 6120 section 4.8.3). Children in
    other namespaces are left alone.
    """
    pending = [stanza]
    while pending:
        element = pending.pop()
        if element.uri in _SERVER_NAMESPACES:
            element.uri = "jabber:client"
        if element.defaultUri in _SERVER_NAMESPACES:
            element.defaultUri = "jabber:client"
        pending.extend(element.elements())
    return stanza


_SERVER_NAMESPACES = frozenset(("jabber:server", "jabber:component:accept"))


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


def readdressed(
    stanza: domish.Element,
    to: str | None,
    sender: str | None = None,
    extra: Iterable[Any] = (),
) -> domish.Element:
    """
    A copy of C{stanza} sent to C{to}: a new envelope around the same
    children (and C{extra} ones after them), so that a broadcast builds its
    payload once and the original stays as it is. With C{to} L{None} the
    copy keeps the original's addressing.
    """
    copy = domish.Element((stanza.uri, stanza.name), stanza.defaultUri)
    copy.attributes = dict(stanza.attributes)
    copy.children = list(stanza.children)
    copy.children.extend(extra)
    if to is not None:
        copy["to"] = to
    if sender is not None:
        copy["from"] = sender
    return copy
