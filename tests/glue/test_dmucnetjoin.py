# -*- test-case-name: tests.glue.test_dmucnetjoin -*-
"""
Tests for the primary's side of netsplits and netjoins on whole nodes of
the FakeNetwork (L{xmuc.glue.dmuc.PrimaryGlue}): the s2s link's own
detection splits the room's attachment, the heal syncs it, and a resync
(sent by the test from B's replica JID, as the replica's side will send
it) is answered with what B missed, read from the node's store.

Today's replica (on main) applies a replay as ordinary broadcasts, which
is what lets the replay tests check what Bob finally gets; what it does
with a snapshot, a C{<sync/>}, a spooled message coming back and the
C{<refused/>} children is the replica's side of issue 10.
"""

from __future__ import annotations

from typing import Any

from twisted.logger import LogLevel, formatEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from tests.support.dmucroom import MUC_NS, ON, REPLICA, ROOM, condition, join
from tests.support.fakenet import FakeNetwork
from tests.support.harness import parseStanza, parseStanzas
from xmuc.dmuc.attachment import AttachState
from xmuc.dmuc.ns import NS_DMUC
from xmuc.muc.stanzas import stamp

#: A short keepalive, so that a dead route is found within 20 s.
FAST = "keepalive = 10\n"
PERSISTENT = "<field var='muc#roomconfig_persistentroom'><value>1</value></field>"


class Net:
    """
    A (the room's node) and B, both with DMUC on and a 10 s keepalive;
    the room with Owner (A) and Bob (B, through B's replica).
    """

    def __init__(self, persistent: bool = False) -> None:
        self.net = net = FakeNetwork(("a.test", "b.test"), seed=5, s2s=FAST, config=ON)
        self.owner = net.login("owner@a.test")
        self.bob = net.login("bob@b.test")
        self.owner.send(join("Owner"))
        form = PERSISTENT if persistent else ""
        self.owner.send(f"<iq type='set' id='c1' to='{ROOM}'><query xmlns='{MUC_NS}#owner'>"
                        f"<x xmlns='jabber:x:data' type='submit'>{form}</x></query></iq>")
        net.flush()
        self.bob.send(join("Bob"))
        net.flush()
        self.say(self.owner, "before", "m0")
        self.owner.received()
        self.bob.received()

    @property
    def primary(self) -> Any:
        return self.net.nodes["a.test"].node.modules["dmuc"].primary.primary

    @property
    def mirror(self) -> Any:
        return self.net.nodes["b.test"].node.modules["dmuc"].replica.replica.rooms[ROOM]

    def attachment(self) -> Any:
        return self.primary.attachment("room", "b.test")

    def say(self, client: Any, body: str, id: str) -> None:
        client.send(f"<message type='groupchat' to='{ROOM}' id='{id}'><body>{body}</body>"
                    "</message>")
        self.net.flush()

    def crossed(self, mark: int, src: str, dst: str) -> list[Any]:
        """
        The stanzas that crossed from node C{src} to node C{dst} since
        event C{mark}, connection by connection (a new one after the heal
        starts with its own stream header).
        """
        streams: dict[Any, bytes] = {}
        for _, kind, s, d, connection, detail in self.net.events[mark:]:
            if kind == "data" and (s, d) == (src, dst):
                streams[connection] = streams.get(connection, b"") + detail
        out: list[Any] = []
        for data in streams.values():
            if b"<stream:stream" in data:
                data = data[data.index(b">", data.index(b"<stream:stream")) + 1:]
            out.extend(parseStanzas(data, "jabber:server"))
        return out

    def toReplica(self, mark: int) -> list[Any]:
        return [s for s in self.crossed(mark, "a.test", "b.test")
                if s.getAttribute("to") == REPLICA]

    def split(self) -> None:
        """
        The route between A and B dies (nothing is refused, nothing
        arrives) until the keepalive finds it.
        """
        self.net.partition(["b.test"], mode="drop")
        self.net.advance(25)

    def resync(self, lastSeq: int, occupants: str = "", spooled: str = "",
               epoch: str | None = None, sender: str = REPLICA) -> int:
        """
        B's replica JID sends the room a resync; returns the event mark
        before it.
        """
        mark = len(self.net.events)
        epoch = self.mirror.epoch if epoch is None else epoch
        spool = f"<spooled>{spooled}</spooled>" if spooled else ""
        xml = (f"<iq type='set' id='rs1' from='{sender}' to='{ROOM}'>"
               f"<resync xmlns='{NS_DMUC}' epoch='{epoch}' last-seq='{lastSeq}'>"
               f"{occupants}{spool}</resync></iq>")
        self.net.nodes["b.test"].node.router.route(parseStanza(xml))
        self.net.flush()
        return mark


def bobListed(presence: str = "") -> str:
    return (f"<occupant jid='bob@b.test/res' nick='Bob'>"
            f"<presence xmlns='jabber:client'>{presence}</presence></occupant>")


def answer(stanzas: list[Any]) -> tuple[Any, list[Any]]:
    """
    The C{<resynced/>} among stanzas that crossed to the replica, and the
    stanzas after it.
    """
    for n, stanza in enumerate(stanzas):
        resynced = next(stanza.elements(NS_DMUC, "resynced"), None)
        if resynced is not None:
            return resynced, stanzas[n + 1:]
    raise AssertionError("no <resynced/> crossed")


def bodies(stanzas: list[Any]) -> list[str]:
    return [str(s.body) for s in stanzas if s.name == "message" and s.body is not None]


class SplitAndHealTests(SynchronousTestCase):
    """
    The link layer's detection drives the primary.
    """

    def test_detectLogHealSync(self) -> None:
        """
        A dead route is found by the keepalive the primary holds up: the
        attachment is split, what the room says meanwhile reaches Owner at
        once and nothing of it crosses to B; after the heal the link comes
        back by itself (it is kept up), the attachment is live again and
        the replica gets a C{<sync/>} with the last C{seq}.
        """
        n = Net()
        self.assertIn("b.test", n.net.nodes["a.test"].node.modules["dmuc"].primary._kept)
        n.split()
        self.assertEqual(n.attachment().state, AttachState.SPLIT)
        self.assertEqual(n.primary.stats.splits, 1)
        mark = len(n.net.events)
        n.say(n.owner, "during", "d1")
        self.assertEqual(bodies(n.owner.received()), ["during"])
        self.assertEqual(n.toReplica(mark), [])
        seq = n.attachment().seq
        n.net.heal()
        mark = len(n.net.events)
        n.net.advance(70)
        n.net.flush()
        self.assertEqual(n.attachment().state, AttachState.ATTACHED)
        syncs = [s for s in n.toReplica(mark) if next(s.elements(NS_DMUC, "sync"), None)]
        self.assertEqual(len(syncs), 1)
        [sync] = list(syncs[0].elements(NS_DMUC, "sync"))
        self.assertEqual((sync["epoch"], sync["seq"]), (n.mirror.epoch, str(seq)))

    def test_logLines(self) -> None:
        """
        The split and the netjoin are each one line at info level for the
        domain: rooms, broadcasts logged while split, replayed, modes,
        the time from split to convergence (the replica on main answers
        the C{<sync/>} with an error and asks nothing: mode none).
        """
        seen: list[str] = []

        def observe(event: dict[str, Any]) -> None:
            if event.get("log_level") is LogLevel.info and "dmuc" in event.get(
                    "log_namespace", ""):
                seen.append(formatEvent(event))

        globalLogPublisher.addObserver(observe)
        self.addCleanup(globalLogPublisher.removeObserver, observe)
        n = Net()
        n.split()
        n.say(n.owner, "during", "d1")
        n.net.heal()
        n.net.advance(70)
        n.net.flush()
        self.assertEqual(len(seen), 2, seen)
        self.assertTrue(seen[0].startswith("Split from b.test (no answer to keepalive): 1 "
                                           "rooms of muc.a.test"), seen[0])
        self.assertRegex(seen[1], r"^Netjoin with b\.test converged after \d+\.\d s: 1 rooms "
                                  r"of muc\.a\.test \(none 1\), 1 broadcasts logged while "
                                  r"split, 0 replayed$")
        self.assertEqual(n.primary.stats.splits, 1)
        self.assertIsNotNone(n.primary.stats.lastConvergence)

    def test_replayReachesBob(self) -> None:
        """
        After the heal, B's resync (its epoch and C{last-seq}, Bob listed)
        is answered with C{<resynced mode='replay'/>} and the two stanzas
        logged during the split, in order, from the store's log; Bob gets
        exactly the two messages he missed, once.
        """
        n = Net()
        lastSeq = n.mirror.lastSeq
        n.split()
        n.say(n.owner, "one", "d1")
        n.say(n.owner, "two", "d2")
        n.net.heal()
        n.net.advance(70)
        n.net.flush()
        n.bob.received()
        n.owner.received()
        mark = n.resync(lastSeq, bobListed())
        resynced, stanzas = answer(n.toReplica(mark))
        self.assertEqual((resynced["mode"], resynced["count"]), ("replay", "2"))
        self.assertEqual(bodies(stanzas), ["one", "two"])
        self.assertEqual(bodies(n.bob.received()), ["one", "two"])
        self.assertEqual(n.owner.received(), [])

    def test_leftDuringSplit(self) -> None:
        """
        A resync that no longer lists Bob (he left on B during the split)
        makes him leave the room: Owner sees the unavailable presence.
        """
        n = Net()
        lastSeq = n.mirror.lastSeq
        mark = n.resync(lastSeq)
        self.assertEqual([p.getAttribute("type") for p in n.owner.received()],
                         ["unavailable"])
        resynced, stanzas = answer(n.toReplica(mark))
        self.assertEqual(resynced["count"], "1")
        self.assertIn("<leave jid='bob@b.test/res'", stanzas[0].toXml())

    def test_spooled(self) -> None:
        """
        A message Bob's replica spooled during the split reaches Owner with
        a C{<delay/>} at the time Bob sent it, and comes back to the
        replica, marked, in the replay.
        """
        n = Net()
        sent = n.net.clock.seconds() - 40
        spooled = (f"<message xmlns='jabber:client' type='groupchat' from='bob@b.test/res' "
                   f"to='{ROOM}' id='o1'><body>spooled</body>"
                   f"<origin-id xmlns='urn:xmpp:sid:0' id='o1'/>"
                   f"<delay xmlns='urn:xmpp:delay' stamp='{stamp(sent)}'/></message>")
        mark = n.resync(n.mirror.lastSeq, bobListed(), spooled)
        [message] = n.owner.received()
        self.assertEqual(str(message.body), "spooled")
        self.assertIn(f"stamp='{stamp(sent)}'", message.toXml())
        resynced, stanzas = answer(n.toReplica(mark))
        self.assertEqual((resynced["mode"], bodies(stanzas)), ("replay", ["spooled"]))

    def test_notTheReplica(self) -> None:
        """
        A resync from Bob's own JID is C{service-unavailable}, and the
        room is as it was.
        """
        n = Net()
        mark = n.resync(n.mirror.lastSeq, sender="bob@b.test/res")
        errors = [condition(s) for s in n.crossed(mark, "a.test", "b.test")
                  if s.getAttribute("type") == "error"]
        self.assertEqual(errors, ["service-unavailable"])
        self.assertIsNotNone(n.primary.service.rooms["room"].occupantByNick("Bob"))


class RestartTests(SynchronousTestCase):
    """
    A's node (the primary's) restarts.
    """

    def test_remoteOccupantsReadmitted(self) -> None:
        """
        After A restarts, the persistent room has no occupants and no
        epoch; B's replica resyncs with its old epoch: the primary asks
        B's disco#info first (it knows nothing of B any more), then takes
        Bob back into the room through its join checks and answers with a
        snapshot in a new epoch; Owner, back in the room, sees Bob.
        """
        n = Net(persistent=True)
        old = n.mirror.epoch
        n.net.crash("a.test")
        n.net.restart("a.test")
        n.net.flush()
        owner = n.net.login("owner@a.test")
        owner.send(join("Owner"))
        n.net.flush()
        owner.received()
        mark = n.resync(n.mirror.lastSeq, bobListed(), epoch=old)
        self.assertIn("disco#info", "".join(s.toXml() for s in n.crossed(mark, "a.test",
                                                                         "b.test")))
        room = n.primary.service.rooms["room"]
        self.assertIsNotNone(room.occupantByNick("Bob"))
        self.assertEqual([p.getAttribute("from") for p in owner.received()],
                         [f"{ROOM}/Bob"])
        resynced, stanzas = answer(n.toReplica(mark))
        self.assertEqual(resynced["mode"], "snapshot")
        self.assertNotEqual(resynced["epoch"], old)
        self.assertEqual(int(resynced["count"]), len(stanzas))
        self.assertIn(f"{ROOM}/Owner", [s.getAttribute("from") for s in stanzas])
        self.assertEqual(bodies(stanzas), ["before"])
        self.assertEqual(n.attachment().state, AttachState.ATTACHED)
