# -*- test-case-name: tests.storage.test_storage -*-
"""
Persistent state of a node, behind L{IStore}: a memory store for tests and
throwaway nodes, an SQLite store for real ones.
"""

from __future__ import annotations

from typing import Any

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
from xmuc.storage.interfaces import (
    ArchivedMessage,
    ArchiveFilter,
    ArchivePage,
    IStore,
    LastActivity,
    OfflineMessage,
    Roster,
    RosterItem,
    ScramCredentials,
    StoredRoom,
    UnknownUser,
    UserExists,
)
from xmuc.storage.memory import MemoryStore
from xmuc.storage.sqlite import SQLiteStore

__all__ = [
    "ArchivedMessage",
    "ArchiveFilter",
    "ArchivePage",
    "HistoryEntry",
    "IStore",
    "LastActivity",
    "LocalMember",
    "LoggedBroadcast",
    "OfflineMessage",
    "OutOfSequence",
    "PrimaryRoom",
    "Replay",
    "ReplicaAttachment",
    "ReplicaChange",
    "ReplicaOccupant",
    "ReplicaRoom",
    "ReplicaState",
    "Roster",
    "RosterItem",
    "ScramCredentials",
    "SpooledMessage",
    "StoredRoom",
    "UnknownUser",
    "UserExists",
    "MemoryStore",
    "SQLiteStore",
    "makeStore",
]


def makeStore(
    backend: str,
    path: str | None,
    reactor: Any = None,
    maxOfflineMessages: int = 1000,
    **sqlite: Any,
) -> IStore:
    """
    Build the store a configuration names; it still has to be started.

    @param backend: C{"memory"} or C{"sqlite"}.
    @param path: the database file, required for C{"sqlite"}.
    @param reactor: the reactor on which the SQLite store delivers results.
    @param sqlite: the SQLite store's other settings (C{synchronous},
        C{batchSize}, C{highWater}, C{lowWater}).
    @raise ValueError: for an unknown backend or a missing path.
    """
    if backend == "memory":
        return MemoryStore(maxOfflineMessages=maxOfflineMessages)
    if backend == "sqlite":
        if not path:
            raise ValueError("the sqlite storage backend needs a path")
        return SQLiteStore(path, reactor=reactor, maxOfflineMessages=maxOfflineMessages,
                           **sqlite)
    raise ValueError(f"unknown storage backend {backend!r}")
