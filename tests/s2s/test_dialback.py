# -*- test-case-name: tests.s2s.test_dialback -*-
"""
Dialback keys (XEP-0185).
"""

from __future__ import annotations

import hashlib
import hmac

from twisted.trial import unittest

from xmuc.s2s.dialback import dialbackElement, dialbackKey, keysMatch


class KeyTests(unittest.TestCase):
    def test_algorithm(self) -> None:
        """
        The key is HMAC-SHA256 keyed with the hex SHA-256 of the secret,
        over "Receiving Originating StreamID" (XEP-0185 section 3).
        """
        secret = "s3cr3tf0rd14lb4ck"
        hashed = hashlib.sha256(secret.encode()).hexdigest().encode()
        expected = hmac.new(hashed, b"example.org example.com D60000229F", hashlib.sha256).hexdigest()
        self.assertEqual(dialbackKey(secret, "example.org", "example.com", "D60000229F"), expected)

    def test_differsPerStream(self) -> None:
        """
        Another stream id, direction or secret gives another key.
        """
        key = dialbackKey("s", "a", "b", "1")
        self.assertNotEqual(key, dialbackKey("s", "a", "b", "2"))
        self.assertNotEqual(key, dialbackKey("s", "b", "a", "1"))
        self.assertNotEqual(key, dialbackKey("t", "a", "b", "1"))

    def test_match(self) -> None:
        """
        Keys compare equal ignoring surrounding white space, and not
        otherwise.
        """
        self.assertTrue(keysMatch("abc", " abc\n"))
        self.assertFalse(keysMatch("abc", "abd"))

    def test_errorElement(self) -> None:
        """
        An error result carries the stanza error condition.
        """
        element = dialbackElement("result", "a", "b", kind="error", condition="item-not-found")
        xml = element.toXml()
        self.assertIn("type='error'", xml)
        self.assertIn("<item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>", xml)
