# -*- test-case-name: tests.muc.features.test_password -*-
"""
Password-protected rooms (muc#roomconfig_passwordprotectedroom and
muc#roomconfig_roomsecret, XEP-0045 section 7.2.6): entering takes the
password, else C{not-authorized}.
"""

from __future__ import annotations

from typing import Any

from xmuc.core.errors import NotAuthorized
from xmuc.muc.registry import Registry
from xmuc.muc.roomconfig import booleanField, textField


def checkJoin(room: Any, turn: Any, entrant: Any) -> None:
    secret = room.config.secret
    if secret is None or entrant.sharing is not None:
        return
    join = entrant.event.join
    if join is None or join.password != secret:
        raise NotAuthorized("A password is required to enter this room")


def discoFeatures(room: Any, features: set[str]) -> None:
    protected = room.config.secret is not None
    features.add("muc_passwordprotected" if protected else "muc_unsecured")


def install(registry: Registry) -> None:
    registry.addField(booleanField("muc#roomconfig_passwordprotectedroom",
                                   "Password protected", "passwordProtected", 33))
    registry.addField(textField("muc#roomconfig_roomsecret", "Password", "password", 34,
                                kind="text-private"))
    registry.hooks.add("pre-join", checkJoin, priority=80)
    registry.hooks.add("disco-features", discoFeatures)
