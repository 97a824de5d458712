# -*- test-case-name: tests.muc.features.test_logging -*-
"""
The room archive (muc#roomconfig_enablelogging): messages with a body are
archived when the room logs (for MAM, XEP-0313) or is persistent (its
history survives a restart). Entering users learn that the room logs from
status 170 (L{xmuc.muc.entrant.entrantCodes}); occupants learn of a change
from 170 or 171. A message is archived with the time the room first
received it, which history and MAM show.
"""

from __future__ import annotations

from typing import Any

from xmuc.muc import effects
from xmuc.muc.model import Occupant, RoomConfig
from xmuc.muc.registry import Registry
from xmuc.muc.roomconfig import booleanField


def configChanged(room: Any, turn: Any, old: RoomConfig, new: RoomConfig) -> None:
    if old.logging != new.logging:
        turn.codes.add(170 if new.logging else 171)


def onArchived(room: Any, turn: Any, occupant: Occupant, element: Any, stanzaId: str,
               stamp: float) -> None:
    if room.config.logging or room.config.persistent:
        turn.emit(effects.Archive(room.name, stanzaId, stamp, occupant.nick,
                                  occupant.bare, element))


def install(registry: Registry) -> None:
    registry.addField(booleanField("muc#roomconfig_enablelogging",
                                   "Archive the discussion", "logging", 45))
    registry.hooks.add("config-changed", configChanged)
    registry.hooks.add("archived", onArchived)
