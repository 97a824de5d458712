# -*- test-case-name: tests.dmuc.test_netjoin -*-
"""
A replica's C{<resync/>} reaching the primary (design section 6, step 1;
docs/dmuc-decisions.md, "Primary side of netsplit and netjoin"):
L{Intake}, mixed into L{Primary <xmuc.dmuc.primary.Primary>}, checks it
whole (a resync speaks for the replica's own domain's users alone),
attaches the replica again when the room has no attachment for it (a
primary that restarted), applies the replica's occupants to the room,
then asks the store for what the answer needs (L{ReadForResync}) or goes
on at once (L{Intake.resyncRead}, then L{xmuc.dmuc.resynced}).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

from twisted.words.protocols.jabber.error import StanzaError
from twisted.words.protocols.jabber.jid import JID

from xmuc.core.errors import DOMAIN_ERRORS, BadRequest, Forbidden, ItemNotFound
from xmuc.core.jid import InvalidJID, parseJID
from xmuc.dmuc.attachment import AttachState, Attachment, RoomLinks, anonymityOf, outcastsOf
from xmuc.dmuc.netjoin import Netjoining, Pending, Spooled, originOf, shape
from xmuc.dmuc.persist import AttachReplica, DetachReplica
from xmuc.dmuc.resync import ReadForResync, ResyncIn, ResyncRead
from xmuc.dmuc.wire import Resync
from xmuc.muc import events as ev
from xmuc.muc.ns import NS_DELAY
from xmuc.muc.parse import parseStanza as parseEvent
from xmuc.muc.room import Room
from xmuc.muc.stanzas import parseStamp


class Intake(Netjoining):
    """
    A resync from a domain's replica, up to its answer.
    """

    _answer: Callable[[Room, RoomLinks, Attachment, ResyncRead, float], list[Any]]
    _applySpool: Callable[[Room, Attachment, frozenset[Any], float], list[Any]]

    # A resync comes

    def _resync(self, domain: str, event: ResyncIn, now: float) -> list[Any]:
        """
        Take a replica's C{<resync/>} (the replica of C{domain}): checked
        whole before anything changes, then the occupants, then (after
        what the store must tell, L{ReadForResync}) the spool and the
        answer.

        @raise ItemNotFound: for a room that does not exist or does not
            use this replica.
        @raise Forbidden: for a resync about users of another domain.
        @raise StanzaError: C{unexpected-request} while an attach or
            another resync of that room is out.
        """
        name = event.to.user
        room = self.service.rooms.get(name) if name and not event.to.resource else None
        links = self.rooms.get(name or "")
        if room is None or (links is not None and domain in links.classic):
            raise ItemNotFound("No such room uses your replica")
        resync = event.resync
        listed = self._listed(room, domain, resync)
        spooled = [self._spooled(room, domain, m.element(), now) for m in resync.spooled]
        attachment = links.attached.get(domain) if links is not None else None
        out: list[Any] = []
        if attachment is not None and attachment.state in (
                AttachState.ATTACHING, AttachState.RESYNCING):
            raise StanzaError("unexpected-request", "wait",
                              "An attach or a resync of this room is under way")
        if attachment is None:
            links, attachment = self._adopt(room, domain, now, out)
            replayable = False
        else:
            attachment.transition("resync")
            replayable = True
        sameEpoch = links.epoch == resync.epoch
        pending = Pending(event.id, event.sender, resync, spooled, attachment.seq, sameEpoch,
                          replayable and sameEpoch)
        attachment.pending, attachment.held, attachment.heldFrom = pending, [], attachment.seq
        out.extend(self._reconcile(room, attachment, listed, sameEpoch, now))
        return out + self._readOrAnswer(room, links, attachment, now)

    def _listed(self, room: Room, domain: str, resync: Resync) -> dict[str, ev.PresenceIn]:
        """
        The replica's occupants, by full JID, as the room's inputs of
        their presences.
        """
        listed: dict[str, ev.PresenceIn] = {}
        for occupant in resync.occupants:
            if occupant.jid.host != domain:
                raise Forbidden("A replica speaks for its own domain's users alone")
            element = occupant.presence.element()
            if element.getAttribute("type") is not None:
                raise BadRequest("A resync lists available presences")
            element["from"] = occupant.jid.full()
            try:
                event = parseEvent(element, parseJID(f"{room.address}/{occupant.nick}"))
            except InvalidJID:
                raise BadRequest(f"Not a nickname: {occupant.nick!r}") from None
            if occupant.jid.full() in listed or not isinstance(event, ev.PresenceIn):
                raise BadRequest(f"{occupant.jid.full()} is listed twice")
            listed[occupant.jid.full()] = event
        return listed

    def _spooled(self, room: Room, domain: str, element: Any, now: float) -> Spooled:
        """
        A spooled message as the room's input: a groupchat message from a
        full JID of the replica's domain, stamped with its C{<delay/>}
        (never later than now).
        """
        try:
            sender = parseJID(element.getAttribute("from", ""))
        except InvalidJID:
            raise BadRequest("A spooled message names its sender") from None
        if sender.host != domain or sender.user is None or sender.resource is None:
            raise Forbidden("A replica speaks for its own domain's users alone")
        if element.getAttribute("type") != "groupchat":
            raise BadRequest("Only groupchat messages are spooled")
        stamp = now
        delays = list(element.elements(NS_DELAY, "delay"))
        for child in delays[:1]:
            try:
                stamp = min(now, parseStamp(child.getAttribute("stamp", "")))
            except ValueError:
                raise BadRequest("A spooled message's delay has no valid stamp") from None
        # The spool's stamp is the replica's note, not the message's: the
        # room sets its own delay at that time.
        element.children = [c for c in element.children if c not in delays]
        event = parseEvent(element, room.jid)
        assert isinstance(event, ev.GroupchatIn)
        return Spooled(sender, originOf(event.payload), replace(event, stamp=stamp))

    def _adopt(self, room: Room, domain: str, now: float,
               out: list[Any]) -> tuple[RoomLinks, Attachment]:
        """
        A resync from the replica of a domain the room has no attachment
        for (the primary restarted, or detached it while it could not
        hear): it is attached again from here, as resyncing, with a new
        epoch when the room has none.
        """
        replica = self.replicas[domain]
        links = self.rooms.get(room.name)
        if links is None:
            links = self.rooms[room.name] = RoomLinks(self._epochOf(room.name, out))
        attachment = Attachment(replica, domain, "", anonymityOf(room),
                                room.config.historyLength, room.config.presenceBroadcast,
                                state=AttachState.RESYNCING,
                                outcasts=outcastsOf(room, domain))
        old = self.restored.get(room.name, {}).pop(domain, None)
        if old is not None:
            attachment.seq = old.seq
            if old.replica != replica.full():
                out.append(DetachReplica(room.name, old.replica))
        out.append(AttachReplica(room.name, replica.full(), now, attachment.seq))
        links.attached[domain] = attachment
        self._version += 1
        out.extend(self._linkChanged(domain, 1))
        return links, attachment

    def _reconcile(self, room: Room, attachment: Attachment,
                   listed: dict[str, ev.PresenceIn], sameEpoch: bool,
                   now: float) -> list[Any]:
        """
        The room takes the replica's occupants: a reconnected client's
        new session replaces the old one, sessions the replica no longer
        lists leave, changed presences are broadcast; sessions the room
        does not hold come in again only with another epoch (through the
        room's join checks, without history), else the room's view wins.
        """
        out: list[Any] = []
        unlisted = [JID(f) for f in sorted(attachment.sessions) if f not in listed]
        new = [p for full, p in listed.items() if full not in attachment.sessions]
        for presence in list(new):
            occupant = room.occupantByNick(presence.nick)
            old = None if occupant is None or occupant.bare != presence.sender.userhost() \
                else next((j for j in unlisted if j.full() in occupant.sessions), None)
            if old is not None:
                unlisted.remove(old)
                new.remove(presence)
                out.extend(self._swap(room, attachment, old, presence, now))
        for jid in unlisted:
            occupant = room.occupantOf(jid)
            if occupant is not None:
                out.extend(self._quietly(ev.PresenceIn(
                    sender=jid, to=JID(f"{room.address}/{occupant.nick}"), id=None,
                    nick=occupant.nick, available=False), now))
        for full, presence in listed.items():
            occupant = room.occupantOf(presence.sender)
            session = occupant.sessions.get(full) if occupant is not None else None
            if session is not None and shape(session.presence) != shape(presence.payload):
                out.extend(self._quietly(replace(
                    presence, to=JID(f"{room.address}/{occupant.nick}"),  # type: ignore[union-attr]
                    nick=occupant.nick), now))  # type: ignore[union-attr]
        if not sameEpoch:
            entry = ev.JoinRequest(room.config.secret, ev.HistoryRequest(maxstanzas=0))
            for presence in new:
                out.extend(self._quietly(replace(presence, join=entry), now))
        return out

    def _swap(self, room: Room, attachment: Attachment, old: JID, presence: ev.PresenceIn,
              now: float) -> list[Any]:
        new = presence.sender
        attachment.sessions.discard(old.full())
        attachment.sessions.add(new.full())
        for nick, jid in list(attachment.entered.items()):
            if jid == old:
                attachment.entered[nick] = new
        self._version += 1
        return self._quietly(ev.SessionSwapIn(sender=new, to=presence.to, id=None, old=old,
                                              payload=presence.payload), now)

    def _quietly(self, event: Any, now: float) -> list[Any]:
        """
        The room's effects for an input the netjoin makes; a refusal (a
        re-admission the join checks refuse) changes nothing and answers
        nobody: the answer's snapshot shows the replica the outcome.
        """
        try:
            return self.handle(event, now)
        except (StanzaError, *DOMAIN_ERRORS):
            return []

    # Reading, then answering

    def _readOrAnswer(self, room: Room, links: RoomLinks, attachment: Attachment,
                      now: float) -> list[Any]:
        """
        Ask the store for what the answer needs (the log when a replay may
        be possible and the replica missed something logged before the
        resync came; the archive when spooled messages may be there
        already), or answer now.
        """
        pending: Pending = attachment.pending
        archives = room.config.logging or room.config.persistent
        senders = tuple(sorted({s.sender.userhost() for s in pending.spooled
                                if s.originId})) if archives else ()
        lastSeq = pending.resync.lastSeq
        logNeeded = pending.replayable and lastSeq < pending.base
        if not senders and not logNeeded:
            return self.resyncRead(room.name, attachment.domain, ResyncRead(), now)
        # What this resync's turn marked is logged before the read goes;
        # what is marked from now on waits in held.
        attachment.held, attachment.heldFrom = [], attachment.seq
        after = lastSeq if pending.replayable and lastSeq <= pending.base else None
        since = min((s.event.stamp or now for s in pending.spooled), default=now)
        return [ReadForResync(room.name, attachment.domain, attachment.replica.full(), after,
                              senders, since)]

    def resyncRead(self, name: str, domain: str, read: ResyncRead, now: float) -> list[Any]:
        """
        The store answered a L{ReadForResync} (or nothing had to be read):
        the spooled messages go to the room, then the answer.
        """
        links = self.rooms.get(name)
        attachment = links.attached.get(domain) if links is not None else None
        room = self.service.rooms.get(name)
        if attachment is None or attachment.pending is None or room is None:
            return []  # the attachment or the room went meanwhile: answered then
        out = self._applySpool(room, attachment, read.archived, now)
        return out + self._answer(room, links, attachment, read, now)  # type: ignore[arg-type]
