# -*- test-case-name: tests.muc.features.test_history -*-
"""
Discussion history (XEP-0045 section 7.2.15): the room keeps its last
messages (muc#maxhistoryfetch of them, at most the service's history
size), each with the time the room first received it. What an entering
occupant gets of it (after the presences, each with a C{<delay/>} at that
time, as far as its C{<history/>} request allows) is decided by
L{xmuc.muc.entrant.joinSequence}, which a replica runs too.
"""

from __future__ import annotations

from typing import Any

from xmuc.core.errors import NotAcceptable
from xmuc.muc.forms import FormField
from xmuc.muc.model import HistoryEntry, Occupant
from xmuc.muc.registry import ConfigField, Registry
from xmuc.muc.roomconfig import integer, one


def onArchived(room: Any, turn: Any, occupant: Occupant, element: Any, stanzaId: str,
               stamp: float) -> None:
    room.history.append(HistoryEntry(element, stamp, stanzaId))


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
    registry.hooks.add("archived", onArchived)
    registry.hooks.add("roominfo", roominfo)
