# -*- test-case-name: tests.dmuc.test_wire -*-
"""
The DMUC wire format (../shared/design/dmuc.md, sections 2 and 6): the IQ
payloads between a room's primary and a replica, as frozen values, with
L{parse} (from a C{domish} element, at the edge) and C{render} (to one).

  - L{Attach}: C{<attach epoch keepalive history anonymity [broadcast]>}
    with C{<outcast jid/>} children, primary to replica (iq set);
  - L{Outcasts}: C{<outcasts>} with C{<outcast jid/>} children, the whole
    updated ban list for the replica's domain (iq set, primary to replica);
  - L{Detach}: C{<detach/>} (iq set, primary to replica);
  - L{Resync}: C{<resync epoch last-seq>} with C{<occupant jid nick>
    <presence/></occupant>} and C{<spooled><message/>…</spooled>}, replica
    to primary (iq set);
  - L{Resynced}: C{<resynced epoch mode last-seq count/>}, the primary's
    answer (in the iq result); the replayed or snapshot stanzas follow it
    as ordinary marked stanzas (L{xmuc.dmuc.marker}).

Stanzas carried inside a payload (an occupant's presence, a spooled
message) are kept as L{Embedded}: their serialisation in C{jabber:client},
so that values compare by content; the engine turns one back into an
element (L{Embedded.element}) to run it through the room's own edge
(L{xmuc.muc.parse}). They are rendered with an explicit
C{xmlns='jabber:client'} (as XEP-0297 does); on input the C{jabber:server}
form and the form that inherits the DMUC namespace from its parent (as in
the design page's examples) are accepted too.

Malformed input raises L{DMUCProtocolError} (C{bad-request}, through the
error table of L{xmuc.core.errors}, since it is a L{BadRequest}); unknown
children in other namespaces, or unknown DMUC children, are ignored, so a
later revision may add some.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Iterator, Union

from twisted.words.protocols.jabber.jid import JID
from twisted.words.xish import domish

from xmuc.core.errors import ServiceUnavailable
from xmuc.core.stanza import STANZA_NAMESPACES, parseStanza, stanzaXml
from xmuc.dmuc.edge import (
    DMUCProtocolError,
    address,
    dmucElement,
    epochOf,
    expect,
    number,
    only,
    required,
)
from xmuc.dmuc.ns import NS_DMUC
from xmuc.muc.model import ALL_ROLES, Role
from xmuc.muc.ns import NS_CLIENT

__all__ = [
    "Anonymity", "Attach", "DMUCProtocolError", "Detach", "Embedded", "Outcasts",
    "Payload", "Resync", "ResyncMode", "ResyncOccupant", "Resynced", "embed", "parse",
    "render", "roleLabels", "rolesOf",
]

# Embedded stanzas

_SERVER_NAMESPACES = STANZA_NAMESPACES - {NS_CLIENT}


def _canonical(element: domish.Element, inherited: str | None) -> domish.Element:
    """
    A copy of C{element} with no namespace prefixes, in which the stanza
    namespaces of other streams, and the namespace C{inherited} where an
    element took it as the default, become C{jabber:client}.
    """
    uri = element.uri
    if uri in _SERVER_NAMESPACES or (uri == inherited and element.defaultUri == inherited):
        uri = NS_CLIENT
    copy = domish.Element((uri, element.name))
    copy.attributes = dict(element.attributes)
    copy.children = [_canonical(c, inherited) if isinstance(c, domish.Element) else c
                     for c in element.children]
    return copy


@dataclass(frozen=True)
class Embedded:
    """
    A stanza carried inside a DMUC payload, as its serialisation with the
    C{jabber:client} namespace left implicit (as the archive keeps them).
    """

    xml: str

    def element(self) -> domish.Element:
        """
        A new element for the stanza, in C{jabber:client}.
        """
        return parseStanza(self.xml)

    @classmethod
    def fromElement(cls, element: domish.Element, name: str) -> "Embedded":
        """
        The stanza C{element}, which must be a C{name} stanza in a stanza
        namespace or one that took the DMUC namespace from its parent.

        @raise DMUCProtocolError: for another element.
        """
        if element.name != name or element.uri not in STANZA_NAMESPACES | {NS_DMUC}:
            raise DMUCProtocolError(f"expected a <{name}/> stanza")
        # A stanza written without xmlns inside a DMUC element took the
        # DMUC namespace from its parent: it and what inherited it with it
        # are jabber:client. The received tree stays as it is.
        inherited = NS_DMUC if element.uri == element.defaultUri == NS_DMUC else None
        copy = _canonical(element, inherited)
        if copy.uri != NS_CLIENT:
            raise DMUCProtocolError(f"expected a <{name}/> stanza")
        return cls(stanzaXml(copy))


def embed(stanza: domish.Element) -> Embedded:
    """
    The L{Embedded} form of a stanza the engine holds.
    """
    return Embedded.fromElement(stanza, stanza.name)


def _stanzas(parent: domish.Element, name: str) -> Iterator[Embedded]:
    for element in parent.elements():
        yield Embedded.fromElement(element, name)


# Attach, outcasts, detach


class Anonymity(enum.Enum):
    """
    Whose real JIDs a replica may show (the room's C{whois}).
    """

    NON = "non"
    SEMI = "semi"


def _outcasts(parent: domish.Element) -> tuple[JID, ...]:
    return tuple(address(e, full=False) for e in parent.elements(NS_DMUC, "outcast"))


def _addOutcasts(parent: domish.Element, outcasts: tuple[JID, ...]) -> None:
    for jid in outcasts:
        parent.addElement("outcast")["jid"] = jid.full()


def roleLabels(roles: frozenset[Role]) -> str:
    """
    C{roles} as their labels, space-separated, highest first (the form of
    C{<attach broadcast>} and of the store's column).
    """
    return " ".join(r.label for r in sorted(roles, key=lambda r: -r.rank))


def rolesOf(text: str) -> frozenset[Role]:
    """
    The roles L{roleLabels} wrote.

    @raise ValueError: for a word that names no occupant's role.
    """
    roles = frozenset(Role.fromLabel(word) for word in text.split())
    if not roles <= ALL_ROLES:
        raise ValueError(f"not an occupant's role: {text!r}")
    return roles


@dataclass(frozen=True)
class Attach:
    """
    The primary asks a replica to mirror a room (design section 2).

    @ivar epoch: changes whenever the primary loses its broadcast log.
    @ivar keepalive: seconds of silence before either side pings (>= 1).
    @ivar history: stanzas of history the replica keeps.
    @ivar outcasts: the room's bans that match the replica's users: bare
        JIDs, or the replica's domain itself.
    @ivar broadcast: the roles whose presence the room broadcasts
        (C{muc#roomconfig_presencebroadcast}); the C{broadcast} attribute,
        left out when it is every role, so an attach without it means all.
    """

    epoch: str
    keepalive: int
    history: int
    anonymity: Anonymity
    outcasts: tuple[JID, ...] = ()
    broadcast: frozenset[Role] = ALL_ROLES

    def render(self) -> domish.Element:
        element = dmucElement("attach", epoch=self.epoch, keepalive=str(self.keepalive),
                              history=str(self.history), anonymity=self.anonymity.value)
        if self.broadcast != ALL_ROLES:
            element["broadcast"] = roleLabels(self.broadcast)
        _addOutcasts(element, self.outcasts)
        return element

    @classmethod
    def parse(cls, element: domish.Element) -> "Attach":
        expect(element, "attach")
        try:
            anonymity = Anonymity(element.getAttribute("anonymity"))
        except ValueError:
            raise DMUCProtocolError("<attach/> anonymity must be non or semi") from None
        text = element.getAttribute("broadcast")
        try:
            broadcast = ALL_ROLES if text is None else rolesOf(text)
        except ValueError:
            raise DMUCProtocolError(
                "<attach/> broadcast must list moderator, participant or visitor") from None
        return cls(epochOf(element), number(element, "keepalive", least=1),
                   number(element, "history"), anonymity, _outcasts(element), broadcast)


@dataclass(frozen=True)
class Outcasts:
    """
    The room's whole ban list for the replica's domain, sent (iq set)
    whenever it changes after the attach; it replaces the previous list.
    """

    outcasts: tuple[JID, ...] = ()

    def render(self) -> domish.Element:
        element = dmucElement("outcasts")
        _addOutcasts(element, self.outcasts)
        return element

    @classmethod
    def parse(cls, element: domish.Element) -> "Outcasts":
        expect(element, "outcasts")
        return cls(_outcasts(element))


@dataclass(frozen=True)
class Detach:
    """
    The room's last user of the replica's domain left, or the room was
    destroyed: the replica drops the room's state.
    """

    def render(self) -> domish.Element:
        return dmucElement("detach")

    @classmethod
    def parse(cls, element: domish.Element) -> "Detach":
        expect(element, "detach")
        return cls()


# Resync (netjoin)


@dataclass(frozen=True)
class ResyncOccupant:
    """
    One of the replica's local occupants: its real full JID, its nickname
    and the last presence it sent the room.
    """

    jid: JID
    nick: str
    presence: Embedded

    def render(self) -> domish.Element:
        element = dmucElement("occupant", jid=self.jid.full(), nick=self.nick)
        element.addChild(self.presence.element())
        return element

    @classmethod
    def parse(cls, element: domish.Element) -> "ResyncOccupant":
        presences = list(element.elements())
        if len(presences) != 1:
            raise DMUCProtocolError("<occupant/> holds exactly one <presence/>")
        return cls(address(element, full=True), required(element, "nick"),
                   Embedded.fromElement(presences[0], "presence"))


@dataclass(frozen=True)
class Resync:
    """
    A replica's view of a room after a split (design section 6): the
    epoch and the last C{seq} it received, its local occupants and the
    messages it spooled, in the order they were sent.
    """

    epoch: str
    lastSeq: int
    occupants: tuple[ResyncOccupant, ...] = ()
    spooled: tuple[Embedded, ...] = ()

    def render(self) -> domish.Element:
        element = dmucElement("resync", epoch=self.epoch, last_seq=str(self.lastSeq))
        for occupant in self.occupants:
            element.addChild(occupant.render())
        if self.spooled:
            spool = element.addElement("spooled")
            for message in self.spooled:
                spool.addChild(message.element())
        return element

    @classmethod
    def parse(cls, element: domish.Element) -> "Resync":
        expect(element, "resync")
        occupants = tuple(ResyncOccupant.parse(e)
                          for e in element.elements(NS_DMUC, "occupant"))
        spool = only(element, NS_DMUC, "spooled")
        spooled = () if spool is None else tuple(_stanzas(spool, "message"))
        return cls(epochOf(element), number(element, "last-seq"), occupants, spooled)


class ResyncMode(enum.Enum):
    """
    How the primary answers a resync: the broadcasts the replica missed,
    or the room's whole state.
    """

    REPLAY = "replay"
    SNAPSHOT = "snapshot"


@dataclass(frozen=True)
class Resynced:
    """
    The primary's answer to a L{Resync}, in the iq result. The C{count}
    stanzas it announces follow it as ordinary marked stanzas numbered
    C{lastSeq - count + 1} to C{lastSeq} in C{epoch}: for C{replay} the
    logged broadcasts after the replica's C{last-seq}; for C{snapshot}
    the presences of the occupants, the last C{history} messages and the
    subject, as after an attach. A replica applies a snapshot once it has
    all of it.
    """

    epoch: str
    mode: ResyncMode
    lastSeq: int
    count: int

    def render(self) -> domish.Element:
        return dmucElement("resynced", epoch=self.epoch, mode=self.mode.value,
                           last_seq=str(self.lastSeq), count=str(self.count))

    @classmethod
    def parse(cls, element: domish.Element) -> "Resynced":
        expect(element, "resynced")
        try:
            mode = ResyncMode(element.getAttribute("mode"))
        except ValueError:
            raise DMUCProtocolError("<resynced/> mode must be replay or snapshot") from None
        lastSeq, count = number(element, "last-seq"), number(element, "count")
        if count > lastSeq:
            raise DMUCProtocolError("<resynced/> count exceeds last-seq")
        return cls(epochOf(element), mode, lastSeq, count)


Payload = Union[Attach, Outcasts, Detach, Resync, Resynced]

_PAYLOADS: dict[str, type] = {
    "attach": Attach,
    "outcasts": Outcasts,
    "detach": Detach,
    "resync": Resync,
    "resynced": Resynced,
}


def parse(element: domish.Element) -> Payload:
    """
    The value of a DMUC iq payload.

    @raise ServiceUnavailable: for an element this node does not know
        (RFC 6120 section 8.4: an unknown iq payload).
    @raise DMUCProtocolError: when it is malformed.
    """
    kind = _PAYLOADS.get(element.name) if element.uri == NS_DMUC else None
    if kind is None:
        raise ServiceUnavailable(f"unknown payload <{element.name}/>")
    return kind.parse(element)


def render(value: Payload) -> domish.Element:
    """
    The element for a payload value.
    """
    return value.render()
