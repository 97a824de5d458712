# -*- test-case-name: tests.muc.features.test_membersonly -*-
"""
Members-only rooms (muc#roomconfig_membersonly, XEP-0045 sections 7.2.5,
9.4 and 10.2): only members, admins and owners enter (others get
C{registration-required}); an occupant whose membership is revoked leaves
with status 321, and making a room members-only removes non-members with
status 322.
"""

from __future__ import annotations

from typing import Any

from xmuc.core.errors import RegistrationRequired
from xmuc.muc.model import Affiliation, Occupant, RoomConfig
from xmuc.muc.permissions import mayEnter
from xmuc.muc.registry import Registry
from xmuc.muc.roomconfig import booleanField


def checkJoin(room: Any, turn: Any, entrant: Any) -> None:
    if not mayEnter(entrant.affiliation, room.config):
        raise RegistrationRequired("This room is for members only")


def affiliationChanged(room: Any, turn: Any, occupant: Occupant,
                       old: Affiliation, new: Affiliation) -> bool:
    if room.config.membersOnly and not mayEnter(new, room.config):
        room.removeOccupant(turn, occupant, (321,))
        return True
    return False


def configChanged(room: Any, turn: Any, old: RoomConfig, new: RoomConfig) -> None:
    if new.membersOnly and not old.membersOnly:
        for occupant in list(room.occupants.values()):
            if not mayEnter(room.affiliation(occupant.bare), new):
                room.removeOccupant(turn, occupant, (322,))


def discoFeatures(room: Any, features: set[str]) -> None:
    features.add("muc_membersonly" if room.config.membersOnly else "muc_open")


def install(registry: Registry) -> None:
    registry.addField(booleanField("muc#roomconfig_membersonly",
                                   "Members only", "membersOnly", 32))
    registry.hooks.add("pre-join", checkJoin, priority=90)
    registry.hooks.add("affiliation-changed", affiliationChanged)
    registry.hooks.add("config-changed", configChanged)
    registry.hooks.add("disco-features", discoFeatures)
