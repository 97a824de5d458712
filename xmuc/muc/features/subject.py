# -*- test-case-name: tests.muc.features.test_subject -*-
"""
The room's subject (XEP-0045 section 8.1): a groupchat message with a
C{<subject/>} and no body changes it, for moderators always and for
participants when muc#roomconfig_changesubject allows. Entering occupants
get it last, after the history (an empty C{<subject/>} when none is set,
which clients take as the end of the join: L{xmuc.muc.entrant.joinSequence}).
"""

from __future__ import annotations

from typing import Any

from xmuc.core.errors import Forbidden
from xmuc.muc import entrant
from xmuc.muc.events import GroupchatIn
from xmuc.muc.forms import FormField
from xmuc.muc.model import Occupant, Subject
from xmuc.muc.permissions import maySetSubject
from xmuc.muc.registry import Registry
from xmuc.muc.roomconfig import booleanField


def subjectMessage(room: Any, subject: Subject, id: str | None = None) -> Any:
    return entrant.subjectMessage(room.address, subject, id)


def onGroupchat(room: Any, turn: Any, occupant: Occupant, event: GroupchatIn) -> bool:
    if event.subject is None or event.body is not None:
        return False
    if not maySetSubject(occupant.role, room.config):
        raise Forbidden("You may not change the subject")
    room.subject = Subject(event.subject, occupant.nick, turn.now)
    message = subjectMessage(room, room.subject, event.id)
    for child in event.payload:
        if child.name != "subject":
            message.addChild(child)
    room.registry.hooks.fire("from-occupant", room, occupant, message)
    room.broadcastMessage(turn, message)
    room.persist(turn)
    return True


def roominfo(room: Any, fields: list[FormField]) -> None:
    fields.append(FormField("muc#roominfo_subject", label="Subject",
                            values=(room.subject.text,)))
    fields.append(FormField("muc#roominfo_changesubject", "boolean",
                            label="Occupants may change the subject",
                            values=("1" if room.config.changeSubject else "0",)))


def install(registry: Registry) -> None:
    registry.addField(booleanField("muc#roomconfig_changesubject",
                                   "Occupants may change the subject", "changeSubject", 36))
    registry.hooks.add("groupchat", onGroupchat, priority=50)
    registry.hooks.add("roominfo", roominfo)
