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
    #: the link to the replica's domain is dead: stanzas for it are
    #: numbered and logged, not sent
    SPLIT = "split"
    #: the replica asked for a resync: what is marked meanwhile waits
    #: (logged) and follows the answer
    RESYNCING = "resyncing"


#: (state, event) -> next state. A refused attach, a detach or the room's
#: end drops the attachment instead of moving it. An attach still out
#: ignores the link's events: its answer (or its timeout) decides.
TRANSITIONS: dict[tuple[AttachState, str], AttachState] = {
    (AttachState.ATTACHING, "attach-result"): AttachState.ATTACHED,
    (AttachState.ATTACHED, "peer-down"): AttachState.SPLIT,
    (AttachState.SPLIT, "peer-down"): AttachState.SPLIT,
    (AttachState.RESYNCING, "peer-down"): AttachState.RESYNCING,
    # The link is back: a <sync/> goes out and stanzas go again.
    (AttachState.SPLIT, "peer-up"): AttachState.ATTACHED,
    (AttachState.ATTACHED, "peer-up"): AttachState.ATTACHED,
    (AttachState.RESYNCING, "peer-up"): AttachState.RESYNCING,
    # A <resync/> came (the replica may see the link up before we do).
    (AttachState.ATTACHED, "resync"): AttachState.RESYNCING,
    (AttachState.SPLIT, "resync"): AttachState.RESYNCING,
    # The resync's answer went out, with the link up or (a peer-down
    # while it was being prepared) down.
    (AttachState.RESYNCING, "answered"): AttachState.ATTACHED,
    (AttachState.RESYNCING, "answered-while-down"): AttachState.SPLIT,
}

#: The states in which stanzas for the replica go out at once.
LIVE = frozenset({AttachState.ATTACHED})


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
    @ivar held: while resyncing, the copies marked after the log was
        read (L{heldFrom} is the last C{seq} the read covers); they follow
        the resync's answer.
    @ivar syncId: the id of the C{<sync/>} last sent, so that its
        C{item-not-found} is recognised.
    @ivar pending: the resync being answered (L{xmuc.dmuc.netjoin}).
    @ivar refresh: a fresh attach and snapshot is owed (the room's
        settings changed, or a moderator of the domain entered a blind
        copy, while the link was down): it goes after the resync.
    @ivar outcastsOwed: the ban list changed while the link was down: the
        whole list goes after the resync.
    @ivar splitAt: when the link was found dead (L{None}: not split).
    @ivar loggedSplit: stanzas marked, and not sent, since L{splitAt}.
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
    held: list[Any] = field(default_factory=list)
    heldFrom: int = 0
    syncId: str = ""
    pending: Any = None
    refresh: bool = False
    outcastsOwed: bool = False
    splitAt: float | None = None
    loggedSplit: int = 0

    @property
    def live(self) -> bool:
        """
        Whether stanzas for the replica go out as they are made (not while
        attaching, split or resyncing).
        """
        return self.state in LIVE

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
        if self.state is AttachState.SPLIT:
            self.loggedSplit += 1
        return send

    def through(self, classic: list[Any], copies: list[Any]) -> list[Any]:
        """
        Copies for the replica go now; or wait for the attach's answer
        with their classic form beside them; or, split, stay in the log
        only (the resync replays them); or, resyncing, wait for its answer
        (L{held}). Only marked copies come here while the link is down or
        a resync is out (the others are owed: L{refresh}, L{outcastsOwed}).
        """
        state = self.state
        if state is AttachState.ATTACHED:
            return copies
        if state is AttachState.ATTACHING:
            self.waiting.append((classic, copies))
        elif state is AttachState.RESYNCING:
            self.held.extend(copies)
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