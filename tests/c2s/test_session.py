# -*- test-case-name: tests.c2s.test_session -*-
"""
Tests for resource binding in L{xmuc.c2s.stream} and the addressing rules
of L{xmuc.c2s.session}, through a real stream.
"""

from __future__ import annotations

from twisted.trial import unittest

from tests.c2s import (
    NS_BIND,
    NS_SESSION,
    StreamClient,
    stanzaErrorCondition,
    streamErrorCondition,
)
from tests.support.harness import Harness

PLAINTEXT = "[c2s]\nrequire_tls = false\n"


class SessionTestCase(unittest.TestCase):
    def setUp(self) -> None:
        self.harness = Harness(config=PLAINTEXT)
        self.harness.createUser("alice")
        self.harness.createUser("bob")
        self.router = self.harness.node.router

    def connect(self, username: str = "alice") -> StreamClient:
        client = StreamClient(self.harness)
        client.authenticate(username)
        return client


class BindTests(SessionTestCase):
    """
    Resource binding (RFC 6120 section 7).
    """

    def test_requestedResource(self) -> None:
        """
        The requested resource is bound: the result carries the full JID
        and the session is in the router.
        """
        client = self.connect()
        result = client.bind("phone")
        self.assertEqual((result["type"], result["id"]), ("result", "bind1"))
        self.assertEqual(result.bind.uri, NS_BIND)
        self.assertEqual(str(result.bind.jid), "alice@localhost/phone")
        self.assertIs(self.router.session("alice@localhost", "phone"), client.stream.session)
        self.assertEqual(client.stream.state, "session")

    def test_generatedResource(self) -> None:
        """
        Without a requested resource the server makes one up.
        """
        client = self.connect()
        result = client.bind(None)
        jid = str(result.bind.jid)
        self.assertTrue(jid.startswith("alice@localhost/xmuc-"), jid)
        self.assertIsNotNone(self.router.session("alice@localhost", jid.split("/", 1)[1]))

    def test_emptyResource(self) -> None:
        """
        An empty C{<resource/>} counts as none requested.
        """
        client = self.connect()
        self.assertIn("/xmuc-", str(client.bind("").bind.jid))

    def test_preparedResource(self) -> None:
        """
        The resource is prepared (RFC 7622): the bound JID says how.
        """
        client = self.connect()
        self.assertEqual(str(client.bind("e\u0301").bind.jid), "alice@localhost/\u00e9")

    def test_invalidResource(self) -> None:
        """
        A resource the profile forbids (an unassigned code point) is
        C{bad-request}; the stream stays up and a later good bind works.
        """
        client = self.connect()
        result = client.bind("\u0378x")
        self.assertEqual(stanzaErrorCondition(result), "bad-request")
        self.assertEqual(result["id"], "bind1")
        self.assertFalse(client.transport.disconnecting)
        self.assertEqual(client.stream.state, "bind")
        self.assertEqual(client.bind("ok")["type"], "result")

    def test_longResource(self) -> None:
        """
        A resource over 1023 bytes is C{bad-request}.
        """
        client = self.connect()
        self.assertEqual(stanzaErrorCondition(client.bind("r" * 1024)), "bad-request")

    def test_conflict(self) -> None:
        """
        A second session with the same full JID replaces the first, which
        ends with a C{conflict} stream error.
        """
        first = self.connect()
        first.bind("res")
        second = self.connect()
        result = second.bind("res")
        self.assertEqual(str(result.bind.jid), "alice@localhost/res")
        [error] = first.received()
        self.assertEqual(streamErrorCondition(error), "conflict")
        self.assertTrue(first.transport.disconnecting)
        self.assertIs(self.router.session("alice@localhost", "res"), second.stream.session)
        # The first stream's lost connection must not remove the new one.
        first.stream.connectionLost()
        self.assertIs(self.router.session("alice@localhost", "res"), second.stream.session)

    def test_twoResources(self) -> None:
        """
        Two different resources of one account are both bound.
        """
        self.connect().bind("a")
        self.connect().bind("b")
        self.assertEqual(
            sorted(s.jid.resource for s in self.router.sessionsOf("alice@localhost")),
            ["a", "b"],
        )

    def test_legacySession(self) -> None:
        """
        The legacy RFC 3921 session IQ, which old clients still send after
        binding, is answered with an empty result.
        """
        client = self.connect()
        client.bind("res")
        client.send(f"<iq type='set' id='s1'><session xmlns='{NS_SESSION}'/></iq>")
        reply = client.receivedOne()
        self.assertEqual((reply.name, reply["type"], reply["id"]), ("iq", "result", "s1"))
        self.assertEqual(list(reply.elements()), [])
        self.assertFalse(client.transport.disconnecting)

    def test_legacySessionToDomain(self) -> None:
        """
        The legacy session IQ addressed to the domain is answered too.
        """
        client = self.connect()
        client.bind("res")
        client.send(
            f"<iq type='set' id='s2' to='localhost'><session xmlns='{NS_SESSION}'/></iq>"
        )
        reply = client.receivedOne()
        self.assertEqual((reply["type"], reply["id"]), ("result", "s2"))


class AddressingTests(SessionTestCase):
    """
    The addressing of stanzas a bound client sends (RFC 6120 section 8.1).
    """

    def setUp(self) -> None:
        super().setUp()
        self.alice = self.connect("alice")
        self.alice.bind("res")
        self.bob = self.connect("bob")
        self.bob.bind("res")

    def test_stampedFrom(self) -> None:
        """
        A message without C{from} is delivered stamped with the sender's
        full JID.
        """
        self.alice.send("<message to='bob@localhost/res' id='m1'><body>hi</body></message>")
        [message] = self.bob.received()
        self.assertEqual(message["from"], "alice@localhost/res")
        self.assertEqual(str(message.body), "hi")

    def test_bareFrom(self) -> None:
        """
        A C{from} with the sender's bare JID is accepted and replaced by
        the full JID.
        """
        self.alice.send(
            "<message from='alice@localhost' to='bob@localhost/res'><body>x</body></message>"
        )
        [message] = self.bob.received()
        self.assertEqual(message["from"], "alice@localhost/res")

    def test_forgedFrom(self) -> None:
        """
        A C{from} naming someone else is the stream error C{invalid-from},
        and nothing is delivered.
        """
        self.alice.send(
            "<message from='bob@localhost/res' to='bob@localhost/res'><body>x</body></message>"
        )
        [error] = self.alice.received()
        self.assertEqual(streamErrorCondition(error), "invalid-from")
        self.assertTrue(self.alice.transport.disconnecting)
        self.assertEqual(self.bob.received(), [])

    def test_otherResourceFrom(self) -> None:
        """
        A C{from} naming another resource of the same account is forged
        too.
        """
        self.alice.send("<message from='alice@localhost/other' to='bob@localhost'/>")
        self.assertEqual(streamErrorCondition(self.alice.receivedOne()), "invalid-from")

    def test_malformedTo(self) -> None:
        """
        A C{to} that is not a JID is answered with the stanza error
        C{jid-malformed}, and the stream stays up.
        """
        self.alice.send("<message to='@@bad@@' id='m2'><body>x</body></message>")
        reply = self.alice.receivedOne()
        self.assertEqual(stanzaErrorCondition(reply), "jid-malformed")
        self.assertEqual(reply["id"], "m2")
        self.assertFalse(reply.hasAttribute("to"))
        self.assertFalse(self.alice.transport.disconnecting)
        self.alice.send("<message to='bob@localhost/res'><body>still here</body></message>")
        self.assertEqual(str(self.bob.receivedOne().body), "still here")

    def test_malformedToIQ(self) -> None:
        """
        An IQ with a C{to} whose resource is too long is C{jid-malformed}.
        """
        self.alice.send(
            f"<iq type='get' id='q1' to='bob@localhost/{'r' * 1100}'>"
            "<ping xmlns='urn:xmpp:ping'/></iq>"
        )
        reply = self.alice.receivedOne()
        self.assertEqual(stanzaErrorCondition(reply), "jid-malformed")
        self.assertEqual(reply["id"], "q1")

    def test_malformedToErrorIgnored(self) -> None:
        """
        An error stanza with a bad C{to} is dropped, never answered (no
        error loops).
        """
        self.alice.send("<message type='error' to='@@bad@@'/>")
        self.assertEqual(self.alice.received(), [])
        self.assertFalse(self.alice.transport.disconnecting)

    def test_iqWithoutToAnswered(self) -> None:
        """
        An IQ without C{to} is handled for the account and the answer
        carries no addresses.
        """
        self.alice.send("<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>")
        reply = self.alice.receivedOne()
        self.assertEqual((reply["type"], reply["id"]), ("result", "r1"))
        self.assertFalse(reply.hasAttribute("from"))

    def test_unknownIQ(self) -> None:
        """
        An IQ with a payload nobody handles is C{service-unavailable}, not
        silently dropped.
        """
        self.alice.send("<iq type='get' id='u1'><x xmlns='urn:example:nothing'/></iq>")
        self.assertEqual(stanzaErrorCondition(self.alice.receivedOne()), "service-unavailable")
