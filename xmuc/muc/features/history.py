# -*- test-case-name: tests.muc.features.test_history -*-
"""
Discussion history (XEP-0045 section 7.2.15): the room keeps its last
messages (muc#maxhistoryfetch of them, at most the service's history
size) and sends them to an entering occupant after the presences, each
with a C{<delay/>}, as far as its C{<history/>} request allows.

C{maxchars} counts the characters of whole stanzas, as the room sent them.
"""

from __future__ import annotations

from typing import Any

from xmuc.core.errors import NotAcceptable
from xmuc.muc.events import HistoryRequest, PresenceIn
from xmuc.muc.forms import FormField
from xmuc.muc.model import HistoryEntry, Occupant
from xmuc.muc.registry import ConfigField, Registry
from xmuc.muc.roomconfig import integer, one
from xmuc.muc.effects import Deliver
from xmuc.core.stanza import readdressed
from xmuc.muc.stanzas import delay


def select(entries: list[HistoryEntry], request: HistoryRequest | None,
           now: float) -> list[HistoryEntry]:
    """
    The entries a history request asks for; every limit given applies.
    """
    if request is None:
        return entries
    if request.since is not None:
        entries = [e for e in entries if e.stamp > request.since]
    if request.seconds is not None:
        entries = [e for e in entries if e.stamp >= now - request.seconds]
    if request.maxstanzas is not None:
        entries = entries[max(0, len(entries) - request.maxstanzas):] if request.maxstanzas else []
    if request.maxchars is not None:
        kept: list[HistoryEntry] = []
        total = 0
        for entry in reversed(entries):
            total += len(entry.stanza.toXml())
            if total > request.maxchars:
                break
            kept.append(entry)
        entries = kept[::-1]
    return entries


def onJoined(room: Any, turn: Any, occupant: Occupant, event: PresenceIn) -> None:
    request = event.join.history if event.join is not None else None
    for entry in select(list(room.history), request, turn.now):
        if entry.delayed is None:
            entry.delayed = readdressed(entry.stanza, None, extra=(delay(entry.stamp, room.address),))
        turn.emit(Deliver(entry.delayed, event.sender))


def onArchived(room: Any, turn: Any, occupant: Occupant, element: Any, stanzaId: str) -> None:
    room.history.append(HistoryEntry(element, turn.now, stanzaId))


def _write(values: tuple[str, ...], settings: Any) -> int:
    var = "muc#maxhistoryfetch"
    length = integer(var, one(var, values) or "0")
    limit = settings.limit(settings.historySize)
    if limit and length > limit:
        raise NotAcceptable(f"{var}: at most {limit}")
    return length


def roominfo(room: Any, fields: list[FormField]) -> None:
    fields.append(FormField("muc#maxhistoryfetch", label="History length",
                            values=(str(room.config.historyLength),)))


def install(registry: Registry) -> None:
    registry.addField(ConfigField(
        "muc#maxhistoryfetch", "text-single", "Messages of history kept",
        "historyLength", read=lambda room: (str(room.config.historyLength),),
        write=_write, order=50,
    ))
    registry.hooks.add("joined", onJoined, priority=20)
    registry.hooks.add("archived", onArchived)
    registry.hooks.add("roominfo", roominfo)
