# -*- test-case-name: tests.storage -*-
"""
A store in one SQLite file.

All queries run on one thread and one connection, never on the reactor
thread, through a L{BatchingWriter}: operations keep their submission
order and run several per transaction, each in its own savepoint, and each
caller's Deferred fires after the COMMIT that holds its operation. The
database is in WAL mode with a busy timeout because the admin command line
tool writes the same file while the node runs; C{synchronous} is
C{NORMAL} by default (L{configureConnection}).

L{xmuc.storage.migrations} creates and upgrades the schema when the store
starts.

Each store operation is a module-level function taking a DB-API cursor and
run inside its own savepoint, so that it is atomic; being
plain functions, they also run on a bare C{sqlite3} cursor. As in the memory
store, writes naming an unknown user fail with L{UnknownUser} and reads
answer with the empty value.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Callable, Iterable, TypeVar

from twisted.internet.defer import Deferred
from zope.interface import implementer

from xmuc.storage.interfaces import (
    IStore,
    LastActivity,
    OfflineMessage,
    Roster,
    RosterItem,
    ScramCredentials,
    UnknownUser,
    UserExists,
)
from xmuc.storage.migrations import configureConnection, upgradeSchema
from xmuc.storage.sqldmuc import SQLiteDMUC
from xmuc.storage.sqlrooms import SQLiteRooms
from xmuc.storage.writer import BatchingWriter

_T = TypeVar("_T")


# Interactions: each runs in one transaction on a DB-API cursor.


def _requireUser(txn: Any, username: str) -> None:
    txn.execute("SELECT 1 FROM users WHERE username = ?", (username,))
    if txn.fetchone() is None:
        raise UnknownUser(username)


def _insertCredentials(
    txn: Any, username: str, credentials: list[ScramCredentials]
) -> None:
    txn.executemany(
        "INSERT OR REPLACE INTO credentials (username, mechanism, salt,"
        " stored_key, server_key, iterations) VALUES (?, ?, ?, ?, ?, ?)",
        [
            (username, c.mechanism, c.salt, c.storedKey, c.serverKey, c.iterations)
            for c in credentials
        ],
    )


def createUser(txn: Any, username: str, credentials: list[ScramCredentials]) -> None:
    try:
        txn.execute("INSERT INTO users (username) VALUES (?)", (username,))
    except sqlite3.IntegrityError:
        raise UserExists(username) from None
    _insertCredentials(txn, username, credentials)


def setCredentials(
    txn: Any, username: str, credentials: list[ScramCredentials]
) -> None:
    _requireUser(txn, username)
    txn.execute("DELETE FROM credentials WHERE username = ?", (username,))
    _insertCredentials(txn, username, credentials)


def getCredentials(txn: Any, username: str) -> dict[str, ScramCredentials] | None:
    txn.execute("SELECT 1 FROM users WHERE username = ?", (username,))
    if txn.fetchone() is None:
        return None
    txn.execute(
        "SELECT mechanism, salt, stored_key, server_key, iterations"
        " FROM credentials WHERE username = ?",
        (username,),
    )
    return {
        mechanism: ScramCredentials(
            mechanism, bytes(salt), bytes(storedKey), bytes(serverKey), iterations
        )
        for mechanism, salt, storedKey, serverKey, iterations in txn.fetchall()
    }


def deleteUser(txn: Any, username: str) -> None:
    # Every other table cascades from users.
    txn.execute("DELETE FROM users WHERE username = ?", (username,))
    if txn.rowcount == 0:
        raise UnknownUser(username)


def listUsers(txn: Any) -> list[str]:
    txn.execute("SELECT username FROM users")
    return sorted(username for (username,) in txn.fetchall())


def _rosterItem(row: tuple[Any, ...]) -> RosterItem:
    jid, name, subscription, ask, approved, groups, pendingIn, stanza, inRoster = row
    return RosterItem(
        jid=jid,
        name=name,
        subscription=subscription,
        ask=bool(ask),
        approved=bool(approved),
        groups=tuple(json.loads(groups)),
        pendingIn=bool(pendingIn),
        pendingInStanza=stanza,
        inRoster=bool(inRoster),
    )


def getRoster(txn: Any, username: str) -> Roster:
    txn.execute("SELECT roster_version FROM users WHERE username = ?", (username,))
    row = txn.fetchone()
    if row is None:
        return Roster("0")
    txn.execute(
        "SELECT jid, name, subscription, ask, approved, groups, pending_in,"
        " pending_in_stanza, in_roster FROM roster_items WHERE username = ?",
        (username,),
    )
    items = [_rosterItem(r) for r in txn.fetchall()]
    return Roster(str(row[0]), {item.jid: item for item in items})


def _bumpRosterVersion(txn: Any, username: str) -> str:
    txn.execute(
        "UPDATE users SET roster_version = roster_version + 1 WHERE username = ?",
        (username,),
    )
    if txn.rowcount == 0:
        raise UnknownUser(username)
    txn.execute("SELECT roster_version FROM users WHERE username = ?", (username,))
    return str(txn.fetchone()[0])


def setRosterItem(txn: Any, username: str, item: RosterItem) -> str:
    version = _bumpRosterVersion(txn, username)
    txn.execute(
        "INSERT OR REPLACE INTO roster_items (username, jid, name, subscription,"
        " ask, approved, groups, pending_in, pending_in_stanza, in_roster)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            username,
            item.jid,
            item.name,
            item.subscription,
            item.ask,
            item.approved,
            json.dumps(list(item.groups), ensure_ascii=False),
            item.pendingIn,
            item.pendingInStanza,
            item.inRoster,
        ),
    )
    return version


def removeRosterItem(txn: Any, username: str, jid: str) -> str:
    version = _bumpRosterVersion(txn, username)
    txn.execute(
        "DELETE FROM roster_items WHERE username = ? AND jid = ?", (username, jid)
    )
    return version


def storeOffline(
    txn: Any, username: str, message: OfflineMessage, maxOfflineMessages: int
) -> bool:
    _requireUser(txn, username)
    txn.execute(
        "SELECT COUNT(*) FROM offline_messages WHERE username = ?", (username,)
    )
    if txn.fetchone()[0] >= maxOfflineMessages:
        return False
    txn.execute(
        "INSERT INTO offline_messages (username, stanza, stamp) VALUES (?, ?, ?)",
        (username, message.stanza, message.stamp),
    )
    return True


def popOffline(txn: Any, username: str) -> list[OfflineMessage]:
    txn.execute(
        "SELECT id, stanza, stamp FROM offline_messages WHERE username = ?"
        " ORDER BY id",
        (username,),
    )
    rows = txn.fetchall()
    if not rows:
        return []
    # Delete only what was read: another writer may have added one since.
    txn.execute(
        "DELETE FROM offline_messages WHERE username = ? AND id <= ?",
        (username, rows[-1][0]),
    )
    return [OfflineMessage(stanza, stamp) for _, stanza, stamp in rows]


def getVCard(txn: Any, username: str) -> str | None:
    txn.execute("SELECT xml FROM vcards WHERE username = ?", (username,))
    row = txn.fetchone()
    return None if row is None else row[0]


def setVCard(txn: Any, username: str, xml: str) -> None:
    _requireUser(txn, username)
    txn.execute(
        "INSERT OR REPLACE INTO vcards (username, xml) VALUES (?, ?)", (username, xml)
    )


def getBlockList(txn: Any, username: str) -> set[str]:
    txn.execute("SELECT jid FROM block_list WHERE username = ?", (username,))
    return {jid for (jid,) in txn.fetchall()}


def addBlocks(txn: Any, username: str, jids: list[str]) -> None:
    _requireUser(txn, username)
    txn.executemany(
        "INSERT OR IGNORE INTO block_list (username, jid) VALUES (?, ?)",
        [(username, jid) for jid in jids],
    )


def removeBlocks(txn: Any, username: str, jids: list[str]) -> None:
    _requireUser(txn, username)
    if not jids:
        txn.execute("DELETE FROM block_list WHERE username = ?", (username,))
        return
    txn.executemany(
        "DELETE FROM block_list WHERE username = ? AND jid = ?",
        [(username, jid) for jid in jids],
    )


def setLastActivity(txn: Any, username: str, activity: LastActivity) -> None:
    _requireUser(txn, username)
    txn.execute(
        "INSERT OR REPLACE INTO last_activity (username, stamp, status)"
        " VALUES (?, ?, ?)",
        (username, activity.stamp, activity.status),
    )


def getLastActivity(txn: Any, username: str) -> LastActivity | None:
    txn.execute(
        "SELECT stamp, status FROM last_activity WHERE username = ?", (username,)
    )
    row = txn.fetchone()
    return None if row is None else LastActivity(row[0], row[1])


@implementer(IStore)
class SQLiteStore(SQLiteRooms, SQLiteDMUC):
    """
    An L{IStore} in the SQLite file at C{path}.

    @param reactor: the reactor (L{IReactorCore} and L{IReactorFromThreads})
        that gets results back from the store's thread; L{None} for the
        global one.
    @param synchronous: SQLite's C{synchronous} setting, C{normal} or
        C{full} (L{configureConnection}).
    @param batchSize: operations per transaction at most.
    @param highWater: queued operations past which the store is L{busy}.
    @param lowWater: queued operations at which it is no longer busy.
    @ivar writer: the store's thread and queue.
    """

    def __init__(
        self,
        path: str,
        reactor: Any = None,
        maxOfflineMessages: int = 1000,
        synchronous: str = "normal",
        batchSize: int = 200,
        highWater: int = 2000,
        lowWater: int = 500,
    ) -> None:
        if reactor is None:
            from twisted.internet import reactor
        self.path = path
        self.maxOfflineMessages = maxOfflineMessages
        self.synchronous = synchronous
        # One connection: SQLite serialises writers anyway, and a single
        # thread keeps this node's own operations in submission order.
        self.writer = BatchingWriter(reactor, self._connect, batchSize, highWater, lowWater)

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, check_same_thread=False)
        configureConnection(connection, self.synchronous)
        return connection

    def _run(self, interaction: Callable[..., _T], *args: Any) -> Deferred[_T]:
        return self.writer.submit(interaction, args, False)

    def _write(self, interaction: Callable[..., _T], *args: Any) -> Deferred[_T]:
        return self.writer.submit(interaction, args, True)

    @property
    def busy(self) -> bool:
        """
        Whether the store's queue is past its high-water mark (and not yet
        back at its low-water mark).
        """
        return self.writer.busy

    def whenDrained(self) -> Deferred[None]:
        return self.writer.whenDrained()

    def start(self) -> Deferred[None]:
        d = self.writer.start(upgradeSchema)
        d.addCallback(lambda version: None)
        return d

    def stop(self) -> Deferred[None]:
        return self.writer.stop()

    def createUser(
        self, username: str, credentials: Iterable[ScramCredentials]
    ) -> Deferred[None]:
        return self._write(createUser, username, list(credentials))

    def setCredentials(
        self, username: str, credentials: Iterable[ScramCredentials]
    ) -> Deferred[None]:
        return self._write(setCredentials, username, list(credentials))

    def getCredentials(
        self, username: str
    ) -> Deferred[dict[str, ScramCredentials] | None]:
        return self._run(getCredentials, username)

    def deleteUser(self, username: str) -> Deferred[None]:
        return self._write(deleteUser, username)

    def listUsers(self) -> Deferred[list[str]]:
        return self._run(listUsers)

    def getRoster(self, username: str) -> Deferred[Roster]:
        return self._run(getRoster, username)

    def setRosterItem(self, username: str, item: RosterItem) -> Deferred[str]:
        return self._write(setRosterItem, username, item)

    def removeRosterItem(self, username: str, jid: str) -> Deferred[str]:
        return self._write(removeRosterItem, username, jid)

    def storeOffline(self, username: str, message: OfflineMessage) -> Deferred[bool]:
        return self._write(storeOffline, username, message, self.maxOfflineMessages)

    def popOffline(self, username: str) -> Deferred[list[OfflineMessage]]:
        return self._write(popOffline, username)

    def getVCard(self, username: str) -> Deferred[str | None]:
        return self._run(getVCard, username)

    def setVCard(self, username: str, xml: str) -> Deferred[None]:
        return self._write(setVCard, username, xml)

    def getBlockList(self, username: str) -> Deferred[set[str]]:
        return self._run(getBlockList, username)

    def addBlocks(self, username: str, jids: Iterable[str]) -> Deferred[None]:
        return self._write(addBlocks, username, list(jids))

    def removeBlocks(self, username: str, jids: Iterable[str]) -> Deferred[None]:
        return self._write(removeBlocks, username, list(jids))

    def setLastActivity(self, username: str, activity: LastActivity) -> Deferred[None]:
        return self._write(setLastActivity, username, activity)

    def getLastActivity(self, username: str) -> Deferred[LastActivity | None]:
        return self._run(getLastActivity, username)
