# -*- test-case-name: tests.muc.features.test_persistence -*-
"""
Persistent rooms (muc#roomconfig_persistentroom): they stay when the last
occupant leaves and survive a restart with their configuration,
affiliations, subject and history (the room asks for L{effects.SaveRoom}
at each change, L{Room.persist}). A room made temporary again is deleted
from storage (L{Room.forget}: only by the room that owns the record).
"""

from __future__ import annotations

from typing import Any

from xmuc.muc.model import RoomConfig
from xmuc.muc.registry import Registry
from xmuc.muc.roomconfig import booleanField


def configChanged(room: Any, turn: Any, old: RoomConfig, new: RoomConfig) -> None:
    if old.persistent and not new.persistent:
        turn.effects.extend(room.forget())


def discoFeatures(room: Any, features: set[str]) -> None:
    features.add("muc_persistent" if room.config.persistent else "muc_temporary")


def install(registry: Registry) -> None:
    registry.addField(booleanField("muc#roomconfig_persistentroom",
                                   "Persistent", "persistent", 35))
    registry.hooks.add("config-changed", configChanged)
    registry.hooks.add("disco-features", discoFeatures)
