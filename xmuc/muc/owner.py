# -*- test-case-name: tests.muc.test_owner -*-
"""
The muc#owner namespace (XEP-0045 section 10): the configuration form,
instant and reserved rooms, and destruction.

A room created with the MUC element is locked (status 201) until its
owner submits a form; an empty one accepts the defaults (instant room),
a cancel destroys the room. The general fields of the form live here
(name, description, language, presence broadcast, who may read the member
list, owner and admin shortcuts); each feature adds its own.
"""

from __future__ import annotations

from typing import Any

from xmuc.core.errors import BadRequest, Forbidden, NotAcceptable
from xmuc.core.jid import InvalidJID, parseJID
from xmuc.muc import view
from xmuc.muc.events import DestroyIn, OwnerGetIn, OwnerSetIn
from xmuc.muc.model import Affiliation, Role, RoomConfig
from xmuc.muc.ns import NS_MUC_OWNER
from xmuc.muc.permissions import mayConfigure
from xmuc.muc.registry import ConfigField, Registry
from xmuc.muc.room import Room, RoomState, Turn
from xmuc.muc.roomconfig import applyForm, configForm, textField
from xmuc.muc.stanzas import iqResult, query, statusMessage
from xmuc.muc.view import Kind

ROLE_OPTIONS = tuple((r.label, r.label.capitalize()) for r in
                     (Role.MODERATOR, Role.PARTICIPANT, Role.VISITOR))


def requireOwner(room: Room, sender: Any) -> None:
    if not mayConfigure(room.affiliation(sender.userhost())):
        raise Forbidden("Only owners may do that")


def onOwnerGet(room: Room, turn: Turn, event: OwnerGetIn) -> None:
    requireOwner(room, event.sender)
    result = query(NS_MUC_OWNER)
    result.addChild(configForm(room))
    turn.send(iqResult(event, result))


def onOwnerSet(room: Room, turn: Turn, event: OwnerSetIn) -> None:
    requireOwner(room, event.sender)
    form = event.form
    if form.kind == "cancel":
        turn.send(iqResult(event))
        if room.state is RoomState.LOCKED:
            destroy(room, turn, None, "The room's creation was cancelled")
        return
    if form.kind != "submit":
        raise BadRequest("submit or cancel the form")
    new = applyForm(room, form)
    promoted = {var: _jids(var, form.values.get(var))
                for var in ("muc#roomconfig_roomowners", "muc#roomconfig_roomadmins")}
    turn.send(iqResult(event))
    reconfigure(room, turn, new)
    for var, affiliation in (("muc#roomconfig_roomowners", Affiliation.OWNER),
                             ("muc#roomconfig_roomadmins", Affiliation.ADMIN)):
        for bare in promoted[var] or ():
            if room.affiliation(bare) is not affiliation:
                room.setAffiliation(turn, bare, affiliation)


def reconfigure(room: Room, turn: Turn, new: RoomConfig) -> None:
    """
    Put a new configuration in force: unlock a locked room, let features
    react (their status codes collect in C{turn.codes}), and tell the
    occupants (section 10.2.1).
    """
    old, room.config = room.config, new
    room.resizeHistory()
    wasOpen = room.state is RoomState.OPEN
    if not wasOpen:
        room.transition("unlock")
    if old != new:
        turn.codes.add(104)
    room.registry.hooks.fire("config-changed", room, turn, old, new)
    if wasOpen and turn.codes:
        room.broadcastMessage(turn, statusMessage(room.address, sorted(turn.codes)),
                             Kind.STATUS)
    room.persist(turn)


def _jids(var: str, values: tuple[str, ...] | None) -> list[str] | None:
    if values is None:
        return None
    try:
        return [parseJID(v).userhost() for v in values if v]
    except InvalidJID:
        raise BadRequest(f"{var}: not a JID") from None


def onDestroy(room: Room, turn: Turn, event: DestroyIn) -> None:
    requireOwner(room, event.sender)
    turn.send(iqResult(event))
    destroy(room, turn, event.alternate, event.reason, event.password)


def destroy(room: Room, turn: Turn, alternate: Any, reason: str = "",
            password: str | None = None) -> None:
    """
    Section 10.9: every occupant gets its own unavailable presence
    carrying the C{<destroy/>} (alternate venue, reason), all under one
    broadcast number, then the room is gone.
    """
    notice = view.destroyNotice(alternate.full() if alternate is not None else None,
                                reason, password)
    room.evictAll(turn, (), (notice,))
    room.transition("destroy")
    turn.effects.extend(room.forget())


def _rolesField(var: str, label: str, attribute: str, order: int) -> ConfigField:
    def write(values: tuple[str, ...], settings: Any) -> frozenset[Role]:
        try:
            return frozenset(Role.fromLabel(v) for v in values if v != "none")
        except ValueError as e:
            raise NotAcceptable(f"{var}: {e}") from None

    return ConfigField(
        var, "list-multi", label, attribute,
        read=lambda room: tuple(r.label for r in Role if r in getattr(room.config, attribute)),
        write=write, options=ROLE_OPTIONS, order=order,
    )


def _affiliatedField(var: str, label: str, affiliation: Affiliation, order: int) -> ConfigField:
    return ConfigField(
        var, "jid-multi", label, None,
        read=lambda room: tuple(sorted(b for b, a in room.affiliations.items()
                                       if a.affiliation is affiliation)),
        write=None, order=order,
    )


def install(registry: Registry) -> None:
    registry.on(OwnerGetIn, onOwnerGet)
    registry.on(OwnerSetIn, onOwnerSet)
    registry.on(DestroyIn, onDestroy)
    for field in (
        textField("muc#roomconfig_roomname", "Name", "name", 10),
        textField("muc#roomconfig_roomdesc", "Description", "description", 11),
        textField("muc#roomconfig_lang", "Language", "language", 12, maxLength=35),
        _rolesField("muc#roomconfig_presencebroadcast",
                    "Roles whose presence is broadcast", "presenceBroadcast", 60),
        _rolesField("muc#roomconfig_getmemberlist",
                    "Roles that may retrieve the member list", "getMemberList", 61),
        _affiliatedField("muc#roomconfig_roomowners", "Owners", Affiliation.OWNER, 90),
        _affiliatedField("muc#roomconfig_roomadmins", "Admins", Affiliation.ADMIN, 91),
    ):
        registry.addField(field)
