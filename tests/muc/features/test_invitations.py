# -*- test-case-name: tests.muc.features.test_invitations -*-
"""
Tests for L{xmuc.muc.features.invitations}: mediated invitations and
declines.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from tests.muc.support import HOST, RoomHarness, child, codes
from xmuc.muc.model import Affiliation
from xmuc.muc.ns import NS_MUC_USER

ALICE, BOB = "alice@localhost/a", "bob@localhost/b"
INVITE = (f"<message to='room@{HOST}'><x xmlns='http://jabber.org/protocol/muc#user'>"
          "<invite to='{to}'><reason>join us</reason></invite></x></message>")


class InvitationTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.h = RoomHarness()
        self.h.create(ALICE, "room", "Alice")
        self.h.join(BOB, "room", "Bob")
        self.h.clear()

    def test_invite(self) -> None:
        """
        The room sends the invitee a message from the room with the
        inviter's JID and reason.
        """
        self.h.send(ALICE, INVITE.format(to="carol@localhost"))
        [message] = self.h.received("carol@localhost")
        self.assertEqual(message["from"], f"room@{HOST}")
        invite = child(child(message, NS_MUC_USER, "x"), NS_MUC_USER, "invite")
        self.assertEqual(invite["from"], ALICE)
        self.assertEqual(str(child(invite, NS_MUC_USER, "reason")), "join us")

    def test_notAllowed(self) -> None:
        """
        Without muc#roomconfig_allowinvites a participant may not invite.
        """
        self.assertEqual(self.h.refused(BOB, INVITE.format(to="carol@localhost")), "forbidden")
        self.h.configure(ALICE, "room", allowinvites="1")
        self.h.send(BOB, INVITE.format(to="carol@localhost"))

    def test_membersOnly(self) -> None:
        """
        An owner inviting to a members-only room makes the invitee a
        member, and the password travels with the invitation.
        """
        self.h.configure(ALICE, "room", membersonly="1", passwordprotectedroom="1",
                         roomsecret="pw")
        self.h.send(ALICE, INVITE.format(to="carol@localhost"))
        room = self.h.service.rooms["room"]
        self.assertEqual(room.affiliation("carol@localhost"), Affiliation.MEMBER)
        notice, message = self.h.received("carol@localhost")
        self.assertEqual(codes(notice), {101})
        x = child(message, NS_MUC_USER, "x")
        self.assertEqual(str(child(x, NS_MUC_USER, "password")), "pw")

    def test_membersInvite(self) -> None:
        """
        In a members-only room that lets occupants invite, a member's
        invitee becomes a member; outcasts stay outcasts.
        """
        self.h.admin(ALICE, "room", "<item jid='bob@localhost' affiliation='member'/>"
                                    "<item jid='eve@localhost' affiliation='outcast'/>")
        self.h.configure(ALICE, "room", membersonly="1", allowinvites="1")
        self.h.send(BOB, INVITE.format(to="carol@localhost"))
        self.h.send(BOB, INVITE.format(to="eve@localhost"))
        room = self.h.service.rooms["room"]
        self.assertEqual(room.affiliation("carol@localhost"), Affiliation.MEMBER)
        self.assertEqual(room.affiliation("eve@localhost"), Affiliation.OUTCAST)

    def test_decline(self) -> None:
        """
        A decline goes to the inviter from the room.
        """
        self.h.send("carol@localhost/c", f"<message to='room@{HOST}'><x xmlns="
                    "'http://jabber.org/protocol/muc#user'><decline to='alice@localhost/a'>"
                    "<reason>busy</reason></decline></x></message>")
        [message] = self.h.received(ALICE)
        decline = child(child(message, NS_MUC_USER, "x"), NS_MUC_USER, "decline")
        self.assertEqual(decline["from"], "carol@localhost")

    def test_inviteeMissing(self) -> None:
        """
        An invitation without an invitee is C{bad-request}.
        """
        self.assertEqual(self.h.refused(ALICE, f"<message to='room@{HOST}'><x xmlns="
                                               "'http://jabber.org/protocol/muc#user'><invite/>"
                                               "</x></message>"), "bad-request")
