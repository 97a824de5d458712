# -*- test-case-name: tests.muc.features.test_registration -*-
"""
Registering with a room (XEP-0045 section 7.10): a user reserves a
nickname and becomes a member. Nobody else may enter with, or change to, a
reserved nickname (C{conflict}); the user finds theirs with the disco node
C{x-roomuser-item} (section 7.12). In members-only rooms only those who
are members already may register a nickname.
"""

from __future__ import annotations

from typing import Any

from xmuc.core.errors import BadRequest, Conflict, Forbidden, ItemNotFound, NotAcceptable
from xmuc.core.jid import prepNickname
from xmuc.muc.events import DiscoInfoIn, RegisterGetIn, RegisterSetIn
from xmuc.muc.forms import FormField, formElement
from xmuc.muc.model import Affiliation
from xmuc.muc.ns import NS_DISCO_INFO, NS_MUC_REGISTER, NS_REGISTER
from xmuc.muc.occupancy import checkedNick
from xmuc.muc.registry import Registry
from xmuc.muc.stanzas import iqResult, query

ROOMNICK = "muc#register_roomnick"


def reservedBy(room: Any, key: str) -> str | None:
    """
    The bare JID that reserved a nickname key, or L{None}.
    """
    for bare, entry in room.affiliations.items():
        if entry.nick and prepNickname(entry.nick) == key:
            return bare
    return None


def onGet(room: Any, turn: Any, event: RegisterGetIn) -> None:
    bare = event.sender.userhost()
    if room.affiliation(bare) is Affiliation.OUTCAST:
        raise Forbidden("You are banned from this room")
    result = query(NS_REGISTER)
    entry = room.affiliations.get(bare)
    if entry is not None and entry.nick:
        result.addElement("registered")
        result.addElement("username", content=entry.nick)
    else:
        result.addElement("instructions", content="Choose the nickname to reserve")
        result.addChild(formElement("form", NS_MUC_REGISTER, [
            FormField(ROOMNICK, label="Nickname", required=True)]))
    turn.send(iqResult(event, result))


def onSet(room: Any, turn: Any, event: RegisterSetIn) -> None:
    bare = event.sender.userhost()
    affiliation = room.affiliation(bare)
    entry = room.affiliations.get(bare)
    if event.remove:
        if entry is None or not entry.nick:
            raise ItemNotFound("You have not registered")
        keep = affiliation if affiliation is not Affiliation.MEMBER else Affiliation.NONE
        room.setAffiliation(turn, bare, keep, reason=entry.reason)
        turn.send(iqResult(event))
        return
    form = event.form
    if form is None or form.kind != "submit" or form.formType not in (None, NS_MUC_REGISTER):
        raise BadRequest("submit the muc#register form")
    if affiliation is Affiliation.OUTCAST:
        raise Forbidden("You are banned from this room")
    if room.config.membersOnly and affiliation.rank < Affiliation.MEMBER.rank:
        raise NotAcceptable("Only members may register with this room")
    nick, key = checkedNick(form.single(ROOMNICK) or "")
    holder = reservedBy(room, key)
    occupant = room.occupants.get(key)
    if (holder not in (None, bare)) or (occupant is not None and occupant.bare != bare):
        raise Conflict("That nickname is taken")
    new = affiliation if affiliation.rank > Affiliation.MEMBER.rank else Affiliation.MEMBER
    room.setAffiliation(turn, bare, new, reason=entry.reason if entry else "", nick=nick)
    turn.send(iqResult(event))


def _requireFree(room: Any, bare: str, key: str) -> None:
    holder = reservedBy(room, key)
    if holder is not None and holder != bare:
        raise Conflict("That nickname is reserved")


def checkJoin(room: Any, turn: Any, entrant: Any) -> None:
    """
    A nickname reserved by another account is theirs (section 7.2.9).
    """
    _requireFree(room, entrant.bare, entrant.key)


def checkNickChange(room: Any, turn: Any, occupant: Any, nick: str, key: str) -> None:
    _requireFree(room, occupant.bare, key)


def discoNode(room: Any, turn: Any, event: DiscoInfoIn) -> bool:
    if event.node != "x-roomuser-item":
        return False
    info = query(NS_DISCO_INFO)
    info["node"] = event.node
    entry = room.affiliations.get(event.sender.userhost())
    if entry is not None and entry.nick:
        identity = info.addElement("identity")
        identity["category"] = "conference"
        identity["type"] = "text"
        identity["name"] = entry.nick
    turn.send(iqResult(event, info))
    return True


def discoFeatures(room: Any, features: set[str]) -> None:
    features.add(NS_REGISTER)


def install(registry: Registry) -> None:
    registry.on(RegisterGetIn, onGet)
    registry.on(RegisterSetIn, onSet)
    registry.hooks.add("pre-join", checkJoin, priority=60)
    registry.hooks.add("nick-change", checkNickChange)
    registry.hooks.add("disco-node", discoNode)
    registry.hooks.add("disco-features", discoFeatures)
