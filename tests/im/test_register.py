# -*- test-case-name: tests.im.test_register -*-
"""
Tests for L{xmuc.im.register}: XEP-0077 in-band registration, password
change and account removal.
"""

from __future__ import annotations

from twisted.internet.testing import StringTransport
from twisted.trial import unittest
from twisted.words.xish import domish

from tests.im.test_disco import errorCondition
from tests.support.harness import Harness, parseStanza, parseStanzas
from xmuc.c2s.sasl import AuthContext, Plain, SASLFailure, Success
from xmuc.c2s.stream import C2SStream

NS = "jabber:iq:register"
OPEN = "[services]\nregistration = true\n"


class PreAuthStream:
    """
    What the registration handlers see of a stream before authentication.
    """

    def __init__(self, state: str = "auth") -> None:
        self.state = state


def passwordWorks(harness: Harness, username: str, password: str) -> bool:
    """
    Whether PLAIN authentication succeeds with this password.
    """
    mechanism = Plain(
        AuthContext(harness.store.getCredentials, harness.domain, harness.node.keyDerivation)
    )
    outcome = []
    mechanism.step(f"\0{username}\0{password}".encode()).addBoth(outcome.append)
    if isinstance(outcome[0], Success):
        return True
    outcome[0].trap(SASLFailure)
    return False


class PreAuthTests(unittest.TestCase):
    def setUp(self) -> None:
        self.harness = Harness(features=("xmuc.im.delivery", "xmuc.im.register"), config=OPEN)
        self.stream = PreAuthStream()

    def request(self, kind: str, payload: str, stream: PreAuthStream | None = None):
        """
        Dispatch a pre-authentication IQ as the c2s stream does.
        """
        sent = []
        iq = parseStanza(f"<iq type='{kind}' id='r1'><query xmlns='{NS}'>{payload}</query></iq>")
        handled = self.harness.node.preAuthIQ.dispatch(iq, None, stream or self.stream, sent.append)
        self.assertTrue(handled)
        [reply] = sent
        return reply

    def register(self, username: str, password: str, stream: PreAuthStream | None = None):
        return self.request(
            "set", f"<username>{username}</username><password>{password}</password>", stream
        )

    def test_form(self) -> None:
        """
        A get returns instructions and the empty username and password
        fields.
        """
        reply = self.request("get", "")
        self.assertEqual(reply["type"], "result")
        names = [child.name for child in reply.query.elements()]
        self.assertEqual(names, ["instructions", "username", "password"])

    def test_create(self) -> None:
        """
        A set creates the account, with the prepared username, usable
        with its password.
        """
        reply = self.register("Juliet", "s3cret")
        self.assertEqual(reply["type"], "result")
        self.assertEqual(self.harness.store.listUsers().result, ["juliet"])
        self.assertTrue(passwordWorks(self.harness, "juliet", "s3cret"))
        self.assertFalse(passwordWorks(self.harness, "juliet", "wrong"))

    def test_conflict(self) -> None:
        """
        A taken username is a C{conflict}.
        """
        self.harness.createUser("juliet")
        reply = self.register("juliet", "x")
        self.assertEqual(errorCondition(reply), "conflict")

    def test_invalidUsername(self) -> None:
        """
        An empty or invalid username is C{not-acceptable}.
        """
        for username in ("", "a@b", "x y"):
            reply = self.register(username, "pw", PreAuthStream())
            self.assertEqual(errorCondition(reply), "not-acceptable", username)
        self.assertEqual(self.harness.store.listUsers().result, [])

    def test_emptyPassword(self) -> None:
        """
        An empty password is C{not-acceptable}.
        """
        self.assertEqual(errorCondition(self.register("juliet", "")), "not-acceptable")

    def test_onePerStream(self) -> None:
        """
        A connection registers one account at most.
        """
        self.register("juliet", "pw")
        self.assertEqual(errorCondition(self.register("romeo", "pw")), "not-allowed")

    def test_beforeTLS(self) -> None:
        """
        Where TLS is required, nothing is registered before it is on.
        """
        reply = self.register("juliet", "pw", PreAuthStream("tls"))
        self.assertEqual(errorCondition(reply), "not-authorized")

    def test_closed(self) -> None:
        """
        With registration off, requests are C{service-unavailable}.
        """
        self.harness = Harness(features=("xmuc.im.delivery", "xmuc.im.register"))
        self.assertEqual(errorCondition(self.request("get", "")), "service-unavailable")
        self.assertEqual(errorCondition(self.register("juliet", "pw")), "service-unavailable")
        self.assertEqual(self.harness.store.listUsers().result, [])

    def test_featureOnlyWhenAuthenticating(self) -> None:
        """
        The stream feature is offered while authentication is open, not
        while the stream still has to start TLS.
        """
        registration = self.harness.node.modules["register"]
        feature = registration.streamFeature(PreAuthStream("auth"))
        self.assertEqual(feature.uri, "http://jabber.org/features/iq-register")
        self.assertIsNone(registration.streamFeature(PreAuthStream("tls")))

    def test_removeBeforeLogin(self) -> None:
        """
        Removing an account needs a login.
        """
        self.assertEqual(errorCondition(self.request("set", "<remove/>")), "not-allowed")


class StreamFeatureTests(unittest.TestCase):
    def connect(self, config: str) -> tuple[C2SStream, StringTransport]:
        harness = Harness(
            features=("xmuc.im.delivery", "xmuc.im.register"),
            config=config + "[c2s]\nrequire_tls = false\n",
        )
        stream = C2SStream(harness.node)
        transport = StringTransport()
        stream.makeConnection(transport)
        stream.dataReceived(
            b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'"
            b" to='localhost' version='1.0'>"
        )
        self.harness = harness
        return stream, transport

    def features(self, transport: StringTransport) -> list[str]:
        """
        The namespaces of the stream features the server wrote.
        """
        elements = []
        parser = domish.elementStream()
        parser.DocumentStartEvent = lambda root: None
        parser.ElementEvent = elements.append
        parser.parse(transport.value())
        transport.clear()
        [features] = elements
        self.assertEqual(features.name, "features")
        return [child.uri for child in features.elements()]

    def test_advertised(self) -> None:
        """
        With registration on, the stream offers it, and a client registers
        over a real c2s stream before authenticating.
        """
        stream, transport = self.connect(OPEN)
        self.assertIn("http://jabber.org/features/iq-register", self.features(transport))
        stream.dataReceived(
            f"<iq type='set' id='reg'><query xmlns='{NS}'><username>romeo</username>"
            "<password>pw</password></query></iq>".encode()
        )
        [reply] = parseStanzas(transport.value())
        self.assertEqual((reply["type"], reply["id"]), ("result", "reg"))
        self.assertTrue(passwordWorks(self.harness, "romeo", "pw"))

    def test_notAdvertised(self) -> None:
        """
        With registration off, the stream does not offer it.
        """
        stream, transport = self.connect("")
        self.assertNotIn("http://jabber.org/features/iq-register", self.features(transport))


class AccountTests(unittest.TestCase):
    def setUp(self) -> None:
        # Registration is off: changing a password and leaving still work.
        self.harness = Harness(features=("xmuc.im.delivery", "xmuc.im.register"))
        self.alice = self.harness.login("alice")

    def request(self, client, kind: str, payload: str, to: str | None = None):
        address = f" to='{to}'" if to else ""
        client.send(
            f"<iq type='{kind}' id='a1'{address}><query xmlns='{NS}'>{payload}</query></iq>"
        )
        [reply] = client.received()
        self.assertEqual(reply["id"], "a1")
        return reply

    def test_registered(self) -> None:
        """
        A logged-in account is told it is registered, with its username.
        """
        reply = self.request(self.alice, "get", "")
        fields = {child.name: str(child) for child in reply.query.elements()}
        self.assertEqual(fields, {"registered": "", "username": "alice"})

    def test_changePassword(self) -> None:
        """
        A set with a password, to the server, changes the password.
        """
        payload = "<username>alice</username><password>n3w</password>"
        reply = self.request(self.alice, "set", payload, to="localhost")
        self.assertEqual(reply["type"], "result")
        self.assertTrue(passwordWorks(self.harness, "alice", "n3w"))
        self.assertFalse(passwordWorks(self.harness, "alice", "secret"))

    def test_changePasswordWithoutTo(self) -> None:
        """
        The same works without C{to}, and without a username.
        """
        reply = self.request(self.alice, "set", "<password>n3w</password>")
        self.assertEqual(reply["type"], "result")
        self.assertTrue(passwordWorks(self.harness, "alice", "n3w"))

    def test_wrongUsername(self) -> None:
        """
        A password change naming another username is a C{bad-request}.
        """
        self.harness.createUser("bob")
        payload = "<username>bob</username><password>n3w</password>"
        self.assertEqual(errorCondition(self.request(self.alice, "set", payload)), "bad-request")
        self.assertTrue(passwordWorks(self.harness, "bob", "secret"))

    def test_otherAccount(self) -> None:
        """
        Nobody changes another account through its bare JID.
        """
        bob = self.harness.login("bob")
        reply = self.request(bob, "set", "<remove/>", to="alice@localhost")
        self.assertEqual(errorCondition(reply), "forbidden")
        self.assertIn("alice", self.harness.store.listUsers().result)

    def test_remove(self) -> None:
        """
        C{<remove/>} deletes the account, answers, then ends every stream
        of the account with C{not-authorized}.
        """
        other = self.harness.login("alice", "other")
        reply = self.request(self.alice, "set", "<remove/>")
        self.assertEqual(reply["type"], "result")
        self.assertEqual(self.harness.store.listUsers().result, [])
        self.harness.clock.advance(0)
        self.assertEqual(self.alice.stream.errors, ["not-authorized"])
        self.assertEqual(other.stream.errors, ["not-authorized"])
        self.assertEqual(list(self.harness.node.router.sessionsOf("alice@localhost")), [])
