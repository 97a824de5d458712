# -*- test-case-name: tests.muc.test_occupancy -*-
"""
Entering, changing presence or nickname, and leaving (XEP-0045 section 7).

A presence to C{room/nick} is a join from a non-occupant, a nickname
change (303) when the nickname differs, a presence update otherwise, and a
leave when unavailable. A join sends what
L{xmuc.muc.entrant.joinSequence} says, in its order: the presence of every
occupant already there, the entrant's presence to all (to itself with 110
and its status codes, with those of the C{self-codes} hook), the history,
the subject; then whatever the C{joined} hook sends.

Another client of an occupant's account may join under the same nickname;
it shares the occupant (Prosody's multi-session nicks).
"""

from __future__ import annotations

from dataclasses import dataclass

from xmuc.core.errors import Conflict, Forbidden, ItemNotFound, NotAcceptable
from xmuc.core.jid import InvalidJID, displayNickname, prepNickname
from xmuc.muc import view
from xmuc.muc.effects import Deliver
from xmuc.muc.entrant import EntrantView, joinSequence
from xmuc.muc.events import PresenceIn, SessionSwapIn, TimerFired
from xmuc.muc.model import Affiliation, Occupant, Session
from xmuc.muc.permissions import defaultRole
from xmuc.muc.registry import Registry
from xmuc.muc.room import Room, RoomState, Turn
from xmuc.muc.view import Kind


@dataclass(frozen=True)
class Entrant:
    """
    Someone asking to enter, as the C{pre-join} hook sees them.

    @ivar nick: the nickname to show (RFC 8266 case-preserved form).
    @ivar key: the nickname prepared for comparison.
    @ivar sharing: the occupant of the same account whose nickname the
        entrant joins as another session, or L{None}.
    """

    event: PresenceIn
    bare: str
    nick: str
    key: str
    affiliation: Affiliation
    sharing: Occupant | None


def checkedNick(nick: str) -> tuple[str, str]:
    """
    The display form and comparison key of a requested nickname.

    @raise InvalidJID: (jid-malformed) for an empty nickname or one the
        RFC 7622 nickname profile refuses.
    """
    if not nick:
        raise InvalidJID("a nickname is required")
    return displayNickname(nick), prepNickname(nick)


def onPresence(room: Room, turn: Turn, event: PresenceIn) -> None:
    occupant = room.occupantOf(event.sender)
    if not event.available:
        if occupant is not None:
            leave(room, turn, occupant, event)
        return
    if occupant is None:
        join(room, turn, event)
        return
    nick, key = checkedNick(event.nick)
    if nick != occupant.nick:
        changeNick(room, turn, occupant, event, nick, key)
    else:
        update(room, turn, occupant, event)


def join(room: Room, turn: Turn, event: PresenceIn) -> None:
    nick, key = checkedNick(event.nick)
    bare = event.sender.userhost()
    existing = room.occupants.get(key)
    sharing = existing if existing is not None and existing.bare == bare else None
    entrant = Entrant(event, bare, nick, key, room.affiliation(bare), sharing)
    room.registry.hooks.fire("pre-join", room, turn, entrant)
    created, room.fresh = room.fresh, False
    occupant = sharing or Occupant(
        nick, key, bare, defaultRole(entrant.affiliation, room.config),
        room.occupantIdOf(bare), tokens=room.settings.floodBurst, tokensAt=turn.now,
    )
    room.addSession(occupant, Session(event.sender, event.payload))
    codes: set[int] = set()
    room.registry.hooks.fire("self-codes", room, occupant, codes)
    # A session joining a shared nickname shows itself to itself; the
    # others keep seeing the presence the room last broadcast.
    shown = room.freshView(occupant) if sharing is not None else room.occupantView(occupant)
    entering = EntrantView(shown, event.sender,
                           event.join.history if event.join is not None else None,
                           renamed=nick != event.nick, codes=frozenset(codes))
    roomView = room.view(fresh=created, history=True)
    emit, sender, own = turn.effects.append, event.sender, Kind.SELF_PRESENCE
    for kind, element in joinSequence(roomView, entering, turn.now):
        if kind is own and sharing is None:
            room.emitAddressed(turn, view.arrival(roomView, shown, element, occupant.jids()))
        else:
            emit(Deliver(element, sender, kind))
    room.registry.hooks.fire("joined", room, turn, occupant, event)


def update(room: Room, turn: Turn, occupant: Occupant, event: PresenceIn) -> None:
    """
    A new availability (show, status) of an occupant's session.
    """
    full = event.sender.full()
    occupant.sessions[full].presence = event.payload
    # The session that spoke last becomes the one the room shows.
    occupant.sessions[full] = occupant.sessions.pop(full)
    room.announce(turn, occupant)


def changeNick(room: Room, turn: Turn, occupant: Occupant, event: PresenceIn,
               nick: str, key: str) -> None:
    """
    Section 7.6: unavailable from the old nickname with the new one and
    303, then available from the new one.
    """
    holder = room.occupants.get(key)
    if holder is not None and holder is not occupant:
        raise Conflict("That nickname is in use")
    room.registry.hooks.fire("nick-change", room, turn, occupant, nick, key)
    room.announce(turn, occupant, view.nickChange(nick))
    room.rename(occupant, nick, key)
    occupant.sessions[event.sender.full()].presence = event.payload
    room.announce(turn, occupant)


def leave(room: Room, turn: Turn, occupant: Occupant, event: PresenceIn) -> None:
    """
    Section 7.14: one session leaves; the occupant goes with its last.
    """
    full = event.sender.full()
    if len(occupant.sessions) > 1:
        own = view.sessionLeave(room.address, room.occupantView(occupant), event.sender,
                                event.payload)
        room.dropSession(occupant, full)
        turn.emit(Deliver(own.stanza, event.sender, own.kind))
        room.announce(turn, occupant)
        return
    room.announce(turn, occupant, view.departure(event.payload))
    room.dropSession(occupant, full)
    room.registry.hooks.fire("occupant-left", room, turn, occupant)
    if room.state is RoomState.LOCKED and not room.occupants:
        # Section 10.1.2: a room its creator left unconfigured goes away.
        room.transition("destroy")


def swapSession(room: Room, turn: Turn, event: SessionSwapIn) -> None:
    """
    A session of an occupant is replaced by another client of the same
    account under the same nickname (a client that reconnected while its
    server was split from the room): the occupant stays where it is in
    the roster, and everyone sees its presence as the new session sent
    it (with its new real JID where real JIDs are shown).

    @raise NotAcceptable: when C{old} is not a session of that nickname
        and account, or the new session is in the room already.
    """
    occupant = room.occupantOf(event.old)
    if occupant is None or occupant.bare != event.sender.userhost() \
            or occupant.nick != event.to.resource or room.occupantOf(event.sender) is not None:
        raise NotAcceptable("Not a session of that occupant")
    room.addSession(occupant, Session(event.sender, event.payload))
    room.dropSession(occupant, event.old.full())
    room.announce(turn, occupant)


def gate(room: Room, turn: Turn, entrant: Entrant) -> None:
    """
    The core's checks before anyone enters: a locked room admits only its
    owners (section 10.1.2), outcasts never come in (section 7.2.7).
    """
    if room.state is RoomState.LOCKED and entrant.affiliation is not Affiliation.OWNER:
        raise ItemNotFound("The room is locked until configured")
    if entrant.affiliation is Affiliation.OUTCAST:
        raise Forbidden("You are banned from this room")


def nickInUse(room: Room, turn: Turn, entrant: Entrant) -> None:
    """
    Section 7.2.8: a nickname another account holds is a conflict.
    """
    holder = room.occupants.get(entrant.key)
    if holder is not None and holder is not entrant.sharing:
        raise Conflict("That nickname is in use")


def onTimer(room: Room, turn: Turn, event: TimerFired) -> None:
    """
    Timers are the features' (the first part of the key names which).
    """
    room.registry.hooks.fire("timer", room, turn, event)


def install(registry: Registry) -> None:
    registry.on(PresenceIn, onPresence)
    registry.on(TimerFired, onTimer)
    registry.on(SessionSwapIn, swapSession)
    registry.hooks.add("pre-join", gate, priority=100)
    registry.hooks.add("pre-join", nickInUse, priority=70)
