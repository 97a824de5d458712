# -*- test-case-name: tests.support.test_fakenet -*-
"""
The multi-node harness (L{tests.support.fakenet}): whole nodes federating
through the real s2s layer over in-memory links on one clock, and what
the link layer does today when the network fails (issue 10 changes some of
it: these tests say what happens now, not what should).
"""

from __future__ import annotations

from typing import Any

from twisted.trial import unittest
from twisted.words.xish import domish

from tests.support.fakenet import FakeNetwork, NetNode, NotSettled
from xmuc.core.links import LinkDown, LinkUp

NS_USER = "http://jabber.org/protocol/muc#user"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
ROOM = "room@muc.a.test"
INSTANT = (
    f"<iq type='set' id='cfg' to='{ROOM}'>"
    "<query xmlns='http://jabber.org/protocol/muc#owner'>"
    "<x xmlns='jabber:x:data' type='submit'/></query></iq>"
)


def chat(to: str, body: str, id: str = "") -> str:
    return f"<message to='{to}' type='chat' id='{id or body}'><body>{body}</body></message>"


def bodies(stanzas: list[domish.Element]) -> list[str]:
    return [str(s.body) for s in stanzas if s.name == "message" and s.body is not None]


def statusCodes(stanza: domish.Element) -> set[int]:
    return {
        int(status["code"])
        for x in stanza.elements(NS_USER, "x")
        for status in x.elements(NS_USER, "status")
    }


def errorOf(stanza: domish.Element) -> tuple[str | None, str | None]:
    """
    The condition and text of an error stanza.
    """
    error = stanza.error
    if error is None:
        return None, None
    condition = next((c.name for c in error.elements() if c.uri == NS_STANZAS and c.name != "text"),
                     None)
    text = next((str(c) for c in error.elements(NS_STANZAS, "text")), None)
    return condition, text


def watchLinks(net: FakeNetwork, domain: str) -> list[Any]:
    """
    Every link event of C{domain}'s node, as it happens.
    """
    events: list[Any] = []
    net.node(domain).s2s.watch(events.append)
    return events


class RoomMixin:
    """
    A room on a.test with an owner there and occupants from other nodes.
    """

    net: FakeNetwork

    def makeRoom(self, *others: str) -> dict[str, Any]:
        """
        alice@a.test creates an instant room; then each of C{others}
        (user@domain) joins with its user name as nick. Everyone's mailbox
        is emptied.
        """
        net = self.net
        clients = {"alice@a.test": net.login("alice@a.test")}
        clients["alice@a.test"].send(f"<presence to='{ROOM}/alice'><x xmlns='http://jabber.org/protocol/muc'/></presence>")
        clients["alice@a.test"].send(INSTANT)
        net.flush()
        for address in others:
            client = clients[address] = net.login(address)
            client.send(f"<presence to='{ROOM}/{address.split('@')[0]}'>"
                        "<x xmlns='http://jabber.org/protocol/muc'/></presence>")
            net.flush()
        for client in clients.values():
            client.received()
        return clients


class ChatTests(unittest.TestCase):
    def test_chatCrosses(self) -> None:
        """
        A chat message from a@a.test to b@b.test crosses: the link is set
        up with dialback in both directions (each side verifies the other),
        LinkUp is announced, and the message arrives once, unchanged.
        """
        net = FakeNetwork(("a.test", "b.test"), seed=1)
        events = watchLinks(net, "a.test")
        alice, bob = net.login("alice@a.test"), net.login("bob@b.test")
        alice.send(chat("bob@b.test/res", "hello"))
        net.flush()
        [message] = bob.received()
        self.assertEqual(message["from"], "alice@a.test/res")
        self.assertEqual(str(message.body), "hello")
        self.assertEqual(events, [LinkUp("a.test", "b.test")])
        a, b = net.node("a.test"), net.node("b.test")
        self.assertEqual(a.s2s.linkState("b.test"), "up")
        self.assertEqual(a.s2s.links[("a.test", "b.test")].stream.method, "dialback")
        # b.test verified a.test's key over a link of its own.
        self.assertEqual(b.s2s.linkState("a.test"), "up")
        self.assertEqual(alice.received(), [])

    def test_reply(self) -> None:
        """
        The answer travels back over the other direction's link.
        """
        net = FakeNetwork(("a.test", "b.test"))
        alice, bob = net.login("alice@a.test"), net.login("bob@b.test")
        alice.send(chat("bob@b.test/res", "ping"))
        net.flush()
        bob.send(chat("alice@a.test/res", "pong"))
        net.flush()
        self.assertEqual(bodies(alice.received()), ["pong"])

    def test_unknownDomain(self) -> None:
        """
        A domain no node serves has no server: the message comes back
        remote-server-not-found, without a DNS query.
        """
        net = FakeNetwork(("a.test", "b.test"))
        alice = net.login("alice@a.test")
        alice.received()
        alice.send(chat("carol@nowhere.test", "hi"))
        net.flush()
        [error] = alice.received()
        self.assertEqual(errorOf(error),
                         ("remote-server-not-found", "The server nowhere.test could not be reached"))


class RoomTests(RoomMixin, unittest.TestCase):
    def setUp(self) -> None:
        self.net = FakeNetwork(("a.test", "b.test", "c.test"), seed=3)

    def test_remoteOccupants(self) -> None:
        """
        Users of b.test and c.test join a room on a.test as classic remote
        occupants: each sees the others' presence, and a message reaches
        every occupant exactly once.
        """
        net = self.net
        alice = net.login("alice@a.test")
        alice.send(f"<presence to='{ROOM}/alice'><x xmlns='http://jabber.org/protocol/muc'/></presence>")
        alice.send(INSTANT)
        bob = net.login("bob@b.test")
        bob.send(f"<presence to='{ROOM}/bob'><x xmlns='http://jabber.org/protocol/muc'/></presence>")
        net.flush()
        carol = net.login("carol@c.test")
        carol.send(f"<presence to='{ROOM}/carol'><x xmlns='http://jabber.org/protocol/muc'/></presence>")
        net.flush()
        presences = [s["from"] for s in carol.received() if s.name == "presence"]
        self.assertEqual(presences, [f"{ROOM}/alice", f"{ROOM}/bob", f"{ROOM}/carol"])
        self.assertIn(f"{ROOM}/carol", [s.getAttribute("from") for s in bob.received()])
        alice.received()
        mark = len(net.events)
        bob.send(f"<message to='{ROOM}' type='groupchat'><body>hi all</body></message>")
        net.flush()
        # Classic service: the message goes to the room, and one copy back
        # per remote occupant.
        self.assertEqual({pair: writes for pair, (writes, _) in net.traffic(mark).items()},
                         {("b.test", "a.test"): 1, ("a.test", "b.test"): 1,
                          ("a.test", "c.test"): 1})
        for client in (alice, bob, carol):
            [message] = client.received()
            self.assertEqual((message["from"], str(message.body)), (f"{ROOM}/bob", "hi all"))


class FiveNodeTests(RoomMixin, unittest.TestCase):
    def test_fiveNodes(self) -> None:
        """
        Five nodes: users of four remote servers in one room on a.test each
        receive a message once.
        """
        domains = ("a.test", "b.test", "c.test", "d.test", "e.test")
        self.net = net = FakeNetwork(domains, seed=9)
        others = [f"u{d[0]}@{d}" for d in domains[1:]]
        clients = self.makeRoom(*others)
        clients["ue@e.test"].send(f"<message to='{ROOM}' type='groupchat'><body>hello</body></message>")
        net.flush()
        for client in clients.values():
            self.assertEqual(bodies(client.received()), ["hello"])


class PartitionTests(RoomMixin, unittest.TestCase):
    def test_dropLosesStanzas(self) -> None:
        """
        A partition that drops (a dead route; the TCP connections stay
        open) stops the stanzas without a word to anyone until the link's
        keepalive finds the route dead (test_dropNoticedByKeepalive): a
        partition healed sooner goes unnoticed, the link stays up, nothing
        bounces. After heal() new stanzas flow again over the same
        streams, and those sent meanwhile are lost for good.
        """
        net = FakeNetwork(("a.test", "b.test"), seed=5)
        events = watchLinks(net, "a.test")
        alice, bob = net.login("alice@a.test"), net.login("bob@b.test")
        alice.send(chat("bob@b.test/res", "before"))
        net.flush()
        net.partition(["a.test"], ["b.test"], mode="drop")
        for n in (1, 2, 3):
            alice.send(chat("bob@b.test/res", f"lost{n}"))
        net.flush()
        self.assertEqual(bodies(bob.received()), ["before"])
        self.assertEqual(net.node("a.test").s2s.linkState("b.test"), "up")
        net.heal()
        alice.send(chat("bob@b.test/res", "after"))
        net.flush()
        self.assertEqual(bodies(bob.received()), ["after"])
        self.assertEqual(alice.received(), [])
        self.assertEqual(events, [LinkUp("a.test", "b.test")])
        self.assertEqual(len([e for e in net.events if e[1] == "dropped"]), 3)

    def test_dropNoticedByKeepalive(self) -> None:
        """
        A dead route is noticed by the link's keepalive (issue 10): the
        link that carried stanzas since it last heard from the peer pings
        it after keepalive seconds of silence, and with no answer within
        keepalive seconds more it is dead (LinkDown, no answer to
        keepalive, remote-server-timeout) within twice keepalive of the
        last byte heard. What was sent into the dead route before is lost
        (TCP still looked open); what is sent after goes to a new
        connection, which hangs, and bounces remote-server-timeout.
        """
        net = FakeNetwork(("a.test", "b.test"),
                          s2s="idle_timeout = 600\nconnect_timeout = 5\nkeepalive = 30\n")
        events = watchLinks(net, "a.test")
        alice, bob = net.login("alice@a.test"), net.login("bob@b.test")
        alice.send(chat("bob@b.test/res", "m0"))
        net.flush()
        start = net.clock.seconds()
        net.partition(["a.test"], ["b.test"], mode="drop")
        alice.send(chat("bob@b.test/res", "m1"))
        net.advance(59)
        self.assertEqual(net.node("a.test").s2s.linkState("b.test"), "up")
        net.advance(2)
        down = [e for e in events if isinstance(e, LinkDown)]
        self.assertEqual(down, [LinkDown("a.test", "b.test", "no answer to keepalive",
                                         "remote-server-timeout", established=True)])
        self.assertLessEqual(net.clock.seconds() - start, 2 * 30 + 1)
        self.assertEqual(alice.received(), [])
        alice.send(chat("bob@b.test/res", "retry"))
        net.advance(10)
        [error] = alice.received()
        self.assertEqual(errorOf(error)[0], "remote-server-timeout")
        self.assertEqual(bodies(bob.received()), ["m0"])

    def test_resetConnections(self) -> None:
        """
        Connections reset with no lasting fault (a peer that crashed and
        came back): LinkDown fires, and the next stanza sets the link up
        again and arrives.
        """
        net = FakeNetwork(("a.test", "b.test"))
        events = watchLinks(net, "a.test")
        alice, bob = net.login("alice@a.test"), net.login("bob@b.test")
        alice.send(chat("bob@b.test/res", "one"))
        net.flush()
        net.resetConnections("a.test", "b.test")
        net.flush()
        self.assertEqual([type(e) for e in events], [LinkUp, LinkDown])
        alice.send(chat("bob@b.test/res", "two"))
        net.flush()
        self.assertEqual(bodies(bob.received()), ["one", "two"])
        self.assertEqual([type(e) for e in events], [LinkUp, LinkDown, LinkUp])

    def test_holdDeliversLate(self) -> None:
        """
        A partition that holds (TCP retransmitting over a short outage)
        delivers what was sent meanwhile once it heals, in order.
        """
        net = FakeNetwork(("a.test", "b.test"))
        alice, bob = net.login("alice@a.test"), net.login("bob@b.test")
        alice.send(chat("bob@b.test/res", "m0"))
        net.flush()
        bob.received()
        net.partition(["a.test"], mode="hold")
        for n in (1, 2, 3):
            alice.send(chat("bob@b.test/res", f"m{n}"))
        net.advance(5)
        self.assertEqual(bob.received(), [])
        net.heal()
        net.flush()
        self.assertEqual(bodies(bob.received()), ["m1", "m2", "m3"])

    def test_resetGhosts(self) -> None:
        """
        A partition that resets the connections: LinkDown fires; the next
        room broadcast for bob@b.test cannot reconnect (refused) and
        bounces remote-server-not-found to the room, which keeps bob for
        the ghost grace period, then removes him with status 333, all on
        the clock.
        """
        self.net = net = FakeNetwork(("a.test", "b.test"), seed=7,
                                     config="[muc]\nghost_grace = 30\n")
        events = watchLinks(net, "a.test")
        clients = self.makeRoom("bob@b.test")
        alice = clients["alice@a.test"]
        net.partition(["a.test"], ["b.test"], mode="reset")
        net.flush()
        self.assertIn(
            LinkDown("muc.a.test", "b.test", "connection lost", "remote-server-not-found",
                     established=True), events)
        alice.send(f"<message to='{ROOM}' type='groupchat'><body>anyone?</body></message>")
        net.flush()
        self.assertEqual(bodies(alice.received()), ["anyone?"])
        net.advance(29)
        self.assertEqual(alice.received(), [])
        net.advance(2)
        [gone] = alice.received()
        self.assertEqual((gone["from"], gone.getAttribute("type")), (f"{ROOM}/bob", "unavailable"))
        self.assertEqual(statusCodes(gone), {333})

    def test_healBeforeGrace(self) -> None:
        """
        When the link comes back within the grace period (the next
        broadcast reconnects and LinkUp fires), the remote occupant stays.
        """
        self.net = net = FakeNetwork(("a.test", "b.test"), config="[muc]\nghost_grace = 30\n")
        clients = self.makeRoom("bob@b.test")
        alice, bob = clients["alice@a.test"], clients["bob@b.test"]
        net.partition(["a.test"], ["b.test"], mode="reset")
        alice.send(f"<message to='{ROOM}' type='groupchat'><body>one</body></message>")
        net.flush()
        net.advance(10)
        net.heal()
        alice.send(f"<message to='{ROOM}' type='groupchat'><body>two</body></message>")
        net.flush()
        net.advance(60)
        self.assertEqual(bodies(bob.received()), ["two"])
        self.assertEqual(bodies(alice.received()), ["one", "two"])
        self.assertIn(f"{ROOM}/bob", [o for o in _occupants(net.node("a.test"))])

    def test_refused(self) -> None:
        """
        A new connection refused (the peer's port closed) bounces the
        stanza remote-server-not-found with the plain text naming the
        server, and announces LinkDown.
        """
        net = FakeNetwork(("a.test", "b.test"))
        events = watchLinks(net, "a.test")
        alice = net.login("alice@a.test")
        alice.received()
        net.cut("a.test", "b.test", mode="drop", connect="refuse")
        alice.send(chat("bob@b.test/res", "hi"))
        net.flush()
        [error] = alice.received()
        self.assertEqual(error.getAttribute("type"), "error")
        self.assertEqual(errorOf(error),
                         ("remote-server-not-found", "The server b.test could not be reached"))
        self.assertEqual(events[-1].condition, "remote-server-not-found")

    def test_blackhole(self) -> None:
        """
        A connection that is never answered hangs until the link layer's
        connect timeout, then the stanza bounces remote-server-timeout.
        """
        net = FakeNetwork(("a.test", "b.test"), s2s="connect_timeout = 4\n")
        alice = net.login("alice@a.test")
        alice.received()
        net.partition(["a.test"], ["b.test"], mode="drop")
        alice.send(chat("bob@b.test/res", "hi"))
        net.flush()
        self.assertEqual(alice.received(), [])
        net.advance(4.5)
        [error] = alice.received()
        self.assertEqual(errorOf(error),
                         ("remote-server-timeout", "The server b.test did not answer in time"))

    def test_blackholeHealed(self) -> None:
        """
        A hanging connection completes when the partition heals before the
        connect timeout, and the queued stanza is delivered.
        """
        net = FakeNetwork(("a.test", "b.test"))
        alice, bob = net.login("alice@a.test"), net.login("bob@b.test")
        net.partition(["b.test"], mode="hold")
        alice.send(chat("bob@b.test/res", "late"))
        net.advance(3)
        net.heal()
        net.flush()
        self.assertEqual(bodies(bob.received()), ["late"])


class CrashTests(RoomMixin, unittest.TestCase):
    def test_crashAndRestart(self) -> None:
        """
        A crashed node's peers see their connections reset (LinkDown) and
        then refused (remote-server-not-found); nothing of the dead node
        runs any more; restarted on the same store, it federates again and
        its users, logged in again, receive.
        """
        net = FakeNetwork(("a.test", "b.test"), s2s="idle_timeout = 100\n")
        events = watchLinks(net, "a.test")
        alice, bob = net.login("alice@a.test"), net.login("bob@b.test")
        alice.send(chat("bob@b.test/res", "one"))
        net.flush()
        dead = net.node("b.test")
        timers = dead.clock.getDelayedCalls()
        self.assertNotEqual(timers, [])
        net.crash("b.test")
        self.assertEqual([t for t in net.clock.getDelayedCalls() if t in timers], [])
        net.flush()
        self.assertEqual([type(e) for e in events], [LinkUp, LinkDown])
        alice.send(chat("bob@b.test/res", "two"))
        net.flush()
        [error] = alice.received()
        self.assertEqual(errorOf(error)[0], "remote-server-not-found")
        mark = len(net.events)
        net.advance(1000)
        self.assertEqual([e for e in net.events[mark:] if e[2] == "b.test"], [])
        net.restart("b.test")
        bob2 = net.login("bob@b.test")
        alice.send(chat("bob@b.test/res", "three"))
        net.flush()
        self.assertEqual(bodies(bob2.received()), ["three"])
        self.assertEqual(bodies(bob.received()), ["one"])
        self.assertIn(bob, net.retired)

    def test_poweredOff(self) -> None:
        """
        A node that is off (blackhole): connections to it hang until the
        connect timeout; when it comes back before, they complete.
        """
        net = FakeNetwork(("a.test", "b.test"), s2s="connect_timeout = 5\n")
        alice = net.login("alice@a.test")
        net.crash("b.test", connect="blackhole")
        alice.send(chat("bob@b.test/res", "lost"))
        net.advance(6)
        [error] = alice.received()
        self.assertEqual(errorOf(error)[0], "remote-server-timeout")
        alice.send(chat("bob@b.test/res", "later"))
        net.advance(2)
        net.restart("b.test")
        bob = net.login("bob@b.test")
        net.flush()
        self.assertEqual(bodies(bob.received()), ["later"])

    def test_poweredOffWhileLinked(self) -> None:
        """
        A linked node that goes off (no reset reaches the peer): the peer's
        link stays up and what it sends vanishes, as on a dead route, until
        its keepalive (60 s by default) finds it dead within twice that.
        """
        net = FakeNetwork(("a.test", "b.test"))
        events = watchLinks(net, "a.test")
        alice, bob = net.login("alice@a.test"), net.login("bob@b.test")
        alice.send(chat("bob@b.test/res", "m0"))
        net.flush()
        net.crash("b.test", connect="blackhole")
        alice.send(chat("bob@b.test/res", "m1"))
        net.flush()
        self.assertEqual(net.node("a.test").s2s.linkState("b.test"), "up")
        self.assertEqual(events, [LinkUp("a.test", "b.test")])
        self.assertEqual((alice.received(), bodies(bob.received())), ([], ["m0"]))
        net.advance(120)
        self.assertEqual(events[1:], [LinkDown("a.test", "b.test", "no answer to keepalive",
                                               "remote-server-timeout", established=True)])

    def test_gracefulStop(self) -> None:
        """
        A node stopped the orderly way: its room tells the remote occupant
        it is going (status 332) before the links close. The peer's own
        link to the room's service, ended by the system-shutdown stream
        error, is down: today LinkDown says "connection lost" (the stream
        error is only in the log).
        """
        self.net = net = FakeNetwork(("a.test", "b.test"))
        events = watchLinks(net, "b.test")
        bob = self.makeRoom("bob@b.test")["bob@b.test"]
        net.stop("a.test")
        gone = [s for s in bob.received() if s.name == "presence"]
        self.assertIn(332, set().union(*map(statusCodes, gone)))
        self.assertEqual(events[1:], [LinkDown("b.test", "muc.a.test", "connection lost",
                                               "remote-server-not-found", established=True)])
        self.assertEqual(net.node("b.test").s2s.linkState("muc.a.test"), "down")
        self.assertEqual([e for e in net.events if e[1] == "rst"], [])

    def test_roomHostRestarts(self) -> None:
        """
        The room's node crashes and restarts: its remote occupant's server
        sees the link go down; the room, not persistent, is gone after the
        restart.
        """
        self.net = net = FakeNetwork(("a.test", "b.test"))
        events = watchLinks(net, "b.test")
        self.makeRoom("bob@b.test")
        net.crash("a.test")
        net.flush()
        self.assertIn(LinkDown, [type(e) for e in events])
        net.restart("a.test")
        net.flush()
        self.assertNotIn("room", net.node("a.test").muc.service.rooms)


def _occupants(net: NetNode) -> list[str]:
    room = net.muc.service.rooms["room"]
    return [f"{ROOM}/{nick}" for nick in room.occupants]


class OrderTests(unittest.TestCase):
    def test_orderPerLink(self) -> None:
        """
        Stanzas on one link keep their order; stanzas on different links
        (from b.test and from c.test) interleave in the order their seeded,
        jittered latencies give, not the order they were sent.
        """
        net = FakeNetwork(("a.test", "b.test", "c.test"), seed=11, jitter=0.01)
        alice = net.login("alice@a.test")
        bob, carol = net.login("bob@b.test"), net.login("carol@c.test")
        bob.send(chat("alice@a.test/res", "b0"))
        carol.send(chat("alice@a.test/res", "c0"))
        net.flush()
        alice.received()
        sent = []
        for n in range(1, 11):
            for client, tag in ((bob, "b"), (carol, "c")):
                client.send(chat("alice@a.test/res", f"{tag}{n}"))
                sent.append(f"{tag}{n}")
        net.flush()
        got = bodies(alice.received())
        self.assertEqual(sorted(got), sorted(sent))
        self.assertEqual([b for b in got if b[0] == "b"], [b for b in sent if b[0] == "b"])
        self.assertEqual([c for c in got if c[0] == "c"], [c for c in sent if c[0] == "c"])
        self.assertNotEqual(got, sent)

    def test_delay(self) -> None:
        """
        An extra delay on one direction lets stanzas sent later on another
        link overtake.
        """
        net = FakeNetwork(("a.test", "b.test", "c.test"))
        alice = net.login("alice@a.test")
        bob, carol = net.login("bob@b.test"), net.login("carol@c.test")
        bob.send(chat("alice@a.test/res", "b0"))
        carol.send(chat("alice@a.test/res", "c0"))
        net.flush()
        alice.received()
        net.delay("b.test", "a.test", 1.0)
        bob.send(chat("alice@a.test/res", "slow"))
        carol.send(chat("alice@a.test/res", "fast"))
        net.flush()
        self.assertEqual(bodies(alice.received()), ["fast", "slow"])


def scenario(seed: int) -> FakeNetwork:
    """
    A room across three nodes with a partition, a reset and some chat.
    """
    net = FakeNetwork(("a.test", "b.test", "c.test"), seed=seed, jitter=0.005)
    mixin = RoomMixin()
    mixin.net = net
    clients = mixin.makeRoom("bob@b.test", "carol@c.test")
    for n in range(5):
        clients["bob@b.test"].send(f"<message to='{ROOM}' type='groupchat'><body>b{n}</body></message>")
        clients["carol@c.test"].send(f"<message to='{ROOM}' type='groupchat'><body>c{n}</body></message>")
    net.flush()
    net.partition(["c.test"], mode="reset")
    clients["alice@a.test"].send(f"<message to='{ROOM}' type='groupchat'><body>split</body></message>")
    net.flush()
    net.heal()
    clients["bob@b.test"].send(chat("carol@c.test/res", "direct"))
    net.flush()
    return net


class DeterminismTests(unittest.TestCase):
    def test_sameSeedSameTranscript(self) -> None:
        """
        The same seed gives the same run: every client's stanzas and every
        transport event (times, bytes, order) are identical.
        """
        one, two = scenario(42), scenario(42)
        transcript = one.transcript()
        self.assertEqual(len(transcript), 3)
        self.assertTrue(all(len(stanzas) > 10 for stanzas in transcript.values()))
        self.assertEqual(transcript, two.transcript())
        self.assertEqual(one.events, two.events)
        self.assertTrue(any(e[1] == "rst" for e in one.events))

    def test_otherSeedOtherTiming(self) -> None:
        """
        Another seed gives other timings (jitter), so the seed matters.
        """
        self.assertNotEqual(scenario(1).events, scenario(2).events)


def echo(net: NetNode) -> Any:
    """
    A service factory: C{echo.<domain>} answers every message with a
    message back to its sender.
    """
    host = f"echo.{net.domain}"

    class Echo:
        def receive(self, stanza: domish.Element, to: Any) -> None:
            reply = domish.Element((None, "message"))
            reply["from"], reply["to"] = host, stanza["from"]
            reply.addElement("body", content="again")
            net.node.route(reply)

    net.node.router.components[host] = service = Echo()
    return service


class FlushTests(unittest.TestCase):
    def test_settles(self) -> None:
        """
        flush() returns once nothing is in flight and no timer is due soon
        (the links' idle timers are far away).
        """
        net = FakeNetwork(("a.test", "b.test"))
        alice = net.login("alice@a.test")
        net.login("bob@b.test")
        alice.send(chat("bob@b.test/res", "x"))
        steps = net.flush()
        self.assertGreater(steps, 0)
        self.assertEqual(net.flush(), 0)

    def test_pingPongNeverSettles(self) -> None:
        """
        Two services answering each other across s2s for ever: flush()
        gives up after its bounded number of steps and raises.
        """
        net = FakeNetwork(("a.test", "b.test"), services=(echo,))
        self.assertIn("echo", net.node("a.test").services)
        start = domish.Element((None, "message"))
        start["from"], start["to"] = "echo.a.test", "echo.b.test"
        net.node("a.test").node.route(start)
        self.assertRaises(NotSettled, net.flush, maxSteps=500)

