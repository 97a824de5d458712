# -*- test-case-name: tests.dmuc.test_netjoin -*-
"""
The primary's side of netsplits and netjoins (design sections 5 and 6;
docs/dmuc-decisions.md, "Netsplit and netjoin" and "Primary side of
netsplit and netjoin"). L{Netjoining} is the part of L{Primary
<xmuc.dmuc.primary.Primary>} that follows the link to each replica's
domain:

  - L{PeerDown}: every attachment on that domain is split: what the room
    marks for its replica is numbered and logged, not sent.
  - L{PeerUp}: each of them goes live again and gets a C{<sync epoch
    seq/>}, so that a replica that missed something asks for a resync.
  - A resync (L{xmuc.dmuc.intake}, then L{xmuc.dmuc.resynced}): the
    replica's occupants, its spooled messages, the replay or snapshot.

Each split of a domain is followed until every room it split has
converged (a C{<sync/>} answered with nothing to resync, or a resync
answered): then one report for the log, and the counters of
L{NetjoinStats}.
"""

from __future__ import annotations

import random as _random
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable

from twisted.words.protocols.jabber.error import StanzaError
from twisted.words.protocols.jabber.jid import JID

from xmuc.dmuc.attachment import AttachState, Attachment, RoomLinks, request
from xmuc.dmuc.peers import PeerDown, PeerUp
from xmuc.dmuc.persist import RestoredAttachment
from xmuc.dmuc.resync import Netsplit, NetjoinStats, Refused, ResyncRead, SplitReport, Sync
from xmuc.dmuc.wire import Resync
from xmuc.muc import events as ev
from xmuc.muc.effects import Send
from xmuc.muc.ns import NS_SID
from xmuc.muc.room import Room
from xmuc.muc.service import MUCService
from xmuc.muc.stanzas import stanza

#: Conditions of an answer that mean the stanza never reached the replica.
UNREACHABLE = frozenset({"remote-server-not-found", "remote-server-timeout"})

#: (sender bare JID, origin-id) of messages from replicas' users kept per
#: room, for the spooled messages' duplicates (the archive is asked too).
ORIGINS_KEPT = 2000


@dataclass(frozen=True)
class Spooled:
    """
    A spooled message, checked: its sender, its origin-id (or L{None})
    and the room's input for it, stamped with when it was sent.
    """

    sender: JID
    originId: str | None
    event: ev.GroupchatIn


@dataclass
class Pending:
    """
    A resync being answered.

    @ivar base: the attachment's C{seq} when the resync came.
    @ivar sameEpoch: the replica's epoch is the room's (the primary's view
        of the domain's occupants wins).
    @ivar replayable: also, the attachment was there before (its log
        holds what the replica missed, if it reaches back).
    """

    iqId: str | None
    sender: JID
    resync: Resync
    spooled: list[Spooled]
    base: int
    sameEpoch: bool
    replayable: bool
    refused: list[Refused] = field(default_factory=list)


def originOf(payload: tuple[Any, ...]) -> str | None:
    for child in payload:
        if getattr(child, "name", None) == "origin-id" and child.uri == NS_SID:
            return child.getAttribute("id") or None
    return None


def shape(elements: tuple[Any, ...]) -> tuple[Any, ...]:
    """
    Elements as comparable values (namespaces resolved, attributes
    sorted): whether two presences say the same, however serialised.
    """
    out: list[Any] = []
    for e in elements:
        if hasattr(e, "name"):
            out.append((e.uri, e.name, tuple(sorted(e.attributes.items())),
                        shape(tuple(e.children))))
        elif str(e).strip():
            out.append(str(e))
    return tuple(out)


class Netjoining:
    """
    Splits and netjoins of a primary's attachments (mixed into L{Primary
    <xmuc.dmuc.primary.Primary>}, which sets these attributes up).

    @ivar down: the domains whose link is dead now.
    @ivar stats: the counters (L{NetjoinStats}).
    """

    service: MUCService
    random: _random.Random
    replicas: dict[str, JID]
    rooms: dict[str, RoomLinks]
    epochs: dict[str, str]
    restored: dict[str, dict[str, RestoredAttachment]]
    down: set[str]
    stats: NetjoinStats
    _netsplits: dict[str, Netsplit]
    _origins: dict[str, OrderedDict[tuple[str, str], None]]
    _version: int

    # Provided by Primary and Attaching.

    handle: Callable[[Any, float], list[Any]]
    _id: Callable[[], str]
    _epochOf: Callable[[str, list[Any]], str]
    _linkChanged: Callable[[str, int], list[Any]]
    _lost: Callable[[str, Attachment, float], list[Any]]

    # The link to a domain

    def peerDown(self, event: PeerDown, now: float) -> list[Any]:
        """
        The link to C{event.domain} is dead: its attachments are split (an
        attach still out waits for its answer or timeout).
        """
        domain = event.domain
        self.down.add(domain)
        split: list[str] = []
        for name, links in self.rooms.items():
            attachment = links.attached.get(domain)
            if attachment is None or attachment.state is AttachState.ATTACHING:
                continue
            if attachment.state is AttachState.ATTACHED:
                attachment.splitAt, attachment.loggedSplit = now, 0
                split.append(name)
            attachment.transition("peer-down")
        record = self._netsplits.get(domain)
        if not split:
            return []
        if record is not None:
            record.rooms.update(split)
            return []
        self.stats.splits += 1
        self.stats.lastDetected = now
        self._netsplits[domain] = Netsplit(domain, now, set(split))
        return [SplitReport(domain, event.reason, len(split))]

    def peerUp(self, event: PeerUp, now: float) -> list[Any]:
        """
        The link to C{event.domain} is up: its attachments go live again,
        and each gets a C{<sync/>} with the room's epoch and the last
        C{seq} given to it.
        """
        domain = event.domain
        self.down.discard(domain)
        record = self._netsplits.get(domain)
        out: list[Any] = []
        for name, links in self.rooms.items():
            attachment = links.attached.get(domain)
            room = self.service.rooms.get(name)
            if attachment is None or room is None or attachment.state not in (
                    AttachState.ATTACHED, AttachState.SPLIT):
                continue
            attachment.transition("peer-up")
            attachment.syncId = self._id()
            out.append(request(room, attachment, Sync(links.epoch, attachment.seq),  # type: ignore[arg-type]
                               attachment.syncId))
            if record is not None and name in record.rooms:
                record.pending.add(name)
        return out + self._converged(domain, now)

    def _syncAnswered(self, name: str, attachment: Attachment, event: ev.IQReplyIn,
                      now: float) -> list[Any]:
        """
        The replica answered a C{<sync/>}: a result ends the room's
        netjoin unless a resync is being answered; C{item-not-found} means
        it lost the room (L{_lost}); a bounce leaves it to the link.
        """
        attachment.syncId = ""
        condition = None if event.kind == "result" else errorCondition(event.children)
        if condition == "item-not-found" and attachment.state in (
                AttachState.ATTACHED, AttachState.SPLIT):
            return self._lost(name, attachment, now)
        if condition in UNREACHABLE or attachment.state is AttachState.RESYNCING:
            return []
        logged, attachment.loggedSplit = attachment.loggedSplit, 0
        return self._netjoinDone(attachment.domain, name, now, "none", logged)

    def _netjoinDone(self, domain: str, name: str, now: float, mode: str,
                     logged: int = 0, replayed: int = 0) -> list[Any]:
        record = self._netsplits.get(domain)
        if record is None:
            return []
        record.logged += logged
        record.replayed += replayed
        if name in record.pending:
            record.pending.discard(name)
            record.modes[mode] = record.modes.get(mode, 0) + 1
        return self._converged(domain, now)

    def _converged(self, domain: str, now: float) -> list[Any]:
        record = self._netsplits.get(domain)
        if record is None or record.pending or domain in self.down:
            return []
        del self._netsplits[domain]
        self.stats.lastConvergence = now - record.since
        return [record.report(now)]


def errorCondition(children: tuple[Any, ...]) -> str | None:
    """
    The defined condition of an IQ error's children.
    """
    for child in children:
        if getattr(child, "name", None) == "error":
            for condition in child.elements():
                if condition.uri == "urn:ietf:params:xml:ns:xmpp-stanzas" \
                        and condition.name != "text":
                    return condition.name
    return None


def abandoned(room: str, attachment: Attachment) -> list[Any]:
    """
    A resync whose attachment goes before its answer: its iq gets
    C{item-not-found}.
    """
    pending: Pending | None = attachment.pending
    attachment.pending = None
    if pending is None or pending.iqId is None:
        return []
    iq = stanza("iq", room, pending.sender.full(), "error", pending.iqId)
    iq.addChild(StanzaError("item-not-found", "cancel",
                            "The room no longer uses your replica").getElement())
    return [Send(iq)]
