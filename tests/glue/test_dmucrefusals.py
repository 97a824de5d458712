# -*- test-case-name: tests.glue.test_dmucrefusals -*-
"""
Distributed rooms' security rules end to end on the FakeNetwork
(L{tests.support.dmucroom}), continued from
L{tests.glue.test_dmucsecurity}: the enters B's replica must refuse (a
primary cannot pull a user into a room) and what the room's primary
refuses from a replica (roles, speaking in the room, leaves and errors
about users of other domains, a domain claiming another's replica).
"""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase
from twisted.words.protocols.jabber.jid import JID

from tests.support.dmucroom import (
    MUC_NS,
    REPLICA,
    ROOM,
    STANZAS_NS,
    RoomNet,
    condition,
    enter,
    errorsTo,
    join,
    marker,
)
from tests.support.fakenet import FakeNetwork
from tests.support.harness import parseStanza
from xmuc.dmuc.infoform import infoForm
from xmuc.dmuc.ns import NS_DMUC


class EnterTests(SynchronousTestCase):
    """
    An enter is honoured only for the replica's own users who sent that
    room directed presence and are not outcasts: a primary cannot pull a
    user into a room (design sections 3 and 7). The replica answers
    C{forbidden}; the primary then removes the occupant it admitted.
    """

    def pull(self, r: RoomNet, nick: str, jid: str) -> int:
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
        r = RoomNet()
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
        r = RoomNet()
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
        r = RoomNet()
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
        r = RoomNet()
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
        r = RoomNet()
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
        r = RoomNet()
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
        r = RoomNet()
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
        r = RoomNet()
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

    def fromReplica(self, r: RoomNet, xml: str) -> list[Any]:
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
        r = RoomNet()
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
        r = RoomNet()
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
        presence with C{<leave/>}) is answered C{forbidden}, and so is a
        resync listing either (beside Bob, so that nothing else would
        change) or holding a spooled message from either: a replica speaks
        for B's users alone, and a resync is refused whole. Cal and Owner
        stay, nobody gets anything.
        """
        r = RoomNet()
        before = r.state()
        for nick, jid in (("Cal", "cal@c.test/res"), ("Owner", "owner@a.test/res")):
            error = (f"<presence type='error' from='{REPLICA}' to='{ROOM}/{nick}'>"
                     f"<error type='auth'><forbidden xmlns='{STANZAS_NS}'/></error></presence>")
            self.assertEqual(self.fromReplica(r, error), [])
            leave = (f"<presence type='unavailable' from='{REPLICA}' to='{ROOM}/{nick}'>"
                     f"<x xmlns='{NS_DMUC}'><leave jid='{jid}'/></x></presence>")
            self.assertEqual([condition(x) for x in self.fromReplica(r, leave)], ["forbidden"])
        epoch = r.mirror.epoch
        bob = (f"<occupant jid='bob@b.test/res' nick='Bob'>"
               f"<presence xmlns='jabber:client'/></occupant>")
        for nick, jid in (("Cal", "cal@c.test/res"), ("Owner", "owner@a.test/res")):
            listed = (f"<iq type='set' id='s1' from='{REPLICA}' to='{ROOM}'>"
                      f"<resync xmlns='{NS_DMUC}' epoch='{epoch}' last-seq='1'>{bob}"
                      f"<occupant jid='{jid}' nick='{nick}'>"
                      f"<presence xmlns='jabber:client'/></occupant></resync></iq>")
            self.assertEqual([condition(x) for x in self.fromReplica(r, listed)],
                             ["forbidden"])
            spooled = (f"<iq type='set' id='s2' from='{REPLICA}' to='{ROOM}'>"
                       f"<resync xmlns='{NS_DMUC}' epoch='{epoch}' last-seq='1'>{bob}"
                       f"<spooled><message xmlns='jabber:client' type='groupchat' "
                       f"from='{jid}' to='{ROOM}' id='x'><body>forged</body></message>"
                       f"</spooled></resync></iq>")
            self.assertEqual([condition(x) for x in self.fromReplica(r, spooled)],
                             ["forbidden"])
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

        r = RoomNet(claim)
        primary = r.net.nodes["a.test"].node.modules["dmuc"].primary.primary
        self.assertIsNone(primary.attachment("room", "c.test"))
        self.assertEqual(primary.replicas.get("c.test"), None)
        self.assertEqual(r.mirror.local, {"Bob": [JID("bob@b.test/res")]})
        self.assertIn("Cal", r.mirror.roster)
        r.owner.send(f"<message type='groupchat' to='{ROOM}' id='m2'><body>all</body></message>")
        r.net.flush()
        for client in r.clients:
            self.assertEqual([str(m.body) for m in client.received()], ["all"])
