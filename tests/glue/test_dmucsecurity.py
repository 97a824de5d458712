# -*- test-case-name: tests.glue.test_dmucsecurity -*-
"""
The security rules of distributed rooms (design section 7), end to end on
the FakeNetwork: whole nodes with the real s2s layer and dialback. What a
misbehaving peer sends is written as raw bytes on a real stream (an
unauthenticated connection, another domain's authenticated stream, the
primary's or the replica's own stream), or routed by the peer's node; each
test checks the error condition that comes back, that no client received
anything, and that neither the room nor the replica's mirror of it
changed.

The network: DMUC on A (the room's node) and B, C classic. In the room
C{room@muc.a.test}: Owner (A), Bob (B, through B's replica), Cal (C).
"""

from __future__ import annotations

from typing import Any

from twisted.internet.protocol import Protocol
from twisted.trial.unittest import SynchronousTestCase

from tests.support.fakenet import FakeNetwork, NetClient
from tests.support.harness import parseStanza, parseStanzas
from xmuc.dmuc.ns import NS_DMUC
from xmuc.dmuc.replica import Phase

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


class Room:
    """
    The network of these tests with its room set up, and what the tests
    read of it.
    """

    def __init__(self) -> None:
        self.net = net = FakeNetwork(("a.test", "b.test", "c.test"), seed=3,
                                     config={"a.test": ON, "b.test": ON})
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


class StreamTests(SynchronousTestCase):
    """
    DMUC stanzas are accepted only over an authenticated stream, from the
    domain the stream authenticated (design section 7, first rule; the s2s
    layer enforces it, RFC 6120 4.9.3).
    """

    def test_unauthenticated(self) -> None:
        """
        A broadcast for the room and an attach written on a stream that
        never authenticated (no dialback) end the stream with
        C{not-authorized}: nothing reaches the replica, Bob gets nothing,
        the mirror is as it was.
        """
        r = Room()
        before = r.state()
        seq = r.mirror.lastSeq + 1
        for payload in (broadcast(f"{ROOM}/Owner", seq),
                        f"<iq type='set' id='x' from='{ROOM}' to='{REPLICA}'>"
                        f"<attach xmlns='{NS_DMUC}' epoch='e' keepalive='60' history='5' "
                        "anonymity='non'/></iq>"):
            peer = r.connect("b.test")
            peer.transport.write((HEADER.format(src="muc.a.test", dst="b.test")
                                  + payload).encode())
            r.net.flush()
            self.assertIn(b"not-authorized", peer.data)
            self.assertTrue(peer.lost)
        r.nobodyReceived(self)
        self.assertEqual(r.state(), before)

    def test_wrongDomain(self) -> None:
        """
        A broadcast claiming to be the room's (C{from} muc.a.test) on C's
        authenticated stream to B, and on the stream A's bare domain
        authenticated, ends that stream with C{invalid-from}: Bob gets
        nothing, the mirror is unchanged, and the room's own stream still
        serves B (the next real message reaches Bob once).
        """
        r = Room()
        before = r.state()
        seq = r.mirror.lastSeq + 1
        for node, local in (("c.test", "c.test"), ("a.test", "a.test")):
            mark = r.inject(node, local, "b.test", broadcast(f"{ROOM}/Owner", seq))
            self.assertIn("invalid-from", r.streamText(mark, "b.test", node))
        r.nobodyReceived(self)
        self.assertEqual(r.state(), before)
        r.owner.send(f"<message type='groupchat' to='{ROOM}' id='m2'><body>real</body></message>")
        r.net.flush()
        self.assertEqual([str(m.body) for m in r.bob.received()], ["real"])


class ReplicaTests(SynchronousTestCase):
    """
    What B's replica refuses on authenticated streams (design section 7,
    third rule): broadcasts only from an attached room's JIDs, in
    sequence; requests only from rooms; an enter only for its own users
    who sent that room directed presence, never for an outcast.
    """

    def test_unattachedRoom(self) -> None:
        """
        Broadcasts from the nickname of a room of A's MUC service that B
        never attached, and from the service itself, are answered
        C{item-not-found}; Bob gets nothing, the mirror is unchanged.
        """
        r = Room()
        before = r.state()
        seq = r.mirror.lastSeq + 1
        for sender in ("other@muc.a.test/Owner", "muc.a.test"):
            mark = r.inject("a.test", "muc.a.test", "b.test", broadcast(sender, seq))
            self.assertEqual(errorsTo(r.crossed(mark, "b.test", "a.test"), sender),
                             ["item-not-found"])
        r.nobodyReceived(self)
        self.assertEqual(r.state(), before)

    def test_otherService(self) -> None:
        """
        A user of A called C{room} (C{room@a.test}: the room's name on
        another service of the primary's domain) sending the replica marked
        broadcasts gets C{item-not-found}; nobody else gets anything, the
        mirror is unchanged.
        """
        r = Room()
        impostor = r.login("room@a.test")
        before = r.state()
        impostor.send(broadcast("ignored", r.mirror.lastSeq + 1).replace(
            " from='ignored'", ""))
        r.net.flush()
        self.assertEqual([condition(x) for x in impostor.received()], ["item-not-found"])
        r.nobodyReceived(self)
        self.assertEqual(r.state(), before)

    def test_replay(self) -> None:
        """
        A copy of a broadcast the replica already applied (its seq again,
        as a retransmission would bring it) is ignored: no error goes back
        to the room, Bob does not get it twice, the mirror is unchanged,
        and the room's next broadcast reaches Bob once.
        """
        r = Room()
        before = r.state()
        seq = r.mirror.lastSeq
        mark = r.inject("a.test", "muc.a.test", "b.test", broadcast(f"{ROOM}/Owner", seq, "hi"))
        self.assertEqual(r.crossed(mark, "b.test", "a.test"), [])
        r.nobodyReceived(self)
        self.assertEqual(r.state(), before)
        r.owner.send(f"<message type='groupchat' to='{ROOM}' id='m2'><body>next</body></message>")
        r.net.flush()
        self.assertEqual([str(m.body) for m in r.bob.received()], ["next"])

    def test_gap(self) -> None:
        """
        A broadcast whose seq skips one is not applied and nothing after it
        is (the mirror waits for a resync, issue 10): Bob gets neither the
        stanza nor the room's next message, the roster and history stay as
        they were; nothing is answered to the room.
        """
        r = Room()
        (roster, local, history, subject, last, _) = r.mirrorState()
        mark = r.inject("a.test", "muc.a.test", "b.test",
                        broadcast(f"{ROOM}/Owner", last + 2))
        r.owner.send(f"<message type='groupchat' to='{ROOM}' id='m2'><body>next</body></message>")
        r.net.flush()
        self.assertEqual(r.crossed(mark, "b.test", "a.test"), [])
        r.nobodyReceived(self, r.owner, r.cal)
        self.assertEqual(r.mirrorState(),
                         (roster, local, history, subject, last, Phase.BROKEN))

    def test_attachFromNonRoom(self) -> None:
        """
        An attach from a user's full JID (amy@a.test/res) or from A's
        domain JID is answered C{bad-request}: no room is mirrored for it
        and the room's mirror is unchanged.
        """
        r = Room()
        amy = r.login("amy@a.test")
        before = r.state()
        attach = (f"<attach xmlns='{NS_DMUC}' epoch='e1' keepalive='60' history='5' "
                  "anonymity='non'/>")
        amy.send(f"<iq type='set' id='x1' to='{REPLICA}'>{attach}</iq>")
        r.net.flush()
        self.assertEqual([condition(x) for x in amy.received()], ["bad-request"])
        mark = r.inject("a.test", "a.test", "b.test",
                        f"<iq type='set' id='x2' from='a.test' to='{REPLICA}'>{attach}</iq>")
        self.assertEqual(errorsTo(r.crossed(mark, "b.test", "a.test"), "a.test"),
                         ["bad-request"])
        replica = r.net.nodes["b.test"].node.modules["dmuc"].replica.replica
        self.assertEqual(list(replica.rooms), [ROOM])
        r.nobodyReceived(self)
        self.assertEqual(r.state(), before)
