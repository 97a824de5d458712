# -*- test-case-name: tests.s2s.test_linkwrites -*-
"""
The write barrier (L{xmuc.writes}) on an outgoing server-to-server link.

An IQ answer (result or error) sent while a write scope with open items is
current (the scope of the incoming stream whose stanza is being handled,
later steps of its chain included: L{mustWait}) waits until the items open
then have closed, and whatever is sent on the link after it waits behind
it (L{HeldOutput}), so that the link keeps its order. A peer that has our
answer to an IQ it sent after a message knows the message is stored. A
link with nothing held pays one test per stanza (C{iq} or not).
"""

from __future__ import annotations

from collections import deque
from typing import Callable

from twisted.words.xish import domish

from xmuc.writes import CURRENT, WriteScope


def mustWait(iq: domish.Element) -> bool:
    """
    Whether the IQ C{iq} is an answer sent while the current write scope
    has open items.
    """
    if iq.getAttribute("type") not in ("result", "error"):
        return False
    scope = CURRENT.get()
    return scope is not None and bool(scope.open)


class HeldOutput:
    """
    What a link sends while an answer waits for its barrier, in order.

    @param send: sends a stanza past the barrier (the link's own send).
    @param drained: called with this object once nothing is held any
        more.
    """

    def __init__(self, send: Callable[[domish.Element], None],
                 drained: Callable[["HeldOutput"], None]) -> None:
        self._send = send
        self._drained = drained
        self._flushing = False
        # (stanza, scope, mark): the mark is set for an answer that waits.
        self._held: deque[tuple[domish.Element, WriteScope | None, int | None]] = deque()

    def __len__(self) -> int:
        return len(self._held)

    def hold(self, stanza: domish.Element) -> None:
        """
        Send C{stanza} behind what is held: at once when nothing waits.
        """
        scope = mark = None
        if stanza.name == "iq" and mustWait(stanza):
            scope = CURRENT.get()
            mark = scope.mark()
        held = self._held
        held.append((stanza, scope, mark))
        if len(held) == 1 and not self._flushing:
            self._flush()

    def _flush(self) -> None:
        """
        Send the held output up to the first answer whose barrier has not
        passed yet, and wait for that one.
        """
        held = self._held
        # What sending a stanza sends in turn (a bounce) joins the queue
        # behind it rather than starting a second flush.
        self._flushing = True
        try:
            while held:
                stanza, scope, mark = held[0]
                if mark is not None and not scope.passed(mark):
                    scope.whenPassed(mark, self._flush)
                    return
                held.popleft()
                self._send(stanza)
        finally:
            self._flushing = False
        self._drained(self)
