# -*- test-case-name: tests.storage.test_sqlite -*-
"""
Tests for what only L{xmuc.storage.sqlite} does: keeping data across
restarts, sharing the file with another writer, numbered schema upgrades,
and agreeing with the memory store on any sequence of roster changes.

The behaviour both stores share is tested in L{tests.storage.test_storage}.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from hypothesis import given, settings, strategies as st
from twisted.trial.unittest import SynchronousTestCase, TestCase

from xmuc.storage import (
    LastActivity,
    MemoryStore,
    OfflineMessage,
    RosterItem,
    ScramCredentials,
    SQLiteStore,
)
from xmuc.storage import sqlite as sqlitestore
from xmuc.storage.migrations import (
    SCHEMA_DIRECTORY,
    SchemaTooNew,
    configureConnection,
    schemaFiles,
    schemaVersion,
    upgradeSchema,
)

SHA1 = ScramCredentials("SCRAM-SHA-1", b"salt", b"stored", b"server", 4096)
ITEM = RosterItem("romeo@montague.example", "Romeo", "both", groups=("Vérone",))


def connect(path: str) -> sqlite3.Connection:
    """
    Open C{path} the way the store opens its connections.
    """
    connection = sqlite3.connect(path)
    configureConnection(connection)
    return connection


class SQLiteFileTests(TestCase):
    """
    L{SQLiteStore} on a real file.
    """

    def setUp(self) -> None:
        self.path = self.mktemp()

    async def startStore(self) -> SQLiteStore:
        store = SQLiteStore(self.path)
        await store.start()
        self.addCleanup(store.stop)
        return store

    async def test_survivesRestart(self) -> None:
        """
        Everything written is there for a new store on the same file after
        the first one stopped.
        """
        first = SQLiteStore(self.path)
        await first.start()
        await first.createUser("alice", [SHA1])
        await first.setRosterItem("alice", ITEM)
        await first.storeOffline("alice", OfflineMessage("<message/>", 1.5))
        await first.setVCard("alice", "<vCard/>")
        await first.addBlocks("alice", ["spam@example.net"])
        await first.setLastActivity("alice", LastActivity(9.0, "bye"))
        await first.stop()

        second = await self.startStore()
        self.assertEqual(await second.getCredentials("alice"), {"SCRAM-SHA-1": SHA1})
        roster = await second.getRoster("alice")
        self.assertEqual((roster.version, roster.items), ("1", {ITEM.jid: ITEM}))
        self.assertEqual(
            await second.popOffline("alice"), [OfflineMessage("<message/>", 1.5)]
        )
        self.assertEqual(await second.getVCard("alice"), "<vCard/>")
        self.assertEqual(await second.getBlockList("alice"), {"spam@example.net"})
        self.assertEqual(await second.getLastActivity("alice"), LastActivity(9.0, "bye"))

    async def test_fileSettings(self) -> None:
        """
        A started store leaves the file in WAL mode at the latest schema
        version.
        """
        await self.startStore()
        connection = connect(self.path)
        self.addCleanup(connection.close)
        (mode,) = connection.execute("PRAGMA journal_mode").fetchone()
        self.assertEqual(mode, "wal")
        latest = schemaFiles(SCHEMA_DIRECTORY)[-1][0]
        self.assertEqual(schemaVersion(connection), latest)

    async def test_otherWriter(self) -> None:
        """
        A user that another process (the admin tool) creates in the file
        while the store runs is seen by the store.
        """
        store = await self.startStore()
        await store.createUser("alice", [])
        connection = connect(self.path)
        self.addCleanup(connection.close)
        sqlitestore.createUser(connection.cursor(), "bob", [SHA1])
        connection.commit()
        self.assertEqual(await store.listUsers(), ["alice", "bob"])
        self.assertEqual(await store.getCredentials("bob"), {"SCRAM-SHA-1": SHA1})


class SchemaUpgradeTests(SynchronousTestCase):
    """
    L{upgradeSchema} applies numbered schema files in order, once each.
    """

    def setUp(self) -> None:
        # A pathlib.Path is a Traversable, like the shipped package directory.
        self.directory = Path(self.mktemp())
        self.directory.mkdir(parents=True)
        self.addSchema("001_initial.sql", (SCHEMA_DIRECTORY / "001_initial.sql").read_text())
        self.connection = connect(self.mktemp())
        self.addCleanup(self.connection.close)

    def addSchema(self, name: str, sql: str) -> None:
        (self.directory / name).write_text(sql, encoding="utf-8")

    def tables(self) -> set[str]:
        rows = self.connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {name for (name,) in rows}

    def test_shippedNumbering(self) -> None:
        """
        The shipped schema files are numbered 1, 2, ... without gaps.
        """
        numbers = [number for number, _ in schemaFiles(SCHEMA_DIRECTORY)]
        self.assertEqual(numbers, list(range(1, len(numbers) + 1)))

    def test_fresh(self) -> None:
        """
        A new database gets every file and records the last number.
        """
        self.assertEqual(upgradeSchema(self.connection, self.directory), 1)
        self.assertIn("roster_items", self.tables())
        self.assertEqual(schemaVersion(self.connection), 1)

    def test_upgrade(self) -> None:
        """
        A database made by schema 001 gets only a later file, keeps its data,
        and upgrading again changes nothing.
        """
        upgradeSchema(self.connection, self.directory)
        sqlitestore.createUser(self.connection.cursor(), "alice", [SHA1])
        self.connection.commit()
        self.addSchema("002_nicknames.sql", "ALTER TABLE users ADD COLUMN nickname TEXT;")

        self.assertEqual(upgradeSchema(self.connection, self.directory), 2)
        self.assertEqual(upgradeSchema(self.connection, self.directory), 2)
        rows = self.connection.execute("SELECT username, nickname FROM users").fetchall()
        self.assertEqual(rows, [("alice", None)])
        self.assertEqual(schemaVersion(self.connection), 2)

    def test_failedUpgradeRollsBack(self) -> None:
        """
        A schema file that fails half way leaves nothing of itself behind and
        the version where it was.
        """
        upgradeSchema(self.connection, self.directory)
        self.addSchema("002_broken.sql", "CREATE TABLE extra (x);\nCREATE TABLE users (x);")
        self.assertRaises(
            sqlite3.OperationalError, upgradeSchema, self.connection, self.directory
        )
        self.assertNotIn("extra", self.tables())
        self.assertEqual(schemaVersion(self.connection), 1)

    def test_tooNew(self) -> None:
        """
        A database past the last known file is refused.
        """
        latest = schemaFiles(SCHEMA_DIRECTORY)[-1][0]
        for number in range(2, latest + 2):
            self.addSchema(f"{number:03d}_more.sql", f"CREATE TABLE more{number} (x);")
        upgradeSchema(self.connection, self.directory)
        self.assertRaises(SchemaTooNew, upgradeSchema, self.connection, SCHEMA_DIRECTORY)

    def test_fileNames(self) -> None:
        """
        Only C{NNN_name.sql} files count; two files with one number are an
        error.
        """
        self.addSchema("README.txt", "not sql")
        self.addSchema("2_short.sql", "CREATE TABLE short (x);")
        self.assertEqual([n for n, _ in schemaFiles(self.directory)], [1])
        self.addSchema("001_again.sql", "")
        self.assertRaises(ValueError, schemaFiles, self.directory)


_jids = st.sampled_from(["a@x.example", "b@x.example", "c@y.example"])
_text = st.text(max_size=6)
_items = st.builds(
    RosterItem,
    jid=_jids,
    name=st.none() | _text,
    subscription=st.sampled_from(["none", "to", "from", "both"]),
    ask=st.booleans(),
    approved=st.booleans(),
    groups=st.lists(_text, max_size=3, unique=True).map(tuple),
    pendingIn=st.booleans(),
    pendingInStanza=st.none() | _text,
    inRoster=st.booleans(),
)
_operations = st.lists(st.one_of(_items, _jids), max_size=12)


class RosterModelTests(SynchronousTestCase):
    """
    The SQLite queries and the memory store agree on rosters.
    """

    @settings(max_examples=25, deadline=None, database=None)
    @given(_operations)
    def test_sameRoster(self, operations: list[RosterItem | str]) -> None:
        """
        Any sequence of sets (items) and removes (JIDs) answers the same
        versions and leaves the same roster in both stores. The SQLite side
        runs the store's own transaction functions on an in-memory database.
        """
        memory = MemoryStore()
        memory.createUser("alice", [])
        with closing(connect(":memory:")) as connection:
            self.replay(memory, connection.cursor(), operations)

    def replay(
        self, memory: MemoryStore, cursor: sqlite3.Cursor, operations: list[RosterItem | str]
    ) -> None:
        upgradeSchema(cursor.connection)
        sqlitestore.createUser(cursor, "alice", [])
        for operation in operations:
            if isinstance(operation, RosterItem):
                expected = memory.setRosterItem("alice", operation)
                version = sqlitestore.setRosterItem(cursor, "alice", operation)
            else:
                expected = memory.removeRosterItem("alice", operation)
                version = sqlitestore.removeRosterItem(cursor, "alice", operation)
            self.assertEqual(version, self.successResultOf(expected))
        self.assertEqual(
            sqlitestore.getRoster(cursor, "alice"),
            self.successResultOf(memory.getRoster("alice")),
        )
