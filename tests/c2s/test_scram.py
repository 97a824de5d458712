# -*- test-case-name: tests.c2s.test_scram -*-
"""
Tests for L{xmuc.c2s.scram}: one SCRAM exchange on its own, every row of
the GS2 flag table, and binding to each channel binding type.
"""

from __future__ import annotations

from twisted.trial import unittest

from tests.c2s import HandScramClient
from xmuc.c2s.sasl import makeCredentials
from xmuc.c2s.scram import SASLFailure, ScramExchange, parseClientFirst

[SHA1, SHA256] = makeCredentials("secret")
BINDINGS = {
    "tls-exporter": b"e" * 32,
    "tls-unique": b"u" * 12,
    "tls-server-end-point": b"s" * 32,
}


def exchange(
    client: HandScramClient,
    mechanism: str = "SCRAM-SHA-256",
    bindings: dict[str, bytes] = BINDINGS,
    offeredPlus: bool = True,
) -> ScramExchange:
    credentials = SHA1 if mechanism.startswith("SCRAM-SHA-1") else SHA256
    first = parseClientFirst(client.first().decode())
    return ScramExchange(mechanism, first, credentials, bindings, offeredPlus, "servernonce")


class FlagTableTests(unittest.TestCase):
    """
    The GS2 channel binding flag against the mechanism (the module
    docstring's table).
    """

    def assertFails(self, condition: str, client: HandScramClient, *args, **kwargs) -> None:
        e = self.assertRaises(SASLFailure, exchange, client, *args, **kwargs)
        self.assertEqual(e.condition, condition)

    def succeeds(self, client: HandScramClient, *args, **kwargs) -> None:
        scram = exchange(client, *args, **kwargs)
        final = scram.verifyFinal(client.final(scram.serverFirst.encode()).decode())
        self.assertTrue(client.verify(final.encode()))

    def test_bindEachType(self) -> None:
        """
        A -PLUS exchange binds to each type the stream has data for, and
        the exchange records the type.
        """
        for name, data in BINDINGS.items():
            for mechanism in ("SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS"):
                client = HandScramClient("alice", "secret", mechanism, f"p={name}", data)
                self.succeeds(client, mechanism)
                self.assertEqual(exchange(client, mechanism).bindingType, name)

    def test_unknownType(self) -> None:
        """
        C{p=} naming a type the stream has no data for is
        C{malformed-request} (RFC 5802: the server fails the exchange).
        """
        client = HandScramClient("alice", "secret", "SCRAM-SHA-256-PLUS", "p=tls-other")
        self.assertFails("malformed-request", client, "SCRAM-SHA-256-PLUS")
        client = HandScramClient("alice", "secret", "SCRAM-SHA-256-PLUS", "p=tls-exporter")
        self.assertFails(
            "malformed-request", client, "SCRAM-SHA-256-PLUS", bindings={"tls-unique": b"u"}
        )

    def test_wrongData(self) -> None:
        """
        The right type with other data (a man in the middle's TLS
        session) is C{not-authorized}.
        """
        client = HandScramClient("alice", "secret", "SCRAM-SHA-256-PLUS", "p=tls-unique", b"x")
        scram = exchange(client, "SCRAM-SHA-256-PLUS")
        final = client.final(scram.serverFirst.encode()).decode()
        e = self.assertRaises(SASLFailure, scram.verifyFinal, final)
        self.assertEqual(e.condition, "not-authorized")

    def test_bindingWithPlainMechanism(self) -> None:
        """
        C{p=} with a mechanism without -PLUS is C{malformed-request}.
        """
        client = HandScramClient("alice", "secret", "SCRAM-SHA-256", "p=tls-unique", b"u" * 12)
        self.assertFails("malformed-request", client)

    def test_plusWithoutBinding(self) -> None:
        """
        C{n} or C{y} with a -PLUS mechanism is C{malformed-request}.
        """
        for flag in ("n", "y"):
            client = HandScramClient("alice", "secret", "SCRAM-SHA-256-PLUS", flag)
            self.assertFails("malformed-request", client, "SCRAM-SHA-256-PLUS")

    def test_noBinding(self) -> None:
        """
        C{n} with a mechanism without -PLUS authenticates, whether or not
        -PLUS was offered.
        """
        for offered in (True, False):
            self.succeeds(HandScramClient("alice", "secret"), offeredPlus=offered)

    def test_yWhenPlusOffered(self) -> None:
        """
        C{y} (the client can bind but saw no -PLUS) when the server
        offered -PLUS is a downgrade: C{not-authorized}.
        """
        client = HandScramClient("alice", "secret", flag="y")
        self.assertFails("not-authorized", client, offeredPlus=True)

    def test_yWhenPlusNotOffered(self) -> None:
        """
        C{y} when the server offered no -PLUS authenticates.
        """
        self.succeeds(HandScramClient("alice", "secret", flag="y"), bindings={}, offeredPlus=False)


class MessageTests(unittest.TestCase):
    """
    Malformed messages and wrong proofs.
    """

    def test_wrongPassword(self) -> None:
        """
        A proof made from another password is C{not-authorized}.
        """
        client = HandScramClient("alice", "wrong")
        scram = exchange(client)
        final = client.final(scram.serverFirst.encode()).decode()
        e = self.assertRaises(SASLFailure, scram.verifyFinal, final)
        self.assertEqual(e.condition, "not-authorized")

    def test_malformedFirst(self) -> None:
        """
        Client-first messages RFC 5802 does not allow are
        C{malformed-request}.
        """
        for text in ("", "n,,", "x,,n=a,r=b", "n,,r=b", "n,,n=a", "n,z,n=a,r=b",
                     "n,,m=ext,n=a,r=b", "n,,n=a=,r=b", "n,,n=a,r="):
            e = self.assertRaises(SASLFailure, parseClientFirst, text)
            self.assertEqual(e.condition, "malformed-request", text)

    def test_saslname(self) -> None:
        """
        C{=2C} and C{=3D} in a username and authzid decode to C{,} and
        C{=}.
        """
        first = parseClientFirst("n,a=x=3Dy,n=a=2Cb,r=nonce")
        self.assertEqual((first.username, first.authzid), ("a,b", "x=y"))

    def test_malformedFinal(self) -> None:
        """
        A client-final message with a wrong nonce, missing attributes or
        bad base64 is C{malformed-request}.
        """
        client = HandScramClient("alice", "secret")
        scram = exchange(client)
        good = client.final(scram.serverFirst.encode()).decode()
        wrongNonce = good.replace("r=clientnonceservernonce", "r=clientnonceother")
        for text in ("", "c=biws", wrongNonce, good.replace("p=", "p=!!")):
            e = self.assertRaises(SASLFailure, scram.verifyFinal, text)
            self.assertEqual(e.condition, "malformed-request", text)
