# -*- test-case-name: tests.storage.test_writer -*-
"""
Tests for L{xmuc.storage.writer}: operations batched per transaction, each
in its own savepoint, answered after the COMMIT, and the queue's
back-pressure.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from typing import Any

from twisted.internet import defer
from twisted.trial.unittest import SynchronousTestCase, TestCase

from xmuc.storage.migrations import configureConnection
from xmuc.storage.writer import BatchingWriter, runBatch


def _schema(connection: sqlite3.Connection) -> None:
    connection.execute("CREATE TABLE IF NOT EXISTS t (v INTEGER)")
    connection.commit()


def insert(txn: Any, value: int) -> int:
    txn.execute("INSERT INTO t (v) VALUES (?)", (value,))
    return value


def insertThenFail(txn: Any, value: int) -> None:
    txn.execute("INSERT INTO t (v) VALUES (?)", (value,))
    raise ValueError(value)


def values(txn: Any) -> list[int]:
    txn.execute("SELECT v FROM t ORDER BY rowid")
    return [v for (v,) in txn.fetchall()]


def endTransaction(txn: Any) -> None:
    # What SQLite does by itself on some errors (SQLITE_FULL, say): the
    # whole transaction is rolled back.
    txn.execute("ROLLBACK")
    raise sqlite3.OperationalError("database or disk is full")


class RunBatchTests(SynchronousTestCase):
    """
    L{runBatch} on a connection in autocommit mode.
    """

    def setUp(self) -> None:
        self.connection = sqlite3.connect(self.mktemp(), isolation_level=None)
        self.addCleanup(self.connection.close)
        _schema(self.connection)

    def stored(self) -> list[int]:
        return [v for (v,) in self.connection.execute("SELECT v FROM t ORDER BY rowid")]

    def test_oneTransaction(self) -> None:
        """
        The operations of a batch commit together, in order, and each
        answers with its own result.
        """
        results = runBatch(self.connection, [(insert, (1,), True), (insert, (2,), True)])
        self.assertEqual(results, [(True, 1), (True, 2)])
        self.assertEqual(self.stored(), [1, 2])
        self.assertFalse(self.connection.in_transaction)

    def test_failingOperationAlone(self) -> None:
        """
        An operation that raises is rolled back to its savepoint (its own
        insert is gone) and fails alone; the others commit.
        """
        results = runBatch(self.connection, [
            (insert, (1,), True), (insertThenFail, (2,), True), (insert, (3,), True)])
        self.assertEqual(results[0], (True, 1))
        self.assertFalse(results[1][0])
        self.assertTrue(results[1][1].check(ValueError))
        self.assertEqual(results[2], (True, 3))
        self.assertEqual(self.stored(), [1, 3])

    def test_readsSeeEarlierWrites(self) -> None:
        """
        A read in a batch sees the writes before it in the same batch.
        """
        results = runBatch(self.connection, [(insert, (7,), True), (values, (), False)])
        self.assertEqual(results[1], (True, [7]))

    def test_wholeTransactionLost(self) -> None:
        """
        When SQLite rolls back the whole transaction, the operations before
        the failing one fail too (they are not stored), and those after it
        run in a new transaction.
        """
        results = runBatch(self.connection, [
            (insert, (1,), True), (endTransaction, (), True), (insert, (3,), True)])
        self.assertFalse(results[0][0])
        self.assertTrue(results[0][1].check(sqlite3.OperationalError))
        self.assertFalse(results[1][0])
        self.assertEqual(results[2], (True, 3))
        self.assertEqual(self.stored(), [3])


class WriterTests(TestCase):
    """
    L{BatchingWriter} on a real file and thread.
    """

    def setUp(self) -> defer.Deferred:
        from twisted.internet import reactor

        self.path = self.mktemp()

        def connect() -> sqlite3.Connection:
            connection = sqlite3.connect(self.path, check_same_thread=False)
            configureConnection(connection)
            return connection

        self.writer = BatchingWriter(reactor, connect, batchSize=50, highWater=5, lowWater=2)
        self.addCleanup(self.writer.stop)
        return self.writer.start(_schema)

    def committed(self) -> list[int]:
        """
        What another connection sees: only committed rows.
        """
        with closing(sqlite3.connect(self.path)) as other:
            return [v for (v,) in other.execute("SELECT v FROM t ORDER BY rowid")]

    async def test_answeredAfterCommit(self) -> None:
        """
        When an operation's Deferred fires, its write is visible to another
        connection: it committed.
        """
        seen = []
        d = self.writer.submit(insert, (1,), True)
        d.addCallback(lambda _: seen.append(self.committed()))
        await d
        self.assertEqual(seen, [[1]])

    async def test_batched(self) -> None:
        """
        Operations submitted while a batch runs go in the next batch
        together, in submission order, and all their Deferreds fire.
        """
        ds = [self.writer.submit(insert, (i,), True) for i in range(10)]
        results = await defer.gatherResults(ds)
        self.assertEqual(results, list(range(10)))
        self.assertEqual(self.committed(), list(range(10)))
        # The first went alone (nothing was queued), the nine others together.
        self.assertEqual(self.writer.transactions, 2)

    async def test_failureInBatch(self) -> None:
        """
        A failing operation fails its own Deferred only.
        """
        first = self.writer.submit(insert, (1,), True)
        ds = [self.writer.submit(insert, (2,), True),
              self.writer.submit(insertThenFail, (3,), True),
              self.writer.submit(insert, (4,), True)]
        await first
        self.assertEqual(await ds[0], 2)
        with self.assertRaises(ValueError):
            await ds[1]
        self.assertEqual(await ds[2], 4)
        self.assertEqual(self.committed(), [1, 2, 4])

    async def test_busyPastHighWater(self) -> None:
        """
        The writer is busy from C{highWater} queued operations until the
        queue is back at C{lowWater}; C{whenDrained} fires then; nothing is
        dropped; C{maxQueued} records the longest queue.
        """
        self.assertTrue(self.writer.whenDrained().called)
        ds = [self.writer.submit(insert, (i,), True) for i in range(6)]
        self.assertTrue(self.writer.busy)
        drained = self.writer.whenDrained()
        self.assertFalse(drained.called)
        await drained
        self.assertLessEqual(self.writer.queued, 2)
        self.assertFalse(self.writer.busy)
        await defer.gatherResults(ds)
        self.assertEqual(self.committed(), list(range(6)))
        self.assertEqual(self.writer.maxQueued, 6)

    async def test_stopWaitsForQueue(self) -> None:
        """
        C{stop} lets the queued operations commit first.
        """
        ds = [self.writer.submit(insert, (i,), True) for i in range(3)]
        await self.writer.stop()
        self.assertTrue(all(d.called for d in ds))
        self.assertEqual(self.committed(), [0, 1, 2])
