# -*- test-case-name: tests.glue.test_dmucsecurity,tests.glue.test_dmucrefusals -*-
"""
The network of the distributed rooms' security tests
(L{tests.glue.test_dmucsecurity}, L{tests.glue.test_dmucrefusals}): the
FakeNetwork of A (the room's node, DMUC on), B (DMUC on) and C (classic),
the room C{room@muc.a.test} with Owner (A), Bob (B, through B's replica)
and Cal (C); and the means to misbehave as a peer would: raw bytes on a
node's authenticated outgoing stream, a fresh connection from a host that
is not a node, and what crossed between two nodes.
"""

from __future__ import annotations

from typing import Any, Callable

from twisted.internet.protocol import Protocol
from twisted.trial.unittest import SynchronousTestCase

from tests.support.fakenet import FakeNetwork, NetClient
from tests.support.harness import parseStanzas
from xmuc.dmuc.ns import NS_DMUC

__all__ = ["HEADER", "MUC_NS", "ON", "REPLICA", "ROOM", "STANZAS_NS", "RawPeer", "RoomNet",
           "broadcast", "condition", "enter", "errorsTo", "join", "marker"]

ROOM = "room@muc.a.test"
MUC_NS = "http://jabber.org/protocol/muc"
REPLICA = "dmuc@b.test"
ON = "[dmuc]\nenabled = true\n"
STANZAS_NS = "urn:ietf:params:xml:ns:xmpp-stanzas"
HEADER = ("<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
          "xmlns:stream='http://etherx.jabber.org/streams' "
          "xmlns:db='jabber:server:dialback' from='{src}' to='{dst}' version='1.0'>")


def join(nick: str, room: str = ROOM) -> str:
    return f"<presence to='{room}/{nick}'><x xmlns='{MUC_NS}'/></presence>"


def marker(seq: int, inner: str = "") -> str:
    return f"<x xmlns='{NS_DMUC}' seq='{seq}'>{inner}</x>"


def broadcast(sender: str, seq: int, body: str = "forged") -> str:
    """
    A groupchat message as a primary sends it to B's replica.
    """
    return (f"<message type='groupchat' from='{sender}' to='{REPLICA}' id='f{seq}'>"
            f"<body>{body}</body>{marker(seq)}</message>")


def enter(nick: str, jid: str, seq: int) -> str:
    """
    An enter copy for C{jid} under C{nick}, as a primary sends it.
    """
    return (f"<presence from='{ROOM}/{nick}' to='{REPLICA}'>"
            f"<x xmlns='{MUC_NS}#user'><item affiliation='none' role='participant' "
            f"jid='{jid}'/><status code='110'/></x>"
            f"{marker(seq, f'<enter jid={chr(39)}{jid}{chr(39)}/>')}</presence>")


class RawPeer(Protocol):
    """
    The other end of a connection a test opens to a node's s2s port: it
    writes what the test says and keeps what the node answers.
    """

    def __init__(self) -> None:
        self.data = b""
        self.lost = False

    def dataReceived(self, data: bytes) -> None:
        self.data += data

    def connectionLost(self, reason: Any = None) -> None:
        self.lost = True


class RoomNet:
    """
    The network of these tests with its room set up, and what the tests
    read of it.
    """

    def __init__(self, prepare: Callable[[FakeNetwork], None] | None = None) -> None:
        """
        @param prepare: called with the network before anyone joins.
        """
        self.net = net = FakeNetwork(("a.test", "b.test", "c.test"), seed=3,
                                     config={"a.test": ON, "b.test": ON})
        if prepare is not None:
            prepare(net)
        self.owner = net.login("owner@a.test")
        self.bob = net.login("bob@b.test")
        self.cal = net.login("cal@c.test")
        self.owner.send(join("Owner"))
        self.owner.send(f"<iq type='set' id='c1' to='{ROOM}'><query xmlns='{MUC_NS}#owner'>"
                        "<x xmlns='jabber:x:data' type='submit'/></query></iq>")
        net.flush()
        for client, nick in ((self.bob, "Bob"), (self.cal, "Cal")):
            client.send(join(nick))
            net.flush()
        self.owner.send(f"<message type='groupchat' to='{ROOM}' id='m1'><body>hi</body></message>")
        net.flush()
        self.clients = [self.owner, self.bob, self.cal]
        self.quiet()

    def login(self, address: str) -> NetClient:
        client = self.net.login(address)
        self.clients.append(client)
        return client

    def quiet(self) -> None:
        """
        Read what every client has received so far.
        """
        for client in self.net.clients():
            client.received()

    def nobodyReceived(self, test: SynchronousTestCase, *but: NetClient) -> None:
        for client in self.net.clients():
            if client not in but:
                test.assertEqual([x.toXml() for x in client.received()], [],
                                 client.jid.full())

    # State

    @property
    def mirror(self) -> Any:
        return self.net.nodes["b.test"].node.modules["dmuc"].replica.replica.rooms[ROOM]

    def roomState(self) -> Any:
        """
        The room as the primary holds it: occupants with their role and
        sessions, affiliations, history, subject.
        """
        room = self.net.nodes["a.test"].muc.service.rooms["room"]
        return ({n: (o.role, tuple(s.full() for s in o.jids())) for n, o in
                 room.occupants.items()},
                {j: a.affiliation for j, a in room.affiliations.items()},
                [e.stanza.toXml() for e in room.history], room.subject)

    def mirrorState(self) -> Any:
        """
        B's mirror of the room: roster, local distribution list, history,
        subject, last seq, phase.
        """
        m = self.mirror
        return ({n: (x.role, x.affiliation, x.jid) for n, x in m.roster.items()},
                {n: list(j) for n, j in m.local.items()},
                [e.stanza.toXml() for e in m.history], m.subject, m.lastSeq, m.phase)

    def state(self) -> Any:
        return self.roomState(), self.mirrorState()

    # Raw traffic

    def stream(self, node: str, local: str, remote: str) -> Any:
        """
        The authenticated outgoing stream of C{node} from C{local} to
        C{remote}, brought up when it is not.
        """
        manager = self.net.nodes[node].s2s
        link = manager.links.get((local, remote))
        if link is None or link.state != "up":
            manager.keepUp(remote, local)
            self.net.flush()
            link = manager.links[(local, remote)]
        assert link.state == "up", link.state
        return link.stream

    def inject(self, node: str, local: str, remote: str, xml: str) -> int:
        """
        Write C{xml} on C{node}'s authenticated stream from C{local} to
        C{remote}, as a peer that misbehaves would; the network settles.

        @return: the event number before the write (for L{crossed}).
        """
        stream = self.stream(node, local, remote)
        mark = len(self.net.events)
        stream.transport.write(xml.encode("utf-8"))
        self.net.flush()
        return mark

    def connect(self, target: str, source: str = "rogue") -> RawPeer:
        """
        A fresh connection from a host that is not a node to C{target}'s
        s2s port.
        """
        peer = RawPeer()
        node = self.net.nodes[target]
        self.net.wire.connect((source, "10.9.9.9"), (target, node.address),
                              lambda address: node.s2s.listenFactory().buildProtocol(address),
                              peer)
        self.net.flush()
        return peer

    def crossed(self, mark: int, src: str, dst: str) -> list[Any]:
        """
        The stanzas that crossed from node C{src} to node C{dst} since
        event C{mark}.
        """
        data = b"".join(detail for _, kind, s, d, _, detail in self.net.events[mark:]
                        if kind == "data" and (s, d) == (src, dst))
        return parseStanzas(data, "jabber:server")

    def streamText(self, mark: int, src: str, dst: str) -> str:
        return b"".join(detail for _, kind, s, d, _, detail in self.net.events[mark:]
                        if kind == "data" and (s, d) == (src, dst)).decode("utf-8")


def condition(stanza: Any) -> str | None:
    """
    The defined condition of an error stanza, L{None} for another stanza.
    """
    if stanza.getAttribute("type") != "error":
        return None
    error = next(c for c in stanza.elements() if c.name == "error")
    return next(c.name for c in error.elements() if c.uri == STANZAS_NS)


def errorsTo(stanzas: list[Any], to: str) -> list[str | None]:
    return [condition(s) for s in stanzas
            if s.getAttribute("to") == to and s.getAttribute("type") == "error"]
