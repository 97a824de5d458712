# -*- test-case-name: tests.muc.features.test_limits -*-
"""
Tests for L{xmuc.muc.features.limits}: full rooms and services, rooms per
user, oversize messages and subjects, floods, and limits switched off.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from tests.muc.support import HOST, RoomHarness
from xmuc.muc.settings import Settings

ALICE, BOB, CAROL = "alice@localhost/a", "bob@localhost/b", "carol@localhost/c"
JOIN = "<presence to='{room}@muc.localhost/{nick}'/>"


class LimitTests(SynchronousTestCase):
    def test_roomFull(self) -> None:
        """
        Past muc#roomconfig_maxusers an entrant gets service-unavailable;
        an admin still enters.
        """
        h = RoomHarness()
        h.create(ALICE, "room", "Alice")
        h.configure(ALICE, "room", maxusers="10")
        for n in range(9):
            h.join(f"u{n}@localhost/r", "room", f"u{n}")
        self.assertEqual(h.refused(BOB, JOIN.format(room="room", nick="Bob")),
                         "service-unavailable")
        h.admin(ALICE, "room", "<item jid='bob@localhost' affiliation='admin'/>")
        h.join(BOB, "room", "Bob")

    def test_serviceCap(self) -> None:
        """
        A room cannot be configured past the service's per-room cap, and
        the service cap applies without configuration.
        """
        h = RoomHarness(Settings(maxRoomOccupants=2))
        h.create(ALICE, "room", "Alice")
        self.assertEqual(h.refused(ALICE, self._config("30")), "not-acceptable")
        h.join(BOB, "room", "Bob")
        self.assertEqual(h.refused(CAROL, JOIN.format(room="room", nick="Carol")),
                         "service-unavailable")

    def test_serviceFull(self) -> None:
        """
        The service as a whole takes maxOccupants.
        """
        h = RoomHarness(Settings(maxOccupants=2))
        h.create(ALICE, "one", "Alice")
        h.create(BOB, "two", "Bob")
        self.assertEqual(h.refused(CAROL, JOIN.format(room="one", nick="Carol")),
                         "service-unavailable")

    def test_roomsPerUser(self) -> None:
        """
        One account may be in maxRoomsPerUser rooms at once.
        """
        h = RoomHarness(Settings(maxRoomsPerUser=2))
        h.create(ALICE, "one", "Alice")
        h.create(ALICE, "two", "Alice")
        self.assertEqual(h.refused(ALICE, JOIN.format(room="three", nick="Alice")),
                         "service-unavailable")
        self.assertNotIn("three", h.service.rooms)

    def test_oversize(self) -> None:
        """
        A body or subject past the service's size is policy-violation.
        """
        h = RoomHarness(Settings(maxBody=10, maxSubject=5))
        h.create(ALICE, "room", "Alice")
        self.assertEqual(h.refused(ALICE, self._message("<body>" + "x" * 11 + "</body>")),
                         "policy-violation")
        self.assertEqual(h.refused(ALICE, self._message("<subject>toolong</subject>")),
                         "policy-violation")

    def test_flood(self) -> None:
        """
        Past its burst an occupant is refused (policy-violation, wait) until
        its allowance refills.
        """
        h = RoomHarness(Settings(floodRate=1, floodBurst=3))
        h.create(ALICE, "room", "Alice")
        for n in range(3):
            h.say(ALICE, "room", f"m{n}")
        self.assertEqual(h.refused(ALICE, self._message("<body>x</body>")), "policy-violation")
        h.advance(1)
        h.say(ALICE, "room", "again")

    def test_limitsOff(self) -> None:
        """
        With limits off nothing above applies.
        """
        h = RoomHarness(Settings(limits=False, floodRate=1, floodBurst=1, maxBody=1,
                                 maxRoomsPerUser=1, maxRoomOccupants=1))
        h.create(ALICE, "room", "Alice")
        h.create(ALICE, "other", "Alice")
        h.join(BOB, "room", "Bob")
        for n in range(20):
            h.say(ALICE, "room", f"a long message {n}")

    def _config(self, maxusers: str) -> str:
        return (f"<iq type='set' id='c' to='room@{HOST}'><query xmlns="
                "'http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'>"
                f"<field var='muc#roomconfig_maxusers'><value>{maxusers}</value></field>"
                "</x></query></iq>")

    def _message(self, content: str) -> str:
        return f"<message type='groupchat' to='room@{HOST}'>{content}</message>"
