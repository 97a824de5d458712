# -*- test-case-name: tests.muc.features.test_mam -*-
"""
Tests for L{xmuc.muc.features.mam}: who may query, the rendering of a
page, and the room's real-JID rules on both.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from tests.muc.support import HOST, NS_USER, RoomHarness, child
from tests.support.harness import parseStanza
from xmuc.core.errors import ItemNotFound
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


WITH = (f"<iq type='set' id='q' to='room@{HOST}'><query xmlns='urn:xmpp:mam:2'>"
        "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'>"
        "<value>urn:xmpp:mam:2</value></field><field var='with'>"
        "<value>alice@localhost</value></field></x></query></iq>")
PLAIN = ArchivedMessage("id1", 1_700_000_000.0, "Alice", "alice@localhost",
                        f"<message xmlns='jabber:client' from='room@{HOST}/Alice' "
                        "type='groupchat'><body>hi</body></message>")
#: A stored message claiming a real JID (as an older version or a bug could
#: have written it).
CLAIMING = ArchivedMessage("id2", 1_700_000_001.0, "Alice", "alice@localhost",
                           f"<message xmlns='jabber:client' from='room@{HOST}/Alice' "
                           "type='groupchat'><body>ho</body><x xmlns="
                           "'http://jabber.org/protocol/muc#user'><item "
                           "jid='alice@localhost/a'/></x></message>")


class RealJidTests(SynchronousTestCase):
    """
    The room's real-JID rules (XEP-0045 section 4.2) apply to its archive:
    to the C{with} filter and to the results, inside the room engine.
    """

    def setUp(self) -> None:
        self.h = RoomHarness()
        self.h.create(ALICE, "room", "Alice")
        self.h.join(BOB, "room", "Bob")
        self.h.clear()

    def answer(self, sender: str, query: str = QUERY) -> list:
        """
        Query as C{sender}, answer the room's QueryArchive with both
        messages, and return what C{sender} got.
        """
        [effect] = self.h.send(sender, query)
        page = ArchivePage([PLAIN, CLAIMING], True, 2, 0)
        self.h.run(self.h.service.archiveAnswered("room", effect.query, page, self.h.now))
        return self.h.received(sender)

    def forwardedItems(self, results: list) -> list[list[str]]:
        """
        The muc#user item JIDs inside each forwarded message.
        """
        found = []
        for message in results[:-1]:
            forwarded = child(child(child(message, NS_MAM, "result"), NS_FORWARD, "forwarded"),
                              "jabber:client", "message")
            found.append([item["jid"] for x in forwarded.elements(NS_USER, "x")
                          for item in x.elements(NS_USER, "item")])
        return found

    def test_withRefusedInSemiAnonymousRoom(self) -> None:
        """
        In a semi-anonymous room a participant, and an outsider, may not
        filter the archive by real JID (forbidden, whatever it holds); a
        moderator may.
        """
        self.assertEqual(self.h.refused(BOB, WITH), "forbidden")
        self.assertEqual(self.h.refused("carol@localhost/c", WITH), "forbidden")
        [effect] = self.h.send(ALICE, WITH)
        self.assertEqual(effect.query.with_, "alice@localhost")

    def test_withAllowedInNonAnonymousRoom(self) -> None:
        """
        In a non-anonymous room everyone may filter by real JID.
        """
        self.h.configure(ALICE, "room", whois="anyone")
        [effect] = self.h.send(BOB, WITH)
        self.assertIsInstance(effect, effects.QueryArchive)

    def test_participantSeesNoRealJid(self) -> None:
        """
        A participant of a semi-anonymous room gets the page without any
        real JID, even one a stored message claimed; then the fin.
        """
        results = self.answer(BOB)
        self.assertEqual(len(results), 3)
        self.assertEqual(self.forwardedItems(results), [[], []])
        self.assertNotIn(b"alice@localhost", b"".join(r.toXml().encode() for r in results))

    def test_moderatorSeesRealJids(self) -> None:
        """
        A moderator gets each sender's bare real JID, once, the room's
        word and not the stored claim.
        """
        self.assertEqual(self.forwardedItems(self.answer(ALICE)),
                         [["alice@localhost"], ["alice@localhost"]])

    def test_everyoneSeesInNonAnonymousRoom(self) -> None:
        """
        In a non-anonymous room a participant sees the real JIDs.
        """
        self.h.configure(ALICE, "room", whois="anyone")
        self.h.clear()
        self.assertEqual(self.forwardedItems(self.answer(BOB)),
                         [["alice@localhost"], ["alice@localhost"]])

    def test_rulesWhenAnswered(self) -> None:
        """
        The rules are those in force when the page comes back: a room made
        semi-anonymous meanwhile shows no real JIDs.
        """
        self.h.configure(ALICE, "room", whois="anyone")
        [effect] = self.h.send(BOB, QUERY)
        self.h.configure(ALICE, "room", whois="moderators")
        self.h.clear()
        page = ArchivePage([PLAIN], True, 1, 0)
        self.h.run(self.h.service.archiveAnswered("room", effect.query, page, self.h.now))
        self.assertEqual(self.forwardedItems(self.h.received(BOB)), [[]])

    def test_roomGone(self) -> None:
        """
        A page for a room that is gone meanwhile is item-not-found.
        """
        [effect] = self.h.send(BOB, QUERY)
        self.assertRaises(ItemNotFound, self.h.service.archiveAnswered, "gone", effect.query,
                          ArchivePage([], True, 0, 0), self.h.now)
