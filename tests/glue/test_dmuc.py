# -*- test-case-name: tests.glue.test_dmuc -*-
"""
Tests for L{xmuc.glue.dmuc}: distributed rooms on whole nodes of the
FakeNetwork (real routers, s2s links with dialback, discovery through
disco#info), and the differential transparency test there: one session
run with B's users served classically and through B's replica gives every
client the same stanzas in the same order.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import defer
from twisted.trial.unittest import SynchronousTestCase
from twisted.words.protocols.jabber.jid import JID

from tests.dmuc.support import canonical
from tests.support.fakenet import FakeNetwork
from tests.support.harness import parseStanza
from xmuc.dmuc.ns import NS_DMUC
from xmuc.muc.ns import NS_DISCO_INFO

ROOM = "room@muc.a.test"
MUC_NS = "http://jabber.org/protocol/muc"


#: node.ini text turning distributed rooms on.
ON = "[dmuc]\nenabled = true\n"


def network(dmucOn: Any = True, domains: tuple[str, ...] = ("a.test", "b.test")
            ) -> FakeNetwork:
    """
    A network with DMUC on every node (C{True}), on none (C{False}), or on
    the domains listed.
    """
    if dmucOn is True:
        config: Any = ON
    elif dmucOn is False:
        config = ""
    else:
        config = {domain: ON for domain in dmucOn}
    return FakeNetwork(domains, seed=3, config=config)


def session(net: FakeNetwork) -> dict[str, Any]:
    """
    A room on A with a local owner, two users of B (one of them made an
    admin, so a moderator), talk, a nick change, a subject, a role
    change, a kick, a ban, leaves and the destruction; the network
    settles after each step.
    """
    owner = net.login("owner@a.test")
    bob, boss, bea = (net.login(f"{n}@b.test") for n in ("bob", "boss", "bea"))
    clients = {"owner": owner, "bob": bob, "boss": boss, "bea": bea}

    def step(client: Any, xml: str) -> None:
        client.send(xml)
        net.flush()

    step(owner, f"<presence to='{ROOM}/Owner'><x xmlns='{MUC_NS}'/></presence>")
    step(owner, f"<iq type='set' id='c1' to='{ROOM}'><query xmlns='{MUC_NS}#owner'>"
                "<x xmlns='jabber:x:data' type='submit'/></query></iq>")
    step(owner, f"<message type='groupchat' to='{ROOM}' id='h1'><body>before</body></message>")
    step(owner, f"<iq type='set' id='a1' to='{ROOM}'><query xmlns='{MUC_NS}#admin'>"
                "<item affiliation='admin' jid='boss@b.test'/></query></iq>")
    step(bob, f"<presence to='{ROOM}/Bob'><x xmlns='{MUC_NS}'>"
              "<history maxstanzas='5'/></x></presence>")
    step(boss, f"<presence to='{ROOM}/Boss'><x xmlns='{MUC_NS}'/></presence>")
    step(bea, f"<presence to='{ROOM}/Bea'><x xmlns='{MUC_NS}'/></presence>")
    step(bob, f"<message type='groupchat' to='{ROOM}' id='b1'><body>hi</body></message>")
    step(owner, f"<message type='groupchat' to='{ROOM}' id='o1'><body>hello</body></message>")
    step(bob, f"<presence to='{ROOM}/Robert'/>")
    step(boss, f"<message type='groupchat' to='{ROOM}' id='s1'><subject>Tea</subject></message>")
    step(boss, f"<iq type='set' id='r1' to='{ROOM}'><query xmlns='{MUC_NS}#admin'>"
               "<item nick='Robert' role='visitor'/></query></iq>")
    step(owner, f"<iq type='set' id='k1' to='{ROOM}'><query xmlns='{MUC_NS}#admin'>"
                "<item nick='Bea' role='none'><reason>out</reason></item></query></iq>")
    step(owner, f"<iq type='set' id='x1' to='{ROOM}'><query xmlns='{MUC_NS}#admin'>"
                "<item affiliation='outcast' jid='bea@b.test'/></query></iq>")
    step(bea, f"<presence to='{ROOM}/Bea'><x xmlns='{MUC_NS}'/></presence>")
    step(bob, f"<presence type='unavailable' to='{ROOM}/Robert'/>")
    step(owner, f"<iq type='set' id='d1' to='{ROOM}'><query xmlns='{MUC_NS}#owner'>"
                "<destroy><reason>done</reason></destroy></query></iq>")
    return clients


def transcripts(clients: dict[str, Any]) -> dict[str, list[Any]]:
    for client in clients.values():
        client.received()
    return {name: [canonical(parseStanza(xml)) for xml in client.transcript]
            for name, client in clients.items()}


class FakeNetworkTests(SynchronousTestCase):
    """
    Two whole nodes, with and without DMUC.
    """

    def test_transparent(self) -> None:
        """
        Every client on A and on B gets the same stanzas in the same order
        whether B's users are served classically or through B's replica.
        """
        classic, through = network(False), network(True)
        expected, got = transcripts(session(classic)), transcripts(session(through))
        for name in expected:
            self.assertTrue(expected[name], name)
            for n, (one, other) in enumerate(zip(expected[name], got[name])):
                self.assertEqual(one, other, f"{name}, stanza {n}")
            self.assertEqual(len(expected[name]), len(got[name]), name)

    def test_oneCopyPerMessage(self) -> None:
        """
        Through the replica a room message crosses from A to B once, with
        three of B's users in the room; classically three times.
        """
        counts = {}
        for name, on in (("classic", False), ("dmuc", True)):
            net = network(on)
            owner = net.login("owner@a.test")
            users = [net.login(f"{n}@b.test") for n in ("bob", "boss", "bea")]
            owner.send(f"<presence to='{ROOM}/Owner'><x xmlns='{MUC_NS}'/></presence>")
            owner.send(f"<iq type='set' id='c1' to='{ROOM}'><query xmlns='{MUC_NS}#owner'>"
                       "<x xmlns='jabber:x:data' type='submit'/></query></iq>")
            net.flush()
            for n, user in enumerate(users):
                user.send(f"<presence to='{ROOM}/U{n}'><x xmlns='{MUC_NS}'/></presence>")
                net.flush()
            mark = len(net.events)
            owner.send(f"<message type='groupchat' to='{ROOM}' id='o1'><body>x</body></message>")
            net.flush()
            counts[name] = net.traffic(mark).get(("a.test", "b.test"), (0, 0))[0]
            for user in users:
                [message] = user.received()[-1:]
                self.assertEqual(message.body and str(message.body), "x")
        self.assertEqual(counts, {"classic": 3, "dmuc": 1})

    def test_discovery(self) -> None:
        """
        B's domain advertises the DMUC feature and names its replica; A
        attaches B's replica for B's first user.
        """
        net = network()
        owner, bob = net.login("owner@a.test"), net.login("bob@b.test")
        owner.send(f"<presence to='{ROOM}/Owner'><x xmlns='{MUC_NS}'/></presence>")
        owner.send(f"<iq type='set' id='c1' to='{ROOM}'><query xmlns='{MUC_NS}#owner'>"
                   "<x xmlns='jabber:x:data' type='submit'/></query></iq>")
        net.flush()
        bob.send(f"<presence to='{ROOM}/Bob'><x xmlns='{MUC_NS}'/></presence>")
        net.flush()
        primary = net.nodes["a.test"].node.modules["dmuc"].primary.primary
        self.assertIsNotNone(primary.attachment("room", "b.test"))
        replica = net.nodes["b.test"].node.modules["dmuc"].replica.replica
        self.assertIn(ROOM, replica.rooms)
        owner.send("<iq type='get' id='q' to='b.test'>"
                   "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
        net.flush()
        [answer] = owner.received()[-1:]
        self.assertIn(NS_DMUC, answer.toXml())
        self.assertIn("dmuc@b.test", answer.toXml())


def mixed(net: FakeNetwork) -> dict[str, Any]:
    """
    A room on A with users of A, of B (through its replica when B runs
    DMUC) and of C (classic): everyone talks, one of C's users changes
    nickname, one of B's leaves.
    """
    names = ("owner@a.test", "amy@a.test", "bob@b.test", "bea@b.test", "cal@c.test",
             "cid@c.test")
    clients = {name: net.login(name) for name in names}
    owner = clients["owner@a.test"]
    owner.send(f"<presence to='{ROOM}/Owner'><x xmlns='{MUC_NS}'/></presence>")
    owner.send(f"<iq type='set' id='c1' to='{ROOM}'><query xmlns='{MUC_NS}#owner'>"
               "<x xmlns='jabber:x:data' type='submit'/></query></iq>")
    net.flush()
    for name, client in clients.items():
        if client is not owner:
            client.send(f"<presence to='{ROOM}/{name.split('@')[0]}'>"
                        f"<x xmlns='{MUC_NS}'><history maxstanzas='3'/></x></presence>")
            net.flush()
    for n, client in enumerate(clients.values()):
        client.send(f"<message type='groupchat' to='{ROOM}' id='m{n}'><body>m{n}</body></message>")
        net.flush()
    clients["cal@c.test"].send(f"<presence to='{ROOM}/Calvin'/>")
    net.flush()
    clients["bea@b.test"].send(f"<presence type='unavailable' to='{ROOM}/bea'/>")
    net.flush()
    return clients


class MixedRoomTests(SynchronousTestCase):
    """
    One room, users of the room's node, of a DMUC node and of a classic
    server.
    """

    def test_mixed(self) -> None:
        """
        With DMUC on A and B but not C, every client gets what it gets with
        DMUC off everywhere; a message crosses to B once and to C once per
        occupant.
        """
        domains = ("a.test", "b.test", "c.test")
        classic, through = network(False, domains), network(("a.test", "b.test"), domains)
        expected, got = transcripts(mixed(classic)), transcripts(mixed(through))
        for name in expected:
            self.assertTrue(expected[name], name)
            self.assertEqual(expected[name], got[name], name)
        owner = [c for c in through.clients() if c.jid.user == "owner"][0]
        mark = len(through.events)
        owner.send(f"<message type='groupchat' to='{ROOM}' id='z'><body>z</body></message>")
        through.flush()
        traffic = through.traffic(mark)
        self.assertEqual(traffic[("a.test", "b.test")][0], 1)
        self.assertEqual(traffic[("a.test", "c.test")][0], 2)


class DiscoveryTests(SynchronousTestCase):
    """
    Joins wait for discovery no longer than its timeout.
    """

    def test_slowDiscovery(self) -> None:
        """
        When B does not answer the disco#info query, B's user's join waits
        for the discovery timeout (5 s) and no longer, then is served
        classically; a second user of B, while the query is still out, is
        served classically at once. Both get the room's messages.
        """
        net = network()
        net.nodes["b.test"].node.serverIQ.register(
            "get", NS_DISCO_INFO, lambda iq, sender, session: defer.Deferred())
        owner, bob, bea = (net.login(n) for n in ("owner@a.test", "bob@b.test", "bea@b.test"))
        owner.send(f"<presence to='{ROOM}/Owner'><x xmlns='{MUC_NS}'/></presence>")
        owner.send(f"<iq type='set' id='c1' to='{ROOM}'><query xmlns='{MUC_NS}#owner'>"
                   "<x xmlns='jabber:x:data' type='submit'/></query></iq>")
        net.flush()
        bob.send(f"<presence to='{ROOM}/Bob'><x xmlns='{MUC_NS}'/></presence>")
        net.advance(4.9)
        self.assertEqual(bob.received(), [])
        net.advance(0.2)
        net.flush()
        self.assertIn(f"{ROOM}/Bob", [x.getAttribute("from") for x in bob.received()])
        bea.send(f"<presence to='{ROOM}/Bea'><x xmlns='{MUC_NS}'/></presence>")
        net.flush()
        self.assertIn(f"{ROOM}/Bea", [x.getAttribute("from") for x in bea.received()])
        primary = net.nodes["a.test"].node.modules["dmuc"].primary.primary
        self.assertIsNone(primary.attachment("room", "b.test"))
        owner.send(f"<message type='groupchat' to='{ROOM}' id='o1'><body>both</body></message>")
        net.flush()
        for user in (bob, bea):
            bodies = [str(x.body) for x in user.received() if x.name == "message" and x.body]
            self.assertEqual(bodies, ["both"])

    def test_notMirrored(self) -> None:
        """
        A node whose replica does not mirror A's room service answers the
        attach not-allowed; its users are then served classically, seeing
        the same as without DMUC.
        """
        refusing = FakeNetwork(("a.test", "b.test"), seed=3, config={
            "a.test": ON, "b.test": ON + "mirror = muc.elsewhere.test\n"})
        expected, got = transcripts(session(network(False))), transcripts(session(refusing))
        self.assertEqual(expected, got)
        primary = refusing.nodes["a.test"].node.modules["dmuc"].primary.primary
        self.assertEqual(primary.attachment("room", "b.test"), None)
        self.assertEqual(refusing.nodes["b.test"].node.modules["dmuc"].replica.replica.rooms, {})
