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

from typing import Any, Callable

from twisted.internet.protocol import Protocol
from twisted.trial.unittest import SynchronousTestCase
from twisted.words.protocols.jabber.jid import JID

from tests.support.fakenet import FakeNetwork, NetClient
from tests.support.harness import parseStanza, parseStanzas
from xmuc.dmuc.infoform import infoForm
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

    def test_forgedDialback(self) -> None:
        """
        A host that is not A claiming muc.a.test with a made-up dialback
        key: a broadcast written before the answer ends the stream with
        C{not-authorized}; waiting for the answer, B (asking A, the
        authoritative server) says C{invalid} and closes the stream. Bob
        gets nothing, the mirror is unchanged.
        """
        r = Room()
        before = r.state()
        claim = HEADER.format(src="muc.a.test", dst="b.test") + (
            "<db:result from='muc.a.test' to='b.test'>0123456789abcdef</db:result>")
        eager = r.connect("b.test")
        eager.transport.write((claim + broadcast(f"{ROOM}/Owner", r.mirror.lastSeq + 1))
                              .encode())
        r.net.flush()
        self.assertIn(b"not-authorized", eager.data)
        patient = r.connect("b.test")
        patient.transport.write(claim.encode())
        r.net.flush()
        self.assertIn(b"type='invalid'", patient.data)
        self.assertTrue(eager.lost and patient.lost)
        r.nobodyReceived(self)
        self.assertEqual(r.state(), before)

    def test_tooLarge(self) -> None:
        """
        A broadcast larger than [s2s] max_stanza_size on the room's own
        authenticated stream ends that stream with C{policy-violation}, as
        on any s2s stream: Bob gets nothing, the mirror is unchanged, and
        the room reaches Bob again over a new stream.
        """
        r = Room()
        before = r.state()
        size = r.net.nodes["b.test"].node.config.s2s.max_stanza_size
        mark = r.inject("a.test", "muc.a.test", "b.test",
                        broadcast(f"{ROOM}/Owner", r.mirror.lastSeq + 1, "x" * size))
        self.assertIn("policy-violation", r.streamText(mark, "b.test", "a.test"))
        r.nobodyReceived(self)
        self.assertEqual(r.state(), before)
        r.owner.send(f"<message type='groupchat' to='{ROOM}' id='m2'><body>real</body></message>")
        r.net.flush()
        self.assertEqual([str(m.body) for m in r.bob.received()], ["real"])

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
        never attached, from the service itself, and from a room of the
        same name on C's service (each over its own authenticated stream)
        are answered C{item-not-found}; Bob gets nothing, the mirror is
        unchanged.
        """
        r = Room()
        before = r.state()
        seq = r.mirror.lastSeq + 1
        for node, sender in (("a.test", "other@muc.a.test/Owner"), ("a.test", "muc.a.test"),
                             ("c.test", "room@muc.c.test/Owner")):
            local = sender.split("@")[-1].split("/")[0]
            mark = r.inject(node, local, "b.test", broadcast(sender, seq))
            self.assertEqual(errorsTo(r.crossed(mark, "b.test", node), sender),
                             ["item-not-found"])
        r.nobodyReceived(self)
        self.assertEqual(r.state(), before)

    def test_afterDetach(self) -> None:
        """
        Once B's last occupant left and the room detached B's replica, a
        broadcast from the room's own nickname (the next seq) is answered
        C{item-not-found}: the replica mirrors nothing, nobody gets
        anything.
        """
        r = Room()
        r.bob.send(f"<presence type='unavailable' to='{ROOM}/Bob'/>")
        r.net.flush()
        r.quiet()
        replica = r.net.nodes["b.test"].node.modules["dmuc"].replica.replica
        self.assertEqual(replica.rooms, {})
        mark = r.inject("a.test", "muc.a.test", "b.test", broadcast(f"{ROOM}/Owner", 99))
        self.assertEqual(errorsTo(r.crossed(mark, "b.test", "a.test"), f"{ROOM}/Owner"),
                         ["item-not-found"])
        self.assertEqual(replica.rooms, {})
        r.nobodyReceived(self)

    def test_otherService(self) -> None:
        """
        A user of A called C{room} (C{room@a.test}: the room's name on
        another service of the primary's domain), and one of B itself,
        sending the replica marked broadcasts get C{item-not-found}; nobody
        else gets anything, the mirror is unchanged.
        """
        r = Room()
        impostors = [r.login("room@a.test"), r.login("room@b.test")]
        before = r.state()
        for impostor in impostors:
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


class EnterTests(SynchronousTestCase):
    """
    An enter is honoured only for the replica's own users who sent that
    room directed presence and are not outcasts: a primary cannot pull a
    user into a room (design sections 3 and 7). The replica answers
    C{forbidden}; the primary then removes the occupant it admitted.
    """

    def pull(self, r: Room, nick: str, jid: str) -> int:
        """
        A join from C{jid} that B's router never saw (written on B's
        stream to the room's service): the primary admits it and sends the
        replica an enter.
        """
        return r.inject("b.test", "b.test", "muc.a.test", join(nick).replace(
            "<presence ", f"<presence from='{jid}' ", 1))

    def test_noDirectedPresence(self) -> None:
        """
        The primary pulls Bea, who never sent the room presence: the
        replica answers the enter C{forbidden}, the primary removes Bea
        (Owner and Cal see her come and go, Bob sees nothing), Bea gets
        nothing, and the room is as before.
        """
        r = Room()
        bea = r.login("bea@b.test")
        room, (roster, local, history, subject, last, phase) = r.state()
        mark = self.pull(r, "Bea", "bea@b.test/res")
        self.assertEqual(errorsTo(r.crossed(mark, "b.test", "a.test"), f"{ROOM}/Bea"),
                         ["forbidden"])
        self.assertEqual(bea.received(), [])
        for client in (r.owner, r.cal):
            seen = [(x.getAttribute("from"), x.getAttribute("type")) for x in client.received()]
            self.assertEqual(seen, [(f"{ROOM}/Bea", None), (f"{ROOM}/Bea", "unavailable")])
        r.nobodyReceived(self)
        self.assertEqual(r.roomState(), room)
        self.assertEqual(r.mirrorState(), (roster, local, history, subject, last + 2, phase))

    def test_otherRoom(self) -> None:
        """
        Bea is in room2 on the same service (directed presence there, not
        to room): the primary pulling her into room is refused
        C{forbidden}, she is removed, and she gets nothing of room.
        """
        r = Room()
        bea = r.login("bea@b.test")
        bea.send(join("Bea", "room2@muc.a.test"))
        r.net.flush()
        r.quiet()
        before = r.roomState()
        mark = self.pull(r, "Bea", "bea@b.test/res")
        self.assertEqual(errorsTo(r.crossed(mark, "b.test", "a.test"), f"{ROOM}/Bea"),
                         ["forbidden"])
        self.assertEqual(bea.received(), [])
        self.assertEqual(r.roomState(), before)
        self.assertEqual([x.toXml() for x in r.bob.received()], [])

    def test_afterLeave(self) -> None:
        """
        Bob left the room (his directed presence ended with it): the
        primary pulling him back is refused C{forbidden}, he is removed
        again and gets nothing; Bea, still in the room through the
        replica, sees nothing of it.
        """
        r = Room()
        bea = r.login("bea@b.test")
        bea.send(join("Bea"))
        r.net.flush()
        r.bob.send(f"<presence type='unavailable' to='{ROOM}/Bob'/>")
        r.net.flush()
        r.quiet()
        room, (roster, local, history, subject, last, phase) = r.state()
        mark = self.pull(r, "Bob", "bob@b.test/res")
        self.assertEqual(errorsTo(r.crossed(mark, "b.test", "a.test"), f"{ROOM}/Bob"),
                         ["forbidden"])
        self.assertEqual(r.bob.received(), [])
        self.assertEqual(bea.received(), [])
        self.assertEqual(r.roomState(), room)
        self.assertEqual(r.mirrorState(), (roster, local, history, subject, last + 2, phase))

    def test_refusedJoin(self) -> None:
        """
        Dan's join was refused (C{conflict}: Cal holds the nickname), which
        ends his directed presence to the room: an enter for him the
        primary sends later is refused C{forbidden}, and he gets nothing
        but the refusal.
        """
        r = Room()
        dan = r.login("dan@b.test")
        dan.send(join("Cal"))
        r.net.flush()
        self.assertEqual([condition(x) for x in dan.received()], ["conflict"])
        room, (roster, local, history, subject, last, phase) = r.state()
        mark = r.inject("a.test", "muc.a.test", "b.test", enter("Dan", "dan@b.test/res", last + 1))
        [answer] = r.crossed(mark, "b.test", "a.test")
        self.assertEqual(condition(answer), "forbidden")
        self.assertIn("No directed presence", answer.toXml())
        r.nobodyReceived(self)
        self.assertEqual(r.roomState(), room)
        self.assertEqual(r.mirrorState(), (roster, local, history, subject, last + 1, phase))

    def test_afterKick(self) -> None:
        """
        Bob was kicked (the replica delivered the kick, which ends his
        directed presence as a direct delivery would): an enter for him
        the primary sends afterwards is refused C{forbidden}; he and Bea
        get nothing.
        """
        r = Room()
        bea = r.login("bea@b.test")
        bea.send(join("Bea"))
        r.net.flush()
        r.owner.send(f"<iq type='set' id='k1' to='{ROOM}'><query xmlns='{MUC_NS}#admin'>"
                     "<item nick='Bob' role='none'/></query></iq>")
        r.net.flush()
        r.quiet()
        room, (roster, local, history, subject, last, phase) = r.state()
        self.assertNotIn("Bob", roster)
        mark = r.inject("a.test", "muc.a.test", "b.test", enter("Bob", "bob@b.test/res", last + 1))
        self.assertEqual(errorsTo(r.crossed(mark, "b.test", "a.test"), f"{ROOM}/Bob"),
                         ["forbidden"])
        r.nobodyReceived(self)
        self.assertEqual(r.roomState(), room)
        self.assertEqual(r.mirrorState(), (roster, local, history, subject, last + 1, phase))

    def test_otherSession(self) -> None:
        """
        Bob is in the room from one client; the primary pulls his second
        client (bob@b.test/tablet, which sent the room nothing) under his
        nickname: refused C{forbidden}, that session alone is removed, the
        tablet gets nothing, and Bob stays in the room with his first
        client, which gets nothing of the refused session's leave.
        """
        r = Room()
        tablet = r.login("bob@b.test/tablet")
        r.quiet()  # the two clients' own presences
        room, mirror = r.state()
        mark = self.pull(r, "Bob", "bob@b.test/tablet")
        self.assertEqual(errorsTo(r.crossed(mark, "b.test", "a.test"), f"{ROOM}/Bob"),
                         ["forbidden"])
        self.assertEqual(tablet.received(), [])
        # The room shows the occupant again as its remaining session (as
        # it does whenever one of several sessions leaves): Bob's first
        # client gets that presence with 110 and stays in the room.
        [shown] = r.bob.received()
        self.assertEqual((shown.getAttribute("type"), shown.x.item["jid"],
                          [s["code"] for s in shown.x.elements() if s.name == "status"]),
                         (None, "bob@b.test/res", ["110"]))
        self.assertEqual(r.roomState(), room)
        self.assertEqual(r.mirrorState()[:4], mirror[:4])
        r.owner.send(f"<message type='groupchat' to='{ROOM}' id='m2'><body>still</body></message>")
        r.net.flush()
        self.assertEqual([str(m.body) for m in r.bob.received()], ["still"])
        self.assertEqual(tablet.received(), [])

    def test_anotherDomain(self) -> None:
        """
        An enter the primary sends B's replica for Cal, a user of C, is
        answered C{forbidden} (not a user of B); the primary, which never
        sent it, removes nobody: Cal stays, nobody gets anything, the
        mirror only counted the stanza.
        """
        r = Room()
        room, (roster, local, history, subject, last, phase) = r.state()
        mark = r.inject("a.test", "muc.a.test", "b.test",
                        enter("Cal", "cal@c.test/res", last + 1))
        answers = r.crossed(mark, "b.test", "a.test")
        self.assertEqual(errorsTo(answers, f"{ROOM}/Cal"), ["forbidden"])
        r.nobodyReceived(self)
        self.assertEqual(r.roomState(), room)
        self.assertEqual(r.mirrorState(), (roster, local, history, subject, last + 1, phase))

    def test_outcast(self) -> None:
        """
        Eve of B is banned: her join is refused by the room itself
        (C{forbidden}, XEP-0045 7.2.7) without the replica; an enter for her
        the primary sends anyway is refused by the replica, which holds the
        room's bans on B (C{forbidden}, "Banned"). Nobody else gets
        anything, the room is unchanged.
        """
        r = Room()
        eve = r.login("eve@b.test")
        r.owner.send(f"<iq type='set' id='b1' to='{ROOM}'><query xmlns='{MUC_NS}#admin'>"
                     "<item affiliation='outcast' jid='eve@b.test'/></query></iq>")
        r.net.flush()
        r.quiet()
        room, (roster, local, history, subject, last, phase) = r.state()
        eve.send(join("Eve"))
        r.net.flush()
        self.assertEqual([condition(x) for x in eve.received()], ["forbidden"])
        mark = r.inject("a.test", "muc.a.test", "b.test",
                        enter("Eve", "eve@b.test/res", last + 1))
        [answer] = r.crossed(mark, "b.test", "a.test")
        self.assertEqual(condition(answer), "forbidden")
        self.assertIn("Banned", answer.toXml())
        self.assertEqual(eve.received(), [])
        r.nobodyReceived(self)
        self.assertEqual(r.roomState(), room)
        self.assertEqual(r.mirrorState(), (roster, local, history, subject, last + 1, phase))


class PrimaryTests(SynchronousTestCase):
    """
    What the room's primary refuses from a replica (design section 7,
    second and fourth rules): nothing a replica sends changes roles,
    affiliations or the roster, or speaks in the room, and what it says
    about users of other domains removes nobody.
    """

    def fromReplica(self, r: Room, xml: str) -> list[Any]:
        """
        C{xml} sent from B's replica JID by B's node; the answers that
        came back to it.
        """
        mark = len(r.net.events)
        r.net.nodes["b.test"].node.router.route(parseStanza(xml))
        r.net.flush()
        return [s for s in r.crossed(mark, "a.test", "b.test")
                if s.getAttribute("to") == REPLICA]

    def test_roles(self) -> None:
        """
        The replica's JID asking for a role change, an affiliation change
        or a kick gets C{forbidden}, and so does its presence to Bob's
        nickname; a presence giving Bob the moderator role in a muc#user
        item is C{bad-request} (items are the room's to send, from
        anyone). Bob stays a participant, Cal stays, nobody gets anything.
        """
        r = Room()
        before = r.state()
        admin = (f"<iq type='set' id='r{{0}}' from='{REPLICA}' to='{ROOM}'>"
                 f"<query xmlns='{MUC_NS}#admin'>{{1}}</query></iq>")
        for xml, expected in (
                (admin.format(1, "<item nick='Bob' role='moderator'/>"), "forbidden"),
                (admin.format(2, "<item affiliation='owner' jid='bob@b.test'/>"), "forbidden"),
                (admin.format(3, "<item nick='Cal' role='none'/>"), "forbidden"),
                (f"<presence from='{REPLICA}' to='{ROOM}/Bob'/>", "forbidden"),
                (f"<presence from='{REPLICA}' to='{ROOM}/Bob'><x xmlns='{MUC_NS}#user'>"
                 "<item affiliation='owner' role='moderator' jid='bob@b.test/res'/></x>"
                 f"{marker(99)}</presence>", "bad-request")):
            self.assertEqual([condition(x) for x in self.fromReplica(r, xml)], [expected], xml)
        r.nobodyReceived(self)
        self.assertEqual(r.state(), before)

    def test_speaksAsOccupant(self) -> None:
        """
        A groupchat message to the room from the replica's JID is
        C{forbidden}; from a nickname under it (not an occupant's real JID)
        C{not-acceptable}; in the name of Cal (an occupant of C) on B's
        stream the stream ends with C{invalid-from}. Nothing is broadcast,
        the history is unchanged.
        """
        r = Room()
        before = r.state()
        say = ("<message type='groupchat' from='{0}' to='" + ROOM + "' id='g'>"
               "<body>forged</body></message>")
        self.assertEqual([condition(x) for x in self.fromReplica(r, say.format(REPLICA))],
                         ["forbidden"])
        mark = len(r.net.events)
        r.net.nodes["b.test"].node.router.route(parseStanza(say.format(REPLICA + "/Cal")))
        r.net.flush()
        self.assertEqual(errorsTo(r.crossed(mark, "a.test", "b.test"), REPLICA + "/Cal"),
                         ["not-acceptable"])
        mark = r.inject("b.test", "b.test", "muc.a.test", say.format("cal@c.test/res"))
        self.assertIn("invalid-from", r.streamText(mark, "a.test", "b.test"))
        r.nobodyReceived(self)
        self.assertEqual(r.state(), before)

    def test_aboutAnotherDomain(self) -> None:
        """
        From B's replica about Cal (a user of C) and Owner (of A): a
        C{forbidden} error for their nicknames (as if refusing an enter) is
        ignored (an error is never answered), a leave (unavailable
        presence with C{<leave/>}) is answered C{forbidden}, and a resync
        leaving them out C{service-unavailable} (the primary does not take
        resyncs yet: issue 10; then it must take them about B's users
        alone). Cal and Owner stay, nobody gets anything.
        """
        r = Room()
        before = r.state()
        for nick, jid in (("Cal", "cal@c.test/res"), ("Owner", "owner@a.test/res")):
            error = (f"<presence type='error' from='{REPLICA}' to='{ROOM}/{nick}'>"
                     f"<error type='auth'><forbidden xmlns='{STANZAS_NS}'/></error></presence>")
            self.assertEqual(self.fromReplica(r, error), [])
            leave = (f"<presence type='unavailable' from='{REPLICA}' to='{ROOM}/{nick}'>"
                     f"<x xmlns='{NS_DMUC}'><leave jid='{jid}'/></x></presence>")
            self.assertEqual([condition(x) for x in self.fromReplica(r, leave)], ["forbidden"])
        resync = (f"<iq type='set' id='s1' from='{REPLICA}' to='{ROOM}'>"
                  f"<resync xmlns='{NS_DMUC}' epoch='e' last-seq='1'/></iq>")
        self.assertEqual([condition(x) for x in self.fromReplica(r, resync)],
                         ["service-unavailable"])
        r.nobodyReceived(self)
        self.assertEqual(r.state(), before)

    def test_claimedReplica(self) -> None:
        """
        C's disco#info names B's replica as its own: the primary serves
        C's users classically (a domain's replica is on that domain), so
        B's replica never hears of Cal's enter, and Cal gets the room as
        usual.
        """
        def claim(net: FakeNetwork) -> None:
            node = net.nodes["c.test"].node
            node.serverFeatures.add(NS_DMUC)
            node.modules["disco"].serverExtensions.append(infoForm(JID(REPLICA)))

        r = Room(claim)
        primary = r.net.nodes["a.test"].node.modules["dmuc"].primary.primary
        self.assertIsNone(primary.attachment("room", "c.test"))
        self.assertEqual(primary.replicas.get("c.test"), None)
        self.assertEqual(r.mirror.local, {"Bob": [JID("bob@b.test/res")]})
        self.assertIn("Cal", r.mirror.roster)
        r.owner.send(f"<message type='groupchat' to='{ROOM}' id='m2'><body>all</body></message>")
        r.net.flush()
        for client in r.clients:
            self.assertEqual([str(m.body) for m in client.received()], ["all"])


class OccupantTests(SynchronousTestCase):
    """
    What occupants send reaches replicas only as the room's broadcast:
    the DMUC element is the room's to set, like its stanza-id and delay.
    """

    def test_markerInMessage(self) -> None:
        """
        Cal (a classic occupant) sends a groupchat message carrying a DMUC
        element with a far seq: the room drops the element, so B's replica
        applies the broadcast in sequence; Bob gets the message (with no
        DMUC element) and the room's next one, and the mirror stays live.
        """
        r = Room()
        last = r.mirror.lastSeq
        r.cal.send(f"<message type='groupchat' to='{ROOM}' id='z'><body>x</body>"
                   f"{marker(last + 5)}</message>")
        r.net.flush()
        r.owner.send(f"<message type='groupchat' to='{ROOM}' id='m2'><body>y</body></message>")
        r.net.flush()
        got = r.bob.received()
        self.assertEqual([str(m.body) for m in got], ["x", "y"])
        self.assertNotIn(NS_DMUC, got[0].toXml())
        self.assertEqual(r.mirrorState()[4:], (last + 2, Phase.LIVE))

    def test_markerInPresence(self) -> None:
        """
        Cal's presence change carrying a DMUC element that names Bob in an
        C{<enter/>} is broadcast without it: Bob sees Cal's status once,
        as any presence change, and the mirror stays live.
        """
        r = Room()
        last = r.mirror.lastSeq
        r.cal.send(f"<presence to='{ROOM}/Cal'><status>away</status>"
                   f"{marker(last + 1, '<enter jid=' + chr(39) + 'bob@b.test/res' + chr(39) + '/>')}"
                   "</presence>")
        r.net.flush()
        [presence] = r.bob.received()
        self.assertEqual((presence.getAttribute("from"), str(presence.status)),
                         (f"{ROOM}/Cal", "away"))
        self.assertNotIn(NS_DMUC, presence.toXml())
        self.assertEqual(r.mirrorState()[4:], (last + 1, Phase.LIVE))

    def test_inviteReplica(self) -> None:
        """
        The owner inviting the replica's JID: the room's invitation reaches
        the replica unmarked and is refused C{bad-request}; nobody gets
        anything, the mirror is unchanged.
        """
        r = Room()
        before = r.state()
        mark = len(r.net.events)
        r.owner.send(f"<message to='{ROOM}' id='i'><x xmlns='{MUC_NS}#user'>"
                     f"<invite to='{REPLICA}'/></x>{marker(99)}</message>")
        r.net.flush()
        self.assertEqual(errorsTo(r.crossed(mark, "b.test", "a.test"), ROOM), ["bad-request"])
        r.nobodyReceived(self)
        self.assertEqual(r.state(), before)


class DisclosureTests(SynchronousTestCase):
    """
    What the primary tells a replica about others (design sections 2 and
    4): no real JIDs in a semi-anonymous room when the replica hosts no
    moderator, and only the bans that match the replica's own users.
    """

    def test_noRealJids(self) -> None:
        """
        In the semi-anonymous room, with only a participant on B, nothing
        that crossed from A to B (attach, snapshot, broadcasts) names
        Owner's or Cal's real JID, nor does the mirror hold them.
        """
        r = Room()
        r.cal.send(f"<presence to='{ROOM}/Cal'><status>away</status></presence>")
        r.net.flush()
        text = r.streamText(0, "a.test", "b.test")
        self.assertIn("bob@b.test/res", text)
        for jid in ("owner@a.test", "cal@c.test"):
            self.assertNotIn(jid, text)
        roster = r.mirrorState()[0]
        self.assertEqual({n: m[2] for n, m in roster.items()},
                         {"Owner": None, "Bob": "bob@b.test/res", "Cal": None})

    def test_otherDomainsBans(self) -> None:
        """
        The owner bans dan@c.test and eve@b.test: B's replica is told of
        Eve's ban alone; Dan's JID never crosses to B.
        """
        r = Room()
        mark = len(r.net.events)
        for jid in ("dan@c.test", "eve@b.test"):
            r.owner.send(f"<iq type='set' id='b{jid[0]}' to='{ROOM}'><query "
                         f"xmlns='{MUC_NS}#admin'><item affiliation='outcast' jid='{jid}'/>"
                         "</query></iq>")
            r.net.flush()
        text = r.streamText(mark, "a.test", "b.test")
        self.assertIn("eve@b.test", text)
        self.assertNotIn("dan@c.test", text)
        self.assertEqual(r.mirror.outcasts, frozenset({"eve@b.test"}))
