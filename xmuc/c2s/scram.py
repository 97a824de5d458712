# -*- test-case-name: tests.c2s.test_scram -*-
"""
The server side of one SCRAM exchange (RFC 5802, RFC 7677), with channel
binding of the types the stream can compute (RFC 5929 tls-unique and
tls-server-end-point, RFC 9266 tls-exporter).

Pure: it is given the client's messages, the stored credentials and the
stream's channel binding data, and answers with the server's messages or
raises L{SASLFailure}. It never derives a key from a password (only
HMACs over the stored keys), so it runs on the reactor thread.

The GS2 channel-binding flag (RFC 5802 section 6) decides what the
exchange may be:

  ======  ==================  ===========================================
  flag    mechanism           the server
  ======  ==================  ===========================================
  p=TYPE  -PLUS               binds to TYPE if the stream has its data,
                              else fails (unsupported type)
  p=TYPE  plain               fails: a client binding must ask for -PLUS
  n       -PLUS               fails: -PLUS means binding
  n       plain               no binding
  y       -PLUS               fails
  y       plain               fails when the server offered -PLUS (the
                              client did not see it: a downgrade), else
                              no binding
  ======  ==================  ===========================================
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Mapping

from xmuc.storage.interfaces import ScramCredentials

_DIGESTS = {"SCRAM-SHA-1": "sha1", "SCRAM-SHA-256": "sha256"}


class SASLFailure(Exception):
    """
    Authentication failed with the RFC 6120 section 6.5 condition.
    """

    def __init__(self, condition: str, text: str | None = None) -> None:
        super().__init__(condition)
        self.condition = condition
        self.text = text


def _saslname(value: str) -> str:
    """
    Decode a SCRAM saslname (RFC 5802 section 5.1).
    """
    if "=" in value.replace("=2C", "").replace("=3D", ""):
        raise SASLFailure("malformed-request", "bad saslname encoding")
    return value.replace("=2C", ",").replace("=3D", "=")


@dataclass(frozen=True)
class ClientFirst:
    """
    A parsed client-first message.

    @ivar flag: the GS2 channel binding flag, C{"n"}, C{"y"} or C{"p"}.
    @ivar bindingType: the type named by C{p=}, else L{None}.
    @ivar header: the GS2 header as sent (it is part of C{c=}).
    @ivar bare: the client-first-message-bare (part of the AuthMessage).
    """

    flag: str
    bindingType: str | None
    authzid: str | None
    username: str
    nonce: str
    header: str
    bare: str


def parseClientFirst(text: str) -> ClientFirst:
    """
    Parse a client-first message.

    @raise SASLFailure: C{malformed-request} for anything RFC 5802 does
        not allow, including a mandatory extension (C{m=}).
    """
    try:
        flag, authzid, bare = text.split(",", 2)
    except ValueError:
        raise SASLFailure("malformed-request", "not a SCRAM client-first message")
    bindingType = None
    if flag.startswith("p=") and len(flag) > 2:
        bindingType = flag[2:]
        flag = "p"
    elif flag not in ("n", "y"):
        raise SASLFailure("malformed-request", "bad GS2 header")
    if authzid and not authzid.startswith("a="):
        raise SASLFailure("malformed-request", "bad GS2 header")
    attributes = bare.split(",")
    if len(attributes) < 2 or not attributes[0].startswith("n="):
        raise SASLFailure("malformed-request", "no username")
    if attributes[0] == "m" or attributes[0].startswith("m="):
        raise SASLFailure("malformed-request", "unsupported SCRAM extension")
    if not attributes[1].startswith("r=") or len(attributes[1]) < 3:
        raise SASLFailure("malformed-request", "no nonce")
    nonce = attributes[1][2:]
    if "," in nonce or not all(0x21 <= ord(c) <= 0x7E for c in nonce):
        raise SASLFailure("malformed-request", "bad nonce")
    return ClientFirst(
        flag,
        bindingType,
        _saslname(authzid[2:]) if authzid else None,
        _saslname(attributes[0][2:]),
        nonce,
        f"{flag if bindingType is None else 'p=' + bindingType},{authzid},",
        bare,
    )


def _bindingData(
    first: ClientFirst, plus: bool, bindings: Mapping[str, bytes], offeredPlus: bool
) -> bytes:
    """
    The channel binding data C{c=} must carry after the GS2 header (empty
    without binding), by the table in the module docstring.
    """
    if first.flag == "p":
        if not plus:
            raise SASLFailure("malformed-request", "channel binding needs a -PLUS mechanism")
        data = bindings.get(first.bindingType or "")
        if data is None:
            raise SASLFailure(
                "malformed-request", f"unsupported channel binding type {first.bindingType}"
            )
        return data
    if plus:
        raise SASLFailure("malformed-request", "a -PLUS mechanism needs channel binding")
    if first.flag == "y" and offeredPlus:
        raise SASLFailure("not-authorized", "the server supports channel binding")
    return b""


class ScramExchange:
    """
    One exchange after its client-first message.

    @param name: the mechanism, e.g. C{SCRAM-SHA-256-PLUS}.
    @param credentials: the account's (or stand-in) credentials for its hash.
    @param bindings: channel binding type -> data for this stream.
    @param offeredPlus: whether the stream offered -PLUS mechanisms.
    @param serverNonce: the server's part of the nonce (printable ASCII).
    """

    def __init__(
        self,
        name: str,
        first: ClientFirst,
        credentials: ScramCredentials,
        bindings: Mapping[str, bytes],
        offeredPlus: bool,
        serverNonce: str,
    ) -> None:
        plus = name.endswith("-PLUS")
        self._digest = _DIGESTS[name.removesuffix("-PLUS")]
        self._binding = _bindingData(first, plus, bindings, offeredPlus)
        self._first = first
        self._credentials = credentials
        self.bindingType = first.bindingType
        self._nonce = first.nonce + serverNonce
        salt = base64.b64encode(credentials.salt).decode("ascii")
        self.serverFirst = f"r={self._nonce},s={salt},i={credentials.iterations}"

    def _hmac(self, key: bytes, message: bytes) -> bytes:
        return hmac.new(key, message, self._digest).digest()

    def verifyFinal(self, text: str) -> str:
        """
        Check a client-final message; return the server-final message.

        @raise SASLFailure: C{malformed-request} for a bad message or
            nonce, C{not-authorized} for a wrong channel binding or proof.
        """
        attributes = text.split(",")
        if (
            len(attributes) < 3
            or not attributes[0].startswith("c=")
            or not attributes[1].startswith("r=")
            or not attributes[-1].startswith("p=")
        ):
            raise SASLFailure("malformed-request", "not a SCRAM client-final message")
        if attributes[1][2:] != self._nonce:
            raise SASLFailure("malformed-request", "wrong nonce")
        try:
            binding = base64.b64decode(attributes[0][2:], validate=True)
            proof = base64.b64decode(attributes[-1][2:], validate=True)
        except ValueError:
            raise SASLFailure("malformed-request", "bad base64 in client-final message")
        expected = self._first.header.encode("utf-8") + self._binding
        if not hmac.compare_digest(binding, expected):
            raise SASLFailure("not-authorized", "channel binding mismatch")
        withoutProof = text[: text.rindex(",p=")]
        message = ",".join((self._first.bare, self.serverFirst, withoutProof)).encode("utf-8")
        credentials = self._credentials
        signature = self._hmac(credentials.storedKey, message)
        if len(proof) != len(signature):
            raise SASLFailure("not-authorized")
        clientKey = bytes(a ^ b for a, b in zip(proof, signature))
        stored = hashlib.new(self._digest, clientKey).digest()
        if not hmac.compare_digest(stored, credentials.storedKey):
            raise SASLFailure("not-authorized")
        verifier = self._hmac(credentials.serverKey, message)
        return "v=" + base64.b64encode(verifier).decode("ascii")
