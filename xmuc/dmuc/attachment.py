# -*- test-case-name: tests.dmuc.test_engines -*-
"""
What a primary keeps of each replica that mirrors one of its rooms
(L{Attachment}, per room in L{RoomLinks}), its life-cycle table, and the
stanzas it sends a replica besides the room's broadcasts: the
C{<attach>} request, the snapshot that follows it, the outcast list and
the detach (design section 2).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from twisted.words.protocols.jabber.jid import JID

from xmuc.core.links import IllegalTransition
from xmuc.dmuc.marker import Delay, Marker, marked
from xmuc.dmuc.wire import Anonymity, Attach, Payload
from xmuc.muc import entrant
from xmuc.muc.effects import Send
from xmuc.muc.model import ALL_ROLES, Affiliation, Role
from xmuc.muc.room import Room
from xmuc.muc.stanzas import stanza
from xmuc.muc.view import rosterPresence


class AttachState(enum.Enum):
    #: the C{<attach>} is out; the domain's stanzas wait for its answer
    ATTACHING = "attaching"
    #: the replica mirrors the room
    ATTACHED = "attached"


#: (state, event) -> next state. A refused attach, a detach or the room's
#: end drops the attachment instead of moving it.
TRANSITIONS: dict[tuple[AttachState, str], AttachState] = {
    (AttachState.ATTACHING, "attach-result"): AttachState.ATTACHED,
}


@dataclass
class Attachment:
    """
    One replica mirroring one room.

    @ivar seq: the last C{seq} sent to the replica in the room's epoch:
        one per stanza it carried.
    @ivar anonymity: what the replica was last told of the room's.
    @ivar history: the history length the replica was last told.
    @ivar broadcast: the roles whose presence the replica was last told
        the room broadcasts.
    @ivar sessions: the full JIDs of the domain's sessions in the room.
    @ivar blind: a presence went to the replica without the real JID in a
        semi-anonymous room, so its copy of the room lacks some: a
        moderator entering there needs a fresh snapshot first.
    @ivar waiting: while attaching, each stanza for the domain in its
        classic form (effects) and as copies for the replica.
    @ivar entered: by nickname, the domain's session that entered last
        (whom a C{<forbidden/>} from the replica removes).
    @ivar unlogged: C{(seq, stanza)} marked since the primary last
        collected them for the broadcast log (L{xmuc.dmuc.persist}).
    """

    replica: JID
    domain: str
    iqId: str
    anonymity: Anonymity
    history: int
    broadcast: frozenset[Role] = ALL_ROLES
    state: AttachState = AttachState.ATTACHING
    seq: int = 0
    outcasts: tuple[JID, ...] = ()
    sessions: set[str] = field(default_factory=set)
    blind: bool = False
    waiting: list[tuple[list[Any], list[Any]]] = field(default_factory=list)
    entered: dict[str, JID] = field(default_factory=dict)
    unlogged: list[tuple[int, Any]] = field(default_factory=list)

    def transition(self, event: str) -> None:
        try:
            self.state = TRANSITIONS[(self.state, event)]
        except KeyError:
            raise IllegalTransition(f"{event} in state {self.state.value}") from None

    def mark(self, element: Any, **values: Any) -> Send:
        """
        C{element} for the replica, with its next C{seq} and C{values}
        (L{Marker}'s C{enter}, C{history}, C{leave}, C{delay}).
        """
        self.seq += 1
        send = Send(marked(element, Marker(self.seq, **values), self.replica.full()))
        self.unlogged.append((self.seq, send.stanza))
        return send

    def through(self, classic: list[Any], copies: list[Any]) -> list[Any]:
        """
        Copies for the replica go now, or wait for the attach's answer
        with their classic form beside them.
        """
        if self.state is AttachState.ATTACHED:
            return copies
        self.waiting.append((classic, copies))
        return []


@dataclass
class RoomLinks:
    """
    The attachments of one room, by domain, and its epoch.

    @ivar classic: domains served classically in this room because their
        replica refused (or failed) an attach.
    """

    epoch: str
    attached: dict[str, Attachment] = field(default_factory=dict)
    classic: set[str] = field(default_factory=set)


def anonymityOf(room: Room) -> Anonymity:
    return Anonymity.NON if room.config.nonAnonymous else Anonymity.SEMI


def request(room: Room, attachment: Attachment, payload: Payload, id: str) -> Send:
    """
    An iq set from the room to the replica.
    """
    iq = stanza("iq", room.address, attachment.replica.full(), "set", id)
    iq.addChild(payload.render())
    return Send(iq)


def attachRequest(room: Room, links: RoomLinks, attachment: Attachment, keepalive: int,
                  id: str) -> Send:
    """
    The C{<attach>} (or a fresh one, before a new snapshot), telling the
    replica the room's epoch, anonymity, history length, the roles whose
    presence it broadcasts and the bans on its domain.
    """
    attachment.anonymity, attachment.history = anonymityOf(room), room.config.historyLength
    attachment.broadcast = room.config.presenceBroadcast
    return request(room, attachment, Attach(links.epoch, keepalive, attachment.history,
                                            attachment.anonymity, attachment.outcasts,
                                            attachment.broadcast), id)


def snapshot(room: Room, attachment: Attachment, entrantNick: str, seeing: bool) -> list[Send]:
    """
    The room as a replica starts from: every occupant's presence but the
    entrant's (with real JIDs when C{seeing} or the room is
    non-anonymous), the history, the subject, which ends it.
    """
    view = room.view(history=True)
    showJid = seeing or view.nonAnonymous
    attachment.blind = not showJid
    sends = [attachment.mark(rosterPresence(view.address, occupant, showJid))
             for occupant, _ in view.occupants if occupant.nick != entrantNick
             and occupant.role in view.presenceBroadcast]
    sends.extend(attachment.mark(e.stanza, delay=Delay(e.stamp, room.jid))
                 for e in view.history)
    sends.append(attachment.mark(entrant.subjectMessage(view.address, view.subject)))
    return sends


def outcastsOf(room: Room, domain: str) -> tuple[JID, ...]:
    """
    The room's bans that match users of C{domain}: their bare JIDs, or
    the domain itself. Bans on other domains never reach its replica.

    The replica refuses every user the list matches (design section 3),
    so the list names only users the room refuses too (L{Room.affiliation}:
    a user's own entry wins over its domain's, and the service admins own
    every room). A ban on the domain therefore travels only while none of
    the domain's users has an entry of its own, or is a service admin,
    that lets it in; the room's own check keeps the others out either way.
    """
    banned = Affiliation.OUTCAST
    own = [bare for bare in {*room.affiliations, *room.settings.admins}
           if bare.partition("@")[2] == domain]
    bans = [bare for bare in own if room.affiliation(bare) is banned]
    if room.affiliation(domain) is banned and len(bans) == len(own):
        bans.append(domain)
    return tuple(JID(bare) for bare in sorted(bans))