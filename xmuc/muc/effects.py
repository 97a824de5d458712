# -*- test-case-name: tests.muc.test_room -*-
"""
What the room engine asks the world to do: frozen values the glue
(L{xmuc.glue.muc}) carries out in order.

Stanzas in effects are shared, never copied per recipient, and nobody may
change them after the engine returned them: a L{Broadcast}'s stanza, the
history entry and the L{Archive} record are the same element.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from twisted.words.protocols.jabber.jid import JID

from xmuc.muc.model import RoomRecord
from xmuc.muc.view import Kind


@dataclass(frozen=True)
class Broadcast:
    """
    Send C{stanza} (which has no C{to}) to each real JID of C{recipients}:
    serialise it once and change only C{to}.

    @ivar seq: the room's broadcast number. The variants of one broadcast
        (the copy with real JIDs for moderators, the one without, the
        occupant's own copy with status 110) share it, and so do the
        stanzas of one eviction (each occupant's own unavailable presence).
        It numbers what the room did, not what was sent: a replica link
        counts its own C{seq} (dmuc.md section 4), one per stanza it
        carries, apart from this number.
    @ivar part: the place of this stanza among the different stanzas of
        its broadcast (0, 1, ...): C{(seq, part)} names one stanza.
    @ivar kind: what the stanza is (L{Kind}).
    """

    seq: int
    stanza: Any
    recipients: tuple[JID, ...]
    kind: Kind = Kind.BROADCAST
    part: int = 0


@dataclass(frozen=True)
class Deliver:
    """
    Send C{stanza} (which has no C{to}, and may go to others too) to one
    real JID: what an entering occupant gets
    (L{xmuc.muc.entrant.joinSequence}) or a leaving session alone. Like a L{Broadcast}, only C{to} changes, and
    the glue serialises each stanza once however many joins replay it.

    @ivar kind: what the stanza is (L{Kind}: roster, self-presence,
        history, subject).
    """

    stanza: Any
    recipient: JID
    kind: Kind = Kind.ROSTER


@dataclass(frozen=True)
class Send:
    """
    Send one stanza that carries its own C{to}.
    """

    stanza: Any


@dataclass(frozen=True)
class StartTimer:
    """
    Call the engine back with L{events.TimerFired} after C{delay} seconds;
    a timer with the same key is replaced.
    """

    key: tuple[str, ...]
    delay: float


@dataclass(frozen=True)
class CancelTimer:
    key: tuple[str, ...]


@dataclass(frozen=True)
class SaveRoom:
    """
    Store a persistent room's state (configuration, affiliations, subject).
    """

    record: RoomRecord


@dataclass(frozen=True)
class DeleteRoom:
    """
    Forget a room in storage, with its archive: only the room that owns
    the stored record asks for it (L{Room.forget}).
    """

    name: str


@dataclass(frozen=True)
class DeleteArchive:
    """
    Forget the archive of a room that has no stored record (a temporary
    room's); an archive whose room has a stored record stays.
    """

    name: str


@dataclass(frozen=True)
class Archive:
    """
    Keep a broadcast message in the room's archive (history across
    restarts, MAM).

    @ivar stamp: when the room first received the message: the stamp of
        its C{<delay/>} in history and MAM, never the time of a copy.
    @ivar occupant: the bare JID of the sender, for MAM's C{with} filter.
    """

    room: str
    stanzaId: str
    stamp: float
    nick: str
    occupant: str
    stanza: Any


@dataclass(frozen=True)
class QueryArchive:
    """
    Read the page of its archive a MAM query the room allowed asks for,
    at most C{max} messages, and hand it back to the room
    (L{MUCService.archiveAnswered}), which renders it; a query storage
    refuses (an unknown id) is answered with that error.
    """

    room: str
    query: Any
    max: int
