# -*- test-case-name: tests.muc.test_parse -*-
"""
What the room engine takes: stanzas parsed at the edge (L{xmuc.muc.parse})
into frozen values, the timers it set going off, and the answers of
storage it asked (L{ArchiveAnswer}).

Every stanza value names its real sender (a full JID), the address it was
sent to (the room's bare JID or an occupant JID C{room/nick}) and its
C{id}. Payloads the room passes on unread (a presence's C{show} and
C{status}, a message's extensions) travel as tuples of elements that the
engine never walks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from twisted.words.protocols.jabber.jid import JID

from xmuc.muc.forms import SubmittedForm
from xmuc.muc.model import Affiliation, Role


@dataclass(frozen=True)
class Inbound:
    """
    Common to every stanza: who sent it, to what address, with what id.
    """

    sender: JID
    to: JID
    id: str | None


@dataclass(frozen=True)
class HistoryRequest:
    """
    The C{<history/>} of a join (XEP-0045 section 7.2.15); L{None} means
    the attribute was absent. C{since} is POSIX time.
    """

    maxstanzas: int | None = None
    maxchars: int | None = None
    seconds: int | None = None
    since: float | None = None


@dataclass(frozen=True)
class JoinRequest:
    """
    The C{<x xmlns='http://jabber.org/protocol/muc'/>} of a join.
    """

    password: str | None = None
    history: HistoryRequest | None = None


@dataclass(frozen=True)
class PresenceIn(Inbound):
    """
    Available or unavailable presence to C{room/nick}: a join, a presence
    update, a nickname change or a leave, depending on the room's state.

    @ivar join: the MUC join element, when the presence carried one.
    """

    nick: str
    available: bool
    payload: tuple[Any, ...] = ()
    join: JoinRequest | None = None


@dataclass(frozen=True)
class GroupchatIn(Inbound):
    """
    A C{groupchat} message to the room; C{subject} is L{None} without a
    C{<subject/>} element and C{""} for an empty one.

    @ivar stamp: for a message a split replica spooled (handed in by the
        primary at the netjoin, L{xmuc.dmuc.netjoin}), when its sender
        sent it: the room broadcasts it with a C{<delay/>} at that time
        and archives it there, and flood control does not judge it (a
        backlog arrives at once, however slowly it was written).
        L{None} for a message as it arrives.
    """

    body: str | None
    subject: str | None
    payload: tuple[Any, ...] = ()
    stamp: float | None = None


@dataclass(frozen=True)
class SessionSwapIn(Inbound):
    """
    The occupant's session C{old} is now C{sender}, the same account
    under the same nickname (C{to}'s resource): a client that reconnected
    while a replica was split from the room (the primary hands it in at
    the netjoin, L{xmuc.dmuc.netjoin}). C{payload} is the new session's
    last presence.
    """

    old: JID
    payload: tuple[Any, ...] = ()


@dataclass(frozen=True)
class PrivateIn(Inbound):
    """
    A C{chat} or C{normal} message to an occupant JID.
    """

    nick: str
    kind: str
    payload: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Invitation:
    to: JID
    reason: str = ""


@dataclass(frozen=True)
class InviteIn(Inbound):
    """
    A mediated invitation (section 7.8.2), possibly to several invitees.
    """

    invitations: tuple[Invitation, ...]


@dataclass(frozen=True)
class DeclineIn(Inbound):
    """
    An invitee declining (section 7.8.2); C{invitor} is where it goes.
    """

    invitor: JID
    reason: str = ""


@dataclass(frozen=True)
class VoiceRequestIn(Inbound):
    """
    A visitor asking for voice (section 7.13).
    """


@dataclass(frozen=True)
class VoiceApprovalIn(Inbound):
    """
    A moderator answering a voice request (section 8.6).
    """

    nick: str
    allow: bool


@dataclass(frozen=True)
class AdminItem:
    """
    One C{<item/>} of a muc#admin set: a role change (by nick) or an
    affiliation change (by JID, or by the nick of an occupant).
    """

    nick: str | None = None
    jid: JID | None = None
    role: Role | None = None
    affiliation: Affiliation | None = None
    reason: str = ""


@dataclass(frozen=True)
class AdminGetIn(Inbound):
    """
    A request for the list of one affiliation or one role.
    """

    affiliation: Affiliation | None = None
    role: Role | None = None


@dataclass(frozen=True)
class AdminSetIn(Inbound):
    items: tuple[AdminItem, ...]


@dataclass(frozen=True)
class OwnerGetIn(Inbound):
    """
    A request for the configuration form.
    """


@dataclass(frozen=True)
class OwnerSetIn(Inbound):
    """
    A submitted (or cancelled) configuration form.
    """

    form: SubmittedForm


@dataclass(frozen=True)
class DestroyIn(Inbound):
    alternate: JID | None = None
    reason: str = ""
    password: str | None = None


@dataclass(frozen=True)
class RegisterGetIn(Inbound):
    """
    A request for the room's registration form (section 7.10).
    """


@dataclass(frozen=True)
class RegisterSetIn(Inbound):
    """
    A registration form, or C{remove} to cancel a registration.
    """

    form: SubmittedForm | None
    remove: bool = False


@dataclass(frozen=True)
class DiscoInfoIn(Inbound):
    node: str = ""


@dataclass(frozen=True)
class DiscoItemsIn(Inbound):
    node: str = ""


@dataclass(frozen=True)
class IQToOccupantIn(Inbound):
    """
    An IQ request to an occupant JID, to be forwarded (or, for a
    self-ping, answered by the room); C{namespace} is its payload's.
    """

    nick: str
    kind: str
    payload: Any
    namespace: str = ""


@dataclass(frozen=True)
class IQReplyIn(Inbound):
    """
    The result or error an occupant sent back to a forwarded IQ.
    """

    kind: str
    children: tuple[Any, ...] = ()


@dataclass(frozen=True)
class ErrorIn(Inbound):
    """
    A message or presence error from a real JID to the room or an
    occupant JID: a delivery failure (section 7.2.x, ghosts).
    """

    name: str
    condition: str


@dataclass(frozen=True)
class TimerFired:
    """
    A timer the room started with L{effects.StartTimer} went off.
    """

    key: tuple[str, ...]


@dataclass(frozen=True)
class PingIn(Inbound):
    """
    An XEP-0199 ping to the room itself.
    """


@dataclass(frozen=True)
class ArchiveQuery(Inbound):
    """
    A MAM query (XEP-0313) to the room's archive.

    @ivar start: POSIX time, or L{None}; C{end} likewise.
    @ivar with_: an occupant's bare JID, or L{None}.
    @ivar max: result page size asked for (RSM), or L{None}.
    @ivar after: the archive id after which the page starts, or L{None};
        C{before} likewise (an empty C{before} asks for the last page).
    """

    queryId: str | None = None
    start: float | None = None
    end: float | None = None
    with_: str | None = None
    max: int | None = None
    after: str | None = None
    before: str | None = None


@dataclass(frozen=True)
class ArchiveAnswer:
    """
    Storage answered a room's L{effects.QueryArchive}: the page, with its
    C{messages} (each with C{stanzaId}, C{stamp}, C{occupant}, C{xml}),
    C{complete}, C{count} and C{index}.
    """

    query: ArchiveQuery
    page: Any
