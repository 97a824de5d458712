# -*- test-case-name: tests.s2s.test_guard -*-
"""
Node-wide bounds on what peers that have not authenticated may make the
node do: how fast one address may open incoming s2s streams, how many may
wait unauthenticated, from one address and in all, and how many dialback
verifications (each one an outgoing link to the domain a peer claims) may
be under way at once.

Pure bookkeeping, no reactor: the incoming streams ask before they
accept, and say when they authenticate or end. The per-stream bounds
(dialback requests on one stream) live in L{xmuc.s2s.incoming}.
"""

from __future__ import annotations

from collections import Counter
from typing import Hashable


class IncomingGuard:
    """
    @ivar perAddress: unauthenticated streams one address may hold open
        (0: no limit).
    @ivar total: unauthenticated streams of the node (0: no limit).
    @ivar verificationsMax: dialback verifications under way at once
        (0: no limit).
    @ivar verifications: how many are under way.
    @ivar rate: new streams per second one address may open on average
        (0: no limit), in bursts of C{burst}.
    """

    def __init__(
        self,
        perAddress: int,
        total: int,
        verificationsMax: int,
        rate: float = 0.0,
        burst: int = 1,
    ) -> None:
        self.perAddress = perAddress
        self.total = total
        self.verificationsMax = verificationsMax
        self.rate = rate
        self.burst = max(1, burst)
        self.verifications = 0
        self._waiting: dict[Hashable, str] = {}
        self._byAddress: Counter[str] = Counter()
        #: address -> (tokens, when): one token bucket per address.
        self._buckets: dict[str, tuple[float, float]] = {}
        self._pruneAt = 1024
        #: address -> streams refused since one was last admitted.
        self._refusals: Counter[str] = Counter()

    @property
    def unauthenticated(self) -> int:
        """
        The unauthenticated streams admitted and not yet ended.
        """
        return len(self._waiting)

    @property
    def rememberedAddresses(self) -> int:
        """
        The addresses whose rate of new streams is being followed.
        """
        return len(self._buckets)

    def admit(self, stream: Hashable, address: str, now: float = 0.0) -> tuple[str, str] | None:
        """
        A new incoming stream from C{address} at C{now}: count it as
        unauthenticated.

        @return: L{None} when admitted, else the stream error condition and
            text to refuse it with (the stream is then not counted):
            C{policy-violation} when its address opens streams too fast or
            holds too many already, C{resource-constraint} when the node
            does.
        """
        refusal = self._refusal(address, now)
        if refusal is not None:
            if len(self._refusals) >= 4096:
                # Only log lines are lost; many refused addresses must not
                # grow this without end.
                self._refusals.clear()
            self._refusals[address] += 1
            return refusal
        self._refusals.pop(address, None)
        self._waiting[stream] = address
        self._byAddress[address] += 1
        return None

    def _refusal(self, address: str, now: float) -> tuple[str, str] | None:
        if self.rate and not self._take(address, now):
            return "policy-violation", "too many new streams from your address; slow down"
        if self.perAddress and self._byAddress[address] >= self.perAddress:
            return "policy-violation", "too many unauthenticated streams from your address"
        if self.total and len(self._waiting) >= self.total:
            return "resource-constraint", "too many unauthenticated streams; try later"
        return None

    def refusals(self, address: str) -> int:
        """
        The streams from C{address} refused since one was last admitted.
        """
        return self._refusals[address]

    def _take(self, address: str, now: float) -> bool:
        """
        Take a token from C{address}'s bucket, if it has one.
        """
        tokens, when = self._buckets.get(address, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - when) * self.rate)
        if tokens < 1:
            self._buckets[address] = (tokens, now)
            return False
        self._buckets[address] = (tokens - 1, now)
        if len(self._buckets) >= self._pruneAt:
            self._prune(now)
        return True

    def _prune(self, now: float) -> None:
        """
        Forget the buckets that have refilled (the same as no bucket), so
        that many addresses opening a stream each leave nothing behind.
        """
        self._buckets = {
            address: (tokens, when)
            for address, (tokens, when) in self._buckets.items()
            if tokens + (now - when) * self.rate < self.burst
        }
        self._pruneAt = max(1024, 2 * len(self._buckets))

    def authenticated(self, stream: Hashable) -> None:
        """
        C{stream} authenticated a domain: it no longer counts.
        """
        address = self._waiting.pop(stream, None)
        if address is not None:
            self._byAddress[address] -= 1
            if not self._byAddress[address]:
                del self._byAddress[address]

    def ended(self, stream: Hashable) -> None:
        """
        C{stream} ended (whether or not it authenticated or was admitted).
        """
        self.authenticated(stream)

    def startVerification(self) -> bool:
        """
        Take a place for one dialback verification.

        @return: C{False} when as many as allowed are under way (nothing is
            taken then).
        """
        if self.verificationsMax and self.verifications >= self.verificationsMax:
            return False
        self.verifications += 1
        return True

    def endVerification(self) -> None:
        """
        A verification taken with L{startVerification} is over.
        """
        self.verifications -= 1
