# -*- test-case-name: tests.dmuc.test_marker -*-
"""
The C{<x xmlns='urn:xmpp:tmp:dmuc:0' seq='N'>} marker that every stanza a
primary sends a replica carries (../shared/design/dmuc.md sections 2 to 4),
its value L{Marker}, and the helpers that add it to and strip it from a
stanza cheaply.

Children, all optional:
  - C{<enter jid/>}: the presence admits this real full JID (section 3);
  - C{<history maxstanzas maxchars seconds since/>}: the entrant's own
    XEP-0045 history request, copied (only with C{<enter/>});
  - C{<leave jid/>}: the unavailable presence removes this real JID;
  - C{<delay xmlns='urn:xmpp:delay' from stamp/>}: the time the primary
    set on a message (the replica evaluates C{seconds} and C{since}
    against it, never against its own clock).

Fan-out cost: the primary serialises a broadcast once and, for each
replica, splices C{to} and the marker's bytes into that serialisation
(L{markerBytes}, L{spliceMarker}); the replica takes the marker off with
L{unmarked}, a new envelope around the same children without C{to}, so the
glue again serialises that template once and splices C{to} per local
occupant.
"""

from __future__ import annotations

from dataclasses import dataclass

from twisted.words.protocols.jabber.jid import JID
from twisted.words.xish import domish

from xmuc.core.stanza import readdressed
from xmuc.dmuc.ns import NS_DMUC
from xmuc.dmuc.edge import DMUCProtocolError, address, child, number, only, required
from xmuc.muc.events import HistoryRequest
from xmuc.muc.ns import NS_DELAY
from xmuc.muc.stanzas import parseStamp, stamp


@dataclass(frozen=True)
class Delay:
    """
    The primary's C{<delay/>} on a message: POSIX time and who set it.
    """

    stamp: float
    sender: JID


@dataclass(frozen=True)
class Marker:
    """
    The DMUC element of a stanza from a primary to a replica.

    @ivar seq: the number of this stanza for this replica in the epoch,
        from 1.
    """

    seq: int
    enter: JID | None = None
    history: HistoryRequest | None = None
    leave: JID | None = None
    delay: Delay | None = None


def _escape(value: str) -> str:
    return domish.escapeToXml(value, 1)


def _historyAttributes(request: HistoryRequest) -> list[tuple[str, str]]:
    pairs = [(name, getattr(request, name)) for name in ("maxstanzas", "maxchars", "seconds")]
    attributes = [(name, str(value)) for name, value in pairs if value is not None]
    if request.since is not None:
        attributes.append(("since", stamp(request.since)))
    return attributes


def markerBytes(marker: Marker) -> bytes:
    """
    The serialised marker, namespace declared, ready to splice into any
    serialised stanza. Built directly (one per replica per broadcast).
    """
    parts = [f"<x xmlns='{NS_DMUC}' seq='{marker.seq}'"]
    inner = []
    if marker.enter is not None:
        inner.append(f"<enter jid='{_escape(marker.enter.full())}'/>")
    if marker.history is not None:
        attributes = "".join(f" {k}='{_escape(v)}'"
                             for k, v in _historyAttributes(marker.history))
        inner.append(f"<history{attributes}/>")
    if marker.leave is not None:
        inner.append(f"<leave jid='{_escape(marker.leave.full())}'/>")
    if marker.delay is not None:
        inner.append(f"<delay xmlns='{NS_DELAY}' from='{_escape(marker.delay.sender.full())}'"
                     f" stamp='{stamp(marker.delay.stamp)}'/>")
    parts.append(">" + "".join(inner) + "</x>" if inner else "/>")
    return "".join(parts).encode("utf-8")


def renderMarker(marker: Marker) -> domish.Element:
    """
    The marker as an element.
    """
    x = domish.Element((NS_DMUC, "x"))
    x["seq"] = str(marker.seq)
    if marker.enter is not None:
        x.addElement("enter")["jid"] = marker.enter.full()
    if marker.history is not None:
        history = x.addElement("history")
        for key, value in _historyAttributes(marker.history):
            history[key] = value
    if marker.leave is not None:
        x.addElement("leave")["jid"] = marker.leave.full()
    if marker.delay is not None:
        delay = x.addElement((NS_DELAY, "delay"))
        delay["from"] = marker.delay.sender.full()
        delay["stamp"] = stamp(marker.delay.stamp)
    return x


def _optionalNumber(element: domish.Element, name: str) -> int | None:
    return None if element.getAttribute(name) is None else number(element, name)


def _history(element: domish.Element) -> HistoryRequest:
    since = element.getAttribute("since")
    try:
        when = None if since is None else parseStamp(since)
    except ValueError:
        raise DMUCProtocolError("<history/> since is not an XEP-0082 DateTime") from None
    return HistoryRequest(_optionalNumber(element, "maxstanzas"),
                          _optionalNumber(element, "maxchars"),
                          _optionalNumber(element, "seconds"), when)


def _delay(element: domish.Element) -> Delay:
    try:
        when = parseStamp(required(element, "stamp"))
    except ValueError:
        raise DMUCProtocolError("<delay/> stamp is not an XEP-0082 DateTime") from None
    return Delay(when, address(element, "from"))


def parseMarker(x: domish.Element) -> Marker:
    """
    The value of a marker element.

    @raise DMUCProtocolError: for a missing or bad C{seq}, a repeated
        child, both C{<enter/>} and C{<leave/>}, or C{<history/>} without
        C{<enter/>}.
    """
    seq = number(x, "seq", least=1)
    enter, leave = only(x, NS_DMUC, "enter"), only(x, NS_DMUC, "leave")
    history, delay = only(x, NS_DMUC, "history"), only(x, NS_DELAY, "delay")
    if enter is not None and leave is not None:
        raise DMUCProtocolError("a stanza cannot both enter and leave")
    if history is not None and enter is None:
        raise DMUCProtocolError("<history/> without <enter/>")
    return Marker(
        seq,
        None if enter is None else address(enter, full=True),
        None if history is None else _history(history),
        None if leave is None else address(leave, full=True),
        None if delay is None else _delay(delay),
    )


def findMarker(stanza: domish.Element) -> domish.Element | None:
    """
    The stanza's marker element, or L{None}.
    """
    return child(stanza, NS_DMUC, "x")


def marked(stanza: domish.Element, marker: Marker, to: str | None = None) -> domish.Element:
    """
    A light copy of C{stanza} (new envelope, same children) with the
    marker appended, to C{to} when given. The original is untouched.
    """
    return readdressed(stanza, to, extra=(renderMarker(marker),))


def unmarked(stanza: domish.Element) -> tuple[domish.Element, Marker | None]:
    """
    The fan-out template of a stanza a replica received: a light copy
    (new envelope, same children) without its marker and without C{to},
    so that the glue serialises it once and splices each local occupant's
    C{to}; and the marker's value, L{None} when there was none. The
    received stanza is left as it is.

    @raise DMUCProtocolError: for several markers or a malformed one.
    """
    markers = [c for c in stanza.children
               if isinstance(c, domish.Element) and c.name == "x" and c.uri == NS_DMUC]
    if len(markers) > 1:
        raise DMUCProtocolError("more than one DMUC element in a stanza")
    value = parseMarker(markers[0]) if markers else None
    template = readdressed(stanza, None)
    template.attributes.pop("to", None)
    if markers:
        template.children = [c for c in stanza.children if c is not markers[0]]
    return template, value


def spliceMarker(serialised: bytes, name: str, marker: bytes) -> bytes:
    """
    Insert a serialised marker as the last child of a serialised stanza
    C{name} (C{<message …>…</message>} or C{<presence …/>}), without
    parsing or serialising the stanza again.

    @raise ValueError: when C{serialised} does not end like a C{name}
        stanza.
    """
    close = b"</" + name.encode("ascii") + b">"
    if serialised.endswith(close):
        return serialised[:-len(close)] + marker + close
    if serialised.endswith(b"/>"):
        return serialised[:-2] + b">" + marker + close
    raise ValueError(f"not a serialised <{name}/>")
