# -*- test-case-name: tests.muc.test_service -*-
"""
The service-wide settings a room engine runs with, and the view of its
service that a room may consult (counts across rooms for the limits).
"""

from __future__ import annotations

import random as _random
from dataclasses import dataclass
from typing import Protocol

from xmuc.muc.registry import Registry


@dataclass(frozen=True)
class Settings:
    """
    The service's policy. A limit of 0 means none, and C{limits=False}
    lifts every limit below at once (for benchmarks).

    @ivar host: the service's domain (C{muc.example}).
    @ivar domain: the node's own domain (its users are "local").
    @ivar creation: who may create rooms: C{anyone}, C{local} users or
        the service C{admins}.
    @ivar admins: bare JIDs that are owners of every room.
    @ivar maxRoomOccupants: occupants per room at most; rooms may set
        less (muc#roomconfig_maxusers).
    @ivar maxOccupants: occupants of the whole service at most.
    @ivar maxRoomsPerUser: rooms one bare JID may be in at once.
    @ivar historySize: history messages a room may keep at most.
    @ivar maxBody: characters of a message body at most.
    @ivar maxSubject: characters of a subject at most.
    @ivar floodRate: messages per second an occupant may send on average,
        with bursts of C{floodBurst}.
    @ivar ghostGrace: seconds an occupant whose server is unreachable
        stays before it is removed (status 333).
    """

    host: str = "muc.localhost"
    domain: str = "localhost"
    creation: str = "local"
    admins: frozenset[str] = frozenset()
    limits: bool = True
    maxRoomOccupants: int = 1000
    maxOccupants: int = 100000
    maxRoomsPerUser: int = 100
    historySize: int = 100
    maxBody: int = 10000
    maxSubject: int = 1000
    floodRate: float = 5.0
    floodBurst: int = 20
    ghostGrace: float = 120.0

    def limit(self, value: int | float) -> int | float:
        """
        A limit as it applies: 0 (none) when limits are off.
        """
        return value if self.limits else 0


class ServiceView(Protocol):
    """
    What a room sees of its service.
    """

    settings: Settings
    registry: Registry
    random: _random.Random

    def occupantCount(self) -> int: ...

    def roomsOf(self, bare: str) -> int: ...

    def occupied(self, bare: str, room: str, present: bool) -> None: ...
