# -*- test-case-name: tests.im.test_vcard -*-
"""
Tests for L{xmuc.im.vcard}: XEP-0054 vcard-temp kept by the server.
"""

from __future__ import annotations

from twisted.trial import unittest

from tests.im.test_disco import errorCondition
from tests.support.harness import Harness
from xmuc.im.vcard import MAX_VCARD_SIZE, parseVCard

FEATURES = ("xmuc.im.delivery", "xmuc.im.vcard")
CARD = "<vCard xmlns='vcard-temp'><FN>Alice &amp; Co</FN><NICKNAME>al</NICKNAME></vCard>"


class VCardTests(unittest.TestCase):
    def setUp(self) -> None:
        self.harness = Harness(features=FEATURES)
        self.alice = self.harness.login("alice")
        self.bob = self.harness.login("bob")

    def request(self, client, kind: str, payload: str, to: str | None = None):
        address = f" to='{to}'" if to else ""
        client.send(f"<iq type='{kind}' id='v1'{address}>{payload}</iq>")
        [reply] = client.received()
        self.assertEqual(reply["id"], "v1")
        return reply

    def fields(self, reply) -> dict[str, str]:
        return {child.name: str(child) for child in reply.vCard.elements()}

    def test_emptyByDefault(self) -> None:
        """
        An account without a vCard gets an empty C{<vCard/>}.
        """
        reply = self.request(self.alice, "get", "<vCard xmlns='vcard-temp'/>")
        self.assertEqual(reply["type"], "result")
        self.assertEqual(reply.vCard.uri, "vcard-temp")
        self.assertEqual(list(reply.vCard.elements()), [])

    def test_setAndGetOwn(self) -> None:
        """
        A vCard set by the account is what it reads back.
        """
        self.assertEqual(self.request(self.alice, "set", CARD)["type"], "result")
        reply = self.request(self.alice, "get", "<vCard xmlns='vcard-temp'/>")
        self.assertEqual(self.fields(reply), {"FN": "Alice & Co", "NICKNAME": "al"})

    def test_setToOwnBareJID(self) -> None:
        """
        Addressing the account's own bare JID is the same as no C{to}.
        """
        self.request(self.alice, "set", CARD, to="alice@localhost")
        stored = self.harness.store.getVCard("alice").result
        self.assertEqual(parseVCard(stored).name, "vCard")

    def test_othersRead(self) -> None:
        """
        Anyone reads an account's vCard through its bare JID.
        """
        self.request(self.alice, "set", CARD)
        reply = self.request(self.bob, "get", "<vCard xmlns='vcard-temp'/>", to="alice@localhost")
        self.assertEqual(reply["from"], "alice@localhost")
        self.assertEqual(self.fields(reply)["NICKNAME"], "al")

    def test_othersMayNotWrite(self) -> None:
        """
        Only the account itself may change its vCard.
        """
        self.request(self.alice, "set", CARD)
        evil = "<vCard xmlns='vcard-temp'><FN>Mallory</FN></vCard>"
        reply = self.request(self.bob, "set", evil, to="alice@localhost")
        self.assertEqual(errorCondition(reply), "forbidden")
        self.assertIn("Alice", self.harness.store.getVCard("alice").result)

    def test_tooLarge(self) -> None:
        """
        A vCard over the size limit is refused with C{policy-violation}
        and not stored.
        """
        photo = "A" * (MAX_VCARD_SIZE + 1)
        card = f"<vCard xmlns='vcard-temp'><PHOTO><BINVAL>{photo}</BINVAL></PHOTO></vCard>"
        reply = self.request(self.alice, "set", card)
        self.assertEqual(errorCondition(reply), "policy-violation")
        self.assertIsNone(self.harness.store.getVCard("alice").result)

    def test_missingAccount(self) -> None:
        """
        Reading the vCard of an account that does not exist is
        C{service-unavailable}.
        """
        reply = self.request(self.bob, "get", "<vCard xmlns='vcard-temp'/>", to="nobody@localhost")
        self.assertEqual(errorCondition(reply), "service-unavailable")

    def test_parseVCardRejectsOthers(self) -> None:
        """
        L{parseVCard} accepts exactly one vcard-temp C{<vCard/>}.
        """
        self.assertRaises(ValueError, parseVCard, "<x xmlns='urn:x'/>")
        self.assertEqual(parseVCard(CARD).uri, "vcard-temp")
