# -*- test-case-name: tests.glue.test_dmuc -*-
"""
Distributed rooms on a node: the two pure engines of L{xmuc.dmuc} run on
the router, the clock and the node's IQ requests.

  - L{PrimaryGlue}, in front of the MUC component (L{xmuc.glue.muc}):
    the component's turns go through L{xmuc.dmuc.primary.Primary}
    (C{component.engine}), so broadcasts reach attached replicas once and
    the component carries out the rewritten effects as ever. A join from
    a remote domain waits for discovery (L{xmuc.dmuc.discovery}: a
    disco#info query through C{node.iqRequests}, cached, never longer
    than its timeout) before the room sees it; the decision tells the
    primary that domain's replica, or that there is none.
  - L{ReplicaGlue}: the replica JID (C{dmuc@domain}) is a local entity of
    the router (C{node.addEntity}); what the room sends it goes through
    L{xmuc.dmuc.replica.Replica}, whose deliveries to local sessions are
    serialised once and spliced per recipient, as the MUC component
    does, and reported to the router's directed-presence records. The
    domain's disco#info lists the feature and the XEP-0128 form naming
    the replica. Local users' stanzas to remote rooms are routed as
    ever: the replica never sees them.

What both keep (design section 8) goes to the node's store and comes
back at start through L{xmuc.glue.dmucstore}.

The primary holds the s2s link to each domain it has an attachment on
up (C{S2SManager.keepUp}) and takes that link's splits and heals
(L{xmuc.dmuc.peers}); a replica's C{<resync/>} waits for discovery to
confirm the replica like a join does, and what its answer needs from the
store is read between two turns (L{xmuc.glue.dmucstore}).

C{[dmuc] enabled} turns it on (off by default).
"""

from __future__ import annotations

import random as _random
from dataclasses import dataclass
from itertools import count
from typing import Any, Callable

from twisted.internet.defer import CancelledError
from twisted.logger import Logger, LogLevel
from twisted.words.protocols.jabber.jid import JID
from twisted.words.xish import domish

from xmuc.core.errors import exceptionReply
from xmuc.core.jid import InvalidJID, parseJID
from xmuc.core.links import LinkDown
from xmuc.core.stanza import readdressed
from xmuc.dmuc import discovery as disco
from xmuc.dmuc import resync, wire
from xmuc.dmuc.infoform import defaultReplica, infoForm, parseDiscoInfo
from xmuc.dmuc import persist
from xmuc.dmuc.ns import NS_DMUC
from xmuc.dmuc.peers import PeerDown, PeerUp, peerEvent
from xmuc.dmuc.primary import Primary
from xmuc.dmuc.replica import Replica, ResyncNeeded
from xmuc.glue.dmucstore import PrimaryStore, ReplicaStore
from xmuc.muc import effects
from xmuc.muc.ns import NS_DISCO_INFO
from xmuc.muc.parse import parseStanza
from xmuc.muc.stanzas import stanza as newStanza

#: Seconds the node's IQ tracker waits for a disco#info answer: longer
#: than the discovery timeout, so that a late answer still fills the cache.
DISCO_ANSWER_WAIT = 60.0


def _template(element: domish.Element) -> tuple[bytes, bytes]:
    xml = element.toXml()
    cut = len(element.name) + 1
    return xml[:cut].encode("utf-8"), xml[cut:].encode("utf-8")


def _resyncOf(stanza: domish.Element) -> domish.Element | None:
    """
    The C{<resync/>} of an iq set, or L{None}.
    """
    if stanza.name != "iq" or stanza.getAttribute("type") != "set":
        return None
    payload = stanza.firstChildElement()
    if payload is None or payload.uri != NS_DMUC or payload.name != "resync":
        return None
    return payload


def deliver(router: Any, element: domish.Element, recipients: tuple[JID, ...]) -> None:
    """
    A stanza without C{to} to local sessions: serialised once, C{to}
    spliced per recipient; presence reported to the directed-presence
    records.
    """
    head, tail = _template(element)
    for recipient in recipients:
        to = b" to='" + domish.escapeToXml(recipient.full(), 1).encode("utf-8") + b"'"
        router.deliverSerialised(recipient, head + to + tail,
                                 lambda r=recipient: readdressed(element, r.full()))
    if element.name == "presence":
        router.presenceDelivered(element, recipients)


class ReplicaGlue:
    """
    The router's sink for the replica JID.
    """

    log = Logger()

    def __init__(self, node: Any, jid: JID | None = None,
                 mirrors: Callable[[str], bool] = lambda domain: True,
                 maxHistory: int = 0) -> None:
        self.node = node
        self.router = node.router
        self.clock = node.clock
        self.jid = jid or defaultReplica(node.domain)
        self.replica = Replica(self.jid, self._directed, mirrors, maxHistory)
        self.stored = ReplicaStore(node.store, self.jid.full())
        # Before the MUC component's handler, which stops the hook.
        node.hooks.add("node-started", self.start, priority=1)
        node.addEntity(self.jid.full(), self)
        node.serverFeatures.add(NS_DMUC)
        discoModule = node.modules.get("disco")
        if discoModule is not None:
            discoModule.serverExtensions.append(infoForm(self.jid))

    def start(self) -> None:
        """
        C{node-started}: the stored mirrors come back (kept apart, never
        served: L{Replica.restore}); a stanza before they are in finds
        them unknown, as it would after.
        """
        def failed(failure: Any) -> None:
            self.log.failure("The replica's mirrors could not be loaded", failure,
                             level=LogLevel.error)

        self.stored.load().addCallbacks(self.replica.restore, failed)

    def _directed(self, jid: JID, room: str) -> bool:
        return self.router.hasDirectedPresenceAt(jid.full(), room)

    def receive(self, stanza: domish.Element, to: JID) -> None:
        try:
            done = self.replica.receive(stanza, self.clock.seconds())
        except Exception as e:
            self.log.failure("The replica failed on a stanza from {sender}",
                             sender=stanza.getAttribute("from"))
            reply = exceptionReply(stanza, e)
            if reply is not None:
                self.router.route(reply)
            return
        for effect in done:
            if isinstance(effect, effects.Broadcast):
                deliver(self.router, effect.stanza, effect.recipients)
            elif isinstance(effect, effects.Deliver):
                deliver(self.router, effect.stanza, (effect.recipient,))
            elif isinstance(effect, effects.Send):
                self.router.route(effect.stanza)
            elif isinstance(effect, persist.SaveMirror):
                self.stored.save(effect)
            elif isinstance(effect, persist.DropMirror):
                self.stored.drop(effect)
            elif isinstance(effect, ResyncNeeded):
                self.log.warn("Room {room} skipped from seq {last} to {got}: held for a "
                              "resync", room=effect.room, last=effect.lastSeq, got=effect.got)


class PrimaryGlue:
    """
    The router's sink for the MUC service's domain, in front of the MUC
    component: joins from remote domains wait for discovery.
    """

    log = Logger()

    def __init__(self, node: Any, component: Any, keepalive: int = 60,
                 timeout: float = 5.0, ttl: float = 3600.0,
                 accepts: Callable[[str], bool] = lambda domain: True,
                 attachTimeout: float = 10.0, logSize: int = 1000) -> None:
        self.node = node
        self.component = component
        self.clock = node.clock
        self.host = component.host
        self.primary = Primary(component.service, _random.Random(node.random.getrandbits(64)),
                               keepalive, accepts, attachTimeout)
        component.engine = self.primary
        self.stored = PrimaryStore(node.store, self.host, logSize)
        for kind, runner in self.stored.runners().items():
            component.addRunner(kind, runner)
        component.loaders.append(self.load)
        component.parse = self._parse
        for kind, runner in {
            resync.KeepLink: self._keepLink,
            resync.ReleaseLink: self._releaseLink,
            resync.ReadForResync: self._readForResync,
            resync.SplitReport: self._report,
            resync.NetjoinReport: self._report,
        }.items():
            component.addRunner(kind, runner)
        self.discovery = disco.Discovery(timeout, ttl)
        self._held: dict[int, tuple[domish.Element, JID, tuple[str, str]]] = {}
        # What a sender sent a room while its join there is held: it
        # follows the join, in order (a leave must not overtake it).
        self._behind: dict[tuple[str, str], list[tuple[domish.Element, JID]]] = {}
        self._tokens = count(1)
        self._timers: dict[tuple[str, ...], Any] = {}
        # The release of each link kept up (KeepLink), by domain.
        self._kept: dict[str, Callable[[], None]] = {}
        node.router.components[self.host] = self

    def load(self) -> Any:
        """
        After the service's rooms loaded, before it takes stanzas: the
        rooms' epochs and attachments (a failure is logged; the rooms
        then start new epochs).
        """
        def loaded(rooms: list[Any]) -> None:
            self.component.run(self.primary.load(rooms))

        def failed(failure: Any) -> None:
            self.log.failure("The DMUC state of {host} could not be loaded", failure,
                             level=LogLevel.error, host=self.host)

        return self.stored.load().addCallbacks(loaded, failed)

    def receive(self, stanza: domish.Element, to: JID) -> None:
        key = (stanza.getAttribute("from", ""), to.userhost())
        if key in self._behind:
            self._behind[key].append((stanza, to))
            return
        domain = self._joiningFrom(stanza, to)
        if domain is None:
            self.component.receive(stanza, to)
            return
        token = next(self._tokens)
        self._held[token] = (stanza, to, key)
        self._behind[key] = []
        self._run(self.discovery.handle(disco.JoinWanted(domain, token), self.clock.seconds()))

    def _release(self, token: int) -> None:
        """
        A held join goes to the room, then what its sender sent the room
        meanwhile, in order (through L{receive}: a join among them may be
        held in turn).
        """
        held = self._held.pop(token, None)
        if held is None:
            return
        stanza, to, key = held
        self.component.receive(stanza, to)
        for later in self._behind.pop(key, []):
            self.receive(*later)

    def _joiningFrom(self, stanza: domish.Element, to: JID) -> str | None:
        """
        The remote domain of a user entering a room, or of a replica
        resyncing one (whose domain must be known capable, and this JID
        its replica, before the primary takes it: after a restart it is
        not), or L{None} for any other stanza.
        """
        resyncing = _resyncOf(stanza) is not None
        if not resyncing and (stanza.name != "presence" or stanza.getAttribute("type") is not None
                              or to.user is None or to.resource is None):
            return None
        try:
            sender = parseJID(stanza.getAttribute("from", ""))
        except InvalidJID:
            return None
        if self.node.hosts(sender.host):
            return None
        room = self.component.service.rooms.get(to.user or "")
        if not resyncing and room is not None and room.occupantOf(sender) is not None:
            return None
        return sender.host

    def _parse(self, stanza: domish.Element, to: JID) -> Any:
        """
        The component's edge (L{MUCComponent.parse}): a C{<resync/>} iq
        becomes L{resync.ResyncIn}, the rest goes to the room's parser.
        """
        payload = _resyncOf(stanza)
        if payload is None:
            return parseStanza(stanza, to)
        value = wire.parse(payload)
        return resync.ResyncIn(sender=parseJID(stanza.getAttribute("from", "")), to=to,
                               id=stanza.getAttribute("id"), resync=value)

    # Netsplits and netjoins

    def _keepLink(self, effect: resync.KeepLink, origin: Any) -> None:
        s2s = getattr(self.node, "s2s", None)
        if s2s is not None and effect.domain not in self._kept:
            self._kept[effect.domain] = s2s.keepUp(effect.domain, self.host)

    def _releaseLink(self, effect: resync.ReleaseLink, origin: Any) -> None:
        release = self._kept.pop(effect.domain, None)
        if release is not None:
            release()

    def _readForResync(self, effect: resync.ReadForResync, origin: Any) -> None:
        """
        Read what the resync needs, then hand it to the primary in a turn
        of its own.
        """
        def read(value: resync.ResyncRead) -> None:
            try:
                done = self.primary.resyncRead(effect.room, effect.domain, value,
                                               self.clock.seconds())
            except Exception:
                self.log.failure("Answering the resync of {room} from {domain} failed",
                                 room=effect.room, domain=effect.domain)
                return
            self.component.run(done)

        self.node.track(self.stored.readForResync(effect).addCallback(read))

    def _report(self, effect: Any, origin: Any) -> None:
        if isinstance(effect, resync.SplitReport):
            self.log.info("Split from {domain} ({reason}): {rooms} rooms of {host} logging "
                          "their broadcasts for its replica", domain=effect.domain,
                          reason=effect.reason or "link down", rooms=effect.rooms,
                          host=self.host)
            return
        modes = ", ".join(f"{mode} {n}" for mode, n in effect.modes) or "none"
        self.log.info("Netjoin with {domain} converged after {seconds:.1f} s: {rooms} rooms "
                      "of {host} ({modes}), {logged} broadcasts logged while split, "
                      "{replayed} replayed", domain=effect.domain, seconds=effect.seconds,
                      rooms=effect.rooms, host=self.host, modes=modes, logged=effect.logged,
                      replayed=effect.replayed)

    def _run(self, done: list[Any]) -> None:
        for effect in done:
            if isinstance(effect, disco.Decided):
                self.primary.replicaFound(effect.domain, effect.replica)
                self._release(effect.join)
            elif isinstance(effect, disco.SendDiscoInfo):
                self._ask(effect)
            elif isinstance(effect, effects.StartTimer):
                self._cancel(effect.key)
                self._timers[effect.key] = self.clock.callLater(
                    effect.delay, self._timedOut, effect.key)
            elif isinstance(effect, effects.CancelTimer):
                self._cancel(effect.key)
            elif isinstance(effect, disco.Ignored):
                self.log.debug("Discovery ignored {event}", event=effect.event)

    def _ask(self, effect: disco.SendDiscoInfo) -> None:
        iq = newStanza("iq", self.host, effect.domain, "get")
        iq.addElement((NS_DISCO_INFO, "query"))
        domain, query = effect.domain, effect.query

        def answered(result: domish.Element) -> None:
            self._step(disco.DiscoAnswered(domain, query, parseDiscoInfo(result, domain)))

        def failed(failure: Any) -> None:
            if failure.check(CancelledError):
                return
            condition = getattr(failure.value, "condition", "undefined-condition")
            self._step(disco.DiscoFailed(domain, query, condition))

        self.node.iqRequests.request(iq, DISCO_ANSWER_WAIT).addCallbacks(answered, failed)

    def _timedOut(self, key: tuple[str, ...]) -> None:
        self._timers.pop(key, None)
        _, domain, query = key
        self._step(disco.DiscoTimedOut(domain, int(query)))

    def _cancel(self, key: tuple[str, ...]) -> None:
        call = self._timers.pop(key, None)
        if call is not None and call.active():
            call.cancel()

    def _step(self, event: Any) -> None:
        try:
            self._run(self.discovery.handle(event, self.clock.seconds()))
        except Exception:
            self.log.failure("Discovery failed on {event}", event=event)

    def linkEvent(self, event: Any) -> None:
        """
        An s2s link event: a link that went down forgets its domain's
        cached discovery answer; on the service's own links, a split or a
        heal (L{peerEvent}) goes to the primary (every room at once).
        """
        if isinstance(event, LinkDown):
            self._step(disco.LinkDropped(event.remote))
        if getattr(event, "local", None) != self.host:
            return
        peer = peerEvent(event)
        if isinstance(peer, PeerDown):
            self.component.run(self.primary.peerDown(peer, self.clock.seconds()))
        elif isinstance(peer, PeerUp):
            self.component.run(self.primary.peerUp(peer, self.clock.seconds()))


@dataclass
class DMUC:
    """
    Distributed rooms on a node: the primary in front of its MUC component
    (L{None} without one) and its replica.
    """

    primary: PrimaryGlue | None
    replica: ReplicaGlue


def _among(allowed: tuple[str, ...]) -> Callable[[str], bool]:
    """
    A policy: every domain when C{allowed} is empty, else those listed.
    """
    if not allowed:
        return lambda domain: True
    listed = frozenset(allowed)
    return lambda domain: domain in listed


def install(node: Any) -> DMUC | None:
    """
    The node's C{[dmuc]} section, when enabled. Installed after the MUC
    component (L{xmuc.node} lists it after L{xmuc.glue.muc}); the
    composition root has the primary watch the s2s links
    (L{xmuc.tap.federate}).
    """
    config = node.config.dmuc
    if not config.enabled:
        return None
    component = node.modules.get("muc")
    primary = None
    if component is not None:
        primary = PrimaryGlue(node, component, config.keepalive, config.disco_timeout,
                              accepts=_among(config.accept),
                              attachTimeout=config.attach_timeout, logSize=config.log_size)
    replica = ReplicaGlue(node, parseJID(config.replicaJid(node.domain)),
                          _among(config.mirror), config.history_size)
    return DMUC(primary, replica)
