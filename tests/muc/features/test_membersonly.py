# -*- test-case-name: tests.muc.features.test_membersonly -*-
"""
Tests for L{xmuc.muc.features.membersonly}.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from tests.muc.support import HOST, RoomHarness, codes

ALICE, BOB, CAROL = "alice@localhost/a", "bob@localhost/b", "carol@localhost/c"


class MembersOnlyTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.h = RoomHarness()
        self.h.create(ALICE, "room", "Alice")
        self.room = self.h.service.rooms["room"]

    def test_registrationRequired(self) -> None:
        """
        A non-member entering a members-only room gets
        registration-required; a member enters.
        """
        self.h.configure(ALICE, "room", membersonly="1")
        self.assertEqual(self.h.refused(BOB, f"<presence to='room@{HOST}/Bob'/>"),
                         "registration-required")
        self.h.admin(ALICE, "room", "<item jid='bob@localhost' affiliation='member'/>")
        self.h.join(BOB, "room", "Bob")

    def test_becomesMembersOnly(self) -> None:
        """
        Making the room members-only removes non-members with 322.
        """
        self.h.join(BOB, "room", "Bob")
        self.h.join(CAROL, "room", "Carol")
        self.h.admin(ALICE, "room", "<item jid='carol@localhost' affiliation='member'/>")
        self.h.clear()
        self.h.configure(ALICE, "room", membersonly="1")
        gone, notice = self.h.received(CAROL)
        self.assertEqual(codes(gone), {322})
        self.assertEqual(codes(notice), {104})
        self.assertIsNone(self.room.occupantByNick("Bob"))

    def test_membershipRevoked(self) -> None:
        """
        Revoking membership in a members-only room removes with 321.
        """
        self.h.admin(ALICE, "room", "<item jid='bob@localhost' affiliation='member'/>")
        self.h.configure(ALICE, "room", membersonly="1")
        self.h.join(BOB, "room", "Bob")
        self.h.clear()
        self.h.admin(ALICE, "room", "<item jid='bob@localhost' affiliation='none'/>")
        [gone] = self.h.received(BOB)
        self.assertEqual(codes(gone), {110, 321})
