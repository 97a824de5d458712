# -*- test-case-name: tests.storage.test_sqlite -*-
"""
The SQLite schema: numbered files C{schema/NNN_name.sql}, applied in order.

L{upgradeSchema} applies the files a database has not seen yet, each in its
own transaction, and records the last one applied in the C{schema_version}
table; a later file thus upgrades an existing database. Both the node and the
admin tool open the file through L{configureConnection}.
"""

from __future__ import annotations

import re
import sqlite3
from importlib.resources import files
from importlib.resources.abc import Traversable

#: The schema files shipped with xmuc.
SCHEMA_DIRECTORY: Traversable = files("xmuc.storage") / "schema"

_SCHEMA_FILE = re.compile(r"^(\d{3})_\w+\.sql$")


class SchemaTooNew(Exception):
    """
    The database was written by a newer xmuc than this one.
    """


#: The C{synchronous} settings the store accepts.
SYNCHRONOUS = ("normal", "full")


def configureConnection(connection: sqlite3.Connection, synchronous: str = "normal") -> None:
    """
    Set up a freshly opened connection: WAL so that the CLI and the node can
    share the file, enforced foreign keys (deletes cascade), and waiting on
    a lock held by the other process rather than failing at once.

    C{synchronous}: with WAL, C{normal} writes every commit to the WAL file
    before the COMMIT returns and syncs it to disk only at checkpoints: a
    committed transaction survives the process being killed (the kernel
    has the pages), and a power loss or kernel crash may lose the last
    commits but never corrupts the file. C{full} also syncs the WAL at
    every commit (durable against power loss, one fsync per transaction).

    @raise ValueError: for another C{synchronous} value.
    """
    if synchronous not in SYNCHRONOUS:
        raise ValueError(f"synchronous must be normal or full, not {synchronous!r}")
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute(f"PRAGMA synchronous={synchronous.upper()}")
    connection.execute("PRAGMA foreign_keys=ON")
    connection.execute("PRAGMA busy_timeout=5000")


def schemaFiles(directory: Traversable) -> list[tuple[int, Traversable]]:
    """
    The schema files of C{directory}, by number.

    @raise ValueError: when two files share a number.
    """
    numbered: dict[int, Traversable] = {}
    for entry in directory.iterdir():
        match = _SCHEMA_FILE.match(entry.name)
        if match is None:
            continue
        number = int(match.group(1))
        if number in numbered:
            raise ValueError(f"two schema files numbered {number:03d}")
        numbered[number] = entry
    return sorted(numbered.items(), key=lambda pair: pair[0])


def schemaVersion(connection: sqlite3.Connection) -> int:
    """
    The number of the last schema file applied to the database, C{0} for a
    new one.
    """
    connection.execute(
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"
    )
    row = connection.execute("SELECT MAX(version) FROM schema_version").fetchone()
    if row[0] is None:
        connection.execute("INSERT INTO schema_version (version) VALUES (0)")
        connection.commit()
        return 0
    return int(row[0])


def upgradeSchema(
    connection: sqlite3.Connection, directory: Traversable = SCHEMA_DIRECTORY
) -> int:
    """
    Apply, each in its own transaction, the schema files of C{directory}
    that the database has not seen.

    @return: the schema version the database is now at.
    @raise SchemaTooNew: when the database is past the last file.
    """
    available = schemaFiles(directory)
    latest = available[-1][0] if available else 0
    current = schemaVersion(connection)
    if current > latest:
        raise SchemaTooNew(f"database schema {current}, this xmuc knows {latest}")
    for number, entry in available:
        if number <= current:
            continue
        script = (
            "BEGIN IMMEDIATE;\n"
            + entry.read_text(encoding="utf-8")
            + f"\n;UPDATE schema_version SET version = {number};\nCOMMIT;"
        )
        try:
            connection.executescript(script)
        except sqlite3.Error:
            if connection.in_transaction:
                connection.rollback()
            # The CLI and the node may race to upgrade the same file.
            if schemaVersion(connection) >= number:
                continue
            raise
    return max(current, latest)
