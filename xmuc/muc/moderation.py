# -*- test-case-name: tests.muc.test_moderation -*-
"""
The muc#admin namespace (XEP-0045 sections 8 and 9, and the owner and
admin lists of section 10): changing roles (kick, voice, moderator) and
affiliations (ban, member, admin, owner), and reading their lists.

A set is all or nothing: every item is checked against the permission
matrix (L{xmuc.muc.permissions}) before any is applied.
"""

from __future__ import annotations

from typing import Callable

from xmuc.core.errors import BadRequest, Conflict, Forbidden, ItemNotFound
from xmuc.muc.events import AdminGetIn, AdminItem, AdminSetIn
from xmuc.muc.model import Affiliation, Occupant, Role
from xmuc.muc.ns import NS_MUC_ADMIN
from xmuc.muc.permissions import (
    affiliationChange,
    mayGetAffiliationList,
    mayGetRoleList,
    maySeeRealJids,
    require,
    roleChange,
)
from xmuc.muc.registry import Registry
from xmuc.muc.room import Room, Turn
from xmuc.muc.stanzas import iqResult, itemElement, query

Change = Callable[[], None]


def onAdminSet(room: Room, turn: Turn, event: AdminSetIn) -> None:
    actorBare = event.sender.userhost()
    actor = room.occupantOf(event.sender)
    actorNick = actor.nick if actor is not None else None
    changes: list[Change] = []
    owners = set(room.owners())
    for item in event.items:
        if item.affiliation is not None:
            changes.append(_affiliationChange(room, turn, actorBare, actorNick, item, owners))
        elif item.role is not None:
            changes.append(_roleChange(room, turn, actor, item))
        else:
            raise BadRequest("an item needs a role or an affiliation")
    for change in changes:
        change()
    turn.send(iqResult(event))


def _roleChange(room: Room, turn: Turn, actor: Occupant | None, item: AdminItem) -> Change:
    if actor is None:
        raise Forbidden("Only moderators in the room change roles")
    if item.nick is None:
        raise BadRequest("a role change names the occupant by nick")
    target = room.occupantByNick(item.nick)
    if target is None:
        raise ItemNotFound("No such occupant")
    assert item.role is not None
    require(roleChange(actor.role, room.affiliation(actor.bare), target.role,
                       room.affiliation(target.bare), item.role))
    role = item.role
    return lambda: room.setRole(turn, target, role, actor.nick, item.reason)


def _affiliationChange(room: Room, turn: Turn, actorBare: str, actorNick: str | None,
                       item: AdminItem, owners: set[str]) -> Change:
    if item.jid is not None:
        bare = item.jid.userhost()
    elif item.nick is not None:
        target = room.occupantByNick(item.nick)
        if target is None:
            raise ItemNotFound("No such occupant")
        bare = target.bare
    else:
        raise BadRequest("an affiliation change names a JID")
    new = item.affiliation
    assert new is not None
    old = room.affiliation(bare)
    require(affiliationChange(room.affiliation(actorBare), old, new))
    if old is Affiliation.OWNER and new is not Affiliation.OWNER:
        # Section 10.7: a room keeps at least one owner.
        owners.discard(bare)
        if not owners:
            raise Conflict("The room needs an owner")
    elif new is Affiliation.OWNER:
        owners.add(bare)
    nick = room.affiliations[bare].nick if bare in room.affiliations else ""
    return lambda: room.setAffiliation(turn, bare, new, actorNick, item.reason, nick)


def onAdminGet(room: Room, turn: Turn, event: AdminGetIn) -> None:
    bare = event.sender.userhost()
    affiliation = room.affiliation(bare)
    occupant = room.occupantOf(event.sender)
    role = occupant.role if occupant is not None else Role.NONE
    result = query(NS_MUC_ADMIN)
    if event.affiliation is not None:
        if not mayGetAffiliationList(role, affiliation, event.affiliation, room.config):
            raise Forbidden("You may not see that list")
        for jid, entry in sorted(room.affiliations.items()):
            if entry.affiliation is event.affiliation:
                result.addChild(itemElement(entry.affiliation, None, jid, entry.nick or None,
                                            reason=entry.reason, namespace=NS_MUC_ADMIN))
    elif event.role is not None:
        if not mayGetRoleList(role, affiliation, event.role):
            raise Forbidden("You may not see that list")
        seesJids = maySeeRealJids(role, room.config)
        for other in room.occupants.values():
            if other.role is event.role:
                result.addChild(itemElement(
                    room.affiliation(other.bare), other.role,
                    other.jid.full() if seesJids else None, other.nick,
                    namespace=NS_MUC_ADMIN,
                ))
    else:
        raise BadRequest("ask for one role or one affiliation")
    turn.send(iqResult(event, result))


def install(registry: Registry) -> None:
    registry.on(AdminSetIn, onAdminSet)
    registry.on(AdminGetIn, onAdminGet)
