# -*- test-case-name: tests.c2s.test_sasl -*-
"""
Server-side SASL mechanisms: SCRAM-SHA-1, SCRAM-SHA-256, their -PLUS
variants with tls-server-end-point channel binding (scramp), and PLAIN.

Passwords are never stored: an account keeps one L{ScramCredentials} per
SCRAM hash, and PLAIN is checked by deriving the SCRAM keys from the
offered password with the stored salt.

A mechanism is a small object fed the client's messages (already base64
decoded); it answers with L{Challenge}, L{Success} or raises L{SASLFailure}.
Credential look-ups are asynchronous, so C{step} returns a Deferred.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass
from typing import Awaitable, Callable

from scramp import ScramException, ScramMechanism
from twisted.internet import defer

from xmuc.core.jid import InvalidJID, prepLocalpart
from xmuc.storage.interfaces import ScramCredentials

SCRAM_HASHES = ("SCRAM-SHA-1", "SCRAM-SHA-256")
_HASH_FUNCTIONS = {"SCRAM-SHA-1": "sha1", "SCRAM-SHA-256": "sha256"}
ITERATIONS = 4096

CredentialLookup = Callable[[str], Awaitable["dict[str, ScramCredentials] | None"]]


class SASLFailure(Exception):
    """
    Authentication failed with the RFC 6120 section 6.5 condition.
    """

    def __init__(self, condition: str, text: str | None = None) -> None:
        super().__init__(condition)
        self.condition = condition
        self.text = text


@dataclass(frozen=True)
class Challenge:
    data: bytes


@dataclass(frozen=True)
class Success:
    username: str
    data: bytes | None = None


def makeCredentials(password: str) -> list[ScramCredentials]:
    """
    The credentials to store for a password, one per SCRAM hash.
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
    Whether C{password} derives the stored SCRAM keys.
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


def _saslname(value: str) -> str:
    """
    Decode a SCRAM saslname (RFC 5802 section 5.1).
    """
    if "=" in value.replace("=2C", "").replace("=3D", ""):
        raise SASLFailure("malformed-request", "bad saslname encoding")
    return value.replace("=2C", ",").replace("=3D", "=")


def _scramUsername(clientFirst: str) -> tuple[str, str | None]:
    """
    The username and authzid of a SCRAM client-first message.
    """
    try:
        flag, authzid, bare = clientFirst.split(",", 2)
    except ValueError:
        raise SASLFailure("malformed-request", "not a SCRAM client-first message")
    if not flag or flag[0] not in "nyp":
        raise SASLFailure("malformed-request", "bad GS2 header")
    authz = _saslname(authzid[2:]) if authzid.startswith("a=") else None
    for attribute in bare.split(","):
        if attribute.startswith("n="):
            return _saslname(attribute[2:]), authz
    raise SASLFailure("malformed-request", "no username")


class Mechanism:
    """
    The base of a server mechanism.
    """

    name = ""

    def step(self, data: bytes | None) -> defer.Deferred:
        raise NotImplementedError()


class Plain(Mechanism):
    """
    PLAIN (RFC 4616), checked against the stored SCRAM-SHA-256 keys.
    """

    name = "PLAIN"

    def __init__(self, lookup: CredentialLookup, domain: str) -> None:
        self._lookup = lookup
        self._domain = domain

    @defer.inlineCallbacks
    def step(self, data: bytes | None):
        if data is None:
            return Challenge(b"")
        try:
            authzid, authcid, password = data.decode("utf-8").split("\0")
        except (UnicodeDecodeError, ValueError):
            raise SASLFailure("malformed-request", "not a PLAIN message")
        username = _prepUsername(authcid)
        _checkAuthzid(authzid or None, username, self._domain)
        credentials = yield defer.ensureDeferred(_lookupCoroutine(self._lookup, username))
        scram = (credentials or {}).get("SCRAM-SHA-256")
        if scram is None:
            # Do the same key derivation as for a real account, so that the
            # answer's timing does not tell which usernames exist.
            _checkPassword(password, _fakeCredentials("SCRAM-SHA-256", username))
            raise SASLFailure("not-authorized")
        if not _checkPassword(password, scram):
            raise SASLFailure("not-authorized")
        return Success(username)


async def _lookupCoroutine(lookup: CredentialLookup, username: str):
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


class Scram(Mechanism):
    """
    SCRAM-SHA-1, SCRAM-SHA-256 and their -PLUS variants, through scramp.

    @param channelBinding: tls-server-end-point data when the stream is
        TLS, L{None} otherwise (then only the plain variants are offered).
    """

    def __init__(
        self,
        name: str,
        lookup: CredentialLookup,
        domain: str,
        channelBinding: bytes | None,
        nonce: str | None = None,
    ) -> None:
        self.name = name
        self._base = name.removesuffix("-PLUS")
        self._lookup = lookup
        self._domain = domain
        self._binding = channelBinding
        self._nonce = nonce
        self._server = None
        self._username: str | None = None
        self._known = False

    @defer.inlineCallbacks
    def step(self, data: bytes | None):
        if data is None:
            return Challenge(b"")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise SASLFailure("malformed-request", "not UTF-8")
        if self._server is None:
            return (yield self._first(text))
        return self._final(text)

    @defer.inlineCallbacks
    def _first(self, text: str):
        name, authzid = _scramUsername(text)
        username = _prepUsername(name)
        _checkAuthzid(authzid, username, self._domain)
        all = yield defer.ensureDeferred(_lookupCoroutine(self._lookup, username))
        credentials = (all or {}).get(self._base)
        self._known = credentials is not None
        if credentials is None:
            # Answer as for a real account, so that a client cannot tell
            # which usernames exist; the proof will not verify.
            credentials = _fakeCredentials(self._base, username)
        self._username = username
        info = (
            credentials.salt,
            credentials.storedKey,
            credentials.serverKey,
            credentials.iterations,
        )
        binding = (
            ("tls-server-end-point", self._binding) if self._binding is not None else None
        )
        try:
            self._server = ScramMechanism(self.name).make_server(
                lambda _: info, channel_binding=binding, s_nonce=self._nonce
            )
            self._server.set_client_first(text)
            return Challenge(self._server.get_server_first().encode("utf-8"))
        except ScramException as e:
            raise SASLFailure(_scramCondition(e), str(e))

    def _final(self, text: str):
        server = self._server
        try:
            server.set_client_final(text)
        except ScramException as e:
            raise SASLFailure(_scramCondition(e), str(e))
        if not self._known:
            raise SASLFailure("not-authorized")
        return Success(self._username, server.get_server_final().encode("utf-8"))


def _scramCondition(error: ScramException) -> str:
    text = str(error).lower()
    if "proof" in text or "keys don't match" in text:
        return "not-authorized"
    return "malformed-request" if "channel" not in text else "not-authorized"


class MechanismSet:
    """
    The mechanisms a stream offers, in order of preference.
    """

    def __init__(
        self,
        lookup: CredentialLookup,
        domain: str,
        secure: bool,
        channelBinding: bytes | None,
        allowPlain: bool,
    ) -> None:
        self._lookup = lookup
        self._domain = domain
        self._binding = channelBinding if secure else None
        names = []
        if self._binding is not None:
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
            return Plain(self._lookup, self._domain)
        return Scram(name, self._lookup, self._domain, self._binding)
