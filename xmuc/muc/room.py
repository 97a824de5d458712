# -*- test-case-name: tests.muc.test_room -*-
"""
One room: its state, the life-cycle table, and the operations every part
of the engine shares (broadcasts, role and affiliation changes, removal).

L{Room.handle} takes one parsed input and the current time and returns the
effects (L{xmuc.muc.effects}) in the order they must happen. It hands the
input to the handler its type is registered with (L{registry}); the room's
broadcast sequence is counted here and nowhere else (L{Room.nextSeq}).

The room keeps its occupants in join order, each reachable by nickname
key and by the full JID of each of its sessions.
"""

from __future__ import annotations

import enum
import hashlib
from base64 import urlsafe_b64encode
from collections import OrderedDict, deque
from typing import Any, Iterable

from twisted.words.protocols.jabber.jid import JID

from xmuc.core.errors import NotAcceptable, ServiceUnavailable
from xmuc.core.jid import InvalidJID, makeJID, prepNickname
from xmuc.muc import effects, view
from xmuc.muc.events import Inbound
from xmuc.muc.model import (
    Affiliated,
    Affiliation,
    HistoryEntry,
    Occupant,
    Role,
    RoomConfig,
    RoomRecord,
    Subject,
)
from xmuc.muc.permissions import defaultRole
from xmuc.muc.settings import ServiceView
from xmuc.muc.stanzas import itemElement, mucUser, stanza
from xmuc.muc.view import PLAIN, Kind, OccupantView, PresenceChange, RoomView


class RoomState(enum.Enum):
    LOCKED = "locked"
    OPEN = "open"
    DESTROYED = "destroyed"


class IllegalTransition(Exception):
    """
    A room was asked to change state in a way its table does not allow.
    """


#: (state, action) -> next state. A new room with the MUC element is
#: LOCKED until configured (section 10.1.2); C{destroy} ends any room.
TRANSITIONS: dict[tuple[RoomState, str], RoomState] = {
    (RoomState.LOCKED, "unlock"): RoomState.OPEN,
    (RoomState.LOCKED, "destroy"): RoomState.DESTROYED,
    (RoomState.OPEN, "destroy"): RoomState.DESTROYED,
}


class Turn:
    """
    The handling of one input: its time, the effects so far, and the
    status codes of a configuration change being collected.
    """

    def __init__(self, now: float) -> None:
        self.now = now
        self.effects: list[Any] = []
        self.codes: set[int] = set()

    def emit(self, effect: Any) -> None:
        self.effects.append(effect)

    def send(self, element: Any) -> None:
        self.effects.append(effects.Send(element))


class Room:
    """
    A room of the service.

    @ivar fresh: the room was created by the join being handled (status
        201 for the creator).
    @ivar forwarded: IQs forwarded to occupants, by the id the room gave
        them: (real sender, original id, nick of the target).
    @ivar features: state a feature keeps per room, by feature name.
    @ivar stored: this room owns a record in storage (it was loaded from
        one, or asked for one to be saved): only then may it have the
        record deleted (L{forget}).
    """

    #: IQs in flight to occupants kept at most per room.
    MAX_FORWARDED = 1000

    def __init__(self, service: ServiceView, name: str, now: float,
                 config: RoomConfig | None = None, locked: bool = False) -> None:
        self.service = service
        self.registry = service.registry
        self.settings = service.settings
        self.name = name
        self.jid = makeJID(name, self.settings.host)
        self.address = self.jid.full()
        self.state = RoomState.LOCKED if locked else RoomState.OPEN
        self.config = config or RoomConfig()
        self.affiliations: dict[str, Affiliated] = {}
        self.occupants: dict[str, Occupant] = {}
        self.sessions: dict[str, Occupant] = {}
        self.subject = Subject()
        self.history: deque[HistoryEntry] = deque(maxlen=self.config.historyLength)
        self.seq = 0
        self.salt = "%032x" % service.random.getrandbits(128)
        self.created = now
        self.fresh = False
        self.forwarded: OrderedDict[str, tuple[JID, str | None, str]] = OrderedDict()
        self.features: dict[str, Any] = {}
        self.stored = False
        self._audience: tuple[JID, ...] | None = None
        # The view's roster (L{view}), in join order, and each occupant's
        # place in it; None when it must be made again.
        self._members: list[tuple[OccupantView, tuple[JID, ...]]] | None = None
        self._places: dict[Occupant, int] = {}

    @classmethod
    def fromRecord(cls, service: ServiceView, record: RoomRecord,
                   history: Iterable[HistoryEntry] = ()) -> "Room":
        """
        A persistent room as storage kept it.
        """
        room = cls(service, record.name, record.created, record.config)
        room.affiliations = dict(record.affiliations)
        room.subject = record.subject
        room.salt = record.salt
        room.history.extend(history)
        room.stored = True
        return room

    def record(self) -> RoomRecord:
        return RoomRecord(self.name, self.config, dict(self.affiliations),
                          self.subject, self.salt, self.created)

    # Input

    def handle(self, event: Any, now: float) -> list[Any]:
        """
        Handle one input and return its effects.

        @raise Exception: a domain exception refusing the input; the room
            is then as it was.
        """
        turn = Turn(now)
        handler = self.registry.handlers.get(type(event))
        if handler is None:
            raise ServiceUnavailable()
        if isinstance(event, Inbound):
            self.registry.hooks.fire("inbound", self, turn, event)
        handler(self, turn, event)
        return turn.effects

    def transition(self, action: str) -> None:
        try:
            self.state = TRANSITIONS[(self.state, action)]
        except KeyError:
            raise IllegalTransition(f"{action} in state {self.state.value}") from None

    @property
    def closed(self) -> bool:
        """
        Whether the service should drop the room: destroyed, or temporary
        and empty.
        """
        if self.state is RoomState.DESTROYED:
            return True
        return not self.occupants and not self.config.persistent

    # Lookups

    def affiliation(self, bare: str) -> Affiliation:
        """
        A user's affiliation: the service admins own every room; otherwise
        that of its bare JID if the room lists it, else that of its domain
        (XEP-0045 section 9: an affiliation may name a bare JID or a
        domain). A domain entry of any affiliation applies to every user
        of the domain without an entry of its own, as in Prosody.
        """
        if bare in self.settings.admins:
            return Affiliation.OWNER
        entry = self.affiliations.get(bare)
        if entry is None:
            # The domain: all of a domain JID, or what follows the '@'.
            entry = self.affiliations.get(bare[bare.find("@") + 1:])
        return entry.affiliation if entry else Affiliation.NONE

    def owners(self) -> list[str]:
        return [b for b, a in self.affiliations.items() if a.affiliation is Affiliation.OWNER]

    def occupantOf(self, sender: JID) -> Occupant | None:
        return self.sessions.get(sender.full())

    def requireOccupant(self, sender: JID) -> Occupant:
        """
        @raise NotAcceptable: when C{sender} is not in the room.
        """
        occupant = self.sessions.get(sender.full())
        if occupant is None:
            raise NotAcceptable("You are not in the room")
        return occupant

    def occupantByNick(self, nick: str) -> Occupant | None:
        try:
            return self.occupants.get(prepNickname(nick))
        except InvalidJID:
            return None

    def occupantsOf(self, bare: str) -> list[Occupant]:
        return [o for o in self.occupants.values() if o.bare == bare]

    def occupantAddress(self, occupant: Occupant) -> str:
        return f"{self.address}/{occupant.nick}"

    def occupantIdOf(self, bare: str) -> str:
        """
        The room's stable, opaque id for a bare JID (XEP-0421).
        """
        digest = hashlib.sha256(f"{self.salt}\0{bare}".encode("utf-8")).digest()
        return urlsafe_b64encode(digest[:18]).decode("ascii")

    # Membership of the roster

    def addSession(self, occupant: Occupant, session: Any) -> None:
        new = occupant.key not in self.occupants
        if new:
            self.occupants[occupant.key] = occupant
            self.service.occupied(occupant.bare, self.name, True)
        occupant.sessions[session.jid.full()] = session
        self.sessions[session.jid.full()] = occupant
        members = self._members
        self.rosterChanged()
        if new and members is not None:
            # A newcomer joins the end of the view's roster.
            self._places[occupant] = len(members)
            members.append((self.occupantView(occupant), occupant.jids()))
            self._members = members

    def dropSession(self, occupant: Occupant, full: str) -> None:
        occupant.sessions.pop(full, None)
        self.sessions.pop(full, None)
        if not occupant.sessions and self.occupants.get(occupant.key) is occupant:
            del self.occupants[occupant.key]
            self.service.occupied(occupant.bare, self.name, False)
        self.rosterChanged()

    def rename(self, occupant: Occupant, nick: str, key: str) -> None:
        del self.occupants[occupant.key]
        occupant.nick, occupant.key = nick, key
        self.occupants[key] = occupant
        # The renamed occupant now comes last in the roster's order.
        occupant.shown = None
        self.rosterChanged()

    def rosterChanged(self) -> None:
        """
        A session came or went: the audience and the view's roster are
        made again when next needed.
        """
        self._audience = None
        self._members = None

    def occupantChanged(self, occupant: Occupant) -> None:
        """
        An occupant's presence as the room shows it changed (role,
        affiliation, nickname, payload): its view is made again.
        """
        occupant.shown = None
        place = self._places.get(occupant)
        if self._members is not None and place is not None:
            self._members[place] = (self.occupantView(occupant), occupant.jids())

    # Broadcasts

    def nextSeq(self) -> int:
        self.seq += 1
        return self.seq

    def audience(self) -> tuple[JID, ...]:
        """
        Every session of every occupant (cached until the roster changes).
        """
        if self._audience is None:
            self._audience = tuple(
                s.jid for o in self.occupants.values() for s in o.sessions.values()
            )
        return self._audience

    def broadcastMessage(self, turn: Turn, element: Any, kind: Kind = Kind.BROADCAST) -> None:
        turn.emit(effects.Broadcast(self.nextSeq(), element, self.audience(), kind))

    # What occupants see (L{xmuc.muc.view})

    def occupantView(self, occupant: Occupant) -> OccupantView:
        """
        An occupant as the room last showed it (made again after each
        change, L{occupantChanged}).
        """
        shown = occupant.shown
        if shown is None:
            shown = occupant.shown = self.freshView(occupant)
        return shown

    def freshView(self, occupant: Occupant) -> OccupantView:
        """
        An occupant as it now is: its last active session's JID and
        presence (a session that just joined under a shared nickname).
        """
        return OccupantView(occupant.nick, occupant.role, self.affiliation(occupant.bare),
                            occupant.jid.full(), occupant.primary.presence,
                            occupant.occupantId)

    def view(self, fresh: bool = False, history: bool = False) -> RoomView:
        """
        The room as L{xmuc.muc.view} sees it; with the history when
        C{history}, and C{fresh} when the join being handled created it.
        """
        members = self._members
        if members is None:
            members = self._members = [
                (self.occupantView(o), o.jids()) for o in self.occupants.values()]
            self._places = {o: n for n, o in enumerate(self.occupants.values())}
        config = self.config
        return RoomView(self.address, config.nonAnonymous, config.logging,
                        config.presenceBroadcast, tuple(members),
                        tuple(self.history) if history else (), self.subject, fresh)

    def announce(self, turn: Turn, occupant: Occupant,
                 change: PresenceChange = PLAIN) -> None:
        """
        An occupant's presence change for everyone, under one broadcast
        number (L{view.presenceBroadcast}): with real JIDs to those who may
        see them, without to the others, and with status 110 to the
        occupant's sessions. The occupant's state already holds the change.
        """
        self.occupantChanged(occupant)
        self.emitAddressed(turn, view.presenceBroadcast(
            self.view(), self.occupantView(occupant), occupant.jids(), change))

    def emitAddressed(self, turn: Turn, sent: Iterable[view.Addressed],
                      seq: int | None = None) -> int:
        """
        Emit the stanzas of one broadcast under one number.
        """
        if seq is None:
            seq = self.nextSeq()
        for part, each in enumerate(sent):
            turn.emit(effects.Broadcast(seq, each.stanza, each.recipients, each.kind, part))
        return seq

    # Changes

    def setRole(self, turn: Turn, occupant: Occupant, role: Role,
                actor: str | None = None, reason: str = "") -> None:
        """
        Give an occupant a new role; C{NONE} is a kick (status 307).
        """
        if role is Role.NONE:
            self.removeOccupant(turn, occupant, (307,), actor, reason)
            return
        occupant.role = role
        self.announce(turn, occupant, view.roleChange(actor, reason))

    def removeOccupant(self, turn: Turn, occupant: Occupant, codes: Iterable[int],
                       actor: str | None = None, reason: str = "") -> None:
        """
        Take an occupant out of the room with every session, telling
        everyone why (status codes, actor, reason: L{view.removal}).
        """
        self.announce(turn, occupant, view.removal(codes, actor, reason))
        for full in list(occupant.sessions):
            self.dropSession(occupant, full)
        self.registry.hooks.fire("occupant-left", self, turn, occupant)

    def evictAll(self, turn: Turn, codes: Iterable[int], extra: Iterable[Any] = ()) -> None:
        """
        Send every occupant away at once (destruction, shutdown): each gets
        only its own unavailable presence, all under one broadcast number
        (L{view.eviction}).
        """
        seq = self.nextSeq()
        leaving = list(self.occupants.values())
        for part, (occupant, each) in enumerate(zip(leaving, view.eviction(
                self.view(), codes, extra))):
            turn.emit(effects.Broadcast(seq, each.stanza, each.recipients, each.kind, part))
            for full in list(occupant.sessions):
                self.dropSession(occupant, full)
            self.registry.hooks.fire("occupant-left", self, turn, occupant)

    def setAffiliation(self, turn: Turn, bare: str, new: Affiliation,
                       actor: str | None = None, reason: str = "", nick: str = "") -> None:
        """
        Record the new affiliation of a bare JID or a domain and carry it
        through to the occupants it applies to (L{affiliation}): outcasts
        are removed (301), each, the others get the role their affiliation
        gives (features may remove them instead, 321). The occupants of a
        domain with entries of their own keep theirs and are left alone. A
        user not in the room is told by message (status 101); a domain is
        not.
        """
        domain = "@" not in bare
        affected = [o for o in self.occupants.values()
                    if o.bare == bare or (domain and o.bare.partition("@")[2] == bare)]
        before = {o.key: self.affiliation(o.bare) for o in affected}
        if new is Affiliation.NONE:
            self.affiliations.pop(bare, None)
        else:
            self.affiliations[bare] = Affiliated(new, reason, nick)
        if not affected and not domain:
            notice = stanza("message", self.address, bare)
            notice.addChild(mucUser(itemElement(new, None, bare, reason=reason), codes=(101,)))
            turn.send(notice)
        for occupant in affected:
            old, now = before[occupant.key], self.affiliation(occupant.bare)
            if occupant.bare != bare and now is old:
                continue
            if now is Affiliation.OUTCAST:
                self.removeOccupant(turn, occupant, (301,), actor, reason)
            elif not self.registry.hooks.fire(
                "affiliation-changed", self, turn, occupant, old, now
            ):
                occupant.role = defaultRole(now, self.config)
                self.announce(turn, occupant, view.roleChange(actor, reason))
        self.persist(turn)

    def persist(self, turn: Turn) -> None:
        """
        Have a persistent room's state saved.
        """
        if self.config.persistent:
            self.stored = True
            turn.emit(effects.SaveRoom(self.record()))

    def forget(self) -> list[Any]:
        """
        What storage drops when the room ends or stops being persistent:
        its record and archive when the room owns a stored record
        (L{stored}), else only an archive kept under its name with no
        stored record beside it. A room never deletes a stored record it
        does not own, whatever its name.
        """
        if self.stored:
            self.stored = False
            return [effects.DeleteRoom(self.name)]
        return [effects.DeleteArchive(self.name)]

    def resizeHistory(self) -> None:
        if self.history.maxlen != self.config.historyLength:
            self.history = deque(self.history, maxlen=self.config.historyLength)
