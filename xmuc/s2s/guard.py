# -*- test-case-name: tests.s2s.test_guard -*-
"""
Node-wide bounds on what peers that have not authenticated may make the
node do: how many incoming s2s streams may wait unauthenticated, from one
address and in all, and how many dialback verifications (each one an
outgoing link to the domain a peer claims) may be under way at once.

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
    """

    def __init__(self, perAddress: int, total: int, verificationsMax: int) -> None:
        self.perAddress = perAddress
        self.total = total
        self.verificationsMax = verificationsMax
        self.verifications = 0
        self._waiting: dict[Hashable, str] = {}
        self._byAddress: Counter[str] = Counter()

    @property
    def unauthenticated(self) -> int:
        """
        The unauthenticated streams admitted and not yet ended.
        """
        return len(self._waiting)

    def admit(self, stream: Hashable, address: str) -> tuple[str, str] | None:
        """
        A new incoming stream from C{address}: count it as unauthenticated.

        @return: L{None} when admitted, else the stream error condition and
            text to refuse it with (the stream is then not counted):
            C{policy-violation} when its address holds too many already,
            C{resource-constraint} when the node does.
        """
        if self.perAddress and self._byAddress[address] >= self.perAddress:
            return "policy-violation", "too many unauthenticated streams from your address"
        if self.total and len(self._waiting) >= self.total:
            return "resource-constraint", "too many unauthenticated streams; try later"
        self._waiting[stream] = address
        self._byAddress[address] += 1
        return None

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
