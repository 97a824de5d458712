# -*- test-case-name: tests.glue.test_muc -*-
"""
The MUC service on a node: the router's sink for the service's domain.

Stanzas are parsed at the edge (L{xmuc.muc.parse}), handed to the pure
engine (L{xmuc.muc.service.MUCService}) with the clock's time, and the
effects it returns are carried out here, in order:

  - a L{Broadcast} is serialised once; each recipient gets those bytes with
    only its C{to} spliced in, straight into its c2s stream when it is a
    local session (L{Router.deliverSerialised}), as a light copy of the
    element (new envelope, shared children) when it is remote;
  - a L{Deliver} (what an entrant gets: roster, own presence, history,
    subject) goes the same way to its one recipient; the L{Kind} a
    broadcast or delivery carries, and a broadcast's number and part,
    are for links that count what they carry (a replica's C{seq}), not
    for this fan-out, which stays one serialisation per stanza;
  - timers run on the node's clock; storage writes go to the store in
    order; the page a MAM query asks for is read from the store and handed
    back to the engine, which renders it (L{MUCService.archiveAnswered}).

Persistent rooms are loaded from the store when the node starts
(C{node-started}, after the store started); stanzas arriving before they
are all in wait for them (at most C{[muc] load_queue}; more are answered
C{service-unavailable}, type wait). Loading fails closed: a record that
cannot be read (a later schema version, bad JSON, a bad field, history
that does not parse) makes that room unavailable, logged at error level
with its name, and its record and archive are left as they are; when the
store cannot list the rooms at all, the whole service refuses everything
and creates nothing.
"""

from __future__ import annotations

import random
from functools import lru_cache
from weakref import WeakKeyDictionary
from typing import Any, Callable

from twisted.internet import defer
from twisted.logger import Logger, LogLevel
from twisted.python.failure import Failure
from twisted.words.protocols.jabber.error import StanzaError
from twisted.words.protocols.jabber.jid import JID
from twisted.words.xish import domish

from xmuc.config import Config
from xmuc.core.errors import DOMAIN_ERRORS, exceptionReply
from xmuc.core.links import LinkUp
from xmuc.core.stanza import parseStanza as parseStored, readdressed
from xmuc.muc import effects
from xmuc.muc.model import HistoryEntry
from xmuc.muc.parse import parseStanza
from xmuc.muc.records import fromJSON, toJSON
from xmuc.muc.service import SERVICE_LOADING, MUCService, ServiceState
from xmuc.muc.settings import Settings
from xmuc.storage.interfaces import ArchivedMessage, ArchiveFilter, StoredRoom
from xmuc.writes import later


def settingsFrom(config: Config) -> Settings:
    """
    The engine's settings from the node's configuration.
    """
    muc = config.muc
    return Settings(
        host=config.mucHost,
        domain=config.node.domain,
        creation=muc.creation,
        admins=frozenset(config.services.admins),
        limits=muc.limits,
        maxRoomOccupants=muc.max_room_occupants,
        maxOccupants=muc.max_occupants,
        maxRoomsPerUser=muc.max_rooms_per_user,
        historySize=muc.history_size,
        maxBody=muc.max_body,
        maxSubject=muc.max_subject,
        floodRate=muc.flood_rate,
        floodBurst=muc.flood_burst,
        ghostGrace=muc.ghost_grace,
    )


#: Archive writes per room between two trims to archive_size.
TRIM_EVERY = 64


@lru_cache(maxsize=65536)
def _toAttribute(recipient: JID) -> bytes:
    """
    C{to='…'} for a recipient, escaped, as bytes (recipients repeat: each
    occupant gets every broadcast).
    """
    return b" to='" + domish.escapeToXml(recipient.full(), 1).encode("utf-8") + b"'"


class MUCComponent:
    """
    The router's sink for the MUC service's domain.

    @ivar service: the engine.
    @ivar engine: what each turn hands its input to (C{handle},
        C{timerFired}, C{linkUp}, C{shutdown}): the service itself, or a
        L{xmuc.dmuc.primary.Primary} in front of it, which rewrites its
        effects for replicas (L{xmuc.glue.dmuc}).
    @ivar timers: the engine's running timers, by key.
    @ivar loaders: what else loads before the service takes stanzas,
        after its rooms (the primary's DMUC state): each returns a
        L{Deferred}.
    @ivar parse: the edge, a stanza to the engine's input
        (L{xmuc.muc.parse.parseStanza}; the primary's glue adds the DMUC
        iq payloads in front of it).
    """

    log = Logger()

    def __init__(self, node: Any) -> None:
        self.node = node
        self.router = node.router
        self.store = node.store
        self.clock = node.clock
        self.host = node.config.mucHost
        self.archiveSize = node.config.muc.archive_size
        self._sinceTrim: dict[str, int] = {}
        # The rooms' own Random, split off the node's: their ids and salts
        # do not depend on what else the node draws (IQ ids, DMUC epochs).
        self.service = MUCService(settingsFrom(node.config),
                                  random.Random(node.random.getrandbits(64)),
                                  state=ServiceState.LOADING)
        self.engine: Any = self.service
        self.parse: Callable[[domish.Element, JID], Any] = parseStanza
        self.timers: dict[tuple[str, ...], Any] = {}
        self.loadQueue = node.config.muc.load_queue
        # Stanzas parked until the rooms load, each with its handler bound
        # to the sender's write scope (xmuc.writes.later).
        self._waiting: list[tuple[Callable[..., None], domish.Element, JID]] = []
        self._loading: defer.Deferred | None = None
        self.loaders: list[Callable[[], defer.Deferred]] = []
        self._serialised: WeakKeyDictionary[domish.Element, tuple[bytes, bytes]] = (
            WeakKeyDictionary())
        self._runners: dict[type, Callable[[Any, Any], None]] = {
            effects.Broadcast: self._broadcast,
            effects.Deliver: self._deliver,
            effects.Send: lambda e, o: self.router.route(e.stanza),
            effects.StartTimer: self._startTimer,
            effects.CancelTimer: self._cancelTimer,
            effects.SaveRoom: self._saveRoom,
            effects.DeleteRoom: lambda e, o: self._write(
                self.store.deleteRoom(self.host, e.name)),
            effects.DeleteArchive: lambda e, o: self._write(
                self.store.deleteArchive(self.host, e.name)),
            effects.Archive: self._archive,
            effects.QueryArchive: self._queryArchive,
        }

    # Loading persistent rooms

    @property
    def _ready(self) -> bool:
        return self.service.state is not ServiceState.LOADING

    def start(self) -> defer.Deferred:
        """
        C{node-started}: load the persistent rooms, then handle the
        stanzas that waited for them.
        """
        if self._loading is None:
            self._loading = self.load()
            self._loading.addBoth(self._loaded)
        return self._loading

    def receive(self, stanza: domish.Element, to: JID) -> None:
        if self._ready:
            self._handle(stanza, to)
        elif len(self._waiting) < self.loadQueue:
            self._waiting.append((later(self._handle), stanza, to))
        else:
            self._refuse(stanza, StanzaError("service-unavailable", "wait", SERVICE_LOADING))

    @defer.inlineCallbacks
    def load(self) -> Any:
        """
        Bring back every persistent room with its last history; a room
        that cannot be read is made unavailable.
        """
        for stored in (yield self.store.loadRooms(self.host)):
            try:
                record = fromJSON(stored.name, stored.data)
                archived = yield self.store.lastMessages(
                    self.host, stored.name, record.config.historyLength)
                history = [HistoryEntry(parseStored(m.xml), m.stamp, m.stanzaId)
                           for m in archived]
                self.service.load(record, history)
            except Exception:
                self.log.failure("Room {room}@{host} could not be loaded: it is unavailable, "
                                 "its record and archive are kept", level=LogLevel.error,
                                 room=stored.name, host=self.host)
                self.service.markUnavailable(stored.name)
        for loader in self.loaders:
            yield loader()

    def _loaded(self, result: Any) -> None:
        if isinstance(result, Failure):
            self.log.failure("Loading the persistent rooms of {host} failed: the service "
                             "refuses everything", result, level=LogLevel.error,
                             host=self.host)
            self.service.transition("load-failed")
        else:
            self.service.transition("loaded")
        waiting, self._waiting = self._waiting, []
        for handle, stanza, to in waiting:
            handle(stanza, to)

    # Input

    def _handle(self, stanza: domish.Element, to: JID) -> None:
        def turn(now: float) -> list[Any]:
            event = self.parse(stanza, to)
            return [] if event is None else self.engine.handle(event, now)

        self._turn(turn, stanza, to.full())

    def _turn(self, turn: Callable[[float], list[Any]], stanza: domish.Element,
              to: str) -> None:
        """
        Run one engine turn for C{stanza} and carry out its effects; a
        refusal answers the stanza.
        """
        try:
            done = turn(self.clock.seconds())
        except (StanzaError, *DOMAIN_ERRORS) as e:
            self._refuse(stanza, e)
            return
        except Exception as e:
            self.log.failure("Handling a stanza to {to} failed", to=to)
            self._refuse(stanza, e)
            return
        self.run(done, stanza)

    def _refuse(self, stanza: domish.Element, exc: BaseException) -> None:
        reply = exceptionReply(stanza, exc)
        if reply is None:
            self.log.debug("Not answering a refused {name} of type error", name=stanza.name)
        elif reply.getAttribute("to"):
            self.router.route(reply)

    # Effects

    def addRunner(self, kind: type, runner: Callable[[Any, Any], None]) -> None:
        """
        Carry out effects of C{kind} (those a wrapping engine adds) with
        C{runner(effect, origin)}.
        """
        self._runners[kind] = runner

    def run(self, done: list[Any], origin: domish.Element | None = None) -> None:
        """
        Carry out effects in order.
        """
        for effect in done:
            try:
                self._runners[type(effect)](effect, origin)
            except Exception:
                self.log.failure("Carrying out {effect} failed", effect=type(effect).__name__)

    def _serialise(self, stanza: domish.Element) -> tuple[bytes, bytes]:
        """
        A template (a stanza without C{to}) serialised once, as the bytes
        before and after where C{to} goes. Templates never change once the
        engine made them, and the engine shares them between effects (a
        broadcast and its archive record, the roster and history replayed
        to each entrant), so the serialisation is kept as long as the
        template lives.
        """
        parts = self._serialised.get(stanza)
        if parts is None:
            xml = stanza.toXml()
            cut = len(stanza.name) + 1  # after "<message"
            parts = self._serialised[stanza] = (xml[:cut].encode("utf-8"),
                                                xml[cut:].encode("utf-8"))
        return parts

    def _broadcast(self, effect: effects.Broadcast, origin: Any) -> None:
        stanza = effect.stanza
        if stanza.name == "presence":
            # Straight into the streams, past xmuc.im.presence: the
            # directed-presence records hear of it here (xmuc.directed).
            self.router.presenceDelivered(stanza, effect.recipients)
        head, tail = self._serialise(stanza)
        deliver = self.router.deliverSerialised
        for recipient in effect.recipients:
            deliver(recipient, head + _toAttribute(recipient) + tail,
                    lambda r=recipient: readdressed(stanza, r.full()))

    def _deliver(self, effect: effects.Deliver, origin: Any) -> None:
        stanza, recipient = effect.stanza, effect.recipient
        if stanza.name == "presence":
            self.router.presenceDelivered(stanza, (recipient,))
        head, tail = self._serialise(stanza)
        self.router.deliverSerialised(recipient, head + _toAttribute(recipient) + tail,
                                      lambda: readdressed(stanza, recipient.full()))

    def _startTimer(self, effect: effects.StartTimer, origin: Any) -> None:
        self._cancelTimer(effects.CancelTimer(effect.key), origin)
        self.timers[effect.key] = self.clock.callLater(effect.delay, self._fire, effect.key)

    def _cancelTimer(self, effect: effects.CancelTimer, origin: Any) -> None:
        call = self.timers.pop(effect.key, None)
        if call is not None and call.active():
            call.cancel()

    def _fire(self, key: tuple[str, ...]) -> None:
        self.timers.pop(key, None)
        try:
            done = self.engine.timerFired(key, self.clock.seconds())
        except Exception:
            self.log.failure("Timer {key} failed", key=key)
            return
        self.run(done)

    def _write(self, d: defer.Deferred) -> None:
        d.addErrback(lambda f: self.log.failure("A room storage write failed", f))
        self.node.track(d)

    def _saveRoom(self, effect: effects.SaveRoom, origin: Any) -> None:
        stored = StoredRoom(effect.record.name, toJSON(effect.record))
        self._write(self.store.saveRoom(self.host, stored))

    def _archive(self, effect: effects.Archive, origin: Any) -> None:
        head, tail = self._serialise(effect.stanza)
        message = ArchivedMessage(effect.stanzaId, effect.stamp, effect.nick, effect.occupant,
                                  (head + tail).decode("utf-8"))
        self._write(self.store.archiveMessage(self.host, effect.room, message,
                                              self._trimTo(effect.room)))

    def _trimTo(self, room: str) -> int:
        """
        The archive size to trim a room's archive to with this write, or 0
        for none: trimming walks the room's last C{archive_size} entries, so
        it runs with every C{TRIM_EVERY}th write only (every
        C{archive_size}th when that is smaller), and an archive may hold
        that many messages less one more than C{archive_size} in between.
        """
        if not self.archiveSize:
            return 0
        count = self._sinceTrim.get(room, 0) + 1
        if count < min(TRIM_EVERY, self.archiveSize):
            self._sinceTrim[room] = count
            return 0
        self._sinceTrim[room] = 0
        return self.archiveSize

    def _queryArchive(self, effect: effects.QueryArchive, origin: Any) -> None:
        """
        Read the page from storage and hand it back to the room, which
        renders it (with its real-JID rules) in a turn of its own.
        """
        query = effect.query
        wanted = ArchiveFilter(query.start, query.end, query.with_, query.after, query.before,
                               effect.max)

        def answer(page: Any) -> None:
            self._turn(lambda now: self.service.archiveAnswered(effect.room, query, page, now),
                       origin, f"{effect.room}@{self.host}")

        def failed(failure: Any) -> None:
            if not failure.check(*DOMAIN_ERRORS):
                self.log.failure("A MAM query failed", failure)
            self._refuse(origin, failure.value)

        self.store.queryArchive(self.host, effect.room, wanted).addCallbacks(answer, failed)

    def linkEvent(self, event: Any) -> None:
        """
        An s2s link event (L{xmuc.core.links}): a link from this service
        that comes up again keeps its server's occupants in their rooms.
        """
        if isinstance(event, LinkUp) and event.local == self.host:
            self.run(self.engine.linkUp(event.remote, self.clock.seconds()))

    def stop(self) -> None:
        """
        C{node-stopping}: tell every occupant the service is going (status
        332) and cancel the engine's timers; stanzas still waiting for the
        rooms to load are answered service-unavailable.
        """
        if self._ready:
            self.run(self.engine.shutdown(self.clock.seconds()))
        waiting, self._waiting = self._waiting, []
        for handle, stanza, to in waiting:
            self._refuse(stanza, StanzaError("service-unavailable", "wait", SERVICE_LOADING))
        for key in list(self.timers):
            self._cancelTimer(effects.CancelTimer(key), None)


def install(node: Any) -> MUCComponent | None:
    if not node.config.muc.enabled:
        return None
    component = MUCComponent(node)
    node.router.components[component.host] = component
    node.hooks.add("node-started", component.start)
    node.hooks.add("node-stopping", component.stop)
    return component
