# -*- test-case-name: tests.muc.test_permissions -*-
"""
Tests for L{xmuc.muc.permissions}: XEP-0045's permission matrix, row by
row and, with hypothesis, over every role and affiliation combination.
"""

from __future__ import annotations

import itertools

from hypothesis import given, strategies as st
from twisted.trial.unittest import SynchronousTestCase

from xmuc.core.errors import Conflict, Forbidden, NotAllowed
from xmuc.muc.model import Affiliation, Role, RoomConfig
from xmuc.muc.permissions import (
    Verdict,
    affiliationChange,
    defaultRole,
    mayConfigure,
    mayEnter,
    mayGetAffiliationList,
    mayGetRoleList,
    mayInvite,
    maySeeRealJids,
    maySendPrivate,
    maySetSubject,
    maySpeak,
    require,
    roleChange,
)

A = Affiliation
R = Role
roles = st.sampled_from(list(Role))
affiliations = st.sampled_from(list(Affiliation))
PRIVILEGED = (A.ADMIN, A.OWNER)


class RoleChangeTests(SynchronousTestCase):
    """
    Who may change whose role (sections 8 and 9).
    """

    def test_participantCannotKick(self) -> None:
        """
        Only moderators change roles: anyone else is C{forbidden}.
        """
        for role in (R.VISITOR, R.PARTICIPANT, R.NONE):
            self.assertEqual(roleChange(role, A.OWNER, R.VISITOR, A.NONE, R.NONE),
                             Verdict.FORBIDDEN)

    def test_moderatorKicksParticipant(self) -> None:
        """
        A moderator kicks, mutes and gives voice to participants and
        visitors.
        """
        for new in (R.NONE, R.VISITOR, R.PARTICIPANT):
            self.assertEqual(roleChange(R.MODERATOR, A.NONE, R.PARTICIPANT, A.MEMBER, new),
                             Verdict.ALLOWED)

    def test_adminNotKickable(self) -> None:
        """
        An admin cannot be kicked by a moderator or by another admin
        (C{not-allowed}), but by an owner.
        """
        for actor in (A.NONE, A.MEMBER, A.ADMIN):
            self.assertEqual(roleChange(R.MODERATOR, actor, R.MODERATOR, A.ADMIN, R.NONE),
                             Verdict.NOT_ALLOWED)
        self.assertEqual(roleChange(R.MODERATOR, A.OWNER, R.MODERATOR, A.ADMIN, R.NONE),
                         Verdict.ALLOWED)

    def test_ownerNotKickableByOwner(self) -> None:
        """
        Owners cannot kick owners.
        """
        self.assertEqual(roleChange(R.MODERATOR, A.OWNER, R.MODERATOR, A.OWNER, R.NONE),
                         Verdict.NOT_ALLOWED)

    def test_moderatorGrantNeedsAdmin(self) -> None:
        """
        Granting or revoking moderator takes an admin or owner.
        """
        self.assertEqual(roleChange(R.MODERATOR, A.MEMBER, R.PARTICIPANT, A.NONE, R.MODERATOR),
                         Verdict.NOT_ALLOWED)
        self.assertEqual(roleChange(R.MODERATOR, A.ADMIN, R.PARTICIPANT, A.NONE, R.MODERATOR),
                         Verdict.ALLOWED)
        self.assertEqual(roleChange(R.MODERATOR, A.NONE, R.MODERATOR, A.NONE, R.NONE),
                         Verdict.NOT_ALLOWED)


class AffiliationChangeTests(SynchronousTestCase):
    """
    Who may change whose affiliation (section 5.2).
    """

    def test_ownerDoesAnything(self) -> None:
        """
        Owners make every change.
        """
        for target in Affiliation:
            for new in Affiliation:
                self.assertEqual(affiliationChange(A.OWNER, target, new), Verdict.ALLOWED)

    def test_adminEditsMembersAndBans(self) -> None:
        """
        Admins move users below admin between none, member and outcast.
        """
        low = (A.OUTCAST, A.NONE, A.MEMBER)
        for target in low:
            for new in low:
                self.assertEqual(affiliationChange(A.ADMIN, target, new), Verdict.ALLOWED)

    def test_adminCannotTouchAdmins(self) -> None:
        """
        An admin cannot ban an admin or owner (C{not-allowed}) nor grant
        admin or owner (C{forbidden}).
        """
        self.assertEqual(affiliationChange(A.ADMIN, A.OWNER, A.OUTCAST), Verdict.NOT_ALLOWED)
        self.assertEqual(affiliationChange(A.ADMIN, A.ADMIN, A.NONE), Verdict.NOT_ALLOWED)
        self.assertEqual(affiliationChange(A.ADMIN, A.NONE, A.ADMIN), Verdict.FORBIDDEN)

    def test_othersForbidden(self) -> None:
        """
        Members and users without affiliation change nothing.
        """
        for actor in (A.OUTCAST, A.NONE, A.MEMBER):
            self.assertEqual(affiliationChange(actor, A.NONE, A.MEMBER), Verdict.FORBIDDEN)


class PropertyTests(SynchronousTestCase):
    """
    Properties of the whole matrix.
    """

    @given(roles, affiliations, roles, affiliations, roles)
    def test_roleChangeMonotonicInActor(self, actorRole, actorAff, targetRole, targetAff, new):
        """
        What an actor may do to an occupant, an actor with a higher
        affiliation (same role) may do too.
        """
        if roleChange(actorRole, actorAff, targetRole, targetAff, new) is Verdict.ALLOWED:
            for higher in Affiliation:
                if higher.rank > actorAff.rank:
                    self.assertEqual(
                        roleChange(actorRole, higher, targetRole, targetAff, new),
                        Verdict.ALLOWED)

    @given(roles, affiliations, roles, affiliations, roles)
    def test_roleChangeSpec(self, actorRole, actorAff, targetRole, targetAff, new):
        """
        A role change is allowed exactly when the actor is a moderator, the
        target is not an admin or owner at or above the actor's affiliation
        being demoted, and moderator changes come from admins or owners.
        """
        self.checkRoleChange(actorRole, actorAff, targetRole, targetAff, new)

    def test_roleChangeWholeMatrix(self) -> None:
        """
        The same, for every one of the 1600 combinations.
        """
        for combination in itertools.product(Role, Affiliation, Role, Affiliation, Role):
            self.checkRoleChange(*combination)

    def checkRoleChange(self, actorRole, actorAff, targetRole, targetAff, new) -> None:
        demoting = new.rank < targetRole.rank
        protected = targetAff in PRIVILEGED and targetAff.rank >= actorAff.rank and demoting
        moderatorChange = new is not targetRole and R.MODERATOR in (new, targetRole)
        expected = (actorRole is R.MODERATOR and not protected
                    and (not moderatorChange or actorAff in PRIVILEGED))
        verdict = roleChange(actorRole, actorAff, targetRole, targetAff, new)
        self.assertEqual(verdict is Verdict.ALLOWED, expected)
        if actorRole is not R.MODERATOR:
            self.assertEqual(verdict, Verdict.FORBIDDEN)

    @given(affiliations, affiliations, affiliations)
    def test_affiliationChangeSpec(self, actor, target, new):
        """
        Affiliation changes: owners anything; admins only below admin;
        never anyone else; and never an owner losing to a non-owner.
        """
        verdict = affiliationChange(actor, target, new)
        expected = actor is A.OWNER or (
            actor is A.ADMIN and target not in PRIVILEGED and new not in PRIVILEGED)
        self.assertEqual(verdict is Verdict.ALLOWED, expected)
        if target is A.OWNER and new is not A.OWNER:
            self.assertEqual(verdict is Verdict.ALLOWED, actor is A.OWNER)

    @given(affiliations, st.booleans(), st.booleans())
    def test_defaultRoles(self, affiliation, moderated, membersOnly):
        """
        The role on entry follows the affiliation; outcasts get none and
        may not enter members-only rooms, and only privileged users are
        moderators.
        """
        config = RoomConfig(moderated=moderated, membersOnly=membersOnly)
        role = defaultRole(affiliation, config)
        self.assertEqual(role is R.MODERATOR, affiliation in PRIVILEGED)
        self.assertEqual(role is R.NONE, affiliation is A.OUTCAST)
        if affiliation is A.NONE:
            self.assertEqual(role, R.VISITOR if moderated else R.PARTICIPANT)
            self.assertEqual(mayEnter(affiliation, config), not membersOnly)
        self.assertEqual(mayConfigure(affiliation), affiliation is A.OWNER)

    @given(roles, affiliations, st.sampled_from(["anyone", "participants", "moderators", "none"]),
           st.booleans(), st.booleans(), st.booleans())
    def test_occupantPrivileges(self, role, affiliation, allowPM, changeSubject,
                                allowInvites, membersOnly):
        """
        Speaking, the subject, private messages and invitations never go
        to a lower role than a privilege needs, and visitors never speak.
        """
        config = RoomConfig(allowPM=allowPM, changeSubject=changeSubject,
                            allowInvites=allowInvites, membersOnly=membersOnly)
        self.assertEqual(maySpeak(role), role in (R.PARTICIPANT, R.MODERATOR))
        if maySetSubject(role, config):
            self.assertTrue(maySpeak(role))
        if allowPM == "none":
            self.assertFalse(maySendPrivate(role, config))
        if allowPM == "moderators":
            self.assertEqual(maySendPrivate(role, config), role is R.MODERATOR)
        if mayInvite(role, affiliation, config) and not allowInvites:
            self.assertTrue(affiliation in PRIVILEGED or (role is R.MODERATOR and not membersOnly))
        self.assertEqual(maySeeRealJids(role, config), role is R.MODERATOR)

    @given(roles, affiliations, affiliations)
    def test_lists(self, role, affiliation, listed):
        """
        Admins and owners read every affiliation list; others at most the
        member list.
        """
        allowed = mayGetAffiliationList(role, affiliation, listed, RoomConfig())
        if affiliation in PRIVILEGED:
            self.assertTrue(allowed)
        elif allowed:
            self.assertIs(listed, A.MEMBER)
        self.assertEqual(mayGetRoleList(role, affiliation, R.MODERATOR), affiliation in PRIVILEGED)


class RequireTests(SynchronousTestCase):
    def test_refusals(self) -> None:
        """
        L{require} raises the exception of each refusal and passes allowed.
        """
        require(Verdict.ALLOWED)
        self.assertRaises(Forbidden, require, Verdict.FORBIDDEN)
        self.assertRaises(NotAllowed, require, Verdict.NOT_ALLOWED)
        self.assertRaises(Conflict, require, Verdict.CONFLICT)
