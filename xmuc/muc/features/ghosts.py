# -*- test-case-name: tests.muc.features.test_ghosts -*-
"""
Ghosts: occupants whose clients no longer take the room's stanzas.

A message or presence error from an occupant's session means it is gone
(Prosody and ejabberd agree): the session is removed, the occupant with
status 333 when it was its last. An error saying the occupant's server is
unreachable (C{remote-server-not-found}, C{remote-server-timeout}) is
different: one s2s blip would otherwise remove every occupant of that
server. Such occupants stay for the service's grace period and are
removed with 333 only if it runs out; any stanza from their server in the
meantime, or the s2s layer reporting the link up again, clears them
(dmuc.md section 5).
"""

from __future__ import annotations

from typing import Any

from xmuc.muc import effects
from xmuc.muc.events import ErrorIn, Inbound, TimerFired
from xmuc.muc.registry import Registry

UNREACHABLE = frozenset(("remote-server-not-found", "remote-server-timeout"))


def _pending(room: Any) -> dict[str, str]:
    """
    The sessions waiting out the grace period: full JID to its host.
    """
    return room.features.setdefault("ghosts", {})


def onError(room: Any, turn: Any, event: ErrorIn) -> None:
    full = event.sender.full()
    occupant = room.sessions.get(full)
    if occupant is None:
        return
    if event.condition in UNREACHABLE:
        pending = _pending(room)
        if full not in pending:
            pending[full] = event.sender.host
            occupant.unreachable = turn.now
            grace = room.settings.ghostGrace
            turn.emit(effects.StartTimer((room.name, "ghost", full), grace))
        return
    remove(room, turn, full)


def remove(room: Any, turn: Any, full: str) -> None:
    """
    Take a dead session out; its occupant too when it was the last one.
    """
    _pending(room).pop(full, None)
    occupant = room.sessions.get(full)
    if occupant is None:
        return
    if len(occupant.sessions) > 1:
        room.dropSession(occupant, full)
        room.announce(turn, occupant)
    else:
        room.removeOccupant(turn, occupant, (333,))


def onTimer(room: Any, turn: Any, event: TimerFired) -> bool:
    if event.key[:1] != ("ghost",):
        return False
    if event.key[1] in _pending(room):
        remove(room, turn, event.key[1])
    return True


def alive(room: Any, turn: Any, event: Inbound) -> None:
    """
    A stanza from a host with pending ghosts: its link works again.
    """
    pending = room.features.get("ghosts")
    if not pending or isinstance(event, ErrorIn):
        return
    clearHost(room, turn, event.sender.host)


def clearHost(room: Any, turn: Any, host: str) -> bool:
    """
    The link to C{host} works again: its occupants waiting out their grace
    period stay.
    """
    pending = room.features.get("ghosts")
    if not pending:
        return False
    for full in [f for f, h in pending.items() if h == host]:
        del pending[full]
        occupant = room.sessions.get(full)
        if occupant is not None:
            occupant.unreachable = None
        turn.emit(effects.CancelTimer((room.name, "ghost", full)))
    return False


def forget(room: Any, turn: Any, occupant: Any) -> None:
    pending = room.features.get("ghosts")
    for full in list(occupant.sessions) if pending else ():
        if pending.pop(full, None) is not None:
            turn.emit(effects.CancelTimer((room.name, "ghost", full)))


def install(registry: Registry) -> None:
    registry.on(ErrorIn, onError)
    registry.hooks.add("timer", onTimer)
    registry.hooks.add("inbound", alive)
    registry.hooks.add("occupant-left", forget)
    registry.hooks.add("link-up", clearHost)
