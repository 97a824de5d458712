# -*- test-case-name: tests.muc.test_room -*-
"""
Builders of the stanzas a room sends. They make new elements and never
walk the ones they are given (payloads are appended as they are).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Iterable

from twisted.words.xish import domish

from xmuc.muc.model import Affiliation, Role
from xmuc.muc.ns import NS_CLIENT, NS_DELAY, NS_MUC_USER


def stamp(seconds: float) -> str:
    """
    An XEP-0082 DateTime in UTC, with milliseconds when there are any.
    """
    moment = datetime.fromtimestamp(seconds, timezone.utc)
    if moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parseStamp(text: str) -> float:
    """
    The POSIX time of an XEP-0082 DateTime.

    @raise ValueError: when it is not one.
    """
    moment = datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        raise ValueError("DateTime without a time zone")
    return moment.timestamp()


def stanza(name: str, sender: str, to: str | None = None, kind: str | None = None,
           id: str | None = None) -> domish.Element:
    """
    A new stanza. It is in the client namespace, so that payloads parsed
    from client streams serialise without namespace declarations of their
    own and a stored copy parses back right inside a MAM C{<forwarded/>}.
    """
    element = domish.Element((NS_CLIENT, name))
    element["from"] = sender
    if to is not None:
        element["to"] = to
    if kind is not None:
        element["type"] = kind
    if id is not None:
        element["id"] = id
    return element


def statusCodes(x: domish.Element, codes: Iterable[int]) -> None:
    for code in codes:
        x.addElement("status")["code"] = str(code)


def itemElement(affiliation: Affiliation, role: Role | None, jid: str | None = None,
                nick: str | None = None, actor: str | None = None,
                reason: str = "", namespace: str = NS_MUC_USER) -> domish.Element:
    """
    A muc#user (or, with C{namespace}, muc#admin) C{<item/>}; without a
    role for affiliation lists and notices.
    """
    item = domish.Element((namespace, "item"))
    item["affiliation"] = affiliation.label
    if role is not None:
        item["role"] = role.label
    if jid is not None:
        item["jid"] = jid
    if nick is not None:
        item["nick"] = nick
    if actor is not None:
        item.addElement("actor")["nick"] = actor
    if reason:
        item.addElement("reason", content=reason)
    return item


def mucUser(*children: domish.Element, codes: Iterable[int] = ()) -> domish.Element:
    x = domish.Element((NS_MUC_USER, "x"))
    for child in children:
        x.addChild(child)
    statusCodes(x, codes)
    return x


def statusMessage(room: str, codes: Iterable[int], id: str | None = None) -> domish.Element:
    """
    A groupchat message from the room carrying only status codes (section
    10.2.1: configuration changes).
    """
    message = stanza("message", room, kind="groupchat", id=id)
    message.addChild(mucUser(codes=codes))
    return message


def delay(seconds: float, by: str) -> domish.Element:
    """
    An XEP-0203 C{<delay/>}.
    """
    element = domish.Element((NS_DELAY, "delay"))
    element["stamp"] = stamp(seconds)
    element["from"] = by
    return element


def iqResult(event: Any, payload: domish.Element | None = None) -> domish.Element:
    """
    The result of an IQ event, from the address it was sent to.
    """
    result = stanza("iq", event.to.full(), event.sender.full(), "result", event.id)
    if payload is not None:
        result.addChild(payload)
    return result


def query(namespace: str) -> domish.Element:
    return domish.Element((namespace, "query"))
