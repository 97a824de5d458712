# -*- test-case-name: tests.fuzz.test_c2s,tests.fuzz.test_s2s -*-
"""
Hypothesis strategies that build client and server streams from valid and
mutated stanzas, for the fuzz tests (L{tests.fuzz}) and the long run
against a live node (C{bench/fuzz.py}).

Each strategy draws L{Piece}s: the bytes to send and what the node may
answer. A piece is one of

  - a valid stanza of a known namespace (message, presence, iq);
  - a mutated stanza that is still well-formed XML: wrong or missing
    namespaces, unknown elements, bad attribute values, invalid JIDs, huge
    attribute values and texts, deeply nested elements;
  - a fatal piece the node must answer with a stream error: bad UTF-8,
    DTDs, entities, comments, processing instructions, broken tags,
    unknown top-level elements, stanzas over the size limit.

The oracle is deliberately loose where RFC 6120 leaves a choice and strict
where it does not: an iq get or set to the node itself is always answered
(result or error, with its id); an error carries a defined condition with
the type RFC 6120 section 8.3.3 gives it; a stanza of type error is never
answered with an error; a mutation with a definite answer (a malformed JID
is C{jid-malformed}) names the conditions allowed for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from hypothesis import strategies as st

NS_CLIENT = "jabber:client"
NS_SERVER = "jabber:server"
NS_STREAMS = "http://etherx.jabber.org/streams"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
NS_STREAM_ERRORS = "urn:ietf:params:xml:ns:xmpp-streams"

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
_MALFORMED = frozenset({"not-well-formed", "restricted-xml", "invalid-xml", "bad-format",
                        "unsupported-encoding"})

#: The mutations a node may refuse with a limit of its own (depth,
#: attributes, sizes), and how such a limit may end the stream.
_BULKY = frozenset({"huge-attr", "huge-text", "deep", "many-attrs"})
_LIMITED = frozenset({MAY_END, "policy-violation", "resource-constraint"})


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
    """

    data: bytes
    label: str
    stanzaId: str | None = None
    mustAnswer: bool = False
    allowed: frozenset[str] | None = None
    fatal: frozenset[str] | None = None

    @property
    def endsStream(self) -> bool:
        """
        Whether the piece may end the stream for a reason of its own (not
        only a limit of the node's).
        """
        return self.fatal is not None and not self.fatal <= _LIMITED

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
            self.mustAnswer, self.allowed, self.fatal,
        )


def esc(text: str) -> str:
    """
    Escape text for an attribute value or character data.
    """
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        .replace("'", "&apos;").replace('"', "&quot;")
    )


# --------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------

#: XML 1.0 characters (no controls but tab, newline and return, no
#: surrogates, no U+FFFE/U+FFFF).
xmlText = st.text(
    st.characters(
        blacklist_categories=("Cs",),
        blacklist_characters="\ufffe\uffff",
        min_codepoint=0x20,
    )
    | st.sampled_from("\t\n\r"),
    max_size=40,
)

ids = st.integers(0, 10**9).map(lambda n: f"fz{n}")

#: JIDs the RFC 7622 rules refuse (and that XML can carry).
invalidJIDs = st.sampled_from(
    [
        "@localhost", "a@b@localhost", "user@", "/res", "localhost/", "a@localhost/",
        "x" * 1100 + "@localhost", "a@" + "h" * 1100, "a@localhost/" + "r" * 1100,
        "sp ace@localhost", "a@local host", "a\u2028b@localhost",
        "a@[::1", "a@.", "a@..localhost", "a@" + "\u00ad",
        "\"quote\"@localhost", "a@localhost:5222",
    ]
)

unknownNamespaces = st.sampled_from(
    ["urn:fuzz:unknown", "jabber:iq:nonexistent", "http://jabber.org/protocol/nope", "", "x"]
)

#: Payloads the node knows, for iq get to the node itself.
_KNOWN_GETS = [
    "<ping xmlns='urn:xmpp:ping'/>",
    "<query xmlns='http://jabber.org/protocol/disco#info'/>",
    "<query xmlns='http://jabber.org/protocol/disco#items'/>",
    "<query xmlns='jabber:iq:version'/>",
    "<time xmlns='urn:xmpp:time'/>",
    "<query xmlns='jabber:iq:last'/>",
    "<query xmlns='jabber:iq:roster'/>",
    "<vCard xmlns='vcard-temp'/>",
    "<blocklist xmlns='urn:xmpp:blocking'/>",
]

_KNOWN_SETS = [
    "<query xmlns='jabber:iq:roster'><item jid='{jid}' name='{text}'/></query>",
    "<query xmlns='jabber:iq:roster'><item jid='{jid}' subscription='remove'/></query>",
    "<enable xmlns='urn:xmpp:carbons:2'/>",
    "<disable xmlns='urn:xmpp:carbons:2'/>",
    "<block xmlns='urn:xmpp:blocking'><item jid='{jid}'/></block>",
    "<unblock xmlns='urn:xmpp:blocking'><item jid='{jid}'/></unblock>",
    "<vCard xmlns='vcard-temp'><FN>{text}</FN></vCard>",
    "<query xmlns='jabber:iq:private'><x xmlns='urn:fuzz:private'>{text}</x></query>",
]

_EXTENSIONS = [
    "<active xmlns='http://jabber.org/protocol/chatstates'/>",
    "<request xmlns='urn:xmpp:receipts'/>",
    "<private xmlns='urn:xmpp:carbons:2'/>",
    "<x xmlns='jabber:x:oob'><url>{text}</url></x>",
    "<thread>{text}</thread>",
    "<subject>{text}</subject>",
    "<x xmlns='http://jabber.org/protocol/muc#user'/>",
    "<delay xmlns='urn:xmpp:delay' stamp='{text}'/>",
    "<unknown xmlns='urn:fuzz:ext'><deeper a='{text}'/></unknown>",
    "<nons>{text}</nons>",
]


@dataclass(frozen=True)
class Addresses:
    """
    The addresses a stream's stanzas are built from.

    @ivar domain: the node's domain.
    @ivar own: the sender's bare JID.
    @ivar others: bare JIDs of other local accounts (online or not).
    @ivar remote: a domain the node does not serve.
    @ivar room: a room JID on the node's MUC service (or None).
    """

    domain: str = "localhost"
    own: str = "alice@localhost"
    others: tuple[str, ...] = ("bob@localhost", "nobody@localhost")
    remote: str = "remote.invalid"
    room: str | None = None


def _targets(addr: Addresses) -> st.SearchStrategy[tuple[str, str | None]]:
    """
    (kind, to) pairs: to the node, an account, the sender's own bare JID,
    nobody (no to), a remote domain, a room.
    """
    options: list[tuple[str, str | None]] = [
        ("none", None), ("server", addr.domain), ("own", addr.own),
        ("remote", f"someone@{addr.remote}"),
    ]
    options += [("user", jid) for jid in addr.others]
    if addr.room:
        options.append(("room", addr.room))
        options.append(("room", f"{addr.room}/nick"))
    return st.sampled_from(options)


def _toAttr(to: str | None) -> str:
    return f" to='{esc(to)}'" if to is not None else ""


# --------------------------------------------------------------------------
# Stanzas
# --------------------------------------------------------------------------


@st.composite
def messages(draw: st.DrawFn, addr: Addresses) -> Piece:
    """
    A message of any type to any target, with a body and extensions.
    """
    kind, to = draw(_targets(addr))
    stanzaType = draw(st.sampled_from([None, "chat", "normal", "headline", "groupchat", "error"]))
    stanzaId = draw(ids)
    body = draw(xmlText)
    parts = [f"<body>{esc(body)}</body>"]
    for extension in draw(st.lists(st.sampled_from(_EXTENSIONS), max_size=3)):
        parts.append(extension.format(text=esc(draw(xmlText))))
    typeAttr = f" type='{stanzaType}'" if stanzaType else ""
    data = f"<message{_toAttr(to)}{typeAttr} id='{stanzaId}'>{''.join(parts)}</message>"
    allowed = frozenset() if stanzaType == "error" else None
    return Piece(data.encode(), f"message/{kind}", stanzaId, allowed=allowed)


@st.composite
def presences(draw: st.DrawFn, addr: Addresses) -> Piece:
    """
    A presence of any type (a bogus one too) with show, status, priority.
    """
    kind, to = draw(_targets(addr))
    stanzaType = draw(
        st.sampled_from([None, "unavailable", "subscribe", "subscribed", "unsubscribe",
                         "unsubscribed", "probe", "error", "bogus"])
    )
    if stanzaType == "unavailable" and to is None:
        # Would end the sender's own availability: fine, but keep most
        # of a run available.
        stanzaType = None
    stanzaId = draw(ids)
    parts = []
    if draw(st.booleans()):
        parts.append(f"<show>{draw(st.sampled_from(['away', 'chat', 'dnd', 'xa', 'bogus', '']))}</show>")
    if draw(st.booleans()):
        parts.append(f"<status>{esc(draw(xmlText))}</status>")
    if draw(st.booleans()):
        priority = draw(st.sampled_from(["0", "5", "-128", "127", "128", "x", "", "1e3"]))
        parts.append(f"<priority>{priority}</priority>")
    typeAttr = f" type='{stanzaType}'" if stanzaType else ""
    data = f"<presence{_toAttr(to)}{typeAttr} id='{stanzaId}'>{''.join(parts)}</presence>"
    allowed = frozenset() if stanzaType == "error" else None
    return Piece(data.encode(), f"presence/{kind}", stanzaId, allowed=allowed)


@st.composite
def iqs(draw: st.DrawFn, addr: Addresses) -> Piece:
    """
    An iq get or set of a known namespace, to the node, to nobody (the
    account itself) or to another target.
    """
    kind, to = draw(_targets(addr))
    stanzaId = draw(ids)
    if draw(st.booleans()):
        stanzaType, payload = "get", draw(st.sampled_from(_KNOWN_GETS))
    else:
        stanzaType = "set"
        payload = draw(st.sampled_from(_KNOWN_SETS)).format(
            jid=esc(draw(st.sampled_from(addr.others))), text=esc(draw(xmlText))
        )
    data = f"<iq{_toAttr(to)} type='{stanzaType}' id='{stanzaId}'>{payload}</iq>"
    local = kind in ("none", "server", "own")
    return Piece(data.encode(), f"iq-{stanzaType}/{kind}", stanzaId, mustAnswer=local)


def validStanzas(addr: Addresses) -> st.SearchStrategy[Piece]:
    """
    Valid messages, presences and iqs.
    """
    return st.one_of(messages(addr), presences(addr), iqs(addr))


@st.composite
def mutatedStanzas(draw: st.DrawFn, addr: Addresses, maxDepth: int = 2000,
                   hugeSize: int = 100_000) -> Piece:
    """
    A well-formed stanza that is wrong in one way the node must answer or
    ignore without ending the stream.
    """
    stanzaId = draw(ids)
    name = draw(st.sampled_from(["message", "presence", "iq"]))
    mutation = draw(
        st.sampled_from(
            ["bad-to", "bad-from", "unknown-ns", "no-ns", "no-child", "two-children",
             "bad-type", "no-type", "huge-attr", "huge-text", "deep", "unknown-child",
             "result-unsolicited", "many-attrs", "xml-lang", "prefixed", "empty-id"]
        )
    )
    to = draw(st.sampled_from([None, addr.domain, addr.own] + list(addr.others)))
    iqType = draw(st.sampled_from(["get", "set"]))
    toAttr = _toAttr(to)
    local = to in (None, addr.domain, addr.own)
    if mutation == "bad-to":
        bad = draw(invalidJIDs)
        stanzaType = {"iq": " type='get'", "message": " type='chat'", "presence": ""}[name]
        payload = "<ping xmlns='urn:xmpp:ping'/>" if name == "iq" else "<body>x</body>" if name == "message" else ""
        data = f"<{name} to='{esc(bad)}'{stanzaType} id='{stanzaId}'>{payload}</{name}>"
        return Piece(data.encode(), f"{name}/bad-to", stanzaId, mustAnswer=name == "iq",
                     allowed=frozenset({"jid-malformed"}))
    if mutation == "bad-from":
        # A forged or malformed from: RFC 6120 8.1.2.1 lets the server
        # stamp the real one or end the stream with invalid-from.
        bad = draw(st.sampled_from(["mallory@localhost/x", "@x", "bob@localhost", "a@b@c"]))
        data = f"<{name}{toAttr} from='{esc(bad)}' id='{stanzaId}'/>"
        return Piece(data.encode(), f"{name}/bad-from", stanzaId,
                     fatal=frozenset({"invalid-from", MAY_END}))
    if name != "iq":
        return _mutatedOther(draw, name, mutation, toAttr, stanzaId, maxDepth, hugeSize)
    if mutation == "unknown-ns":
        ns = draw(unknownNamespaces)
        payload = f"<query xmlns='{esc(ns)}'/>"
        allowed = frozenset({"service-unavailable", "feature-not-implemented", "bad-request",
                             "item-not-found"})
    elif mutation in ("no-ns", "prefixed"):
        payload = "<query/>" if mutation == "no-ns" else "<p:query xmlns:p='urn:fuzz:p'/>"
        allowed = frozenset({"service-unavailable", "feature-not-implemented", "bad-request"})
    elif mutation == "no-child":
        payload = ""
        allowed = frozenset({"bad-request", "service-unavailable", "feature-not-implemented"})
    elif mutation == "two-children":
        payload = "<ping xmlns='urn:xmpp:ping'/><query xmlns='jabber:iq:version'/>"
        allowed = frozenset({"bad-request", "service-unavailable", "feature-not-implemented"})
    elif mutation in ("bad-type", "no-type"):
        typeAttr = "" if mutation == "no-type" else f" type='{esc(draw(st.sampled_from(['GET', 'bogus', ''])))}'"
        data = f"<iq{toAttr}{typeAttr} id='{stanzaId}'><ping xmlns='urn:xmpp:ping'/></iq>"
        return Piece(data.encode(), f"iq/{mutation}", stanzaId,
                     allowed=frozenset({"bad-request"}))
    elif mutation == "result-unsolicited":
        kind = draw(st.sampled_from(["result", "error"]))
        data = f"<iq{toAttr} type='{kind}' id='{stanzaId}'/>"
        return Piece(data.encode(), f"iq/unsolicited-{kind}", stanzaId,
                     allowed=frozenset() if kind == "error" else None)
    elif mutation == "empty-id":
        data = f"<iq{toAttr} type='get' id=''><ping xmlns='urn:xmpp:ping'/></iq>"
        return Piece(data.encode(), "iq/empty-id", None, allowed=frozenset({"bad-request"}))
    else:
        # huge-attr, huge-text, deep, unknown-child, many-attrs, xml-lang in
        # a known payload: answered, the value taken or refused (or the
        # stream ended by a limit on depth, attributes or sizes).
        payload = _bulkyPayload(draw, mutation, maxDepth, hugeSize)
        data = f"<iq{toAttr} type='{iqType}' id='{stanzaId}'>{payload}</iq>"
        return Piece(data.encode(), f"iq/{mutation}", stanzaId, mustAnswer=local,
                     fatal=_LIMITED if mutation in _BULKY else None)
    data = f"<iq{toAttr} type='{iqType}' id='{stanzaId}'>{payload}</iq>"
    return Piece(data.encode(), f"iq/{mutation}", stanzaId, mustAnswer=local, allowed=allowed)


def _bulkyPayload(draw: st.DrawFn, mutation: str, maxDepth: int, hugeSize: int) -> str:
    size = draw(st.integers(1_000, hugeSize))
    if mutation == "huge-attr":
        return f"<query xmlns='jabber:iq:private'><x xmlns='urn:fuzz:p' a='{'v' * size}'/></query>"
    if mutation == "huge-text":
        return f"<vCard xmlns='vcard-temp'><FN>{'t' * size}</FN></vCard>"
    if mutation == "deep":
        depth = draw(st.integers(10, maxDepth))
        return ("<query xmlns='jabber:iq:private'><x xmlns='urn:fuzz:deep'>"
                + "<a>" * depth + "</a>" * depth + "</x></query>")
    if mutation == "many-attrs":
        count = draw(st.integers(10, 500))
        attrs = "".join(f" a{i}='{i}'" for i in range(count))
        return f"<ping xmlns='urn:xmpp:ping'{attrs}/>"
    if mutation == "xml-lang":
        return f"<ping xmlns='urn:xmpp:ping' xml:lang='{esc(draw(xmlText))}'/>"
    return "<ping xmlns='urn:xmpp:ping'><unknown xmlns='urn:fuzz:c'/></ping>"


def _mutatedOther(draw: st.DrawFn, name: str, mutation: str, toAttr: str, stanzaId: str,
                  maxDepth: int, hugeSize: int) -> Piece:
    """
    Mutations of a message or presence.
    """
    size = draw(st.integers(1_000, hugeSize))
    typeAttr = ""
    if mutation in ("bad-type", "no-type"):
        typeAttr = f" type='{esc(draw(st.sampled_from(['bogus', '', 'CHAT', 'error'])))}'"
    if mutation == "huge-attr":
        body = f"<body xml:lang='{'l' * size}'>x</body>"
    elif mutation == "huge-text":
        body = f"<body>{'b' * size}</body>"
    elif mutation == "deep":
        depth = draw(st.integers(10, maxDepth))
        body = "<x xmlns='urn:fuzz:deep'>" + "<a>" * depth + "</a>" * depth + "</x>"
    elif mutation == "many-attrs":
        body = "<x xmlns='urn:fuzz:a'" + "".join(f" a{i}='{i}'" for i in range(draw(st.integers(10, 500)))) + "/>"
    elif mutation in ("unknown-ns", "no-ns", "prefixed"):
        body = f"<body xmlns='{esc(draw(unknownNamespaces))}'>x</body><p:q xmlns:p='urn:fuzz:p'/>"
    elif mutation == "xml-lang":
        body = f"<body xml:lang='{esc(draw(xmlText))}'>x</body>"
    elif mutation == "two-children":
        body = "<body>1</body><body>2</body><subject>s</subject><subject>t</subject>"
    else:
        body = "<unknown xmlns='urn:fuzz:u'/>"
    error = "error" in typeAttr
    data = f"<{name}{toAttr}{typeAttr} id='{stanzaId}'>{body}</{name}>"
    return Piece(data.encode(), f"{name}/{mutation}", stanzaId,
                 allowed=frozenset() if error else None,
                 fatal=_LIMITED if mutation in _BULKY else None)


# --------------------------------------------------------------------------
# Fatal pieces
# --------------------------------------------------------------------------

#: Byte sequences that are not UTF-8.
badUTF8 = st.sampled_from(
    [b"\xff", b"\xfe\xff", b"\xc3\x28", b"\xc0\xaf", b"\xe0\x80\xaf", b"\xed\xa0\x80",
     b"\xf8\x88\x80\x80\x80", b"\xf4\x90\x80\x80", b"\x80", b"\xe2\x82"]
)


@st.composite
def fatalPieces(draw: st.DrawFn, maxStanzaSize: int = 262144) -> Piece:
    """
    Input that must end the stream with a stream error.
    """
    kind = draw(
        st.sampled_from(
            ["bad-utf8", "doctype", "entity", "comment", "pi", "broken-tag", "control-char",
             "unknown-top", "wrong-ns-top", "too-large", "undefined-entity", "unclosed-attr",
             "duplicate-attr", "bad-prefix"]
        )
    )
    if kind == "bad-utf8":
        bad = draw(badUTF8)
        place = draw(st.sampled_from(["text", "attr", "name"]))
        if place == "text":
            data = b"<message to='bob@localhost'><body>a" + bad + b"b</body></message>"
        elif place == "attr":
            data = b"<message to='bob@localhost' id='" + bad + b"'/>"
        else:
            data = b"<mess" + bad + b"age/>"
        return Piece(data, "fatal/bad-utf8", fatal=_MALFORMED)
    if kind == "too-large":
        size = draw(st.integers(maxStanzaSize + 1, maxStanzaSize + 50_000))
        data = f"<message to='bob@localhost'><body>{'z' * size}</body></message>".encode()
        return Piece(data, "fatal/too-large", fatal=frozenset({"policy-violation"}))
    table = {
        "doctype": b"<!DOCTYPE message [<!ELEMENT message ANY>]><message/>",
        "entity": b"<!DOCTYPE m [<!ENTITY xxe SYSTEM 'file:///etc/passwd'>]><m>&xxe;</m>",
        "comment": b"<!-- a comment --><presence/>",
        "pi": b"<?fuzz do-something?><presence/>",
        "broken-tag": b"<message to='bob@localhost'><body>x</bod></message>",
        "control-char": b"<message><body>\x01\x02</body></message>",
        "unknown-top": b"<fuzz xmlns='urn:fuzz:top'/>",
        "wrong-ns-top": b"<message xmlns='jabber:server' to='bob@localhost'/>",
        "undefined-entity": b"<message><body>&undefined;</body></message>",
        "unclosed-attr": b"<message to='bob@localhost><body>x</body></message>",
        "duplicate-attr": b"<message to='a@localhost' to='b@localhost'/>",
        "bad-prefix": b"<undeclared:message/>",
    }
    conditions = {
        "unknown-top": frozenset({"unsupported-stanza-type"}),
        "wrong-ns-top": frozenset({"unsupported-stanza-type", "invalid-namespace"}),
        "bad-prefix": _MALFORMED | {"bad-namespace-prefix"},
    }
    return Piece(table[kind], f"fatal/{kind}", fatal=conditions.get(kind, _MALFORMED))


# --------------------------------------------------------------------------
# Streams
# --------------------------------------------------------------------------


def c2sStanzas(addr: Addresses, maxDepth: int = 2000, hugeSize: int = 100_000,
               ) -> st.SearchStrategy[Piece]:
    """
    One stanza of a bound client stream: valid or mutated, half and half.
    """
    return st.one_of(validStanzas(addr), mutatedStanzas(addr, maxDepth, hugeSize))


@st.composite
def c2sSessions(draw: st.DrawFn, addr: Addresses, maxStanzas: int = 12, maxDepth: int = 2000,
                hugeSize: int = 100_000, maxStanzaSize: int = 262144) -> list[Piece]:
    """
    What a bound client sends: stanzas, then sometimes one fatal piece.
    """
    pieces = draw(st.lists(c2sStanzas(addr, maxDepth, hugeSize), max_size=maxStanzas))
    if draw(st.integers(0, 3)) == 0:
        pieces.append(draw(fatalPieces(maxStanzaSize)))
    return pieces


@st.composite
def c2sHeaders(draw: st.DrawFn, domain: str = "localhost") -> tuple[bytes, frozenset[str] | None]:
    """
    A client stream header, valid or mutated, with the stream errors it
    must get (L{None}: a valid header).
    """
    kind = draw(st.sampled_from(["valid", "valid", "no-to", "bad-to", "other-host", "no-version",
                                 "old-version", "bad-version", "bad-ns", "bad-stream-ns",
                                 "not-stream", "huge-attr", "bad-utf8"]))
    ns, streamNs, to, version, name = NS_CLIENT, NS_STREAMS, domain, "1.0", "stream:stream"
    extra = ""
    fatal: frozenset[str] | None = None
    if kind == "no-to":
        to, fatal = None, frozenset({"host-unknown", "improper-addressing"})
    elif kind == "bad-to":
        to, fatal = draw(invalidJIDs), frozenset({"host-unknown", "improper-addressing"})
    elif kind == "other-host":
        to, fatal = "elsewhere.invalid", frozenset({"host-unknown"})
    elif kind == "no-version":
        version, fatal = None, frozenset({"unsupported-version"})
    elif kind == "old-version":
        version, fatal = "0.9", frozenset({"unsupported-version"})
    elif kind == "bad-version":
        version, fatal = draw(st.sampled_from(["x", "", "1.x", "-1.0"])), frozenset({"unsupported-version"})
    elif kind == "bad-ns":
        ns, fatal = draw(st.sampled_from([NS_SERVER, "urn:fuzz", ""])), frozenset({"invalid-namespace"})
    elif kind == "bad-stream-ns":
        streamNs, fatal = "urn:fuzz:streams", frozenset({"invalid-namespace"})
    elif kind == "not-stream":
        name, fatal = "stream:flow", frozenset({"invalid-namespace"})
    elif kind == "huge-attr":
        extra = f" xml:lang='{'l' * draw(st.integers(1000, 100_000))}'"
    elif kind == "bad-utf8":
        return (b"<stream:stream xmlns='jabber:client' xmlns:stream='" + NS_STREAMS.encode()
                + b"' to='" + domain.encode() + b"\xff' version='1.0'>", _MALFORMED | {"host-unknown"})
    toAttr = f" to='{esc(to)}'" if to is not None else ""
    versionAttr = f" version='{esc(version)}'" if version is not None else ""
    header = (f"<?xml version='1.0'?><{name} xmlns='{esc(ns)}' xmlns:stream='{streamNs}'"
              f"{toAttr}{versionAttr}{extra}>")
    return header.encode("utf-8"), fatal


@st.composite
def preAuthPieces(draw: st.DrawFn) -> Piece:
    """
    What a client may send before it authenticates: SASL elements with
    bad mechanisms and data, stanzas (which end the stream), iqs.
    """
    kind = draw(st.sampled_from(["auth-bad-mech", "auth-bad-b64", "auth-plain-wrong", "response",
                                 "abort", "stanza", "bind-early", "starttls", "sasl-unknown"]))
    if kind == "auth-bad-mech":
        mech = esc(draw(st.sampled_from(["FUZZ", "", "DIGEST-MD5", "X" * 100])))
        data = f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='{mech}'/>"
    elif kind == "auth-bad-b64":
        data = "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>!!not base64!!</auth>"
    elif kind == "auth-plain-wrong":
        import base64

        blob = base64.b64encode(b"\x00alice\x00wrong-password").decode()
        data = f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{blob}</auth>"
    elif kind == "response":
        data = "<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>eA==</response>"
    elif kind == "abort":
        data = "<abort xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"
    elif kind == "stanza":
        data = "<message to='bob@localhost'><body>early</body></message>"
        return Piece(data.encode(), "pre-auth/stanza", fatal=frozenset({"not-authorized"}))
    elif kind == "bind-early":
        data = ("<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                "<resource>r</resource></bind></iq>")
        return Piece(data.encode(), "pre-auth/bind", "b1",
                     fatal=frozenset({"not-authorized", MAY_END}))
    elif kind == "starttls":
        data = "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
        return Piece(data.encode(), "pre-auth/starttls", fatal=frozenset({MAY_END}))
    else:
        data = "<fuzz xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"
        return Piece(data.encode(), "pre-auth/sasl-unknown",
                     fatal=frozenset({MAY_END, "unsupported-stanza-type", "not-authorized"}))
    # SASL failures may, after a few, end the stream (policy-violation or
    # not-authorized).
    return Piece(data.encode(), f"pre-auth/{kind}",
                 fatal=frozenset({MAY_END, "not-authorized", "policy-violation"}))


# --------------------------------------------------------------------------
# Server-to-server
# --------------------------------------------------------------------------

DB = "jabber:server:dialback"


@st.composite
def s2sHeaders(draw: st.DrawFn, local: str = "a.test", peer: str = "b.test",
               ) -> tuple[bytes, frozenset[str] | None]:
    """
    An s2s stream header, valid or mutated, with the stream errors it must
    get (L{None}: valid).
    """
    kind = draw(st.sampled_from(["valid", "valid", "valid", "no-from", "bad-from", "bad-to",
                                 "other-host", "bad-ns", "bad-stream-ns", "no-version"]))
    ns, streamNs, sender, to, version = NS_SERVER, NS_STREAMS, peer, local, " version='1.0'"
    fatal: frozenset[str] | None = None
    if kind == "no-from":
        sender = None
    elif kind == "bad-from":
        sender, fatal = draw(st.sampled_from(["a@b@c", "@", "x" * 1100, "bad host"])), frozenset({"invalid-from"})
    elif kind == "bad-to":
        to, fatal = draw(st.sampled_from(["a@b@c", "@", "bad host"])), frozenset({"host-unknown"})
    elif kind == "other-host":
        to, fatal = "elsewhere.invalid", frozenset({"host-unknown"})
    elif kind == "bad-ns":
        ns, fatal = draw(st.sampled_from([NS_CLIENT, "urn:fuzz"])), frozenset({"invalid-namespace"})
    elif kind == "bad-stream-ns":
        streamNs, fatal = "urn:fuzz:streams", frozenset({"invalid-namespace"})
    elif kind == "no-version":
        version = ""
    fromAttr = f" from='{esc(sender)}'" if sender is not None else ""
    header = (f"<?xml version='1.0'?><stream:stream xmlns='{esc(ns)}' xmlns:stream='{streamNs}' "
              f"xmlns:db='{DB}'{fromAttr} to='{esc(to)}'{version}>")
    return header.encode("utf-8"), fatal


@st.composite
def dialbackPieces(draw: st.DrawFn, local: str = "a.test", peer: str = "b.test") -> Piece:
    """
    A C{db:verify} or C{db:result} with arbitrary addresses, ids and keys:
    answered valid, invalid or error; a missing address ends the stream
    with improper-addressing, a malformed originating domain with
    invalid-from (and a limit on dialback may end the stream).
    """
    name = draw(st.sampled_from(["verify", "result"]))
    sender = draw(st.sampled_from([peer, "c.test", "", None, "bad host", "x" * 300]))
    to = draw(st.sampled_from([local, "elsewhere.invalid", "", None]))
    streamId = draw(st.sampled_from(["abc", "", None, "i" * 500]))
    key = draw(st.sampled_from(["", "00", "deadbeef" * 8, "k" * 5000])) + esc(draw(xmlText))
    attrs = "".join(
        f" {k}='{esc(v)}'" for k, v in (("from", sender), ("to", to), ("id", streamId)) if v is not None
    )
    data = f"<db:{name}{attrs}>{key}</db:{name}>".encode("utf-8")
    fatal: frozenset[str] | None = _LIMITED
    if not sender or not to or (name == "verify" and not streamId):
        fatal = frozenset({"improper-addressing"})
    elif name == "result" and sender in ("bad host", "x" * 300):
        fatal = frozenset({"invalid-from"})
    return Piece(data, f"dialback/{name}", fatal=fatal)


@st.composite
def s2sStanzas(draw: st.DrawFn, local: str = "a.test", peer: str = "b.test",
               maxDepth: int = 2000, hugeSize: int = 100_000) -> Piece:
    """
    A stanza from the peer's domain to this node, valid or mutated (in
    jabber:server, with from and to), and sometimes addressed so that it
    must end the stream.
    """
    addr = Addresses(domain=local, own=f"bob@{peer}", others=(f"alice@{local}", f"nobody@{local}"),
                     remote="elsewhere.invalid")
    inner = draw(st.one_of(validStanzas(addr), mutatedStanzas(addr, maxDepth, hugeSize)))
    data = inner.data
    addressing = draw(st.sampled_from(["ok", "ok", "ok", "ok", "no-from", "spoofed", "other-host"]))
    sender = {"ok": f"bob@{peer}/res", "spoofed": "eve@spoofed.invalid/x", "other-host": f"bob@{peer}/res",
              "no-from": None}[addressing]
    for name in ("message", "presence", "iq"):
        opening = f"<{name}".encode()
        if data.startswith(opening):
            rest = data[len(opening):]
            # Every s2s stanza needs a to: the mutated ones without one get
            # the local domain, other-host gets a foreign one.
            if b" to='" not in rest.split(b">", 1)[0]:
                rest = f" to='{local}'".encode() + rest
            if addressing == "other-host":
                rest = rest.replace(b" to='", b" to='x.elsewhere.invalid' data-to='", 1)
            if b" from='" in rest.split(b">", 1)[0]:
                rest = rest.replace(b" from='", b" data-from='", 1)
            fromAttr = f" from='{sender}'".encode() if sender else b""
            data = opening + fromAttr + rest
            break
    fatal = inner.fatal
    to = re.search(rb" to='([^']*)'", data)
    foreign = to is not None and to.group(1).split(b"/")[0].rpartition(b"@")[2] in (
        peer.encode(), addr.remote.encode())
    if addressing == "ok" and foreign:
        # To a domain this node does not serve.
        fatal = frozenset({"host-unknown"})
    elif addressing == "no-from":
        fatal = frozenset({"improper-addressing"})
    elif addressing == "spoofed":
        fatal = frozenset({"invalid-from"})
    elif addressing == "other-host":
        fatal = frozenset({"host-unknown"})
    elif fatal is not None and MAY_END in fatal:
        fatal = None
    label = f"s2s/{inner.label}" + ("" if addressing == "ok" else f"/{addressing}")
    # Replies to a remote sender go back over the link, not this stream.
    return Piece(data, label, inner.stanzaId, mustAnswer=False,
                 allowed=inner.allowed if addressing == "ok" else None, fatal=fatal)


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
