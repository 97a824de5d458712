# -*- test-case-name: tests.muc.features.test_voicerequests -*-
"""
Voice requests (XEP-0045 sections 7.13 and 8.6): a visitor in a moderated
room asks for voice with a muc#request form; the room forwards the request
to every moderator, and a moderator who submits it back with
C{muc#request_allow} true grants voice.
"""

from __future__ import annotations

from typing import Any

from xmuc.core.errors import ItemNotFound, NotAcceptable
from xmuc.muc.events import VoiceApprovalIn, VoiceRequestIn
from xmuc.muc.forms import FormField, formElement
from xmuc.muc.model import Role
from xmuc.muc.ns import NS_MUC_REQUEST
from xmuc.muc.permissions import require, roleChange
from xmuc.muc.registry import Registry
from xmuc.muc.stanzas import stanza


def onRequest(room: Any, turn: Any, event: VoiceRequestIn) -> None:
    occupant = room.requireOccupant(event.sender)
    if occupant.role is not Role.VISITOR:
        raise NotAcceptable("You have voice already")
    form = formElement("form", NS_MUC_REQUEST, [
        FormField("muc#role", "list-single", "Requested role", ("participant",),
                  (("participant", "Participant"),)),
        FormField("muc#jid", "jid-single", "User ID", (occupant.jid.full(),)),
        FormField("muc#roomnick", "text-single", "Room nickname", (occupant.nick,)),
        FormField("muc#request_allow", "boolean", "Grant voice to this person?", ("false",)),
    ], title="Voice request")
    for moderator in room.occupants.values():
        if moderator.role is not Role.MODERATOR:
            continue
        for jid in moderator.jids():
            message = stanza("message", room.address, jid.full())
            message.addChild(form)
            turn.send(message)


def onApproval(room: Any, turn: Any, event: VoiceApprovalIn) -> None:
    actor = room.requireOccupant(event.sender)
    if not event.allow:
        return
    target = room.occupantByNick(event.nick)
    if target is None:
        raise ItemNotFound("No such occupant")
    if target.role is not Role.VISITOR:
        return
    require(roleChange(actor.role, room.affiliation(actor.bare), target.role,
                       room.affiliation(target.bare), Role.PARTICIPANT))
    room.setRole(turn, target, Role.PARTICIPANT, actor.nick)


def discoFeatures(room: Any, features: set[str]) -> None:
    features.add(NS_MUC_REQUEST)


def install(registry: Registry) -> None:
    registry.on(VoiceRequestIn, onRequest)
    registry.on(VoiceApprovalIn, onApproval)
    registry.hooks.add("disco-features", discoFeatures)
