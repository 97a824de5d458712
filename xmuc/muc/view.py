# -*- test-case-name: tests.muc.test_view -*-
"""
What each occupant is shown: one account of XEP-0045's "who sees what",
run by the room engine on the primary and, on its own copy of the room, by
a replica (dmuc.md sections 0 and 3), so that the two cannot drift.

The functions here take frozen values (L{RoomView}, L{OccupantView},
L{PresenceChange}) and return stanzas without C{to}, each
tagged with its L{Kind}; they never read the room engine's working state,
its hooks or its clock. L{xmuc.muc.room.Room} builds the values from its
state (L{Room.view}) and turns the answers into effects.

This lives in L{xmuc.muc}, not L{xmuc.dmuc}: it is plain XEP-0045 (the
order of a join, status codes, history limits, real-JID visibility) that
the primary's engine needs with or without replicas, and the distributed
engine depends on the room engine, never the other way round.

  - L{xmuc.muc.entrant.joinSequence}: what an entrant gets, built on
    the values and presences here.
  - L{presenceVariants} and L{presenceAudience}: an occupant's presence
    change in its variants (with real JIDs for those who may see them,
    without for the others, the occupant's own with 110) and who gets
    which; L{presenceBroadcast} joins the two, L{arrival} is the entrant's
    presence to the others. Nick changes (L{nickChange}), leaves
    (L{departure}), kicks, bans and other removals (L{removal}), role and
    affiliation changes (L{roleChange}) are changes; destruction and
    shutdown are an L{eviction} (with L{destroyNotice}).
  - Multi-session occupants (one nickname, several clients of one
    account): an occupant's recipients are all its sessions; its
    presence shows the real JID of the session that spoke last, as the
    room last broadcast it (a session joining a shared nickname is not
    announced, so until the occupant's next presence the others, and
    later entrants, see the one they saw); a session joining sees
    itself, one leaving alone gets L{sessionLeave}.

Who is the same occupant is decided by nickname (a room holds one
occupant per nickname), so a replica may build its values afresh.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Iterable, NamedTuple

from twisted.words.protocols.jabber.jid import JID
from twisted.words.xish import domish

from xmuc.muc.model import ALL_ROLES, Affiliation, HistoryEntry, Role, Subject
from xmuc.muc.ns import NS_MUC_USER, NS_OCCUPANT_ID
from xmuc.muc.stanzas import itemElement, mucUser, stanza


class Kind(enum.Enum):
    """
    What a stanza the room sends is, for whoever carries it (the glue, a
    replica link counting its stanzas).
    """

    #: an occupant's presence shown to an entrant, before its own
    ROSTER = "roster"
    #: an occupant's own presence (status 110): on entering, on a change,
    #: on leaving or being removed
    SELF_PRESENCE = "self-presence"
    #: a message of the history, with its original C{<delay/>}
    HISTORY = "history"
    #: the subject shown to an entrant, last
    SUBJECT = "subject"
    #: a presence or message of the room to its occupants
    BROADCAST = "broadcast"
    #: a message from the room carrying only status codes (section 10.2.1)
    STATUS = "status"


class Shown(NamedTuple):
    """
    One stanza for one recipient, without C{to}. (Named tuples, not
    dataclasses: a join makes one per occupant.)
    """

    kind: Kind
    stanza: Any


class Addressed(NamedTuple):
    """
    One stanza, without C{to}, for several recipients.
    """

    kind: Kind
    stanza: Any
    recipients: tuple[JID, ...]


@dataclass(frozen=True, eq=False)
class OccupantView:
    """
    An occupant as the room shows it.

    @ivar jid: the real full JID shown (its last active session's).
    @ivar presence: that session's presence payload (show, status, caps).
    @ivar occupantId: its XEP-0421 id, or L{None} for none.
    @ivar rendered: its current presence with and without the real JID,
        made on first use and shared by every entrant (a memo: the value
        never changes, so neither do they).
    """

    nick: str
    role: Role
    affiliation: Affiliation
    jid: str
    presence: tuple[Any, ...] = ()
    occupantId: str | None = None
    rendered: dict[bool, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class RoomView:
    """
    What of a room decides what its occupants see.

    @ivar address: the room's bare JID.
    @ivar occupants: in join order, each with its own role (whether it may
        see real JIDs) and the real JIDs of its sessions.
    @ivar history: oldest first, each with the stamp the room gave it when
        it first received it.
    @ivar fresh: the room was created by the join being handled.
    """

    address: str
    nonAnonymous: bool = False
    logging: bool = False
    presenceBroadcast: frozenset[Role] = ALL_ROLES
    occupants: tuple[tuple[OccupantView, tuple[JID, ...]], ...] = ()
    history: tuple[HistoryEntry, ...] = ()
    subject: Subject = Subject()
    fresh: bool = False


@dataclass(frozen=True)
class PresenceChange:
    """
    How an occupant's presence changes: the muc#user item and status
    codes everyone sees (C{codes}), those only the occupant sees
    (C{selfCodes}, with 110), and the payload (L{None}: its current one).
    """

    unavailable: bool = False
    codes: tuple[int, ...] = ()
    selfCodes: tuple[int, ...] = ()
    role: Role | None = None
    affiliation: Affiliation | None = None
    newNick: str | None = None
    actor: str | None = None
    reason: str = ""
    payload: tuple[Any, ...] | None = None
    extra: tuple[Any, ...] = ()

    @property
    def plain(self) -> bool:
        """
        The occupant's current presence as it is (no codes, no change).
        """
        return not (self.unavailable or self.codes or self.role is not None
                    or self.affiliation is not None or self.newNick is not None
                    or self.actor is not None or self.reason or self.payload is not None
                    or self.extra)


_PLAIN = PLAIN = PresenceChange()


def seesRealJids(role: Role, nonAnonymous: bool) -> bool:
    """
    XEP-0045 section 4.2: real JIDs go to moderators, and to everyone in
    non-anonymous rooms.
    """
    return nonAnonymous or role is Role.MODERATOR


# Presences

def presence(address: str, occupant: OccupantView, showJid: bool,
             change: PresenceChange = _PLAIN) -> domish.Element:
    """
    The presence the room sends from an occupant: its payload, the
    muc#user element, its occupant-id.
    """
    element = stanza("presence", f"{address}/{occupant.nick}",
                     kind="unavailable" if change.unavailable else None)
    payload = occupant.presence if change.payload is None else change.payload
    for child in payload:
        element.addChild(child)
    item = itemElement(change.affiliation or occupant.affiliation, change.role or occupant.role,
                       occupant.jid if showJid else None, change.newNick, change.actor,
                       change.reason)
    x = mucUser(item, codes=sorted(change.codes))
    for child in change.extra:
        x.addChild(child)
    element.addChild(x)
    if occupant.occupantId is not None:
        element.addElement((NS_OCCUPANT_ID, "occupant-id"))["id"] = occupant.occupantId
    return element


def rosterPresence(address: str, occupant: OccupantView, showJid: bool) -> domish.Element:
    """
    An occupant's current presence, shared by every entrant.
    """
    element = occupant.rendered.get(showJid)
    if element is None:
        element = occupant.rendered[showJid] = presence(address, occupant, showJid)
    return element


def selfPresence(address: str, occupant: OccupantView,
                 change: PresenceChange = _PLAIN) -> domish.Element:
    """
    The occupant's own copy: always with its real JID, with 110.
    """
    codes = tuple({110, *change.codes, *change.selfCodes})
    return presence(address, occupant, True, _replace(change, codes=codes))


def _replace(change: PresenceChange, **values: Any) -> PresenceChange:
    fields = {name: getattr(change, name) for name in PresenceChange.__dataclass_fields__}
    fields.update(values)
    return PresenceChange(**fields)


@dataclass(frozen=True)
class Variants:
    """
    An occupant's presence change for the others who may see real JIDs
    (C{seeing}), those who may not (C{blind}), and itself (C{own}).
    """

    seeing: domish.Element | None
    blind: domish.Element | None
    own: domish.Element


def presenceVariants(address: str, occupant: OccupantView, change: PresenceChange,
                     seeing: bool = True, blind: bool = True) -> Variants:
    """
    The variants of a presence change; only those asked for are made
    (C{seeing}, C{blind}: someone will get them).
    """
    def made(showJid: bool) -> domish.Element:
        if change.plain:
            return rosterPresence(address, occupant, showJid)
        return presence(address, occupant, showJid, change)

    return Variants(made(True) if seeing else None, made(False) if blind else None,
                    selfPresence(address, occupant, change))


def presenceAudience(room: RoomView, occupant: OccupantView, change: PresenceChange
                     ) -> tuple[list[JID], list[JID]]:
    """
    Who of the others gets an occupant's presence change with real JIDs,
    and who without: nobody when its role's presence is not broadcast
    (unless it leaves).
    """
    seeing: list[JID] = []
    blind: list[JID] = []
    if not (change.unavailable or (change.role or occupant.role) in room.presenceBroadcast):
        return seeing, blind
    nick = occupant.nick
    if room.nonAnonymous:
        for other, jids in room.occupants:
            if other.nick != nick:
                seeing.extend(jids)
        return seeing, blind
    moderator = Role.MODERATOR
    for other, jids in room.occupants:
        if other.nick != nick:
            (seeing if other.role is moderator else blind).extend(jids)
    return seeing, blind


def presenceBroadcast(room: RoomView, occupant: OccupantView, sessions: tuple[JID, ...],
                      change: PresenceChange = _PLAIN) -> list[Addressed]:
    """
    An occupant's presence change for everyone: the others in their two
    variants, then its own sessions (C{sessions}) with 110.
    """
    seeing, blind = presenceAudience(room, occupant, change)
    variants = presenceVariants(room.address, occupant, change, bool(seeing), bool(blind))
    sent = [Addressed(Kind.BROADCAST, element, tuple(recipients))
            for element, recipients in ((variants.seeing, seeing), (variants.blind, blind))
            if recipients]
    sent.append(Addressed(Kind.SELF_PRESENCE, variants.own, sessions))
    return sent


def arrival(room: RoomView, entrant: OccupantView, own: domish.Element,
            sessions: tuple[JID, ...]) -> list[Addressed]:
    """
    A new occupant's presence for the others (its current presence, in
    its two variants), then for itself C{own}, the self-presence of its
    join sequence (L{joinSequence}).
    """
    seeing, blind = presenceAudience(room, entrant, _PLAIN)
    sent = [Addressed(Kind.BROADCAST, rosterPresence(room.address, entrant, showJid),
                      tuple(recipients))
            for showJid, recipients in ((True, seeing), (False, blind)) if recipients]
    sent.append(Addressed(Kind.SELF_PRESENCE, own, sessions))
    return sent


def sessionLeave(address: str, occupant: OccupantView, session: JID,
                 payload: tuple[Any, ...]) -> Shown:
    """
    One client of a multi-session occupant leaves while others stay: it
    alone gets its unavailable presence (110, showing its own real JID);
    the others then see the occupant's presence as it now is.
    """
    leaving = OccupantView(occupant.nick, occupant.role, occupant.affiliation, session.full(),
                           occupant.presence, occupant.occupantId)
    change = PresenceChange(unavailable=True, codes=(110,), role=Role.NONE, payload=payload)
    return Shown(Kind.SELF_PRESENCE, presence(address, leaving, True, change))


def nickChange(newNick: str) -> PresenceChange:
    """
    Section 7.6: first unavailable from the old nickname, naming the new
    one, with 303; then the occupant's presence under the new nickname.
    """
    return PresenceChange(unavailable=True, codes=(303,), newNick=newNick, payload=())


def departure(payload: tuple[Any, ...]) -> PresenceChange:
    """
    Section 7.14: an occupant leaves, with the payload of its unavailable
    presence (a status text).
    """
    return PresenceChange(unavailable=True, role=Role.NONE, payload=payload)


def removal(codes: Iterable[int], actor: str | None = None, reason: str = "",
            extra: Iterable[Any] = (), affiliation: Affiliation | None = None
            ) -> PresenceChange:
    """
    An occupant taken out of the room: a kick (307), a ban (301), a
    members-only change (321, 322), a ghost (333), an eviction.
    """
    return PresenceChange(unavailable=True, codes=tuple(codes), role=Role.NONE,
                          affiliation=affiliation, actor=actor, reason=reason,
                          payload=(), extra=tuple(extra))


def roleChange(actor: str | None = None, reason: str = "") -> PresenceChange:
    """
    A new role or affiliation (the occupant's view already holds it), by
    whom and why.
    """
    return PresenceChange(actor=actor, reason=reason)


def eviction(room: RoomView, codes: Iterable[int], extra: Iterable[Any] = ()
             ) -> list[Addressed]:
    """
    Everyone sent away at once (destruction, shutdown): each occupant gets
    only its own unavailable presence.
    """
    change = removal({110, *codes}, extra=extra, affiliation=Affiliation.NONE)
    return [Addressed(Kind.SELF_PRESENCE, presence(room.address, occupant, True, change),
                      sessions)
            for occupant, sessions in room.occupants]


def destroyNotice(alternate: str | None, reason: str = "",
                  password: str | None = None) -> domish.Element:
    """
    Section 10.9: the C{<destroy/>} every occupant's last presence
    carries (alternate venue, reason, its password).
    """
    notice = domish.Element((NS_MUC_USER, "destroy"))
    if alternate is not None:
        notice["jid"] = alternate
    if reason:
        notice.addElement("reason", content=reason)
    if password:
        notice.addElement("password", content=password)
    return notice
