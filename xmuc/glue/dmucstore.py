# -*- test-case-name: tests.glue.test_dmucstore -*-
"""
What the distributed engines keep (design section 8), carried out on the
node's store (C{node.store}, a L{TrackedStore <xmuc.writes.TrackedStore>}:
writes reach the store in order, counted by the write barrier), and
brought back into the engines at start.

  - L{PrimaryStore}: the effects of L{xmuc.dmuc.persist} the primary
    adds to the MUC component's turns, run by the component in order
    with the room's own (L{MUCComponent.addRunner
    <xmuc.glue.muc.MUCComponent.addRunner>}); each attachment's log is
    kept to the last C{[dmuc] log_size} stanzas and trimmed up to what a
    resync acknowledges; what a resync's answer needs is read here
    (L{PrimaryStore.readForResync}). The epochs and attachments load
    after the service's rooms and before any stanza
    (L{MUCComponent.loaders <xmuc.glue.muc.MUCComponent>}).
  - L{ReplicaStore}: each step of a mirrored room is one
    L{ReplicaChange}; the mirrors load at C{node-started}.

Stanzas are serialised here, once per write.
"""

from __future__ import annotations

from typing import Any, Callable

from twisted.internet import defer
from twisted.logger import Logger, LogLevel
from twisted.words.xish import domish

from xmuc.core.stanza import parseStanza as parseStored
from xmuc.dmuc import persist
from xmuc.dmuc.resync import AcknowledgeBroadcasts, ReadForResync, ResyncRead
from xmuc.dmuc.wire import roleLabels, rolesOf
from xmuc.muc.model import HistoryEntry as Entry
from xmuc.muc.ns import NS_SID
from xmuc.storage.dmucinterfaces import (
    HistoryEntry,
    LocalMember,
    LoggedBroadcast,
    PrimaryRoom,
    ReplicaAttachment,
    ReplicaChange,
    ReplicaOccupant,
    ReplicaRoom,
    ReplicaState,
)
from xmuc.storage.interfaces import ArchivedMessage, ArchiveFilter

#: Archived messages of one spooling sender since the split began looked
#: at, at most, for the spooled messages' duplicates.
ARCHIVE_LOOKUP = 10000

log = Logger()


def _write(d: defer.Deferred) -> defer.Deferred:
    """
    A write whose failure is logged (the node tracks it: L{TrackedStore
    <xmuc.writes.TrackedStore>}); it fires when stored.
    """
    return d.addErrback(lambda f: log.failure("A DMUC storage write failed", f,
                                              level=LogLevel.error))


class PrimaryStore:
    """
    The primary's state in the store, for the MUC service C{host}.
    """

    def __init__(self, store: Any, host: str, logSize: int) -> None:
        self.store = store
        self.host = host
        self.logSize = logSize

    def runners(self) -> dict[type, Callable[[Any, Any], defer.Deferred]]:
        """
        The runner of each of the primary's persistence effects.
        """
        store, host = self.store, self.host
        return {
            persist.StartEpoch: lambda e, o: _write(store.startEpoch(host, e.room, e.epoch)),
            persist.DropEpoch: lambda e, o: _write(store.dropPrimaryRoom(host, e.room)),
            persist.AttachReplica: lambda e, o: _write(store.attachReplica(
                host, e.room, ReplicaAttachment(e.replica, e.since, e.seq, e.seq))),
            persist.DetachReplica: lambda e, o: _write(
                store.detachReplica(host, e.room, e.replica)),
            persist.LogBroadcasts: self._log,
            AcknowledgeBroadcasts: lambda e, o: _write(store.acknowledgeBroadcasts(
                host, e.room, e.replica, e.seq)),
        }

    def _log(self, effect: persist.LogBroadcasts, origin: Any) -> defer.Deferred:
        entries = [LoggedBroadcast(replica, seq, stanza.toXml())
                   for replica, seq, stanza in effect.entries]
        return _write(self.store.appendBroadcasts(self.host, effect.room, entries, self.logSize))

    @defer.inlineCallbacks
    def readForResync(self, effect: ReadForResync) -> Any:
        """
        What a resync needs from the store, read in store order (after the
        writes asked for before it): the replica's log after C{after}, and
        the origin-ids of the spooling senders' archived messages since
        the split began. A read that fails is logged and left out (no log:
        the answer is a snapshot; no archive: only the epoch's own
        record of taken messages finds duplicates).

        @return: a L{Deferred} firing with a L{ResyncRead}.
        """
        logged, complete = None, False
        if effect.after is not None:
            try:
                replay = yield self.store.replayBroadcasts(self.host, effect.room,
                                                           effect.replica, effect.after)
            except Exception:
                log.failure("Reading the broadcast log of {room} failed: a snapshot instead",
                            level=LogLevel.error, room=effect.room)
            else:
                if replay is not None:
                    logged = tuple((b.seq, parseStored(b.xml)) for b in replay.broadcasts)
                    complete = replay.complete
        archived: set[tuple[str, str]] = set()
        for sender in effect.senders:
            wanted = ArchiveFilter(start=effect.since, with_=sender, max=ARCHIVE_LOOKUP)
            try:
                page = yield self.store.queryArchive(self.host, effect.room, wanted)
            except Exception:
                log.failure("Reading the archive of {room} for duplicates failed",
                            level=LogLevel.error, room=effect.room)
                continue
            archived.update((sender, origin) for origin in map(_originOf, page.messages)
                            if origin)
        return ResyncRead(logged, complete, frozenset(archived))

    @defer.inlineCallbacks
    def load(self) -> Any:
        """
        @return: a L{Deferred} firing with the rooms' epochs and
            attachments, as L{persist.RestoredRoom}s.
        """
        rooms: list[PrimaryRoom] = yield self.store.loadPrimaryRooms(self.host)
        return [persist.RestoredRoom(r.room, r.epoch, tuple(
            persist.RestoredAttachment(a.replica, a.seq) for a in r.attachments))
            for r in rooms]


class ReplicaStore:
    """
    The replica's mirrors in the store, for the replica JID C{replica}.
    """

    def __init__(self, store: Any, replica: str) -> None:
        self.store = store
        self.replica = replica

    def save(self, effect: persist.SaveMirror) -> defer.Deferred:
        return _write(self.store.updateReplicaRoom(self.replica, changeOf(effect)))

    def drop(self, effect: persist.DropMirror) -> defer.Deferred:
        return _write(self.store.detachReplicaRoom(self.replica, effect.address))

    @defer.inlineCallbacks
    def load(self) -> Any:
        """
        @return: a L{Deferred} firing with the stored mirrors, as
            L{persist.RestoredMirror}s; one that does not read is left out
            (logged), its record kept.
        """
        out: list[persist.RestoredMirror] = []
        for state in (yield self.store.loadReplicaRooms(self.replica)):
            try:
                out.append(restoredOf(state))
            except Exception:
                log.failure("The mirror of {room} could not be read: left out",
                            level=LogLevel.error, room=state.room.room)
        return out


def _originOf(message: ArchivedMessage) -> str | None:
    try:
        stanza = parseStored(message.xml)
    except Exception:
        return None
    return next((c.getAttribute("id") for c in stanza.elements(NS_SID, "origin-id")), None)


def changeOf(effect: persist.SaveMirror) -> ReplicaChange:
    """
    The store's one change for one step of a mirror.
    """
    room = ReplicaRoom(effect.address, effect.primary, effect.epoch, effect.seq,
                       "non" if effect.nonAnonymous else "semi", effect.keepalive,
                       effect.historyLimit, effect.outcasts, roleLabels(effect.broadcast))
    occupants = () if effect.roster is None else tuple(
        ReplicaOccupant(o.nick, o.role, o.affiliation, o.jid, o.presence.toXml())
        for o in effect.roster)
    return ReplicaChange(
        room, newRoster=effect.roster is not None, newHistory=effect.newHistory,
        left=tuple(LocalMember(n, j) for n, j in effect.left), occupants=occupants,
        joined=tuple(LocalMember(n, j) for n, j in effect.joined),
        history=tuple(HistoryEntry(e.stamp, e.stanza.toXml()) for e in effect.history))


def _entry(stored: HistoryEntry) -> Entry:
    stanza: domish.Element = parseStored(stored.xml)
    sid = next((c.getAttribute("id", "") for c in stanza.elements(NS_SID, "stanza-id")), "")
    return Entry(stanza, stored.stamp, sid)


def restoredOf(state: ReplicaState) -> persist.RestoredMirror:
    room = state.room
    return persist.RestoredMirror(
        room.room, room.primary, room.epoch, room.seq, room.anonymity == "non",
        room.historySize, tuple(room.outcasts), room.keepalive,
        roster=tuple(parseStored(o.presence) for o in state.occupants),
        local=tuple((m.nick, m.jid) for m in state.members),
        history=tuple(_entry(h) for h in state.history), broadcast=rolesOf(room.broadcast))
