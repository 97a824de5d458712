# -*- test-case-name: tests.dmuc.test_wire -*-
"""
Reading DMUC elements at the edge: the one exception malformed input
raises, and the attribute readers L{xmuc.dmuc.wire} and
L{xmuc.dmuc.marker} share.
"""

from __future__ import annotations

import re

from twisted.words.protocols.jabber.jid import JID
from twisted.words.xish import domish

from xmuc.core.errors import BadRequest
from xmuc.core.jid import InvalidJID, parseJID
from xmuc.dmuc.ns import NS_DMUC

#: The largest sequence number (SQLite's INTEGER), and the longest epoch.
MAX_SEQ = 2**63 - 1
MAX_EPOCH = 128
_DIGITS = re.compile(r"[0-9]{1,19}\Z")


class DMUCProtocolError(BadRequest):
    """
    A DMUC element is malformed. It is a L{BadRequest}, so the one error
    table answers it C{bad-request} with C{text}.

    @ivar condition: the stanza error condition (always C{bad-request}).
    @ivar text: what is wrong, for the peer.
    """

    condition = "bad-request"

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


# Reading attributes


def child(parent: domish.Element, uri: str, name: str) -> domish.Element | None:
    """
    The first child element C{{uri}name}, or L{None}.
    """
    for element in parent.elements(uri, name):
        return element
    return None


def only(parent: domish.Element, uri: str, name: str) -> domish.Element | None:
    """
    The child element C{{uri}name} when there is at most one.

    @raise DMUCProtocolError: when there are several.
    """
    found = list(parent.elements(uri, name))
    if len(found) > 1:
        raise DMUCProtocolError(f"more than one <{name}/> in <{parent.name}/>")
    return found[0] if found else None


def required(element: domish.Element, name: str) -> str:
    """
    The value of a required attribute.

    @raise DMUCProtocolError: when it is missing or empty.
    """
    value = element.getAttribute(name)
    if not value:
        raise DMUCProtocolError(f"<{element.name}/> without {name}")
    return value


def number(element: domish.Element, name: str, least: int = 0,
           default: int | None = None) -> int:
    """
    A decimal attribute (ASCII digits only) between C{least} and
    L{MAX_SEQ}; C{default} when it is absent and a default is given.

    @raise DMUCProtocolError: when it is missing (without a default), not
        digits, or out of range.
    """
    value = element.getAttribute(name)
    if value is None and default is not None:
        return default
    if value is None or not _DIGITS.match(value):
        raise DMUCProtocolError(f"<{element.name}/> {name} is not a number")
    result = int(value)
    if not least <= result <= MAX_SEQ:
        raise DMUCProtocolError(f"<{element.name}/> {name} is out of range")
    return result


def address(element: domish.Element, name: str = "jid", full: bool | None = None) -> JID:
    """
    A required JID attribute; with C{full} C{True} it must have a
    resource, with C{False} it must not.

    @raise DMUCProtocolError: when it is missing, does not parse or has
        the wrong form.
    """
    text = required(element, name)
    try:
        jid = parseJID(text)
    except InvalidJID as e:
        raise DMUCProtocolError(f"<{element.name}/> {name}: {e}") from None
    if full is True and jid.resource is None:
        raise DMUCProtocolError(f"<{element.name}/> {name} must be a full JID")
    if full is False and jid.resource is not None:
        raise DMUCProtocolError(f"<{element.name}/> {name} must be a bare JID")
    return jid


def epochOf(element: domish.Element) -> str:
    """
    The opaque C{epoch} attribute, 1 to L{MAX_EPOCH} characters.
    """
    epoch = required(element, "epoch")
    if len(epoch) > MAX_EPOCH:
        raise DMUCProtocolError(f"<{element.name}/> epoch is too long")
    return epoch


def expect(element: domish.Element, name: str) -> None:
    """
    @raise DMUCProtocolError: unless C{element} is C{{dmuc}name}.
    """
    if (element.uri, element.name) != (NS_DMUC, name):
        raise DMUCProtocolError(f"expected <{name} xmlns='{NS_DMUC}'/>")


def dmucElement(name: str, **attributes: str) -> domish.Element:
    """
    A new element in the DMUC namespace with the given attributes.
    """
    element = domish.Element((NS_DMUC, name))
    for key, value in attributes.items():
        element[key.replace("_", "-")] = value
    return element
