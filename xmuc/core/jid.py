# -*- test-case-name: tests.core.test_jid -*-
"""
RFC 7622 addresses, prepared with PRECIS and cached.

Preparing an address costs tens of microseconds; every stanza carries two.
L{parseJID} keeps a bounded LRU cache of prepared addresses, so a hot path
pays the preparation once per distinct address while a flood of random
addresses cannot grow memory without bound.

The values are Twisted L{JID} instances (so Tx-XMPP and Twisted code accept
them), built without Twisted's own RFC 3920 stringprep.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from typing import Any

import precis_i18n
from twisted.words.protocols.jabber.jid import JID

_username = precis_i18n.get_profile("UsernameCaseMapped")
_opaque = precis_i18n.get_profile("OpaqueString")
_nickname = precis_i18n.get_profile("NicknameCaseMapped")
_displayNickname = precis_i18n.get_profile("NicknameCasePreserved")

# RFC 7622 section 3.3.1: characters a localpart may not contain.
_LOCAL_FORBIDDEN = frozenset("\"&'/:<>@")
_DOMAIN_FORBIDDEN = frozenset(" \t\r\n@/\\\"&'<>:[]")


class InvalidJID(ValueError):
    """
    A string is not a valid RFC 7622 address, or a part is not valid.
    """


def _checkLength(part: str, what: str) -> None:
    size = len(part.encode("utf-8"))
    if size == 0:
        raise InvalidJID(f"empty {what}")
    if size > 1023:
        raise InvalidJID(f"{what} longer than 1023 bytes")


def prepLocalpart(text: str) -> str:
    """
    Enforce the UsernameCaseMapped profile on a localpart.
    """
    _checkLength(text, "localpart")
    try:
        prepared = _username.enforce(text)
    except UnicodeError as e:
        raise InvalidJID(f"invalid localpart: {e.reason}")
    if _LOCAL_FORBIDDEN.intersection(prepared):
        raise InvalidJID("localpart contains a forbidden character")
    _checkLength(prepared, "localpart")
    return prepared


def prepResource(text: str) -> str:
    """
    Enforce the OpaqueString profile on a resourcepart.
    """
    _checkLength(text, "resourcepart")
    try:
        prepared = _opaque.enforce(text)
    except UnicodeError as e:
        raise InvalidJID(f"invalid resourcepart: {e.reason}")
    _checkLength(prepared, "resourcepart")
    return prepared


def _enforceNickname(profile: Any, text: str) -> str:
    try:
        prepared = profile.enforce(text)
    except UnicodeError as e:
        raise InvalidJID(f"invalid nickname: {e.reason}")
    _checkLength(prepared, "nickname")
    return prepared


def prepNickname(text: str) -> str:
    """
    Enforce the NicknameCaseMapped profile (RFC 8266), used to compare
    room nicknames.
    """
    return _enforceNickname(_nickname, text)


def displayNickname(text: str) -> str:
    """
    Enforce the NicknameCasePreserved profile (RFC 8266): the form of a
    room nickname to show, with spaces trimmed and widths mapped but the
    case kept.
    """
    return _enforceNickname(_displayNickname, text)


def prepDomain(text: str) -> str:
    """
    Prepare a domainpart: lower case, NFC, no trailing dot, valid labels.
    IP literals are accepted as they are.
    """
    if text.endswith("."):
        text = text[:-1]
    _checkLength(text, "domainpart")
    if text.startswith("[") and text.endswith("]"):
        return text.lower()
    domain = unicodedata.normalize("NFC", text).lower()
    if _DOMAIN_FORBIDDEN.intersection(domain):
        raise InvalidJID("domainpart contains a forbidden character")
    for label in domain.split("."):
        if not label:
            raise InvalidJID("domainpart has an empty label")
        if label.isascii():
            if len(label) > 63:
                raise InvalidJID("domain label longer than 63 characters")
            if not all(c.isalnum() or c in "-_" for c in label):
                raise InvalidJID("domain label contains a forbidden character")
        else:
            try:
                label.encode("idna")
            except UnicodeError:
                raise InvalidJID("domain label is not a valid IDN")
    return domain


def _build(user: str | None, host: str, resource: str | None) -> JID:
    """
    Make a Twisted JID from already prepared parts.
    """
    value = JID.__new__(JID)
    value.user = user
    value.host = host
    value.resource = resource
    return value


@lru_cache(maxsize=16384)
def parseJID(text: str) -> JID:
    """
    Parse and prepare an address.

    @raise InvalidJID: when it is not a valid address.
    """
    if not isinstance(text, str):
        raise InvalidJID("not a string")
    rest, slash, resource = text.partition("/")
    user, at, host = rest.partition("@")
    if not at:
        user, host = None, rest
    elif not user:
        raise InvalidJID("empty localpart")
    return _build(
        prepLocalpart(user) if user is not None else None,
        prepDomain(host),
        prepResource(resource) if slash else None,
    )


def prepJID(text: str) -> JID:
    """
    Same as L{parseJID}; the name reads better at configuration time.
    """
    return parseJID(text)


def bareJID(address: JID) -> JID:
    """
    The bare form of an address, itself when it is bare.
    """
    if address.resource is None:
        return address
    return _build(address.user, address.host, None)


def withResource(address: JID, resource: str) -> JID:
    """
    The full JID made of a bare address and an (already prepared) resource.
    """
    return _build(address.user, address.host, resource)


def makeJID(user: str | None, host: str, resource: str | None = None) -> JID:
    """
    A JID from parts that are already prepared (from a prepared JID).
    """
    return _build(user, host, resource)
