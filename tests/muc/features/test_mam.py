# -*- test-case-name: tests.muc.features.test_mam -*-
"""
Tests for L{xmuc.muc.features.mam}: who may query, and the rendering of a
page.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from tests.muc.support import HOST, RoomHarness, child
from tests.support.harness import parseStanza
from xmuc.muc import effects
from xmuc.muc.features.mam import fin, resultMessages
from xmuc.muc.ns import NS_FORWARD, NS_MAM, NS_RSM
from xmuc.storage.interfaces import ArchivedMessage, ArchivePage

ALICE, BOB = "alice@localhost/a", "bob@localhost/b"
QUERY = (f"<iq type='set' id='q' to='room@{HOST}'><query xmlns='urn:xmpp:mam:2' "
         "queryid='f27'/></iq>")


class MAMTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.h = RoomHarness()
        self.h.create(ALICE, "room", "Alice")

    def test_allowed(self) -> None:
        """
        Anyone who may enter queries a logged room's archive.
        """
        [effect] = self.h.send(BOB, QUERY)
        self.assertIsInstance(effect, effects.QueryArchive)
        self.assertEqual(effect.query.queryId, "f27")

    def test_refused(self) -> None:
        """
        Outcasts are forbidden; outsiders of a members-only room too; a
        room without logging has no archive (service-unavailable).
        """
        self.h.admin(ALICE, "room", "<item jid='eve@localhost' affiliation='outcast'/>")
        self.assertEqual(self.h.refused("eve@localhost/e", QUERY), "forbidden")
        self.h.configure(ALICE, "room", membersonly="1")
        self.assertEqual(self.h.refused(BOB, QUERY), "forbidden")
        self.h.configure(ALICE, "room", enablelogging="0")
        self.assertEqual(self.h.refused(ALICE, QUERY), "service-unavailable")

    def test_render(self) -> None:
        """
        Each archived message comes forwarded with its id and time, then
        the fin with the RSM summary.
        """
        [effect] = self.h.send(BOB, QUERY)
        record = ArchivedMessage("id1", 1_700_000_000.0, "Alice", "alice@localhost",
                                 f"<message xmlns='jabber:client' from='room@{HOST}/Alice'"
                                 " type='groupchat'>"
                                 "<body>hi</body></message>")
        [message] = resultMessages(effect.query, f"room@{HOST}", [record])
        message = parseStanza(message.toXml())
        result = child(message, NS_MAM, "result")
        self.assertEqual((result["queryid"], result["id"]), ("f27", "id1"))
        forwarded = child(child(result, NS_FORWARD, "forwarded"), "jabber:client", "message")
        self.assertEqual(forwarded["from"], f"room@{HOST}/Alice")
        done = fin(effect.query, ArchivePage([record], True, 1, 0))
        rsm = child(child(done, NS_MAM, "fin"), NS_RSM, "set")
        self.assertEqual(str(child(rsm, NS_RSM, "last")), "id1")
        self.assertEqual(child(done, NS_MAM, "fin")["complete"], "true")
