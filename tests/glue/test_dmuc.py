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

from twisted.trial.unittest import SynchronousTestCase

from tests.dmuc.support import canonical
from tests.support.fakenet import FakeNetwork
from tests.support.harness import parseStanza
from xmuc.dmuc.ns import NS_DMUC
from xmuc.glue import dmuc

ROOM = "room@muc.a.test"
MUC_NS = "http://jabber.org/protocol/muc"


def distributed(net: Any) -> Any:
    """
    The FakeNetwork service factory: DMUC on every node.
    """
    return dmuc.install(net.node)


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
        classic = FakeNetwork(("a.test", "b.test"), seed=3)
        through = FakeNetwork(("a.test", "b.test"), seed=3, services=(distributed,))
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
        for name, services in (("classic", ()), ("dmuc", (distributed,))):
            net = FakeNetwork(("a.test", "b.test"), seed=3, services=services)
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
        net = FakeNetwork(("a.test", "b.test"), seed=3, services=(distributed,))
        owner, bob = net.login("owner@a.test"), net.login("bob@b.test")
        owner.send(f"<presence to='{ROOM}/Owner'><x xmlns='{MUC_NS}'/></presence>")
        owner.send(f"<iq type='set' id='c1' to='{ROOM}'><query xmlns='{MUC_NS}#owner'>"
                   "<x xmlns='jabber:x:data' type='submit'/></query></iq>")
        net.flush()
        bob.send(f"<presence to='{ROOM}/Bob'><x xmlns='{MUC_NS}'/></presence>")
        net.flush()
        primary = net.nodes["a.test"].services["distributed"][0].primary
        self.assertIsNotNone(primary.attachment("room", "b.test"))
        replica = net.nodes["b.test"].services["distributed"][1].replica
        self.assertIn(ROOM, replica.rooms)
        owner.send("<iq type='get' id='q' to='b.test'>"
                   "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
        net.flush()
        [answer] = owner.received()[-1:]
        self.assertIn(NS_DMUC, answer.toXml())
        self.assertIn("dmuc@b.test", answer.toXml())
