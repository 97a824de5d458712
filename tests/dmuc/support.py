"""
Two machines joined by a fake link, h11-style: a room service on node A
(the room engine, with or without L{Primary} in front of it) and node B's
L{Replica}, with clients on A, on B and on a classic domain C. Stanzas
that cross between A and B are serialised, counted, and parsed back as an
s2s stream would (in C{jabber:server}, then moved into C{jabber:client}),
so both engines only ever see what the other put on the wire.

    world = World(dmuc=True)
    world.join("bob@b.example/phone", "room", "Bob")
    world.received("bob@b.example/phone")

With C{dmuc=False} the same script runs against the room engine alone
(B's users served classically): the differential tests compare what each
client got in the two runs.
"""

from __future__ import annotations

import random
from typing import Any

from twisted.words.protocols.jabber.jid import JID
from twisted.words.xish import domish

from tests.support.harness import parseStanza, parseStanzas
from xmuc.core.errors import exceptionReply, toStanzaError
from xmuc.core.stanza import stanzaXml, toClientNamespace
from xmuc.dmuc import persist
from xmuc.dmuc.primary import Primary
from xmuc.dmuc.replica import Replica, ResyncNeeded
from xmuc.muc import effects
from xmuc.muc.parse import parseStanza as parseEvent
from xmuc.muc.service import MUCService
from xmuc.muc.settings import Settings

A, B, C = "a.example", "b.example", "c.example"
HOST = f"muc.{A}"
REPLICA = JID(f"dmuc@{B}")
INSTANT = (
    "<iq type='set' id='cfg' to='{room}@" + HOST + "'>"
    "<query xmlns='http://jabber.org/protocol/muc#owner'>"
    "<x xmlns='jabber:x:data' type='submit'/></query></iq>"
)


def overTheWire(element: domish.Element) -> domish.Element:
    """
    The stanza as the other node's s2s stream hands it on.
    """
    [parsed] = parseStanzas(stanzaXml(element), "jabber:server")
    return toClientNamespace(parsed)


class World:
    """
    Node A's room service, node B's replica (when C{dmuc}), and mailboxes
    of every client.

    @ivar crossings: stanzas sent from A to B (to the replica or to B's
        users directly), in order; C{back} those from B to A.
    @ivar directed: (full JID, room) pairs of B's users that sent the room
        directed presence (what B's router records).
    @ivar keptA: the persistence effects of A's primary
        (L{xmuc.dmuc.persist}), in order; C{keptB} those of B's replica.
    """

    def __init__(self, dmuc: bool = True, seed: int = 0, mirrors: Any = None) -> None:
        self.service = MUCService(Settings(host=HOST, domain=A), random.Random(seed))
        self.primary: Primary | None = None
        self.replica: Replica | None = None
        if dmuc:
            self.primary = Primary(self.service, random.Random(seed + 1))
            self.primary.replicaFound(B, REPLICA)
            self.replica = Replica(REPLICA, self.hasDirected,
                                   mirrors or (lambda domain: True))
        self.now = 1_700_000_000.0
        self.mailboxes: dict[str, list[bytes]] = {}
        self.crossings: list[domish.Element] = []
        self.back: list[domish.Element] = []
        self.directed: set[tuple[str, str]] = set()
        self.resyncs: list[ResyncNeeded] = []
        self.keptA: list[Any] = []
        self.keptB: list[Any] = []
        self.timers: dict[tuple[str, ...], float] = {}
        # Stanzas on the link, in order: (handler, element); a node's
        # turn ends before the other node handles what it sent.
        self.link: list[tuple[Any, domish.Element]] = []

    def hasDirected(self, jid: JID, room: str) -> bool:
        return (jid.full(), room) in self.directed

    # Input

    def send(self, sender: str, xml: str) -> None:
        """
        Have a client send a stanza to the room service; a refusal is
        answered to it as the glue does.
        """
        element = parseStanza(xml)
        element["from"] = JID(sender).full()
        to = JID(element["to"])
        if JID(sender).host == B and element.name == "presence":
            key = (JID(sender).full(), to.userhost())
            if element.getAttribute("type") == "unavailable":
                self.directed.discard(key)
            else:
                self.directed.add(key)
        self._toService(element, to)
        self.flush()

    def _toService(self, element: domish.Element, to: JID) -> None:
        try:
            event = parseEvent(element, to)
            if event is None:
                return
            engine = self.primary or self.service
            done = engine.handle(event, self.now)
        except Exception as e:
            if toStanzaError(e).condition == "internal-server-error":
                raise  # an engine's bug, not a refusal
            reply = exceptionReply(element, e)
            if reply is not None:
                self.runA([effects.Send(reply)])
            return
        self.runA(done)

    def flush(self) -> None:
        """
        Deliver what is on the link, in order, until it is empty.
        """
        while self.link:
            handle, element = self.link.pop(0)
            handle(element)

    def runA(self, done: list[Any]) -> None:
        """
        Carry out the effects of node A's room service.
        """
        for effect in done:
            if isinstance(effect, effects.Broadcast):
                for recipient in effect.recipients:
                    self._fromA(effect.stanza, recipient.full())
            elif isinstance(effect, effects.Deliver):
                self._fromA(effect.stanza, effect.recipient.full())
            elif isinstance(effect, effects.StartTimer):
                self.timers[effect.key] = self.now + effect.delay
            elif isinstance(effect, effects.CancelTimer):
                self.timers.pop(effect.key, None)
            elif isinstance(effect, effects.Send):
                to = effect.stanza["to"]
                if JID(to) == REPLICA:
                    self.crossings.append(effect.stanza)
                    self.link.append((self._toReplica, overTheWire(effect.stanza)))
                else:
                    self._fromA(effect.stanza, to)
            elif type(effect).__module__ == persist.__name__:
                self.keptA.append(effect)

    def _toReplica(self, element: domish.Element) -> None:
        self.runB(self.replica.receive(element, self.now))

    def _fromA(self, template: domish.Element, to: str) -> None:
        if JID(to).host == B:
            copy = domish.Element((template.uri, template.name), template.defaultUri)
            copy.attributes = dict(template.attributes)
            copy.children = list(template.children)
            copy["to"] = to
            self.crossings.append(copy)
            # Over the same link as the replica's copies, so in order.
            self.link.append((lambda e: self._mail(e, e["to"]), overTheWire(copy)))
            return
        self._mail(template, to)

    def runB(self, done: list[Any]) -> None:
        """
        Carry out the replica's effects: local deliveries, answers to A.
        """
        for effect in done:
            if isinstance(effect, effects.Broadcast):
                for recipient in effect.recipients:
                    self._mail(effect.stanza, recipient.full())
            elif isinstance(effect, effects.Deliver):
                self._mail(effect.stanza, effect.recipient.full())
            elif isinstance(effect, effects.Send):
                self.back.append(effect.stanza)
                element = overTheWire(effect.stanza)
                self.link.append((lambda e: self._toService(e, JID(e["to"])), element))
            elif isinstance(effect, ResyncNeeded):
                self.resyncs.append(effect)
            elif type(effect).__module__ == persist.__name__:
                self.keptB.append(effect)

    def _mail(self, template: domish.Element, to: str) -> None:
        copy = domish.Element((template.uri, template.name), template.defaultUri)
        copy.attributes = dict(template.attributes)
        copy.children = list(template.children)
        copy["to"] = to
        self.mailboxes.setdefault(to, []).append(stanzaXml(copy).encode("utf-8"))

    def shutdown(self) -> None:
        """
        Node A's room service stops.
        """
        self.runA((self.primary or self.service).shutdown(self.now))
        self.flush()

    # Output

    def received(self, jid: str) -> list[domish.Element]:
        """
        What C{jid} got since the last call.
        """
        return parseStanzas(b"".join(self.mailboxes.pop(JID(jid).full(), [])))

    def transcript(self, jid: str) -> list[Any]:
        """
        Everything C{jid} got so far, each stanza canonical (namespaces
        resolved, attributes sorted, timestamps normalised).
        """
        return [canonical(e) for e in parseStanzas(b"".join(self.mailboxes.get(jid, [])))]

    # Shorthands

    def join(self, sender: str, room: str, nick: str, extra: str = "") -> None:
        self.send(sender, f"<presence to='{room}@{HOST}/{nick}'>"
                          f"<x xmlns='http://jabber.org/protocol/muc'>{extra}</x></presence>")

    def create(self, owner: str, room: str, nick: str) -> None:
        self.join(owner, room, nick)
        self.send(owner, INSTANT.format(room=room))

    def leave(self, sender: str, room: str, nick: str) -> None:
        self.send(sender, f"<presence type='unavailable' to='{room}@{HOST}/{nick}'/>")

    def say(self, sender: str, room: str, body: str, id: str = "m1") -> None:
        self.send(sender, f"<message type='groupchat' id='{id}' to='{room}@{HOST}'>"
                          f"<body>{body}</body></message>")

    def admin(self, sender: str, room: str, item: str) -> None:
        self.send(sender, f"<iq type='set' id='a1' to='{room}@{HOST}'>"
                          "<query xmlns='http://jabber.org/protocol/muc#admin'>"
                          f"{item}</query></iq>")

    def configure(self, owner: str, room: str, **fields: str) -> None:
        """
        Submit a configuration form (C{var}s without C{muc#roomconfig_}).
        """
        body = "".join(f"<field var='{name if '#' in name else 'muc#roomconfig_' + name}'>"
                       f"<value>{value}</value></field>" for name, value in fields.items())
        self.send(owner, f"<iq type='set' id='cfg' to='{room}@{HOST}'>"
                         "<query xmlns='http://jabber.org/protocol/muc#owner'>"
                         "<x xmlns='jabber:x:data' type='submit'>"
                         "<field var='FORM_TYPE'><value>"
                         "http://jabber.org/protocol/muc#roomconfig</value></field>"
                         f"{body}</x></query></iq>")


def canonical(element: Any) -> Any:
    """
    A comparable form of an element: namespace, name, sorted attributes
    (C{stamp} normalised), children in order; text as it is.
    """
    if not isinstance(element, domish.Element):
        return str(element)
    attributes = tuple(sorted(
        (k if isinstance(k, str) else "{%s}%s" % k, "STAMP" if k == "stamp" else v)
        for k, v in element.attributes.items()))
    return (element.uri, element.name, attributes,
            tuple(canonical(c) for c in element.children))
