# -*- test-case-name: tests.dmuc.test_discovery -*-
"""
Which remote domains can be replicas (../shared/design/dmuc.md section 1),
as a pure cache: events and C{now} in, effects out.

A primary wants to know, when a user of domain B joins one of its rooms,
whether B mirrors rooms and under which JID. L{Discovery} keeps one
L{DomainState} per domain:

  - C{UNKNOWN}: nothing known (not kept in memory);
  - C{ASKING}: a disco#info query is out, joins wait for it, the timer runs;
  - C{OVERDUE}: the query is out but the timeout passed: joins are served
    classically at once, and a late answer still fills the cache (a first
    s2s connection may take longer than the timeout);
  - C{CAPABLE} / C{INCAPABLE}: the answer, cached for C{ttl} seconds (an
    hour) or until the s2s link to B drops, whichever comes first.

Every join waiting on a query is decided (L{Decided}: the replica JID, or
L{None} for classic service) when the answer, an error or the timeout
comes, so no join waits longer than C{timeout} (5 s); joins of one domain
share one query. Answers, errors and timeouts name their query, so ones
for a query the cache has moved past are stale (L{Ignored}); the
transitions live in one table, L{TRANSITIONS}, and an event the table has
no row for raises L{IllegalTransition}.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Callable, Hashable, Optional, Union

from twisted.words.protocols.jabber.jid import JID

from xmuc.core.links import IllegalTransition
from xmuc.dmuc.infoform import DiscoAnswer
from xmuc.muc.effects import CancelTimer, StartTimer

#: Error conditions of a disco#info query that say "unreachable", not "no":
#: such an answer decides the waiting joins but is not cached.
UNREACHABLE = frozenset(("remote-server-not-found", "remote-server-timeout"))


class DomainState(enum.Enum):
    UNKNOWN = "unknown"
    ASKING = "asking"
    OVERDUE = "overdue"
    CAPABLE = "capable"
    INCAPABLE = "incapable"


# Events


@dataclass(frozen=True)
class JoinWanted:
    """
    A user of C{domain} joins; C{join} is the caller's token for it.
    """

    domain: str
    join: Hashable


@dataclass(frozen=True)
class DiscoAnswered:
    """
    The disco#info result of query C{query} (L{parseDiscoInfo}).
    """

    domain: str
    query: int
    answer: DiscoAnswer


@dataclass(frozen=True)
class DiscoFailed:
    """
    Query C{query} came back as an error with C{condition}.
    """

    domain: str
    query: int
    condition: str


@dataclass(frozen=True)
class DiscoTimedOut:
    """
    The timer of query C{query} fired.
    """

    domain: str
    query: int


@dataclass(frozen=True)
class LinkDropped:
    """
    The s2s link to C{domain} went down or was closed.
    """

    domain: str


@dataclass(frozen=True)
class TimePassed:
    """
    Time moved on: cached answers older than the ttl expire.
    """


@dataclass(frozen=True)
class Expired:
    """
    (Internal) C{domain}'s cached state outlived the ttl.
    """

    domain: str


Event = Union[JoinWanted, DiscoAnswered, DiscoFailed, DiscoTimedOut, LinkDropped,
              TimePassed, Expired]


# Effects


@dataclass(frozen=True)
class SendDiscoInfo:
    """
    Send a disco#info query to the bare C{domain}; report its outcome
    with C{query}.
    """

    domain: str
    query: int


@dataclass(frozen=True)
class Decided:
    """
    How to serve join C{join} of C{domain}: through C{replica}, or
    classically when it is L{None}.
    """

    join: Hashable
    domain: str
    replica: JID | None

    @property
    def classic(self) -> bool:
        return self.replica is None


@dataclass(frozen=True)
class Ignored:
    """
    A stale answer, error or timeout (its query is no longer awaited),
    for the log.
    """

    event: Event


Effect = Union[SendDiscoInfo, StartTimer, CancelTimer, Decided, Ignored]

S = DomainState
Tracer = Callable[[str, tuple[DomainState, type], str, DomainState], None]

#: (state, event) -> (the transition's name, the states it may lead to).
TRANSITIONS: dict[tuple[DomainState, type], tuple[str, frozenset[DomainState]]] = {
    (S.UNKNOWN, JoinWanted): ("ask", frozenset({S.ASKING})),
    (S.ASKING, JoinWanted): ("wait for the query", frozenset({S.ASKING})),
    (S.OVERDUE, JoinWanted): ("classic while overdue", frozenset({S.OVERDUE})),
    (S.CAPABLE, JoinWanted): ("through the replica", frozenset({S.CAPABLE})),
    (S.INCAPABLE, JoinWanted): ("classic", frozenset({S.INCAPABLE})),
    (S.ASKING, DiscoAnswered): ("answered", frozenset({S.CAPABLE, S.INCAPABLE})),
    (S.OVERDUE, DiscoAnswered): ("answered late", frozenset({S.CAPABLE, S.INCAPABLE})),
    (S.ASKING, DiscoFailed): ("failed", frozenset({S.INCAPABLE, S.UNKNOWN})),
    (S.OVERDUE, DiscoFailed): ("failed late", frozenset({S.INCAPABLE, S.UNKNOWN})),
    (S.ASKING, DiscoTimedOut): ("timed out", frozenset({S.OVERDUE})),
    (S.UNKNOWN, LinkDropped): ("nothing to forget", frozenset({S.UNKNOWN})),
    (S.ASKING, LinkDropped): ("the query is still out", frozenset({S.ASKING})),
    (S.OVERDUE, LinkDropped): ("the query is still out", frozenset({S.OVERDUE})),
    (S.CAPABLE, LinkDropped): ("forget", frozenset({S.UNKNOWN})),
    (S.INCAPABLE, LinkDropped): ("forget", frozenset({S.UNKNOWN})),
    (S.OVERDUE, Expired): ("give up the query", frozenset({S.UNKNOWN})),
    (S.CAPABLE, Expired): ("expire", frozenset({S.UNKNOWN})),
    (S.INCAPABLE, Expired): ("expire", frozenset({S.UNKNOWN})),
}


@dataclass
class _Entry:
    """
    What the cache holds for one domain.

    @ivar since: when the query was sent (C{ASKING}, C{OVERDUE}) or the
        answer came (C{CAPABLE}, C{INCAPABLE}).
    @ivar waiting: the joins waiting for the query, in arrival order.
    """

    state: DomainState = DomainState.UNKNOWN
    query: int | None = None
    since: float = 0.0
    replica: JID | None = None
    waiting: dict[Hashable, None] = field(default_factory=dict)


def timerKey(domain: str, query: int) -> tuple[str, ...]:
    """
    The key of query C{query}'s timer.
    """
    return ("dmuc-disco", domain, str(query))


class Discovery:
    """
    The cache of remote domains' DMUC capability.

    @ivar timeout: seconds a join may wait for a disco#info answer.
    @ivar ttl: seconds an answer is trusted.
    @ivar trace: called with the domain, the transition's row (old state,
        event class), its name and the new state, for logs and metrics.
    """

    def __init__(self, timeout: float = 5.0, ttl: float = 3600.0,
                 trace: Optional[Tracer] = None) -> None:
        self.timeout = timeout
        self.ttl = ttl
        self.trace = trace
        self._entries: dict[str, _Entry] = {}
        self._queries = 0

    def state(self, domain: str) -> DomainState:
        """
        What the cache holds for C{domain} (expiry applies at the next event).
        """
        entry = self._entries.get(domain)
        return DomainState.UNKNOWN if entry is None else entry.state

    def handle(self, event: Event, now: float) -> list[Effect]:
        """
        Apply C{event} at time C{now}; the effects to carry out, in order.

        @raise IllegalTransition: for an event the table has no row for.
        """
        if isinstance(event, TimePassed):
            effects: list[Effect] = []
            for domain in list(self._entries):
                effects.extend(self._expire(domain, now))
            return effects
        effects = self._expire(event.domain, now)
        entry = self._entries.get(event.domain) or _Entry()
        query = getattr(event, "query", None)
        if query is not None and query != entry.query:
            return effects + [Ignored(event)]
        return effects + self._step(event.domain, entry, event, now)

    def _expire(self, domain: str, now: float) -> list[Effect]:
        entry = self._entries.get(domain)
        if entry is None or entry.state in (S.UNKNOWN, S.ASKING):
            return []
        if now < entry.since + self.ttl:
            return []
        return self._step(domain, entry, Expired(domain), now)

    def _step(self, domain: str, entry: _Entry, event: Event, now: float) -> list[Effect]:
        row = TRANSITIONS.get((entry.state, type(event)))
        if row is None:
            raise IllegalTransition(f"{type(event).__name__} for {domain} "
                                    f"in state {entry.state.value}")
        handler = getattr(self, "_on" + type(event).__name__)
        effects, new = handler(domain, entry, event, now)
        assert new in row[1], f"{row[0]}: {entry.state.value} -> {new.value}"
        if self.trace is not None:
            self.trace(domain, (entry.state, type(event)), row[0], new)
        entry.state = new
        if new is S.UNKNOWN:
            self._entries.pop(domain, None)
        else:
            self._entries[domain] = entry
        return effects

    def _decideAll(self, domain: str, entry: _Entry, replica: JID | None) -> list[Effect]:
        decided: list[Effect] = [Decided(join, domain, replica) for join in entry.waiting]
        entry.waiting = {}
        return decided

    def _onJoinWanted(self, domain: str, entry: _Entry, event: JoinWanted,
                      now: float) -> tuple[list[Effect], DomainState]:
        if entry.state is S.UNKNOWN:
            self._queries += 1
            entry.query, entry.since = self._queries, now
            entry.waiting[event.join] = None
            return [SendDiscoInfo(domain, entry.query),
                    StartTimer(timerKey(domain, entry.query), self.timeout)], S.ASKING
        if entry.state is S.ASKING:
            entry.waiting[event.join] = None
            return [], S.ASKING
        return [Decided(event.join, domain, entry.replica)], entry.state

    def _settle(self, domain: str, entry: _Entry, replica: JID | None,
                now: float) -> list[Effect]:
        effects: list[Effect] = []
        if entry.state is S.ASKING:
            assert entry.query is not None
            effects.append(CancelTimer(timerKey(domain, entry.query)))
        effects.extend(self._decideAll(domain, entry, replica))
        entry.query, entry.replica, entry.since = None, replica, now
        return effects

    def _onDiscoAnswered(self, domain: str, entry: _Entry, event: DiscoAnswered,
                         now: float) -> tuple[list[Effect], DomainState]:
        replica = event.answer.replica
        return (self._settle(domain, entry, replica, now),
                S.INCAPABLE if replica is None else S.CAPABLE)

    def _onDiscoFailed(self, domain: str, entry: _Entry, event: DiscoFailed,
                       now: float) -> tuple[list[Effect], DomainState]:
        effects = self._settle(domain, entry, None, now)
        return effects, S.UNKNOWN if event.condition in UNREACHABLE else S.INCAPABLE

    def _onDiscoTimedOut(self, domain: str, entry: _Entry, event: DiscoTimedOut,
                         now: float) -> tuple[list[Effect], DomainState]:
        # The query stays out (and keeps its start time): a late answer
        # still counts, and the ttl bounds how long it is awaited.
        return self._decideAll(domain, entry, None), S.OVERDUE

    def _onLinkDropped(self, domain: str, entry: _Entry, event: LinkDropped,
                       now: float) -> tuple[list[Effect], DomainState]:
        if entry.state in (S.CAPABLE, S.INCAPABLE):
            return [], S.UNKNOWN
        return [], entry.state

    def _onExpired(self, domain: str, entry: _Entry, event: Expired,
                   now: float) -> tuple[list[Effect], DomainState]:
        return [], S.UNKNOWN
