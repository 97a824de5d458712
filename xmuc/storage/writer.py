# -*- test-case-name: tests.storage.test_writer -*-
"""
The SQLite store's one thread: operations queued in submission order and
run several per transaction (group commit).

An operation is a function of a DB-API cursor (the store's interaction
functions). While one batch runs on the thread, new operations queue on
the reactor side; the next batch takes up to C{batchSize} of them at once.
Under light load a batch is one operation, so nothing waits for company;
under heavy load one COMMIT (and, with C{synchronous=full}, one fsync)
carries many writes.

Each operation runs in its own SAVEPOINT: one that raises is rolled back
alone and fails alone, and the others of its batch commit. Every caller's
Deferred fires after the COMMIT of its batch, in submission order; reads
run in the same order as writes, so they see the node's own earlier
writes, and no result reaches the reactor before what it read is durable.

The queue is bounded by back-pressure, not by dropping: past C{highWater}
queued operations the writer is L{busy} until the queue drains to
C{lowWater}; callers that can slow down (streams stop reading) wait for
L{whenDrained}.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from typing import Any, Callable

from twisted.internet.defer import Deferred, succeed
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool


class _Operation:
    """
    One queued operation and the Deferred its caller holds.
    """

    __slots__ = ("interaction", "args", "write", "deferred")

    def __init__(self, interaction: Callable[..., Any], args: tuple[Any, ...],
                 write: bool) -> None:
        self.interaction = interaction
        self.args = args
        self.write = write
        self.deferred: Deferred[Any] = Deferred()


def runBatch(connection: sqlite3.Connection,
             operations: list[tuple[Callable[..., Any], tuple[Any, ...], bool]]
             ) -> list[tuple[bool, Any]]:
    """
    Run C{operations} in one transaction on a connection in autocommit mode
    (C{isolation_level=None}), each in its own SAVEPOINT.

    @return: per operation, C{(True, result)} or C{(False, Failure)}; all
        failures when the COMMIT fails. When SQLite rolls back the whole
        transaction on an error (a full disk, say), the operations before it
        in the batch are failed with that error too: nothing is reported
        stored that is not.
    """
    results: list[tuple[bool, Any]] = []
    begin = "BEGIN IMMEDIATE" if any(write for _, _, write in operations) else "BEGIN"
    try:
        connection.execute(begin)
    except sqlite3.Error:
        failure = Failure()
        return [(False, failure)] * len(operations)
    cursor = connection.cursor()
    for interaction, args, _ in operations:
        connection.execute("SAVEPOINT operation")
        try:
            value = interaction(cursor, *args)
        except Exception:
            failure = Failure()
            if connection.in_transaction:
                connection.execute("ROLLBACK TO operation")
                connection.execute("RELEASE operation")
            else:
                results = [(False, failure)] * len(results)
                connection.execute(begin)
            results.append((False, failure))
        else:
            connection.execute("RELEASE operation")
            results.append((True, value))
    try:
        connection.execute("COMMIT")
    except sqlite3.Error:
        failure = Failure()
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        return [(False, failure)] * len(operations)
    return results


class BatchingWriter:
    """
    Runs operations on one thread and one SQLite connection, in batches.

    @param reactor: delivers results back (L{IReactorFromThreads}) and runs
        the shutdown trigger (L{IReactorCore}).
    @param connect: opens the connection (called on the thread).
    @param batchSize: operations per transaction at most.
    @param highWater: queued operations (waiting or running) at which the
        writer becomes L{busy}.
    @param lowWater: queued operations at which it stops being busy.
    @ivar maxQueued: the longest the queue has been (for benchmarks).
    @ivar transactions: batches run so far (for tests and benchmarks).
    @ivar operations: operations run so far.
    """

    log = Logger()

    def __init__(self, reactor: Any, connect: Callable[[], sqlite3.Connection],
                 batchSize: int = 200, highWater: int = 2000, lowWater: int = 500) -> None:
        self._reactor = reactor
        self._connect = connect
        self.batchSize = max(1, batchSize)
        self.highWater = max(1, highWater)
        self.lowWater = min(lowWater, self.highWater - 1)
        self.busy = False
        self.maxQueued = 0
        self.transactions = 0
        self.operations = 0
        self._queue: deque[_Operation] = deque()
        self._running = 0
        self._drained: list[Deferred[None]] = []
        self._idle: list[Deferred[None]] = []
        self._pool: ThreadPool | None = None
        self._connection: sqlite3.Connection | None = None
        self._trigger: Any = None

    @property
    def queued(self) -> int:
        """
        Operations submitted and not yet answered.
        """
        return len(self._queue) + self._running

    def start(self, prepare: Callable[[sqlite3.Connection], Any]) -> Deferred[Any]:
        """
        Start the thread, open the connection and run C{prepare} on it (the
        schema upgrade) before any operation.
        """
        self._pool = ThreadPool(1, 1, name="xmuc-sqlite")
        self._pool.start()
        self._trigger = self._reactor.addSystemEventTrigger(
            "during", "shutdown", self._stopPool)

        def opened() -> Any:
            self._connection = self._connect()
            result = prepare(self._connection)
            self._connection.isolation_level = None
            return result

        return deferToThreadPool(self._reactor, self._pool, opened)

    def submit(self, interaction: Callable[..., Any], args: tuple[Any, ...],
               write: bool) -> Deferred[Any]:
        """
        Queue an operation; its Deferred fires after the COMMIT that
        contains it.
        """
        assert self._pool is not None, "SQLite store used before start()"
        operation = _Operation(interaction, args, write)
        self._queue.append(operation)
        queued = self.queued
        if queued > self.maxQueued:
            self.maxQueued = queued
        if queued >= self.highWater:
            self.busy = True
        if not self._running:
            self._next()
        return operation.deferred

    def whenDrained(self) -> Deferred[None]:
        """
        A Deferred that fires once the writer is not L{busy}.
        """
        if not self.busy:
            return succeed(None)
        d: Deferred[None] = Deferred()
        self._drained.append(d)
        return d

    def _next(self) -> None:
        queue = self._queue
        batch = [queue.popleft() for _ in range(min(self.batchSize, len(queue)))]
        self._running = len(batch)
        self.transactions += 1
        self.operations += len(batch)
        work = [(op.interaction, op.args, op.write) for op in batch]
        d = deferToThreadPool(self._reactor, self._pool, runBatch, self._connection, work)
        d.addCallbacks(self._done, self._crashed, (batch,), None, (batch,))

    def _crashed(self, failure: Failure, batch: list[_Operation]) -> None:
        # runBatch itself failed (a closed connection, say).
        self._done([(False, failure)] * len(batch), batch)

    def _done(self, results: list[tuple[bool, Any]], batch: list[_Operation]) -> None:
        self._running = 0
        if self._queue:
            # Keep the thread busy while the reactor fires the callbacks.
            self._next()
        if self.busy and self.queued <= self.lowWater:
            self.busy = False
            drained, self._drained = self._drained, []
            for d in drained:
                d.callback(None)
        for operation, (ok, value) in zip(batch, results):
            if ok:
                operation.deferred.callback(value)
            else:
                operation.deferred.errback(value)
        if not self.queued:
            idle, self._idle = self._idle, []
            for d in idle:
                d.callback(None)

    def stop(self) -> Deferred[None]:
        """
        Let the queued operations finish, then close the connection and stop
        the thread.
        """
        if self._pool is None:
            return succeed(None)
        if self.queued:
            d: Deferred[None] = Deferred()
            self._idle.append(d)
            d.addCallback(lambda _: self.stop())
            return d
        if self._trigger is not None:
            self._reactor.removeSystemEventTrigger(self._trigger)
            self._trigger = None
        self.log.info(
            "SQLite store: {operations} operations in {transactions} transactions,"
            " longest queue {longest}", operations=self.operations,
            transactions=self.transactions, longest=self.maxQueued)
        self._stopPool()
        return succeed(None)

    def _stopPool(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        connection, self._connection = self._connection, None
        if connection is not None:
            pool.callInThread(connection.close)
        pool.stop()
