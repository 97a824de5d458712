# -*- test-case-name: tests.fuzz.test_c2s,tests.fuzz.test_s2s -*-
"""
Hypothesis strategies that build client and server streams from valid and
mutated stanzas, for the fuzz tests (L{tests.fuzz}) and the long run
against a live node (C{bench/fuzz.py}). This module has the streams
(client sessions and negotiations, server-to-server streams);
L{tests.fuzz.stanzas} the single stanzas, L{tests.fuzz.pieces} what they
draw and the RFC 6120 tables.

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

from hypothesis import strategies as st

from tests.fuzz.pieces import (
    DB,
    LIMITED,
    MALFORMED,
    MAY_END,
    NS_CLIENT,
    NS_SERVER,
    NS_STREAMS,
    Piece,
    esc,
)
from tests.fuzz.stanzas import (  # noqa: F401  (used here, and offered with the streams)
    Addresses,
    fatalPieces,
    invalidJIDs,
    mutatedStanzas,
    validStanzas,
    xmlText,
)

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
        version, fatal = draw(st.sampled_from(["x", "", "-1.0", "0.5"])), frozenset({"unsupported-version"})
    elif kind == "bad-ns":
        ns, fatal = draw(st.sampled_from([NS_SERVER, "urn:fuzz", ""])), frozenset({"invalid-namespace"})
    elif kind == "bad-stream-ns":
        streamNs, fatal = "urn:fuzz:streams", frozenset({"invalid-namespace"})
    elif kind == "not-stream":
        name, fatal = "stream:flow", frozenset({"invalid-namespace"})
    elif kind == "huge-attr":
        # Past the pre-authentication stanza limit the header itself ends
        # the stream (policy-violation).
        extra = f" xml:lang='{'l' * draw(st.integers(1000, 100_000))}'"
        fatal = LIMITED
    elif kind == "bad-utf8":
        return (b"<stream:stream xmlns='jabber:client' xmlns:stream='" + NS_STREAMS.encode()
                + b"' to='" + domain.encode() + b"\xff' version='1.0'>", MALFORMED | {"host-unknown"})
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
        return Piece(data.encode(), "pre-auth/starttls", fatal=frozenset({MAY_END}), suspends=True)
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
    fatal: frozenset[str] | None = LIMITED
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
    if fatal is not None and inner.fatal is not None and "policy-violation" in inner.fatal:
        # The parse limits (depth, elements, attributes, size) are checked
        # while the stanza is read, before its addressing.
        fatal = fatal | {"policy-violation"}
    label = f"s2s/{inner.label}" + ("" if addressing == "ok" else f"/{addressing}")
    # Replies to a remote sender go back over the link, not this stream.
    return Piece(data, label, inner.stanzaId, mustAnswer=False,
                 allowed=inner.allowed if addressing == "ok" else None, fatal=fatal)
