# -*- test-case-name: tests.muc.features.test_password -*-
"""
Tests for L{xmuc.muc.features.password}.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from tests.muc.support import HOST, RoomHarness

ALICE, BOB = "alice@localhost/a", "bob@localhost/b"


class PasswordTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.h = RoomHarness()
        self.h.create(ALICE, "room", "Alice")
        self.h.configure(ALICE, "room", passwordprotectedroom="1", roomsecret="secret")
        self.h.clear()

    def test_required(self) -> None:
        """
        No password or a wrong one is not-authorized; the right one enters.
        """
        self.assertEqual(self.h.refused(BOB, f"<presence to='room@{HOST}/Bob'/>"),
                         "not-authorized")
        self.assertEqual(self.h.refused(BOB, self._join("wrong")), "not-authorized")
        self.h.send(BOB, self._join("secret"))
        self.assertIsNotNone(self.h.service.rooms["room"].occupantByNick("Bob"))

    def test_disco(self) -> None:
        """
        The room says it is password protected.
        """
        self.h.send(ALICE, f"<iq type='get' id='i' to='room@{HOST}'><query "
                           "xmlns='http://jabber.org/protocol/disco#info'/></iq>")
        [result] = self.h.received(ALICE)
        self.assertIn(b"muc_passwordprotected", result.toXml().encode())

    def _join(self, password: str) -> str:
        return (f"<presence to='room@{HOST}/Bob'><x xmlns='http://jabber.org/protocol/muc'>"
                f"<password>{password}</password></x></presence>")
