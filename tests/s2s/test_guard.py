# -*- test-case-name: tests.s2s.test_guard -*-
"""
The node-wide bookkeeping of unauthenticated incoming streams and dialback
verifications, as plain data.
"""

from __future__ import annotations

from twisted.trial import unittest

from xmuc.s2s.guard import IncomingGuard


class IncomingGuardTests(unittest.TestCase):
    def test_perAddress(self) -> None:
        """
        Past perAddress unauthenticated streams from one address, the next
        is refused with policy-violation; other addresses are not
        affected.
        """
        guard = IncomingGuard(2, 0, 0)
        self.assertIsNone(guard.admit("s1", "10.0.0.1"))
        self.assertIsNone(guard.admit("s2", "10.0.0.1"))
        self.assertEqual(guard.admit("s3", "10.0.0.1")[0], "policy-violation")
        self.assertIsNone(guard.admit("s4", "10.0.0.2"))
        self.assertEqual(guard.unauthenticated, 3)

    def test_total(self) -> None:
        """
        Past total unauthenticated streams, the next is refused with
        resource-constraint, whatever its address.
        """
        guard = IncomingGuard(0, 2, 0)
        guard.admit("s1", "10.0.0.1")
        guard.admit("s2", "10.0.0.2")
        self.assertEqual(guard.admit("s3", "10.0.0.3")[0], "resource-constraint")

    def test_authenticatedOrEndedFreesAPlace(self) -> None:
        """
        A stream that authenticates, or ends, no longer counts; ending an
        authenticated or refused stream changes nothing.
        """
        guard = IncomingGuard(1, 0, 0)
        guard.admit("s1", "10.0.0.1")
        guard.authenticated("s1")
        self.assertIsNone(guard.admit("s2", "10.0.0.1"))
        self.assertIsNotNone(guard.admit("s3", "10.0.0.1"))
        guard.ended("s3")
        guard.ended("s1")
        self.assertEqual(guard.unauthenticated, 1)
        guard.ended("s2")
        self.assertIsNone(guard.admit("s4", "10.0.0.1"))

    def test_noLimits(self) -> None:
        """
        Zero means no limit.
        """
        guard = IncomingGuard(0, 0, 0)
        for number in range(100):
            self.assertIsNone(guard.admit(number, "10.0.0.1"))
            self.assertTrue(guard.startVerification())

    def test_rate(self) -> None:
        """
        An address may open a burst of streams at once, then rate per
        second; the refusal is policy-violation and other addresses are
        not affected.
        """
        guard = IncomingGuard(0, 0, 0, rate=2.0, burst=3)
        for number in range(3):
            self.assertIsNone(guard.admit(number, "10.0.0.1", 100.0))
        self.assertEqual(guard.admit(3, "10.0.0.1", 100.0)[0], "policy-violation")
        self.assertIsNone(guard.admit(4, "10.0.0.2", 100.0))
        self.assertIsNone(guard.admit(5, "10.0.0.1", 100.5))
        self.assertIsNotNone(guard.admit(6, "10.0.0.1", 100.5))

    def test_rateForgetsQuietAddresses(self) -> None:
        """
        Many addresses opening one stream each are not all remembered:
        once their buckets have refilled they are forgotten, and an
        address forgotten gets a full burst again.
        """
        guard = IncomingGuard(0, 0, 0, rate=1.0, burst=2)
        for number in range(5000):
            guard.admit(number, f"10.0.{number // 256}.{number % 256}", float(number))
        self.assertLess(guard.rememberedAddresses, 2048)
        guard.admit("a", "10.9.9.9", 6000.0)
        guard.admit("b", "10.9.9.9", 6000.0)
        self.assertIsNotNone(guard.admit("c", "10.9.9.9", 6000.0))

    def test_refusalsCounted(self) -> None:
        """
        The refusals of an address are counted until it is admitted again.
        """
        guard = IncomingGuard(1, 0, 0)
        guard.admit("s1", "10.0.0.1")
        guard.admit("s2", "10.0.0.1")
        guard.admit("s3", "10.0.0.1")
        self.assertEqual((guard.refusals("10.0.0.1"), guard.refusals("10.0.0.2")), (2, 0))
        guard.ended("s1")
        guard.admit("s4", "10.0.0.1")
        self.assertEqual(guard.refusals("10.0.0.1"), 0)

    def test_verifications(self) -> None:
        """
        At most verificationsMax verifications are under way; one ending
        makes room for another.
        """
        guard = IncomingGuard(0, 0, 2)
        self.assertTrue(guard.startVerification())
        self.assertTrue(guard.startVerification())
        self.assertFalse(guard.startVerification())
        self.assertEqual(guard.verifications, 2)
        guard.endVerification()
        self.assertTrue(guard.startVerification())
