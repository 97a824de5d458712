# -*- test-case-name: tests.muc.test_discovery -*-
"""
Service discovery of a room (XEP-0045 section 6.4 and 6.5): its identity,
the features its configuration implies (the C{disco-features} hook), the
muc#roominfo form (XEP-0128, the C{roominfo} hook), and its occupants.

Occupants are listed to occupants only: outsiders would otherwise learn
who is in a semi-anonymous room by nickname (section 6.5 lets a service
return an empty list).
"""

from __future__ import annotations

from xmuc.core.errors import ItemNotFound
from xmuc.muc.events import DiscoInfoIn, DiscoItemsIn, PingIn
from xmuc.muc.forms import FormField, formElement
from xmuc.muc.model import Affiliation
from xmuc.muc.ns import (
    NS_DISCO_INFO,
    NS_DISCO_ITEMS,
    NS_MUC,
    NS_MUC_ROOMINFO,
    NS_MUC_STABLE_ID,
    NS_SID,
)
from xmuc.muc.registry import Registry
from xmuc.muc.room import Room, RoomState, Turn
from xmuc.muc.stanzas import iqResult, query


def _requireVisible(room: Room, event: DiscoInfoIn | DiscoItemsIn) -> None:
    """
    A locked room does not exist for anyone but its owners (10.1.2).
    """
    owner = room.affiliation(event.sender.userhost()) is Affiliation.OWNER
    if room.state is RoomState.LOCKED and not owner:
        raise ItemNotFound("No such room")


def onDiscoInfo(room: Room, turn: Turn, event: DiscoInfoIn) -> None:
    if event.node:
        if not room.registry.hooks.fire("disco-node", room, turn, event):
            raise ItemNotFound("No such node")
        return
    _requireVisible(room, event)
    info = query(NS_DISCO_INFO)
    identity = info.addElement("identity")
    identity["category"] = "conference"
    identity["type"] = "text"
    identity["name"] = room.config.name or room.name
    features = {NS_MUC, NS_DISCO_INFO, NS_DISCO_ITEMS, NS_SID, NS_MUC_STABLE_ID}
    room.registry.hooks.fire("disco-features", room, features)
    for feature in sorted(features):
        info.addElement("feature")["var"] = feature
    fields = [
        FormField("muc#roominfo_description", label="Description",
                  values=(room.config.description,)),
        FormField("muc#roominfo_occupants", label="Number of occupants",
                  values=(str(len(room.occupants)),)),
        FormField("muc#roomconfig_roomname", label="Name", values=(room.config.name,)),
    ]
    if room.config.language:
        fields.append(FormField("muc#roominfo_lang", label="Language",
                                values=(room.config.language,)))
    room.registry.hooks.fire("roominfo", room, fields)
    info.addChild(formElement("result", NS_MUC_ROOMINFO, fields))
    turn.send(iqResult(event, info))


def onDiscoItems(room: Room, turn: Turn, event: DiscoItemsIn) -> None:
    if event.node:
        raise ItemNotFound("No such node")
    _requireVisible(room, event)
    items = query(NS_DISCO_ITEMS)
    if room.occupantOf(event.sender) is not None:
        for occupant in room.occupants.values():
            item = items.addElement("item")
            item["jid"] = room.occupantAddress(occupant)
            item["name"] = occupant.nick
    turn.send(iqResult(event, items))


def onPing(room: Room, turn: Turn, event: PingIn) -> None:
    """
    XEP-0199: the room answers pings to itself.
    """
    turn.send(iqResult(event))


def install(registry: Registry) -> None:
    registry.on(PingIn, onPing)
    registry.on(DiscoInfoIn, onDiscoInfo)
    registry.on(DiscoItemsIn, onDiscoItems)
