# -*- test-case-name: tests.muc.test_permissions -*-
"""
XEP-0045's permission matrix (section 5) as pure functions of roles,
affiliations and the room's configuration.

The rule functions answer with a L{Verdict}; L{require} turns a refusal
into the domain exception the error table maps (C{forbidden} when the
actor lacks the privilege altogether, C{not-allowed} when the privilege
does not reach that target, C{conflict} when the change would leave the
room without an owner).
"""

from __future__ import annotations

import enum

from xmuc.core.errors import Conflict, Forbidden, NotAllowed
from xmuc.muc.model import Affiliation, Role, RoomConfig


class Verdict(enum.Enum):
    ALLOWED = "allowed"
    FORBIDDEN = "forbidden"
    NOT_ALLOWED = "not-allowed"
    CONFLICT = "conflict"


_REFUSALS: dict[Verdict, type[Exception]] = {
    Verdict.FORBIDDEN: Forbidden,
    Verdict.NOT_ALLOWED: NotAllowed,
    Verdict.CONFLICT: Conflict,
}

_PRIVILEGED = frozenset((Affiliation.ADMIN, Affiliation.OWNER))


def require(verdict: Verdict, text: str = "") -> None:
    """
    Return when C{verdict} allows; raise the mapped exception otherwise.
    """
    if verdict is not Verdict.ALLOWED:
        raise _REFUSALS[verdict](text)


def defaultRole(affiliation: Affiliation, config: RoomConfig) -> Role:
    """
    The role an occupant gets on entering (section 5.1.2 and 5.2).
    """
    if affiliation in _PRIVILEGED:
        return Role.MODERATOR
    if affiliation is Affiliation.MEMBER:
        return Role.PARTICIPANT
    if affiliation is Affiliation.NONE:
        return Role.VISITOR if config.moderated else Role.PARTICIPANT
    return Role.NONE


def mayEnter(affiliation: Affiliation, config: RoomConfig) -> bool:
    """
    Whether an affiliation passes the members-only gate (section 7.2.5);
    outcasts are handled apart since their error differs.
    """
    return not config.membersOnly or affiliation.rank >= Affiliation.MEMBER.rank


def maySpeak(role: Role) -> bool:
    """
    Whether an occupant may send a message to all occupants (voice).
    """
    return role.rank >= Role.PARTICIPANT.rank


def maySetSubject(role: Role, config: RoomConfig) -> bool:
    """
    Moderators always; participants when the room lets them (section 8.1).
    """
    if role is Role.MODERATOR:
        return True
    return role is Role.PARTICIPANT and config.changeSubject


def maySendPrivate(role: Role, config: RoomConfig) -> bool:
    """
    Private messages within the room, per muc#roomconfig_allowpm.
    """
    least = {
        "anyone": Role.VISITOR,
        "participants": Role.PARTICIPANT,
        "moderators": Role.MODERATOR,
    }.get(config.allowPM)
    return least is not None and role.rank >= least.rank


def mayInvite(role: Role, affiliation: Affiliation, config: RoomConfig) -> bool:
    """
    Mediated invitations (section 7.8.2): with muc#roomconfig_allowinvites
    any participant; otherwise admins and owners in members-only rooms and
    moderators in open ones.
    """
    if config.allowInvites:
        return role.rank >= Role.PARTICIPANT.rank
    if config.membersOnly:
        return affiliation in _PRIVILEGED
    return role is Role.MODERATOR


def maySeeRealJids(role: Role, config: RoomConfig) -> bool:
    """
    Real JIDs go to moderators, and to everyone in non-anonymous rooms.
    """
    return config.nonAnonymous or role is Role.MODERATOR


def mayConfigure(affiliation: Affiliation) -> bool:
    """
    Configuration and destruction belong to owners (section 10).
    """
    return affiliation is Affiliation.OWNER


def mayGetAffiliationList(
    role: Role, affiliation: Affiliation, listed: Affiliation, config: RoomConfig
) -> bool:
    """
    Who may read which affiliation list: admins and owners all of them;
    the member list also the roles muc#roomconfig_getmemberlist names.
    """
    if affiliation in _PRIVILEGED:
        return True
    return listed is Affiliation.MEMBER and role in config.getMemberList


def mayGetRoleList(role: Role, affiliation: Affiliation, listed: Role) -> bool:
    """
    The voice list (participants) is a moderator's; the moderator list an
    admin's (sections 8.5 and 9.8).
    """
    if listed is Role.MODERATOR:
        return affiliation in _PRIVILEGED
    return role is Role.MODERATOR


def roleChange(
    actorRole: Role,
    actorAffiliation: Affiliation,
    targetRole: Role,
    targetAffiliation: Affiliation,
    new: Role,
) -> Verdict:
    """
    May an occupant change another's role to C{new} (kick is C{NONE})?

      - only moderators change roles (section 8): C{forbidden} otherwise;
      - nobody lowers the role of an admin or owner whose affiliation is at
        least their own (sections 8.2, 9.7): C{not-allowed};
      - granting or revoking moderator needs an admin or owner (section 9.6,
        9.7); a plain moderator asking gets C{not-allowed}.
    """
    if actorRole is not Role.MODERATOR:
        return Verdict.FORBIDDEN
    if targetAffiliation in _PRIVILEGED and new.rank < targetRole.rank:
        if targetAffiliation.rank >= actorAffiliation.rank:
            return Verdict.NOT_ALLOWED
    if Role.MODERATOR in (new, targetRole) and new is not targetRole:
        if actorAffiliation not in _PRIVILEGED:
            return Verdict.NOT_ALLOWED
    return Verdict.ALLOWED


def affiliationChange(
    actorAffiliation: Affiliation, targetAffiliation: Affiliation, new: Affiliation
) -> Verdict:
    """
    May a user change a bare JID's affiliation to C{new} (section 5.2)?

      - owners may make any change;
      - admins edit the member and outcast lists, for users below admin:
        C{not-allowed} on an admin or owner, C{forbidden} when granting
        admin or owner (owner use cases);
      - nobody else changes affiliations: C{forbidden}.

    Keeping at least one owner is the room's business (it knows how many
    there are), see L{Conflict} in the moderation module.
    """
    if actorAffiliation is Affiliation.OWNER:
        return Verdict.ALLOWED
    if actorAffiliation is not Affiliation.ADMIN:
        return Verdict.FORBIDDEN
    if new in _PRIVILEGED:
        return Verdict.FORBIDDEN
    if targetAffiliation in _PRIVILEGED:
        return Verdict.NOT_ALLOWED
    return Verdict.ALLOWED
