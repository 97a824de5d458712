# -*- test-case-name: tests.dmuc.test_netjoin -*-
"""
Tests for the primary's side of netsplits and netjoins
(L{xmuc.dmuc.netjoin}, L{xmuc.dmuc.intake}, L{xmuc.dmuc.resynced}) at the
engine level: L{tests.dmuc.networld} drives the primary with the link's
events and with resyncs built as the replica sends them, and keeps what
the primary logs in a real memory store.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase
from twisted.words.protocols.jabber.jid import JID

from tests.dmuc.networld import NS_DMUC, ROOM, NetWorld, presenceOf, seqOf, spooledMessage
from tests.dmuc.support import HOST, REPLICA
from xmuc.dmuc import resync as values
from xmuc.dmuc.attachment import AttachState
from xmuc.dmuc.peers import PeerDown, PeerUp
from xmuc.dmuc.wire import Resync, ResyncOccupant
from xmuc.muc.stanzas import stamp
from xmuc.storage.interfaces import ArchiveFilter

OWNER, AMY = "owner@a.example/o", "amy@a.example/x"
BOB, BOB2, BEN = "bob@b.example/p", "bob@b.example/tablet", "ben@b.example/q"
CAL = "cal@c.example/c"


def bodies(stanzas: list) -> list[str]:
    return [str(s.body) for s in stanzas if s.name == "message" and s.body is not None]


def room(w: NetWorld, *extra: str) -> None:
    """
    Owner's room with Amy (A) and Bob (B, through B's replica), and any
    of BEN or BOB2 also in it.
    """
    w.create(OWNER, "room", "Owner")
    w.join(AMY, "room", "Amy")
    w.join(BOB, "room", "Bob")
    for jid in extra:
        w.join(jid, "room", "Ben" if jid == BEN else "Bob")
    for jid in (OWNER, AMY, BOB, *extra):
        w.received(jid)


class SplitTests(SynchronousTestCase):
    """
    While the link to B is dead, B's replica gets nothing, and what it
    would have got is numbered and logged.
    """

    def test_loggedNotSent(self) -> None:
        """
        A message during the split reaches A's occupants at once; B's
        replica gets nothing, while the store's log holds the marked copy
        under the next C{seq}; a second PeerDown (a retry that failed)
        reports nothing new.
        """
        w = NetWorld()
        room(w)
        seq = w.attachment().seq
        w.split()
        w.split("connection refused")
        sent = len(w.toReplica)
        w.say(OWNER, "room", "during", "d1")
        self.assertEqual(bodies(w.received(AMY)), ["during"])
        self.assertEqual(w.toReplica[sent:], [])
        self.assertEqual(w.attachment().state, AttachState.SPLIT)
        replay = w.logged(seq)
        self.assertTrue(replay.complete)
        self.assertEqual([b.seq for b in replay.broadcasts], [seq + 1])
        self.assertIn("during", replay.broadcasts[0].xml)
        self.assertEqual([r for r in w.reports if isinstance(r, values.SplitReport)],
                         [values.SplitReport("b.example", "no answer to keepalive", 1)])
        self.assertEqual((w.primary.stats.splits, w.primary.stats.logged), (1, 1))
        self.assertEqual(w.primary.stats.lastDetected, w.now)

    def test_attachingIgnoresTheLink(self) -> None:
        """
        An attach still out is not split: its answer (or timeout) decides.
        """
        w = NetWorld()
        w.create(OWNER, "room", "Owner")
        w.cut = True
        w.join(BOB, "room", "Bob")
        w.runA(w.primary.peerDown(PeerDown("b.example"), w.now))
        self.assertEqual(w.attachment().state, AttachState.ATTACHING)
        self.assertEqual(w.primary.stats.splits, 0)

    def test_lastLeaverStaysAttached(self) -> None:
        """
        B's last occupant kicked during the split leaves the room (A's
        users see it), but the attachment stays until the netjoin, whose
        answer shows the replica the kick; then the replica is detached.
        """
        w = NetWorld()
        room(w)
        seq = w.attachment().seq
        w.split()
        w.admin(OWNER, "room", "<item nick='Bob' role='none'/>")
        self.assertIn("307", w.received(AMY)[0].toXml())
        self.assertIsNotNone(w.attachment())
        w.heal()
        resynced, stanzas = w.resync(seq, [(BOB, "Bob", "")])
        self.assertEqual(resynced["mode"], "replay")
        self.assertIn("307", stanzas[0].toXml())
        self.assertIn("<detach", w.toReplica[-1].toXml())
        self.assertIsNone(w.attachment())


class HealTests(SynchronousTestCase):
    """
    When the link is up again, each room of that domain syncs.
    """

    def test_sync(self) -> None:
        """
        PeerUp makes the attachment live again and sends the replica a
        C{<sync/>} with the room's epoch and the last C{seq} given to it;
        the next message goes out at once.
        """
        w = NetWorld()
        room(w)
        w.split()
        w.say(OWNER, "room", "during", "d1")
        seq = w.attachment().seq
        sent = len(w.toReplica)
        w.heal()
        [sync] = w.toReplica[sent:sent + 1]
        [payload] = list(sync.elements(NS_DMUC, "sync"))
        self.assertEqual((sync["type"], sync["from"]), ("set", ROOM))
        self.assertEqual((payload["epoch"], payload["seq"]),
                         (w.primary.rooms["room"].epoch, str(seq)))
        self.assertEqual(w.attachment().state, AttachState.ATTACHED)
        w.say(OWNER, "room", "after", "a1")
        self.assertEqual(seqOf(w.toReplica[-1]), seq + 1)

    def test_syncAnsweredConverges(self) -> None:
        """
        A replica that answers the C{<sync/>} (today's replica does not
        know it and answers an error) and asks nothing ends the domain's
        netjoin: one report, and the convergence time in the counters.
        """
        w = NetWorld()
        room(w)
        w.split()
        w.now += 30
        w.heal()
        [report] = [r for r in w.reports if isinstance(r, values.NetjoinReport)]
        self.assertEqual(report, values.NetjoinReport("b.example", 1, 0, 0,
                                                      (("none", 1),), 30.0))
        self.assertEqual(w.primary.stats.lastConvergence, 30.0)

    def test_syncItemNotFound(self) -> None:
        """
        A replica that answers the C{<sync/>} with C{item-not-found} lost
        the room: B's sessions leave it, as after any stanza it does not
        know.
        """
        w = NetWorld()
        room(w)
        w.split()
        w.cut = False
        w.runA(w.primary.peerUp(PeerUp("b.example"), w.now))
        sync = w.toReplica[-1]
        w.link.clear()  # the replica's own answer is replaced by this one
        error = (f"<iq type='error' from='{REPLICA.full()}' to='{ROOM}' id='{sync['id']}'>"
                 "<error type='cancel'><item-not-found "
                 "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>")
        w.send(REPLICA.full(), error)
        self.assertIsNone(w.attachment())
        self.assertIn("unavailable", w.received(AMY)[0].toXml())


class ReplayTests(SynchronousTestCase):
    """
    A resync in the room's epoch is answered with the log after the
    replica's C{last-seq}.
    """

    def test_replay(self) -> None:
        """
        What was logged during the split follows the C{<resynced/>}
        (mode replay, C{last-seq} the attachment's, C{count} of them), in
        order; the log is acknowledged up to the replica's C{last-seq};
        today's replica applies the replay, so Bob gets the messages he
        missed.
        """
        w = NetWorld()
        room(w)
        seq = w.attachment().seq
        w.split()
        w.say(OWNER, "room", "one", "d1")
        w.say(AMY, "room", "two", "d2")
        w.now += 12
        w.cut = False
        w.runA(w.primary.peerUp(PeerUp("b.example"), w.now))
        w.link.clear()  # the <sync/> is lost: the replica resyncs anyway
        w.received(BOB)
        resynced, stanzas = w.resync(seq, [(BOB, "Bob", "")])
        self.assertEqual((resynced["mode"], resynced["last-seq"], resynced["count"]),
                         ("replay", str(seq + 2), "2"))
        self.assertEqual([seqOf(s) for s in stanzas], [seq + 1, seq + 2])
        self.assertEqual(bodies(stanzas), ["one", "two"])
        self.assertEqual(bodies(w.received(BOB)), ["one", "two"])
        self.assertIn(values.AcknowledgeBroadcasts("room", REPLICA.full(), seq), w.keptA)
        self.assertFalse(w.logged(seq - 1).complete)
        self.assertEqual(w.primary.stats.replayed, 2)
        [report] = [r for r in w.reports if isinstance(r, values.NetjoinReport)]
        self.assertEqual((report.logged, report.replayed, report.modes, report.seconds),
                         (2, 2, (("replay", 1),), 12.0))

    def test_logTooShort(self) -> None:
        """
        When the log no longer reaches back to the replica's C{last-seq}
        (more was logged than C{log_size} keeps), the answer is a snapshot:
        the room's presences, history and subject.
        """
        w = NetWorld(logSize=2)
        room(w)
        seq = w.attachment().seq
        w.split()
        for n in range(4):
            w.say(OWNER, "room", f"m{n}", f"d{n}")
        w.heal()
        resynced, stanzas = w.resync(seq, [(BOB, "Bob", "")])
        self.assertEqual(resynced["mode"], "snapshot")
        self.assertEqual(int(resynced["count"]), len(stanzas))
        self.assertEqual(int(resynced["last-seq"]), w.attachment().seq)
        self.assertEqual(bodies(stanzas), ["m0", "m1", "m2", "m3"])
        self.assertEqual(stanzas[-1].name, "message")  # the subject ends it
        self.assertEqual(w.primary.stats.snapshots, 1)

    def test_unknownSeq(self) -> None:
        """
        A replica claiming a C{seq} never sent gets a snapshot.
        """
        w = NetWorld()
        room(w)
        resynced, _ = w.resync(w.attachment().seq + 5, [(BOB, "Bob", "")])
        self.assertEqual(resynced["mode"], "snapshot")

    def test_heldDuringRead(self) -> None:
        """
        What the room marks while the store reads the log waits: it is
        not sent before the answer, and follows the logged stanzas in it.
        """
        w = NetWorld()
        room(w)
        seq = w.attachment().seq
        w.split()
        w.say(OWNER, "room", "logged", "d1")
        w.heal()
        w.holdReads = True
        mark = len(w.toReplica)
        w.resync(seq, [(BOB, "Bob", "")])
        w.say(OWNER, "room", "meanwhile", "d2")
        self.assertEqual(w.toReplica[mark:], [])
        w.completeReads()
        resynced, stanzas = w.answerSince(mark)
        self.assertEqual((resynced["count"], bodies(stanzas)), ("2", ["logged", "meanwhile"]))
        w.say(OWNER, "room", "live", "d3")
        self.assertEqual(seqOf(w.toReplica[-1]), seq + 3)


class OccupantTests(SynchronousTestCase):
    """
    The replica's occupants applied to the room.
    """

    def test_notListedLeaves(self) -> None:
        """
        A session the replica no longer lists (its user left during the
        split) leaves with the ordinary unavailable presence; its copy,
        marked C{<leave/>}, is in the replay.
        """
        w = NetWorld()
        room(w, BEN)
        seq = w.attachment().seq
        w.split()
        w.heal()
        resynced, stanzas = w.resync(seq, [(BOB, "Bob", "")])
        self.assertEqual([p["type"] for p in w.received(AMY) if p.name == "presence"],
                         ["unavailable"])
        self.assertEqual(resynced["count"], "1")
        self.assertIn(f"<leave jid='{BEN}'", stanzas[0].toXml())
        self.assertIsNone(w.service.rooms["room"].occupantByNick("Ben"))

    def test_presenceChange(self) -> None:
        """
        A presence that changed during the split is broadcast; one that
        did not changes nothing.
        """
        w = NetWorld()
        room(w, BEN)
        seq = w.attachment().seq
        w.resync(seq, [(BOB, "Bob", "<show>away</show>"), (BEN, "Ben", "")])
        [presence] = w.received(AMY)
        self.assertEqual((presence["from"], str(presence.show)), (f"{ROOM}/Bob", "away"))
        w.resync(w.attachment().seq, [(BOB, "Bob", "<show>away</show>"), (BEN, "Ben", "")])
        self.assertEqual(w.received(AMY), [])

    def test_sessionSwap(self) -> None:
        """
        A client that reconnected during the split (same bare JID and
        nick, another resource) replaces its old session: the others see
        one presence (no leave), and the room holds the new session.
        """
        w = NetWorld()
        room(w)
        w.configure(OWNER, "room", whois="anyone")
        w.received(AMY)
        w.resync(w.attachment().seq, [(BOB2, "Bob", "")])
        [presence] = w.received(AMY)
        self.assertIsNone(presence.getAttribute("type"))
        self.assertIn(f"jid='{BOB2}'", presence.toXml())
        room_ = w.service.rooms["room"]
        self.assertIsNone(room_.occupantOf(JID(BOB)))
        self.assertEqual(room_.occupantOf(JID(BOB2)).nick, "Bob")
        self.assertEqual(w.attachment().sessions, {BOB2})
        w.say(OWNER, "room", "to the new one", "n1")
        self.assertEqual(seqOf(w.toReplica[-1]), w.attachment().seq)

    def test_unknownRefused(self) -> None:
        """
        In the room's epoch, a session the room does not hold stays out:
        the room's view wins (the replica shows its user the removal).
        """
        w = NetWorld()
        room(w)
        resynced, _ = w.resync(w.attachment().seq, [(BOB, "Bob", ""), (BEN, "Ben", "")])
        self.assertEqual(resynced["mode"], "replay")
        self.assertIsNone(w.service.rooms["room"].occupantByNick("Ben"))
        self.assertEqual(w.received(AMY), [])

    def test_newEpochReadmits(self) -> None:
        """
        With another epoch (the primary restarted), the listed sessions
        the room does not hold come in again through its join checks,
        without history: A's users see them enter; a banned user and a
        taken nickname stay out; the answer is a snapshot.
        """
        w = NetWorld()
        room(w)
        w.admin(OWNER, "room", "<item affiliation='outcast' jid='ben@b.example'/>")
        w.join(CAL, "room", "Cal")
        for jid in (AMY, OWNER, CAL):
            w.received(jid)
        resynced, stanzas = w.resync(0, [(BOB, "Bob", ""), (BOB2, "Robert", ""),
                                         (BEN, "Ben", ""), ("bea@b.example/z", "Cal", "")],
                                     epoch="before-the-restart")
        room_ = w.service.rooms["room"]
        self.assertEqual(room_.occupantOf(JID(BOB2)).nick, "Robert")
        self.assertIsNone(room_.occupantOf(JID(BEN)))
        self.assertIsNone(room_.occupantOf(JID("bea@b.example/z")))
        self.assertEqual([p["from"] for p in w.received(AMY)], [f"{ROOM}/Robert"])
        self.assertEqual(resynced["mode"], "snapshot")
        self.assertEqual(resynced["epoch"], w.primary.rooms["room"].epoch)
        self.assertIn(f"{ROOM}/Robert", [s.getAttribute("from") for s in stanzas])


class SpoolTests(SynchronousTestCase):
    """
    Spooled messages taken as if just sent.
    """

    def test_spooled(self) -> None:
        """
        A spooled message reaches everyone else with a C{<delay/>} at the
        time it was sent, is archived at that time, and comes back to the
        replica as an ordinary marked broadcast (its marker's delay at
        that time too), in the replay.
        """
        w = NetWorld()
        room(w)
        w.configure(OWNER, "room", enablelogging="1")
        w.received(AMY)
        seq = w.attachment().seq
        sent = w.now - 20
        resynced, stanzas = w.resync(seq, [(BOB, "Bob", "")], [
            spooledMessage(BOB, "while split", "o1", stamp(sent))])
        [message] = w.received(AMY)
        self.assertEqual(str(message.body), "while split")
        self.assertEqual(message["from"], f"{ROOM}/Bob")
        self.assertIn(f"stamp='{stamp(sent)}'", message.toXml())
        self.assertEqual((resynced["count"], bodies(stanzas)), ("1", ["while split"]))
        self.assertEqual(stanzas[0].toXml().count(stamp(sent)), 2)
        page: list = []
        w.store.queryArchive(HOST, "room", ArchiveFilter()).addCallback(page.append)
        self.assertEqual([m.stamp for m in page[0].messages], [sent])
        self.assertEqual(w.primary.stats.spooledAccepted, 1)

    def test_duplicates(self) -> None:
        """
        The same spool sent again (the first answer was lost) is not taken
        twice; nor, after a restart (another primary on the same store,
        another epoch), is a message the archive holds.
        """
        w = NetWorld()
        room(w)
        w.configure(OWNER, "room", enablelogging="1")
        w.received(AMY)
        spool = [spooledMessage(BOB, "once", "o1", stamp(w.now - 5))]
        w.resync(w.attachment().seq, [(BOB, "Bob", "")], spool)
        w.resync(w.attachment().seq, [(BOB, "Bob", "")], spool)
        self.assertEqual(bodies(w.received(AMY)), ["once"])
        self.assertEqual(w.primary.stats.spooledDuplicates, 1)
        again = NetWorld(store=w.store, seed=9)
        again.create(OWNER, "room", "Owner")
        again.configure(OWNER, "room", enablelogging="1")
        again.join(AMY, "room", "Amy")
        again.received(AMY)
        again.resync(0, [(BOB, "Bob", "")], spool, epoch="old")
        self.assertEqual(bodies(again.received(AMY)), [])
        self.assertEqual(again.primary.stats.spooledDuplicates, 1)

    def test_refused(self) -> None:
        """
        A spooled message from an occupant who lost voice, or from a user
        no longer in the room, is refused: nobody gets it, and the answer
        lists it with the condition (C{forbidden}, C{not-acceptable}).
        """
        w = NetWorld()
        room(w, BEN)
        w.configure(OWNER, "room", moderatedroom="1")
        w.admin(OWNER, "room", "<item nick='Bob' role='visitor'/>")
        w.received(AMY)
        resynced, _ = w.resync(w.attachment().seq, [(BOB, "Bob", "")], [
            spooledMessage(BOB, "muted", "o1"), spooledMessage(BEN, "gone", "o2")])
        self.assertEqual(bodies(w.received(AMY)), [])
        refused = [(r["origin-id"], r["jid"], r["condition"])
                   for r in resynced.elements(NS_DMUC, "refused")]
        self.assertEqual(refused, [("o1", BOB, "forbidden"), ("o2", BEN, "not-acceptable")])
        self.assertEqual(w.primary.stats.spooledRefused, 2)

    def test_noFloodControl(self) -> None:
        """
        A backlog of spooled messages is not judged by flood control, which
        would refuse most of it when the netjoin hands it in at once.
        """
        w = NetWorld(floodRate=0.1, floodBurst=2)
        room(w)
        spool = [spooledMessage(BOB, f"m{n}", f"o{n}", stamp(w.now - 60 + 10 * n))
                 for n in range(6)]
        resynced, _ = w.resync(w.attachment().seq, [(BOB, "Bob", "")], spool)
        self.assertEqual(bodies(w.received(AMY)), [f"m{n}" for n in range(6)])
        self.assertEqual(list(resynced.elements(NS_DMUC, "refused")), [])


class RefusalTests(SynchronousTestCase):
    """
    What a resync may not do.
    """

    def error(self, w: NetWorld, value: Resync, **kw: object) -> str:
        reply = w.fromReplica(value, **kw)
        assert reply is not None
        error = next(reply.elements(None, "error"))
        return next(c.name for c in error.elements() if c.name != "text")

    def test_otherDomains(self) -> None:
        """
        A resync listing a user of another domain, or spooling one's
        message, is refused C{forbidden} whole: the room is unchanged.
        """
        w = NetWorld()
        room(w)
        epoch, seq = w.primary.rooms["room"].epoch, w.attachment().seq
        listed = Resync(epoch, seq, (ResyncOccupant(JID(CAL), "Cal", presenceOf()),))
        self.assertEqual(self.error(w, listed), "forbidden")
        spooled = Resync(epoch, seq, (), (spooledMessage(CAL, "forged", "x"),))
        self.assertEqual(self.error(w, spooled), "forbidden")
        self.assertIsNotNone(w.service.rooms["room"].occupantOf(JID(BOB)))

    def test_notTheReplica(self) -> None:
        """
        A resync from anyone but the domain's replica is
        C{service-unavailable}; about a room that does not exist,
        C{item-not-found}; while another is answered, C{unexpected-request}.
        """
        w = NetWorld()
        room(w)
        value = Resync(w.primary.rooms["room"].epoch, w.attachment().seq)
        self.assertEqual(self.error(w, value, sender=JID(BOB)), "service-unavailable")
        self.assertEqual(self.error(w, value, to=f"nowhere@{HOST}"), "item-not-found")
        w.holdReads = True
        w.split()
        w.say(OWNER, "room", "x", "x1")
        w.resync(w.attachment().seq - 1, [(BOB, "Bob", "")])
        self.assertEqual(self.error(w, value), "unexpected-request")

    def test_pingUnknown(self) -> None:
        """
        A replica's ping to a room that does not use it is
        C{item-not-found}; to a room it mirrors, a result.
        """
        w = NetWorld()
        room(w)
        ping = "<iq type='get' id='p1' to='{0}'><ping xmlns='urn:xmpp:ping'/></iq>"
        w.create(OWNER, "third", "Owner")
        mark = len(w.toReplica)
        for name in ("room", "third", "nowhere"):
            w.send(REPLICA.full(), ping.format(f"{name}@{HOST}"))
        answers = [(s["from"], s["type"], [c.name for c in s.elements()])
                   for s in w.toReplica[mark:]]
        self.assertEqual([a[:2] for a in answers], [
            (ROOM, "result"), (f"third@{HOST}", "error"), (f"nowhere@{HOST}", "error")])
        self.assertIn("item-not-found", w.toReplica[-1].toXml())
        self.assertIn("item-not-found", w.toReplica[-2].toXml())


class LinkHoldTests(SynchronousTestCase):
    """
    The link to a domain is kept up while the primary has an attachment
    there.
    """

    def test_keepAndRelease(self) -> None:
        """
        The first attachment on B holds the link (L{KeepLink}), a second
        room's does not again, and the link is released when the last
        goes.
        """
        w = NetWorld()
        room(w)
        w.create(OWNER, "other", "Owner")
        w.join(BEN, "other", "Ben")
        links = [r for r in w.reports if isinstance(r, (values.KeepLink, values.ReleaseLink))]
        self.assertEqual(links, [values.KeepLink("b.example")])
        w.leave(BOB, "room", "Bob")
        w.leave(BEN, "other", "Ben")
        links = [r for r in w.reports if isinstance(r, (values.KeepLink, values.ReleaseLink))]
        self.assertEqual(links, [values.KeepLink("b.example"), values.ReleaseLink("b.example")])
