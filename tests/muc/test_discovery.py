# -*- test-case-name: tests.muc.test_discovery -*-
"""
Tests for L{xmuc.muc.discovery}: a room's disco#info (features by
configuration, muc#roominfo) and disco#items.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from tests.muc.support import HOST, RoomHarness, child
from xmuc.muc.ns import NS_DATA, NS_DISCO_INFO, NS_DISCO_ITEMS

ALICE, BOB = "alice@localhost/a", "bob@localhost/b"


class DiscoveryTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.h = RoomHarness()
        self.h.create(ALICE, "room", "Alice")

    def info(self, who: str = BOB):
        self.h.send(who, f"<iq type='get' id='i' to='room@{HOST}'><query "
                         f"xmlns='{NS_DISCO_INFO}'/></iq>")
        [result] = self.h.received(who)
        query = child(result, NS_DISCO_INFO, "query")
        features = {f["var"] for f in query.elements(NS_DISCO_INFO, "feature")}
        form = child(query, NS_DATA, "x")
        fields = {f["var"]: str(child(f, NS_DATA, "value") or "")
                  for f in form.elements(NS_DATA, "field")}
        return child(query, NS_DISCO_INFO, "identity"), features, fields

    def test_info(self) -> None:
        """
        A room is a conference/text with the MUC feature, one feature of
        each configuration pair, and the modern extensions.
        """
        self.h.configure(ALICE, "room", roomname="Tea", roomdesc="Hot drinks")
        identity, features, fields = self.info()
        self.assertEqual((identity["category"], identity["type"], identity["name"]),
                         ("conference", "text", "Tea"))
        expected = {
            "http://jabber.org/protocol/muc", "muc_public", "muc_open", "muc_unmoderated",
            "muc_semianonymous", "muc_unsecured", "muc_temporary", "urn:xmpp:occupant-id:0",
            "urn:xmpp:sid:0", "urn:xmpp:mam:2", "jabber:iq:register",
            "http://jabber.org/protocol/muc#self-ping-optimization",
            "http://jabber.org/protocol/muc#request", "http://jabber.org/protocol/muc#stable_id",
        }
        self.assertTrue(expected <= features, expected - features)
        self.assertEqual(fields["FORM_TYPE"], "http://jabber.org/protocol/muc#roominfo")
        self.assertEqual(fields["muc#roominfo_description"], "Hot drinks")
        self.assertEqual(fields["muc#roominfo_occupants"], "1")

    def test_configuredFeatures(self) -> None:
        """
        The features follow the configuration.
        """
        self.h.configure(ALICE, "room", membersonly="1", moderatedroom="1", whois="anyone",
                         persistentroom="1", publicroom="0", enablelogging="0")
        self.h.clear()
        _, features, _ = self.info(ALICE)
        self.assertTrue({"muc_membersonly", "muc_moderated", "muc_nonanonymous",
                         "muc_persistent", "muc_hidden"} <= features)
        self.assertNotIn("urn:xmpp:mam:2", features)

    def test_locked(self) -> None:
        """
        A locked room is item-not-found to all but its owner.
        """
        self.h.join(ALICE, "locked", "Alice")
        query = f"<iq type='get' id='i' to='locked@{HOST}'><query xmlns='{NS_DISCO_INFO}'/></iq>"
        self.assertEqual(self.h.refused(BOB, query), "item-not-found")
        self.h.send(ALICE, query)

    def test_items(self) -> None:
        """
        Occupants are listed to occupants, not to outsiders.
        """
        query = f"<iq type='get' id='i' to='room@{HOST}'><query xmlns='{NS_DISCO_ITEMS}'/></iq>"
        self.h.send(BOB, query)
        [result] = self.h.received(BOB)
        self.assertEqual(list(child(result, NS_DISCO_ITEMS, "query").elements()), [])
        self.h.send(ALICE, query)
        [result] = self.h.received(ALICE)
        [item] = child(result, NS_DISCO_ITEMS, "query").elements()
        self.assertEqual((item["jid"], item["name"]), (f"room@{HOST}/Alice", "Alice"))

    def test_unknownNode(self) -> None:
        """
        A node the room does not have is item-not-found.
        """
        self.assertEqual(self.h.refused(BOB, f"<iq type='get' id='i' to='room@{HOST}'><query "
                                             f"xmlns='{NS_DISCO_INFO}' node='x'/></iq>"),
                         "item-not-found")

    def test_ping(self) -> None:
        """
        The room answers pings to itself.
        """
        self.h.send(BOB, f"<iq type='get' id='p' to='room@{HOST}'><ping xmlns='urn:xmpp:ping'/></iq>")
        [result] = self.h.received(BOB)
        self.assertEqual(result["type"], "result")
