# -*- test-case-name: tests.muc.test_records -*-
"""
Tests for L{xmuc.muc.records}.
"""

from __future__ import annotations

import json

from twisted.trial.unittest import SynchronousTestCase

from xmuc.muc.model import Affiliated, Affiliation, Role, RoomConfig, RoomRecord, Subject
from xmuc.muc.records import fromJSON, toJSON

RECORD = RoomRecord(
    "tea",
    RoomConfig(name="Tea ☕", persistent=True, membersOnly=True, maxUsers=30,
               presenceBroadcast=frozenset((Role.MODERATOR,))),
    {"alice@localhost": Affiliated(Affiliation.OWNER),
     "bob@localhost": Affiliated(Affiliation.MEMBER, "friend", "Bobby")},
    Subject("Darjeeling", "Alice", 12.5),
    "salt",
    3.0,
)


class RecordTests(SynchronousTestCase):
    def test_roundTrip(self) -> None:
        """
        A record comes back equal from its JSON.
        """
        self.assertEqual(fromJSON("tea", toJSON(RECORD)), RECORD)

    def test_unknownSettings(self) -> None:
        """
        Settings this xmuc does not know are left out; a wrong version is
        refused.
        """
        document = json.loads(toJSON(RECORD))
        document["config"]["future"] = True
        self.assertEqual(fromJSON("tea", json.dumps(document)), RECORD)
        document["v"] = 99
        self.assertRaises(ValueError, fromJSON, "tea", json.dumps(document))
