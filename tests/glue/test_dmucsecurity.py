# -*- test-case-name: tests.glue.test_dmucsecurity -*-
"""
The security rules of distributed rooms (design section 7), end to end on
the FakeNetwork: whole nodes with the real s2s layer and dialback
(L{tests.support.dmucroom}). What a misbehaving peer sends is written as
raw bytes on a real stream (an unauthenticated connection, another
domain's authenticated stream, the primary's own stream), or sent by a
client; each test checks the error condition that comes back, that no
client received anything it should not, and that neither the room nor the
replica's mirror of it changed. Here: the streams, what the replica
refuses, occupants' payloads, what the primary discloses. Enters and what
the primary refuses from a replica: L{tests.glue.test_dmucrefusals}.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from tests.support.dmucroom import (
    HEADER,
    MUC_NS,
    REPLICA,
    ROOM,
    RoomNet,
    broadcast,
    condition,
    errorsTo,
    marker,
)
from xmuc.dmuc.ns import NS_DMUC
from xmuc.dmuc.replica import Phase


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
        r = RoomNet()
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
        r = RoomNet()
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
        r = RoomNet()
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
        r = RoomNet()
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
    sequence; requests only from rooms. (Its enters:
    L{tests.glue.test_dmucrefusals}.)
    """

    def test_unattachedRoom(self) -> None:
        """
        Broadcasts from the nickname of a room of A's MUC service that B
        never attached, from the service itself, and from a room of the
        same name on C's service (each over its own authenticated stream)
        are answered C{item-not-found}; Bob gets nothing, the mirror is
        unchanged.
        """
        r = RoomNet()
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

    def test_queries(self) -> None:
        """
        Every IQ get to the replica's JID is answered (RFC 6120 8.2.3): a
        ping, a disco#info query or any other, from a user of A or of B,
        gets C{service-unavailable} (it answers none yet); nobody else
        gets anything, the mirror is unchanged.
        """
        r = RoomNet()
        amy = r.login("amy@a.test")
        before = r.state()
        for client in (amy, r.bob):
            for payload in ("<ping xmlns='urn:xmpp:ping'/>",
                            "<query xmlns='http://jabber.org/protocol/disco#info'/>",
                            f"<attach xmlns='{NS_DMUC}' epoch='e' keepalive='60' history='5' "
                            "anonymity='semi'/>"):
                client.send(f"<iq type='get' id='q' to='{REPLICA}'>{payload}</iq>")
                r.net.flush()
                self.assertEqual([condition(x) for x in client.received()],
                                 ["service-unavailable"], payload)
        r.nobodyReceived(self)
        self.assertEqual(r.state(), before)

    def test_afterDetach(self) -> None:
        """
        Once B's last occupant left and the room detached B's replica, a
        broadcast from the room's own nickname (the next seq) is answered
        C{item-not-found}: the replica mirrors nothing, nobody gets
        anything.
        """
        r = RoomNet()
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
        r = RoomNet()
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
        r = RoomNet()
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
        r = RoomNet()
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
        r = RoomNet()
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
        r = RoomNet()
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
        r = RoomNet()
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
        r = RoomNet()
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
        r = RoomNet()
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
        r = RoomNet()
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
