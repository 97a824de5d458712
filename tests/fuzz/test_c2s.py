# -*- test-case-name: tests.fuzz.test_c2s -*-
"""
Client streams built by hypothesis from valid and mutated stanzas, cut
into reads at random points, fed into a real L{C2SStream}: nothing is
logged as a failure, every error has a defined condition of the right
type, a stream error ends the stream, and another client is served after.
"""

from __future__ import annotations

import traceback

from hypothesis import given
from hypothesis import strategies as st
from twisted.python import failure
from twisted.trial import unittest

from tests.c2s import StreamClient
from tests.fuzz import LogWatch, feed, fuzz, received, renumber, stillServing
from tests.fuzz.oracle import Oracle
from tests.fuzz.pieces import Piece, splitPoints
from tests.fuzz.strategies import Addresses, c2sHeaders, c2sSessions, preAuthPieces
from tests.support.harness import Harness

ADDRESSES = Addresses(room="room@muc.localhost")
CONFIG = "[c2s]\nrequire_tls = false\n"


def newHarness() -> Harness:
    harness = Harness(config=CONFIG)
    for user in ("alice", "bob"):
        harness.createUser(user)
    harness.createUser("carol")
    return harness


class BoundStreamFuzzTests(unittest.TestCase):
    """
    Stanzas on a bound client stream.
    """

    @fuzz(150)
    @given(st.data())
    def test_boundStream(self, data: st.DataObject) -> None:
        """
        A bound client's valid and mutated stanzas, and at times one fatal
        piece, in reads cut anywhere: every iq to the node is answered,
        errors carry a defined condition of the right type (the ones a
        mutation calls for), fatal input ends the stream with a defined
        stream error, nothing is logged as a failure, and another client
        is served afterwards.
        """
        harness = newHarness()
        with LogWatch() as watch:
            client = StreamClient(harness)
            client.login("alice")
            # A room for the stanzas addressed to it.
            client.send("<presence to='room@muc.localhost/alice'><x xmlns='http://jabber.org/protocol/muc'/></presence>")
            client.received()
            bob = StreamClient(harness)
            bob.login("bob", "online")
            pieces = renumber(data.draw(c2sSessions(ADDRESSES, maxDepth=300, hugeSize=20_000)))
            payload = b"".join(p.data for p in pieces)
            problems = feed(client, payload, data.draw(splitPoints(payload)))
            elements, parseProblems = received(client)
            problems += parseProblems
            problems += Oracle(pieces, own="alice@localhost").check(elements, client.stream.closed)
            if client.stream.closed and not client.transport.disconnecting:
                problems.append("stream closed without closing the connection")
            bob.received()
            problems += stillServing(harness)
            client.stream.connectionLost(failure.Failure(ConnectionError("gone")))
        problems += watch.problems
        self.assertEqual(problems, [], "\n".join(problems) + f"\ninput: {payload[:2000]!r}")


class NegotiationFuzzTests(unittest.TestCase):
    """
    Headers and what a client sends before it authenticates.
    """

    @fuzz(120)
    @given(c2sHeaders(), st.lists(preAuthPieces(), max_size=6), st.data())
    def test_negotiation(self, header: tuple, pieces: list[Piece], data: st.DataObject) -> None:
        """
        A valid or mutated stream header, then SASL elements with bad
        mechanisms and data or stanzas: a bad header ends the stream with
        its stream error, a stanza before authentication with
        not-authorized, and nothing is logged as a failure.
        """
        headerBytes, headerFatal = header
        harness = newHarness()
        with LogWatch() as watch:
            client = StreamClient(harness)
            payload = headerBytes + b"".join(p.data for p in pieces)
            problems = feed(client, payload, data.draw(splitPoints(payload)))
            elements, parseProblems = received(client)
            problems += parseProblems
            oracle = Oracle(pieces, headerFatal=headerFatal)
            problems += oracle.check(elements, client.stream.closed)
            problems += stillServing(harness)
            client.stream.connectionLost(failure.Failure(ConnectionError("gone")))
        problems += watch.problems
        self.assertEqual(problems, [], "\n".join(problems) + f"\ninput: {payload[:2000]!r}")

    @fuzz(60)
    @given(st.data())
    def test_connectionLostMidStanza(self, data: st.DataObject) -> None:
        """
        A client whose connection drops after any prefix of its input
        (in the middle of a stanza, a tag or a UTF-8 sequence) leaves
        nothing logged as a failure, and another client is served.
        """
        harness = newHarness()
        with LogWatch() as watch:
            client = StreamClient(harness)
            client.login("alice")
            pieces = renumber(data.draw(c2sSessions(ADDRESSES, maxStanzas=4, maxDepth=100,
                                                    hugeSize=5_000)))
            payload = b"".join(p.data for p in pieces)
            cut = data.draw(st.integers(0, len(payload)))
            problems = feed(client, payload[:cut], [])
            try:
                client.stream.connectionLost(failure.Failure(ConnectionError("dropped")))
            except Exception:
                problems.append("exception out of connectionLost:\n" + traceback.format_exc())
            harness.clock.advance(3600)
            problems += stillServing(harness)
        problems += watch.problems
        self.assertEqual(problems, [], "\n".join(problems) + f"\ninput: {payload[:2000]!r}")
