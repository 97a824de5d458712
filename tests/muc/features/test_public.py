# -*- test-case-name: tests.muc.features.test_public -*-
"""
Tests for L{xmuc.muc.features.public} and the service's room list.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from tests.muc.support import HOST, RoomHarness
from xmuc.muc.ns import NS_DISCO_ITEMS

ALICE = "alice@localhost/a"
ITEMS = f"<iq type='get' id='i' to='{HOST}'><query xmlns='{NS_DISCO_ITEMS}'/></iq>"


class PublicTests(SynchronousTestCase):
    def test_listed(self) -> None:
        """
        The service lists public open rooms with their names, not hidden
        or locked ones.
        """
        h = RoomHarness()
        h.create(ALICE, "open", "Alice")
        h.configure(ALICE, "open", roomname="Open Room")
        h.create(ALICE, "hidden", "Alice")
        h.configure(ALICE, "hidden", publicroom="0")
        h.join(ALICE, "locked", "Alice")
        h.clear()
        h.send(ALICE, ITEMS)
        [result] = h.received(ALICE)
        items = [(i["jid"], i["name"]) for i in result.firstChildElement().elements()]
        self.assertEqual(items, [(f"open@{HOST}", "Open Room")])
