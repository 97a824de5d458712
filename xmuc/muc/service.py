# -*- test-case-name: tests.muc.test_service -*-
"""
The MUC service: the rooms of one service JID, their creation and end,
the counts the limits need, and what the service JID itself answers
(disco#info, disco#items of public rooms, ping).

L{MUCService.handle} is the engine's one entry: an event parsed by
L{xmuc.muc.parse} and the current time in, effects out. A join to a room
that does not exist creates it (when the sender may create rooms) with
the sender as owner: locked until configured when the join carried the
MUC element, open at once for a groupchat 1.0 join (XEP-0045 section
10.1). A room that closes (destroyed, or temporary and empty) is dropped.

The service has a life-cycle of its own (L{ServiceState}): it starts
LOADING when its persistent rooms are still to be read from storage (the
glue holds its inputs until then), and is READY once they are in, or
FAILED when storage could not list them. A FAILED service answers every
input with an error and creates nothing, so that no user can make a room
over a stored one it could not read. A stored room whose record could
not be read is I{unavailable} (L{markUnavailable}): its inputs are
answered with L{RoomUnavailable} and no room of that name is created.
"""

from __future__ import annotations

import enum
import random as _random
from typing import Any, Iterable

from xmuc.core.errors import ItemNotFound, NotAllowed, ServiceUnavailable
from xmuc.core.jid import makeJID
from xmuc.muc import effects
from xmuc.muc import events as ev
from xmuc.muc.model import Affiliated, Affiliation, HistoryEntry, RoomRecord
from xmuc.muc.ns import NS_DISCO_INFO, NS_DISCO_ITEMS, NS_MUC, NS_PING
from xmuc.muc.registry import Registry, buildRegistry
from xmuc.muc.room import IllegalTransition, Room, RoomState, Turn
from xmuc.muc.settings import Settings
from xmuc.muc.stanzas import iqResult, query

#: Inputs to a room that does not exist which need no answer.
_IGNORED = (ev.ErrorIn, ev.IQReplyIn)

ROOM_UNAVAILABLE = "This room could not be loaded; an administrator has been told"
SERVICE_FAILED = ("The rooms of this service could not be loaded; an administrator "
                  "has been told")
SERVICE_LOADING = "The service is starting; try again shortly"


class RoomUnavailable(ServiceUnavailable):
    """
    A stored room whose record could not be read: it is not served, and
    no room of its name is created over it.
    """


class ServiceState(enum.Enum):
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"


#: (state, event) -> next state: the persistent rooms were read
#: (C{loaded}), or storage could not list them (C{load-failed}).
SERVICE_TRANSITIONS: dict[tuple[ServiceState, str], ServiceState] = {
    (ServiceState.LOADING, "loaded"): ServiceState.READY,
    (ServiceState.LOADING, "load-failed"): ServiceState.FAILED,
}


class MUCService:
    """
    Every room of one MUC service.
    """

    def __init__(self, settings: Settings, random: _random.Random,
                 registry: Registry | None = None,
                 state: ServiceState = ServiceState.READY) -> None:
        """
        @param state: L{ServiceState.LOADING} when persistent rooms are
            still to be loaded (L{load}, L{markUnavailable}, then
            L{transition} with C{loaded} or C{load-failed}).
        """
        self.settings = settings
        self.state = state
        #: Stored rooms whose record could not be read, by name.
        self.unavailable: set[str] = set()
        self.random = random
        self.registry = registry or buildRegistry()
        self.jid = makeJID(None, settings.host)
        self.rooms: dict[str, Room] = {}
        self._rooms: dict[str, set[str]] = {}
        self._occupants = 0

    # What rooms see of the service

    def occupantCount(self) -> int:
        return self._occupants

    def roomsOf(self, bare: str) -> int:
        return len(self._rooms.get(bare, ()))

    def occupied(self, bare: str, room: str, present: bool) -> None:
        if present:
            self._occupants += 1
            self._rooms.setdefault(bare, set()).add(room)
            return
        self._occupants -= 1
        rooms = self._rooms.get(bare)
        if rooms is not None:
            rooms.discard(room)
            if not rooms:
                del self._rooms[bare]

    # Rooms

    def load(self, record: RoomRecord, history: Iterable[HistoryEntry] = ()) -> Room:
        """
        Bring back a persistent room from storage.
        """
        room = Room.fromRecord(self, record, history)
        self.rooms[record.name] = room
        return room

    def markUnavailable(self, name: str) -> None:
        """
        A stored room could not be read: refuse its inputs, and never
        create a room of that name (which would replace or delete it).
        """
        self.rooms.pop(name, None)
        self.unavailable.add(name)

    def transition(self, event: str) -> None:
        try:
            self.state = SERVICE_TRANSITIONS[(self.state, event)]
        except KeyError:
            raise IllegalTransition(f"{event} in state {self.state.value}") from None

    def handle(self, event: Any, now: float) -> list[Any]:
        """
        Handle one parsed input and return its effects.

        @raise Exception: a domain exception refusing the input.
        """
        if self.state is not ServiceState.READY:
            return self._refuseAll(event, SERVICE_FAILED if self.state is ServiceState.FAILED
                                   else SERVICE_LOADING)
        name = event.to.user
        if name in self.unavailable:
            return self._refuseAll(event, ROOM_UNAVAILABLE, RoomUnavailable)
        if name is None:
            return self._serviceInput(event)
        room = self.rooms.get(name)
        created = room is None
        if room is None:
            room = self._create(name, event, now)
            if room is None:
                return []
        try:
            result = room.handle(event, now)
        except Exception:
            if created:
                del self.rooms[name]
            raise
        return result + self._closeIfDone(room)

    def _refuseAll(self, event: Any, text: str,
                   error: type[ServiceUnavailable] = ServiceUnavailable) -> list[Any]:
        """
        Refuse an input that cannot be served, leaving unanswered those
        that get no answer anyway (errors, replies, unavailable presence).
        """
        if isinstance(event, _IGNORED) or (
                isinstance(event, ev.PresenceIn) and not event.available):
            return []
        raise error(text)

    def shutdown(self, now: float) -> list[Any]:
        """
        The service stops: every occupant of every room is sent away with
        status 332 (XEP-0045 section 15.6.2, system shutdown).
        """
        done: list[Any] = []
        for name, room in list(self.rooms.items()):
            turn = Turn(now)
            room.evictAll(turn, (332,))
            done.extend(turn.effects)
            done.extend(self._closeIfDone(room))
        return done

    def linkUp(self, host: str, now: float) -> list[Any]:
        """
        The s2s link to C{host} works again: occupants of that server kept
        for a grace period stay (features.ghosts).
        """
        done: list[Any] = []
        for room in self.rooms.values():
            turn = Turn(now)
            self.registry.hooks.fire("link-up", room, turn, host)
            done.extend(turn.effects)
        return done

    def timerFired(self, key: tuple[str, ...], now: float) -> list[Any]:
        """
        A timer a room started went off; its key starts with the room.
        """
        room = self.rooms.get(key[0])
        if room is None:
            return []
        return room.handle(ev.TimerFired(key[1:]), now) + self._closeIfDone(room)

    def archiveAnswered(self, name: str, query: Any, page: Any, now: float) -> list[Any]:
        """
        Storage answered the archive query of room C{name}
        (L{effects.QueryArchive}): the room renders the page.

        @raise ItemNotFound: when the room is gone meanwhile.
        """
        room = self.rooms.get(name)
        if room is None or self.state is not ServiceState.READY:
            raise ItemNotFound("No such room")
        return room.handle(ev.ArchiveAnswer(query, page), now)

    def _create(self, name: str, event: Any, now: float) -> Room | None:
        if isinstance(event, ev.PresenceIn) and event.available:
            if not self.mayCreate(event.sender):
                raise NotAllowed("You may not create rooms here")
            room = Room(self, name, now, locked=event.join is not None)
            room.fresh = True
            room.affiliations[event.sender.userhost()] = Affiliated(Affiliation.OWNER)
            self.rooms[name] = room
            return room
        if isinstance(event, _IGNORED) or isinstance(event, ev.PresenceIn):
            return None
        raise ItemNotFound("No such room")

    def mayCreate(self, sender: Any) -> bool:
        creation = self.settings.creation
        if creation == "anyone":
            return True
        if creation == "local":
            return sender.host == self.settings.domain
        return sender.userhost() in self.settings.admins

    def _closeIfDone(self, room: Room) -> list[Any]:
        if not room.closed or self.rooms.get(room.name) is not room:
            return []
        del self.rooms[room.name]
        for occupant in list(room.occupants.values()):
            for full in list(occupant.sessions):
                room.dropSession(occupant, full)
        if room.state is not RoomState.DESTROYED and room.config.logging:
            # A temporary room's archive goes with it.
            return room.forget()
        return []

    # The service JID

    def _serviceInput(self, event: Any) -> list[Any]:
        if isinstance(event, ev.DiscoInfoIn) and not event.node:
            return [effects.Send(iqResult(event, self.info()))]
        if isinstance(event, ev.DiscoItemsIn) and not event.node:
            return [effects.Send(iqResult(event, self.items()))]
        if isinstance(event, ev.PingIn):
            return [effects.Send(iqResult(event))]
        if isinstance(event, _IGNORED) or isinstance(event, ev.PresenceIn):
            return []
        raise ServiceUnavailable()

    def info(self) -> Any:
        info = query(NS_DISCO_INFO)
        identity = info.addElement("identity")
        identity["category"] = "conference"
        identity["type"] = "text"
        identity["name"] = "Chatrooms"
        for feature in sorted((NS_MUC, NS_DISCO_INFO, NS_DISCO_ITEMS, NS_PING)):
            info.addElement("feature")["var"] = feature
        return info

    def items(self) -> Any:
        """
        Public, open rooms (XEP-0045 section 6.3), by name.
        """
        items = query(NS_DISCO_ITEMS)
        for name, room in sorted(self.rooms.items()):
            if room.config.public and room.state is RoomState.OPEN:
                item = items.addElement("item")
                item["jid"] = room.address
                item["name"] = room.config.name or name
        return items
