# -*- test-case-name: tests.storage.test_dmuc -*-
"""
What a node keeps of its distributed rooms (DMUC, design page section 8):
the value objects and the two parts of L{xmuc.storage.interfaces.IStore}
that hold them.

The primary side (L{IPrimaryDMUCStore}) keeps, per room of a MUC service
C{host}: the room's epoch, one attachment per replica (with the replica's
C{seq}), and a bounded broadcast log per attachment for replay after a
split. The replica side (L{IReplicaDMUCStore}) keeps, per room a replica
JID mirrors: the attach settings and last C{seq}, the roster as the
primary last told it, the local distribution list, the replica's history
and the split spool.

Every write is one store operation and atomic (in the SQLite store, one
savepoint): a broadcast's log entries and the new C{seq} of each replica
are stored together, and so are a replica's new C{seq} and what that
broadcast changed, so that after a restart the C{seq} a node holds always
matches the state it holds. Why the log is per attachment is written in
docs/dmuc-decisions.md.

The engines ask for these writes with the effects of
L{xmuc.dmuc.persist}, which L{xmuc.glue.dmucstore} carries out.
"""

from __future__ import annotations

from dataclasses import dataclass

from zope.interface import Interface


class OutOfSequence(ValueError):
    """
    A broadcast logged for a replica is not the next C{seq} of its
    attachment, or an acknowledgement names a C{seq} not yet logged.
    """


# The primary side


@dataclass(frozen=True)
class ReplicaAttachment:
    """
    One replica attached to one room of the primary.

    @ivar replica: the replica's JID (C{dmuc@B}).
    @ivar since: POSIX time of the attach.
    @ivar seq: the last C{seq} given to a broadcast for this replica (0
        before the first); the next broadcast is C{seq + 1}.
    @ivar acked: the last C{seq} the replica is known to hold (from a
        resync's C{last-seq}); the log keeps nothing at or below it.
    """

    replica: str
    since: float
    seq: int = 0
    acked: int = 0


@dataclass(frozen=True)
class PrimaryRoom:
    """
    The DMUC state of one room of the primary, without its log.

    @ivar room: the room's localpart.
    @ivar epoch: the opaque value that changes when the log is lost.
    @ivar attachments: by replica JID.
    """

    room: str
    epoch: str
    attachments: tuple[ReplicaAttachment, ...] = ()


@dataclass(frozen=True)
class LoggedBroadcast:
    """
    One stanza as the primary sent it (or, during a split, would have sent
    it) to one replica, C{seq} and all.

    @ivar xml: the serialised stanza, with its dmuc element.
    """

    replica: str
    seq: int
    xml: str


@dataclass(frozen=True)
class Replay:
    """
    What the log holds for a replica after a given C{seq}.

    @ivar broadcasts: the logged broadcasts after it, oldest first.
    @ivar complete: C{broadcasts} are every broadcast after it up to
        C{seq}; C{False} when the log no longer reaches back that far (or
        the replica claims a C{seq} never sent), which calls for a snapshot.
    @ivar seq: the attachment's last C{seq}.
    """

    broadcasts: tuple[LoggedBroadcast, ...]
    complete: bool
    seq: int


# The replica side


@dataclass(frozen=True)
class ReplicaRoom:
    """
    The settings of one room a replica mirrors, from the attach and the
    broadcasts since.

    @ivar room: the room's bare JID (C{room@muc.A}).
    @ivar primary: the JID of the primary's MUC service (C{muc.A}): link
        health is kept per pair of nodes.
    @ivar seq: the last C{seq} received.
    @ivar anonymity: C{"non"} or C{"semi"}.
    @ivar keepalive: seconds of silence before a ping.
    @ivar historySize: how many history stanzas the replica keeps.
    @ivar outcasts: the bans the primary last sent (bare JIDs or domains).
    @ivar broadcast: the roles whose presence the room broadcasts, as
        their labels separated by spaces.
    """

    room: str
    primary: str
    epoch: str
    seq: int = 0
    anonymity: str = "semi"
    keepalive: int = 60
    historySize: int = 50
    outcasts: tuple[str, ...] = ()
    broadcast: str = "moderator participant visitor"


@dataclass(frozen=True)
class ReplicaOccupant:
    """
    One occupant of a mirrored room, as the primary last presented it.

    @ivar jid: the occupant's real JID when the primary showed it.
    @ivar presence: the occupant's presence stanza, serialised.
    """

    nick: str
    role: str
    affiliation: str
    jid: str | None
    presence: str


@dataclass(frozen=True)
class LocalMember:
    """
    One local real JID that receives a mirrored room's traffic as the
    occupant C{nick} (an occupant may have several: multi-session).
    """

    nick: str
    jid: str


@dataclass(frozen=True)
class HistoryEntry:
    """
    One stanza of a replica's history.

    @ivar stamp: the POSIX time of its C{<delay/>}, set by the primary.
    @ivar xml: the stanza as the replica stores it, without C{to}.
    """

    stamp: float
    xml: str


@dataclass(frozen=True)
class SpooledMessage:
    """
    A message a local occupant sent to a split room, kept for the primary.

    @ivar originId: its XEP-0359 origin-id.
    @ivar sender: the sender's real JID.
    @ivar sent: the POSIX time it was sent.
    """

    originId: str
    sender: str
    nick: str
    xml: str
    sent: float

    @property
    def key(self) -> tuple[str, str]:
        """
        What the primary deduplicates by, and L{ReplicaChange.unspool}
        names: C{(sender, originId)}.
        """
        return (self.sender, self.originId)


@dataclass(frozen=True)
class ReplicaChange:
    """
    What one step of a mirrored room changes (an attach, one broadcast, a
    snapshot, a spooled message), stored at once.

    Applied in this order: C{room} replaces the settings (the room record
    is created if it is new); C{newRoster} and C{newHistory} empty the
    roster and the history; C{gone}, C{left} and C{unspool} remove; then
    C{occupants} (set by nick: an occupant already present keeps its place
    in the roster's order, a new one goes last), C{joined}, C{history}
    (only the last C{room.historySize} entries are kept) and C{spool}
    (appended) add.

    @ivar gone: nicks that left the roster (their local members are
        removed only through C{left}).
    @ivar unspool: L{SpooledMessage.key}s the primary acknowledged.
    """

    room: ReplicaRoom
    newRoster: bool = False
    newHistory: bool = False
    gone: tuple[str, ...] = ()
    left: tuple[LocalMember, ...] = ()
    unspool: tuple[tuple[str, str], ...] = ()
    occupants: tuple[ReplicaOccupant, ...] = ()
    joined: tuple[LocalMember, ...] = ()
    history: tuple[HistoryEntry, ...] = ()
    spool: tuple[SpooledMessage, ...] = ()


@dataclass(frozen=True)
class ReplicaState:
    """
    Everything a replica keeps of one mirrored room.

    @ivar occupants: in roster order.
    @ivar members: in the order they joined.
    @ivar history: oldest first.
    @ivar spool: in the order spooled.
    """

    room: ReplicaRoom
    occupants: tuple[ReplicaOccupant, ...] = ()
    members: tuple[LocalMember, ...] = ()
    history: tuple[HistoryEntry, ...] = ()
    spool: tuple[SpooledMessage, ...] = ()


class IPrimaryDMUCStore(Interface):
    """
    The primary's side of distributed rooms, per room of the MUC service
    C{host}. A room's DMUC state starts with L{startEpoch}; L{deleteRoom
    <xmuc.storage.interfaces.IStore.deleteRoom>} forgets it too.
    """

    def loadPrimaryRooms(host):
        """
        @return: L{Deferred} firing with a L{list} of L{PrimaryRoom}, by
            room, their attachments by replica.
        """

    def startEpoch(host, room, epoch):
        """
        Give the room a new epoch: its attachments and log are dropped
        (the numbering starts again).
        """

    def dropPrimaryRoom(host, room):
        """
        Forget the room's epoch, attachments and log (no error when absent).
        """

    def attachReplica(host, room, attachment):
        """
        Record an attach as given (a new one has C{seq} and C{acked} 0); a
        replica attached already is replaced and its log dropped.

        @type attachment: L{ReplicaAttachment}
        @raise ItemNotFound: (as a failure) when the room has no epoch.
        """

    def detachReplica(host, room, replica):
        """
        Forget an attachment and its log (no error when absent).
        """

    def appendBroadcasts(host, room, broadcasts, keep):
        """
        Log the stanzas of one room broadcast (any number per replica),
        make each one's C{seq} its replica's last, and keep only the last
        C{keep} entries of each replica's log (all of them when C{keep}
        is 0). All or nothing.

        @type broadcasts: sequence of L{LoggedBroadcast}
        @raise ItemNotFound: (as a failure) for a replica not attached.
        @raise OutOfSequence: (as a failure) when an entry is not the next
            C{seq} of its replica.
        """

    def replayBroadcasts(host, room, replica, after):
        """
        @return: L{Deferred} firing with the L{Replay} after the C{seq}
            C{after}, or L{None} when the replica is not attached.
        """

    def acknowledgeBroadcasts(host, room, replica, seq):
        """
        The replica holds everything up to C{seq}: record it (C{acked}
        never goes down) and drop those entries from the log.

        @raise ItemNotFound: (as a failure) for a replica not attached.
        @raise OutOfSequence: (as a failure) when C{seq} is past its last.
        """


class IReplicaDMUCStore(Interface):
    """
    The replica's side of distributed rooms, per replica JID C{replica}
    and room JID.
    """

    def loadReplicaRooms(replica):
        """
        @return: L{Deferred} firing with a L{list} of L{ReplicaState}, by
            room JID.
        """

    def updateReplicaRoom(replica, change):
        """
        Apply a L{ReplicaChange} at once.
        """

    def listSpooled(replica, room):
        """
        @return: L{Deferred} firing with the room's L{SpooledMessage}s in
            the order spooled (empty for an unknown room).
        """

    def detachReplicaRoom(replica, room):
        """
        Forget everything of the room, spool included (no error when
        absent).
        """


__all__ = [
    "HistoryEntry",
    "IPrimaryDMUCStore",
    "IReplicaDMUCStore",
    "LocalMember",
    "LoggedBroadcast",
    "OutOfSequence",
    "PrimaryRoom",
    "Replay",
    "ReplicaAttachment",
    "ReplicaChange",
    "ReplicaOccupant",
    "ReplicaRoom",
    "ReplicaState",
    "SpooledMessage",
]
