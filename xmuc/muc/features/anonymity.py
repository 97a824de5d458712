# -*- test-case-name: tests.muc.features.test_anonymity -*-
"""
Who sees real JIDs (muc#roomconfig_whois, XEP-0045 sections 4.2 and
10.2.1): semi-anonymous rooms show them to moderators, non-anonymous rooms
to everyone, which entering users learn from status 100
(L{xmuc.muc.entrant.entrantCodes}) and occupants from
172 (now non-anonymous) or 173 (now semi-anonymous).
"""

from __future__ import annotations

from typing import Any

from xmuc.muc.model import RoomConfig
from xmuc.muc.registry import Registry
from xmuc.muc.roomconfig import listField

OPTIONS = (("moderators", "Moderators only"), ("anyone", "Anyone"))


def configChanged(room: Any, turn: Any, old: RoomConfig, new: RoomConfig) -> None:
    if old.whois != new.whois:
        turn.codes.add(172 if new.nonAnonymous else 173)


def discoFeatures(room: Any, features: set[str]) -> None:
    features.add("muc_nonanonymous" if room.config.nonAnonymous else "muc_semianonymous")


def install(registry: Registry) -> None:
    registry.addField(listField("muc#roomconfig_whois", "Who may discover real JIDs",
                                "whois", OPTIONS, 40))
    registry.hooks.add("config-changed", configChanged)
    registry.hooks.add("disco-features", discoFeatures)
