# -*- test-case-name: tests.im.test_vcard -*-
"""
XEP-0054 vcard-temp, kept by the server for its accounts.

  - An account reads and writes its own vCard (an IQ without C{to}, or to
    its own bare JID).
  - Anyone reads the vCard of an existing account by its bare JID; only
    the account itself may write it (C{forbidden} otherwise).
  - An account without a vCard has an empty C{<vCard/>}.
  - A vCard is stored serialised, at most L{MAX_VCARD_SIZE} bytes; a larger
    one is refused with C{policy-violation}.
"""

from __future__ import annotations

from typing import Any

from twisted.words.protocols.jabber.error import StanzaError
from twisted.words.protocols.jabber.jid import JID
from twisted.words.xish import domish

from xmuc.core.stanza import parseElements

from xmuc.core.jid import parseJID

NS_VCARD = "vcard-temp"

#: The largest serialised vCard accepted, in bytes (avatars included).
MAX_VCARD_SIZE = 64 * 1024


def parseVCard(text: str) -> domish.Element:
    """
    Parse a stored vCard back into an element.
    """
    elements = parseElements(text, namespace="")
    if len(elements) != 1 or (elements[0].uri, elements[0].name) != (NS_VCARD, "vCard"):
        raise ValueError("not one stored vCard")
    return elements[0]


class VCards:
    """
    The vcard-temp handlers of a node.
    """

    def __init__(self, node: Any) -> None:
        self.node = node

    async def get(self, iq: domish.Element, sender: JID, session: Any) -> domish.Element:
        """
        The stored vCard of the addressed account, or an empty one.
        """
        username = parseJID(iq["to"]).user
        store = self.node.store
        if not await store.getCredentials(username):
            raise StanzaError("service-unavailable")
        stored = await store.getVCard(username)
        if stored:
            return parseVCard(stored)
        return domish.Element((NS_VCARD, "vCard"))

    async def set(self, iq: domish.Element, sender: JID, session: Any) -> None:
        """
        Replace the sender's own vCard.
        """
        account = parseJID(iq["to"])
        if sender.userhost() != account.userhost():
            raise StanzaError("forbidden", text="only the account may change its vCard")
        vcard = iq.firstChildElement()
        if vcard.name != "vCard":
            raise StanzaError("bad-request", text="expected a vCard element")
        serialised = vcard.toXml()
        if len(serialised.encode("utf-8")) > MAX_VCARD_SIZE:
            raise StanzaError(
                "policy-violation",
                "modify",
                f"a vCard may have at most {MAX_VCARD_SIZE} bytes",
            )
        await self.node.store.setVCard(account.user, serialised)
        return None


def install(node: Any) -> VCards:
    vcards = VCards(node)
    node.accountIQ.register("get", NS_VCARD, vcards.get)
    node.accountIQ.register("set", NS_VCARD, vcards.set)
    node.serverFeatures.add(NS_VCARD)
    node.accountFeatures.add(NS_VCARD)
    return vcards
