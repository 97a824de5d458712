# -*- test-case-name: tests.muc.test_view -*-
"""
What an entrant sees (XEP-0045 section 7.2, dmuc.md section 3): one pure
function, L{joinSequence}, that the primary's room engine runs for local
and classic joins and a replica runs on its own copy of the room, so that
the two cannot drift. In XEP-0045's order: the presences of the occupants
already there, its own presence (110 and the codes of L{entrantCodes}),
the history its C{<history/>} asks for (L{selectHistory}, judged against
the stamps the room gave the messages), the subject.

The values (L{xmuc.muc.view.RoomView} and the occupants' views) and the
presences are L{xmuc.muc.view}'s; a joining session's presence to the
others is L{xmuc.muc.view.arrival}.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from twisted.words.protocols.jabber.jid import JID
from twisted.words.xish import domish

from xmuc.core.stanza import readdressed
from xmuc.muc.events import HistoryRequest
from xmuc.muc.model import ALL_ROLES, HistoryEntry, Subject
from xmuc.muc.stanzas import delay, stanza
from xmuc.muc.view import (
    Kind,
    OccupantView,
    PresenceChange,
    RoomView,
    Shown,
    rosterPresence,
    seesRealJids,
    selfPresence,
)


@dataclass(frozen=True)
class EntrantView:
    """
    Someone who just entered: its occupant as the room now holds it, the
    client that entered, and what it asked for.

    @ivar session: the real full JID of the client that entered.
    @ivar renamed: the room changed the nickname asked for (status 210).
    @ivar codes: status codes for its own presence that features add
        (beyond those of L{entrantCodes}).
    """

    occupant: OccupantView
    session: JID
    history: HistoryRequest | None = None
    renamed: bool = False
    codes: frozenset[int] = frozenset()



def entrantCodes(room: RoomView, entrant: EntrantView) -> frozenset[int]:
    """
    The status codes of an entrant's own presence besides 110: 201 for
    the creator of the room, 210 when the room changed the nickname, 100
    in a non-anonymous room, 170 when the room logs, and the features'.
    """
    codes = set(entrant.codes)
    if room.fresh:
        codes.add(201)
    if entrant.renamed:
        codes.add(210)
    if room.nonAnonymous:
        codes.add(100)
    if room.logging:
        codes.add(170)
    return frozenset(codes)


def roster(room: RoomView, entrant: OccupantView) -> list[Shown]:
    """
    The presences of the occupants already there (all but the entrant's
    own occupant, by nickname) whose role's presence is broadcast, with
    real JIDs when the entrant may see them.
    """
    showJid = seesRealJids(entrant.role, room.nonAnonymous)
    address, nick, kind = room.address, entrant.nick, Kind.ROSTER
    roles = room.presenceBroadcast
    everyone = roles >= ALL_ROLES
    shown: list[Shown] = []
    make = tuple.__new__  # Shown(kind, element) without NamedTuple's Python-level __new__
    for other, _ in room.occupants:
        if other.nick == nick or not (everyone or other.role in roles):
            continue
        element = other.rendered.get(showJid)
        if element is None:
            element = rosterPresence(address, other, showJid)
        shown.append(make(Shown, (kind, element)))
    return shown


def selectHistory(entries: Iterable[HistoryEntry], request: HistoryRequest | None,
                  now: float) -> list[HistoryEntry]:
    """
    The entries a history request asks for (section 7.2.15); every limit
    given applies. C{since} and C{seconds} are judged against the stamp
    the room gave each message when it first received it (never the time
    of the join or of a copy); C{maxchars} counts the characters of whole
    stanzas as the room broadcast them.
    """
    entries = list(entries)
    if request is None:
        return entries
    if request.since is not None:
        entries = [e for e in entries if e.stamp > request.since]
    if request.seconds is not None:
        entries = [e for e in entries if e.stamp >= now - request.seconds]
    if request.maxstanzas is not None:
        entries = entries[max(0, len(entries) - request.maxstanzas):] if request.maxstanzas else []
    if request.maxchars is not None:
        kept: list[HistoryEntry] = []
        total = 0
        for entry in reversed(entries):
            total += len(entry.stanza.toXml())
            if total > request.maxchars:
                break
            kept.append(entry)
        entries = kept[::-1]
    return entries


def delayed(address: str, entry: HistoryEntry) -> domish.Element:
    """
    A history message as entrants get it: the broadcast stanza with the
    room's C{<delay/>} at the entry's original stamp (made once per entry).
    """
    if entry.delayed is None:
        entry.delayed = readdressed(entry.stanza, None, extra=(delay(entry.stamp, address),))
    return entry.delayed


def subjectMessage(address: str, subject: Subject, id: str | None = None) -> domish.Element:
    """
    The subject as a groupchat message, from whoever set it (the room when
    nobody did); an empty C{<subject/>} when none is set.
    """
    sender = f"{address}/{subject.nick}" if subject.nick else address
    message = stanza("message", sender, kind="groupchat", id=id)
    message.addElement("subject", content=subject.text)
    return message


def joinSequence(room: RoomView, entrant: EntrantView, now: float) -> list[Shown]:
    """
    Everything an entrant gets, in order: the roster, its own presence,
    the history it asked for, the subject.
    """
    shown = roster(room, entrant.occupant)
    change = PresenceChange(selfCodes=tuple(sorted(entrantCodes(room, entrant))))
    shown.append(Shown(Kind.SELF_PRESENCE, selfPresence(room.address, entrant.occupant, change)))
    for entry in selectHistory(room.history, entrant.history, now):
        shown.append(Shown(Kind.HISTORY, delayed(room.address, entry)))
    shown.append(Shown(Kind.SUBJECT, subjectMessage(room.address, room.subject)))
    return shown
