# -*- test-case-name: tests.s2s.test_link -*-
"""
What other parts of the node learn about server-to-server links: events as
frozen values, so that the distributed room engine (pure, with no s2s
import) can consume them (../shared/design/dmuc.md section 5).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Union

from twisted.words.xish import domish

#: The states of an outgoing link, and the transitions allowed between them.
LINK_TRANSITIONS: dict[str, frozenset[str]] = {
    # No connection and nothing waiting.
    "idle": frozenset({"connecting"}),
    # Resolving, connecting, negotiating TLS and authenticating.
    "connecting": frozenset({"up", "down"}),
    # Authenticated: stanzas flow.
    "up": frozenset({"idle", "down"}),
    # The last attempt failed, or an established stream broke; the next
    # stanza tries again.
    "down": frozenset({"connecting"}),
}


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

    @ivar reason: a short human-readable explanation.
    @ivar condition: the stanza error condition queued stanzas were
        bounced with (C{remote-server-not-found} or
        C{remote-server-timeout}).
    """

    local: str
    remote: str
    reason: str
    condition: str


@dataclass(frozen=True)
class LinkIdle:
    """
    The link was closed after a quiet time, or the peer closed it cleanly;
    it reopens on demand.
    """

    local: str
    remote: str


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


def checkTransition(old: str, new: str) -> None:
    """
    @raise IllegalTransition: when C{old} -> C{new} is not in the table.
    """
    if new not in LINK_TRANSITIONS[old]:
        raise IllegalTransition(f"link state {old} -> {new}")
