# -*- test-case-name: tests.fuzz.test_s2s -*-
"""
Server-to-server streams built by hypothesis, fed into a real
L{IncomingStream} over a L{StringTransport}: before authentication
(headers, dialback elements with any addresses and keys, stanzas) and
after a dialback the fake authority accepts (valid and mutated stanzas,
spoofed and foreign addresses). Nothing is logged as a failure, stream
errors are defined and end the stream, the errors sent back to the peer's
domain are defined with the right type, and the node still serves a
client and another peer afterwards.
"""

from __future__ import annotations

import traceback
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from twisted.internet import defer
from twisted.internet.testing import StringTransport
from twisted.python import failure
from twisted.trial import unittest

from tests.c2s import StreamReader
from tests.fuzz import LogWatch, fuzz, renumber, stillServing
from tests.fuzz.oracle import Oracle
from tests.fuzz.pieces import DB, NS_STANZAS, STANZA_CONDITIONS, Piece, chunks, splitPoints
from tests.fuzz.strategies import dialbackPieces, s2sHeaders, s2sStanzas
from tests.support.harness import Harness
from xmuc.s2s.incoming import IncomingStream
from xmuc.s2s.manager import S2SManager
from xmuc.s2s.tls import PeerVerifier

HEADER = (
    "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
    "xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' "
    "from='b.test' to='a.test' version='1.0'>"
).encode()


class FakeLink:
    """
    The outgoing link to the peer: records what the node sends it, and
    answers dialback verification as the peer's authority would.
    """

    def __init__(self, valid: bool) -> None:
        self.sent: list[Any] = []
        self.valid = valid

    def send(self, stanza: Any) -> None:
        self.sent.append(stanza)

    def verify(self, element: Any) -> defer.Deferred:
        return defer.succeed(self.valid)


class FakeAuthorityManager(S2SManager):
    """
    An s2s manager whose links are L{FakeLink}s (no connections out).
    """

    def __init__(self, *args: Any, valid: bool = True) -> None:
        super().__init__(*args)
        self.fakeLinks: dict[tuple[str, str], FakeLink] = {}
        self.valid = valid

    def link(self, local: str, remote: str) -> Any:
        return self.fakeLinks.setdefault((local, remote), FakeLink(self.valid))


def setUpNode(valid: bool = True) -> tuple[Harness, FakeAuthorityManager]:
    harness = Harness(
        domain="a.test",
        config="[c2s]\nrequire_tls = false\n[s2s]\ndialback_secret = s3cret\nrequire_tls = false\n",
    )
    for user in ("alice", "carol"):
        harness.createUser(user)
    manager = FakeAuthorityManager(harness.node, None, None, PeerVerifier(""), valid=valid)
    harness.node.router.remote = manager
    harness.login("alice")
    return harness, manager


class Peer:
    """
    One incoming s2s connection driven by a test.
    """

    def __init__(self, manager: S2SManager) -> None:
        self.stream = IncomingStream(manager)
        self.transport = StringTransport()
        self.reader = StreamReader()
        self.stream.makeConnection(self.transport)

    def feed(self, data: bytes, points: list[int]) -> list[str]:
        for chunk in chunks(data, points):
            if self.stream.closed:
                break
            try:
                self.stream.dataReceived(chunk)
            except Exception:
                return ["exception out of dataReceived:\n" + traceback.format_exc()]
        return []

    def received(self) -> tuple[list, list[str]]:
        try:
            self.reader.feed(self.transport.value())
        except Exception:
            return [], ["the node wrote what does not parse:\n" + traceback.format_exc()]
        self.transport.clear()
        elements, self.reader.elements = self.reader.elements, []
        return elements, []

    def authenticate(self) -> None:
        """
        Dialback for b.test, which the fake authority says is valid.
        """
        self.stream.dataReceived(HEADER)
        self.stream.dataReceived(f"<db:result from='b.test' to='a.test'>{'0' * 64}</db:result>".encode())
        assert "b.test" in self.stream.authenticated, self.transport.value()
        self.received()


def bounced(manager: FakeAuthorityManager, pieces: list[Piece]) -> list[str]:
    """
    Problems in the errors the node sent back to the peer's domain.
    """
    byId = {p.stanzaId: p for p in pieces if p.stanzaId}
    problems = []
    for link in manager.fakeLinks.values():
        for stanza in link.sent:
            if stanza.getAttribute("type") != "error":
                continue
            errors = [e for e in stanza.elements() if e.name == "error"]
            if not errors:
                continue
            conditions = [c.name for c in errors[0].elements()
                          if c.uri == NS_STANZAS and c.name != "text"]
            if len(conditions) != 1 or conditions[0] not in STANZA_CONDITIONS:
                problems.append(f"bounce without one defined condition: {stanza.toXml()[:300]}")
            elif errors[0].getAttribute("type") not in STANZA_CONDITIONS[conditions[0]]:
                problems.append(f"bounce {conditions[0]} with type {errors[0].getAttribute('type')}")
            elif conditions[0] == "internal-server-error":
                problems.append(f"internal-server-error bounced: {stanza.toXml()[:300]}")
            else:
                piece = byId.get(stanza.getAttribute("id"))
                if piece is not None and piece.allowed is not None and conditions[0] not in piece.allowed:
                    problems.append(f"{conditions[0]} bounced for {piece.label} (allowed: "
                                    f"{sorted(piece.allowed) or 'no error'}): {piece.data[:200]!r}")
        link.sent.clear()
    return problems


def anotherPeer(manager: FakeAuthorityManager) -> list[str]:
    """
    Another peer still gets its db:verify answered.
    """
    peer = Peer(manager)
    key = manager.dialbackKey("c.test", "a.test", "sid")
    peer.stream.dataReceived(HEADER.replace(b"b.test", b"c.test"))
    peer.stream.dataReceived(f"<db:verify from='c.test' to='a.test' id='sid'>{key}</db:verify>".encode())
    data = peer.transport.value()
    peer.stream.connectionLost(failure.Failure(ConnectionError("done")))
    if b"type='valid'" not in data:
        return [f"another peer's db:verify was not answered valid: {data[-300:]!r}"]
    return []


class IncomingStreamFuzzTests(unittest.TestCase):
    """
    What a peer sends on an incoming s2s stream.
    """

    @fuzz(120)
    @given(s2sHeaders(), st.lists(st.one_of(dialbackPieces(), s2sStanzas()), max_size=8),
           st.data())
    def test_unauthenticated(self, header: tuple, pieces: list[Piece], data: st.DataObject) -> None:
        """
        A valid or mutated header, then dialback elements with any
        addresses, ids and keys, and stanzas (which end an unauthenticated
        stream with not-authorized, a stream error for their addressing,
        or policy-violation past the pre-authentication parse limits):
        defined stream errors that end the stream, nothing
        logged as a failure, and the node serves a client and another
        peer afterwards.
        """
        headerBytes, headerFatal = header
        harness, manager = setUpNode(valid=False)
        with LogWatch() as watch:
            peer = Peer(manager)
            pieces = [
                p if p.label.startswith("dialback") else
                Piece(p.data, p.label, p.stanzaId,
                      fatal=frozenset({"not-authorized", "improper-addressing", "invalid-from",
                                       "host-unknown", "policy-violation"}))
                for p in renumber(pieces)
            ]
            payload = headerBytes + b"".join(p.data for p in pieces)
            problems = peer.feed(payload, data.draw(splitPoints(payload)))
            elements, parseProblems = peer.received()
            problems += parseProblems
            # An invalid dialback result closes the stream without an error.
            results = [e for e in elements if e.uri == DB and e.name == "result"
                       and e.getAttribute("type") == "invalid"]
            problems += Oracle(pieces, headerFatal=headerFatal, requireAnswers=False).check(
                elements, peer.stream.closed, quietEnd=bool(results))
            problems += bounced(manager, pieces)
            problems += stillServing(harness, "a.test")
            problems += anotherPeer(manager)
            peer.stream.connectionLost(failure.Failure(ConnectionError("gone")))
        problems += watch.problems
        self.assertEqual(problems, [], "\n".join(problems) + f"\ninput: {payload[:2000]!r}")

    @fuzz(150)
    @given(st.lists(st.one_of(s2sStanzas(maxDepth=300, hugeSize=20_000), dialbackPieces()),
                    max_size=10), st.data())
    def test_authenticated(self, pieces: list[Piece], data: st.DataObject) -> None:
        """
        After dialback, valid and mutated stanzas from the peer's domain
        (and spoofed, unaddressed or foreign ones, which end the stream
        with their stream error) reach the local users or are answered
        over the link with defined errors of the right type; nothing is
        logged as a failure; the node serves a client and another peer.
        """
        harness, manager = setUpNode()
        with LogWatch() as watch:
            peer = Peer(manager)
            peer.authenticate()
            pieces = renumber(pieces)
            payload = b"".join(p.data for p in pieces)
            problems = peer.feed(payload, data.draw(splitPoints(payload)))
            elements, parseProblems = peer.received()
            problems += parseProblems
            problems += Oracle(pieces, requireAnswers=False).check(elements, peer.stream.closed)
            problems += bounced(manager, pieces)
            problems += stillServing(harness, "a.test")
            problems += anotherPeer(manager)
            peer.stream.connectionLost(failure.Failure(ConnectionError("gone")))
        problems += watch.problems
        self.assertEqual(problems, [], "\n".join(problems) + f"\ninput: {payload[:2000]!r}")

