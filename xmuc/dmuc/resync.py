# -*- test-case-name: tests.dmuc.test_netjoin -*-
"""
The values of the primary's side of netsplits and netjoins
(docs/dmuc-decisions.md, "Netsplit and netjoin" and "Primary side of
netsplit and netjoin"): the input a replica's C{<resync/>} becomes, the
effects the primary asks the glue for (reads, link holds, reports), what
the glue hands back, and the counters a metrics endpoint can export.

L{Sync} and L{Refused} with L{resyncedElement} are a private stand-in for
the wire values the replica's side adds to L{xmuc.dmuc.wire} (same element
shapes: C{<sync epoch seq/>}, C{<refused origin-id jid condition/>} inside
C{<resynced/>}); once both sides are merged, C{wire.Sync} and
C{wire.Resynced(..., refused=...)} replace them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from twisted.words.protocols.jabber.jid import JID
from twisted.words.xish import domish

from xmuc.dmuc.edge import dmucElement
from xmuc.dmuc.wire import Resync, ResyncMode, Resynced
from xmuc.muc.events import Inbound

# Input


@dataclass(frozen=True)
class ResyncIn(Inbound):
    """
    An iq set holding a C{<resync/>} (L{xmuc.dmuc.wire.Resync}), parsed at
    the edge by the glue, to the room's bare JID.
    """

    resync: Resync


@dataclass(frozen=True)
class ResyncRead:
    """
    What the glue read for a resync (L{ReadForResync}).

    @ivar logged: C{(seq, stanza)} of the replica's log after C{after},
        oldest first, each stanza as it was (or would have been) sent;
        L{None} when no log was asked for or it could not be read.
    @ivar complete: C{logged} reaches back to C{after + 1} and on to the
        attachment's last logged C{seq}.
    @ivar archived: C{(sender bare JID, origin-id)} of the messages of the
        spooling senders the archive holds since the split began.
    """

    logged: tuple[tuple[int, Any], ...] | None = None
    complete: bool = False
    archived: frozenset[tuple[str, str]] = frozenset()


# Effects


@dataclass(frozen=True)
class ReadForResync:
    """
    Read, in store order (after every write asked for before it), what a
    resync needs, then hand it to L{Primary.resyncRead
    <xmuc.dmuc.primary.Primary>} as a L{ResyncRead}.

    @ivar after: read the replica's broadcast log after this C{seq}
        (L{None}: no replay is possible, so no log).
    @ivar senders: bare JIDs whose archived messages since C{since} to
        look up by origin-id (empty: none).
    """

    room: str
    domain: str
    replica: str
    after: int | None
    senders: tuple[str, ...] = ()
    since: float = 0.0


@dataclass(frozen=True)
class AcknowledgeBroadcasts:
    """
    The replica holds the room's broadcasts up to C{seq} (its resync's
    C{last-seq}): record it and trim the log
    (C{IPrimaryDMUCStore.acknowledgeBroadcasts}).
    """

    room: str
    replica: str
    seq: int


@dataclass(frozen=True)
class KeepLink:
    """
    The primary has an attachment on C{domain} now: keep the s2s link to
    it up (reconnected with back-off, pinged after silence) until
    L{ReleaseLink}.
    """

    domain: str


@dataclass(frozen=True)
class ReleaseLink:
    domain: str


@dataclass(frozen=True)
class SplitReport:
    """
    For the log (info): the link to C{domain} was found dead; C{rooms} of
    this service had an attachment there.
    """

    domain: str
    reason: str
    rooms: int


@dataclass(frozen=True)
class NetjoinReport:
    """
    For the log (info): every room split from C{domain} has converged.

    @ivar logged: stanzas numbered and logged, not sent, during the split.
    @ivar replayed: stanzas sent in replay answers.
    @ivar modes: C{(mode, rooms)}: how the resyncs were answered
        (C{replay}, C{snapshot}, or C{none} for a room whose replica was
        up to date and asked for nothing).
    @ivar seconds: from the split's detection to convergence.
    """

    domain: str
    rooms: int
    logged: int
    replayed: int
    modes: tuple[tuple[str, int], ...]
    seconds: float


# Counters


@dataclass
class NetjoinStats:
    """
    The primary's split and netjoin counters since start, for a metrics
    endpoint (documented in docs/dmuc-decisions.md).

    @ivar splits: splits detected (one per domain per split, whatever the
        number of rooms).
    @ivar logged: stanzas logged and not sent because their replica was
        split.
    @ivar replayed: logged stanzas sent in replay answers.
    @ivar snapshots: resyncs answered with a snapshot.
    @ivar resyncs: resyncs answered.
    @ivar spooledAccepted: spooled messages the rooms took.
    @ivar spooledDuplicates: spooled messages dropped as already taken.
    @ivar spooledRefused: spooled messages refused (sent back as
        C{<refused/>}).
    @ivar lastDetected: when the last split was detected (POSIX time).
    @ivar lastConvergence: seconds from the last converged split's
        detection to its convergence.
    """

    splits: int = 0
    logged: int = 0
    replayed: int = 0
    snapshots: int = 0
    resyncs: int = 0
    spooledAccepted: int = 0
    spooledDuplicates: int = 0
    spooledRefused: int = 0
    lastDetected: float | None = None
    lastConvergence: float | None = None


@dataclass
class Netsplit:
    """
    One split of the pair of this service and C{domain}, until every room
    it split has converged.

    @ivar pending: rooms sent a C{<sync/>} and not yet converged.
    """

    domain: str
    since: float
    rooms: set[str] = field(default_factory=set)
    pending: set[str] = field(default_factory=set)
    logged: int = 0
    replayed: int = 0
    modes: dict[str, int] = field(default_factory=dict)

    def report(self, now: float) -> NetjoinReport:
        return NetjoinReport(self.domain, len(self.rooms), self.logged, self.replayed,
                             tuple(sorted(self.modes.items())), now - self.since)


# Wire stand-in (see the module docstring)


@dataclass(frozen=True)
class Sync:
    """
    C{<sync epoch seq/>}: the primary's last C{seq} for a replica, sent
    when the link to its domain is up again (iq set from the room).
    """

    epoch: str
    seq: int

    def render(self) -> domish.Element:
        return dmucElement("sync", epoch=self.epoch, seq=str(self.seq))


@dataclass(frozen=True)
class Refused:
    """
    A spooled message the room did not take: C{<refused origin-id jid
    condition/>}, a child of C{<resynced/>}.
    """

    originId: str
    jid: JID
    condition: str

    def render(self) -> domish.Element:
        return dmucElement("refused", origin_id=self.originId, jid=self.jid.full(),
                           condition=self.condition)


def resyncedElement(epoch: str, mode: ResyncMode, lastSeq: int, count: int,
                    refused: tuple[Refused, ...] = ()) -> domish.Element:
    """
    The C{<resynced/>} of the resync's iq result, with its C{<refused/>}
    children.
    """
    element = Resynced(epoch, mode, lastSeq, count).render()
    for each in refused:
        element.addChild(each.render())
    return element
