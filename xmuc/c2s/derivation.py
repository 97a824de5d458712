# -*- test-case-name: tests.c2s.test_throttle -*-
"""
Where password key derivation runs.

PBKDF2 with 4096 rounds takes milliseconds of CPU; run on the reactor
thread, a flood of PLAIN logins (or registrations) would stall every
other stream. L{ThreadedDerivation} runs it in a small thread pool of its
own with a bounded queue; L{SynchronousDerivation} runs it at once, for
tests and for tools without a reactor.
"""

from __future__ import annotations

from typing import Any, Callable, TypeVar

from twisted.internet import defer, threads
from twisted.python.threadpool import ThreadPool

from xmuc.c2s.scram import SASLFailure

T = TypeVar("T")


class DerivationBusy(SASLFailure):
    """
    The derivation queue is full; the client may try again later.
    """

    def __init__(self) -> None:
        super().__init__("temporary-auth-failure", "the server is busy, try again later")


class SynchronousDerivation:
    """
    Runs each derivation at once on the calling thread.

    @ivar calls: how many derivations ran (tests check that work went
        through the injected derivation).
    """

    def __init__(self) -> None:
        self.calls = 0

    def run(self, function: Callable[..., T], *args: Any) -> defer.Deferred:
        """
        A Deferred that has C{function(*args)}'s result.
        """
        self.calls += 1
        return defer.maybeDeferred(function, *args)


class ThreadedDerivation:
    """
    Runs derivations in a thread pool of C{threads} threads, with at most
    C{queue} of them waiting or running; past that, L{run} fails with
    L{DerivationBusy} at once instead of letting a flood grow the queue.

    @param pool: a L{ThreadPool} to use instead (tests pass a fake).
    """

    def __init__(self, reactor: Any, threads: int, queue: int, pool: Any = None) -> None:
        self._reactor = reactor
        if pool is None:
            pool = ThreadPool(minthreads=0, maxthreads=max(1, threads), name="xmuc-hash")
        self._pool = pool
        self._limit = max(1, queue)
        self.pending = 0

    def start(self) -> None:
        self._pool.start()

    def stop(self) -> None:
        if self._pool.started:
            self._pool.stop()

    def run(self, function: Callable[..., T], *args: Any) -> defer.Deferred:
        """
        A Deferred that fires on the reactor thread with C{function(*args)}'s
        result, computed in the pool.
        """
        if self.pending >= self._limit:
            return defer.fail(DerivationBusy())
        self.pending += 1

        def done(result: Any) -> Any:
            self.pending -= 1
            return result

        d = threads.deferToThreadPool(self._reactor, self._pool, function, *args)
        return d.addBoth(done)
