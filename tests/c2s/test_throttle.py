# -*- test-case-name: tests.c2s.test_throttle -*-
"""
Tests for L{xmuc.c2s.throttle} and L{xmuc.c2s.derivation} through real
L{C2SStream}s on a L{task.Clock}: failed logins back off per address
(refused) and per account (delayed), and password hashing goes through
the node's injected key derivation.
"""

from __future__ import annotations

import base64
from typing import Any

from scramp import ScramClient
from twisted.internet.task import Clock
from twisted.logger import Logger
from twisted.trial import unittest

from tests.c2s import NS_SASL, StreamClient, StreamReader, saslFailureCondition, streamErrorCondition
from tests.c2s.test_sasl import plain
from tests.support.harness import Harness
from xmuc.c2s.derivation import DerivationBusy, ThreadedDerivation
from xmuc.c2s.throttle import addressKey

CONFIG = (
    "[c2s]\nrequire_tls = false\nauth_failures_per_address = 3\n"
    "auth_failures_per_account = 4\nauth_window = 60\nauth_backoff = 2\n"
    "auth_backoff_max = 10\nrefused_hold = 0\n"
)


#: What L{ThrottleTestCase.attempt} answers for a connection dropped at once.
REFUSED = "connection refused"


class ThrottleTestCase(unittest.TestCase):
    """
    A node with the account alice (password C{secret}), three failures
    per address and four per account allowed in 60 s, backoff 2 s
    doubling to at most 10 s; every client is on direct TLS (PLAIN
    allowed).
    """

    config = CONFIG

    def setUp(self) -> None:
        self.harness = Harness(config=self.config)
        self.harness.createUser("alice", "secret")
        self.harness.createUser("bob", "secret")
        self.clock = self.harness.clock
        self.warnings: list[dict[str, Any]] = []
        self.harness.node.authThrottle.log = Logger(observer=self.warnings.append)

    def attempt(self, username: str, password: str, peer: str = "192.0.2.1") -> Any:
        """
        A PLAIN attempt on a fresh stream; the server's answer, L{None}
        while it is held back, or L{REFUSED} when the connection was
        dropped at once (its address is in backoff).
        """
        client = StreamClient(self.harness, directTLS=True, peer=peer)
        self.last = client
        if client.transport.disconnected:
            return REFUSED
        client.open()
        data = base64.b64encode(plain(username, password)).decode("ascii")
        client.send(f"<auth xmlns='{NS_SASL}' mechanism='PLAIN'>{data}</auth>")
        answers = client.received()
        return answers[0] if answers else None

    def assertAnswer(self, answer: Any, expected: str) -> None:
        self.assertIsNotNone(answer)
        if expected == REFUSED or answer == REFUSED:
            self.assertEqual(answer, expected)
            return
        if expected == "success":
            self.assertEqual(answer.name, "success")
        else:
            self.assertEqual(saslFailureCondition(answer), expected)


class AddressTests(ThrottleTestCase):
    """
    Throttling by client address.
    """

    def test_refusedAfterFailures(self) -> None:
        """
        After three failures from an address (on any accounts), its next
        connection is dropped at once, before a TLS handshake, even to
        try the right password, and no password is hashed for it.
        """
        for username in ("alice", "bob", "nobody"):
            self.assertAnswer(self.attempt(username, "wrong"), "not-authorized")
        calls = self.harness.node.keyDerivation.calls
        self.assertAnswer(self.attempt("alice", "secret"), REFUSED)
        self.assertEqual(self.harness.node.keyDerivation.calls, calls)
        self.assertIsNone(self.last.stream.username)

    def test_openStreamRefusedAtSASL(self) -> None:
        """
        A stream opened before its address went into backoff gets
        C{temporary-auth-failure} for its next attempt, at once and without
        hashing.
        """
        waiting = StreamClient(self.harness, directTLS=True)
        waiting.open()
        for username in ("alice", "bob", "nobody"):
            self.attempt(username, "wrong")
        calls = self.harness.node.keyDerivation.calls
        data = base64.b64encode(plain("alice", "secret")).decode("ascii")
        waiting.send(f"<auth xmlns='{NS_SASL}' mechanism='PLAIN'>{data}</auth>")
        self.assertAnswer(waiting.receivedOne(), "temporary-auth-failure")
        self.assertEqual(self.harness.node.keyDerivation.calls, calls)

    def test_plaintextConnectionRefused(self) -> None:
        """
        On a port without direct TLS, a connection from an address in
        backoff gets the stream header and a C{policy-violation} stream
        error saying why, and is closed: no features, no TLS offered.
        """
        for username in ("alice", "bob", "nobody"):
            self.attempt(username, "wrong")
        client = StreamClient(self.harness)
        reader = StreamReader()
        reader.feed(client.transport.value())
        [error] = reader.elements
        self.assertEqual(streamErrorCondition(error), "policy-violation")
        self.assertIn(b"too many failed authentications", client.transport.value())
        self.assertTrue(client.transport.disconnecting)

    def test_backoffEndsAndDoubles(self) -> None:
        """
        The refusal lasts the backoff (2 s); the next failure doubles it.
        """
        for _ in range(3):
            self.attempt("bob", "wrong")
        self.clock.advance(1.9)
        self.assertAnswer(self.attempt("bob", "wrong"), REFUSED)
        self.clock.advance(0.1)
        self.assertAnswer(self.attempt("bob", "wrong"), "not-authorized")
        self.clock.advance(3.9)
        self.assertAnswer(self.attempt("bob", "wrong"), REFUSED)
        self.clock.advance(0.1)
        self.assertAnswer(self.attempt("bob", "secret"), "success")

    def test_successResets(self) -> None:
        """
        A success forgets the address's failures: three more are allowed.
        """
        for _ in range(2):
            self.attempt("bob", "wrong")
        self.assertAnswer(self.attempt("bob", "secret"), "success")
        for _ in range(3):
            self.assertAnswer(self.attempt("bob", "wrong"), "not-authorized")
        self.assertAnswer(self.attempt("bob", "wrong"), REFUSED)

    def test_otherAddressUnaffected(self) -> None:
        """
        A refused address does not affect another one.
        """
        for _ in range(3):
            self.attempt("bob", "wrong", peer="192.0.2.1")
        self.assertAnswer(self.attempt("bob", "secret", peer="192.0.2.1"), REFUSED)
        self.assertAnswer(self.attempt("bob", "secret", peer="192.0.2.2"), "success")

    def test_windowForgets(self) -> None:
        """
        Failures older than the window (60 s) are forgotten.
        """
        for _ in range(2):
            self.attempt("bob", "wrong")
        self.clock.advance(60)
        for _ in range(2):
            self.assertAnswer(self.attempt("bob", "wrong"), "not-authorized")

    def test_warnedOnce(self) -> None:
        """
        The address is logged at warning once when its backoff starts,
        with the address and the account, and not for each attempt.
        """
        for index in range(3):
            self.attempt(f"user{index}", "wrong")
        for index in range(3):
            self.clock.advance(11)
            self.attempt(f"other{index}", "wrong")
        [warning] = self.warnings
        self.assertEqual(warning["log_level"].name, "warn")
        self.assertEqual((warning["address"], warning["account"]), ("192.0.2.1", "user2"))

    def test_ipv6Prefix(self) -> None:
        """
        IPv6 addresses count by /64; IPv4-mapped ones as IPv4.
        """
        self.assertEqual(addressKey("2001:db8::1"), addressKey("2001:db8::ffff:2"))
        self.assertNotEqual(addressKey("2001:db8::1"), addressKey("2001:db8:0:1::1"))
        self.assertEqual(addressKey("::ffff:192.0.2.1"), "192.0.2.1")


class HoldTests(ThrottleTestCase):
    """
    Connections refused for their address are held open, unread, for
    C{refused_hold} seconds first (tarpitting), a bounded number per
    address.
    """

    config = CONFIG.replace("refused_hold = 0", "refused_hold = 1.5")

    def setUp(self) -> None:
        super().setUp()
        for username in ("alice", "bob", "nobody"):
            self.attempt(username, "wrong")

    def test_heldThenRefused(self) -> None:
        """
        A new connection from the address gets nothing, and is not read,
        for 1.5 s; then it is dropped (direct TLS) or gets the stream
        error.
        """
        tls = StreamClient(self.harness, directTLS=True)
        plaintext = StreamClient(self.harness)
        for client in (tls, plaintext):
            self.assertEqual(client.transport.value(), b"")
            self.assertEqual(client.transport.producerState, "paused")
            self.assertFalse(client.transport.disconnected or client.transport.disconnecting)
        self.clock.advance(1.5)
        self.assertTrue(tls.transport.disconnected)
        self.assertIn(b"policy-violation", plaintext.transport.value())
        self.assertTrue(plaintext.transport.disconnecting)

    def test_boundedPerAddress(self) -> None:
        """
        At most 32 are held per address: the 33rd is refused at once; a
        place is free again once a held connection is gone; another
        address is not held at all.
        """
        from xmuc.c2s.throttle import HELD_PER_ADDRESS

        held = [StreamClient(self.harness, directTLS=True) for _ in range(HELD_PER_ADDRESS)]
        self.assertFalse(any(c.transport.disconnected for c in held))
        extra = StreamClient(self.harness, directTLS=True)
        self.assertTrue(extra.transport.disconnected)
        held[0].stream.connectionLost(None)
        again = StreamClient(self.harness, directTLS=True)
        self.assertFalse(again.transport.disconnected)
        other = StreamClient(self.harness, directTLS=True, peer="192.0.2.99")
        self.assertFalse(other.transport.disconnected)
        self.assertEqual(other.transport.producerState, "producing")


class PendingTests(ThrottleTestCase):
    """
    A failure whose answer nobody waits for any more still counts.
    """

    def setUp(self) -> None:
        super().setUp()
        self.pool = _FakePool()
        self.harness.node.keyDerivation = ThreadedDerivation(_FakeReactor(), 1, 100, pool=self.pool)

    def test_closedBeforeHashedCounts(self) -> None:
        """
        A PLAIN attempt whose stream closes before its password is checked
        (or that the client abandons for a new one) counts as a failure
        of its address and account when the check fails: otherwise a
        guesser that never waits for the answer hashes for free, forever.
        """
        for username in ("alice", "bob", "nobody"):
            self.assertIsNone(self.attempt(username, "wrong"))
            self.last.stream.connectionLost()
        self.pool.runAll()
        self.assertAnswer(self.attempt("alice", "secret"), REFUSED)

    def test_replacedBeforeHashedCounts(self) -> None:
        """
        Likewise for attempts replaced by a new C{<auth/>} on the same
        stream before their check ended.
        """
        client = StreamClient(self.harness, directTLS=True)
        client.open()
        for username in ("alice", "bob", "nobody", "alice"):
            data = base64.b64encode(plain(username, "wrong")).decode("ascii")
            client.send(f"<auth xmlns='{NS_SASL}' mechanism='PLAIN'>{data}</auth>")
        self.pool.runAll()
        self.assertAnswer(self.attempt("alice", "secret"), REFUSED)


class ConcurrentTests(ThrottleTestCase):
    """
    Attempts started together are judged against the failures recorded
    when they end, not when they began.
    """

    def test_parallelScramRefusedAtFinal(self) -> None:
        """
        Ten SCRAM exchanges from one address all get their challenge
        before any fails; once three of their proofs failed, the others
        get C{temporary-auth-failure} without their proof being judged,
        even the one with the right password, so parallel streams do not
        multiply a guesser's attempts past the limit.
        """
        exchanges = []
        for index in range(10):
            client = StreamClient(self.harness, directTLS=True)
            client.open()
            password = "secret" if index == 9 else "wrong"
            scram = ScramClient(["SCRAM-SHA-256"], "alice", password)
            challenge = client.auth("SCRAM-SHA-256", scram.get_client_first().encode())
            self.assertEqual(challenge.name, "challenge")
            scram.set_server_first(base64.b64decode(str(challenge)).decode())
            exchanges.append((client, scram))
        answers = []
        for client, scram in exchanges:
            answer = client.response(scram.get_client_final().encode())
            answers.append("success" if answer.name == "success" else saslFailureCondition(answer))
        self.assertEqual(answers, ["not-authorized"] * 3 + ["temporary-auth-failure"] * 7)
        self.assertIsNone(exchanges[-1][0].stream.username)


class AccountTests(ThrottleTestCase):
    """
    Throttling by account.
    """

    def failFromMany(self, username: str, count: int) -> None:
        for index in range(count):
            answer = self.attempt(username, "wrong", peer=f"198.51.100.{index + 1}")
            self.assertAnswer(answer, "not-authorized")

    def test_delayedNotRefused(self) -> None:
        """
        After four failures on an account from different addresses, an
        attempt on it from elsewhere waits out the backoff and is then
        judged on its password: the owner is slowed, not locked out.
        """
        self.failFromMany("alice", 4)
        self.assertIsNone(self.attempt("alice", "secret", peer="203.0.113.9"))
        self.clock.advance(1.9)
        self.assertEqual(self.last.received(), [])
        self.clock.advance(0.1)
        self.assertAnswer(self.last.receivedOne(), "success")
        self.assertEqual(self.last.stream.username, "alice")

    def test_otherAccountUnaffected(self) -> None:
        """
        A throttled account does not slow another.
        """
        self.failFromMany("alice", 4)
        self.assertAnswer(self.attempt("bob", "secret", peer="203.0.113.9"), "success")

    def test_delayCapped(self) -> None:
        """
        However many failures, the delay stays at most auth_backoff_max.
        """
        self.failFromMany("alice", 4)
        for index in range(10):
            self.assertIsNone(self.attempt("alice", "wrong", peer=f"203.0.113.{index + 1}"))
            self.clock.advance(10)
            self.assertAnswer(self.last.receivedOne(), "not-authorized")
        self.assertIsNone(self.attempt("alice", "secret", peer="203.0.113.200"))
        self.clock.advance(10)
        self.assertAnswer(self.last.receivedOne(), "success")

    def test_closedWhileDelayed(self) -> None:
        """
        A stream that closes while its attempt waits costs no hashing.
        """
        self.failFromMany("alice", 4)
        calls = self.harness.node.keyDerivation.calls
        self.assertIsNone(self.attempt("alice", "secret", peer="203.0.113.9"))
        self.last.stream.connectionLost()
        self.clock.advance(2)
        self.assertEqual(self.harness.node.keyDerivation.calls, calls)


class DerivationTests(ThrottleTestCase):
    """
    Key derivation goes through the node's injected derivation.
    """

    def test_plainUsesDerivation(self) -> None:
        """
        A PLAIN check hashes through the derivation, once, for a real
        account and for an unknown one alike.
        """
        derivation = self.harness.node.keyDerivation
        for username in ("alice", "nobody"):
            before = derivation.calls
            self.assertAnswer(self.attempt(username, "wrong", peer="192.0.2.50"), "not-authorized")
            self.assertEqual(derivation.calls - before, 1)

    def test_threadedRunsInPool(self) -> None:
        """
        L{ThreadedDerivation} hands the work to its pool and fires on the
        reactor with the result.
        """
        pool = _FakePool()
        derivation = ThreadedDerivation(_FakeReactor(), 1, 2, pool=pool)
        results: list[Any] = []
        derivation.run(lambda a, b: a + b, 2, 3).addCallback(results.append)
        self.assertEqual((results, derivation.pending), ([], 1))
        pool.runAll()
        self.assertEqual((results, derivation.pending), ([5], 0))

    def test_threadedQueueBounded(self) -> None:
        """
        Past C{queue} jobs waiting, L{ThreadedDerivation} fails at once
        with C{temporary-auth-failure} instead of queueing more.
        """
        derivation = ThreadedDerivation(_FakeReactor(), 1, 2, pool=_FakePool())
        derivation.run(int)
        derivation.run(int)
        failure = self.failureResultOf(derivation.run(int), DerivationBusy)
        self.assertEqual(failure.value.condition, "temporary-auth-failure")

    def test_serviceDerivation(self) -> None:
        """
        The node service gives its node a threaded derivation sized by
        [c2s] hash_threads and hash_queue.
        """
        from xmuc.config import parseConfig
        from xmuc.tap import NodeService

        directory = self.mktemp()
        config = parseConfig(
            f"[node]\ndata_dir = {directory}\n[storage]\nbackend = memory\n"
            "[c2s]\nhash_threads = 3\nhash_queue = 7\n"
        )
        service = NodeService(config, _FakeReactor())
        derivation = service.node.keyDerivation
        self.assertIsInstance(derivation, ThreadedDerivation)
        self.assertEqual((derivation._pool.max, derivation._limit), (3, 7))


class _FakePool:
    """
    A thread pool that runs its work when told to.
    """

    def __init__(self) -> None:
        self.jobs: list[tuple[Any, ...]] = []

    def callInThreadWithCallback(self, onResult: Any, function: Any, *args: Any) -> None:
        self.jobs.append((onResult, function, args))

    def runAll(self) -> None:
        jobs, self.jobs = self.jobs, []
        for onResult, function, args in jobs:
            onResult(True, function(*args))


class _FakeReactor(Clock):
    """
    A clock that runs C{callFromThread} at once.
    """

    def callFromThread(self, function: Any, *args: Any, **kwargs: Any) -> None:
        function(*args, **kwargs)
