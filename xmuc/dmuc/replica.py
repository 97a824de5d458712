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

from collections import deque
from dataclasses import dataclass
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
from xmuc.dmuc.mirror import PHASES, Member, Mirror, Phase, memberOf, restore
from xmuc.dmuc.persist import DropMirror, RestoredMirror
from xmuc.muc.effects import Broadcast, Deliver, Send
from xmuc.muc.entrant import EntrantView, joinSequence
from xmuc.muc.model import HistoryEntry, Role, Subject
from xmuc.muc.ns import NS_SID
from xmuc.muc.stanzas import stanza as newStanza
from xmuc.muc.view import Kind, OccupantView

__all__ = ["PHASES", "Mirror", "Phase", "Replica", "ResyncNeeded"]


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
        self.restored: dict[str, Mirror] = {}

    def restore(self, mirrors: list[RestoredMirror]) -> None:
        """
        The mirrors the store held at start. They are kept apart, never
        served: the node's sessions ended with it, and the room went on
        without this replica, so the copy is stale until a resync (issue
        10) or a new attach replaces it (docs/dmuc-decisions.md,
        "Persistence: a restarted replica serves nothing stale").
        """
        for stored in mirrors:
            if stored.address not in self.rooms:
                self.restored[stored.address] = restore(stored)

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
            done = self._marked(room, element, now)
            if room.stepped:
                done.append(room.saved())
            return done
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
        out: list[Any] = [Send(newStanza("iq", self.jid.full(), sender.full(), "result",
                                         element.getAttribute("id")))]
        if isinstance(value, wire.Attach):
            out.append(self._attach(address, sender.host, value).saved())
        elif isinstance(value, wire.Outcasts):
            room = self._room(address)
            room.outcasts = frozenset(j.userhost() for j in value.outcasts)
            out.append(room.saved())
        elif isinstance(value, wire.Detach):
            if self.restored.pop(address, None) is None or address in self.rooms:
                self._room(address)
                del self.rooms[address]
            out.append(DropMirror(address))
        else:
            raise BadRequest("not a request for a replica")
        return out

    def _room(self, address: str) -> Mirror:
        room = self.rooms.get(address)
        if room is None:
            raise ItemNotFound("This room is not attached here")
        return room

    def _attach(self, address: str, domain: str, attach: wire.Attach) -> Mirror:
        """
        A new mirror (replacing a restored one), or a fresh snapshot of
        one (the roster, history and subject are replaced; local sessions
        stay).
        """
        if not self.mirrors(domain):
            raise NotAllowed("This server does not mirror rooms of that service")
        room = self.rooms.get(address)
        outcasts = frozenset(j.userhost() for j in attach.outcasts)
        nonAnonymous = attach.anonymity is wire.Anonymity.NON
        length = min(attach.history, self.maxHistory) if self.maxHistory else attach.history
        if room is None or room.epoch != attach.epoch:
            stale = self.restored.pop(address, None)
            room = self.rooms[address] = Mirror(
                address, attach.epoch, nonAnonymous, length, outcasts,
                history=deque(maxlen=length), based=False, primary=domain,
                savedLocal=() if stale is None else stale.savedLocal)
        else:
            room.transition("attach")
            room.nonAnonymous, room.outcasts, room.historyLimit = nonAnonymous, outcasts, length
            room.roster, room.history = {}, deque(maxlen=length)
        room.keepalive, room.presenceBroadcast = attach.keepalive, attach.broadcast
        room.rostered = room.newHistory = room.stepped = True
        return room

    # Marked stanzas from a room

    def _marked(self, room: Mirror, element: domish.Element, now: float) -> list[Any]:
        stripped, marker = unmarked(element)
        if marker is None:
            raise BadRequest("A room's stanza to a replica carries its seq")
        if not room.based:
            room.lastSeq, room.based = max(marker.seq - 1, 0), True
        if marker.seq <= room.lastSeq and room.phase is not Phase.BROKEN:
            return []  # a duplicate
        if marker.seq != room.lastSeq + 1 or room.phase is Phase.BROKEN:
            if room.phase is Phase.BROKEN:
                return []
            room.transition("gap")
            return [ResyncNeeded(room.address, room.epoch, room.lastSeq, marker.seq)]
        room.lastSeq, room.stepped = marker.seq, True
        stripped.attributes.pop("to", None)  # a fresh envelope: the original keeps it
        if stripped.name == "message":
            return self._message(room, stripped, marker, now)
        if stripped.name != "presence":
            raise BadRequest("A room sends a replica presences and messages")
        facts = readPresence(stripped)
        if facts is None:
            return []
        room.rostered = True
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
            entry = HistoryEntry(message, stamp, sid)
            room.history.append(entry)
            room.added.append(entry)
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
            else "Banned from this room" if (entrant.userhost() in room.outcasts
                                             or entrant.host in room.outcasts)
            else None if self.directed(entrant, room.address)
            else "No directed presence to this room")
        if refusal is not None:
            if facts.nick not in room.roster:
                room.refused.add(facts.nick)
            reply = exceptionReply(element, Forbidden(refusal))
            return [] if reply is None else [Send(reply)]
        nick = facts.nick
        room.refused.discard(nick)
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
        if facts.role in room.presenceBroadcast:
            out.extend(self._toOthers(room, nick, withCodes(stripped, ()), marker.seq))
        room.roster[nick] = Member(nick, facts.role, facts.affiliation,
                                   facts.jid or entrant.full(), facts.payload, facts.occupantId)
        room.local[nick] = [entrant]
        return out

    def _presence(self, room: Mirror, stripped: domish.Element, marker: Marker,
                  facts: PresenceFacts) -> list[Any]:
        nick = facts.nick
        if nick in room.refused:
            room.refused.discard(nick)
            if facts.unavailable and nick not in room.roster:
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
                room.roster[nick] = memberOf(facts)
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

