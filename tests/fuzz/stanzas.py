# -*- test-case-name: tests.fuzz.test_c2s,tests.fuzz.test_s2s -*-
"""
Strategies for single stanzas: valid ones of known namespaces, mutated
ones that are still well-formed XML, and fatal pieces that must end the
stream.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st

from tests.fuzz.pieces import BULKY, LIMITED, MALFORMED, MAY_END, Piece, esc

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
                     fatal=LIMITED if mutation in BULKY else None)
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
                 fatal=LIMITED if mutation in BULKY else None)


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
        return Piece(data, "fatal/bad-utf8", fatal=MALFORMED)
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
        "bad-prefix": MALFORMED | {"bad-namespace-prefix"},
    }
    return Piece(table[kind], f"fatal/{kind}", fatal=conditions.get(kind, MALFORMED))
