# -*- test-case-name: tests.muc.test_parse -*-
"""
The edge: stanzas addressed to a room (C{room@service} or
C{room@service/nick}) parsed into the values of L{xmuc.muc.events}.

Anything malformed raises the domain exception its error maps to
(C{bad-request}, C{jid-malformed} ...), so the engine only ever sees
well-formed input. Clients may not speak for the room: a muc#user element
carrying status codes or items from a client is C{bad-request}, and
stanza-ids or occupant-ids they add are removed (XEP-0359 section 6,
XEP-0421 section 4), and so are delays claiming to be the room's.

L{parseStanza} answers L{None} for stanzas a room ignores by design
(presence subscriptions and probes to occupants).
"""

from __future__ import annotations

from typing import Any, Callable

from twisted.words.protocols.jabber.jid import JID
from twisted.words.xish import domish

from xmuc.core.errors import BadRequest, ServiceUnavailable
from xmuc.core.jid import InvalidJID, parseJID
from xmuc.dmuc.ns import NS_DMUC
from xmuc.muc import events as ev
from xmuc.muc.forms import SubmittedForm, findForm, parseBoolean, parseForm
from xmuc.muc.model import Affiliation, Role
from xmuc.muc.ns import (
    NS_DELAY,
    NS_DISCO_INFO,
    NS_DISCO_ITEMS,
    NS_MAM,
    NS_MUC,
    NS_MUC_ADMIN,
    NS_MUC_OWNER,
    NS_MUC_REQUEST,
    NS_MUC_USER,
    NS_OCCUPANT_ID,
    NS_PING,
    NS_REGISTER,
    NS_RSM,
    NS_SID,
    NS_STANZAS,
)
from xmuc.muc.stanzas import parseStamp

_IGNORED_PRESENCE = frozenset(("probe", "subscribed", "unsubscribe", "unsubscribed"))


def _child(parent: domish.Element, uri: str, name: str) -> domish.Element | None:
    for child in parent.elements(uri, name):
        return child
    return None


def _text(parent: domish.Element | None, name: str) -> str | None:
    if parent is None:
        return None
    child = _child(parent, parent.uri, name)
    return None if child is None else str(child)


def _jid(text: str | None) -> JID | None:
    return None if text is None else parseJID(text)


def _int(value: str | None, what: str) -> int | None:
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        raise BadRequest(f"{what} is not a number") from None
    if number < 0:
        raise BadRequest(f"{what} is negative")
    return number


def _time(value: str | None, what: str) -> float | None:
    if value is None:
        return None
    try:
        return parseStamp(value)
    except ValueError:
        raise BadRequest(f"{what} is not an XEP-0082 DateTime") from None


def payloadOf(stanza: domish.Element, room: str) -> tuple[Any, ...]:
    """
    The children a room passes on: not the MUC elements, not ids only the
    room may set, no text between elements.

    @raise BadRequest: for a muc#user element with items or status codes.
    """
    kept = []
    for child in stanza.elements():
        uri = child.uri
        if uri == NS_MUC_USER:
            if any(c.name in ("item", "status") for c in child.elements()):
                raise BadRequest("Status codes and items are the room's to send")
        elif uri == NS_MUC or uri == NS_OCCUPANT_ID or uri == NS_DMUC:
            # The DMUC marker is the primary's to set on its copies for
            # replicas (xmuc.dmuc.marker): one from an occupant would
            # break their sequence.
            continue
        elif uri == NS_SID and child.name == "stanza-id" and child.getAttribute("by") == room:
            continue
        elif uri == NS_DELAY and child.name == "delay" and child.getAttribute("from") == room:
            # Only the room stamps in its own name: history and MAM show
            # the time it first received the message (XEP-0203).
            continue
        else:
            kept.append(child)
    return tuple(kept)


def _condition(stanza: domish.Element) -> str:
    error = _child(stanza, stanza.uri, "error")
    for child in error.elements() if error is not None else ():
        if child.uri == NS_STANZAS and child.name != "text":
            return child.name
    return "undefined-condition"


def _presence(stanza: domish.Element, sender: JID, to: JID, room: str) -> Any:
    kind = stanza.getAttribute("type")
    common = dict(sender=sender, to=to, id=stanza.getAttribute("id"))
    if kind == "error":
        return ev.ErrorIn(name="presence", condition=_condition(stanza), **common)
    if kind in _IGNORED_PRESENCE:
        return None
    if kind not in (None, "unavailable"):
        raise ServiceUnavailable("Rooms take no subscriptions")
    join = None
    x = _child(stanza, NS_MUC, "x")
    if x is not None:
        history = _child(x, NS_MUC, "history")
        request = None if history is None else ev.HistoryRequest(
            _int(history.getAttribute("maxstanzas"), "maxstanzas"),
            _int(history.getAttribute("maxchars"), "maxchars"),
            _int(history.getAttribute("seconds"), "seconds"),
            _time(history.getAttribute("since"), "since"),
        )
        join = ev.JoinRequest(_text(x, "password"), request)
    return ev.PresenceIn(nick=to.resource or "", available=kind is None,
                         payload=payloadOf(stanza, room), join=join, **common)


def _message(stanza: domish.Element, sender: JID, to: JID, room: str) -> Any:
    kind = stanza.getAttribute("type", "normal")
    common = dict(sender=sender, to=to, id=stanza.getAttribute("id"))
    if kind == "error":
        return ev.ErrorIn(name="message", condition=_condition(stanza), **common)
    if to.user is None:
        raise ServiceUnavailable("The service takes no messages")
    payload = payloadOf(stanza, room)
    if to.resource is not None:
        return ev.PrivateIn(nick=to.resource, kind=kind, payload=payload, **common)
    if kind == "groupchat":
        return ev.GroupchatIn(body=_text(stanza, "body"), subject=_text(stanza, "subject"),
                              payload=payload, **common)
    x = _child(stanza, NS_MUC_USER, "x")
    if x is not None:
        invites = tuple(
            ev.Invitation(_requiredJID(i.getAttribute("to")), _text(i, "reason") or "")
            for i in x.elements(NS_MUC_USER, "invite")
        )
        if invites:
            return ev.InviteIn(invitations=invites, **common)
        decline = _child(x, NS_MUC_USER, "decline")
        if decline is not None:
            return ev.DeclineIn(invitor=_requiredJID(decline.getAttribute("to")),
                                reason=_text(decline, "reason") or "", **common)
    form = findForm(stanza)
    if form is not None:
        return _voice(parseForm(form), common)
    raise BadRequest("Send messages to the room as groupchat")


def _requiredJID(text: str | None) -> JID:
    if not text:
        raise BadRequest("a JID is required")
    return parseJID(text)


def _voice(form: SubmittedForm, common: dict[str, Any]) -> Any:
    if form.formType != NS_MUC_REQUEST or form.kind != "submit":
        raise BadRequest("not a muc#request form")
    allow = form.single("muc#request_allow")
    if allow is None:
        return ev.VoiceRequestIn(**common)
    return ev.VoiceApprovalIn(nick=form.single("muc#roomnick") or "",
                              allow=parseBoolean("muc#request_allow", allow), **common)


def _adminItem(item: domish.Element) -> ev.AdminItem:
    try:
        role = item.getAttribute("role")
        affiliation = item.getAttribute("affiliation")
        return ev.AdminItem(
            nick=item.getAttribute("nick"),
            jid=_jid(item.getAttribute("jid")),
            role=Role.fromLabel(role) if role else None,
            affiliation=Affiliation.fromLabel(affiliation) if affiliation else None,
            reason=_text(item, "reason") or "",
        )
    except ValueError as e:
        if isinstance(e, InvalidJID):
            raise
        raise BadRequest(str(e)) from None


def _admin(kind: str, payload: domish.Element, common: dict[str, Any]) -> Any:
    items = tuple(_adminItem(i) for i in payload.elements(NS_MUC_ADMIN, "item"))
    if not items:
        raise BadRequest("no item")
    if kind == "set":
        return ev.AdminSetIn(items=items, **common)
    if len(items) != 1:
        raise BadRequest("ask for one list at a time")
    return ev.AdminGetIn(affiliation=items[0].affiliation, role=items[0].role, **common)


def _owner(kind: str, payload: domish.Element, common: dict[str, Any]) -> Any:
    if kind == "get":
        return ev.OwnerGetIn(**common)
    destroy = _child(payload, NS_MUC_OWNER, "destroy")
    if destroy is not None:
        return ev.DestroyIn(alternate=_jid(destroy.getAttribute("jid")),
                            reason=_text(destroy, "reason") or "",
                            password=_text(destroy, "password"), **common)
    form = findForm(payload)
    if form is None:
        raise BadRequest("a configuration form or destroy is required")
    return ev.OwnerSetIn(form=parseForm(form), **common)


def _register(kind: str, payload: domish.Element, common: dict[str, Any]) -> Any:
    if kind == "get":
        return ev.RegisterGetIn(**common)
    if _child(payload, NS_REGISTER, "remove") is not None:
        return ev.RegisterSetIn(form=None, remove=True, **common)
    form = findForm(payload)
    return ev.RegisterSetIn(form=parseForm(form) if form is not None else None, **common)


def _archiveQuery(kind: str, payload: domish.Element, common: dict[str, Any]) -> Any:
    form = findForm(payload)
    values = parseForm(form) if form is not None else SubmittedForm("submit")
    rsm = _child(payload, NS_RSM, "set")
    with_ = values.single("with")
    return ev.ArchiveQuery(
        queryId=payload.getAttribute("queryid"),
        start=_time(values.single("start"), "start"),
        end=_time(values.single("end"), "end"),
        with_=parseJID(with_).userhost() if with_ else None,
        max=_int(_text(rsm, "max"), "max"),
        after=_text(rsm, "after"),
        before=_text(rsm, "before"),
        **common,
    )


_ROOM_IQ: dict[tuple[str, str], Callable[[str, domish.Element, dict[str, Any]], Any]] = {
    ("get", NS_MUC_ADMIN): _admin,
    ("set", NS_MUC_ADMIN): _admin,
    ("get", NS_MUC_OWNER): _owner,
    ("set", NS_MUC_OWNER): _owner,
    ("get", NS_DISCO_INFO): lambda k, p, c: ev.DiscoInfoIn(node=p.getAttribute("node", ""), **c),
    ("get", NS_DISCO_ITEMS): lambda k, p, c: ev.DiscoItemsIn(node=p.getAttribute("node", ""), **c),
    ("get", NS_REGISTER): _register,
    ("set", NS_REGISTER): _register,
    ("get", NS_PING): lambda k, p, c: ev.PingIn(**c),
    ("set", NS_MAM): _archiveQuery,
}


def _iq(stanza: domish.Element, sender: JID, to: JID, room: str) -> Any:
    kind = stanza.getAttribute("type")
    common = dict(sender=sender, to=to, id=stanza.getAttribute("id"))
    if kind in ("result", "error"):
        return ev.IQReplyIn(kind=kind, children=tuple(stanza.elements()), **common)
    payload = stanza.firstChildElement()
    if kind not in ("get", "set") or payload is None:
        raise BadRequest("an IQ request has a type and one payload")
    if to.resource is not None:
        return ev.IQToOccupantIn(nick=to.resource, kind=kind, payload=payload,
                                 namespace=payload.uri or "", **common)
    parser = _ROOM_IQ.get((kind, payload.uri))
    if parser is None:
        raise ServiceUnavailable()
    return parser(kind, payload, common)


_PARSERS = {"presence": _presence, "message": _message, "iq": _iq}


def parseStanza(stanza: domish.Element, to: JID) -> Any:
    """
    The event for a stanza addressed to C{to} (a room or occupant JID).

    @raise BadRequest: and the other domain exceptions, for bad input.
    """
    parser = _PARSERS.get(stanza.name)
    if parser is None:
        raise BadRequest("not a stanza")
    try:
        sender = parseJID(stanza["from"])
    except KeyError:
        raise BadRequest("a stanza without from") from None
    return parser(stanza, sender, to, to.userhost())
