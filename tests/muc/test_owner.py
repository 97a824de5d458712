# -*- test-case-name: tests.muc.test_owner -*-
"""
Tests for L{xmuc.muc.owner} and L{xmuc.muc.roomconfig}: instant and
reserved rooms, the configuration form, bad forms, status codes of
changes, and destruction.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from tests.muc.support import HOST, RoomHarness, child, codes
from xmuc.muc import effects
from xmuc.muc.model import Affiliation
from xmuc.muc.ns import NS_DATA, NS_MUC_OWNER, NS_MUC_USER
from xmuc.muc.room import RoomState

ALICE, BOB = "alice@localhost/a", "bob@localhost/b"
GET = (f"<iq type='get' id='g' to='room@{HOST}'>"
       "<query xmlns='http://jabber.org/protocol/muc#owner'/></iq>")
STANDARD = {
    "muc#roomconfig_roomname", "muc#roomconfig_roomdesc", "muc#roomconfig_persistentroom",
    "muc#roomconfig_publicroom", "muc#roomconfig_membersonly", "muc#roomconfig_moderatedroom",
    "muc#roomconfig_passwordprotectedroom", "muc#roomconfig_roomsecret",
    "muc#roomconfig_maxusers", "muc#roomconfig_whois", "muc#maxhistoryfetch",
    "muc#roomconfig_changesubject", "muc#roomconfig_allowinvites", "muc#roomconfig_allowpm",
    "muc#roomconfig_enablelogging", "muc#roomconfig_roomowners", "muc#roomconfig_roomadmins",
    "muc#roomconfig_presencebroadcast", "muc#roomconfig_getmemberlist", "muc#roomconfig_lang",
}


class CreationTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.h = RoomHarness()
        self.h.join(ALICE, "room", "Alice")
        self.h.clear()
        self.room = self.h.service.rooms["room"]

    def test_instant(self) -> None:
        """
        An empty submitted form accepts the defaults and unlocks the room.
        """
        self.h.send(ALICE, "<iq type='set' id='c' to='room@muc.localhost'><query xmlns="
                           "'http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data'"
                           " type='submit'/></query></iq>")
        [result] = self.h.received(ALICE)
        self.assertEqual(result["type"], "result")
        self.assertIs(self.room.state, RoomState.OPEN)

    def test_reserved(self) -> None:
        """
        The owner of a locked room gets the form with every standard field
        and its current values, submits it, and the room opens so.
        """
        self.h.send(ALICE, GET)
        [result] = self.h.received(ALICE)
        form = child(child(result, NS_MUC_OWNER, "query"), NS_DATA, "x")
        fields = {f["var"]: f for f in form.elements(NS_DATA, "field")}
        self.assertTrue(STANDARD <= set(fields))
        self.assertEqual(str(child(fields["muc#roomconfig_whois"], NS_DATA, "value")),
                         "moderators")
        self.h.configure(ALICE, "room", roomname="Tea", persistentroom="1", membersonly="true",
                         maxusers="30", whois="anyone", allowpm="moderators")
        config = self.room.config
        self.assertEqual((config.name, config.persistent, config.membersOnly, config.maxUsers,
                          config.nonAnonymous, config.allowPM),
                         ("Tea", True, True, 30, True, "moderators"))
        self.assertIs(self.room.state, RoomState.OPEN)
        self.assertTrue(any(isinstance(e, effects.SaveRoom) for e in self.h.effects))

    def test_cancel(self) -> None:
        """
        Cancelling the initial configuration destroys the room.
        """
        self.h.send(ALICE, "<iq type='set' id='c' to='room@muc.localhost'><query xmlns="
                           "'http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data'"
                           " type='cancel'/></query></iq>")
        self.assertNotIn("room", self.h.service.rooms)

    def test_creatorLeaves(self) -> None:
        """
        A locked room its creator leaves is gone.
        """
        self.h.leave(ALICE, "room", "Alice")
        self.assertNotIn("room", self.h.service.rooms)


class ConfigurationTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.h = RoomHarness()
        self.h.create(ALICE, "room", "Alice")
        self.h.join(BOB, "room", "Bob")
        self.h.clear()
        self.room = self.h.service.rooms["room"]

    def test_notOwner(self) -> None:
        """
        Only owners read or change the configuration: C{forbidden}.
        """
        self.assertEqual(self.h.refused(BOB, GET), "forbidden")

    def test_wrongTypes(self) -> None:
        """
        A boolean that is not one, or a number that is not one, is
        C{bad-request}; a value the service refuses C{not-acceptable}; and
        nothing changes.
        """
        for fields, condition in (
            ({"persistentroom": "maybe"}, "bad-request"),
            ({"maxusers": "many"}, "bad-request"),
            ({"muc#maxhistoryfetch": "-1"}, "not-acceptable"),
            ({"maxusers": "100000"}, "not-acceptable"),
            ({"whois": "everybody"}, "not-acceptable"),
            ({"allowpm": ("anyone", "none")}, "bad-request"),
        ):
            try:
                self.h.configure(ALICE, "room", **fields)
            except Exception as e:
                from xmuc.core.errors import toStanzaError
                self.assertEqual(toStanzaError(e).condition, condition, fields)
            else:
                self.fail(f"{fields} accepted")
        self.assertEqual(self.room.config.maxUsers, 0)

    def test_wrongFormType(self) -> None:
        """
        A form of another FORM_TYPE is C{bad-request}.
        """
        condition = self.h.refused(ALICE, "<iq type='set' id='c' to='room@muc.localhost'>"
                                          "<query xmlns='http://jabber.org/protocol/muc#owner'>"
                                          "<x xmlns='jabber:x:data' type='submit'><field var="
                                          "'FORM_TYPE'><value>urn:other</value></field></x>"
                                          "</query></iq>")
        self.assertEqual(condition, "bad-request")

    def test_statusCodes(self) -> None:
        """
        A change is announced with 104, plus 172 when the room becomes
        non-anonymous and 171 when it stops logging.
        """
        self.h.configure(ALICE, "room", roomname="New")
        [notice] = self.h.received(BOB)
        self.assertEqual(notice["from"], f"room@{HOST}")
        self.assertEqual(codes(notice), {104})
        self.h.configure(ALICE, "room", whois="anyone", enablelogging="0")
        [notice] = self.h.received(BOB)
        self.assertEqual(codes(notice), {104, 171, 172})

    def test_ownersField(self) -> None:
        """
        JIDs in muc#roomconfig_roomowners and roomadmins get those
        affiliations.
        """
        self.h.configure(ALICE, "room", roomowners=("alice@localhost", "bob@localhost"),
                         roomadmins=("carol@localhost",))
        self.assertEqual(self.room.affiliation("bob@localhost"), Affiliation.OWNER)
        self.assertEqual(self.room.affiliation("carol@localhost"), Affiliation.ADMIN)

    def test_destroy(self) -> None:
        """
        Destruction sends every occupant unavailable presence with the
        alternate venue and reason, and forgets the room.
        """
        self.h.send(ALICE, f"<iq type='set' id='d' to='room@{HOST}'><query xmlns="
                           "'http://jabber.org/protocol/muc#owner'><destroy jid="
                           "'other@muc.localhost'><reason>moved</reason></destroy></query></iq>")
        [gone] = self.h.received(BOB)
        self.assertEqual(gone["type"], "unavailable")
        destroy = child(child(gone, NS_MUC_USER, "x"), NS_MUC_USER, "destroy")
        self.assertEqual(destroy["jid"], "other@muc.localhost")
        self.assertEqual(str(child(destroy, NS_MUC_USER, "reason")), "moved")
        self.assertNotIn("room", self.h.service.rooms)
        self.assertIn(effects.DeleteArchive("room"), self.h.effects)
        self.assertEqual(self.h.service.occupantCount(), 0)

    def test_destroyNotOwner(self) -> None:
        """
        Only owners destroy: C{forbidden}.
        """
        self.assertEqual(self.h.refused(BOB, f"<iq type='set' id='d' to='room@{HOST}'><query "
                                             "xmlns='http://jabber.org/protocol/muc#owner'>"
                                             "<destroy/></query></iq>"), "forbidden")
