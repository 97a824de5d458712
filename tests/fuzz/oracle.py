# -*- test-case-name: tests.fuzz.test_c2s,tests.fuzz.test_s2s -*-
"""
What a node may answer to the pieces of L{tests.fuzz.strategies}: the
checks shared by the fuzz tests and C{bench/fuzz.py}.

    problems = Oracle(pieces, own="alice@localhost").check(received, ended)

C{received} is every top-level element the node wrote (domish elements),
C{ended} whether it closed the stream. Each problem is one line of text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from twisted.words.xish import domish

from tests.fuzz.pieces import (
    MAY_END,
    NS_STANZAS,
    NS_STREAM_ERRORS,
    NS_STREAMS,
    STANZA_CONDITIONS,
    STREAM_CONDITIONS,
    Piece,
)

_STANZAS = frozenset(("message", "presence", "iq"))
NS_BLOCKING_ERRORS = "urn:xmpp:blocking:errors"


def stanzaError(element: domish.Element) -> tuple[str | None, str | None]:
    """
    The defined condition and the type of a stanza error (None where
    missing).
    """
    for error in element.elements():
        if error.name == "error":
            # (domish's elements() filters by namespace only with a name.)
            conditions = [c.name for c in error.elements()
                          if c.uri == NS_STANZAS and c.name != "text"]
            return (conditions[0] if len(conditions) == 1 else None), error.getAttribute("type")
    return None, None


def streamError(element: domish.Element) -> str | None:
    """
    The defined condition of a stream error.
    """
    conditions = [c.name for c in element.elements()
                  if c.uri == NS_STREAM_ERRORS and c.name != "text"]
    return conditions[0] if len(conditions) == 1 else None


@dataclass
class Oracle:
    """
    The expectations of one stream.

    @ivar pieces: what was sent, in order (each stanza id unique).
    @ivar own: the sender's bare JID (its own stanzas echoed back are not
        answers).
    @ivar requireAnswers: whether every C{mustAnswer} iq sent before the
        stream ended must have been answered (true where the node answers
        before the next read, as in-memory tests do).
    """

    pieces: list[Piece]
    own: str = ""
    requireAnswers: bool = True
    headerFatal: frozenset[str] | None = None
    problems: list[str] = field(default_factory=list)

    def check(self, received: Iterable[domish.Element], ended: bool,
              quietEnd: bool = False) -> list[str]:
        """
        The problems in what the node wrote (C{quietEnd}: the node ended
        the stream on purpose without a stream error, as after an invalid
        dialback result).
        """
        byId = {p.stanzaId: p for p in self.pieces if p.stanzaId}
        answered: set[str] = set()
        streamErrors: list[str | None] = []
        for element in received:
            if element.uri == NS_STREAMS and element.name == "error":
                streamErrors.append(streamError(element))
            elif element.name in _STANZAS:
                self._stanza(element, byId, answered)
        self._streamEnd(streamErrors, ended, quietEnd)
        if self.requireAnswers and not streamErrors and not ended:
            for piece in self.pieces:
                if piece.mustAnswer and piece.stanzaId not in answered:
                    self.problems.append(f"unanswered iq {piece.label}: {piece.data[:200]!r}")
        return self.problems

    def _stanza(self, element: domish.Element, byId: dict[str, Piece], answered: set[str]) -> None:
        stanzaId = element.getAttribute("id")
        piece = byId.get(stanzaId) if stanzaId else None
        kind = element.getAttribute("type")
        if element.name == "iq" and kind in ("result", "error") and stanzaId:
            answered.add(stanzaId)
        if kind != "error":
            return
        condition, errorType = stanzaError(element)
        sender = (element.getAttribute("from") or "").split("/")[0]
        if condition is None and errorType is None and self.own and sender == self.own:
            # An error stanza the client sent to itself, delivered back.
            return
        where = piece.label if piece else f"id {stanzaId!r}"
        if condition is None:
            self.problems.append(f"error without one defined condition for {where}: {element.toXml()[:300]}")
            return
        if errorType not in STANZA_CONDITIONS[condition]:
            self.problems.append(f"{condition} with type {errorType!r} for {where}")
        if condition == "internal-server-error":
            self.problems.append(f"internal-server-error for {where}: {piece.data[:300] if piece else ''!r}")
        blocked = condition == "not-acceptable" and any(
            c.uri == NS_BLOCKING_ERRORS for e in element.elements() if e.name == "error"
            for c in e.elements())
        if piece is not None and piece.allowed is not None and condition not in piece.allowed \
                and not blocked:
            # (XEP-0191: a stanza to a contact the sender blocked is
            # refused with not-acceptable whatever it is.)
            self.problems.append(
                f"{condition} for {where} (allowed: {sorted(piece.allowed) or 'no error'}): "
                f"{piece.data[:200]!r}"
            )

    def _streamEnd(self, errors: list[str | None], ended: bool, quietEnd: bool) -> None:
        if len(errors) > 1:
            self.problems.append(f"{len(errors)} stream errors on one stream")
        allowed: set[str] = set(self.headerFatal or ())
        mustEnd = self.headerFatal is not None and MAY_END not in self.headerFatal
        for piece in self.pieces:
            if mustEnd:
                break
            if piece.suspends:
                allowed |= piece.fatal or set()
                break
            if piece.fatal is not None:
                allowed |= piece.fatal
                mustEnd = MAY_END not in piece.fatal
        allowed.discard(MAY_END)
        if errors:
            condition = errors[0]
            if condition is None or condition not in STREAM_CONDITIONS:
                self.problems.append(f"stream error without a defined condition: {condition!r}")
            elif condition not in allowed:
                self.problems.append(
                    f"stream error {condition} (allowed: {sorted(allowed) or 'none'})"
                )
            if not ended:
                self.problems.append(f"stream error {condition} without the stream's end")
        elif mustEnd and not quietEnd:
            self.problems.append(f"the stream went on (expected one of {sorted(allowed)})")
