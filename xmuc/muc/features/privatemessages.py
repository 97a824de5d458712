# -*- test-case-name: tests.muc.features.test_privatemessages -*-
"""
Private messages between occupants (XEP-0045 section 7.5), as
muc#roomconfig_allowpm permits: from the sender's occupant JID to every
session of the addressee, marked with an empty muc#user element so
clients know where they come from.
"""

from __future__ import annotations

from typing import Any

from xmuc.core.errors import BadRequest, Forbidden, ItemNotFound
from xmuc.muc.events import PrivateIn
from xmuc.muc.model import ALLOW_PM
from xmuc.muc.ns import NS_MUC_USER
from xmuc.muc.permissions import maySendPrivate
from xmuc.muc.registry import Registry
from xmuc.muc.roomconfig import listField
from xmuc.muc.stanzas import stanza

OPTIONS = tuple((value, value.capitalize()) for value in ALLOW_PM)


def onPrivate(room: Any, turn: Any, event: PrivateIn) -> None:
    if event.kind == "groupchat":
        raise BadRequest("A private message is not of type groupchat")
    sender = room.requireOccupant(event.sender)
    target = room.occupantByNick(event.nick)
    if target is None:
        raise ItemNotFound("No such occupant")
    if not maySendPrivate(sender.role, room.config):
        raise Forbidden("Private messages are not allowed here")
    for session in target.sessions.values():
        message = stanza("message", room.occupantAddress(sender), session.jid.full(),
                         event.kind, event.id)
        for child in event.payload:
            message.addChild(child)
        message.addElement((NS_MUC_USER, "x"))
        room.registry.hooks.fire("from-occupant", room, sender, message)
        turn.send(message)


def install(registry: Registry) -> None:
    registry.on(PrivateIn, onPrivate)
    registry.addField(listField("muc#roomconfig_allowpm", "Who may send private messages",
                                "allowPM", OPTIONS, 37))
