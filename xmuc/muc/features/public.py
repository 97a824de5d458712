# -*- test-case-name: tests.muc.features.test_public -*-
"""
Public and hidden rooms (muc#roomconfig_publicroom): only public rooms are
listed in the service's disco#items (L{xmuc.muc.service}).
"""

from __future__ import annotations

from typing import Any

from xmuc.muc.registry import Registry
from xmuc.muc.roomconfig import booleanField


def discoFeatures(room: Any, features: set[str]) -> None:
    features.add("muc_public" if room.config.public else "muc_hidden")


def install(registry: Registry) -> None:
    registry.addField(booleanField("muc#roomconfig_publicroom",
                                   "Listed in the directory", "public", 20))
    registry.hooks.add("disco-features", discoFeatures)
