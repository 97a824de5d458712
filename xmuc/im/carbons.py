# -*- test-case-name: tests.im.test_carbons -*-
"""
XEP-0280 Message Carbons (C{urn:xmpp:carbons:2}).

A resource enables or disables carbons with an IQ to its own account (or to
the server), which sets C{session.carbons}. Then:

  - C{message-delivered}: a message delivered to some resources of an
    account is copied, wrapped in C{<received/>}, to the account's other
    available carbons-enabled resources;
  - C{message-sent}: a message a resource sends is copied, wrapped in
    C{<sent/>}, to the sender's other available carbons-enabled resources.

A carbon comes from the account's bare JID and is addressed to the full JID
of the resource (section 5). Which messages are copied is
L{isEligible}; a message with C{<private/>} or a C{<no-copy/>} hint never
is (section 7).
"""

from __future__ import annotations

from typing import Any, Iterable

from twisted.words.protocols.jabber.error import StanzaError
from twisted.words.protocols.jabber.jid import JID
from twisted.words.xish import domish

from xmuc.core.jid import InvalidJID, parseJID

NS_CARBONS = "urn:xmpp:carbons:2"
NS_FORWARD = "urn:xmpp:forward:0"
NS_HINTS = "urn:xmpp:hints"
NS_CLIENT = "jabber:client"

#: Payloads that make a message without a body worth copying (section 6):
#: receipts, chat states and chat markers.
_IM_PAYLOADS = frozenset(
    (
        "urn:xmpp:receipts",
        "http://jabber.org/protocol/chatstates",
        "urn:xmpp:chat-markers:0",
    )
)


def isEligible(stanza: domish.Element) -> bool:
    """
    Whether a message is copied by carbons (XEP-0280 section 6): chat
    messages, normal ones with a body or an IM payload, and errors; never
    groupchat, private, no-copy or messages that already are carbons.
    """
    if stanza.name != "message":
        return False
    kind = stanza.getAttribute("type", "normal")
    hasBody = False
    hasPayload = False
    for child in stanza.elements():
        if child.uri == NS_CARBONS:
            # <private/>, or a carbon itself: never copied.
            return False
        if child.uri == NS_HINTS and child.name == "no-copy":
            return False
        if child.name == "body":
            hasBody = True
        elif child.uri in _IM_PAYLOADS:
            hasPayload = True
    if kind in ("chat", "error"):
        return True
    if kind == "normal":
        return hasBody or hasPayload
    return False


def _asClientMessage(stanza: domish.Element) -> bytes:
    """
    The stanza serialised once, in the C{jabber:client} namespace it must
    carry inside C{<forwarded/>}.
    """
    if stanza.uri == NS_CLIENT and stanza.parent is None:
        return stanza.toXml().encode("utf-8")
    wrapper = domish.Element((NS_CLIENT, stanza.name), NS_CLIENT)
    wrapper.attributes = dict(stanza.attributes)
    wrapper.children = stanza.children
    return wrapper.toXml().encode("utf-8")


def _carbonBytes(kind: str, bare: str, stanza: domish.Element) -> tuple[bytes, bytes]:
    """
    A carbon split around its C{to} address: the forwarded stanza is
    serialised once for every recipient.
    """
    messageType = domish.escapeToXml(stanza.getAttribute("type", "normal"), 1)
    head = (
        f"<message xmlns='{NS_CLIENT}' from='{domish.escapeToXml(bare, 1)}' "
        f"type='{messageType}' to='"
    ).encode("utf-8")
    tail = (
        f"'><{kind} xmlns='{NS_CARBONS}'><forwarded xmlns='{NS_FORWARD}'>".encode("utf-8")
        + _asClientMessage(stanza)
        + f"</forwarded></{kind}></message>".encode("utf-8")
    )
    return head, tail


class Carbons:
    """
    The carbons state switch and the copying hooks.
    """

    def __init__(self, node: Any) -> None:
        self.node = node
        self.router = node.router

    # Protocol

    def toggle(self, iq: domish.Element, sender: JID, session: Any) -> None:
        """
        C{<enable/>} or C{<disable/>} from a resource of a local account.
        """
        if iq.getAttribute("to") == self.node.domain and sender.host == self.node.domain:
            session = self.router.session(sender.userhost(), sender.resource)
        if session is None or session.full != sender.full():
            raise StanzaError("forbidden", text="only a resource may switch its carbons")
        name = iq.firstChildElement().name
        if name == "enable":
            session.carbons = True
        elif name == "disable":
            session.carbons = False
        else:
            raise StanzaError("bad-request", text="expected enable or disable")
        return None

    # Copies

    def delivered(self, stanza: domish.Element, to: JID, sessions: Iterable[Any]) -> None:
        """
        C{message-delivered}: C{<received/>} copies for the other resources.
        """
        bare = to.userhost()
        reached = {id(s) for s in sessions}
        self._copy("received", bare, stanza, lambda s: id(s) not in reached)

    def sent(self, session: Any, stanza: domish.Element) -> None:
        """
        C{message-sent}: C{<sent/>} copies for the sender's other resources.
        """
        to = stanza.getAttribute("to")
        if to is not None:
            try:
                if parseJID(to).userhost() == session.bare:
                    # A message to the account itself is delivered, and
                    # copied as received, by the local delivery.
                    return
            except InvalidJID:
                return
        self._copy("sent", session.bare, stanza, lambda s: s is not session)

    def _copy(self, kind: str, bare: str, stanza: domish.Element, wanted: Any) -> None:
        recipients = [
            s
            for s in self.router.sessionsOf(bare)
            if s.carbons and s.available and wanted(s)
        ]
        if not recipients or not isEligible(stanza):
            return
        head, tail = _carbonBytes(kind, bare, stanza)
        for session in recipients:
            session.sendBytes(head + domish.escapeToXml(session.full, 1).encode("utf-8") + tail)


def install(node: Any) -> Carbons:
    carbons = Carbons(node)
    for dispatcher in (node.accountIQ, node.serverIQ):
        dispatcher.register("set", NS_CARBONS, carbons.toggle)
    node.hooks.add("message-delivered", carbons.delivered)
    node.hooks.add("message-sent", carbons.sent)
    node.serverFeatures.add(NS_CARBONS)
    return carbons
