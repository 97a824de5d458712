# -*- test-case-name: tests.s2s.test_link,tests.s2s.test_linkhealth -*-
"""
What other parts of the node learn about server-to-server links: events as
frozen values, so that the distributed room engine (pure, with no s2s
import) can consume them (../shared/design/dmuc.md section 5); the state
table of a link with the event named in each transition; and the
reconnection back-off (docs/links.md is the operator's view).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Union

from twisted.words.xish import domish

#: The states of an outgoing link and, for each, the events that move it
#: and where to (h11 style: an event a state does not list is illegal).
LINK_TRANSITIONS: dict[str, dict[str, str]] = {
    # No connection and nothing waiting.
    "idle": {
        # A stanza or a dialback verification to send, or a watcher asked
        # for the link to be kept up.
        "demand": "connecting",
    },
    # Resolving, connecting, negotiating TLS and authenticating.
    "connecting": {
        # The stream is authenticated.
        "authenticated": "up",
        # Every target failed, timed out or refused us, or the node stops.
        "failed": "down",
    },
    # Authenticated: stanzas flow.
    "up": {
        # Closed after idle_timeout, or the peer closed its stream cleanly:
        # both sides fine.
        "closedCleanly": "idle",
        # The connection was lost or reset.
        "broken": "down",
        # A keepalive ping went unanswered for keepalive seconds (a dead
        # route): the transport is aborted.
        "unanswered": "down",
    },
    # The last attempt failed or an established link died; nothing is
    # scheduled.
    "down": {
        # Something to send, or a watcher keeps the link up: wait for the
        # back-off (at once when it is over).
        "demand": "backoff",
    },
    # Waiting for the back-off before the next attempt; stanzas queue.
    "backoff": {
        # The back-off is over.
        "retryDue": "connecting",
        # Nothing waits any more (the last watcher released the link).
        "released": "down",
        # The node stops: what was queued bounces.
        "stopping": "down",
    },
}

#: The share of a back-off delay that jitter may take off (0.25: a delay
#: of 8 s becomes 6 to 8 s).
BACKOFF_JITTER = 0.25


def backoffDelay(failures: int, first: float, maximum: float, random: Any) -> float:
    """
    How long a link waits before its next attempt after C{failures}
    consecutive failures (1 or more): C{first} doubling with each failure
    up to C{maximum}, less a random share of up to L{BACKOFF_JITTER} (from
    the node's injected C{random}, so that links that died together do not
    all retry at the same moment).
    """
    base = min(maximum, first * 2.0 ** min(max(failures - 1, 0), 64))
    return base * (1.0 - BACKOFF_JITTER * random.random())


@dataclass(frozen=True)
class LinkUp:
    """
    Stanzas from C{local} now flow to C{remote}.
    """

    local: str
    remote: str


@dataclass(frozen=True)
class LinkDown:
    """
    The link from C{local} to C{remote} could not be made, or broke.

    @ivar reason: a short human-readable explanation (C{no answer to
        keepalive} for a dead route).
    @ivar condition: the stanza error condition queued stanzas were
        bounced with (C{remote-server-not-found} or
        C{remote-server-timeout}).
    @ivar dead: the peer or the route failed (a refused or reset
        connection, a time-out, an unanswered keepalive); False only when
        the link ended because this node is stopping.
    @ivar established: the link was up and broke (False: an attempt to
        make it failed).
    """

    local: str
    remote: str
    reason: str
    condition: str
    dead: bool = True
    established: bool = False


@dataclass(frozen=True)
class LinkIdle:
    """
    The link was closed after a quiet time, or the peer closed it cleanly;
    it reopens on demand and is not retried (unless a watcher keeps it up).

    @ivar dead: always False: both sides were fine (the counterpart of
        L{LinkDown.dead}, so that a watcher may test either event).
    """

    local: str
    remote: str
    dead: bool = False


@dataclass(frozen=True)
class Bounced:
    """
    A stanza for C{remote} went back to its sender with C{condition}.
    """

    local: str
    remote: str
    stanza: domish.Element
    condition: str


LinkEvent = Union[LinkUp, LinkDown, LinkIdle, Bounced]
LinkWatcher = Callable[[LinkEvent], None]


class IllegalTransition(Exception):
    """
    A link was asked to move between two states the table does not join.
    """


def transition(state: str, event: str) -> str:
    """
    The state C{event} moves a link in C{state} to.

    @raise IllegalTransition: when the table does not list C{event} for
        C{state}.
    """
    try:
        return LINK_TRANSITIONS[state][event]
    except KeyError:
        raise IllegalTransition(f"link state {state}: no transition on {event}") from None


#: Bounce conditions that mean the other server cannot be reached (design
#: section 5), as opposed to a refusal by a server that was reached.
UNREACHABLE = frozenset({"remote-server-not-found", "remote-server-timeout"})


def splitSignal(event: LinkEvent) -> str | None:
    """
    What a link event says of the pair of domains (docs/dmuc-decisions.md,
    "Netsplit and netjoin"): C{"down"} when the peer or the route failed
    (a dead L{LinkDown}, or a stanza bounced as unreachable), C{"up"} when
    the link is authenticated again, L{None} for the rest (an idle or clean
    close, a node stopping, a refusal by a server that was reached).
    """
    if isinstance(event, LinkUp):
        return "up"
    if isinstance(event, LinkDown):
        return "down" if event.dead else None
    if isinstance(event, Bounced):
        return "down" if event.condition in UNREACHABLE else None
    return None
