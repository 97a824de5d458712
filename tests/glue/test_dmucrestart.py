# -*- test-case-name: tests.glue.test_dmucrestart -*-
"""
Tests for what the distributed rooms keep across a node's restart
(L{xmuc.glue.dmucstore}) on the FakeNetwork: a node crashes and starts
again on the same store.
"""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from tests.glue.test_dmuc import MUC_NS, ROOM, network
from tests.support.fakenet import FakeNetwork

PERSISTENT = ("<field var='muc#roomconfig_persistentroom'><value>1</value></field>")


def primaryOf(net: FakeNetwork) -> Any:
    return net.nodes["a.test"].node.modules["dmuc"].primary.primary


def replicaOf(net: FakeNetwork) -> Any:
    return net.nodes["b.test"].node.modules["dmuc"].replica.replica


def room(net: FakeNetwork) -> tuple[Any, Any]:
    """
    A persistent room on A with a local owner and bob of B (through B's
    replica), some talk.
    """
    owner, bob = net.login("owner@a.test"), net.login("bob@b.test")
    owner.send(f"<presence to='{ROOM}/Owner'><x xmlns='{MUC_NS}'/></presence>")
    net.flush()
    owner.send(f"<iq type='set' id='c1' to='{ROOM}'><query xmlns='{MUC_NS}#owner'>"
               f"<x xmlns='jabber:x:data' type='submit'>{PERSISTENT}</x></query></iq>")
    net.flush()
    bob.send(f"<presence to='{ROOM}/Bob'><x xmlns='{MUC_NS}'/></presence>")
    net.flush()
    for n in range(3):
        owner.send(f"<message type='groupchat' to='{ROOM}' id='o{n}'><body>m{n}</body>"
                   "</message>")
        net.flush()
    bob.send(f"<message type='groupchat' to='{ROOM}' id='b1'><body>hi</body></message>")
    net.flush()
    return owner, bob


def logged(net: FakeNetwork, after: int) -> list[int]:
    """
    The C{seq}s A's store logged for B's replica after C{after}.
    """
    replays: list[Any] = []
    net.nodes["a.test"].store.replayBroadcasts("muc.a.test", "room", "dmuc@b.test",
                                               after).addCallback(replays.append)
    [replay] = replays
    assert replay.complete
    return [b.seq for b in replay.broadcasts]


class PrimaryRestartTests(SynchronousTestCase):
    """
    A's node (the room's) restarts.
    """

    def test_restartIsANewEpoch(self) -> None:
        """
        After a restart the room does not take up its old epoch (its
        occupants were in memory); when bob enters again, the old copy is
        detached and the new attach starts a new epoch numbered from 1:
        bob is served as before, history included.
        """
        net = network()
        owner, bob = room(net)
        old = primaryOf(net).epochs["room"]
        net.crash("a.test")
        net.restart("a.test")
        net.flush()
        after = primaryOf(net)
        self.assertEqual(after.epochs, {})
        self.assertEqual(after.restored["room"]["b.test"].seq, 0)
        bob.received()
        bob.send(f"<presence to='{ROOM}/Bob'><x xmlns='{MUC_NS}'/></presence>")
        net.flush()
        seqs = logged(net, 0)
        self.assertGreater(len(seqs), 3)
        self.assertEqual(seqs, list(range(1, 1 + len(seqs))))
        self.assertNotEqual(after.rooms["room"].epoch, old)
        got = bob.received()
        self.assertIn("code='110'", "".join(s.toXml() for s in got if s.name == "presence"))
        self.assertEqual([str(s.body) for s in got if s.name == "message" and s.body],
                         ["m0", "m1", "m2", "hi"])
        self.assertEqual(replicaOf(net).rooms[ROOM].lastSeq, seqs[-1])


class ReplicaRestartTests(SynchronousTestCase):
    """
    B's node (the replica's) restarts.
    """

    def test_stateSurvives(self) -> None:
        """
        The replica comes back with the mirror it had (roster, local
        members, history, C{seq}), kept apart for a resync: nothing of it
        is served, so the room's next message reaches nobody on B, and
        bob, logged in again, gets nothing stale.
        """
        net = network()
        owner, bob = room(net)
        mirror = replicaOf(net).rooms[ROOM]
        kept = (list(mirror.roster), mirror.lastSeq, mirror.epoch,
                {n: [j.full() for j in js] for n, js in mirror.local.items()},
                [str(e.stanza.body) for e in mirror.history])
        net.crash("b.test")
        net.restart("b.test")
        net.flush()
        replica = replicaOf(net)
        self.assertEqual(replica.rooms, {})
        back = replica.restored[ROOM]
        self.assertEqual((list(back.roster), back.lastSeq, back.epoch,
                          {n: [j.full() for j in js] for n, js in back.local.items()},
                          [str(e.stanza.body) for e in back.history]), kept)
        self.assertEqual(kept[4], ["m0", "m1", "m2", "hi"])
        again = net.login("bob@b.test")
        owner.send(f"<message type='groupchat' to='{ROOM}' id='o9'><body>late</body></message>")
        net.flush()
        self.assertEqual([s for s in again.received() if s.name == "message"], [])
        self.assertNotIn(ROOM, replica.rooms)

    def test_otherRoomsAttach(self) -> None:
        """
        After the replica's restart, a room it did not mirror attaches as
        ever and serves B's user through the replica.
        """
        net = network()
        room(net)
        net.crash("b.test")
        net.restart("b.test")
        net.flush()
        owner = net.nodes["a.test"].clients[0]
        other = "other@muc.a.test"
        owner.send(f"<presence to='{other}/Owner'><x xmlns='{MUC_NS}'/></presence>")
        net.flush()
        owner.send(f"<iq type='set' id='c2' to='{other}'><query xmlns='{MUC_NS}#owner'>"
                   "<x xmlns='jabber:x:data' type='submit'/></query></iq>")
        net.flush()
        ben = net.login("ben@b.test")
        ben.send(f"<presence to='{other}/Ben'><x xmlns='{MUC_NS}'/></presence>")
        net.flush()
        self.assertIn(other, replicaOf(net).rooms)
        self.assertIn("code='110'", "".join(s.toXml() for s in ben.received()))

    def test_enterAgain(self) -> None:
        """
        After the replica's restart, the room learns from the replica's
        C{item-not-found} that it lost the room: B's sessions leave it
        (A's users see them go), and B's users can enter again, served
        through a fresh attach.
        """
        net = network()
        owner, bob = room(net)
        net.crash("b.test")
        net.restart("b.test")
        net.flush()
        owner.received()
        owner.send(f"<message type='groupchat' to='{ROOM}' id='o9'><body>late</body></message>")
        net.flush()
        self.assertIn("type='unavailable'", "".join(
            s.toXml() for s in owner.received() if s.getAttribute("from") == f"{ROOM}/Bob"))
        again = net.login("bob@b.test")
        again.received()
        again.send(f"<presence to='{ROOM}/Bob'><x xmlns='{MUC_NS}'/></presence>")
        net.flush()
        got = again.received()
        self.assertIn("code='110'", "".join(s.toXml() for s in got if s.name == "presence"))
        self.assertEqual([str(s.body) for s in got if s.name == "message" and s.body],
                         ["m0", "m1", "m2", "hi", "late"])
        self.assertIn(ROOM, replicaOf(net).rooms)
        self.assertNotIn(ROOM, replicaOf(net).restored)
