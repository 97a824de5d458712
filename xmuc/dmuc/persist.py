# -*- test-case-name: tests.dmuc.test_persist -*-
"""
What the distributed engines ask storage to keep (design section 8): the
persistence effects of L{xmuc.dmuc.primary.Primary} and
L{xmuc.dmuc.replica.Replica}, like the room engine's L{SaveRoom
<xmuc.muc.effects.SaveRoom>}, and the values the glue hands back to them
at start. The glue (L{xmuc.glue.dmucstore}) turns them into the store's
operations (L{xmuc.storage.dmucinterfaces}); this module imports no
storage. Stanzas in them are elements: the glue serialises.

The primary, per room: L{StartEpoch} when a room with no epoch gets its
first attachment, L{AttachReplica}/L{DetachReplica} as attachments come
and go, one L{LogBroadcasts} per turn with every stanza marked for a
replica in it (its C{seq} and the stanza as sent), L{DropEpoch} when the
room ends. The replica, per mirrored room: one L{SaveMirror} per step
(an attach, a marked stanza, new outcasts), L{DropMirror} at a detach.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from xmuc.muc.model import ALL_ROLES, HistoryEntry, Role

# The primary


@dataclass(frozen=True)
class StartEpoch:
    """
    The room's numbering starts: store its epoch (drops any attachments).
    """

    room: str
    epoch: str


@dataclass(frozen=True)
class DropEpoch:
    """
    The room ended: forget its epoch, attachments and log.
    """

    room: str


@dataclass(frozen=True)
class AttachReplica:
    """
    An attach went out: the attachment, its C{seq} so far (0, or where a
    restored attachment of the same replica had got to).
    """

    room: str
    replica: str
    since: float
    seq: int = 0


@dataclass(frozen=True)
class DetachReplica:
    room: str
    replica: str


@dataclass(frozen=True)
class LogBroadcasts:
    """
    The stanzas one turn marked for the room's replicas, in order: each
    C{(replica, seq, stanza)}, the stanza as sent (its C{to}, its marker).
    """

    room: str
    entries: tuple[tuple[str, int, Any], ...]


@dataclass(frozen=True)
class RestoredAttachment:
    """
    An attachment the store held when the node started: the replica may
    still mirror the room at C{seq} (issue 10's resync replays from there).
    """

    replica: str
    seq: int


@dataclass(frozen=True)
class RestoredRoom:
    room: str
    epoch: str
    attachments: tuple[RestoredAttachment, ...] = ()


# The replica


@dataclass(frozen=True)
class SavedOccupant:
    """
    One roster entry: its presence as the room showed it (with the real
    JID when known), from which it is restored.
    """

    nick: str
    role: str
    affiliation: str
    jid: str | None
    presence: Any


@dataclass(frozen=True)
class SaveMirror:
    """
    One step of a mirrored room, to store at once (one
    L{ReplicaChange<xmuc.storage.dmucinterfaces.ReplicaChange>}).

    @ivar primary: the room's service domain.
    @ivar seq: the last C{seq} applied (0 before the first).
    @ivar roster: the whole roster in order when the step changed it,
        else L{None}.
    @ivar left: C{(nick, jid)} local members gone; C{joined} those new.
    @ivar history: entries the step added, oldest first; C{newHistory}
        empties the stored history first (an attach).
    @ivar broadcast: the roles whose presence the room broadcasts.
    """

    address: str
    primary: str
    epoch: str
    seq: int
    nonAnonymous: bool
    historyLimit: int
    outcasts: tuple[str, ...]
    keepalive: int = 60
    roster: tuple[SavedOccupant, ...] | None = None
    broadcast: frozenset[Role] = ALL_ROLES
    left: tuple[tuple[str, str], ...] = ()
    joined: tuple[tuple[str, str], ...] = ()
    history: tuple[HistoryEntry, ...] = ()
    newHistory: bool = False


@dataclass(frozen=True)
class DropMirror:
    address: str


@dataclass(frozen=True)
class RestoredMirror:
    """
    A mirrored room as the store held it at start: its settings, roster
    (presences, in order), local members and history.
    """

    address: str
    primary: str
    epoch: str
    seq: int
    nonAnonymous: bool
    historyLimit: int
    outcasts: tuple[str, ...] = ()
    keepalive: int = 60
    roster: tuple[Any, ...] = ()
    local: tuple[tuple[str, str], ...] = ()
    history: tuple[HistoryEntry, ...] = field(default=())
    broadcast: frozenset[Role] = ALL_ROLES
