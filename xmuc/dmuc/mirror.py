# -*- test-case-name: tests.dmuc.test_persist -*-
"""
What a replica keeps of one room it mirrors (L{Mirror}): its phases
(L{PHASES}), the roster as the room showed it (L{Member}), the local
distribution list, the history, the subject and the last C{seq}; and how
a step of it is kept in storage (L{Mirror.saved}, one
L{SaveMirror} per step) and brought back at start (L{restore}).
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from twisted.words.protocols.jabber.jid import JID

from xmuc.dmuc.copies import PresenceFacts, readPresence
from xmuc.dmuc.persist import RestoredMirror, SavedOccupant, SaveMirror
from xmuc.muc.model import ALL_ROLES, Affiliation, HistoryEntry, Role, Subject
from xmuc.muc.view import OccupantView, RoomView, rosterPresence


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

    @ivar based: a stanza was applied since the attach that created the
        mirror; until then the first one sets C{lastSeq} (a primary that
        restarted goes on from the C{seq} it had reached).
    @ivar primary: the room's service domain.
    @ivar stepped: the current step changed the mirror: C{rostered} its
        roster, C{added} its history (C{newHistory}: replaced it).
    @ivar savedLocal: the local members as last saved, C{(nick, jid)}.
    @ivar presenceBroadcast: the roles whose presence the room broadcasts
        (from the attach): an entrant of another role is shown to nobody
        else, and left out of entrants' rosters.
    @ivar refused: nicknames of entrants this replica refused (not in
        the roster), until the room's unavailable presence for them; the
        only unavailable presences for a nickname not in the roster that
        are not shown (others are occupants whose presence the room does
        not broadcast, whose leave everyone sees).
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
    based: bool = True
    primary: str = ""
    keepalive: int = 60
    stepped: bool = False
    rostered: bool = False
    newHistory: bool = False
    added: list[HistoryEntry] = field(default_factory=list)
    savedLocal: tuple[tuple[str, str], ...] = ()
    presenceBroadcast: frozenset[Role] = ALL_ROLES
    refused: set[str] = field(default_factory=set)

    def transition(self, event: str) -> None:
        self.phase = PHASES[(self.phase, event)]

    def sessions(self) -> list[JID]:
        return [jid for jids in self.local.values() for jid in jids]

    def view(self) -> RoomView:
        return RoomView(self.address, self.nonAnonymous,
                        presenceBroadcast=self.presenceBroadcast, occupants=tuple(
            (m.view(), tuple(self.local.get(m.nick, ()))) for m in self.roster.values()),
            history=tuple(self.history), subject=self.subject)



    def saved(self) -> SaveMirror:
        """
        What this step changed, to store at once; the step's record is
        cleared.
        """
        local = tuple((nick, jid.full()) for nick, jids in self.local.items() for jid in jids)
        before, after = set(self.savedLocal), set(local)
        roster = None
        if self.rostered:
            roster = tuple(SavedOccupant(m.nick, m.role.label, m.affiliation.label, m.jid,
                                         rosterPresence(self.address, m.view(), True))
                           for m in self.roster.values())
        change = SaveMirror(
            self.address, self.primary, self.epoch, self.lastSeq, self.nonAnonymous,
            self.historyLimit, tuple(sorted(self.outcasts)), self.keepalive, roster,
            broadcast=self.presenceBroadcast,
            left=tuple(m for m in self.savedLocal if m not in after),
            joined=tuple(m for m in local if m not in before),
            history=tuple(self.added), newHistory=self.newHistory)
        self.savedLocal = local
        self.stepped = self.rostered = self.newHistory = False
        self.added = []
        return change


def memberOf(facts: PresenceFacts) -> Member:
    return Member(facts.nick, facts.role, facts.affiliation, facts.jid, facts.payload,
                  facts.occupantId)


def restore(stored: RestoredMirror) -> Mirror:
    """
    A mirror as the store kept it (its presences read back as the copies
    they were); an occupant whose presence no longer reads is left out.
    """
    mirror = Mirror(stored.address, stored.epoch, stored.nonAnonymous, stored.historyLimit,
                    frozenset(stored.outcasts), lastSeq=stored.seq, primary=stored.primary,
                    keepalive=stored.keepalive, presenceBroadcast=stored.broadcast,
                    history=deque(stored.history, maxlen=stored.historyLimit))
    for presence in stored.roster:
        facts = readPresence(presence)
        if facts is not None:
            member = mirror.roster[facts.nick] = memberOf(facts)
            member.jid = member.jid or None  # saved as shown: no real JID known
    for nick, jid in stored.local:
        mirror.local.setdefault(nick, []).append(JID(jid))
    mirror.savedLocal = stored.local
    return mirror
