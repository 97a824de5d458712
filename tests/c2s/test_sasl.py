# -*- test-case-name: tests.c2s.test_sasl -*-
"""
Tests for L{xmuc.c2s.sasl} through a real L{C2SStream}: SCRAM with and
without channel binding, PLAIN, and every way authentication fails.
"""

from __future__ import annotations

import base64

from scramp import ScramClient
from twisted.trial import unittest

from tests.c2s import (
    NS_SASL,
    HandScramClient,
    StreamClient,
    saslFailureCondition,
    streamErrorCondition,
)
from tests.support.harness import Harness
from xmuc.c2s.sasl import AuthContext, MechanismSet, SASLFailure, channelBindingData

BINDING = channelBindingData(b"a certificate", None)
PLAINTEXT = "[c2s]\nrequire_tls = false\n"


def plain(authcid: str, password: str, authzid: str = "") -> bytes:
    return f"{authzid}\0{authcid}\0{password}".encode("utf-8")


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


class SASLTestCase(unittest.TestCase):
    """
    A node with the account alice (password C{secret}); C{secure} clients
    are on a direct-TLS stream whose channel binding is L{BINDING}.
    """

    def setUp(self) -> None:
        self.harness = Harness(config=PLAINTEXT, channelBinding=BINDING)
        self.harness.createUser("alice", "secret")

    def client(self, secure: bool = True) -> StreamClient:
        client = StreamClient(self.harness, directTLS=secure)
        client.open()
        return client

    def assertAuthenticated(self, client: StreamClient, answer, username: str = "alice") -> None:
        self.assertEqual((answer.uri, answer.name), (NS_SASL, "success"))
        self.assertEqual(client.stream.username, username)
        self.assertEqual(client.stream.state, "bind")
        features = client.open()
        self.assertIsNotNone(features.bind)
        self.assertFalse(client.transport.disconnecting)

    def assertFailure(self, answer, condition: str) -> None:
        self.assertEqual(saslFailureCondition(answer), condition)


class ScramTests(SASLTestCase):
    """
    SCRAM-SHA-1 and SCRAM-SHA-256, with and without -PLUS.
    """

    def test_scramSHA1(self) -> None:
        """
        SCRAM-SHA-1 with the right password succeeds, and the server's
        signature in C{<success/>} verifies.
        """
        client = self.client(secure=False)
        scram, answer = client.scram("alice", "secret", "SCRAM-SHA-1")
        self.assertAuthenticated(client, answer)

    def test_scramSHA256(self) -> None:
        """
        SCRAM-SHA-256 with the right password succeeds.
        """
        client = self.client(secure=False)
        _, answer = client.scram("alice", "secret", "SCRAM-SHA-256")
        self.assertAuthenticated(client, answer)

    def test_scramSHA256Plus(self) -> None:
        """
        SCRAM-SHA-256-PLUS with the tls-server-end-point data of the
        stream succeeds.
        """
        client = self.client()
        _, answer = client.scram("alice", "secret", "SCRAM-SHA-256-PLUS", BINDING)
        self.assertAuthenticated(client, answer)

    def test_scramSHA1Plus(self) -> None:
        """
        SCRAM-SHA-1-PLUS with the right channel binding succeeds.
        """
        client = self.client()
        _, answer = client.scram("alice", "secret", "SCRAM-SHA-1-PLUS", BINDING)
        self.assertAuthenticated(client, answer)

    def test_wrongBinding(self) -> None:
        """
        A -PLUS exchange whose channel binding data differs from the
        server's (a man in the middle) fails with C{not-authorized}.
        """
        client = self.client()
        _, answer = client.scram("alice", "secret", "SCRAM-SHA-256-PLUS", b"\0" * 32)
        self.assertFailure(answer, "not-authorized")
        self.assertIsNone(client.stream.username)

    def test_plusWithoutTLS(self) -> None:
        """
        A -PLUS mechanism is not offered, and is C{invalid-mechanism}, on
        a plaintext stream.
        """
        client = self.client(secure=False)
        _, answer = client.scram("alice", "secret", "SCRAM-SHA-256-PLUS", BINDING)
        self.assertFailure(answer, "invalid-mechanism")

    def test_downgradeDetected(self) -> None:
        """
        A client that sends the GS2 flag C{y} (it supports binding but
        thinks the server does not) while the server offers -PLUS is
        refused: someone stripped the -PLUS mechanisms on the way.
        """
        client = self.client()
        first = ScramClient(["SCRAM-SHA-256"], "alice", "secret").get_client_first()
        self.assertTrue(first.startswith("n,,"))
        answer = client.auth("SCRAM-SHA-256", b"y" + first[1:].encode())
        self.assertFailure(answer, "not-authorized")

    def test_yFlagWithoutTLS(self) -> None:
        """
        The C{y} flag is fine where the server offers no binding.
        """
        client = self.client(secure=False)
        scram = ScramClient(["SCRAM-SHA-256"], "alice", "secret")
        first = "y" + scram.get_client_first()[1:]
        answer = client.auth("SCRAM-SHA-256", first.encode())
        self.assertEqual(answer.name, "challenge")

    def test_wrongPassword(self) -> None:
        """
        A wrong password is C{not-authorized}, and the stream stays up.
        """
        client = self.client()
        _, answer = client.scram("alice", "wrong")
        self.assertFailure(answer, "not-authorized")
        self.assertFalse(client.transport.disconnecting)
        self.assertEqual(client.stream.state, "auth")

    def test_unknownUserLikeWrongPassword(self) -> None:
        """
        An unknown user gets a challenge of the same shape (salt length,
        iteration count) and the very same failure as a wrong password.
        """

        def attempt(username: str) -> tuple[tuple[int, str], bytes]:
            client = self.client()
            scram = ScramClient(["SCRAM-SHA-256"], username, "wrong")
            challenge = client.auth("SCRAM-SHA-256", scram.get_client_first().encode())
            text = base64.b64decode(str(challenge)).decode()
            attributes = dict(part.split("=", 1) for part in text.split(","))
            shape = (len(base64.b64decode(attributes["s"])), attributes["i"])
            scram.set_server_first(text)
            answer = client.response(scram.get_client_final().encode())
            self.assertFailure(answer, "not-authorized")
            return shape, answer.toXml()

        self.assertEqual(attempt("alice"), attempt("nobody"))

    def test_unknownUserStableSalt(self) -> None:
        """
        Asking twice for an unknown user gives the same salt, as it would
        for a real account, so repeating the question tells nothing.
        """
        salts = []
        for _ in range(2):
            client = self.client()
            scram = ScramClient(["SCRAM-SHA-256"], "nobody", "x")
            challenge = client.auth("SCRAM-SHA-256", scram.get_client_first().encode())
            salts.append(base64.b64decode(str(challenge)).decode().split(",")[1])
        self.assertEqual(salts[0], salts[1])

    def test_authzidForAnotherUser(self) -> None:
        """
        A SCRAM authzid naming another account is C{invalid-authzid}.
        """
        client = self.client()
        first = ScramClient(["SCRAM-SHA-256"], "alice", "secret").get_client_first()
        answer = client.auth("SCRAM-SHA-256", b"n,a=bob@localhost," + first[3:].encode())
        self.assertFailure(answer, "invalid-authzid")

    def test_emptyInitialResponse(self) -> None:
        """
        C{<auth/>} without an initial response gets an empty challenge
        (C{=}), and the exchange continues with C{<response/>}.
        """
        client = self.client(secure=False)
        answer = client.auth("SCRAM-SHA-256")
        self.assertEqual((answer.name, str(answer)), ("challenge", "="))
        scram = ScramClient(["SCRAM-SHA-256"], "alice", "secret")
        answer = client.response(scram.get_client_first().encode())
        self.assertEqual(answer.name, "challenge")
        scram.set_server_first(base64.b64decode(str(answer)).decode())
        answer = client.response(scram.get_client_final().encode())
        self.assertAuthenticated(client, answer)


class PlainTests(SASLTestCase):
    """
    PLAIN, allowed only under TLS.
    """

    def test_plainOverTLS(self) -> None:
        """
        PLAIN with the right password succeeds under TLS.
        """
        client = self.client()
        self.assertAuthenticated(client, client.auth("PLAIN", plain("alice", "secret")))

    def test_plainWrongPassword(self) -> None:
        """
        PLAIN with a wrong password, or for an unknown user, is
        C{not-authorized}.
        """
        client = self.client()
        self.assertFailure(client.auth("PLAIN", plain("alice", "wrong")), "not-authorized")
        self.assertFailure(client.auth("PLAIN", plain("nobody", "wrong")), "not-authorized")

    def test_plainAuthzid(self) -> None:
        """
        A PLAIN authzid for another account is C{invalid-authzid}; one for
        the account itself is fine.
        """
        client = self.client()
        answer = client.auth("PLAIN", plain("alice", "secret", "bob@localhost"))
        self.assertFailure(answer, "invalid-authzid")
        answer = client.auth("PLAIN", plain("alice", "secret", "alice@localhost"))
        self.assertAuthenticated(client, answer)

    def test_plainInPlaintext(self) -> None:
        """
        PLAIN on a plaintext stream (TLS optional) is
        C{encryption-required}, and the password is never checked.
        """
        client = self.client(secure=False)
        answer = client.auth("PLAIN", plain("alice", "secret"))
        self.assertFailure(answer, "encryption-required")
        self.assertIsNone(client.stream.username)

    def test_plainMalformed(self) -> None:
        """
        A PLAIN message without its two NULs is C{malformed-request}.
        """
        client = self.client()
        self.assertFailure(client.auth("PLAIN", b"alice"), "malformed-request")


class FailureTests(SASLTestCase):
    """
    Protocol errors during authentication.
    """

    def test_unknownMechanism(self) -> None:
        """
        A mechanism the server does not offer is C{invalid-mechanism}.
        """
        client = self.client()
        self.assertFailure(client.auth("DIGEST-MD5", b"x"), "invalid-mechanism")
        self.assertFalse(client.transport.disconnecting)

    def test_badBase64(self) -> None:
        """
        Initial response data that is not base64 is
        C{incorrect-encoding}.
        """
        client = self.client()
        client.send(f"<auth xmlns='{NS_SASL}' mechanism='SCRAM-SHA-256'>not base64!</auth>")
        self.assertFailure(client.receivedOne(), "incorrect-encoding")

    def test_badBase64Response(self) -> None:
        """
        A C{<response/>} that is not base64 is C{incorrect-encoding} and
        ends the exchange.
        """
        client = self.client()
        client.auth("SCRAM-SHA-256")
        client.send(f"<response xmlns='{NS_SASL}'>***</response>")
        self.assertFailure(client.receivedOne(), "incorrect-encoding")
        self.assertIsNone(client.stream._mechanism)

    def test_responseWithoutAuth(self) -> None:
        """
        A C{<response/>} with no exchange under way is
        C{malformed-request}.
        """
        client = self.client()
        self.assertFailure(client.response(b"x"), "malformed-request")

    def test_abort(self) -> None:
        """
        C{<abort/>} in the middle of an exchange is answered C{aborted},
        and a later response is not part of any exchange.
        """
        client = self.client()
        scram = ScramClient(["SCRAM-SHA-256"], "alice", "secret")
        answer = client.auth("SCRAM-SHA-256", scram.get_client_first().encode())
        scram.set_server_first(base64.b64decode(str(answer)).decode())
        client.send(f"<abort xmlns='{NS_SASL}'/>")
        self.assertFailure(client.receivedOne(), "aborted")
        answer = client.response(scram.get_client_final().encode())
        self.assertFailure(answer, "malformed-request")
        self.assertIsNone(client.stream.username)

    def test_failuresPerStream(self) -> None:
        """
        The fifth failed authentication on one stream ([c2s]
        auth_failures_per_stream) ends it with C{policy-violation}.
        """
        client = self.client()
        for _ in range(4):
            _, answer = client.scram("alice", "wrong")
            self.assertFailure(answer, "not-authorized")
        self.assertFalse(client.transport.disconnecting)
        scram = ScramClient(["SCRAM-SHA-256"], "alice", "wrong")
        answer = client.auth("SCRAM-SHA-256", scram.get_client_first().encode())
        scram.set_server_first(base64.b64decode(str(answer)).decode())
        client.send(f"<response xmlns='{NS_SASL}'>{_b64(scram.get_client_final())}</response>")
        failure, error = client.received()
        self.assertFailure(failure, "not-authorized")
        self.assertEqual(streamErrorCondition(error), "policy-violation")
        self.assertTrue(client.transport.disconnecting)

    def test_fallbackThroughEveryMechanism(self) -> None:
        """
        A client that walks down the offer after failures, as slixmpp
        1.8 does (-PLUS with a binding type the stream lacks, then
        SCRAM with the C{y} flag, refused as a downgrade, for each hash),
        is not shut out before it reaches PLAIN, which logs it in.
        """
        client = self.client()
        for mechanism in ("SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS"):
            first = HandScramClient("alice", "secret", mechanism, "p=tls-unique").first()
            self.assertFailure(client.auth(mechanism, first), "malformed-request")
        for mechanism in ("SCRAM-SHA-256", "SCRAM-SHA-1"):
            first = HandScramClient("alice", "secret", mechanism, "y").first()
            self.assertFailure(client.auth(mechanism, first), "not-authorized")
        self.assertFalse(client.transport.disconnecting)
        self.assertAuthenticated(client, client.auth("PLAIN", plain("alice", "secret")))

    def test_authAfterSuccess(self) -> None:
        """
        SASL after authentication is a stream error.
        """
        client = self.client()
        _, answer = client.scram("alice", "secret", "SCRAM-SHA-256-PLUS", BINDING)
        client.open()
        client.send(f"<auth xmlns='{NS_SASL}' mechanism='PLAIN'>=</auth>")
        self.assertEqual(streamErrorCondition(client.receivedOne()), "policy-violation")


class TLSRequiredTests(unittest.TestCase):
    """
    Authentication before STARTTLS when TLS is required.
    """

    def test_authBeforeTLS(self) -> None:
        """
        C{<auth/>} before STARTTLS is C{encryption-required}, and the
        exchange never starts.
        """
        harness = Harness(tlsContextFactory=object(), channelBinding=BINDING)
        harness.createUser("alice")
        client = StreamClient(harness)
        client.open()
        scram = ScramClient(["SCRAM-SHA-256"], "alice", "secret")
        answer = client.auth("SCRAM-SHA-256", scram.get_client_first().encode())
        self.assertEqual(saslFailureCondition(answer), "encryption-required")
        self.assertEqual(client.stream.state, "tls")
        self.assertIsNone(client.stream._mechanism)


class MechanismSetTests(unittest.TestCase):
    """
    L{MechanismSet} on its own.
    """

    def test_offers(self) -> None:
        """
        The offer depends on TLS, binding data and C{allow_plain}.
        """

        def names(secure: bool, binding: bytes | None, plain: bool) -> tuple[str, ...]:
            bindings = {"tls-server-end-point": binding} if binding else {}
            context = AuthContext(None, "localhost", None, bindings=bindings)
            return MechanismSet(context, secure, plain).names

        self.assertEqual(names(False, BINDING, True), ("SCRAM-SHA-256", "SCRAM-SHA-1"))
        self.assertEqual(names(True, None, True), ("SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"))
        self.assertEqual(
            names(True, BINDING, False),
            ("SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1"),
        )

    def test_create(self) -> None:
        """
        C{create} refuses a mechanism not offered.
        """
        mechanisms = MechanismSet(AuthContext(None, "localhost", None), False, True)
        for name, condition in (("PLAIN", "encryption-required"), ("X", "invalid-mechanism")):
            e = self.assertRaises(SASLFailure, mechanisms.create, name)
            self.assertEqual(e.condition, condition)
