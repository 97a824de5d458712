# -*- test-case-name: tests.muc.features.test_limits -*-
"""
Limits: occupants per room (muc#roomconfig_maxusers, capped by the
service) and per service, rooms per user, message and subject size, and
flooding. With the service's limits off only a room's own maxusers stays.

A full room or service is C{service-unavailable} (XEP-0045 section
7.2.10), which admins and owners of the room pass; an oversize body or
subject is C{policy-violation}; so is a flood, as a C{wait} error: each
occupant has a token bucket of C{floodBurst} messages refilled at
C{floodRate} per second.
"""

from __future__ import annotations

from typing import Any

from xmuc.core.errors import Flooding, Full, NotAcceptable, PolicyViolation
from xmuc.muc.events import GroupchatIn
from xmuc.muc.model import Affiliation, Occupant
from xmuc.muc.registry import ConfigField, Registry
from xmuc.muc.roomconfig import integer, one

MAXUSERS = "muc#roomconfig_maxusers"
OPTIONS = tuple((str(n), str(n)) for n in (10, 20, 30, 50, 100, 200, 500, 1000)) + (
    ("none", "No limit"),
)


def maxOccupants(room: Any) -> int:
    """
    The occupants the room takes at most; 0 for no limit.
    """
    service = room.settings.limit(room.settings.maxRoomOccupants)
    own = room.config.maxUsers
    return min(n for n in (own, service) if n) if (own or service) else 0


def checkJoin(room: Any, turn: Any, entrant: Any) -> None:
    if entrant.sharing is not None:
        return
    settings = room.settings
    privileged = entrant.affiliation.rank >= Affiliation.ADMIN.rank
    most = maxOccupants(room)
    if most and len(room.occupants) >= most and not privileged:
        raise Full("The room is full")
    total = settings.limit(settings.maxOccupants)
    if total and room.service.occupantCount() >= total:
        raise Full("The service is full")
    rooms = settings.limit(settings.maxRoomsPerUser)
    if rooms and room.service.roomsOf(entrant.bare) >= rooms:
        raise Full(f"You are in {rooms} rooms already")


def checkMessage(room: Any, turn: Any, occupant: Occupant, event: GroupchatIn) -> None:
    settings = room.settings
    body = settings.limit(settings.maxBody)
    if body and event.body is not None and len(event.body) > body:
        raise PolicyViolation(f"The message is longer than {body} characters")
    subject = settings.limit(settings.maxSubject)
    if subject and event.subject is not None and len(event.subject) > subject:
        raise PolicyViolation(f"The subject is longer than {subject} characters")
    if event.stamp is None:
        # A spooled message (a split replica's backlog) is not judged by
        # the pace at which the netjoin hands it in.
        throttle(room, occupant, turn.now)


def throttle(room: Any, occupant: Occupant, now: float) -> None:
    """
    Take one message from the occupant's allowance.

    @raise Flooding: when none is left.
    """
    settings = room.settings
    rate = settings.limit(settings.floodRate)
    if not rate:
        return
    elapsed = max(0.0, now - occupant.tokensAt)
    occupant.tokens = min(settings.floodBurst, occupant.tokens + elapsed * rate)
    occupant.tokensAt = now
    if occupant.tokens < 1:
        raise Flooding("You are sending too fast; slow down")
    occupant.tokens -= 1


def _write(values: tuple[str, ...], settings: Any) -> int:
    text = one(MAXUSERS, values)
    if text in ("", "none"):
        return 0
    number = integer(MAXUSERS, text, least=1)
    limit = settings.limit(settings.maxRoomOccupants)
    if limit and number > limit:
        raise NotAcceptable(f"{MAXUSERS}: at most {limit}")
    return number


def install(registry: Registry) -> None:
    registry.addField(ConfigField(
        MAXUSERS, "list-single", "Maximum number of occupants", "maxUsers",
        read=lambda room: (str(room.config.maxUsers) if room.config.maxUsers else "none",),
        write=_write, options=OPTIONS, order=38,
    ))
    registry.hooks.add("pre-join", checkJoin, priority=50)
    registry.hooks.add("groupchat", checkMessage, priority=200)
