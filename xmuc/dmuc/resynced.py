# -*- test-case-name: tests.dmuc.test_netjoin -*-
"""
The end of a resync on the primary (design section 6, steps 2 to 4;
docs/dmuc-decisions.md, "Primary side of netsplit and netjoin"):
L{Answering}, mixed into L{Primary <xmuc.dmuc.primary.Primary>}, hands
the spooled messages to the room and sends the answer.

  - Each spooled message is the room's input as if its sender had just
    sent it (still an occupant by that real JID, with voice, the room's
    other checks) except flood control, stamped with when it was sent;
    one the room already took in this epoch, or that the archive holds
    (same sender bare JID and origin-id), is dropped; a refusal is kept
    for the answer's C{<refused/>}.
  - The answer: the iq result with C{<resynced epoch mode last-seq
    count/>}, then C{count} marked stanzas. A replay is the log after the
    replica's C{last-seq} (what the store read) and what was marked since
    (held), when the epoch is the room's and all of it is there; else a
    snapshot as after an attach. The log is acknowledged up to
    C{last-seq}.
"""

from __future__ import annotations

from typing import Any, Callable

from twisted.words.protocols.jabber.error import StanzaError

from xmuc.core.errors import DOMAIN_ERRORS, toStanzaError
from xmuc.dmuc.attachment import (
    AttachState,
    Attachment,
    RoomLinks,
    outcastsOf,
    request,
    snapshot,
)
from xmuc.dmuc.intake import Intake
from xmuc.dmuc.netjoin import Pending
from xmuc.dmuc.persist import LogBroadcasts
from xmuc.dmuc.resync import AcknowledgeBroadcasts, Refused, ResyncRead, resyncedElement
from xmuc.dmuc.wire import Outcasts, ResyncMode
from xmuc.muc.effects import Send
from xmuc.muc.model import Role
from xmuc.muc.room import Room
from xmuc.muc.stanzas import stanza


class Answering(Intake):
    """
    The spool and the answer of a resync.
    """

    _refresh: Callable[[Room, Attachment, str, bool], list[Send]]
    _detachIfEmpty: Callable[[Room, RoomLinks], list[Any]]

    def _applySpool(self, room: Room, attachment: Attachment, archived: frozenset[Any],
                    now: float) -> list[Any]:
        """
        The spooled messages, in the order spooled, to the room.
        """
        pending: Pending = attachment.pending
        seen = self._origins.get(room.name, {})
        out: list[Any] = []
        for spooled in pending.spooled:
            key = (spooled.sender.userhost(), spooled.originId)
            if spooled.originId is not None and (key in seen or key in archived):
                self.stats.spooledDuplicates += 1
                continue
            try:
                out.extend(self.handle(spooled.event, now))
            except (StanzaError, *DOMAIN_ERRORS) as e:
                pending.refused.append(Refused(spooled.originId or spooled.event.id or "",
                                               spooled.sender, toStanzaError(e).condition))
                self.stats.spooledRefused += 1
                continue
            self.stats.spooledAccepted += 1
            seen = self._origins.get(room.name, {})
        return out

    def _answer(self, room: Room, links: RoomLinks, attachment: Attachment,
                read: ResyncRead, now: float) -> list[Any]:
        """
        The iq result and the stanzas it announces; the attachment goes
        live again (or split, when the link died meanwhile), and what was
        owed while it was not live follows.
        """
        pending: Pending = attachment.pending
        attachment.pending = None
        stanzas = self._replay(attachment, pending, read)
        mode = ResyncMode.REPLAY
        if stanzas is None:
            mode = ResyncMode.SNAPSHOT
            domain = attachment.domain
            seeing = any(o.role is Role.MODERATOR and o.jid.host == domain
                         for o in room.occupants.values())
            stanzas = snapshot(room, attachment, "", seeing)
            self.stats.snapshots += 1
        else:
            self.stats.replayed += len(stanzas)
        attachment.held = []
        self.stats.resyncs += 1
        iq = stanza("iq", room.address, pending.sender.full(), "result", pending.iqId)
        iq.addChild(resyncedElement(links.epoch, mode, attachment.seq, len(stanzas),
                                    tuple(pending.refused)))
        out: list[Any] = [Send(iq), *stanzas]
        if attachment.unlogged:
            replica = attachment.replica.full()
            out.append(LogBroadcasts(room.name, tuple(
                (replica, seq, element) for seq, element in attachment.unlogged)))
            attachment.unlogged = []
        lastSeq = pending.resync.lastSeq
        if pending.replayable and 0 < lastSeq <= pending.base:
            out.append(AcknowledgeBroadcasts(room.name, attachment.replica.full(), lastSeq))
        down = attachment.domain in self.down
        attachment.transition("answered-while-down" if down else "answered")
        logged, attachment.loggedSplit = attachment.loggedSplit, 0
        if not down:
            attachment.splitAt = None
            out.extend(self._owed(room, attachment))
        out.extend(self._netjoinDone(attachment.domain, room.name, now, mode.value, logged,
                                     len(stanzas) if mode is ResyncMode.REPLAY else 0))
        if not down:
            out.extend(self._detachIfEmpty(room, links))
        return out

    def _replay(self, attachment: Attachment, pending: Pending,
                read: ResyncRead) -> list[Any] | None:
        """
        The replay, or L{None} when only a snapshot will do: another
        epoch, a new attachment, a C{last-seq} never sent, a log that no
        longer reaches back, or a gap anywhere.
        """
        lastSeq = pending.resync.lastSeq
        if not pending.replayable or lastSeq > pending.base:
            return None
        stanzas: list[Any] = []
        if read.logged is not None:
            if not read.complete or [seq for seq, _ in read.logged] != list(
                    range(lastSeq + 1, attachment.heldFrom + 1)):
                return None
            stanzas.extend(Send(element) for _, element in read.logged)
        elif lastSeq != attachment.heldFrom:
            return None
        if len(attachment.held) != attachment.seq - attachment.heldFrom:
            return None
        return stanzas + attachment.held

    def _owed(self, room: Room, attachment: Attachment) -> list[Any]:
        """
        What could not go while the replica was not live: a fresh attach
        and snapshot, the updated ban list.
        """
        out: list[Any] = []
        if attachment.refresh:
            attachment.refresh = False
            domain = attachment.domain
            out.extend(self._refresh(room, attachment, "", any(
                o.role is Role.MODERATOR for o in room.occupants.values()
                if o.jid.host == domain)))
        if attachment.outcastsOwed:
            attachment.outcastsOwed = False
            attachment.outcasts = outcastsOf(room, attachment.domain)
            out.append(request(room, attachment, Outcasts(attachment.outcasts), self._id()))
        return out


__all__ = ["Answering", "AttachState"]
