# -*- test-case-name: tests.muc.features.test_invitations -*-
"""
Mediated invitations (XEP-0045 section 7.8.2) and their declines.

Who may invite depends on muc#roomconfig_allowinvites (see
L{xmuc.muc.permissions.mayInvite}). An invitation to a members-only room
makes the invitee a member when the inviter may grant membership, or when
the room lets its occupants invite (as Prosody does: an invitation nobody
can follow would be useless). Direct invitations
(XEP-0249) go from client to client and need nothing from the room.
"""

from __future__ import annotations

from typing import Any

from xmuc.core.errors import Forbidden
from xmuc.muc.events import DeclineIn, InviteIn
from xmuc.muc.model import Affiliation
from xmuc.muc.ns import NS_MUC_USER
from xmuc.muc.permissions import Verdict, affiliationChange, mayInvite
from xmuc.muc.registry import Registry
from xmuc.muc.roomconfig import booleanField
from xmuc.muc.stanzas import stanza


def onInvite(room: Any, turn: Any, event: InviteIn) -> None:
    occupant = room.requireOccupant(event.sender)
    affiliation = room.affiliation(occupant.bare)
    if not mayInvite(occupant.role, affiliation, room.config):
        raise Forbidden("You may not invite to this room")
    for invitation in event.invitations:
        invitee = invitation.to.userhost()
        current = room.affiliation(invitee)
        if room.config.membersOnly and current is Affiliation.NONE:
            verdict = affiliationChange(affiliation, current, Affiliation.MEMBER)
            if verdict is Verdict.ALLOWED or room.config.allowInvites:
                room.setAffiliation(turn, invitee, Affiliation.MEMBER, occupant.nick)
        message = stanza("message", room.address, invitation.to.full(), id=event.id)
        x = message.addElement((NS_MUC_USER, "x"))
        invite = x.addElement("invite")
        invite["from"] = event.sender.full()
        if invitation.reason:
            invite.addElement("reason", content=invitation.reason)
        if room.config.secret:
            x.addElement("password", content=room.config.secret)
        message.addElement("body", content=(
            f"{event.sender.userhost()} invites you to the room {room.address}"
            + (f": {invitation.reason}" if invitation.reason else "")
        ))
        turn.send(message)


def onDecline(room: Any, turn: Any, event: DeclineIn) -> None:
    message = stanza("message", room.address, event.invitor.full(), id=event.id)
    decline = message.addElement((NS_MUC_USER, "x")).addElement("decline")
    decline["from"] = event.sender.userhost()
    if event.reason:
        decline.addElement("reason", content=event.reason)
    turn.send(message)


def install(registry: Registry) -> None:
    registry.on(InviteIn, onInvite)
    registry.on(DeclineIn, onDecline)
    registry.addField(booleanField("muc#roomconfig_allowinvites",
                                   "Allow occupants to invite others", "allowInvites", 30))
