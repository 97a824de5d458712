# -*- test-case-name: tests.test_writes -*-
"""
The write barrier: what a stream's stanzas asked the store to do, and
holding the stream's IQ answers until that is durable.

Each stream owns a L{WriteScope}. While the stream handles what it read
(L{StreamBase.dataReceived}), its scope is the current one (a context
variable, L{CURRENT}), and every store operation submitted then is an open
item of the scope until the store answers. The node's store is a
L{TrackedStore}, which does that for every caller without them knowing.

The chain of work a stanza starts stays in its scope after an asynchronous
step:

  - a coroutine or C{inlineCallbacks} function runs each step in the
    context it started in (Twisted copies it), so what it submits after an
    C{await} is in the scope;
  - the callbacks on a store operation's Deferred run with the scope
    current again, and the operation's item closes only after them: a
    write issued from a read's callback opens its item before the read's
    closes, so the scope is never empty in between;
  - work parked for later (a stanza waiting for the rooms to load, roster
    work waiting for the account's lock) takes a L{later} continuation, an
    open item that runs its function in the scope and then closes; a
    Deferred that another caller's work fires (a block list loaded once for
    several waiters) goes through L{inScope}, the same relay as the store's
    operations.

A stream hands an IQ (a result, an error, a push) to its client only once
every item open in its scope when the IQ was sent has closed: whatever the
client's earlier stanzas wrote has committed when it sees the answer to a
later IQ. What the stream sends after a held IQ waits behind it, so the
stream's output keeps its order. A stream with no open item writes at
once; the check is one attribute test.

Stream management (XEP-0198) acknowledgements, when they come, are the same
promise as an IQ answer and must take the same way (L{WriteScope.mark} when
the ack is due, L{WriteScope.whenPassed} before it is written).

The store's back-pressure goes through the same scopes: an operation
from a stream while the store is L{busy<xmuc.storage.interfaces.IStore.busy>}
waits with its scope (L{TrackedStore}) and the stream stops reading
(L{WriteScope.pause}) until the store drains.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from contextvars import ContextVar
from typing import Any, Callable, Iterable

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure
from zope.interface import implementer

from xmuc.storage.interfaces import IStore

#: The scope of the stream whose input is being handled now.
CURRENT: ContextVar["WriteScope | None"] = ContextVar("xmuc-write-scope", default=None)


class WriteScope:
    """
    The store operations one stream's stanzas started and the store has not
    answered yet.

    Items have ranks. An item opened while the callbacks of another item of
    the scope run (a write issued when a read answered, a parked stanza
    handled at last) is its continuation and takes its rank; any other
    item takes a new, higher rank. A waiter for a rank passes once no item
    of that rank or lower is open: the work that came out of earlier input
    by however many steps.

    Small and lazy (a stream that never touches the store pays one object
    of five slots): the table of open items and the waiters exist only
    while there are some.

    @param reader: what pauses and resumes the reading of the stream
        (C{holdReading()}, C{releaseReading()}: the store is busy and this
        scope submitted; the store drained), or L{None}.
    @ivar open: the number of open items by rank, lowest rank first, or
        L{None} when none is open.
    """

    __slots__ = ("open", "_last", "_continuing", "_waiters", "reader")

    def __init__(self, reader: Any = None) -> None:
        self.open: OrderedDict[int, int] | None = None
        self._last = 0
        self._continuing: int | None = None
        self._waiters: deque[tuple[int, Callable[[], None]]] | None = None
        self.reader = reader

    def pause(self) -> None:
        """
        The store is busy and this scope submitted to it.
        """
        if self.reader is not None:
            self.reader.holdReading()

    def resume(self) -> None:
        """
        The store drained.
        """
        if self.reader is not None:
            self.reader.releaseReading()

    def opened(self) -> int:
        """
        Open an item; returns its rank, for L{closed}.
        """
        open = self.open
        if open is None:
            open = self.open = OrderedDict()
        rank = self._continuing
        if rank is not None and rank in open:
            open[rank] += 1
            return rank
        self._last += 1
        open[self._last] = 1
        return self._last

    def closed(self, rank: int) -> None:
        """
        Close an item; waiters with no open item up to their rank run.
        """
        open = self.open
        assert open is not None
        left = open[rank] - 1
        if left:
            open[rank] = left
            return
        del open[rank]
        if not open:
            self.open = None
        waiters = self._waiters
        while waiters and self.passed(waiters[0][0]):
            _, callback = waiters.popleft()
            callback()
        if waiters is not None and not waiters and self._waiters is waiters:
            self._waiters = None

    def _continue(self, rank: int, f: Callable[..., Any], *args: Any) -> Any:
        """
        Call C{f} in this scope, as the continuation of an item of C{rank}.
        """
        outer, self._continuing = self._continuing, rank
        try:
            return self.run(f, *args)
        finally:
            self._continuing = outer

    def mark(self) -> int:
        """
        The highest rank so far: L{passed} once every item up to it (and
        their continuations) closed.
        """
        return self._last

    def passed(self, mark: int) -> bool:
        """
        Whether no item of rank C{mark} or lower is open.
        """
        open = self.open
        if not open:
            return True
        return next(iter(open)) > mark

    def whenPassed(self, mark: int, callback: Callable[[], None]) -> None:
        """
        Call C{callback} once L{passed}C{(mark)}, at once if it is.
        """
        if self.passed(mark):
            callback()
            return
        waiters = self._waiters
        if waiters is None:
            waiters = self._waiters = deque()
        # Kept in mark order, so that L{closed} stops at the first that has
        # not passed: a waiter may come after one for a later mark (two
        # links holding answers from one incoming stream).
        index = len(waiters)
        while index and waiters[index - 1][0] > mark:
            index -= 1
        waiters.insert(index, (mark, callback))

    def run(self, f: Callable[..., Any], *args: Any) -> Any:
        """
        Call C{f} with this scope current.
        """
        token = CURRENT.set(self)
        try:
            return f(*args)
        finally:
            CURRENT.reset(token)

    def relay(self, d: Deferred[Any]) -> Deferred[Any]:
        """
        A Deferred with C{d}'s result whose callbacks run in this scope; an
        open item until they ran.
        """
        rank = self.opened()
        relayed: Deferred[Any] = Deferred()

        def fire(result: Any) -> None:
            done = relayed.errback if isinstance(result, Failure) else relayed.callback
            try:
                self._continue(rank, done, result)
            finally:
                self.closed(rank)

        d.addBoth(fire)
        return relayed

    def later(self, f: Callable[..., Any]) -> Callable[..., Any]:
        """
        A continuation for work parked now and done later: an open item
        until it is called; calling it runs C{f} in this scope, then closes
        the item. Call it exactly once.
        """
        rank = self.opened()

        def continuation(*args: Any) -> Any:
            try:
                return self._continue(rank, f, *args)
            finally:
                self.closed(rank)

        return continuation


def later(f: Callable[..., Any]) -> Callable[..., Any]:
    """
    L{WriteScope.later} in the current scope, or C{f} itself outside any.
    """
    scope = CURRENT.get()
    return f if scope is None else scope.later(f)


def inScope(d: Deferred[Any]) -> Deferred[Any]:
    """
    L{WriteScope.relay} in the current scope, or C{d} itself outside any:
    for a Deferred that another caller's work will fire (a shared load).
    """
    scope = CURRENT.get()
    return d if scope is None else scope.relay(d)


#: IStore methods that change what is stored.
WRITES = ("createUser", "setCredentials", "deleteUser", "setRosterItem",
          "removeRosterItem", "storeOffline", "popOffline", "setVCard", "addBlocks",
          "removeBlocks", "setLastActivity", "saveRoom", "deleteRoom", "deleteArchive",
          "archiveMessage", "startEpoch", "dropPrimaryRoom", "attachReplica", "detachReplica",
          "appendBroadcasts", "acknowledgeBroadcasts", "updateReplicaRoom",
          "detachReplicaRoom")
#: IStore methods that only read.
READS = ("getCredentials", "listUsers", "getRoster", "getVCard", "getBlockList",
         "getLastActivity", "loadRooms", "lastMessages", "queryArchive",
         "loadPrimaryRooms", "replayBroadcasts", "loadReplicaRooms", "listSpooled")


@implementer(IStore)
class TrackedStore:
    """
    The node's view of its L{IStore}: the same methods, with every operation
    counted in the current L{WriteScope}, every write kept by C{track} (the
    node's pending work, which a stopping node waits for), and the store's
    back-pressure passed on to the scopes that submit.

    Back-pressure: while the store is busy, an operation from a stream's
    scope is not submitted but parked, and the stream stops reading; once
    parking began, every later operation parks behind it (from a stream or
    not), so operations reach the store in the order they were made. When
    the store drained, the parked operations are submitted in order until
    it is busy again, and a stream reads again once none of its operations
    is parked. So the store's queue stays at its high-water mark however
    many streams send (only work outside any stream, such as room timers,
    may go past it), and what is parked is bounded by what the paused
    streams had already read. Nothing is dropped.

    @param store: the real store.
    @param track: L{xmuc.node.Node.track}.
    @ivar parked: the operations waiting for the store to drain, in order.
    """

    def __init__(self, store: IStore, track: Callable[[Deferred[Any]], Any]) -> None:
        self.store = store
        self._track = track
        self.parked: deque[tuple[WriteScope | None, str, tuple[Any, ...], Deferred[Any]]] = (
            deque())
        self._parkedBy: dict[WriteScope, int] = {}
        self._waiting = False

    def __getattr__(self, name: str) -> Any:
        # Everything else (start, stop, maxOfflineMessages, test helpers)
        # is the store's own.
        return getattr(self.store, name)

    @property
    def busy(self) -> bool:
        return self.store.busy

    def whenDrained(self) -> Deferred[None]:
        return self.store.whenDrained()

    def _call(self, name: str, write: bool, args: tuple[Any, ...]) -> Deferred[Any]:
        scope = CURRENT.get()
        if self.parked or (scope is not None and self.store.busy):
            d: Deferred[Any] = Deferred()
            self._park(scope, name, args, d)
        else:
            d = getattr(self.store, name)(*args)
        if write:
            self._track(d)
        return d if scope is None else scope.relay(d)

    def _park(self, scope: WriteScope | None, name: str, args: tuple[Any, ...],
              d: Deferred[Any]) -> None:
        self.parked.append((scope, name, args, d))
        if scope is not None:
            count = self._parkedBy.get(scope, 0)
            self._parkedBy[scope] = count + 1
            if not count:
                scope.pause()
        if not self._waiting:
            self._waiting = True
            self.store.whenDrained().addCallback(self._drained)

    def _drained(self, _: Any) -> None:
        """
        Submit the parked operations in order until the store is busy again
        (the callbacks of an operation that answers at once may park more
        behind them).
        """
        parked = self.parked
        while parked:
            if self.store.busy:
                self.store.whenDrained().addCallback(self._drained)
                return
            scope, name, args, d = parked.popleft()
            getattr(self.store, name)(*args).chainDeferred(d)
            if scope is not None:
                left = self._parkedBy[scope] - 1
                if left:
                    self._parkedBy[scope] = left
                else:
                    del self._parkedBy[scope]
                    scope.resume()
        self._waiting = False


def _method(name: str, write: bool) -> Callable[..., Deferred[Any]]:
    def method(self: TrackedStore, *args: Any) -> Deferred[Any]:
        return self._call(name, write, args)

    method.__name__ = name
    method.__doc__ = f"L{{IStore.{name}}}, tracked."
    return method


def _install(names: Iterable[str], write: bool) -> None:
    for name in names:
        setattr(TrackedStore, name, _method(name, write))


_install(WRITES, True)
_install(READS, False)
