# -*- test-case-name: tests.muc.test_service -*-
"""
Tests for L{xmuc.muc.service}: room creation policy, unknown rooms, the
service's own disco and ping, service admins, occupancy counts, and the
service's loading life-cycle with rooms that could not be loaded.
"""

from __future__ import annotations

import random

from twisted.trial.unittest import SynchronousTestCase

from tests.muc.support import HOST, RoomHarness, child
from xmuc.core.errors import toStanzaError
from xmuc.muc.effects import DeleteArchive, DeleteRoom
from xmuc.muc.model import Affiliated, Affiliation, RoomConfig, RoomRecord, Subject
from xmuc.muc.ns import NS_DISCO_INFO
from xmuc.muc.room import IllegalTransition
from xmuc.muc.service import (
    ROOM_UNAVAILABLE,
    SERVICE_FAILED,
    MUCService,
    ServiceState,
)
from xmuc.muc.settings import Settings

ALICE, BOB, REMOTE = "alice@localhost/a", "bob@localhost/b", "carol@remote.example/c"
JOIN = "<presence to='{room}@muc.localhost/X'/>"


class CreationTests(SynchronousTestCase):
    def test_local(self) -> None:
        """
        By default local users create rooms; remote users may not
        (not-allowed) but may join existing ones.
        """
        h = RoomHarness()
        self.assertEqual(h.refused(REMOTE, JOIN.format(room="theirs")), "not-allowed")
        self.assertNotIn("theirs", h.service.rooms)
        h.create(ALICE, "ours", "Alice")
        h.join(REMOTE, "ours", "Carol")

    def test_admins(self) -> None:
        """
        With creation by admins, only the service admins create rooms, and
        they own every room.
        """
        h = RoomHarness(Settings(creation="admins", admins=frozenset({"bob@localhost"})))
        self.assertEqual(h.refused(ALICE, JOIN.format(room="r")), "not-allowed")
        h.create(BOB, "r", "Bob")
        self.assertIs(h.service.rooms["r"].affiliation("bob@localhost"), Affiliation.OWNER)

    def test_anyone(self) -> None:
        """
        With creation by anyone, remote users create rooms too.
        """
        h = RoomHarness(Settings(creation="anyone"))
        h.create(REMOTE, "theirs", "Carol")
        self.assertIn("theirs", h.service.rooms)

    def test_refusedJoinLeavesNoRoom(self) -> None:
        """
        A creating join that fails (bad nickname) leaves no room behind.
        """
        h = RoomHarness()
        self.assertEqual(h.refused(ALICE, "<presence to='new@muc.localhost/a\u200bb'/>"),
                         "jid-malformed")
        self.assertEqual(h.service.rooms, {})


class ServiceTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.h = RoomHarness()

    def test_unknownRoom(self) -> None:
        """
        Messages and IQs to a room that does not exist are item-not-found;
        an unavailable presence or an error to one is ignored.
        """
        self.assertEqual(self.h.refused(ALICE, "<message type='groupchat' to='no@muc.localhost'>"
                                               "<body>x</body></message>"), "item-not-found")
        self.assertEqual(self.h.refused(ALICE, f"<iq type='get' id='i' to='no@{HOST}'><query "
                                               f"xmlns='{NS_DISCO_INFO}'/></iq>"),
                         "item-not-found")
        self.assertEqual(self.h.send(ALICE, "<presence type='unavailable' to='no@muc.localhost/X'/>"),
                         [])

    def test_serviceInfo(self) -> None:
        """
        The service is a conference/text with the MUC feature.
        """
        self.h.send(ALICE, f"<iq type='get' id='i' to='{HOST}'><query xmlns='{NS_DISCO_INFO}'/></iq>")
        [result] = self.h.received(ALICE)
        query = child(result, NS_DISCO_INFO, "query")
        self.assertEqual(child(query, NS_DISCO_INFO, "identity")["category"], "conference")
        features = {f["var"] for f in query.elements(NS_DISCO_INFO, "feature")}
        self.assertIn("http://jabber.org/protocol/muc", features)

    def test_serviceRefuses(self) -> None:
        """
        What the service JID does not offer is service-unavailable.
        """
        self.assertEqual(self.h.refused(ALICE, f"<message to='{HOST}'><body>hi</body></message>"),
                         "service-unavailable")

    def test_counts(self) -> None:
        """
        The service counts occupants and each account's rooms.
        """
        self.h.create(ALICE, "one", "Alice")
        self.h.create(ALICE, "two", "Alice")
        self.h.join(BOB, "one", "Bob")
        self.h.join("bob@localhost/phone", "one", "Bob")
        self.assertEqual(self.h.service.occupantCount(), 3)
        self.assertEqual(self.h.service.roomsOf("alice@localhost"), 2)
        self.h.leave(ALICE, "two", "Alice")
        self.assertEqual(self.h.service.roomsOf("alice@localhost"), 1)
        self.assertNotIn("two", self.h.service.rooms)


class ShutdownTests(SynchronousTestCase):
    def test_shutdown(self) -> None:
        """
        At shutdown every occupant gets its own unavailable presence with
        332; temporary rooms go, persistent ones stay.
        """
        h = RoomHarness()
        h.create(ALICE, "one", "Alice")
        h.join(BOB, "one", "Bob")
        h.create(ALICE, "kept", "Alice")
        h.configure(ALICE, "kept", persistentroom="1")
        h.clear()
        h.run(h.service.shutdown(h.now))
        [own] = h.received(BOB)
        self.assertEqual((own["type"], own["from"]), ("unavailable", "one@muc.localhost/Bob"))
        from tests.muc.support import codes
        self.assertEqual(codes(own), {110, 332})
        self.assertEqual(len(h.received(ALICE)), 2)
        self.assertEqual(set(h.service.rooms), {"kept"})
        self.assertEqual(h.service.occupantCount(), 0)


class LoadingTests(SynchronousTestCase):
    """
    The service's life-cycle and the rooms it could not load: nothing is
    created over a stored room, and only a room owning a stored record
    has it deleted.
    """

    def errorOf(self, h: RoomHarness, sender: str, xml: str) -> tuple[str, str | None]:
        try:
            h.send(sender, xml)
        except Exception as e:
            error = toStanzaError(e)
            return error.condition, error.text
        raise AssertionError("the stanza was accepted")

    def test_unavailableRoom(self) -> None:
        """
        A stored room that could not be read is unavailable: a join (which
        would create it) and a message get service-unavailable with a
        plain text, no room is made, an unavailable presence or an error
        to it gets no answer, and other rooms still work.
        """
        h = RoomHarness()
        h.service.markUnavailable("kept")
        self.assertEqual(self.errorOf(h, ALICE, JOIN.format(room="kept")),
                         ("service-unavailable", ROOM_UNAVAILABLE))
        self.assertEqual(h.refused(ALICE, "<message type='groupchat' to='kept@muc.localhost'>"
                                          "<body>x</body></message>"), "service-unavailable")
        self.assertEqual(h.send(ALICE, "<presence type='unavailable' to='kept@muc.localhost/X'/>"),
                         [])
        self.assertNotIn("kept", h.service.rooms)
        h.create(ALICE, "other", "Alice")
        self.assertIn("other", h.service.rooms)

    def test_failedService(self) -> None:
        """
        A service whose rooms could not be listed refuses every input,
        its own disco included, and creates no room.
        """
        h = RoomHarness()
        h.service = MUCService(Settings(), random.Random(0), state=ServiceState.LOADING)
        h.service.transition("load-failed")
        self.assertEqual(self.errorOf(h, ALICE, JOIN.format(room="new")),
                         ("service-unavailable", SERVICE_FAILED))
        self.assertEqual(h.refused(ALICE, f"<iq type='get' id='i' to='{HOST}'><query "
                                          f"xmlns='{NS_DISCO_INFO}'/></iq>"),
                         "service-unavailable")
        self.assertEqual(h.service.rooms, {})

    def test_transitions(self) -> None:
        """
        A loading service becomes ready or failed once; anything else is
        an illegal transition.
        """
        service = MUCService(Settings(), random.Random(0), state=ServiceState.LOADING)
        service.transition("loaded")
        self.assertIs(service.state, ServiceState.READY)
        self.assertRaises(IllegalTransition, service.transition, "load-failed")

    def test_temporaryRoomKeepsStoredRecord(self) -> None:
        """
        A temporary room that empties asks storage to drop only an archive
        of its own (which storage keeps when a record of that name is
        stored), never the stored record; a loaded room made temporary
        owns its record and deletes it, once.
        """
        h = RoomHarness()
        h.create(ALICE, "temp", "Alice")
        h.leave(ALICE, "temp", "Alice")
        deletions = [e for e in h.effects if isinstance(e, (DeleteRoom, DeleteArchive))]
        self.assertEqual(deletions, [DeleteArchive("temp")])
        h.service.load(RoomRecord("kept", RoomConfig(persistent=True),
                                  {"alice@localhost": Affiliated(Affiliation.OWNER)},
                                  Subject(), "00", h.now))
        h.join(ALICE, "kept", "Alice")
        h.clear()
        h.configure(ALICE, "kept", persistentroom="0")
        h.leave(ALICE, "kept", "Alice")
        deletions = [e for e in h.effects if isinstance(e, (DeleteRoom, DeleteArchive))]
        self.assertEqual(deletions, [DeleteRoom("kept"), DeleteArchive("kept")])
