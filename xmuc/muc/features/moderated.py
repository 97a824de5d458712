# -*- test-case-name: tests.muc.features.test_moderated -*-
"""
Moderated rooms (muc#roomconfig_moderatedroom, XEP-0045 section 8): users
without an affiliation enter as visitors, without voice, until a moderator
grants it (or approves their voice request,
L{xmuc.muc.features.voicerequests}).
"""

from __future__ import annotations

from typing import Any

from xmuc.muc.registry import Registry
from xmuc.muc.roomconfig import booleanField


def discoFeatures(room: Any, features: set[str]) -> None:
    features.add("muc_moderated" if room.config.moderated else "muc_unmoderated")


def install(registry: Registry) -> None:
    registry.addField(booleanField("muc#roomconfig_moderatedroom",
                                   "Moderated", "moderated", 31))
    registry.hooks.add("disco-features", discoFeatures)
