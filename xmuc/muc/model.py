# -*- test-case-name: tests.muc.test_permissions -*-
"""
The values a room is made of: affiliations and roles (XEP-0045 section
5), the configuration, occupants and their sessions, the subject, history
entries, and the record of a room that storage keeps.

Configuration, affiliation records, subjects and history entries are
frozen: a change replaces them, so an effect that carries one can never see
it change later. Occupants are the engine's own working state and change in
place; nothing outside the engine holds them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from twisted.words.protocols.jabber.jid import JID
from twisted.words.xish import domish


class Affiliation(enum.Enum):
    """
    A long-lived relation of a bare JID to a room, by rank.
    """

    OUTCAST = ("outcast", 0)
    NONE = ("none", 1)
    MEMBER = ("member", 2)
    ADMIN = ("admin", 3)
    OWNER = ("owner", 4)

    def __init__(self, label: str, rank: int) -> None:
        self.label = label
        self.rank = rank

    @classmethod
    def fromLabel(cls, label: str) -> "Affiliation":
        """
        @raise ValueError: for a label that names no affiliation.
        """
        for member in cls:
            if member.label == label:
                return member
        raise ValueError(f"no affiliation {label!r}")


class Role(enum.Enum):
    """
    The privileges of an occupant while in the room, by rank.
    """

    NONE = ("none", 0)
    VISITOR = ("visitor", 1)
    PARTICIPANT = ("participant", 2)
    MODERATOR = ("moderator", 3)

    def __init__(self, label: str, rank: int) -> None:
        self.label = label
        self.rank = rank

    @classmethod
    def fromLabel(cls, label: str) -> "Role":
        """
        @raise ValueError: for a label that names no role.
        """
        for member in cls:
            if member.label == label:
                return member
        raise ValueError(f"no role {label!r}")


#: muc#roomconfig_allowpm values, and muc#roomconfig_whois values.
ALLOW_PM = ("anyone", "participants", "moderators", "none")
WHOIS = ("moderators", "anyone")
ALL_ROLES = frozenset((Role.MODERATOR, Role.PARTICIPANT, Role.VISITOR))


@dataclass(frozen=True)
class RoomConfig:
    """
    A room's muc#roomconfig settings (XEP-0045 section 15.5.3).

    @ivar maxUsers: occupants at most; 0 means the service's limit.
    @ivar whois: who sees real JIDs: C{"moderators"} (semi-anonymous) or
        C{"anyone"} (non-anonymous).
    @ivar historyLength: messages of history kept and sent on join.
    @ivar logging: the room's messages are archived and queryable (MAM).
    @ivar presenceBroadcast: roles whose presence is broadcast.
    @ivar getMemberList: roles that may retrieve the member list.
    """

    name: str = ""
    description: str = ""
    language: str = ""
    persistent: bool = False
    public: bool = True
    membersOnly: bool = False
    moderated: bool = False
    passwordProtected: bool = False
    password: str = ""
    maxUsers: int = 0
    whois: str = "moderators"
    historyLength: int = 20
    changeSubject: bool = False
    allowInvites: bool = False
    allowPM: str = "anyone"
    logging: bool = True
    presenceBroadcast: frozenset[Role] = ALL_ROLES
    getMemberList: frozenset[Role] = ALL_ROLES

    @property
    def nonAnonymous(self) -> bool:
        return self.whois == "anyone"

    @property
    def secret(self) -> str | None:
        """
        The password an entering user must give, or L{None}.
        """
        return self.password if self.passwordProtected and self.password else None


@dataclass(frozen=True)
class Affiliated:
    """
    The affiliation of one bare JID, with the reason given when it was set
    and, for members, the nickname reserved for them (section 7.10).
    """

    affiliation: Affiliation
    reason: str = ""
    nick: str = ""


@dataclass(frozen=True)
class Subject:
    """
    The room's subject and who set it (a nickname, empty for the room).
    """

    text: str = ""
    nick: str = ""
    stamp: float = 0.0


@dataclass(eq=False)
class HistoryEntry:
    """
    One message of the room's history as it was broadcast (without
    C{to}), with its time and archive id.

    @ivar delayed: the copy entering occupants get (with C{<delay/>}),
        made on first use and shared by every later join.
    """

    stanza: domish.Element
    stamp: float
    stanzaId: str
    delayed: domish.Element | None = None


@dataclass
class Session:
    """
    One client of an occupant: its full JID and the payload of its last
    presence (show, status, caps ...).
    """

    jid: JID
    presence: tuple[Any, ...] = ()


@dataclass(eq=False)
class Occupant:
    """
    Someone in the room under a nickname, possibly from several clients of
    the same account (they share the nickname).

    @ivar key: the nickname prepared for comparison (RFC 8266).
    @ivar sessions: by full JID string; the last one is the primary, whose
        presence the room shows.
    @ivar tokens: the flood allowance left (see L{limits}).
    @ivar unreachable: since when its server has been unreachable, or
        L{None} (see L{features.ghosts}).
    @ivar shown: the occupant as the room last showed it
        (L{xmuc.muc.view.OccupantView}, which keeps its rendered presence
        for the roster of each entrant); dropped at each change
        (L{Room.occupantChanged}).
    """

    nick: str
    key: str
    bare: str
    role: Role
    occupantId: str
    sessions: dict[str, Session] = field(default_factory=dict)
    tokens: float = 0.0
    tokensAt: float = 0.0
    unreachable: float | None = None
    shown: Any = None

    @property
    def primary(self) -> Session:
        return next(reversed(self.sessions.values()))

    @property
    def jid(self) -> JID:
        """
        The real full JID the room shows for the occupant.
        """
        return self.primary.jid

    def jids(self) -> tuple[JID, ...]:
        return tuple(s.jid for s in self.sessions.values())


@dataclass(frozen=True)
class RoomRecord:
    """
    What storage keeps of a persistent room.

    @ivar name: the room's localpart.
    @ivar affiliations: bare JID string to L{Affiliated}.
    @ivar salt: the secret behind the room's occupant ids (XEP-0421).
    """

    name: str
    config: RoomConfig
    affiliations: dict[str, Affiliated]
    subject: Subject
    salt: str
    created: float
