# -*- test-case-name: tests.muc.features.test_moderated -*-
"""
Tests for L{xmuc.muc.features.moderated} and
L{xmuc.muc.features.voicerequests}.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from tests.muc.support import HOST, RoomHarness, child, item
from xmuc.muc.model import Role
from xmuc.muc.ns import NS_DATA

ALICE, BOB = "alice@localhost/a", "bob@localhost/b"
REQUEST = (f"<message to='room@{HOST}'><x xmlns='jabber:x:data' type='submit'>"
           "<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#request</value></field>"
           "<field var='muc#role'><value>participant</value></field>{extra}</x></message>")


class ModeratedTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.h = RoomHarness()
        self.h.create(ALICE, "room", "Alice")
        self.h.configure(ALICE, "room", moderatedroom="1")
        self.h.join(BOB, "room", "Bob")
        self.h.clear()
        self.room = self.h.service.rooms["room"]

    def test_visitor(self) -> None:
        """
        In a moderated room users without affiliation enter as visitors
        and may not speak (forbidden).
        """
        self.assertIs(self.room.occupantByNick("Bob").role, Role.VISITOR)
        self.assertEqual(self.h.refused(BOB, f"<message type='groupchat' to='room@{HOST}'>"
                                             "<body>x</body></message>"), "forbidden")

    def test_voiceRequest(self) -> None:
        """
        A visitor's voice request reaches the moderators as a form; a
        moderator approving it gives voice.
        """
        self.h.send(BOB, REQUEST.format(extra=""))
        [request] = self.h.received(ALICE)
        form = child(request, NS_DATA, "x")
        values = {f["var"]: str(child(f, NS_DATA, "value")) for f in form.elements(NS_DATA, "field")}
        self.assertEqual((values["muc#roomnick"], values["muc#jid"]), ("Bob", BOB))
        self.h.send(ALICE, REQUEST.format(extra="<field var='muc#roomnick'><value>Bob</value>"
                                                "</field><field var='muc#request_allow'>"
                                                "<value>true</value></field>"))
        self.assertIs(self.room.occupantByNick("Bob").role, Role.PARTICIPANT)
        self.assertEqual(item(self.h.received(BOB)[-1])["role"], "participant")

    def test_requestByParticipant(self) -> None:
        """
        Someone with voice asking for it is not-acceptable.
        """
        self.h.admin(ALICE, "room", "<item nick='Bob' role='participant'/>")
        self.assertEqual(self.h.refused(BOB, REQUEST.format(extra="")), "not-acceptable")

    def test_approvalByVisitor(self) -> None:
        """
        A visitor cannot approve requests (forbidden).
        """
        self.h.join("carol@localhost/c", "room", "Carol")
        approval = REQUEST.format(extra="<field var='muc#roomnick'><value>Carol</value>"
                                        "</field><field var='muc#request_allow'>"
                                        "<value>1</value></field>")
        self.assertEqual(self.h.refused(BOB, approval), "forbidden")
