# -*- test-case-name: tests.dmuc.test_engines -*-
"""
The life of a primary's attachments (design sections 2 and 8): attaching
a domain's replica for its first entrant, the room's epoch, outcast lists
and fresh snapshots, detaching, what replicas answer, and the stored
epochs and attachments brought back at start. L{Attaching} is the part
of L{xmuc.dmuc.primary.Primary} that does it; the rest of the primary
rewrites the room engine's effects.
"""

from __future__ import annotations

import random as _random
from typing import Any, Callable

from twisted.words.protocols.jabber.jid import JID

from xmuc.core.errors import Forbidden, ItemNotFound
from xmuc.dmuc.attachment import (
    AttachState,
    Attachment,
    RoomLinks,
    anonymityOf,
    attachRequest,
    outcastsOf,
    request,
    snapshot,
)
from xmuc.dmuc.persist import (
    AttachReplica,
    DetachReplica,
    DropEpoch,
    RestoredAttachment,
    RestoredRoom,
    StartEpoch,
)
from xmuc.dmuc.netjoin import abandoned
from xmuc.dmuc.resync import KeepLink, ReleaseLink, ResyncIn
from xmuc.dmuc.rewrite import attachTimer
from xmuc.dmuc.wire import Detach, Outcasts
from xmuc.muc import events as ev
from xmuc.muc.effects import CancelTimer, Send, StartTimer
from xmuc.muc.model import Role
from xmuc.muc.room import Room
from xmuc.muc.service import MUCService
from xmuc.muc.stanzas import iqResult


class Attaching:
    """
    The attachments of a primary's rooms (mixed into L{Primary
    <xmuc.dmuc.primary.Primary>}, which sets these attributes up and
    provides C{handle}).

    @ivar epochs: each room's epoch, by room, once it has one.
    @ivar restored: by room and domain, the attachments the store held
        at start that no attach has replaced yet.
    """

    service: MUCService
    random: _random.Random
    keepalive: int
    attachTimeout: float
    replicas: dict[str, JID]
    rooms: dict[str, RoomLinks]
    epochs: dict[str, str]
    restored: dict[str, dict[str, RestoredAttachment]]
    _version: int
    _linked: dict[str, int]
    _origins: dict[str, Any]
    # Provided by the netjoin's part (xmuc.dmuc.intake, xmuc.dmuc.netjoin).
    _resync: Callable[[str, Any, float], list[Any]]
    _syncAnswered: Callable[[str, Attachment, Any, float], list[Any]]

    def handle(self, event: Any, now: float) -> list[Any]:
        raise NotImplementedError()

    def load(self, rooms: list[RestoredRoom]) -> list[Any]:
        """
        The store's DMUC state at start, after the service's rooms loaded.
        Every start is a new epoch (the rooms' occupants were in memory):
        the stored epochs are not taken up again, and the next attach or
        resync of a room starts one. The stored attachments of rooms that
        still exist are kept aside (L{restored}, numbering from 0 in the
        new epoch), so that an attach first detaches a copy the replica
        may still hold; the state of rooms that did not survive (temporary
        ones) is dropped.
        """
        out: list[Any] = []
        for stored in rooms:
            if stored.room not in self.service.rooms:
                out.append(DropEpoch(stored.room))
                continue
            if stored.attachments:
                self.restored[stored.room] = {
                    JID(a.replica).host: RestoredAttachment(a.replica, 0)
                    for a in stored.attachments}
        return out

    def _linkChanged(self, domain: str, delta: int) -> list[Any]:
        """
        An attachment on C{domain} came (C{delta} 1) or went (-1): the link
        to the domain is kept up while there is one (L{KeepLink}).
        """
        count = self._linked.get(domain, 0) + delta
        if count > 0:
            self._linked[domain] = count
            return [KeepLink(domain)] if count == 1 and delta > 0 else []
        self._linked.pop(domain, None)
        return [ReleaseLink(domain)]

    # Attach, outcasts, detach

    def _attachFor(self, room: Room, entrantJid: JID, links: RoomLinks | None,
                   out: list[Any], now: float) -> RoomLinks | None:
        """
        Attach the entrant's domain when it has a replica and is neither
        attached nor served classically here: the C{<attach>} goes out at
        once (into C{out}), the snapshot waits for its answer. A room
        without an epoch gets one. A stored attachment of the domain (from
        before a restart) is detached first, since the replica's copy may
        show sessions the room lost, and its C{seq} goes on.
        """
        domain = entrantJid.host
        replica = self.replicas.get(domain)
        if replica is None or (links is not None and (
                domain in links.attached or domain in links.classic)):
            return links
        if links is None:
            links = self.rooms[room.name] = RoomLinks(self._epochOf(room.name, out))
        attachment = Attachment(replica, domain, self._id(), anonymityOf(room),
                                room.config.historyLength, outcasts=outcastsOf(room, domain))
        old = self.restored.get(room.name, {}).pop(domain, None)
        if old is not None:
            attachment.seq = old.seq
            out.append(request(room, Attachment(JID(old.replica), domain, "", attachment.anonymity,
                                                0), Detach(), self._id()))
            if old.replica != replica.full():
                out.append(DetachReplica(room.name, old.replica))
        out.append(AttachReplica(room.name, replica.full(), now, attachment.seq))
        links.attached[domain] = attachment
        out.extend(self._linkChanged(domain, 1))
        occupant = room.occupantOf(entrantJid)
        moderator = occupant is not None and occupant.role is Role.MODERATOR
        out.append(attachRequest(room, links, attachment, self.keepalive, attachment.iqId))
        out.append(StartTimer(attachTimer(room.name, domain), self.attachTimeout))
        attachment.waiting.append(([], snapshot(
            room, attachment, occupant.nick if occupant else "", moderator)))
        return links

    def _settle(self, room: Room, links: RoomLinks, seen: set[JID], event: Any) -> list[Any]:
        """
        After a turn: the domains' sessions as the room now holds them,
        detaches where none are left (or the room ended), new ban lists.
        """
        out: list[Any] = []
        live = self.service.rooms.get(room.name) is room
        for jid in seen:
            attachment = links.attached.get(jid.host)
            if attachment is not None:
                full, before = jid.full(), len(attachment.sessions)
                if live and room.occupantOf(jid) is not None:
                    attachment.sessions.add(full)
                else:
                    attachment.sessions.discard(full)
                    for nick in [n for n, j in attachment.entered.items() if j == jid]:
                        del attachment.entered[nick]
                if len(attachment.sessions) != before:
                    self._version += 1
        for domain, attachment in list(links.attached.items()):
            owing = attachment.state in (AttachState.SPLIT, AttachState.RESYNCING)
            if not live or (not attachment.sessions and not owing):
                # A replica that cannot hear keeps its attachment until the
                # netjoin, so that its resync finds the room's view.
                out.extend(self._detach(room, links, attachment, live))
                continue
            if isinstance(event, (ev.AdminSetIn, ev.OwnerSetIn)):
                # Either may change the affiliations (the owner form's
                # owner and admin lists) the ban list depends on.
                outcasts = outcastsOf(room, domain)
                if outcasts != attachment.outcasts and owing:
                    attachment.outcastsOwed = True
                elif outcasts != attachment.outcasts:
                    attachment.outcasts = outcasts
                    out.extend(attachment.through([], [
                        request(room, attachment, Outcasts(outcasts), self._id())]))
            if isinstance(event, ev.OwnerSetIn) and (
                    attachment.anonymity is not anonymityOf(room)
                    or attachment.history != room.config.historyLength
                    or attachment.broadcast != room.config.presenceBroadcast):
                # The replica shows real JIDs, keeps history and shows
                # presences by what the attach said: a configuration that
                # changes any of them attaches again, with a fresh snapshot
                # (after the netjoin when the replica cannot hear now).
                if owing:
                    attachment.refresh = True
                    continue
                out.extend(attachment.through([], self._refresh(room, attachment, "", any(
                    o.role is Role.MODERATOR for o in room.occupants.values()
                    if o.jid.host == domain))))
        return out + self._unused(room.name, links)

    def _unused(self, name: str, links: RoomLinks) -> list[Any]:
        """
        No replica holds a copy of the room any more: the next attach
        starts a new epoch, so no numbering is ever taken up again.
        """
        if links.attached:
            return []
        out: list[Any] = []
        if self.rooms.get(name) is links:
            del self.rooms[name]
        if self.epochs.pop(name, None) is not None:
            self.restored.pop(name, None)
            self._origins.pop(name, None)
            out.append(DropEpoch(name))
        return out

    def _detachIfEmpty(self, room: Room, links: RoomLinks) -> list[Any]:
        """
        After a netjoin: an attachment whose domain has nobody left in the
        room goes now that its replica hears.
        """
        out: list[Any] = []
        for attachment in list(links.attached.values()):
            if not attachment.sessions and attachment.live:
                out.extend(self._detach(room, links, attachment))
        return out + self._unused(room.name, links)

    def _detach(self, room: Room, links: RoomLinks, attachment: Attachment,
                live: bool = True) -> list[Any]:
        del links.attached[attachment.domain]
        self._version += 1
        # The room's end drops its whole DMUC state (DropEpoch) instead.
        stored: list[Any] = [DetachReplica(room.name, attachment.replica.full())] if live else []
        stored.extend(abandoned(room.address, attachment))
        stored.extend(self._linkChanged(attachment.domain, -1))
        # While the epoch lasts, an attach of this domain again goes on
        # from this seq (after a detach, in case this one is lost).
        self.restored.setdefault(room.name, {})[attachment.domain] = RestoredAttachment(
            attachment.replica.full(), attachment.seq)
        if attachment.state is AttachState.ATTACHING:
            # Only the attach reached the replica: what waited goes
            # classically, and a detach follows the attach (on the same
            # link), so that a replica that takes it drops the copy.
            return [CancelTimer(attachTimer(room.name, attachment.domain)),
                    *(e for classic, _ in attachment.waiting for e in classic),
                    request(room, attachment, Detach(), self._id()), *stored]
        return [request(room, attachment, Detach(), self._id()), *stored]

    def _epochOf(self, name: str, out: list[Any]) -> str:
        """
        The room's epoch, started now (into C{out}) when it has none.
        """
        epoch = self.epochs.get(name)
        if epoch is None:
            epoch = self.epochs[name] = "%032x" % self.random.getrandbits(128)
            out.append(StartEpoch(name, epoch))
        return epoch

    def _refresh(self, room: Room, attachment: Attachment, entrantNick: str,
                 seeing: bool) -> list[Send]:
        """
        A fresh attach and snapshot for an attached replica (its copy lacks
        real JIDs a moderator entering there must see, or the room's
        anonymity, history length or presence broadcast changed).
        """
        links = self.rooms[room.name]
        return [attachRequest(room, links, attachment, self.keepalive, self._id()),
                *snapshot(room, attachment, entrantNick, seeing)]

    def _id(self) -> str:
        return "dmuc-%016x" % self.random.getrandbits(64)

    # What replicas send

    def _fromReplica(self, domain: str, event: Any, now: float) -> list[Any]:
        """
        A replica answers an attach or a C{<sync/>} (result or error),
        refuses an enter (C{<forbidden/>}: the occupant is removed), no
        longer knows the room (C{<item-not-found/>}: L{_lost}), resyncs
        (L{xmuc.dmuc.intake}) or pings the room; other answers are
        dropped. Anything else is refused: C{item-not-found} for a room
        that does not use this replica (a primary that restarted), else
        C{forbidden}, since a replica never speaks for the room or
        changes it.
        """
        name = event.to.user
        attachment = self.attachment(name, domain) if name else None
        if isinstance(event, ResyncIn):
            return self._resync(domain, event, now)
        if isinstance(event, ev.IQReplyIn):
            if attachment is not None and attachment.state is AttachState.ATTACHING \
                    and event.id == attachment.iqId:
                return self._attachAnswered(name, attachment, event.kind == "result")
            if attachment is not None and attachment.syncId and event.id == attachment.syncId:
                return self._syncAnswered(name, attachment, event, now)
            return []
        if isinstance(event, ev.ErrorIn):
            if event.name == "presence" and event.condition == "forbidden" and \
                    attachment is not None and event.to.resource:
                return self._refusedEnter(name, attachment, event.to.resource, now)
            if event.condition == "item-not-found" and attachment is not None and \
                    attachment.state in (AttachState.ATTACHED, AttachState.SPLIT):
                return self._lost(name, attachment, now)
            return []
        if isinstance(event, ev.PingIn) and (name is None or attachment is not None):
            return [Send(iqResult(event))]
        if attachment is None:
            raise ItemNotFound("This room does not use your replica")
        raise Forbidden("A replica does not act in the room")

    def _lost(self, name: str, attachment: Attachment, now: float) -> list[Any]:
        """
        The replica no longer holds the room (it restarted: its sessions
        ended with it, and a restored copy is never served): the
        attachment goes, and the domain's sessions leave the room as they
        would have, served classically, so that they can enter again
        through a fresh attach. (A replica that restarted resyncs instead
        when it can: its dead sessions leave through its resync.)
        """
        links = self.rooms[name]
        del links.attached[attachment.domain]
        self._version += 1
        replica = attachment.replica.full()
        self.restored.setdefault(name, {})[attachment.domain] = RestoredAttachment(
            replica, attachment.seq)
        out: list[Any] = [DetachReplica(name, replica), *self._linkChanged(attachment.domain, -1)]
        room = self.service.rooms.get(name)
        for full in sorted(attachment.sessions):
            session = JID(full)
            occupant = room.occupantOf(session) if room is not None else None
            if occupant is not None:
                out.extend(self.handle(ev.PresenceIn(
                    sender=session, to=JID(f"{room.address}/{occupant.nick}"), id=None,
                    nick=occupant.nick, available=False), now))
        if not links.classic:
            out.extend(self._unused(name, links))
        return out

    def _attachAnswered(self, name: str, attachment: Attachment, ok: bool) -> list[Any]:
        """
        The attach's answer (or its timeout): the copies that waited go to
        the replica, or their classic forms to the domain's users.
        """
        waiting, attachment.waiting = attachment.waiting, []
        done: list[Any] = [CancelTimer(attachTimer(name, attachment.domain))]
        if ok:
            attachment.transition("attach-result")
            return done + [e for _, copies in waiting for e in copies]
        links = self.rooms[name]
        del links.attached[attachment.domain]
        self._version += 1
        links.classic.add(attachment.domain)
        return done + [e for classic, _ in waiting for e in classic] + [
            DetachReplica(name, attachment.replica.full()),
            *self._linkChanged(attachment.domain, -1)]

    def _refusedEnter(self, name: str, attachment: Attachment, nick: str,
                      now: float) -> list[Any]:
        session = attachment.entered.pop(nick, None)
        room = self.service.rooms.get(name)
        if session is None or session.host != attachment.domain or room is None:
            return []
        if room.occupantOf(session) is None:
            return []
        leave = ev.PresenceIn(sender=session, to=JID(f"{room.address}/{nick}"), id=None,
                              nick=nick, available=False)
        return self.handle(leave, now)
