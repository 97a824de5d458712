# -*- test-case-name: tests.storage.test_dmuc -*-
"""
The distributed rooms part of L{xmuc.storage.memory.MemoryStore}: the
primary's epochs, attachments and broadcast logs, and the replica's
mirrored rooms, in dictionaries.

Each write checks everything before it changes anything, so that a write
that fails leaves the store as it was, like the SQLite store's savepoints.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Sequence

from twisted.internet import defer
from twisted.internet.defer import Deferred

from xmuc.core.errors import ItemNotFound
from xmuc.storage.dmucinterfaces import (
    HistoryEntry,
    LocalMember,
    LoggedBroadcast,
    OutOfSequence,
    PrimaryRoom,
    Replay,
    ReplicaAttachment,
    ReplicaChange,
    ReplicaOccupant,
    ReplicaRoom,
    ReplicaState,
    SpooledMessage,
)


@dataclass
class _Primary:
    """
    The DMUC state of one room of the primary.
    """

    epoch: str
    attachments: dict[str, ReplicaAttachment] = field(default_factory=dict)
    logs: dict[str, list[LoggedBroadcast]] = field(default_factory=dict)


@dataclass
class _Mirror:
    """
    Everything the replica keeps of one room.
    """

    room: ReplicaRoom
    occupants: dict[str, ReplicaOccupant] = field(default_factory=dict)
    members: dict[LocalMember, None] = field(default_factory=dict)
    history: list[HistoryEntry] = field(default_factory=list)
    spool: list[SpooledMessage] = field(default_factory=list)


def _nextSeqs(primary: _Primary | None,
              broadcasts: Sequence[LoggedBroadcast]) -> dict[str, int]:
    """
    The last C{seq} of each replica once C{broadcasts} are logged.

    @raise ItemNotFound: for a replica not attached.
    @raise OutOfSequence: for an entry that is not its replica's next.
    """
    seqs: dict[str, int] = {}
    attachments = {} if primary is None else primary.attachments
    for broadcast in broadcasts:
        attachment = attachments.get(broadcast.replica)
        if attachment is None:
            raise ItemNotFound(f"{broadcast.replica} is not attached")
        last = seqs.get(broadcast.replica, attachment.seq)
        if broadcast.seq != last + 1:
            raise OutOfSequence(f"seq {broadcast.seq} for {broadcast.replica} after {last}")
        seqs[broadcast.replica] = broadcast.seq
    return seqs


def replayOf(log: list[LoggedBroadcast], seq: int, after: int) -> Replay:
    """
    The L{Replay} after C{after} of a log whose last C{seq} is C{seq}.
    """
    if after == seq:
        return Replay((), True, seq)
    broadcasts = tuple(b for b in log if b.seq > after) if after < seq else ()
    complete = bool(broadcasts) and broadcasts[0].seq == after + 1
    return Replay(broadcasts, complete, seq)


class MemoryDMUC:
    """
    Distributed rooms for the memory store.
    """

    def __init__(self) -> None:
        self._primaries: dict[tuple[str, str], _Primary] = {}
        self._mirrors: dict[tuple[str, str], _Mirror] = {}

    # The primary side

    def _attached(self, host: str, room: str, replica: str) -> tuple[_Primary, ReplicaAttachment]:
        primary = self._primaries.get((host, room))
        attachment = None if primary is None else primary.attachments.get(replica)
        if primary is None or attachment is None:
            raise ItemNotFound(f"{replica} is not attached to {room}")
        return primary, attachment

    def loadPrimaryRooms(self, host: str) -> Deferred[list[PrimaryRoom]]:
        rooms = [
            PrimaryRoom(room, primary.epoch,
                        tuple(a for _, a in sorted(primary.attachments.items())))
            for (h, room), primary in sorted(self._primaries.items()) if h == host
        ]
        return defer.succeed(rooms)

    def startEpoch(self, host: str, room: str, epoch: str) -> Deferred[None]:
        self._primaries[(host, room)] = _Primary(epoch)
        return defer.succeed(None)

    def dropPrimaryRoom(self, host: str, room: str) -> Deferred[None]:
        self._primaries.pop((host, room), None)
        return defer.succeed(None)

    def attachReplica(self, host: str, room: str,
                      attachment: ReplicaAttachment) -> Deferred[None]:
        primary = self._primaries.get((host, room))
        if primary is None:
            return defer.fail(ItemNotFound(f"room {room} has no epoch"))
        primary.attachments[attachment.replica] = attachment
        primary.logs[attachment.replica] = []
        return defer.succeed(None)

    def detachReplica(self, host: str, room: str, replica: str) -> Deferred[None]:
        primary = self._primaries.get((host, room))
        if primary is not None:
            primary.attachments.pop(replica, None)
            primary.logs.pop(replica, None)
        return defer.succeed(None)

    def appendBroadcasts(self, host: str, room: str, broadcasts: Sequence[LoggedBroadcast],
                         keep: int) -> Deferred[None]:
        primary = self._primaries.get((host, room))
        try:
            seqs = _nextSeqs(primary, broadcasts)
        except (ItemNotFound, OutOfSequence) as e:
            return defer.fail(e)
        if primary is None:
            return defer.succeed(None)
        for broadcast in broadcasts:
            primary.logs[broadcast.replica].append(broadcast)
        for replica, seq in seqs.items():
            primary.attachments[replica] = replace(primary.attachments[replica], seq=seq)
            log = primary.logs[replica]
            if keep and len(log) > keep:
                del log[: len(log) - keep]
        return defer.succeed(None)

    def replayBroadcasts(self, host: str, room: str, replica: str,
                         after: int) -> Deferred[Replay | None]:
        try:
            primary, attachment = self._attached(host, room, replica)
        except ItemNotFound:
            return defer.succeed(None)
        return defer.succeed(replayOf(primary.logs[replica], attachment.seq, after))

    def acknowledgeBroadcasts(self, host: str, room: str, replica: str,
                              seq: int) -> Deferred[None]:
        try:
            primary, attachment = self._attached(host, room, replica)
            if seq > attachment.seq:
                raise OutOfSequence(f"{replica} acknowledged {seq} past {attachment.seq}")
        except (ItemNotFound, OutOfSequence) as e:
            return defer.fail(e)
        if seq > attachment.acked:
            primary.attachments[replica] = replace(attachment, acked=seq)
            primary.logs[replica] = [b for b in primary.logs[replica] if b.seq > seq]
        return defer.succeed(None)

    # The replica side

    def loadReplicaRooms(self, replica: str) -> Deferred[list[ReplicaState]]:
        states = [
            ReplicaState(mirror.room, tuple(mirror.occupants.values()),
                         tuple(mirror.members), tuple(mirror.history), tuple(mirror.spool))
            for (r, _), mirror in sorted(self._mirrors.items()) if r == replica
        ]
        return defer.succeed(states)

    def updateReplicaRoom(self, replica: str, change: ReplicaChange) -> Deferred[None]:
        room = _tupled(change.room)
        mirror = self._mirrors.get((replica, room.room))
        if mirror is None:
            mirror = self._mirrors[(replica, room.room)] = _Mirror(room)
        _apply(mirror, replace(change, room=room))
        return defer.succeed(None)

    def listSpooled(self, replica: str, room: str) -> Deferred[list[SpooledMessage]]:
        mirror = self._mirrors.get((replica, room))
        return defer.succeed([] if mirror is None else list(mirror.spool))

    def detachReplicaRoom(self, replica: str, room: str) -> Deferred[None]:
        self._mirrors.pop((replica, room), None)
        return defer.succeed(None)


def _tupled(room: ReplicaRoom) -> ReplicaRoom:
    # The outcasts of a frozen record could still be a caller's list.
    if isinstance(room.outcasts, tuple):
        return room
    return replace(room, outcasts=tuple(room.outcasts))


def _apply(mirror: _Mirror, change: ReplicaChange) -> None:
    """
    Apply C{change} to C{mirror} in the order L{ReplicaChange} gives.
    """
    mirror.room = change.room
    if change.newRoster:
        mirror.occupants.clear()
    if change.newHistory:
        mirror.history.clear()
    for nick in change.gone:
        mirror.occupants.pop(nick, None)
    for member in change.left:
        mirror.members.pop(member, None)
    if change.unspool:
        gone = set(change.unspool)
        mirror.spool = [m for m in mirror.spool if m.key not in gone]
    for occupant in change.occupants:
        mirror.occupants[occupant.nick] = occupant
    for member in change.joined:
        mirror.members.setdefault(member, None)
    mirror.history.extend(change.history)
    _trim(mirror.history, change.room.historySize)
    mirror.spool.extend(change.spool)


def _trim(entries: list[HistoryEntry], keep: int) -> None:
    if len(entries) > keep:
        del entries[: len(entries) - keep]
