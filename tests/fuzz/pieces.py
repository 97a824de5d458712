# -*- test-case-name: tests.fuzz.test_c2s,tests.fuzz.test_s2s -*-
"""
What the fuzz strategies draw (L{Piece}: bytes to send and what the node
may answer to them) and the tables the answers are judged by (the defined
stanza and stream error conditions of RFC 6120).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from hypothesis import strategies as st

NS_CLIENT = "jabber:client"
NS_SERVER = "jabber:server"
NS_STREAMS = "http://etherx.jabber.org/streams"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
NS_STREAM_ERRORS = "urn:ietf:params:xml:ns:xmpp-streams"
DB = "jabber:server:dialback"

#: RFC 6120 section 8.3.3: each defined stanza error condition and the
#: error types it may carry (the type the RFC gives first; a second where
#: the RFC or a XEP the node implements uses another, e.g. XEP-0045's
#: C{<service-unavailable type='wait'/>} for a full room).
STANZA_CONDITIONS: dict[str, frozenset[str]] = {
    "bad-request": frozenset({"modify"}),
    "conflict": frozenset({"cancel"}),
    "feature-not-implemented": frozenset({"cancel", "modify"}),
    "forbidden": frozenset({"auth"}),
    "gone": frozenset({"cancel", "modify"}),
    "internal-server-error": frozenset({"cancel", "wait"}),
    "item-not-found": frozenset({"cancel"}),
    "jid-malformed": frozenset({"modify"}),
    "not-acceptable": frozenset({"modify", "cancel"}),
    "not-allowed": frozenset({"cancel"}),
    "not-authorized": frozenset({"auth"}),
    "policy-violation": frozenset({"modify", "wait"}),
    "recipient-unavailable": frozenset({"wait"}),
    "redirect": frozenset({"modify"}),
    "registration-required": frozenset({"auth"}),
    "remote-server-not-found": frozenset({"cancel"}),
    "remote-server-timeout": frozenset({"wait"}),
    "resource-constraint": frozenset({"wait"}),
    "service-unavailable": frozenset({"cancel", "wait"}),
    "subscription-required": frozenset({"auth"}),
    "undefined-condition": frozenset({"auth", "cancel", "continue", "modify", "wait"}),
    "unexpected-request": frozenset({"wait", "modify", "cancel"}),
}

#: RFC 6120 section 4.9.3: the defined stream error conditions.
STREAM_CONDITIONS = frozenset(
    {
        "bad-format", "bad-namespace-prefix", "conflict", "connection-timeout",
        "host-gone", "host-unknown", "improper-addressing", "internal-server-error",
        "invalid-from", "invalid-namespace", "invalid-xml", "not-authorized",
        "not-well-formed", "policy-violation", "remote-connection-failed", "reset",
        "resource-constraint", "restricted-xml", "see-other-host", "system-shutdown",
        "undefined-condition", "unsupported-encoding", "unsupported-feature",
        "unsupported-stanza-type", "unsupported-version",
    }
)

#: In a L{Piece}'s C{fatal}: the piece may end the stream (with one of
#: the other conditions) but need not.
MAY_END = "(may end)"

#: What bad XML may end a stream with.
MALFORMED = frozenset({"not-well-formed", "restricted-xml", "invalid-xml", "bad-format",
                        "unsupported-encoding"})

#: The mutations a node may refuse with a limit of its own (depth,
#: attributes, sizes), and how such a limit may end the stream.
BULKY = frozenset({"huge-attr", "huge-text", "deep", "many-attrs"})
LIMITED = frozenset({MAY_END, "policy-violation", "resource-constraint"})


@dataclass(frozen=True)
class Piece:
    """
    Bytes to send on a stream, and what the node may answer.

    @ivar data: the serialised piece (UTF-8 except where it is the test).
    @ivar label: what kind of piece this is, for reports.
    @ivar stanzaId: the id of a stanza an error may answer, if it has one.
    @ivar mustAnswer: an iq get/set to the node: a result or an error with
        C{stanzaId} must come back.
    @ivar allowed: the stanza error conditions a reply to C{stanzaId} may
        carry (L{None}: any defined condition; empty: no error at all).
    @ivar fatal: the stream error conditions that must end the stream
        after this piece (L{None}: the stream goes on; with L{MAY_END}:
        it may end, with one of the others).
    @ivar suspends: after this piece the node may wait for something else
        than XML (a TLS handshake after C{<proceed/>}): what follows it is
        not judged.
    """

    data: bytes
    label: str
    stanzaId: str | None = None
    mustAnswer: bool = False
    allowed: frozenset[str] | None = None
    fatal: frozenset[str] | None = None
    suspends: bool = False

    @property
    def endsStream(self) -> bool:
        """
        Whether the piece may end the stream for a reason of its own (not
        only a limit of the node's).
        """
        return self.fatal is not None and not self.fatal <= LIMITED

    def withId(self, new: str) -> "Piece":
        """
        The same piece with its id attribute replaced by C{new} (the long
        run reuses drawn pieces with fresh ids).
        """
        if self.stanzaId is None:
            return self
        old = f" id='{self.stanzaId}'".encode()
        return Piece(
            self.data.replace(old, f" id='{new}'".encode(), 1), self.label, new,
            self.mustAnswer, self.allowed, self.fatal, self.suspends,
        )


def esc(text: str) -> str:
    """
    Escape text for an attribute value or character data.
    """
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        .replace("'", "&apos;").replace('"', "&quot;")
    )


def splitPoints(data: bytes) -> st.SearchStrategy[list[int]]:
    """
    Where to cut a byte string into reads (sorted, within it).
    """
    if len(data) < 2:
        return st.just([])
    return st.lists(st.integers(1, len(data) - 1), max_size=6, unique=True).map(sorted)


def chunks(data: bytes, points: Iterable[int]) -> list[bytes]:
    """
    C{data} cut at C{points}.
    """
    out, last = [], 0
    for point in points:
        out.append(data[last:point])
        last = point
    out.append(data[last:])
    return [c for c in out if c]
