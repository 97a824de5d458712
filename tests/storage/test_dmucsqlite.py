# -*- test-case-name: tests.storage.test_dmucsqlite -*-
"""
Tests for what only the SQLite store does with distributed rooms: keeping
them across restarts, upgrading a database made before schema 003, and
agreeing with the memory store on any sequence of broadcast log and
replica operations (spool included).

The behaviour both stores share is tested in L{tests.storage.test_dmuc}.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from hypothesis import given, settings, strategies as st
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase, TestCase

from xmuc.storage import (
    ArchivedMessage,
    HistoryEntry,
    LocalMember,
    LoggedBroadcast,
    MemoryStore,
    PrimaryRoom,
    Replay,
    ReplicaAttachment,
    ReplicaChange,
    ReplicaOccupant,
    ReplicaRoom,
    ReplicaState,
    SpooledMessage,
    SQLiteStore,
    StoredRoom,
)
from xmuc.storage import sqldmuc, sqlrooms
from xmuc.storage.migrations import SCHEMA_DIRECTORY, configureConnection, upgradeSchema
from xmuc.storage.writer import runBatch

HOST = "muc.a.example"
R1, R2, R3 = "dmuc@b.example", "dmuc@c.example", "dmuc@d.example"
ROOM = ReplicaRoom("room@muc.a.example", "muc.a.example", "e1", 4, "non", 30, 2, ("x@b",),
                   "moderator participant")
OCCUPANT = ReplicaOccupant("Nick", "moderator", "owner", "u@b.example/r", "<presence/>")
MEMBER = LocalMember("Nick", "u@b.example/r")
SPOOLED = SpooledMessage("o1", "u@b.example/r", "Nick", "<message/>", 7.25)


class RestartTests(TestCase):
    """
    The SQLite store on a real file.
    """

    async def test_survivesRestart(self) -> None:
        """
        The primary's epochs, attachments and log, and the replica's rooms
        with roster, list, history and spool, are there for a new store on
        the same file after the first one stopped.
        """
        path = self.mktemp()
        first = SQLiteStore(path)
        await first.start()
        await first.startEpoch(HOST, "room", "e1")
        await first.attachReplica(HOST, "room", ReplicaAttachment(R1, 1.5))
        broadcast = LoggedBroadcast(R1, 1, "<message/>")
        await first.appendBroadcasts(HOST, "room", [broadcast], 10)
        change = ReplicaChange(ROOM, occupants=(OCCUPANT,), joined=(MEMBER,),
                               history=(HistoryEntry(3.5, "<message/>"),), spool=(SPOOLED,))
        await first.updateReplicaRoom(R1, change)
        await first.stop()

        second = SQLiteStore(path)
        await second.start()
        self.addCleanup(second.stop)
        self.assertEqual(await second.loadPrimaryRooms(HOST), [
            PrimaryRoom("room", "e1", (ReplicaAttachment(R1, 1.5, 1, 0),))])
        self.assertEqual(await second.replayBroadcasts(HOST, "room", R1, 0),
                         Replay((broadcast,), True, 1))
        self.assertEqual(await second.loadReplicaRooms(R1), [ReplicaState(
            ROOM, (OCCUPANT,), (MEMBER,), (HistoryEntry(3.5, "<message/>"),), (SPOOLED,))])


class UpgradeTests(TestCase):
    """
    Schemas 003 and 004 upgrade a database that an earlier xmuc made.
    """

    async def test_from002(self) -> None:
        """
        A database at schema 002 with rooms and an archive upgrades to the
        shipped schema, keeps its data, and then keeps DMUC state.
        """
        old = Path(self.mktemp())
        old.mkdir(parents=True)
        for name in ("001_initial.sql", "002_muc.sql"):
            (old / name).write_text((SCHEMA_DIRECTORY / name).read_text(encoding="utf-8"),
                                    encoding="utf-8")
        path = self.mktemp()
        message = ArchivedMessage("id1", 1.0, "Nick", "u@b.example", "<message/>")
        with closing(sqlite3.connect(path)) as connection:
            configureConnection(connection)
            self.assertEqual(upgradeSchema(connection, old), 2)
            cursor = connection.cursor()
            sqlrooms.saveRoom(cursor, HOST, StoredRoom("room", "{}"))
            sqlrooms.archiveMessage(cursor, HOST, "room", message, 0)
            connection.commit()

        store = SQLiteStore(path)
        await store.start()
        self.addCleanup(store.stop)
        self.assertEqual(await store.loadRooms(HOST), [StoredRoom("room", "{}")])
        self.assertEqual(await store.lastMessages(HOST, "room", 5), [message])
        await store.startEpoch(HOST, "room", "e1")
        await store.updateReplicaRoom(R1, ReplicaChange(ROOM, spool=(SPOOLED,)))
        self.assertEqual(await store.loadPrimaryRooms(HOST), [PrimaryRoom("room", "e1")])
        self.assertEqual(await store.listSpooled(R1, ROOM.room), [SPOOLED])
        await store.deleteRoom(HOST, "room")
        self.assertEqual(await store.loadPrimaryRooms(HOST), [])

    async def test_from003(self) -> None:
        """
        A database at schema 003 with a mirrored room upgrades: the room
        broadcasts every role's presence (all a replica knew of before),
        and a new setting is kept from then on.
        """
        old = Path(self.mktemp())
        old.mkdir(parents=True)
        for name in ("001_initial.sql", "002_muc.sql", "003_dmuc.sql"):
            (old / name).write_text((SCHEMA_DIRECTORY / name).read_text(encoding="utf-8"),
                                    encoding="utf-8")
        path = self.mktemp()
        with closing(sqlite3.connect(path)) as connection:
            configureConnection(connection)
            self.assertEqual(upgradeSchema(connection, old), 3)
            connection.execute(
                "INSERT INTO dmuc_replica_rooms (replica, room, primary_jid, epoch, seq,"
                " anonymity, keepalive, history_size, outcasts)"
                " VALUES (?, ?, ?, 'e1', 4, 'non', 30, 2, '[\"x@b\"]')",
                (R1, ROOM.room, ROOM.primary))
            connection.commit()

        store = SQLiteStore(path)
        await store.start()
        self.addCleanup(store.stop)
        before = replace(ROOM, broadcast="moderator participant visitor")
        self.assertEqual(await store.loadReplicaRooms(R1), [ReplicaState(before)])
        await store.updateReplicaRoom(R1, ReplicaChange(ROOM))
        self.assertEqual(await store.loadReplicaRooms(R1), [ReplicaState(ROOM)])


def _memoryOutcome(d: Deferred[Any]) -> tuple[str, Any]:
    results: list[Any] = []
    d.addBoth(results.append)
    [result] = results
    if isinstance(result, Failure):
        return ("failed", result.type)
    return ("ok", result)


class _Pair:
    """
    A memory store and the SQLite store's transaction functions on an
    in-memory database, each operation run in its own savepoint as the
    store's writer runs it.
    """

    def __init__(self, connection: sqlite3.Connection) -> None:
        # Foreign keys on, as on the store's own connections: the cascades
        # depend on them.
        configureConnection(connection)
        upgradeSchema(connection)
        connection.isolation_level = None
        self.connection = connection
        self.memory = MemoryStore()

    def both(self, name: str, *args: Any) -> tuple[tuple[str, Any], tuple[str, Any]]:
        interaction: Callable[..., Any] = getattr(sqldmuc, name)
        [(ok, value)] = runBatch(self.connection, [(interaction, args, True)])
        sql = ("ok", value) if ok else ("failed", value.type)
        return _memoryOutcome(getattr(self.memory, name)(*args)), sql


# R3 is not attached at first (the prelude of the test attaches R1, R2).
_replicas = st.sampled_from([R1, R1, R2, R2, R3])
_append = st.tuples(
    st.just("appendBroadcasts"),
    st.lists(st.tuples(_replicas, st.sampled_from([0] * 14 + [1, -1])), min_size=1,
             max_size=3),
    st.integers(0, 4))
_acknowledge = st.tuples(st.just("acknowledgeBroadcasts"), _replicas, st.integers(-1, 3))
# Broadcasts and acknowledgements are the most frequent (one_of picks each
# branch alike); what drops the whole log is the rarest.
_primaryOperations = st.lists(st.one_of(
    _append, _append, _append, _append, _acknowledge, _acknowledge,
    st.tuples(st.just("attachReplica"), _replicas, st.integers(0, 3)),
    st.tuples(st.just("detachReplica"), _replicas),
    st.sampled_from([("startEpoch", "e2"), ("dropPrimaryRoom",)]),
), min_size=4, max_size=30)


class PrimaryModelTests(SynchronousTestCase):
    """
    The SQLite queries and the memory store agree on the primary's side.
    """

    @settings(max_examples=80, derandomize=True, deadline=None, database=None)
    @given(_primaryOperations)
    def test_sameLog(self, operations: list[tuple[Any, ...]]) -> None:
        """
        Any sequence of epochs, attaches, detaches, broadcasts (some out of
        sequence, some for replicas not attached), trims and
        acknowledgements answers the same (results and failures) in both
        stores, and leaves them with the same rooms and the same replays
        from every C{seq}.
        """
        prelude = [("startEpoch", "e1"), ("attachReplica", R1, 0), ("attachReplica", R2, 0)]
        with closing(sqlite3.connect(":memory:")) as connection:
            pair = _Pair(connection)
            for operation in prelude + operations:
                name, args = operation[0], self.arguments(pair, operation)
                memory, sql = pair.both(name, HOST, "room", *args)
                self.assertEqual(memory, sql, operation)
                self.assertSame(pair)

    def seqs(self, pair: _Pair) -> dict[str, int]:
        rooms = _memoryOutcome(pair.memory.loadPrimaryRooms(HOST))[1]
        return {a.replica: a.seq for room in rooms for a in room.attachments}

    def arguments(self, pair: _Pair, operation: tuple[Any, ...]) -> tuple[Any, ...]:
        name, *args = operation
        seqs = self.seqs(pair)
        if name == "attachReplica":
            return (ReplicaAttachment(args[0], 1.0, args[1], 0),)
        if name == "appendBroadcasts":
            broadcasts = []
            for replica, skip in args[0]:
                seqs[replica] = seqs.get(replica, 0) + 1
                broadcasts.append(LoggedBroadcast(replica, seqs[replica] + skip,
                                                  f"<m n='{seqs[replica]}'/>"))
            return (broadcasts, args[1])
        if name == "acknowledgeBroadcasts":
            return (args[0], seqs.get(args[0], 0) - args[1])
        return tuple(args)

    def assertSame(self, pair: _Pair) -> None:
        memory, sql = pair.both("loadPrimaryRooms", HOST)
        self.assertEqual(memory, sql)
        for replica in (R1, R2, R3):
            for after in range(-1, 10):
                memory, sql = pair.both("replayBroadcasts", HOST, "room", replica, after)
                self.assertEqual(memory, sql)


_text = st.text(st.sampled_from("ab<é✨"), max_size=3)
_nicks = st.sampled_from(["a", "b", "c"])
_jids = st.sampled_from(["u@b/1", "u@b/2", "v@b/1"])
_rooms = st.builds(
    ReplicaRoom, room=st.sampled_from(["r@muc.a", "s@muc.a"]), primary=st.just("muc.a"),
    epoch=st.sampled_from(["e1", "e2"]), seq=st.integers(0, 9),
    anonymity=st.sampled_from(["non", "semi"]), keepalive=st.integers(1, 90),
    historySize=st.integers(0, 3), outcasts=st.lists(_text, max_size=2).map(tuple))
_members = st.builds(LocalMember, _nicks, _jids)
_spooled = st.builds(SpooledMessage, st.sampled_from(["o1", "o2"]), _jids, _nicks, _text,
                     st.integers(0, 99).map(float))
_unspool = st.lists(st.tuples(_jids, st.sampled_from(["o1", "o2"])), max_size=2).map(tuple)
_changes = st.builds(
    ReplicaChange, room=_rooms, newRoster=st.booleans(), newHistory=st.booleans(),
    gone=st.lists(_nicks, max_size=2).map(tuple),
    left=st.lists(_members, max_size=2).map(tuple),
    unspool=_unspool,
    occupants=st.lists(st.builds(ReplicaOccupant, _nicks, st.sampled_from(["visitor",
                       "moderator"]), st.sampled_from(["none", "owner"]), st.none() | _jids,
                       _text), max_size=3).map(tuple),
    joined=st.lists(_members, max_size=3).map(tuple),
    history=st.lists(st.builds(HistoryEntry, st.integers(0, 99).map(float), _text),
                     max_size=3).map(tuple),
    spool=st.lists(_spooled, max_size=3).map(tuple))
# The spool only (a split in local mode), as often as any other change.
_spooling = st.builds(ReplicaChange, room=_rooms, unspool=_unspool,
                      spool=st.lists(_spooled, min_size=1, max_size=2).map(tuple))
_replicaOperations = st.lists(
    st.one_of(_changes.map(lambda c: ("updateReplicaRoom", c)),
              _spooling.map(lambda c: ("updateReplicaRoom", c)),
              st.tuples(st.just("detachReplicaRoom"), st.sampled_from(["r@muc.a", "s@muc.a"]))),
    min_size=4, max_size=20)


class ReplicaModelTests(SynchronousTestCase):
    """
    The SQLite queries and the memory store agree on the replica's side.
    """

    @settings(max_examples=100, derandomize=True, deadline=None, database=None)
    @given(_replicaOperations)
    def test_sameRooms(self, operations: list[tuple[str, Any]]) -> None:
        """
        Any sequence of changes (rosters, lists, histories, spooling and
        unspooling) and detaches leaves both stores with the same rooms in
        the same order and the same spools.
        """
        with closing(sqlite3.connect(":memory:")) as connection:
            pair = _Pair(connection)
            for name, argument in operations:
                memory, sql = pair.both(name, R1, argument)
                self.assertEqual(memory, sql)
                memory, sql = pair.both("loadReplicaRooms", R1)
                self.assertEqual(memory, sql)
                for room in ("r@muc.a", "s@muc.a"):
                    memory, sql = pair.both("listSpooled", R1, room)
                    self.assertEqual(memory, sql)
