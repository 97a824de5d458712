# -*- test-case-name: tests.muc.features.test_selfping -*-
"""
Self-ping (XEP-0410): a client pings its own occupant JID to learn whether
it is still in the room. The room answers itself: a result when the
sender is that occupant, C{not-acceptable} when it is not in the room.
Pings to other occupants are forwarded like any IQ.
"""

from __future__ import annotations

from typing import Any

from xmuc.core.errors import NotAcceptable
from xmuc.core.jid import InvalidJID, prepNickname
from xmuc.muc.events import IQToOccupantIn
from xmuc.muc.ns import NS_MUC_SELF_PING, NS_PING
from xmuc.muc.registry import Registry
from xmuc.muc.stanzas import iqResult


def onPing(room: Any, turn: Any, event: IQToOccupantIn) -> bool:
    if event.namespace != NS_PING or event.kind != "get":
        return False
    occupant = room.occupantOf(event.sender)
    if occupant is None:
        raise NotAcceptable("You are not in the room")
    try:
        own = prepNickname(event.nick) == occupant.key
    except InvalidJID:
        own = False
    if not own:
        return False
    turn.send(iqResult(event))
    return True


def discoFeatures(room: Any, features: set[str]) -> None:
    features.add(NS_MUC_SELF_PING)


def install(registry: Registry) -> None:
    registry.hooks.add("iq-to-occupant", onPing, priority=100)
    registry.hooks.add("disco-features", discoFeatures)
