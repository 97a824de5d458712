"""
The engine-level world of L{tests.dmuc.support} with what the primary's
side of netsplits and netjoins needs around it: its persistence effects
and its reads carried out on a real L{MemoryStore} (through the glue's
own L{PrimaryStore}, so the log, its bound and its acknowledgement are
the store's), the room's archive kept there too, the link to B that a
test cuts (what the primary sends B's way then is kept, not delivered)
and a replica's C{<resync/>} sent as the primary receives it.

    w = NetWorld()
    w.create(OWNER, "room", "Owner")
    w.join(BOB, "room", "Bob")
    w.split()
    w.say(OWNER, "room", "missed")
    w.heal()
    answer, stanzas = w.resync(lastSeq=w.seqBefore, occupants=[(BOB, "Bob", "")])
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Iterable

from twisted.words.protocols.jabber.jid import JID
from twisted.words.xish import domish

from tests.dmuc.support import HOST, REPLICA, World, overTheWire
from tests.support.harness import parseStanza
from xmuc.core.errors import exceptionReply, toStanzaError
from xmuc.dmuc import resync as values
from xmuc.dmuc.peers import PeerDown, PeerUp
from xmuc.dmuc.wire import Embedded, Resync, ResyncOccupant
from xmuc.glue.dmucstore import PrimaryStore
from xmuc.muc import effects
from xmuc.storage.interfaces import ArchivedMessage
from xmuc.storage.memory import MemoryStore

ROOM = f"room@{HOST}"
NS_DMUC = "urn:xmpp:tmp:dmuc:0"
NS_SID = "urn:xmpp:sid:0"


def presenceOf(extra: str = "") -> Embedded:
    return Embedded.fromElement(parseStanza(f"<presence xmlns='jabber:client'>{extra}</presence>"),
                                "presence")


def spooledMessage(sender: str, body: str, origin: str, stamp: str | None = None) -> Embedded:
    """
    A groupchat message as a split replica spools it: its sender, an
    origin-id, and the time it was sent.
    """
    delay = f"<delay xmlns='urn:xmpp:delay' stamp='{stamp}'/>" if stamp else ""
    return Embedded.fromElement(parseStanza(
        f"<message xmlns='jabber:client' type='groupchat' from='{sender}' to='{ROOM}' "
        f"id='{origin}'><body>{body}</body><origin-id xmlns='{NS_SID}' id='{origin}'/>"
        f"{delay}</message>"), "message")


class NetWorld(World):
    """
    L{World} with a store behind the primary and a link to B that can be
    cut.

    @ivar cut: stanzas for B are kept in C{lost} instead of delivered.
    @ivar toReplica: every stanza the primary sent B's replica, in order.
    @ivar reports: the primary's link holds and reports, in order.
    @ivar reads: L{ReadForResync}s read, whose answers wait (C{holdReads}).
    """

    def __init__(self, store: MemoryStore | None = None, logSize: int = 1000,
                 seed: int = 0, **settings: Any) -> None:
        super().__init__(seed=seed)
        if settings:
            self.service.settings = replace(self.service.settings, **settings)
        self.store = store or MemoryStore()
        self.kept = PrimaryStore(self.store, HOST, logSize)
        self.runners = self.kept.runners()
        self.cut = False
        self.lost: list[domish.Element] = []
        self.toReplica: list[domish.Element] = []
        self.reports: list[Any] = []
        self.holdReads = False
        self.reads: list[tuple[values.ReadForResync, values.ResyncRead]] = []

    def runA(self, done: Iterable[Any]) -> None:
        for effect in done:
            runner = self.runners.get(type(effect))
            if runner is not None:
                self.keptA.append(effect)
                runner(effect, None)
            elif isinstance(effect, values.ReadForResync):
                # Read now, in store order; the answer may wait (holdReads).
                answers: list[Any] = []
                self.kept.readForResync(effect).addCallback(answers.append)
                self.reads.append((effect, answers[0]))
                if not self.holdReads:
                    self.completeReads()
            elif isinstance(effect, effects.Archive):
                head = effect.stanza.toXml()
                self.store.archiveMessage(HOST, effect.room, ArchivedMessage(
                    effect.stanzaId, effect.stamp, effect.nick, effect.occupant, head), 0)
            elif isinstance(effect, (values.KeepLink, values.ReleaseLink, values.SplitReport,
                                     values.NetjoinReport)):
                self.reports.append(effect)
            elif isinstance(effect, effects.Send) and JID(effect.stanza["to"]) == REPLICA:
                self.toReplica.append(effect.stanza)
                if self.cut:
                    self.lost.append(effect.stanza)
                else:
                    super().runA([effect])
            else:
                super().runA([effect])

    def _fromA(self, template: domish.Element, to: str) -> None:
        if self.cut and JID(to).host == "b.example":
            self.lost.append(template)
            return
        super()._fromA(template, to)

    def completeReads(self) -> None:
        """
        Carry out the reads that wait, each answer in a turn of its own.
        """
        reads, self.reads = self.reads, []
        for read, answer in reads:
            self.runA(self.primary.resyncRead(read.room, read.domain, answer, self.now))
        self.flush()

    # The link

    def split(self, reason: str = "no answer to keepalive") -> None:
        self.cut = True
        self.runA(self.primary.peerDown(PeerDown("b.example", reason), self.now))

    def heal(self) -> None:
        self.cut = False
        self.runA(self.primary.peerUp(PeerUp("b.example"), self.now))
        self.flush()

    # What the replica sends

    def fromReplica(self, payload: Any, to: str = ROOM, sender: JID = REPLICA,
                    id: str = "r1") -> domish.Element | None:
        """
        A replica's iq set to the room as the primary receives it; its
        error answer, if any (the result comes in C{toReplica}).
        """
        iq = domish.Element(("jabber:client", "iq"))
        iq["type"], iq["id"], iq["from"], iq["to"] = "set", id, sender.full(), to
        iq.addChild(payload.render())
        element = overTheWire(iq)
        event = values.ResyncIn(sender=sender, to=JID(to), id=id,
                                resync=Resync.parse(element.firstChildElement()))
        try:
            done = self.primary.handle(event, self.now)
        except Exception as e:
            if toStanzaError(e).condition == "internal-server-error":
                raise
            return exceptionReply(element, e)
        self.runA(done)
        self.flush()
        return None

    def resync(self, lastSeq: int, occupants: Iterable[tuple[str, str, str]] = (),
               spooled: Iterable[Embedded] = (), epoch: str | None = None
               ) -> tuple[domish.Element | None, list[domish.Element]]:
        """
        The replica resyncs: C{occupants} as (full JID, nick, presence
        payload). Returns the answer's C{<resynced/>} (L{None} when it did
        not come yet) and the stanzas sent the replica after it.
        """
        mark = len(self.toReplica)
        value = Resync(epoch if epoch is not None else self.primary.rooms["room"].epoch,
                       lastSeq, tuple(ResyncOccupant(JID(j), n, presenceOf(p))
                                      for j, n, p in occupants), tuple(spooled))
        error = self.fromReplica(value)
        if error is not None:
            raise AssertionError(error.toXml())
        return self.answerSince(mark)

    def answerSince(self, mark: int) -> tuple[domish.Element | None, list[domish.Element]]:
        sent = self.toReplica[mark:]
        for n, stanza in enumerate(sent):
            if stanza.name == "iq" and stanza.getAttribute("type") == "result":
                resynced = next(stanza.elements(NS_DMUC, "resynced"), None)
                if resynced is not None:
                    return resynced, sent[n + 1:]
        return None, sent

    def attachment(self) -> Any:
        return self.primary.attachment("room", "b.example")

    def logged(self, after: int) -> Any:
        replays: list[Any] = []
        self.store.replayBroadcasts(HOST, "room", REPLICA.full(), after).addCallback(
            replays.append)
        return replays[0]


def seqOf(stanza: domish.Element) -> int:
    marker = next(stanza.elements(NS_DMUC, "x"))
    return int(marker["seq"])
