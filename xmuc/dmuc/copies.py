# -*- test-case-name: tests.dmuc.test_engines -*-
"""
Reading and reshaping the presences a primary sends a replica: the few
stanza operations both sides share, so that what one side takes off the
other can put back exactly (design section 4).

A replica gets one copy of each presence change and makes from it what
each local occupant would have got from a plain XEP-0045 service: the
occupant's own sessions the copy with status 110 added (L{withCodes}),
non-moderators of a semi-anonymous room the copy without the item's
C{jid} (L{withoutJid}), the others of an entrant its presence without the
entrant's own status codes. Every function returns a light copy (new
envelopes down to the changed element, the other children shared) and
leaves its argument as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from twisted.words.xish import domish

from xmuc.core.stanza import readdressed
from xmuc.muc.model import Affiliation, Role
from xmuc.muc.ns import NS_MUC_USER, NS_OCCUPANT_ID


def mucUserOf(stanza: domish.Element) -> domish.Element | None:
    """
    The stanza's muc#user C{<x/>}, or L{None}.
    """
    for child in stanza.elements(NS_MUC_USER, "x"):
        return child
    return None


def itemOf(stanza: domish.Element) -> domish.Element | None:
    """
    The muc#user C{<item/>} of a presence, or L{None}.
    """
    x = mucUserOf(stanza)
    if x is None:
        return None
    for child in x.elements(NS_MUC_USER, "item"):
        return child
    return None


def codesOf(stanza: domish.Element) -> frozenset[int]:
    """
    The muc#user status codes of a stanza (unreadable ones skipped).
    """
    x = mucUserOf(stanza)
    found: set[int] = set()
    for status in x.elements(NS_MUC_USER, "status") if x is not None else ():
        code = status.getAttribute("code", "")
        if code.isdigit():
            found.add(int(code))
    return frozenset(found)


def nickOf(stanza: domish.Element) -> str | None:
    """
    The occupant a stanza from the room is from (its C{from}'s resource),
    or L{None} for the room itself.
    """
    sender = stanza.getAttribute("from", "")
    _, slash, nick = sender.partition("/")
    return nick if slash else None


def _replacing(stanza: domish.Element, old: Any, new: Any) -> domish.Element:
    copy = readdressed(stanza, None)
    copy.children = [new if c is old else c for c in stanza.children]
    return copy


def withCodes(stanza: domish.Element, codes: Iterable[int]) -> domish.Element:
    """
    A copy whose muc#user element has exactly the status codes C{codes},
    in the order the room writes them (ascending, after the item, before
    any other child).
    """
    x = mucUserOf(stanza)
    if x is None:
        return stanza
    new = domish.Element((NS_MUC_USER, "x"), x.defaultUri)
    new.attributes = dict(x.attributes)
    kept = [c for c in x.children if not (isinstance(c, domish.Element) and c.name == "status")]
    items = [c for c in kept if isinstance(c, domish.Element) and c.name == "item"]
    others = [c for c in kept if c not in items]
    new.children = list(items)
    for code in sorted(set(codes)):
        new.addElement("status")["code"] = str(code)
    new.children.extend(others)
    return _replacing(stanza, x, new)


def withoutJid(stanza: domish.Element) -> domish.Element:
    """
    A copy whose muc#user item shows no real JID.
    """
    x = mucUserOf(stanza)
    item = itemOf(stanza)
    if x is None or item is None or not item.hasAttribute("jid"):
        return stanza
    newItem = domish.Element((item.uri, item.name), item.defaultUri)
    newItem.attributes = {k: v for k, v in item.attributes.items() if k != "jid"}
    newItem.children = list(item.children)
    return _replacing(stanza, x, _replacing(x, item, newItem))


def hasJid(stanza: domish.Element) -> bool:
    item = itemOf(stanza)
    return item is not None and item.hasAttribute("jid")


@dataclass(frozen=True)
class PresenceFacts:
    """
    What a presence copy says about its occupant.

    @ivar payload: the children the occupant's client sent (show, status,
        caps), in order: everything but the muc#user element and the
        occupant-id.
    @ivar newNick: the item's C{nick} (a nickname change, 303).
    """

    nick: str
    unavailable: bool
    role: Role
    affiliation: Affiliation
    jid: str | None
    codes: frozenset[int]
    payload: tuple[Any, ...]
    occupantId: str | None
    newNick: str | None


def readPresence(stanza: domish.Element) -> PresenceFacts | None:
    """
    The facts of a presence from C{room/nick} with a muc#user item, or
    L{None} when it is not one (or names an unknown role or affiliation).
    """
    nick, item = nickOf(stanza), itemOf(stanza)
    if nick is None or item is None:
        return None
    try:
        role = Role.fromLabel(item.getAttribute("role", "none"))
        affiliation = Affiliation.fromLabel(item.getAttribute("affiliation", "none"))
    except ValueError:
        return None
    payload, occupantId = [], None
    for child in stanza.children:
        if not isinstance(child, domish.Element):
            continue
        if child.uri == NS_MUC_USER and child.name == "x":
            continue
        if child.uri == NS_OCCUPANT_ID and child.name == "occupant-id":
            occupantId = child.getAttribute("id")
            continue
        payload.append(child)
    return PresenceFacts(nick, stanza.getAttribute("type") == "unavailable", role, affiliation,
                         item.getAttribute("jid"), codesOf(stanza), tuple(payload),
                         occupantId, item.getAttribute("nick"))
