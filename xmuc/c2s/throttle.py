# -*- test-case-name: tests.c2s.test_throttle -*-
"""
Throttling of failed authentications, per client address and per account.

Each key (an address, or an account name) counts its failed
authentications; the count is forgotten C{window} seconds after the last
failure once no backoff is running, or at a success. From the C{limit}-th
failure within the window on, the key backs off: the k-th failure past
the limit (k = 0, 1, ...) starts a backoff of C{backoff * 2**k} seconds,
at most C{backoffMax}.

The two keys back off differently, so that an attacker cannot lock the
owner of an account out from elsewhere:

  - an address in backoff is refused: its attempts are answered
    C{temporary-auth-failure} at once, without a password check, until
    the backoff ends (IPv6 addresses count by their /64 prefix, the unit
    a single host usually holds);
  - an account in backoff is only slowed: each attempt on it waits out
    the remaining backoff before its password is checked, and is then
    judged on its merits, so the right password still logs in.

A key is logged at warning once when its backoff starts, with the
address and the account, and not again until it is forgotten.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from twisted.internet import defer, task
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from xmuc.c2s.scram import SASLFailure


@dataclass(frozen=True)
class ThrottleLimits:
    """
    @ivar perAddress: failures from one address before it is refused
        (0: never).
    @ivar perAccount: failures on one account before its attempts are
        delayed (0: never).
    @ivar window: seconds a failure is remembered.
    @ivar backoff: the first backoff, in seconds; it doubles per failure.
    @ivar backoffMax: the longest backoff.
    """

    perAddress: int = 5
    perAccount: int = 10
    window: float = 300.0
    backoff: float = 1.0
    backoffMax: float = 300.0


@dataclass
class _Record:
    failures: int
    last: float
    until: float = 0.0
    warned: bool = False


@dataclass(frozen=True)
class Verdict:
    """
    What to do with an attempt: C{refuse} it now, or check it after
    C{delay} seconds (0: at once).
    """

    refuse: bool = False
    delay: float = 0.0


def addressKey(host: str) -> str:
    """
    The throttling key of a client address: the address, or the /64 of an
    IPv6 one.
    """
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class _Table:
    """
    The records of one kind of key, forgetting those that expired.
    """

    def __init__(self, limit: int, limits: ThrottleLimits) -> None:
        self.limit = limit
        self._limits = limits
        self._records: dict[str, _Record] = {}
        self._sweepAt = 1024

    def get(self, key: str, now: float) -> _Record | None:
        record = self._records.get(key)
        if record is not None and self._expired(record, now):
            del self._records[key]
            return None
        return record

    def _expired(self, record: _Record, now: float) -> bool:
        return now >= max(record.last + self._limits.window, record.until)

    def fail(self, key: str, now: float) -> _Record | None:
        """
        Count a failure; return the record if this failure starts a
        backoff that was not logged yet.
        """
        if not self.limit:
            return None
        record = self.get(key, now)
        if record is None:
            record = self._records[key] = _Record(0, now)
            self._sweep(now)
        record.failures += 1
        record.last = now
        excess = record.failures - self.limit
        if excess < 0:
            return None
        limits = self._limits
        record.until = now + min(limits.backoff * 2 ** min(excess, 32), limits.backoffMax)
        if record.warned:
            return None
        record.warned = True
        return record

    def forget(self, key: str) -> None:
        self._records.pop(key, None)

    def _sweep(self, now: float) -> None:
        """
        Drop expired records once the table has doubled since the last
        sweep, so that many one-off keys do not pile up.
        """
        if len(self._records) < self._sweepAt:
            return
        for key in [k for k, r in self._records.items() if self._expired(r, now)]:
            del self._records[key]
        self._sweepAt = max(1024, 2 * len(self._records))

    def __len__(self) -> int:
        return len(self._records)


#: Refused connections one address may have held open at once (beyond,
#: they are refused at once).
HELD_PER_ADDRESS = 32


class AuthThrottle:
    """
    The failed-authentication records of one node (see the module
    docstring).
    """

    log = Logger()

    def __init__(self, clock: IReactorTime, limits: ThrottleLimits) -> None:
        self._clock = clock
        self.addresses = _Table(limits.perAddress, limits)
        self.accounts = _Table(limits.perAccount, limits)
        #: address key -> refused connections held open now.
        self._held: dict[str, int] = {}

    def check(self, address: str, account: str) -> Verdict:
        """
        What to do with an attempt from C{address} on C{account}.
        """
        now = self._clock.seconds()
        record = self.addresses.get(addressKey(address), now)
        if record is not None and record.until > now:
            return Verdict(refuse=True)
        record = self.accounts.get(account, now)
        if record is not None and record.until > now:
            return Verdict(delay=record.until - now)
        return Verdict()

    def hold(self, address: str) -> bool:
        """
        Take one of C{address}'s places for a refused connection held
        open before its refusal (L{HELD_PER_ADDRESS}).

        @return: C{False} when they are all taken (refuse at once then).
        """
        key = addressKey(address)
        held = self._held.get(key, 0)
        if held >= HELD_PER_ADDRESS:
            return False
        self._held[key] = held + 1
        return True

    def unhold(self, address: str) -> None:
        """
        A connection taken by L{hold} ended.
        """
        key = addressKey(address)
        held = self._held.get(key, 0) - 1
        if held > 0:
            self._held[key] = held
        else:
            self._held.pop(key, None)

    def refusing(self, address: str) -> bool:
        """
        Whether attempts from C{address} are refused now (it is in
        backoff): the node then refuses its new connections at once,
        before they cost a TLS handshake.
        """
        now = self._clock.seconds()
        record = self.addresses.get(addressKey(address), now)
        return record is not None and record.until > now

    def admit(self, address: str, account: str) -> defer.Deferred:
        """
        A Deferred that fires when an attempt from C{address} on C{account}
        may go on (at once, or after the account's backoff), or fails with
        C{temporary-auth-failure} while the address is in backoff.
        """
        verdict = self.check(address, account)
        if verdict.refuse:
            return defer.fail(
                SASLFailure("temporary-auth-failure", "too many failed attempts, try later")
            )
        if not verdict.delay:
            return defer.succeed(None)
        return task.deferLater(self._clock, verdict.delay, lambda: None)

    def failed(self, address: str, account: str) -> None:
        """
        An attempt from C{address} on C{account} failed.
        """
        now = self._clock.seconds()
        key = addressKey(address)
        if self.addresses.fail(key, now) is not None:
            self.log.warn(
                "Refusing authentication from {address} for a while: "
                "{limit} failures (the last for {account!r})",
                address=key,
                account=account,
                limit=self.addresses.limit,
            )
        if self.accounts.fail(account, now) is not None:
            self.log.warn(
                "Delaying authentication for account {account!r}: {limit} failures "
                "(the last from {address})",
                address=key,
                account=account,
                limit=self.accounts.limit,
            )

    def succeeded(self, address: str, account: str) -> None:
        """
        An attempt from C{address} on C{account} succeeded: both are
        forgotten.
        """
        self.addresses.forget(addressKey(address))
        self.accounts.forget(account)
