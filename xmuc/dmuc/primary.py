# -*- test-case-name: tests.dmuc.test_engines -*-
"""
The primary side of distributed rooms (design sections 2 to 4 and 7) for
one MUC service: the room engine (L{xmuc.muc.service.MUCService}) decides
everything, and L{Primary} rewrites the effects it returns for the
occupants of domains that have a replica attached.

The seam is a post-processing step of the room engine's effects, so
L{xmuc.muc} knows nothing of replicas: every L{Broadcast} names its
recipients by real JID, its broadcast number C{seq}, its C{part} and its
L{Kind}, and a L{Deliver} its one recipient and L{Kind}. For each
attached domain the recipients on that domain are taken out of those
effects and the broadcast goes once to its replica instead (one
L{Send} to C{dmuc@B}, with the marker of L{xmuc.dmuc.marker}):

  - a message: the stanza, marked with the replica's next C{seq} and the
    room's C{<delay/>};
  - a presence change of an occupant: one variant (L{_variant}): with
    the real JID when the replica has an occupant who may see it (or the
    occupant is the replica's own), without otherwise; the copy carries
    status 110 only when it is for the occupant's own sessions alone (an
    occupant whose presence the others on that domain do not get, or each
    occupant's last presence of a destruction);
  - an entrant of that domain: one presence, its own (with 110 and its
    status codes), marked C{<enter jid/>} with its C{<history/>} request;
    the join sequence the room computed for it is dropped, since the
    replica computes the same from its copy of the room;
  - a session of that domain leaving: its copy is marked C{<leave jid/>}.

1:1 stanzas (L{Send}: errors, private messages, IQ answers) go to the
real JID as they are. Local occupants and those of domains without a
replica (discovery said no, the attach failed, policy) are served as the
room engine says.

The first entrant of a capable domain attaches it (L{Attachment}): an IQ
C{<attach>} with the room's bans on that domain, then a snapshot (one
presence per other occupant, the history, the subject); until the result
comes, that domain's stanzas wait, each with its classic form, so that a
refused attach serves the domain classically with nothing lost. The last
occupant of the domain leaving, or the room ending, detaches it.

What the primary keeps (design section 8) it asks for with the effects of
L{xmuc.dmuc.persist}: a room's epoch is started with its first attachment
and kept for the room's life (across restarts, with a store that keeps
it); each attachment with its C{seq}; each turn's marked stanzas, logged
per replica. At start, L{load} brings back the epochs and the stored
attachments (docs/dmuc-decisions.md, "Persistence: ...").
"""

from __future__ import annotations

import random as _random
from collections import OrderedDict
from typing import Any, Callable

from twisted.words.protocols.jabber.jid import JID

from xmuc.core.errors import ServiceUnavailable
from xmuc.dmuc.attaching import Attaching
from xmuc.dmuc.attachment import AttachState, Attachment, RoomLinks
from xmuc.dmuc.netjoin import ORIGINS_KEPT, originOf
from xmuc.dmuc.resync import NetjoinStats, ResyncIn
from xmuc.dmuc.resynced import Answering
from xmuc.dmuc.rewrite import (
    ATTACH_TIMER,
    groups,
    leaving,
    roomOf,
    split,
    through,
    variant,
)
from xmuc.dmuc.marker import Delay
from xmuc.dmuc.persist import DropEpoch, LogBroadcasts, RestoredAttachment
from xmuc.muc import events as ev
from xmuc.muc.effects import Broadcast, Deliver, Send
from xmuc.muc.model import Role
from xmuc.muc.room import Room
from xmuc.muc.service import MUCService
from xmuc.muc.view import Kind


class Primary(Attaching, Answering):
    """
    The distributed side of one MUC service (the attachments' life in
    L{Attaching}; splits and netjoins in L{xmuc.dmuc.netjoin},
    L{xmuc.dmuc.intake} and L{xmuc.dmuc.resynced}).

    @ivar replicas: the replica JID of each domain discovery found
        capable (L{replicaFound}).
    @ivar stats: the split and netjoin counters (L{NetjoinStats}).
    """

    def __init__(self, service: MUCService, random: _random.Random, keepalive: int = 60,
                 accepts: Callable[[str], bool] = lambda domain: True,
                 attachTimeout: float = 10.0) -> None:
        """
        @param random: for epochs and IQ ids; not the service's own, so
            the room's ids do not depend on whether replicas are used.
        @param accepts: whether this service's rooms use a domain's
            replica (policy; all by default).
        @param attachTimeout: seconds an attach may stay unanswered; then
            the domain is served classically, as after an error.
        """
        self.attachTimeout = attachTimeout
        self.service = service
        self.random = random
        self.keepalive = keepalive
        self.accepts = accepts
        self.replicas: dict[str, JID] = {}
        self._replicaJids: dict[str, str] = {}
        self.rooms: dict[str, RoomLinks] = {}
        self.epochs: dict[str, str] = {}
        self.restored: dict[str, dict[str, RestoredAttachment]] = {}
        # Changes whenever a session starts or stops being served by a
        # replica, or an attachment comes or goes (L{_split}'s memo).
        self._version = 0
        self._splits: dict[int, tuple[Any, ...]] = {}
        self.down: set[str] = set()
        self.stats = NetjoinStats()
        self._netsplits: dict[str, Any] = {}
        self._origins: dict[str, OrderedDict[tuple[str, str], None]] = {}
        # Attachments per domain: the link to a domain is kept up while
        # there is one (KeepLink, ReleaseLink).
        self._linked: dict[str, int] = {}

    def replicaFound(self, domain: str, replica: JID | None) -> None:
        """
        Discovery decided C{domain}: its replica JID, or L{None} for none.
        """
        old = self.replicas.pop(domain, None)
        if old is not None:
            self._replicaJids.pop(old.full(), None)
        if replica is not None and replica.host == domain and self.accepts(domain):
            self.replicas[domain] = replica
            self._replicaJids[replica.full()] = domain

    def attachment(self, room: str, domain: str) -> Attachment | None:
        links = self.rooms.get(room)
        return None if links is None else links.attached.get(domain)

    # Input

    def handle(self, event: Any, now: float) -> list[Any]:
        """
        Handle one parsed input (L{xmuc.muc.parse}) and return the effects.

        @raise Forbidden: for anything but an answer from a replica JID
            (nothing a replica sends changes the room: section 7).
        """
        domain = self._replicaJids.get(event.sender.full())
        if domain is not None:
            return self._fromReplica(domain, event, now)
        if isinstance(event, ResyncIn):
            raise ServiceUnavailable("Only a domain's replica resyncs a room")
        name = event.to.user
        links = self.rooms.get(name)
        joining = (isinstance(event, ev.PresenceIn) and event.available
                   and event.sender.host in self.replicas)
        before = self.service.rooms.get(name)
        wasIn = before is not None and before.occupantOf(event.sender) is not None
        done = self.service.handle(event, now)
        if links is not None and isinstance(event, ev.GroupchatIn) and \
                event.sender.host in links.attached:
            self._remember(name, event)
        if links is None and not joining:
            if name in self.epochs and name not in self.service.rooms:
                del self.epochs[name]  # the room ended with no attachment left
                self.restored.pop(name, None)
                self._origins.pop(name, None)
                done.append(DropEpoch(name))
            return done
        room = self.service.rooms.get(name) or before
        if room is None:
            return done
        entrantJid = event.sender if joining and not wasIn and \
            room.occupantOf(event.sender) is not None else None
        return self._rewrite(room, done, now, event, entrantJid)

    def _remember(self, name: str, event: ev.GroupchatIn) -> None:
        """
        A message the room took from a user of an attached domain: its
        (sender bare JID, origin-id), against which spooled messages are
        checked for duplicates in this epoch (the last L{ORIGINS_KEPT}).
        """
        origin = originOf(event.payload)
        if origin is None:
            return
        seen = self._origins.setdefault(name, OrderedDict())
        seen[(event.sender.userhost(), origin)] = None
        if len(seen) > ORIGINS_KEPT:
            seen.popitem(last=False)

    def timerFired(self, key: tuple[str, ...], now: float) -> list[Any]:
        """
        L{MUCService.timerFired}, its effects rewritten; an attach that
        timed out serves its domain classically.
        """
        if len(key) == 3 and key[1] == ATTACH_TIMER:
            attachment = self.attachment(key[0], key[2])
            if attachment is None or attachment.state is not AttachState.ATTACHING:
                return []
            return self._attachAnswered(key[0], attachment, False)
        rooms = dict(self.service.rooms)
        return self.carry(rooms, self.service.timerFired(key, now), now)

    def linkUp(self, host: str, now: float) -> list[Any]:
        """
        L{MUCService.linkUp}, its effects rewritten.
        """
        rooms = dict(self.service.rooms)
        return self.carry(rooms, self.service.linkUp(host, now), now)

    def shutdown(self, now: float) -> list[Any]:
        """
        The service stops (status 332 to everyone): the copies for
        replicas, then their detaches.
        """
        rooms = dict(self.service.rooms)
        return self.carry(rooms, self.service.shutdown(now), now)

    def carry(self, rooms: dict[str, Room], done: list[Any], now: float) -> list[Any]:
        """
        Rewrite effects the service returned outside a stanza's turn (a
        timer, a link coming up, shutdown), room by room; C{rooms} are the
        service's rooms before (so that those that ended are found).
        """
        if not self.rooms:
            return done
        byRoom: dict[str, list[Any]] = {}
        out: list[Any] = []
        for effect in done:
            name = roomOf(effect)
            if name in rooms and name in self.rooms:
                byRoom.setdefault(name, []).append(effect)
            else:
                out.append(effect)
        for name, effects in byRoom.items():
            out.extend(self._rewrite(rooms[name], effects, now))
        return out

    # Rewriting the room's effects

    def _rewrite(self, room: Room, done: list[Any], now: float, event: Any = None,
                 entrantJid: JID | None = None) -> list[Any]:
        """
        L{_rewriteRoom}, then what the turn marked for the log.
        """
        out = self._rewriteRoom(room, done, now, event, entrantJid)
        links = self.rooms.get(room.name)
        if links is not None:
            entries: list[tuple[str, int, Any]] = []
            for attachment in links.attached.values():
                if attachment.unlogged:
                    if attachment.state is AttachState.SPLIT:
                        self.stats.logged += len(attachment.unlogged)
                    replica = attachment.replica.full()
                    entries.extend((replica, seq, stanza) for seq, stanza in attachment.unlogged)
                    attachment.unlogged = []
            if entries:
                out.append(LogBroadcasts(room.name, tuple(entries)))
        return out

    def _rewriteRoom(self, room: Room, done: list[Any], now: float, event: Any,
                     entrantJid: JID | None) -> list[Any]:
        links = self.rooms.get(room.name)
        out: list[Any] = []
        if entrantJid is not None:
            links = self._attachFor(room, entrantJid, links, out, now)
        if links is None or not links.attached:
            if links is not None and self.service.rooms.get(room.name) is not room:
                del self.rooms[room.name]  # only classic domains were left
            return done
        attached = links.attached
        seen: set[JID] = set()
        for group in groups(done):
            first = group[0]
            if isinstance(first, Broadcast):
                out.extend(self._broadcast(room, attached, group, now, event, entrantJid,
                                           seen))
            elif isinstance(first, Deliver) and through(attached, first.recipient, entrantJid):
                seen.add(first.recipient)
                out.extend(self._deliver(room, attached[first.recipient.host], first,
                                         event, entrantJid))
            else:
                out.extend(group)
        out.extend(self._settle(room, links, seen, event))
        return out

    def _broadcast(self, room: Room, attached: dict[str, Attachment], group: list[Broadcast],
                   now: float, event: Any, entrantJid: JID | None,
                   seen: set[JID]) -> list[Any]:
        out: list[Any] = []
        mine: dict[str, list[tuple[Broadcast, list[JID]]]] = {}
        for part in group:
            classic, through = self._split(attached, part.recipients, entrantJid)
            if not through:
                out.append(part)
                continue
            presence = part.stanza.name == "presence"
            for domain, recipients in through.items():
                if presence:
                    # Only presences come and go with sessions (L{_settle}).
                    seen.update(recipients)
                mine.setdefault(domain, []).append((part, recipients))
            if classic:
                out.append(Broadcast(part.seq, part.stanza, classic, part.kind, part.part))
        for domain, parts in mine.items():
            attachment = attached[domain]
            copies = self._copies(room, attachment, parts, now, event, entrantJid)
            out.extend(attachment.through([
                Broadcast(p.seq, p.stanza, tuple(r), p.kind, p.part) for p, r in parts],
                copies))
        return out

    def _split(self, attached: dict[str, Attachment], recipients: tuple[JID, ...],
               entrantJid: JID | None) -> tuple[tuple[JID, ...], dict[str, list[JID]]]:
        """
        A broadcast's recipients served classically, and by domain those
        served through its replica (L{_through}). The room hands every
        message the same recipient tuple until its roster changes, so the
        answer is kept for that tuple while the attachments' sessions stay
        as they are: a message costs the rewrite nothing per recipient.
        """
        key = id(recipients)
        cached = self._splits.get(key)
        if cached is not None and cached[0] is recipients and cached[1] == self._version \
                and entrantJid is None:
            return cached[2], cached[3]
        result = split(attached, recipients, entrantJid)
        if entrantJid is None:
            if len(self._splits) >= 64:
                self._splits.clear()
            self._splits[key] = (recipients, self._version, *result)
        return result

    def _copies(self, room: Room, attachment: Attachment,
                parts: list[tuple[Broadcast, list[JID]]], now: float, event: Any,
                entrantJid: JID | None) -> list[Send]:
        first = parts[0][0]
        if first.stanza.name == "message":
            # A spooled message keeps the time its sender sent it.
            stamp = event.stamp if isinstance(event, ev.GroupchatIn) else None
            delay = Delay(now if stamp is None else stamp, room.jid)
            return [attachment.mark(p.stanza, delay=delay) for p, _ in parts]
        own = [(p, r) for p, r in parts if p.kind is Kind.SELF_PRESENCE]
        if entrantJid is not None and entrantJid.host == attachment.domain and \
                any(entrantJid in r for _, r in own):
            return self._enter(room, attachment, own[0][0].stanza, entrantJid, event)
        if len(own) > 1 or (own and len(own) == len(parts)):
            # Only the occupants' own sessions get this broadcast from
            # this replica (a destruction: each its own presence).
            return [attachment.mark(p.stanza, **leaving(event, r)) for p, r in own]
        copy, blind = variant(parts, own)
        if blind and not room.config.nonAnonymous:
            attachment.blind = True
        return [attachment.mark(copy, **leaving(event, [r for _, rs in own for r in rs]))]

    def _enter(self, room: Room, attachment: Attachment, own: Any, entrantJid: JID,
               event: Any) -> list[Send]:
        """
        The enter copy (design section 3), after a fresh snapshot when a
        moderator enters a replica whose copy of the room lacks real JIDs.
        """
        occupant = room.occupantOf(entrantJid)
        sends: list[Send] = []
        if occupant is not None:
            attachment.entered[occupant.nick] = entrantJid
            if attachment.blind and occupant.role is Role.MODERATOR:
                if attachment.state in (AttachState.SPLIT, AttachState.RESYNCING):
                    # The fresh attach must reach the replica before the
                    # snapshot: after the netjoin (its copy is replayed).
                    attachment.refresh = True
                else:
                    sends.extend(self._refresh(room, attachment, occupant.nick, True))
        history = event.join.history if isinstance(event, ev.PresenceIn) and event.join else None
        sends.append(attachment.mark(own, enter=entrantJid, history=history))
        return sends

    def _deliver(self, room: Room, attachment: Attachment, effect: Deliver,
                 event: Any, entrantJid: JID | None) -> list[Any]:
        """
        A stanza the room sends one session of an attached domain: the
        join sequence of an entrant (the replica makes its own: only the
        entrant's own presence goes, as the enter copy, when the entrant
        shares an occupant's nickname) or a session's own leave.
        """
        if effect.recipient == entrantJid:
            copies = (self._enter(room, attachment, effect.stanza, entrantJid, event)
                      if effect.kind is Kind.SELF_PRESENCE else [])
            return attachment.through([effect], copies)
        if effect.kind is Kind.SELF_PRESENCE:
            return attachment.through([effect], [
                attachment.mark(effect.stanza, leave=effect.recipient)])
        return [effect]
