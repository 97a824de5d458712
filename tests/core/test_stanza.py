# -*- test-case-name: tests.core.test_stanza -*-
"""
Tests for L{xmuc.core.stanza}.
"""

from twisted.trial import unittest

from xmuc.core.stanza import parseElements, parseStanza, stanzaXml, toClientNamespace


class ParseTests(unittest.TestCase):
    """
    Stored XML parses back into elements.
    """

    def test_stanza(self) -> None:
        """
        One stored message parses with the jabber:client namespace and its
        attributes and children.
        """
        message = parseStanza("<message to='a@b' type='chat'><body>hi</body></message>")
        self.assertEqual((message.uri, message.name), ("jabber:client", "message"))
        self.assertEqual(message["to"], "a@b")
        self.assertEqual(str(message.body), "hi")

    def test_notOne(self) -> None:
        """
        Text that holds two elements is not one stanza.
        """
        self.assertRaises(ValueError, parseStanza, "<message/><message/>")

    def test_ownNamespace(self) -> None:
        """
        An element with its own namespace keeps it whatever the context.
        """
        [vcard] = parseElements("<vCard xmlns='vcard-temp'><FN>A</FN></vCard>", namespace="")
        self.assertEqual((vcard.uri, vcard.name), ("vcard-temp", "vCard"))


class StanzaXmlTests(unittest.TestCase):
    def test_serverToClient(self) -> None:
        """
        A stanza parsed from an s2s stream (jabber:server) serialises with
        its content namespace left implicit, so a client stream reads it
        as jabber:client; child namespaces stay.
        """
        [message] = parseElements(
            "<message to='a@b'><body>hi</body><x xmlns='urn:x'/></message>", "jabber:server"
        )
        self.assertEqual(stanzaXml(message), "<message to='a@b'><body>hi</body><x xmlns='urn:x'/></message>")

    def test_otherNamespaceKept(self) -> None:
        """
        A top-level element outside the stanza namespaces keeps its xmlns.
        """
        [result] = parseElements("<result xmlns='jabber:server:dialback' to='b'/>", "jabber:server")
        self.assertIn("xmlns='jabber:server:dialback'", stanzaXml(result))

    def test_toClientNamespace(self) -> None:
        """
        A stanza that came in jabber:server moves to jabber:client with the
        children that inherited the namespace; others keep theirs.
        """
        [message] = parseElements(
            "<message to='a@b'><body>hi</body><x xmlns='urn:x'><y/></x></message>", "jabber:server"
        )
        toClientNamespace(message)
        body = message.firstChildElement()
        x = list(message.elements())[1]
        self.assertEqual((message.uri, body.uri, x.uri), ("jabber:client", "jabber:client", "urn:x"))
        self.assertEqual(message.toXml(), "<message xmlns='jabber:client' to='a@b'><body>hi</body>"
                                          "<x xmlns='urn:x'><y/></x></message>")
