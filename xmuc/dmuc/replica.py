# -*- test-case-name: tests.dmuc.test_engines -*-
"""
The replica side of distributed rooms (design sections 2 to 4 and 7):
C{dmuc@B}, which mirrors the rooms of other nodes for B's own users.

L{Replica.receive} takes one stanza addressed to the replica's JID and
the current time and returns effects: L{Deliver} and L{Broadcast} to
local sessions (stanzas without C{to}, as the room engine's), L{Send}
for answers to a primary, L{ResyncNeeded} when a room's sequence broke.

Per mirrored room (L{Mirror}) it keeps the roster as the room showed it,
the local distribution list (each nickname's local sessions, several for
a multi-session occupant), the history (at most the attach's C{history}),
the subject, the last C{seq}, the epoch and the outcasts. A room goes
through the phases of L{PHASES}: after an accepted C{<attach>} it takes
the snapshot (presences, history, then the subject, which ends it), then
follows the room's broadcasts.

What local users get is what the room would have sent them:
  - an enter copy: the entrant gets L{xmuc.muc.entrant.joinSequence} run
    on the mirror (the same function the room runs), the other local
    occupants its presence without the entrant's status codes;
  - any other presence copy: the occupant's own sessions with status
    110 added, local moderators (everyone in a non-anonymous room) the
    copy, other local occupants the copy without the item's C{jid}; a
    copy that carries 110 is for the occupant's own sessions alone (for
    the session of its C{<leave/>} alone when it has one);
  - a message copy: every local session, the marker taken off; messages
    with a body are kept as history at the stamp of the marker's
    C{<delay/>} (the primary's clock), a subject message sets the subject.

The replica never authorises or orders room traffic: stanzas local users
send to the room travel to the primary unchanged (that is routing, not
this engine). Refused (section 7): an attach from a domain this node does
not mirror (C{not-allowed}); broadcasts from anything but an attached
room's JIDs (C{item-not-found}); an enter for a JID of another domain, one
that sent the room no directed presence, or an outcast (C{forbidden}).
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

from twisted.words.protocols.jabber.jid import JID
from twisted.words.xish import domish

from xmuc.core.errors import (
    DOMAIN_ERRORS,
    BadRequest,
    Forbidden,
    ItemNotFound,
    NotAllowed,
    ServiceUnavailable,
    exceptionReply,
)
from xmuc.core.jid import parseJID
from xmuc.dmuc import wire
from xmuc.dmuc.copies import PresenceFacts, nickOf, readPresence, withCodes, withoutJid
from xmuc.dmuc.marker import Marker, unmarked
from xmuc.muc.effects import Broadcast, Deliver, Send
from xmuc.muc.entrant import EntrantView, joinSequence
from xmuc.muc.model import Affiliation, HistoryEntry, Role, Subject
from xmuc.muc.ns import NS_SID
from xmuc.muc.stanzas import stanza as newStanza
from xmuc.muc.view import Kind, OccupantView, RoomView


class Phase(enum.Enum):
    #: an attach was accepted: presences, history and the subject follow
    SNAPSHOT = "snapshot"
    #: following the room's broadcasts
    LIVE = "live"
    #: a C{seq} was missed: nothing more is applied until a resync
    BROKEN = "broken"


#: (phase, event) -> next phase.
PHASES: dict[tuple[Phase, str], Phase] = {
    (Phase.SNAPSHOT, "subject"): Phase.LIVE,
    (Phase.SNAPSHOT, "attach"): Phase.SNAPSHOT,
    (Phase.LIVE, "attach"): Phase.SNAPSHOT,
    (Phase.BROKEN, "attach"): Phase.SNAPSHOT,
    (Phase.SNAPSHOT, "gap"): Phase.BROKEN,
    (Phase.LIVE, "gap"): Phase.BROKEN,
}


@dataclass(frozen=True)
class ResyncNeeded:
    """
    A room's stanzas came out of sequence: C{got} arrived after
    C{lastSeq}. The stanza was not applied, nor will later ones be, until
    a resync (issue 10) brings the mirror back.
    """

    room: str
    epoch: str
    lastSeq: int
    got: int


@dataclass
class Member:
    """
    An occupant as the mirror last saw it; C{jid} is L{None} when no copy
    showed its real JID.
    """

    nick: str
    role: Role
    affiliation: Affiliation
    jid: str | None
    payload: tuple[Any, ...]
    occupantId: str | None
    shown: OccupantView | None = None

    def view(self) -> OccupantView:
        if self.shown is None:
            self.shown = OccupantView(self.nick, self.role, self.affiliation, self.jid or "",
                                      self.payload, self.occupantId)
        return self.shown

    def update(self, facts: PresenceFacts) -> None:
        self.role, self.affiliation = facts.role, facts.affiliation
        self.jid = facts.jid or self.jid
        self.payload, self.occupantId, self.shown = facts.payload, facts.occupantId, None


@dataclass
class Mirror:
    """
    One room a primary attached.
    """

    address: str
    epoch: str
    nonAnonymous: bool
    historyLimit: int
    outcasts: frozenset[str] = frozenset()
    phase: Phase = Phase.SNAPSHOT
    lastSeq: int = 0
    roster: dict[str, Member] = field(default_factory=dict)
    local: dict[str, list[JID]] = field(default_factory=dict)
    history: deque[HistoryEntry] = field(default_factory=deque)
    subject: Subject = Subject()

    def transition(self, event: str) -> None:
        self.phase = PHASES[(self.phase, event)]

    def sessions(self) -> list[JID]:
        return [jid for jids in self.local.values() for jid in jids]

    def view(self) -> RoomView:
        return RoomView(self.address, self.nonAnonymous, occupants=tuple(
            (m.view(), tuple(self.local.get(m.nick, ()))) for m in self.roster.values()),
            history=tuple(self.history), subject=self.subject)


class Replica:
    """
    The replica entity of one node, for every room it mirrors.
    """

    def __init__(self, jid: JID, directed: Callable[[JID, str], bool],
                 mirrors: Callable[[str], bool] = lambda domain: True,
                 maxHistory: int = 0) -> None:
        """
        @param jid: the replica's JID (C{dmuc@B}); its domain is B.
        @param directed: whether a local full JID sent directed presence
            to a room's bare JID (the router's records).
        @param mirrors: whether this node mirrors rooms of a domain.
        @param maxHistory: history kept per room at most (0: as much as
            the attach says).
        """
        self.maxHistory = maxHistory
        self.jid = jid
        self.domain = jid.host
        self.directed = directed
        self.mirrors = mirrors
        self.rooms: dict[str, Mirror] = {}

    def receive(self, element: domish.Element, now: float) -> list[Any]:
        """
        Handle one stanza to the replica's JID.
        """
        if element.getAttribute("type") == "error":
            return []
        try:
            sender = parseJID(element.getAttribute("from", ""))
            if element.name == "iq":
                return self._iq(element, sender)
            room = self.rooms.get(sender.userhost())
            if room is None or sender.user is None:
                raise ItemNotFound("This room is not attached here")
            return self._marked(room, element, now)
        except DOMAIN_ERRORS as e:
            # Refusals only: anything else is a bug the glue logs.
            reply = exceptionReply(element, e)
            return [] if reply is None else [Send(reply)]

    # IQs: attach, outcasts, detach

    def _iq(self, element: domish.Element, sender: JID) -> list[Any]:
        kind = element.getAttribute("type")
        if kind == "result":
            return []
        if kind != "set":
            raise ServiceUnavailable("The replica answers no queries")  # RFC 6120 8.2.3
        if sender.user is None or sender.resource is not None:
            raise BadRequest("DMUC requests come from a room")
        payloads = [c for c in element.elements()]
        if len(payloads) != 1:
            raise BadRequest("one payload expected")
        value = wire.parse(payloads[0])
        address = sender.userhost()
        if isinstance(value, wire.Attach):
            self._attach(address, sender.host, value)
        elif isinstance(value, wire.Outcasts):
            self._room(address).outcasts = frozenset(j.userhost() for j in value.outcasts)
        elif isinstance(value, wire.Detach):
            self._room(address)
            del self.rooms[address]
        else:
            raise BadRequest("not a request for a replica")
        return [Send(newStanza("iq", self.jid.full(), sender.full(), "result",
                               element.getAttribute("id")))]

    def _room(self, address: str) -> Mirror:
        room = self.rooms.get(address)
        if room is None:
            raise ItemNotFound("This room is not attached here")
        return room

    def _attach(self, address: str, domain: str, attach: wire.Attach) -> None:
        """
        A new mirror, or a fresh snapshot of one (the roster, history and
        subject are replaced; local sessions stay).
        """
        if not self.mirrors(domain):
            raise NotAllowed("This server does not mirror rooms of that service")
        room = self.rooms.get(address)
        outcasts = frozenset(j.userhost() for j in attach.outcasts)
        nonAnonymous = attach.anonymity is wire.Anonymity.NON
        length = min(attach.history, self.maxHistory) if self.maxHistory else attach.history
        if room is None or room.epoch != attach.epoch:
            self.rooms[address] = Mirror(address, attach.epoch, nonAnonymous, length, outcasts,
                                         history=deque(maxlen=length))
            return
        room.transition("attach")
        room.nonAnonymous, room.outcasts, room.historyLimit = nonAnonymous, outcasts, length
        room.roster, room.history = {}, deque(maxlen=length)

    # Marked stanzas from a room

    def _marked(self, room: Mirror, element: domish.Element, now: float) -> list[Any]:
        stripped, marker = unmarked(element)
        if marker is None:
            raise BadRequest("A room's stanza to a replica carries its seq")
        if marker.seq <= room.lastSeq and room.phase is not Phase.BROKEN:
            return []  # a duplicate
        if marker.seq != room.lastSeq + 1 or room.phase is Phase.BROKEN:
            if room.phase is Phase.BROKEN:
                return []
            room.transition("gap")
            return [ResyncNeeded(room.address, room.epoch, room.lastSeq, marker.seq)]
        room.lastSeq = marker.seq
        stripped.attributes.pop("to", None)  # a fresh envelope: the original keeps it
        if stripped.name == "message":
            return self._message(room, stripped, marker, now)
        if stripped.name != "presence":
            raise BadRequest("A room sends a replica presences and messages")
        facts = readPresence(stripped)
        if facts is None:
            return []
        if room.phase is Phase.SNAPSHOT:
            self._apply(room, facts, marker)
            return []
        if marker.enter is not None:
            return self._enter(room, element, stripped, marker, facts, now)
        return self._presence(room, stripped, marker, facts)

    def _message(self, room: Mirror, message: domish.Element, marker: Marker,
                 now: float) -> list[Any]:
        stamp = marker.delay.stamp if marker.delay is not None else now
        names = {c.name for c in message.elements() if c.uri == message.uri}
        if message.getAttribute("type") == "groupchat" and "body" in names:
            sid = next((c.getAttribute("id", "") for c in message.elements(NS_SID, "stanza-id")),
                       "")
            room.history.append(HistoryEntry(message, stamp, sid))
        elif "subject" in names:
            text = next(str(c) for c in message.elements(message.uri, "subject"))
            room.subject = Subject(text, nickOf(message) or "", stamp)
            if room.phase is Phase.SNAPSHOT:
                room.transition("subject")
                return []
        if room.phase is Phase.SNAPSHOT:
            return []
        recipients = tuple(room.sessions())
        return [Broadcast(marker.seq, message, recipients)] if recipients else []

    def _enter(self, room: Mirror, element: domish.Element, stripped: domish.Element,
               marker: Marker, facts: PresenceFacts, now: float) -> list[Any]:
        """
        An occupant of this node entered (design section 3): only for this
        node's users who sent the room directed presence, never outcasts.
        """
        entrant = marker.enter
        assert entrant is not None
        refusal = (
            "Not a user of this server" if entrant.host != self.domain
            else "Banned from this room" if entrant.userhost() in room.outcasts
            else None if self.directed(entrant, room.address)
            else "No directed presence to this room")
        if refusal is not None:
            reply = exceptionReply(element, Forbidden(refusal))
            return [] if reply is None else [Send(reply)]
        nick = facts.nick
        locals_ = room.local.get(nick, [])
        sharing = nick in room.roster and any(
            j.userhost() == entrant.userhost() for j in locals_)
        shown = OccupantView(nick, facts.role, facts.affiliation, facts.jid or entrant.full(),
                             facts.payload, facts.occupantId)
        entering = EntrantView(shown, entrant, marker.history,
                               codes=frozenset(facts.codes - {110}))
        out: list[Any] = [Deliver(element_, entrant, kind)
                          for kind, element_ in joinSequence(room.view(), entering, now)]
        if sharing:
            locals_.append(entrant)
            return out
        out.extend(self._toOthers(room, nick, withCodes(stripped, ()), marker.seq))
        room.roster[nick] = Member(nick, facts.role, facts.affiliation,
                                   facts.jid or entrant.full(), facts.payload, facts.occupantId)
        room.local[nick] = [entrant]
        return out

    def _presence(self, room: Mirror, stripped: domish.Element, marker: Marker,
                  facts: PresenceFacts) -> list[Any]:
        nick = facts.nick
        if nick not in room.roster and facts.unavailable:
            return []  # an entrant this replica refused
        own = room.local.get(nick, [])
        if marker.leave is not None and marker.leave not in own and 110 in facts.codes:
            return []  # a session it refused left; the occupant's others stay
        out: list[Any] = []
        if 110 in facts.codes:
            targets = [marker.leave] if marker.leave in own else own
            if targets:
                out.append(Broadcast(marker.seq, stripped, tuple(targets), Kind.SELF_PRESENCE))
        else:
            if own:
                out.append(Broadcast(marker.seq, withCodes(stripped, facts.codes | {110}),
                                     tuple(own), Kind.SELF_PRESENCE))
            out.extend(self._toOthers(room, nick, stripped, marker.seq))
        self._apply(room, facts, marker)
        return out

    def _toOthers(self, room: Mirror, nick: str, presence: domish.Element,
                  seq: int) -> list[Any]:
        """
        A presence of C{nick} for the other local occupants: with the real
        JID for those who may see it, without for the others.
        """
        seeing: list[JID] = []
        blind: list[JID] = []
        for other, jids in room.local.items():
            if other == nick or not jids:
                continue
            member = room.roster.get(other)
            sees = room.nonAnonymous or (member is not None and member.role is Role.MODERATOR)
            (seeing if sees else blind).extend(jids)
        out: list[Any] = []
        if seeing:
            out.append(Broadcast(seq, presence, tuple(seeing)))
        if blind:
            out.append(Broadcast(seq, withoutJid(presence), tuple(blind)))
        return out

    def _apply(self, room: Mirror, facts: PresenceFacts, marker: Marker) -> None:
        """
        The roster change a presence implies: a nickname change (303), a
        session or an occupant gone, a new or changed occupant.
        """
        nick = facts.nick
        if not facts.unavailable:
            member = room.roster.get(nick)
            if member is None:
                room.roster[nick] = Member(nick, facts.role, facts.affiliation, facts.jid,
                                           facts.payload, facts.occupantId)
            else:
                member.update(facts)
            return
        own = room.local.get(nick, [])
        if 303 in facts.codes and facts.newNick:
            room.roster.pop(nick, None)
            if own:
                room.local[facts.newNick] = room.local.pop(nick)
            return
        if marker.leave is not None and marker.leave in own and len(own) > 1:
            own.remove(marker.leave)
            return
        room.roster.pop(nick, None)
        room.local.pop(nick, None)

