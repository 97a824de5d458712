# -*- test-case-name: tests.muc.test_moderation -*-
"""
Tests for L{xmuc.muc.moderation}: kick, voice, moderator, ban, member,
admin and owner changes and lists, with their broadcasts and errors.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from tests.muc.support import HOST, RoomHarness, child, codes, item
from xmuc.muc.model import Affiliation
from xmuc.muc.ns import NS_MUC_ADMIN, NS_MUC_USER

ALICE, BOB, CAROL = "alice@localhost/a", "bob@localhost/b", "carol@localhost/c"


class ModerationTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.h = RoomHarness()
        self.h.create(ALICE, "room", "Alice")
        self.h.join(BOB, "room", "Bob")
        self.h.join(CAROL, "room", "Carol")
        self.h.clear()
        self.room = self.h.service.rooms["room"]

    def test_kick(self) -> None:
        """
        A moderator kicks: everyone sees unavailable with 307, the actor
        and the reason; the kicked one with 110 too; the actor gets a
        result.
        """
        self.h.admin(ALICE, "room", "<item nick='Bob' role='none'><reason>spam</reason></item>")
        [seen] = self.h.received(CAROL)
        self.assertEqual(seen["type"], "unavailable")
        self.assertEqual(codes(seen), {307})
        self.assertEqual(child(item(seen), NS_MUC_USER, "actor")["nick"], "Alice")
        self.assertEqual(str(child(item(seen), NS_MUC_USER, "reason")), "spam")
        [own] = self.h.received(BOB)
        self.assertEqual(codes(own), {110, 307})
        presence, result = self.h.received(ALICE)
        self.assertEqual(result["type"], "result")
        self.assertIsNone(self.room.occupantByNick("Bob"))

    def test_kickByParticipant(self) -> None:
        """
        A participant may not kick: C{forbidden}.
        """
        self.assertEqual(self.h.refused(BOB, self._set("<item nick='Carol' role='none'/>")),
                         "forbidden")

    def test_kickOwner(self) -> None:
        """
        A moderator who is no admin may not kick an owner: C{not-allowed}.
        """
        self.h.admin(ALICE, "room", "<item jid='bob@localhost' affiliation='admin'/>")
        self.h.admin(ALICE, "room", "<item jid='carol@localhost' affiliation='owner'/>")
        self.assertEqual(self.h.refused(BOB, self._set("<item nick='Carol' role='none'/>")),
                         "not-allowed")

    def test_voice(self) -> None:
        """
        Revoking voice makes a visitor, who then may not speak.
        """
        self.h.admin(ALICE, "room", "<item nick='Bob' role='visitor'/>")
        [seen] = self.h.received(CAROL)
        self.assertEqual(item(seen)["role"], "visitor")
        self.assertEqual(self.h.refused(BOB, "<message type='groupchat' to='room@muc.localhost'>"
                                             "<body>x</body></message>"), "forbidden")
        self.h.admin(ALICE, "room", "<item nick='Bob' role='participant'/>")
        self.h.say(BOB, "room", "back")

    def test_ban(self) -> None:
        """
        A ban removes the occupant with 301 and keeps them out
        (C{forbidden}).
        """
        self.h.admin(ALICE, "room", "<item jid='bob@localhost' affiliation='outcast'>"
                                    "<reason>bye</reason></item>")
        [seen] = self.h.received(CAROL)
        self.assertEqual(codes(seen), {301})
        self.assertEqual(self.h.refused(BOB, f"<presence to='room@{HOST}/Bob'/>"), "forbidden")
        self.h.admin(ALICE, "room", "<item affiliation='outcast'/>", kind="get")
        result = self.h.received(ALICE)[-1]
        [listed] = list(child(result, NS_MUC_ADMIN, "query").elements())
        self.assertEqual((listed["jid"], listed["affiliation"]), ("bob@localhost", "outcast"))
        self.assertEqual(str(child(listed, NS_MUC_ADMIN, "reason")), "bye")

    def test_banByNick(self) -> None:
        """
        An affiliation change may name the occupant by nickname.
        """
        self.h.admin(ALICE, "room", "<item nick='Bob' affiliation='outcast'/>")
        self.assertEqual(self.room.affiliation("bob@localhost"), Affiliation.OUTCAST)

    def test_memberChange(self) -> None:
        """
        Granting membership is broadcast as presence with the new
        affiliation.
        """
        self.h.admin(ALICE, "room", "<item jid='bob@localhost' affiliation='member'/>")
        [seen] = self.h.received(CAROL)
        self.assertEqual(item(seen)["affiliation"], "member")

    def test_adminBecomesModerator(self) -> None:
        """
        A new admin becomes a moderator.
        """
        self.h.admin(ALICE, "room", "<item jid='bob@localhost' affiliation='admin'/>")
        [seen] = self.h.received(CAROL)
        self.assertEqual((item(seen)["affiliation"], item(seen)["role"]), ("admin", "moderator"))

    def test_adminCannotBanOwner(self) -> None:
        """
        An admin banning an owner is C{not-allowed}; granting admin is
        the owners' (C{forbidden}); a member may not ban (C{forbidden}).
        """
        self.h.admin(ALICE, "room", "<item jid='bob@localhost' affiliation='admin'/>")
        self.assertEqual(self.h.refused(BOB, self._set(
            "<item jid='alice@localhost' affiliation='outcast'/>")), "not-allowed")
        self.assertEqual(self.h.refused(BOB, self._set(
            "<item jid='carol@localhost' affiliation='admin'/>")), "forbidden")
        self.assertEqual(self.h.refused(CAROL, self._set(
            "<item jid='dave@localhost' affiliation='outcast'/>")), "forbidden")

    def test_notInRoom(self) -> None:
        """
        A user whose affiliation changes while not in the room is told by
        a message with status 101.
        """
        self.h.admin(ALICE, "room", "<item jid='dave@localhost' affiliation='member'/>")
        [notice] = self.h.received("dave@localhost")
        self.assertEqual((notice["from"], codes(notice)), (f"room@{HOST}", {101}))
        self.assertEqual(item(notice)["affiliation"], "member")

    def test_lastOwner(self) -> None:
        """
        The last owner may not step down: C{conflict}; with a second owner
        they may.
        """
        self.assertEqual(self.h.refused(ALICE, self._set(
            "<item jid='alice@localhost' affiliation='member'/>")), "conflict")
        self.h.admin(ALICE, "room", "<item jid='bob@localhost' affiliation='owner'/>")
        self.h.admin(ALICE, "room", "<item jid='alice@localhost' affiliation='member'/>")
        self.assertEqual(self.room.affiliation("alice@localhost"), Affiliation.MEMBER)

    def test_allOrNothing(self) -> None:
        """
        A set with one item the actor may not apply changes nothing.
        """
        self.h.admin(ALICE, "room", "<item jid='bob@localhost' affiliation='admin'/>")
        self.assertEqual(self.h.refused(BOB, self._set(
            "<item jid='carol@localhost' affiliation='member'/>"
            "<item jid='alice@localhost' affiliation='none'/>")), "not-allowed")
        self.assertEqual(self.room.affiliation("carol@localhost"), Affiliation.NONE)

    def test_roleLists(self) -> None:
        """
        Moderators read the voice list; the moderator list is for admins.
        """
        self.h.admin(ALICE, "room", "<item role='participant'/>", kind="get")
        result = self.h.received(ALICE)[-1]
        nicks = [i["nick"] for i in child(result, NS_MUC_ADMIN, "query").elements()]
        self.assertEqual(nicks, ["Bob", "Carol"])
        self.assertEqual(self.h.refused(BOB, self._set("<item role='participant'/>", "get")),
                         "forbidden")

    def test_memberListPerConfig(self) -> None:
        """
        The member list is open to the roles muc#roomconfig_getmemberlist
        names.
        """
        self.h.configure(ALICE, "room", getmemberlist=("moderator",))
        self.assertEqual(self.h.refused(BOB, self._set("<item affiliation='member'/>", "get")),
                         "forbidden")

    def test_unknownNick(self) -> None:
        """
        A role change for someone not in the room is C{item-not-found}.
        """
        self.assertEqual(self.h.refused(ALICE, self._set("<item nick='Nobody' role='none'/>")),
                         "item-not-found")

    def _set(self, items: str, kind: str = "set") -> str:
        return (f"<iq type='{kind}' id='x' to='room@{HOST}'><query xmlns="
                f"'http://jabber.org/protocol/muc#admin'>{items}</query></iq>")


EVE, ED, FAY = "eve@remote.test/e", "ed@remote.test/d", "fay@remote.test/f"


class DomainAffiliationTests(SynchronousTestCase):
    """
    Affiliations set on a domain (XEP-0045 section 9): they apply to every
    user of the domain without an entry of its own (L{Room.affiliation}).
    """

    def setUp(self) -> None:
        self.h = RoomHarness()
        self.h.create(ALICE, "room", "Alice")
        self.h.join(BOB, "room", "Bob")
        self.h.join(EVE, "room", "Eve")
        self.h.join(ED, "room", "Ed")
        self.h.clear()
        self.room = self.h.service.rooms["room"]

    def test_domainBanRemovesEach(self) -> None:
        """
        A ban of a domain removes each of its occupants with 301, leaves the
        others in, keeps its other users out (C{forbidden}), and sends no
        status-101 notice to the domain.
        """
        self.h.admin(ALICE, "room", "<item jid='remote.test' affiliation='outcast'/>")
        seen = self.h.received(BOB)
        self.assertEqual([(s["from"], s.getAttribute("type"), codes(s)) for s in seen],
                         [(f"room@{HOST}/Eve", "unavailable", {301}),
                          (f"room@{HOST}/Ed", "unavailable", {301})])
        self.assertEqual(sorted(self.room.occupants), ["alice", "bob"])
        self.assertEqual(self.h.received("remote.test"), [])
        self.assertEqual(self.room.affiliation("fay@remote.test"), Affiliation.OUTCAST)
        self.assertEqual(self.h.refused(FAY, f"<presence to='room@{HOST}/Fay'/>"), "forbidden")
        self.assertEqual(self.h.refused(EVE, f"<presence to='room@{HOST}/Eve'/>"), "forbidden")

    def test_ownEntryWins(self) -> None:
        """
        A user's own entry wins over its domain's: a member of a banned
        domain stays and may come back; lifting its own entry removes it.
        """
        self.h.admin(ALICE, "room", "<item jid='eve@remote.test' affiliation='member'/>")
        self.h.admin(ALICE, "room", "<item jid='remote.test' affiliation='outcast'/>")
        self.assertEqual(sorted(self.room.occupants), ["alice", "bob", "eve"])
        self.assertEqual(self.room.affiliation("eve@remote.test"), Affiliation.MEMBER)
        self.h.clear()
        self.h.admin(ALICE, "room", "<item jid='eve@remote.test' affiliation='none'/>")
        [seen] = self.h.received(BOB)
        self.assertEqual((seen["from"], codes(seen)), (f"room@{HOST}/Eve", {301}))
        self.assertEqual(sorted(self.room.occupants), ["alice", "bob"])

    def test_domainMember(self) -> None:
        """
        A domain's other affiliations apply too (as in Prosody): its present
        occupants are shown with it, and lifting it shows them without.
        """
        self.h.admin(ALICE, "room", "<item jid='remote.test' affiliation='member'/>")
        seen = self.h.received(BOB)
        self.assertEqual([(s["from"], item(s)["affiliation"]) for s in seen],
                         [(f"room@{HOST}/Eve", "member"), (f"room@{HOST}/Ed", "member")])
        self.assertEqual(self.room.affiliation("fay@remote.test"), Affiliation.MEMBER)
        self.assertEqual(self.room.affiliation("bob@localhost"), Affiliation.NONE)
        self.h.clear()
        self.h.admin(ALICE, "room", "<item jid='remote.test' affiliation='none'/>")
        seen = self.h.received(BOB)
        self.assertEqual([item(s)["affiliation"] for s in seen], ["none", "none"])

    def test_domainAdmin(self) -> None:
        """
        A domain admin's users edit the lists as admins do.
        """
        self.h.admin(ALICE, "room", "<item jid='remote.test' affiliation='admin'/>")
        self.h.admin(EVE, "room", "<item jid='bob@localhost' affiliation='outcast'/>")
        self.assertEqual(self.room.affiliation("bob@localhost"), Affiliation.OUTCAST)
