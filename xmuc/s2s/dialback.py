# -*- test-case-name: tests.s2s.test_dialback -*-
"""
Server dialback (XEP-0220) keys and elements.

Keys follow XEP-0185: HMAC-SHA256 keyed with the hex SHA-256 of the node's
secret, over "Receiving Originating StreamID". The secret never leaves the
node, so only the node that made a key can say whether it is valid.
"""

from __future__ import annotations

import hashlib
import hmac

from twisted.words.xish import domish

NS_DIALBACK = "jabber:server:dialback"
NS_DIALBACK_FEATURE = "urn:xmpp:features:dialback"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"


def dialbackKey(secret: str, receiving: str, originating: str, streamId: str) -> str:
    """
    The key the originating server sends for a stream with this id.
    """
    hashed = hashlib.sha256(secret.encode("utf-8")).hexdigest().encode("ascii")
    message = " ".join((receiving, originating, streamId)).encode("utf-8")
    return hmac.new(hashed, message, hashlib.sha256).hexdigest()


def keysMatch(expected: str, given: str) -> bool:
    """
    Compare keys in constant time.
    """
    return hmac.compare_digest(expected.encode("utf-8"), given.strip().encode("utf-8"))


def dialbackElement(
    name: str,
    sender: str,
    recipient: str,
    key: str | None = None,
    kind: str | None = None,
    streamId: str | None = None,
    condition: str | None = None,
    errorType: str = "cancel",
) -> domish.Element:
    """
    A C{<db:result/>} or C{<db:verify/>} element; with C{condition}, its
    error of C{errorType}.
    """
    element = domish.Element((NS_DIALBACK, name))
    element["from"] = sender
    element["to"] = recipient
    if streamId is not None:
        element["id"] = streamId
    if kind is not None:
        element["type"] = kind
    if key is not None:
        element.addContent(key)
    if condition is not None:
        error = element.addElement("error")
        error["type"] = errorType
        error.addElement((NS_STANZAS, condition))
    return element
