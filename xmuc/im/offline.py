# -*- test-case-name: tests.im.test_offline -*-
"""
Offline message storage (XEP-0160), stamped with a delay (XEP-0203).

A chat or normal message that no resource can take is kept, with a
C{<delay/>} saying when the server got it, and delivered when the account
next sends initial presence with a non-negative priority.
"""

from __future__ import annotations

import time
from typing import Any

from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.words.protocols.jabber.jid import JID
from twisted.words.xish import domish

from xmuc.core.stanza import parseStanza, readdressed

from xmuc.storage.interfaces import OfflineMessage, UnknownUser

NS_DELAY = "urn:xmpp:delay"
NS_CHATSTATES = "http://jabber.org/protocol/chatstates"
NS_HINTS = "urn:xmpp:hints"

#: What stays for a while without making a message worth keeping.
_INCIDENTAL = frozenset({NS_CHATSTATES, NS_HINTS})


def storability(stanza: domish.Element) -> str:
    """
    Whether a message undeliverable now is kept: C{"store"}; dropped on
    purpose as ephemeral (only chat states, or a XEP-0334 no-store hint):
    C{"drop"}; refused (another type, or nothing in it): C{"refuse"}.
    """
    if stanza.getAttribute("type", "normal") not in ("normal", "chat"):
        return "refuse"
    children = list(stanza.elements())
    hints = {c.name for c in children if c.uri == NS_HINTS}
    if "store" in hints:
        return "store"
    if hints & {"no-store", "no-permanent-store"}:
        return "drop"
    content = [c for c in children if c.uri not in _INCIDENTAL and c.name != "thread"]
    if content:
        return "store"
    return "drop" if children else "refuse"


def stampOf(seconds: float) -> str:
    """
    An XEP-0082 UTC timestamp.
    """
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def withDelay(stanza: domish.Element, domain: str, seconds: float) -> domish.Element:
    """
    A copy of a message with a C{<delay/>} from the server (XEP-0203).
    """
    copy = readdressed(stanza, None)
    delay = copy.addElement((NS_DELAY, "delay"))
    delay["from"] = domain
    delay["stamp"] = stampOf(seconds)
    return copy


class OfflineService:
    """
    Keeps and hands back the messages of offline users.
    """

    log = Logger()

    def __init__(self, node: Any) -> None:
        self.node = node
        self.store = node.store
        node.hooks.add("message-offline", self.keep)
        node.hooks.add("session-initial-presence", self.flush)
        node.serverFeatures.add("msgoffline")

    def keep(self, stanza: domish.Element, to: JID) -> bool:
        """
        The C{message-offline} hook: store the message (the store answers
        later; a missing account or a full quota is then answered with
        C{service-unavailable}, as if the message had not been taken).
        """
        verdict = storability(stanza)
        if verdict == "refuse":
            return False
        if verdict == "drop":
            self.log.debug("Not keeping an ephemeral message for {to}", to=to.full())
            return True
        now = self.node.clock.seconds()
        stamped = withDelay(stanza, self.node.domain, now)
        message = OfflineMessage(stamped.toXml(), now)
        d = self.store.storeOffline(to.user, message)
        d.addCallbacks(self._stored, self._notStored, (stanza,), None, (stanza,))
        d.addErrback(
            lambda f: self.log.failure("Bouncing an offline message failed", f)
        )
        return True

    def _stored(self, stored: bool, stanza: domish.Element) -> None:
        if not stored:
            self.node.router.bounce(
                stanza, "service-unavailable", "offline storage full"
            )

    def _notStored(self, failure: Failure, stanza: domish.Element) -> None:
        if failure.check(UnknownUser):
            self.node.router.bounce(stanza, "service-unavailable")
            return
        self.log.failure("Storing an offline message failed", failure)
        self.node.router.bounce(stanza, "internal-server-error")

    def flush(self, session: Any) -> None:
        """
        The C{session-initial-presence} hook: hand the kept messages to a
        session that can take messages to the bare JID.
        """
        if session.priority < 0:
            return
        d = self.store.popOffline(session.username)
        d.addCallback(self._deliver, session)
        d.addErrback(
            lambda f: self.log.failure("Delivering offline messages failed", f)
        )

    def _deliver(self, messages: list[OfflineMessage], session: Any) -> None:
        if session.isClosed:
            # Gone while the store answered: keep them for the next time.
            for message in messages:
                self.store.storeOffline(session.username, message)
            return
        for message in messages:
            session.send(parseStanza(message.stanza))


def install(node: Any) -> OfflineService:
    return OfflineService(node)
