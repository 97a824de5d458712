# -*- test-case-name: tests.muc.test_occupancy -*-
"""
Tests for L{xmuc.muc.occupancy}: entering (in XEP-0045's order, with its
status codes), presence updates, nickname changes, leaving, shared
nicknames, and the join errors.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from tests.muc.support import HOST, RoomHarness, child, codes, item
from xmuc.muc import effects
from xmuc.muc.ns import NS_OCCUPANT_ID

ALICE, BOB, CAROL = "alice@localhost/a", "bob@localhost/b", "carol@localhost/c"


class JoinTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.h = RoomHarness()
        self.h.create(ALICE, "room", "Alice")

    def test_creation(self) -> None:
        """
        The first join creates a locked room and makes its creator owner:
        self-presence with 110 and 201, then an empty subject.
        """
        h = RoomHarness()
        h.join(ALICE, "new", "Alice")
        presence, subject = h.received(ALICE)
        self.assertEqual(presence["from"], f"new@{HOST}/Alice")
        self.assertEqual(codes(presence), {110, 170, 201})
        self.assertEqual(item(presence)["affiliation"], "owner")
        self.assertEqual(item(presence)["role"], "moderator")
        self.assertEqual(str(child(subject, subject.uri, "subject")), "")

    def test_order(self) -> None:
        """
        An entrant gets the occupants' presence, then its own (110), then
        the history, then the subject; the others get its presence.
        """
        self.h.join(BOB, "room", "Bob")
        self.h.say(BOB, "room", "before carol")
        self.h.clear()
        self.h.join(CAROL, "room", "Carol")
        got = self.h.received(CAROL)
        self.assertEqual([s.name for s in got], ["presence"] * 3 + ["message"] * 2)
        self.assertEqual([s["from"].split("/")[1] for s in got[:3]], ["Alice", "Bob", "Carol"])
        self.assertEqual(codes(got[2]), {110, 170})
        self.assertEqual(str(child(got[3], got[3].uri, "body")), "before carol")
        self.assertIsNotNone(child(got[4], got[4].uri, "subject"))
        [seen] = self.h.received(BOB)
        self.assertEqual(seen["from"], f"room@{HOST}/Carol")
        self.assertEqual(codes(seen), set())

    def test_semiAnonymous(self) -> None:
        """
        In a semi-anonymous room only moderators see real JIDs.
        """
        self.h.join(BOB, "room", "Bob")
        self.h.join(CAROL, "room", "Carol")
        [toAlice] = self.h.received(ALICE)[-1:]
        self.assertEqual(item(toAlice)["jid"], CAROL)
        toBob = self.h.received(BOB)[-1]
        self.assertFalse(item(toBob).hasAttribute("jid"))
        roster = self.h.received(CAROL)
        self.assertFalse(item(roster[0]).hasAttribute("jid"))
        self.assertEqual(item(roster[2])["jid"], CAROL)

    def test_seqShared(self) -> None:
        """
        The variants of one presence broadcast share one sequence number,
        and the next broadcast has the next.
        """
        self.h.join(BOB, "room", "Bob")
        done = self.h.join(CAROL, "room", "Carol")
        seqs = {e.seq for e in done if isinstance(e, effects.Broadcast)}
        self.assertEqual(len(seqs), 1)
        [later] = [e for e in self.h.say(BOB, "room", "x") if isinstance(e, effects.Broadcast)]
        self.assertEqual(later.seq, seqs.pop() + 1)

    def test_occupantId(self) -> None:
        """
        Presences carry an occupant-id that stays the same for the same
        account across visits and differs between accounts.
        """
        self.h.join(BOB, "room", "Bob")
        first = child(self.h.received(BOB)[-2], NS_OCCUPANT_ID, "occupant-id")["id"]
        self.h.leave(BOB, "room", "Bob")
        self.h.join("bob@localhost/other", "room", "Robert")
        got = self.h.received("bob@localhost/other")
        self.assertEqual(child(got[-2], NS_OCCUPANT_ID, "occupant-id")["id"], first)
        alice = child(got[0], NS_OCCUPANT_ID, "occupant-id")
        self.assertNotEqual(alice["id"], first)

    def test_nickConflict(self) -> None:
        """
        A nickname another account holds is a C{conflict}, compared by the
        nickname profile (case-insensitively).
        """
        self.assertEqual(self.h.refused(BOB, f"<presence to='room@{HOST}/alice'/>"), "conflict")

    def test_invalidNick(self) -> None:
        """
        A nickname the RFC 7622 nickname profile refuses, or none, is
        C{jid-malformed}.
        """
        self.assertEqual(self.h.refused(BOB, f"<presence to='room@{HOST}/a\u200bb'/>"),
                         "jid-malformed")
        self.assertEqual(self.h.refused(BOB, f"<presence to='room@{HOST}'/>"), "jid-malformed")

    def test_serviceModifiedNick(self) -> None:
        """
        A nickname shown in another form than asked (widths mapped) comes
        with status 210.
        """
        self.h.join(BOB, "room", "\uff22ob")
        own = self.h.received(BOB)[1]
        self.assertEqual(own["from"], f"room@{HOST}/Bob")
        self.assertIn(210, codes(own))

    def test_lockedRoom(self) -> None:
        """
        Until its owner configures it, a new room is C{item-not-found} to
        others.
        """
        self.h.join(ALICE, "locked", "Alice")
        self.assertEqual(self.h.refused(BOB, f"<presence to='locked@{HOST}/Bob'><x xmlns="
                                             "'http://jabber.org/protocol/muc'/></presence>"),
                         "item-not-found")

    def test_groupchat10(self) -> None:
        """
        A join without the MUC element creates an open (instant) room.
        """
        self.h.join(BOB, "old", "Bob", muc=False)
        self.h.join(CAROL, "old", "Carol", muc=False)
        got = self.h.received(CAROL)
        self.assertEqual([s.name for s in got], ["presence", "presence", "message"])


class PresenceTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.h = RoomHarness()
        self.h.create(ALICE, "room", "Alice")
        self.h.join(BOB, "room", "Bob")
        self.h.clear()

    def test_update(self) -> None:
        """
        A new show or status goes to everyone, with 110 to the sender.
        """
        self.h.send(BOB, f"<presence to='room@{HOST}/Bob'><show>away</show></presence>")
        [seen] = self.h.received(ALICE)
        self.assertEqual(str(child(seen, seen.uri, "show")), "away")
        [own] = self.h.received(BOB)
        self.assertEqual(codes(own), {110})

    def test_nickChange(self) -> None:
        """
        A nickname change is unavailable from the old nickname with 303
        and the new one, then available from the new nickname.
        """
        self.h.send(BOB, f"<presence to='room@{HOST}/Robert'/>")
        gone, back = self.h.received(ALICE)
        self.assertEqual(gone["type"], "unavailable")
        self.assertEqual(gone["from"], f"room@{HOST}/Bob")
        self.assertEqual(codes(gone), {303})
        self.assertEqual(item(gone)["nick"], "Robert")
        self.assertEqual(back["from"], f"room@{HOST}/Robert")
        gone, back = self.h.received(BOB)
        self.assertEqual(codes(gone), {110, 303})
        self.assertEqual(codes(back), {110})
        self.h.say(BOB, "room", "renamed")
        [message] = self.h.received(ALICE)
        self.assertEqual(message["from"], f"room@{HOST}/Robert")

    def test_nickChangeConflict(self) -> None:
        """
        Changing to a nickname in use is C{conflict}, and nothing changes.
        """
        self.assertEqual(self.h.refused(BOB, f"<presence to='room@{HOST}/ALICE'/>"), "conflict")
        self.assertEqual(self.h.received(ALICE), [])

    def test_leave(self) -> None:
        """
        Leaving is unavailable presence to all, with 110 to the leaver,
        carrying its status.
        """
        self.h.send(BOB, f"<presence type='unavailable' to='room@{HOST}/Bob'>"
                         "<status>bye</status></presence>")
        [seen] = self.h.received(ALICE)
        self.assertEqual(seen["type"], "unavailable")
        self.assertEqual(item(seen)["role"], "none")
        self.assertEqual(str(child(seen, seen.uri, "status")), "bye")
        [own] = self.h.received(BOB)
        self.assertEqual(codes(own), {110})
        self.assertEqual(self.h.refused(BOB, "<message type='groupchat' to='room@muc.localhost'>"
                                             "<body>x</body></message>"), "not-acceptable")

    def test_lastLeaves(self) -> None:
        """
        A temporary room goes away with its last occupant.
        """
        self.h.leave(BOB, "room", "Bob")
        self.h.leave(ALICE, "room", "Alice")
        self.assertNotIn("room", self.h.service.rooms)
        self.assertEqual(self.h.service.occupantCount(), 0)

    def test_sharedNick(self) -> None:
        """
        A second client of the same account joins under the same
        nickname: it gets the roster and its own presence, the others see
        nothing new, and both clients get the room's messages.
        """
        self.h.join("bob@localhost/phone", "room", "Bob")
        got = self.h.received("bob@localhost/phone")
        self.assertEqual(codes(got[1]), {110, 170})
        self.assertEqual(self.h.received(ALICE), [])
        self.h.say(ALICE, "room", "both")
        self.assertEqual(len(self.h.received(BOB)), 1)
        self.assertEqual(len(self.h.received("bob@localhost/phone")), 1)
        self.h.leave("bob@localhost/phone", "room", "Bob")
        self.assertIn("Bob", [o.nick for o in self.h.service.rooms["room"].occupants.values()])
