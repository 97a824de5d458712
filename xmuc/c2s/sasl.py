# -*- test-case-name: tests.c2s.test_sasl -*-
"""
Server-side SASL mechanisms: SCRAM-SHA-1, SCRAM-SHA-256, their -PLUS
variants with channel binding (L{xmuc.c2s.scram}; the types are those the
stream can compute, see L{xmuc.tls.connectionBindings}), and PLAIN.

Passwords are never stored: an account keeps one L{ScramCredentials} per
SCRAM hash, and PLAIN is checked by deriving the SCRAM keys from the
offered password with the stored salt. That derivation (and making the
credentials of a new password) runs through the node's key derivation
(L{xmuc.c2s.derivation}), off the reactor thread.

A mechanism is a small object fed the client's messages (already base64
decoded); it answers with L{Challenge}, L{Success} or raises L{SASLFailure}.
Credential look-ups are asynchronous, so C{step} returns a Deferred. Once a
mechanism knows the account, it asks the stream's C{admit} whether (and
when) to go on (L{xmuc.c2s.throttle}).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Mapping

from scramp import ScramMechanism
from twisted.internet import defer

from xmuc.c2s.scram import ClientFirst, SASLFailure, ScramExchange, parseClientFirst
from xmuc.core.jid import InvalidJID, prepLocalpart
from xmuc.storage.interfaces import ScramCredentials

SCRAM_HASHES = ("SCRAM-SHA-1", "SCRAM-SHA-256")
ITERATIONS = 4096

CredentialLookup = Callable[[str], Awaitable["dict[str, ScramCredentials] | None"]]

__all__ = ["SASLFailure", "Challenge", "Success", "MechanismSet", "makeCredentials"]


@dataclass(frozen=True)
class Challenge:
    data: bytes


@dataclass(frozen=True)
class Success:
    username: str
    data: bytes | None = None
    #: The channel binding type the exchange was bound to, if any.
    bindingType: str | None = None


def makeCredentials(password: str) -> list[ScramCredentials]:
    """
    The credentials to store for a password, one per SCRAM hash (a
    PBKDF2 run each: call it through a key derivation where it matters).
    """
    result = []
    for mechanism in SCRAM_HASHES:
        salt, stored, server, iterations = ScramMechanism(mechanism).make_auth_info(
            password, iteration_count=ITERATIONS
        )
        result.append(ScramCredentials(mechanism, salt, stored, server, iterations))
    return result


#: Keys the salts of the stand-in credentials for unknown accounts. Fixed
#: for the process, so that asking twice about one name gives one salt.
_FAKE_SALT_KEY = os.urandom(32)


def _fakeCredentials(mechanism: str, username: str) -> ScramCredentials:
    """
    Stand-in credentials for an account that does not exist, shaped like
    real ones (scramp's 32-byte salt, the same iteration count) and with a
    salt that is the same each time, so that the challenge does not tell
    which usernames exist; no password verifies against them.
    """
    salt = hmac.new(
        _FAKE_SALT_KEY, f"{mechanism}\0{username}".encode("utf-8"), hashlib.sha256
    ).digest()
    return ScramCredentials(mechanism, salt, os.urandom(32), os.urandom(32), ITERATIONS)


def _checkPassword(password: str, credentials: ScramCredentials) -> bool:
    """
    Whether C{password} derives the stored SCRAM keys (PBKDF2: slow).
    """
    salt, stored, server, _ = ScramMechanism(credentials.mechanism).make_auth_info(
        password, iteration_count=credentials.iterations, salt=credentials.salt
    )
    return hmac.compare_digest(stored, credentials.storedKey) and hmac.compare_digest(
        server, credentials.serverKey
    )


def channelBindingData(certificateDER: bytes, hashName: str | None) -> bytes:
    """
    tls-server-end-point data (RFC 5929 section 4.1): the hash of the
    server certificate, with SHA-256 replacing MD5 and SHA-1.
    """
    if hashName in (None, "md5", "sha1"):
        hashName = "sha256"
    return hashlib.new(hashName, certificateDER).digest()


def _noThrottle(username: str) -> defer.Deferred:
    return defer.succeed(None)


@dataclass
class AuthContext:
    """
    What a mechanism needs from its stream and node.

    @ivar derivation: runs key derivations (L{xmuc.c2s.derivation}).
    @ivar admit: called with the account name once it is known; a
        Deferred that fires when the attempt may go on, or fails with
        L{SASLFailure} when it is refused.
    @ivar bindings: channel binding type -> data of this stream; empty
        on a plaintext stream.
    @ivar offeredPlus: whether the stream offered -PLUS mechanisms.
    """

    lookup: CredentialLookup
    domain: str
    derivation: Any
    admit: Callable[[str], defer.Deferred] = _noThrottle
    bindings: Mapping[str, bytes] = field(default_factory=dict)
    offeredPlus: bool = False
    nonce: Callable[[], str] = lambda: base64.b64encode(os.urandom(18)).decode("ascii")


class Mechanism:
    """
    The base of a server mechanism.

    @ivar username: the account the client names, once known (for
        throttling and logging).
    """

    name = ""
    username: str | None = None

    def step(self, data: bytes | None) -> defer.Deferred:
        raise NotImplementedError()


async def _lookupCoroutine(lookup: CredentialLookup, username: str) -> Any:
    return await lookup(username)


def _prepUsername(text: str) -> str:
    try:
        return prepLocalpart(text)
    except InvalidJID:
        raise SASLFailure("not-authorized")


def _checkAuthzid(authzid: str | None, username: str, domain: str) -> None:
    """
    Accept only an authzid that names the authenticating account itself.
    """
    if authzid is None:
        return
    if authzid not in (f"{username}@{domain}", username):
        raise SASLFailure("invalid-authzid")


class Plain(Mechanism):
    """
    PLAIN (RFC 4616), checked against the stored SCRAM-SHA-256 keys.
    """

    name = "PLAIN"

    def __init__(self, context: AuthContext) -> None:
        self._context = context

    @defer.inlineCallbacks
    def step(self, data: bytes | None):
        if data is None:
            return Challenge(b"")
        try:
            authzid, authcid, password = data.decode("utf-8").split("\0")
        except (UnicodeDecodeError, ValueError):
            raise SASLFailure("malformed-request", "not a PLAIN message")
        context = self._context
        username = _prepUsername(authcid)
        _checkAuthzid(authzid or None, username, context.domain)
        self.username = username
        yield context.admit(username)
        credentials = yield defer.ensureDeferred(_lookupCoroutine(context.lookup, username))
        scram = (credentials or {}).get("SCRAM-SHA-256")
        known = scram is not None
        if scram is None:
            # Do the same key derivation as for a real account, so that the
            # answer's timing does not tell which usernames exist.
            scram = _fakeCredentials("SCRAM-SHA-256", username)
        matches = yield context.derivation.run(_checkPassword, password, scram)
        if not (known and matches):
            raise SASLFailure("not-authorized")
        return Success(username)


class Scram(Mechanism):
    """
    SCRAM-SHA-1, SCRAM-SHA-256 and their -PLUS variants (L{ScramExchange}).
    """

    def __init__(self, name: str, context: AuthContext) -> None:
        self.name = name
        self._base = name.removesuffix("-PLUS")
        self._context = context
        self._exchange: ScramExchange | None = None
        self._known = False

    @defer.inlineCallbacks
    def step(self, data: bytes | None):
        if data is None:
            return Challenge(b"")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise SASLFailure("malformed-request", "not UTF-8")
        if self._exchange is None:
            return (yield self._first(text))
        return self._final(text)

    @defer.inlineCallbacks
    def _first(self, text: str):
        context = self._context
        first: ClientFirst = parseClientFirst(text)
        username = _prepUsername(first.username)
        _checkAuthzid(first.authzid, username, context.domain)
        self.username = username
        yield context.admit(username)
        all = yield defer.ensureDeferred(_lookupCoroutine(context.lookup, username))
        credentials = (all or {}).get(self._base)
        self._known = credentials is not None
        if credentials is None:
            # Answer as for a real account, so that a client cannot tell
            # which usernames exist; the proof will not verify.
            credentials = _fakeCredentials(self._base, username)
        self._exchange = ScramExchange(
            self.name,
            first,
            credentials,
            context.bindings,
            context.offeredPlus,
            context.nonce(),
        )
        return Challenge(self._exchange.serverFirst.encode("utf-8"))

    def _final(self, text: str) -> Success:
        exchange = self._exchange
        assert exchange is not None
        final = exchange.verifyFinal(text)
        if not self._known:
            raise SASLFailure("not-authorized")
        return Success(self.username or "", final.encode("utf-8"), exchange.bindingType)


class MechanismSet:
    """
    The mechanisms a stream offers, in order of preference: -PLUS first
    when C{context.bindings} has any type (a plaintext stream's bindings
    are dropped), PLAIN last and only under TLS.
    """

    def __init__(
        self,
        context: AuthContext,
        secure: bool,
        allowPlain: bool,
    ) -> None:
        if not secure:
            context.bindings = {}
        context.offeredPlus = bool(context.bindings)
        self._context = context
        names = []
        if context.offeredPlus:
            names += ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS"]
        names += ["SCRAM-SHA-256", "SCRAM-SHA-1"]
        if secure and allowPlain:
            names.append("PLAIN")
        self.names = tuple(names)
        self.plainWithoutTLS = not secure and allowPlain

    def create(self, name: str) -> Mechanism:
        """
        A fresh mechanism instance.

        @raise SASLFailure: C{invalid-mechanism} for one not offered,
            C{encryption-required} for PLAIN on a plaintext stream.
        """
        if name == "PLAIN" and self.plainWithoutTLS:
            raise SASLFailure("encryption-required")
        if name not in self.names:
            raise SASLFailure("invalid-mechanism")
        if name == "PLAIN":
            return Plain(self._context)
        return Scram(name, self._context)
