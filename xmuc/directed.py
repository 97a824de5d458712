# -*- test-case-name: tests.test_directed -*-
"""
The directed presence each local full JID sent (RFC 6121 section 4.6): the
presence logic needs it for its unavailable broadcast, the distributed
room engine to check that a user really asked to enter a room
(../shared/design/dmuc.md section 3).

A record is the exact address the user sent available presence to, as
prepared by L{parseJID}: for a room, the occupant JID C{room@service/nick}
(XEP-0045 section 7.2), since that is the entity the presence went to and
the one to withdraw it from (section 4.6.3).

The records follow what the addressed entity answers, so that they say
where the user's presence really is (docs/dmuc-decisions.md, "Directed
presence records"):

  - an error presence from the entity (a refused join, an unreachable
    server's bounce) ends the record: the presence was not taken;
  - an unavailable presence from the entity (a room telling the user it
    left, was kicked or banned, or the room went) ends it too;
  - an unavailable presence with status 303 (XEP-0045 section 7.6, a nick
    change the room confirmed) moves it to C{room/newnick};
  - but the room's answer to a leave (an unavailable self-presence with
    status 110 alone) ends no record made after that leave: a user who
    leaves and enters again at once has a new record when the old
    answer arrives (L{DirectedPresenceRecords.withdrawDirectedPresence}).

Presence reaches local sessions in two ways, and both report here
(L{DirectedPresenceRecords.presenceDelivered}): what goes through the
router to the node's domain (L{xmuc.im.presence}), and what a local
service delivers straight into the sessions' streams (the MUC service's
fan-out, L{xmuc.glue.muc}). A service that delivers presence to local
sessions itself must report it the same way.
"""

from __future__ import annotations

from typing import Callable, Iterable

from twisted.words.protocols.jabber.jid import JID
from twisted.words.xish import domish

from xmuc.core.jid import InvalidJID, parseJID
from xmuc.muc.ns import NS_MUC_USER

#: The presence types that end a record when they come from its target.
ENDING = frozenset(("unavailable", "error"))

#: Called as C{watcher(sender, to, available)} at each change.
DirectedWatcher = Callable[[str, str, bool], None]


def renamedTo(stanza: domish.Element) -> str | None:
    """
    The new nickname an unavailable presence with status 303 announces
    (XEP-0045 section 7.6), or L{None}.
    """
    for x in stanza.elements(NS_MUC_USER, "x"):
        codes = {status.getAttribute("code") for status in x.elements(NS_MUC_USER, "status")}
        if "303" not in codes:
            return None
        for item in x.elements(NS_MUC_USER, "item"):
            return item.getAttribute("nick") or None
    return None


def _codes(stanza: domish.Element) -> set[str]:
    return {status.getAttribute("code") for x in stanza.elements(NS_MUC_USER, "x")
            for status in x.elements(NS_MUC_USER, "status")}


class DirectedPresenceRecords:
    """
    The records, by sender and by target (so that a presence from an
    entity nobody sent presence to costs one dictionary look-up).
    """

    def __init__(self) -> None:
        self._directed: dict[str, set[str]] = {}
        self._directedTo: dict[str, set[str]] = {}
        self._directedWatchers: list[DirectedWatcher] = []
        # sender -> target -> leaves sent there whose answer has not come.
        self._withdrawn: dict[str, dict[str, int]] = {}

    def recordDirectedPresence(self, sender: str, to: str) -> None:
        """
        Note that the full JID C{sender} sent available presence to C{to}.
        """
        targets = self._directed.setdefault(sender, set())
        if to not in targets:
            targets.add(to)
            self._directedTo.setdefault(to, set()).add(sender)
            for watcher in self._directedWatchers:
                watcher(sender, to, True)

    def forgetDirectedPresence(self, sender: str, to: str) -> None:
        """
        Note that C{sender}'s presence at C{to} ended (it sent unavailable
        presence, or C{to} refused or ended it).
        """
        targets = self._directed.get(sender)
        if targets and to in targets:
            targets.discard(to)
            if not targets:
                del self._directed[sender]
            senders = self._directedTo[to]
            senders.discard(sender)
            if not senders:
                del self._directedTo[to]
            for watcher in self._directedWatchers:
                watcher(sender, to, False)

    def withdrawDirectedPresence(self, sender: str, to: str) -> None:
        """
        C{sender} sent unavailable presence to C{to}: its record ends,
        and when it had one, the entity's answer to this leave is
        expected (so that it does not end a record made later).
        """
        if self.hasDirectedPresence(sender, to):
            pending = self._withdrawn.setdefault(sender, {})
            pending[to] = pending.get(to, 0) + 1
        self.forgetDirectedPresence(sender, to)

    def _answered(self, sender: str, target: str, stanza: domish.Element) -> bool:
        """
        Whether C{stanza} (unavailable, from C{target}) answers a leave
        C{sender} sent there: a self-presence (110) with no other code.
        """
        pending = self._withdrawn.get(sender)
        if not pending or target not in pending or _codes(stanza) != {"110"}:
            return False
        pending[target] -= 1
        if not pending[target]:
            del pending[target]
            if not pending:
                del self._withdrawn[sender]
        return True

    def hasDirectedPresence(self, sender: str, to: str) -> bool:
        """
        Whether the full JID C{sender} has sent available presence to
        C{to} (a full or bare JID string, compared exactly) and not
        withdrawn it.
        """
        return to in self._directed.get(sender, ())

    def hasDirectedPresenceAt(self, sender: str, bare: str) -> bool:
        """
        Whether C{sender} has presence at the bare JID C{bare} or at any
        full JID under it: for a room, whether the user is present at the
        room under any nickname (the room may have given it another one
        than it asked for, XEP-0045 status 210), or has sent it a leave
        the room has not answered yet (to the room it is still there: a
        join it takes before that leave is served, and then left).
        """
        prefix = bare + "/"
        return any(to == bare or to.startswith(prefix) for to in self._directed.get(sender, ())) \
            or any(to.startswith(prefix) for to in self._withdrawn.get(sender, ()))

    def directedPresence(self, sender: str) -> frozenset[str]:
        """
        Where C{sender} sent directed available presence.
        """
        return frozenset(self._directed.get(sender, ()))

    def clearDirectedPresence(self, sender: str) -> frozenset[str]:
        """
        Forget all directed presence of a session that went unavailable.

        @return: the addresses it had been sent to.
        """
        targets = frozenset(self._directed.get(sender, ()))
        for to in targets:
            self.forgetDirectedPresence(sender, to)
        self._withdrawn.pop(sender, None)
        return targets

    def watchDirectedPresence(self, watcher: DirectedWatcher) -> None:
        """
        Call C{watcher(sender, to, available)} at each change of the
        directed-presence records.
        """
        self._directedWatchers.append(watcher)

    def presenceDelivered(self, stanza: domish.Element, recipients: Iterable[JID]) -> None:
        """
        A presence reached (or was addressed to) these local full JIDs:
        an error or unavailable presence from an entity they sent presence
        to ends or moves their record (the module docstring says when).
        Anything else costs a type test.
        """
        if stanza.getAttribute("type") not in ENDING:
            return
        try:
            origin = parseJID(stanza.getAttribute("from") or "")
        except InvalidJID:
            return
        target = origin.full()
        if self._withdrawn and stanza.getAttribute("type") == "unavailable":
            recipients = [r for r in recipients if not self._answered(r.full(), target, stanza)]
        senders = self._directedTo.get(target)
        if not senders:
            return
        moved = None
        if stanza.getAttribute("type") == "unavailable" and origin.resource is not None:
            nick = renamedTo(stanza)
            if nick is not None:
                try:
                    moved = parseJID(origin.userhost() + "/" + nick).full()
                except InvalidJID:
                    moved = None
        for recipient in recipients:
            full = recipient.full()
            if full in senders:
                self.forgetDirectedPresence(full, target)
                if moved is not None:
                    self.recordDirectedPresence(full, moved)
