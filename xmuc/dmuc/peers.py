# -*- test-case-name: tests.dmuc.test_peers -*-
"""
What the distributed room engines learn about the other node of a pair:
the pure events the glue derives from the s2s link layer with
L{xmuc.core.links.splitSignal} (docs/dmuc-decisions.md, "Netsplit and
netjoin"). Both the primary and the replica take them and apply them to
every room shared with that domain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from xmuc.core.links import splitSignal


@dataclass(frozen=True)
class PeerDown:
    """
    This node's link to C{domain} is dead: a split begins (or goes on).

    @ivar reason: a short text for the log (C{no answer to keepalive}).
    """

    domain: str
    reason: str = ""


@dataclass(frozen=True)
class PeerUp:
    """
    This node's link to C{domain} is authenticated again: a netjoin may
    begin.
    """

    domain: str


def peerEvent(event: Any) -> PeerDown | PeerUp | None:
    """
    The engines' event for a link event, or L{None} when it says nothing
    of the pair's health.
    """
    signal = splitSignal(event)
    if signal == "up":
        return PeerUp(event.remote)
    if signal == "down":
        reason = getattr(event, "reason", "") or getattr(event, "condition", "")
        return PeerDown(event.remote, reason)
    return None
