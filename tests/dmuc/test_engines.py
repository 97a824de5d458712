# -*- test-case-name: tests.dmuc.test_engines -*-
"""
Tests for L{xmuc.dmuc.primary} and L{xmuc.dmuc.replica}: the two engines
joined by the fake link of L{tests.dmuc.support}, and the differential
transparency property at the engine level: one scripted session run with
B's users served classically and through the replica gives every client
the same stanzas in the same order.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase
from twisted.words.protocols.jabber.jid import JID

from tests.dmuc.support import HOST, REPLICA, World, overTheWire
from xmuc.dmuc.attachment import outcastsOf
from xmuc.dmuc.marker import Marker, marked
from xmuc.dmuc.ns import NS_DMUC
from xmuc.dmuc.primary import AttachState
from xmuc.muc.effects import Send
from xmuc.muc.model import Affiliation, Role
from xmuc.muc.stanzas import itemElement, mucUser, stamp, stanza

ROOM = f"room@{HOST}"
OWNER, AMY = "owner@a.example/o", "amy@a.example/x"
BMOD, BOB, BOB2, BEN, BEA = ("bmod@b.example/m", "bob@b.example/p", "bob@b.example/tablet",
                             "ben@b.example/q", "bea@b.example/z")
CAL, BOSS = "cal@c.example/c", "boss@b.example/b"
CLIENTS = (OWNER, AMY, BMOD, BOB, BOB2, BEN, BEA, CAL, BOSS)


def script(w: World, nonAnonymous: bool) -> dict[str, int]:
    """
    The session: join with history requests, talk, a presence change, a
    second session under one nickname, a nickname change, subject, role
    changes, a kick, a ban (and the banned user's refused return), a late
    join, a private message, leaves, destruction. Returns how many
    stanzas crossed from A to B for some steps.
    """
    counts: dict[str, int] = {}

    def counted(name: str, step: object) -> None:
        before = len(w.crossings)
        step()  # type: ignore[operator]
        counts[name] = len(w.crossings) - before

    w.create(OWNER, "room", "Owner")
    if nonAnonymous:
        w.configure(OWNER, "room", whois="anyone")
    w.say(OWNER, "room", "first", "h1")
    w.now += 10
    w.say(OWNER, "room", "second", "h2")
    w.admin(OWNER, "room", "<item affiliation='admin' jid='bmod@b.example'/>")
    w.join(AMY, "room", "Amy")
    w.now += 10
    # B's first entrant is a participant: its replica starts without real
    # JIDs (semi-anonymous), and B's moderator entering needs them.
    w.join(BOB, "room", "Bob", "<history seconds='15'/>")
    w.join(BMOD, "room", "BMod", "<history maxstanzas='1'/>")
    w.join(CAL, "room", "Cal")
    counted("join", lambda: w.join(BEN, "room", "Ben", "<history maxchars='0'/>"))
    w.join(BOB2, "room", "Bob")
    counted("message", lambda: w.say(BOB, "room", "hi all", "b1"))
    w.say(CAL, "room", "hi from C", "c1")
    w.say(BMOD, "room", "moderating", "m1")
    w.send(BOB, f"<presence to='{ROOM}/Bob'><show>away</show><status>brb</status></presence>")
    w.send(BOB2, f"<presence type='unavailable' to='{ROOM}/Bob'/>")
    w.send(BOB, f"<presence to='{ROOM}/Robert'><show>away</show></presence>")
    w.send(BMOD, f"<message type='groupchat' to='{ROOM}' id='s1'><subject>Tea</subject></message>")
    w.admin(BMOD, "room", "<item nick='Robert' role='moderator'/>")
    w.admin(OWNER, "room", "<item nick='Robert' role='participant'><reason>enough</reason></item>")
    w.admin(BMOD, "room", "<item nick='Cal' role='visitor'/>")
    w.admin(BMOD, "room", "<item nick='Amy' role='none'><reason>out</reason></item>")
    w.admin(OWNER, "room", "<item affiliation='outcast' jid='ben@b.example'/>")
    w.join(BEN, "room", "Ben")
    w.send(CAL, f"<message type='chat' to='{ROOM}/Robert' id='pm'><body>psst</body></message>")
    w.now += 5
    w.join(BEA, "room", "Bea", "<history maxstanzas='3'/>")
    w.leave(BOB, "room", "Robert")
    w.admin(OWNER, "room", "<item affiliation='admin' jid='boss@b.example'/>")
    w.leave(BMOD, "room", "BMod")
    # No moderator left on B: A's presences reach it without real JIDs.
    w.send(OWNER, f"<presence to='{ROOM}/Owner'><show>dnd</show></presence>")
    w.join(BOSS, "room", "Boss")
    counted("owner-message", lambda: w.say(OWNER, "room", "bye", "o9"))
    w.send(OWNER, f"<iq type='set' id='d1' to='{ROOM}'>"
                  "<query xmlns='http://jabber.org/protocol/muc#owner'>"
                  "<destroy><reason>done</reason></destroy></query></iq>")
    return counts


def reconfigured(w: World, nonAnonymous: bool) -> None:
    """
    A room whose anonymity and history length change while B's users are
    in it, then a service shutdown.
    """
    w.create(OWNER, "room", "Owner")
    for n in range(4):
        w.say(OWNER, "room", f"old {n}", f"o{n}")
    w.join(BOB, "room", "Bob")
    w.join(AMY, "room", "Amy")
    w.configure(OWNER, "room", whois="moderators" if nonAnonymous else "anyone")
    w.send(AMY, f"<presence to='{ROOM}/Amy'><status>here</status></presence>")
    w.join(BEA, "room", "Bea")
    w.configure(OWNER, "room", **{"muc#maxhistoryfetch": "2"})
    w.join(BEN, "room", "Ben", "<history maxchars='700'/>")
    w.now += 30
    w.say(BOB, "room", "still here", "s1")
    w.join(BMOD, "room", "BMod", f"<history since='{stamp(w.now - 10)}'/>")
    w.join(BOSS, "room", "Boss", "<history seconds='5' maxstanzas='1'/>")
    w.shutdown()


class TransparencyTests(SynchronousTestCase):
    """
    A client cannot tell whether its room reaches it through a replica.
    """

    def compare(self, nonAnonymous: bool, run: object = script,
                clients: tuple[str, ...] = CLIENTS) -> tuple[World, World]:
        classic, distributed = World(dmuc=False), World(dmuc=True)
        run(classic, nonAnonymous)  # type: ignore[operator]
        run(distributed, nonAnonymous)  # type: ignore[operator]
        for client in clients:
            expected, got = classic.transcript(client), distributed.transcript(client)
            self.assertTrue(expected, client)
            for n, (one, other) in enumerate(zip(expected, got)):
                self.assertEqual(one, other, f"{client}, stanza {n}")
            self.assertEqual(len(expected), len(got), client)
        return classic, distributed

    def test_semiAnonymous(self) -> None:
        """
        In a semi-anonymous room every client on A, on B and on C gets the
        same stanzas in the same order either way (timestamps aside).
        """
        self.compare(False)

    def test_nonAnonymous(self) -> None:
        """
        The same in a non-anonymous room.
        """
        self.compare(True)

    def test_reconfigured(self) -> None:
        """
        A room turning non-anonymous or back, or keeping less history,
        with B's users in it, and the service's shutdown: still the same.
        """
        clients = (OWNER, AMY, BOB, BEA, BEN, BMOD, BOSS)
        self.compare(False, reconfigured, clients)
        self.compare(True, reconfigured, clients)

    def test_classicBeforeAttach(self) -> None:
        """
        B's users who joined while B was served classically (discovery had
        no answer yet) stay classic after B's replica is attached for a
        later user; everyone still gets what a plain service sends.
        """
        classic, distributed = World(dmuc=False), World(dmuc=True)
        distributed.primary.replicaFound("b.example", None)
        for w in (classic, distributed):
            w.create(OWNER, "room", "Owner")
            w.join(BOB, "room", "Bob")
            if w is distributed:
                w.primary.replicaFound("b.example", REPLICA)
            w.join(BEA, "room", "Bea")
            w.say(OWNER, "room", "to all", "x1")
            w.leave(BEA, "room", "Bea")
            w.say(BOB, "room", "still classic", "x2")
        for client in (OWNER, BOB, BEA):
            self.assertEqual(classic.transcript(client), distributed.transcript(client), client)
        self.assertIsNone(distributed.primary.attachment("room", "b.example"))

    def test_crossings(self) -> None:
        """
        Through the replica a room message crosses to B once, however many
        of B's users are in the room, and a join costs one stanza;
        classically one per B occupant.
        """
        classic, distributed = World(dmuc=False), World(dmuc=True)
        counts = script(distributed, False)
        classicCounts = script(classic, False)
        self.assertEqual(counts["message"], 1)
        self.assertEqual(counts["owner-message"], 1)
        self.assertEqual(counts["join"], 1)
        self.assertEqual(classicCounts["message"], 4)  # BMod, Ben, both of Bob's
        self.assertGreater(classicCounts["join"], 4)
        self.assertLess(len(distributed.crossings), len(classic.crossings))

    def test_snapshotOnce(self) -> None:
        """
        The first entrant of B attaches: the attach, one presence per other
        occupant, the history, the subject, then the enter copy.
        """
        w = World()
        w.create(OWNER, "room", "Owner")
        w.join(AMY, "room", "Amy")
        w.say(OWNER, "room", "first", "h1")
        w.crossings.clear()
        w.join(BOB, "room", "Bob")
        names = [(c.name, c.getAttribute("from")) for c in w.crossings]
        self.assertEqual(names, [("iq", ROOM), ("presence", f"{ROOM}/Owner"),
                                 ("presence", f"{ROOM}/Amy"), ("message", f"{ROOM}/Owner"),
                                 ("message", ROOM), ("presence", f"{ROOM}/Bob")])
        seqs = [next(c.elements(NS_DMUC, "x"))["seq"] for c in w.crossings[1:]]
        self.assertEqual(seqs, ["1", "2", "3", "4", "5"])
        enter = next(w.crossings[-1].elements(NS_DMUC, "x"))
        self.assertEqual(next(enter.elements(NS_DMUC, "enter"))["jid"], BOB)


class AttachTests(SynchronousTestCase):
    """
    Attach, outcast lists and detach.
    """

    def test_detachOnLastLeave(self) -> None:
        """
        The last user of B leaving detaches B; the next one attaches again.
        """
        w = World()
        w.create(OWNER, "room", "Owner")
        w.join(BOB, "room", "Bob")
        w.join(BEA, "room", "Bea")
        w.leave(BOB, "room", "Bob")
        self.assertIsNotNone(w.primary.attachment("room", "b.example"))
        w.leave(BEA, "room", "Bea")
        self.assertIsNone(w.primary.attachment("room", "b.example"))
        self.assertEqual(w.crossings[-1].name, "iq")
        self.assertTrue(list(w.crossings[-1].elements(NS_DMUC, "detach")))
        self.assertNotIn(ROOM, w.replica.rooms)

    def test_detachOnDestroy(self) -> None:
        """
        A destroyed room detaches after its last presences.
        """
        w = World()
        w.create(OWNER, "room", "Owner")
        w.join(BOB, "room", "Bob")
        w.send(OWNER, f"<iq type='set' id='d1' to='{ROOM}'>"
                      "<query xmlns='http://jabber.org/protocol/muc#owner'><destroy/></query></iq>")
        self.assertTrue(list(w.crossings[-1].elements(NS_DMUC, "detach")))
        self.assertEqual(w.replica.rooms, {})
        self.assertEqual(w.primary.rooms, {})

    def test_shutdown(self) -> None:
        """
        A shutdown's last presences for B's occupants go through the
        replica (one each: each is that occupant's own), then the detach.
        """
        w = World()
        w.create(OWNER, "room", "Owner")
        w.join(BOB, "room", "Bob")
        w.join(BEA, "room", "Bea")
        w.crossings.clear()
        w.shutdown()
        self.assertEqual([c["to"] for c in w.crossings], [REPLICA.full()] * 3)
        self.assertTrue(list(w.crossings[-1].elements(NS_DMUC, "detach")))
        self.assertEqual(w.replica.rooms, {})

    def test_outcasts(self) -> None:
        """
        The attach carries the bans on B (not those on other domains), and
        a ban on B sends the new list.
        """
        w = World()
        w.create(OWNER, "room", "Owner")
        w.admin(OWNER, "room", "<item affiliation='outcast' jid='eve@b.example'/>")
        w.admin(OWNER, "room", "<item affiliation='outcast' jid='mal@c.example'/>")
        w.join(BOB, "room", "Bob")
        self.assertEqual(w.replica.rooms[ROOM].outcasts, frozenset({"eve@b.example"}))
        w.admin(OWNER, "room", "<item affiliation='outcast' jid='zed@b.example'/>")
        self.assertEqual(w.replica.rooms[ROOM].outcasts,
                         frozenset({"eve@b.example", "zed@b.example"}))

    def test_domainBanTravels(self) -> None:
        """
        A ban on B itself travels to B's replica only while no user of B
        has an entry of its own that the room lets in (the replica refuses
        whatever its list matches, the room lets such a user in): a
        member of B who is in the room stays, and the list follows the
        entries.
        """
        w = World()
        w.create(OWNER, "room", "Owner")
        room = w.service.rooms["room"]
        w.admin(OWNER, "room", "<item affiliation='outcast' jid='b.example'/>")
        w.admin(OWNER, "room", "<item affiliation='outcast' jid='eve@b.example'/>")
        self.assertEqual(outcastsOf(room, "b.example"),
                         (JID("b.example"), JID("eve@b.example")))
        w.admin(OWNER, "room", "<item affiliation='member' jid='bob@b.example'/>")
        self.assertEqual(outcastsOf(room, "b.example"), (JID("eve@b.example"),))
        w.join(BOB, "room", "Bob")
        self.assertIsNotNone(room.occupantOf(JID(BOB)))
        self.assertEqual(w.replica.rooms[ROOM].local["Bob"], [JID(BOB)])
        self.assertEqual(w.replica.rooms[ROOM].outcasts, frozenset({"eve@b.example"}))
        w.admin(OWNER, "room", "<item affiliation='member' jid='eve@b.example'/>")
        self.assertEqual(w.replica.rooms[ROOM].outcasts, frozenset())

    def test_refusedAttach(self) -> None:
        """
        A replica that does not mirror A answers not-allowed; B is then
        served classically, and its clients see the same as without DMUC.
        """
        classic = World(dmuc=False)
        refused = World(mirrors=lambda domain: False)
        for w in (classic, refused):
            script(w, False)
        self.assertIn("not-allowed", refused.back[0].toXml())
        for client in CLIENTS:
            self.assertEqual(classic.transcript(client), refused.transcript(client), client)

    def test_attachWaits(self) -> None:
        """
        Until the attach is answered nothing else goes to the replica.
        """
        w = World()
        w.runB = lambda done: None  # the replica's answers never come back
        w.create(OWNER, "room", "Owner")
        w.join(BOB, "room", "Bob")
        w.say(OWNER, "room", "meanwhile")
        self.assertEqual([c.name for c in w.crossings], ["iq"])
        self.assertIs(w.primary.attachment("room", "b.example").state, AttachState.ATTACHING)


    def test_attachTimesOut(self) -> None:
        """
        An attach nobody answers serves B classically once its timer runs
        out: what waited reaches B's user directly.
        """
        w = World()
        w.runB = lambda done: None  # the replica's answers never come back
        w.create(OWNER, "room", "Owner")
        w.join(BOB, "room", "Bob")
        self.assertEqual(w.received(BOB), [])
        [key] = w.timers
        w.runA(w.primary.timerFired(key, w.now + 10))
        w.flush()
        self.assertEqual([e.name for e in w.received(BOB)], ["presence", "presence", "message"])
        self.assertIsNone(w.primary.attachment("room", "b.example"))
        self.assertEqual(w.timers, {})


class SecurityTests(SynchronousTestCase):
    """
    Section 7: what each side refuses.
    """

    def test_enterWithoutDirectedPresence(self) -> None:
        """
        An enter for a user of B that sent the room no directed presence
        is answered forbidden; the primary removes the occupant and the
        user gets nothing.
        """
        w = World()
        w.create(OWNER, "room", "Owner")
        w.hasDirected = lambda jid, room: False  # type: ignore[method-assign]
        w.replica.directed = w.hasDirected
        w.join(BOB, "room", "Bob")
        self.assertTrue(any("forbidden" in b.toXml() for b in w.back))
        self.assertEqual(w.received(BOB), [])
        self.assertIsNone(w.service.rooms["room"].occupantByNick("Bob"))
        unavailable = w.received(OWNER)[-1]
        self.assertEqual(unavailable.getAttribute("type"), "unavailable")

    def test_enterForAnotherDomain(self) -> None:
        """
        A primary cannot make B's replica serve a user of another domain.
        """
        w = World()
        w.create(OWNER, "room", "Owner")
        w.join(BOB, "room", "Bob")
        w.received(BOB)
        presence = stanza("presence", f"{ROOM}/Cal", REPLICA.full())
        presence.addChild(mucUser(itemElement(Affiliation.NONE, Role.PARTICIPANT, CAL),
                                  codes=(110,)))
        done = w.replica.receive(overTheWire(marked(presence, Marker(
            w.replica.rooms[ROOM].lastSeq + 1, enter=JID(CAL)))), w.now)
        [answer] = [e for e in done if isinstance(e, Send)]
        self.assertIn("forbidden", answer.stanza.toXml())
        self.assertEqual(w.received(BOB), [])

    def test_enterForOutcast(self) -> None:
        """
        The replica refuses an enter for one of the outcasts the primary
        last sent it, even with directed presence.
        """
        w = World()
        w.create(OWNER, "room", "Owner")
        w.admin(OWNER, "room", "<item affiliation='outcast' jid='eve@b.example'/>")
        w.join(BOB, "room", "Bob")
        w.directed.add(("eve@b.example/e", ROOM))
        presence = stanza("presence", f"{ROOM}/Eve", REPLICA.full())
        presence.addChild(mucUser(itemElement(Affiliation.NONE, Role.PARTICIPANT,
                                              "eve@b.example/e"), codes=(110,)))
        done = w.replica.receive(overTheWire(marked(presence, Marker(
            w.replica.rooms[ROOM].lastSeq + 1, enter=JID("eve@b.example/e")))), w.now)
        [answer] = [e for e in done if isinstance(e, Send)]
        self.assertIn("forbidden", answer.stanza.toXml())
        self.assertIn("Banned", answer.stanza.toXml())
        self.assertEqual(w.received("eve@b.example/e"), [])

    def test_enterForBannedDomain(self) -> None:
        """
        The replica refuses an enter for a user of a domain its outcast
        list names (design section 2: a ban on B itself), as the room does.
        """
        w = World()
        w.create(OWNER, "room", "Owner")
        w.join(BOB, "room", "Bob")
        # What an <outcasts> naming B leaves.
        w.replica.rooms[ROOM].outcasts = frozenset({"b.example"})
        w.directed.add(("eve@b.example/e", ROOM))
        presence = stanza("presence", f"{ROOM}/Eve", REPLICA.full())
        presence.addChild(mucUser(itemElement(Affiliation.NONE, Role.PARTICIPANT,
                                              "eve@b.example/e"), codes=(110,)))
        done = w.replica.receive(overTheWire(marked(presence, Marker(
            w.replica.rooms[ROOM].lastSeq + 1, enter=JID("eve@b.example/e")))), w.now)
        [answer] = [e for e in done if isinstance(e, Send)]
        self.assertIn("Banned", answer.stanza.toXml())
        self.assertEqual(w.received("eve@b.example/e"), [])

    def test_forbiddenAboutAnotherDomain(self) -> None:
        """
        A replica's forbidden for an occupant who is not B's removes
        nobody.
        """
        w = World()
        w.create(OWNER, "room", "Owner")
        w.join(BOB, "room", "Bob")
        w.join(CAL, "room", "Cal")
        error = stanza("presence", REPLICA.full(), f"{ROOM}/Cal", "error")
        error.addElement("error")["type"] = "auth"
        error.error.addElement(("urn:ietf:params:xml:ns:xmpp-stanzas", "forbidden"))
        w._toService(overTheWire(error), JID(f"{ROOM}/Cal"))
        self.assertIsNotNone(w.service.rooms["room"].occupantByNick("Cal"))

    def test_broadcastFromElsewhere(self) -> None:
        """
        Broadcasts for a room come only from that room's JIDs, after an
        accepted attach: anything else is item-not-found and reaches no
        client.
        """
        w = World()
        w.create(OWNER, "room", "Owner")
        w.join(BOB, "room", "Bob")
        w.received(BOB)
        for sender in (f"other@{HOST}/Owner", f"room@evil.example/Owner"):
            message = stanza("message", sender, REPLICA.full(), "groupchat")
            message.addElement("body", content="fake")
            [answer] = w.replica.receive(overTheWire(marked(message, Marker(99))), w.now)
            self.assertIn("item-not-found", answer.stanza.toXml())
        self.assertEqual(w.received(BOB), [])

    def test_replicaChangesNoRole(self) -> None:
        """
        A role change sent by the replica's JID is refused: roles live at
        the primary alone.
        """
        w = World()
        w.create(OWNER, "room", "Owner")
        w.join(BOB, "room", "Bob")
        w.send(REPLICA.full(), f"<iq type='set' id='r1' to='{ROOM}'>"
                               "<query xmlns='http://jabber.org/protocol/muc#admin'>"
                               "<item nick='Bob' role='moderator'/></query></iq>")
        answer = w.crossings[-1]
        self.assertEqual(answer["to"], REPLICA.full())
        self.assertEqual(answer.getAttribute("type"), "error")
        self.assertIn("forbidden", answer.toXml())
        self.assertEqual(w.service.rooms["room"].occupantByNick("Bob").role.label,
                         "participant")

    def test_gap(self) -> None:
        """
        A stanza whose seq skips one is not applied: the room waits for a
        resync (issue 10), and later stanzas are held back too.
        """
        w = World()
        w.create(OWNER, "room", "Owner")
        w.join(BOB, "room", "Bob")
        w.received(BOB)
        mirror = w.replica.rooms[ROOM]
        message = stanza("message", f"{ROOM}/Owner", REPLICA.full(), "groupchat")
        message.addElement("body", content="skipped one")
        self.assertEqual(w.replica.receive(overTheWire(marked(message, Marker(
            mirror.lastSeq + 2))), w.now)[0].got, mirror.lastSeq + 2)
        w.say(OWNER, "room", "after the gap")
        self.assertEqual(w.received(BOB), [])
        self.assertEqual(mirror.phase.value, "broken")
