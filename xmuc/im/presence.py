# -*- test-case-name: tests.im.test_presence -*-
"""
Presence (RFC 6121 sections 3 and 4): broadcast, probes, directed
presence and the routing of subscription stanzas.

What a client sends arrives in L{PresenceService.outbound}; presence for
the node's domain arrives in L{PresenceService.inbound}, whether it comes
from a local session or a remote server. Subscription stanzas change the
roster through L{xmuc.im.roster.RosterService.applySubscription}, which
runs the pure table of L{xmuc.im.subscription}; this module carries out the
actions of each transition. Everything that reads or changes one account's
roster runs in that account's order (L{RosterService.serialise}).

A session's XEP-0191 block list (C{session.blocked}) is honoured here:
blocked entities neither get the session's presence nor reach it with
theirs.
"""

from __future__ import annotations

from typing import Any, Iterable

from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.words.protocols.jabber.error import StanzaError
from twisted.words.protocols.jabber.jid import JID
from twisted.words.xish import domish

from xmuc.core.errors import errorReply
from xmuc.core.jid import InvalidJID, parseJID
from xmuc.im.blocking import isBlocked
from xmuc.core.stanza import parseStanza, readdressed
from xmuc.im.roster import stateOf
from xmuc.im.subscription import KINDS, Action, Transition, eventFor
from xmuc.storage.interfaces import LastActivity, Roster, UnknownUser

#: Every presence type of RFC 6121 section 4.7.1 (L{None} is available).
TYPES = frozenset((None, "unavailable", "probe", "error") + KINDS)


def parsePriority(stanza: domish.Element) -> int:
    """
    The C{<priority/>} of an available presence, 0 without one.

    @raise StanzaError: C{bad-request} unless it is an integer from -128
        to 127 (section 4.7.2.3).
    """
    for child in stanza.elements():
        if child.name == "priority" and child.uri == stanza.uri:
            try:
                value = int(str(child).strip())
            except ValueError:
                raise StanzaError("bad-request", text="priority is not an integer")
            if not -128 <= value <= 127:
                raise StanzaError("bad-request", text="priority out of range")
            return value
    return 0


def statusOf(stanza: domish.Element) -> str:
    """
    The first C{<status/>} text of a presence, or an empty string.
    """
    for child in stanza.elements():
        if child.name == "status" and child.uri == stanza.uri:
            return str(child)
    return ""


def presence(sender: str, to: str | None, kind: str | None) -> domish.Element:
    """
    A new presence stanza.
    """
    stanza = domish.Element((None, "presence"))
    stanza["from"] = sender
    if to is not None:
        stanza["to"] = to
    if kind is not None:
        stanza["type"] = kind
    return stanza


def blocks(session: Any, address: str) -> bool:
    """
    Whether the session's block list (XEP-0191) covers C{address}.
    """
    if not session.blocked:
        return False
    try:
        return isBlocked(session.blocked, parseJID(address))
    except InvalidJID:
        return False


def contacts(roster: Roster, outgoing: bool) -> list[str]:
    """
    The contacts whose presence the user receives (C{to} or C{both}) when
    C{outgoing}, else those that receive the user's (C{from} or C{both}).
    """
    states = {jid: stateOf(item) for jid, item in roster.items.items()}
    return sorted(j for j, s in states.items() if (s.to if outgoing else s.from_))


class PresenceService:
    """
    The presence logic of the node's domain.
    """

    log = Logger()

    def __init__(self, node: Any) -> None:
        self.node = node
        self.router = node.router
        self.store = node.store
        node.hooks.add("session-closed", self.sessionClosed)

    @property
    def roster(self) -> Any:
        return self.node.modules["roster"]

    def _available(self, bare: str, peer: str | None = None) -> list[Any]:
        """
        The available sessions of an account; with C{peer}, only those
        that do not block it (XEP-0191: no presence either way).
        """
        sessions = [s for s in self.router.sessionsOf(bare) if s.available]
        if peer is None:
            return sessions
        return [s for s in sessions if not blocks(s, peer)]

    def _logFailure(self, failure: Failure, what: str) -> None:
        self.log.failure("Presence handling failed: {what}", failure, what=what)

    # From clients

    def outbound(self, session: Any, stanza: domish.Element, toJID: JID | None) -> None:
        """
        A presence from a client, its C{from} stamped with the full JID.
        """
        kind = stanza.getAttribute("type")
        if kind not in TYPES:
            _reject(session, stanza, "bad-request")
        elif kind in KINDS:
            self._outboundSubscription(session, stanza, toJID, kind)
        elif toJID is None:
            if kind is None:
                self._initialOrUpdate(session, stanza)
            elif kind == "unavailable":
                self._unavailable(session, stanza, closing=False)
            else:
                _reject(session, stanza, "bad-request")
        elif kind == "probe":
            # Section 4.3.1: a probe comes from the bare JID.
            stanza["from"] = session.bare
            self.node.route(stanza)
        else:
            self._directed(session, stanza, toJID, kind)

    def _directed(
        self, session: Any, stanza: domish.Element, toJID: JID, kind: str | None
    ) -> None:
        # Section 4.6: remember where available presence went, before it
        # arrives (a room checks the record when the join arrives).
        target = toJID.full()
        if kind is None:
            self.router.recordDirectedPresence(session.full, target)
        self.node.route(stanza)
        if kind == "unavailable":
            self.router.withdrawDirectedPresence(session.full, target)

    def _initialOrUpdate(self, session: Any, stanza: domish.Element) -> None:
        try:
            priority = parsePriority(stanza)
        except StanzaError as e:
            _reject(session, stanza, e.condition, e.text)
            return
        initial = not session.available
        session.available = True
        session.priority = priority
        session.presence = stanza
        own = self._available(session.bare)
        d = self.roster.serialise(
            session.username, self._broadcastAvailable, session, stanza, own, initial
        )
        d.addErrback(self._logFailure, "available broadcast")

    async def _broadcastAvailable(
        self,
        session: Any,
        stanza: domish.Element,
        own: list[Any],
        initial: bool,
    ) -> None:
        roster = await self.store.getRoster(session.username)
        for contact in contacts(roster, outgoing=False):
            if not blocks(session, contact):
                self.node.route(readdressed(stanza, contact))
        # Sections 4.2.2 and 4.4.2: every available resource of the
        # account, the sender included, sees the presence.
        for other in own:
            other.send(readdressed(stanza, other.full))
        if not initial:
            return
        for contact in contacts(roster, outgoing=True):
            self.node.route(presence(session.bare, contact, "probe"))
        for other in own:
            if other is not session and other.presence is not None:
                session.send(readdressed(other.presence, session.full))
        self.node.hooks.fire("session-initial-presence", session)
        # Section 3.1.3: requests wait until the user has a resource.
        for item in roster.items.values():
            if (
                item.pendingIn
                and item.pendingInStanza
                and not blocks(session, item.jid)
            ):
                session.send(parseStanza(item.pendingInStanza))

    def _unavailable(self, session: Any, stanza: domish.Element, closing: bool) -> None:
        wasAvailable = session.available
        others = [s for s in self._available(session.bare) if s is not session]
        # Section 4.5.2: the account's resources hear of it, the sender
        # too unless its stream is gone; None: there is no broadcast.
        own = (others if closing else others + [session]) if wasAvailable else None
        session.available = False
        session.presence = None
        directed = self.router.clearDirectedPresence(session.full)
        last = wasAvailable and not others
        work = self._broadcastUnavailable
        d = self.roster.serialise(
            session.username, work, session, stanza, own, directed, last
        )
        d.addErrback(self._logFailure, "unavailable broadcast")

    async def _broadcastUnavailable(
        self,
        session: Any,
        stanza: domish.Element,
        own: list[Any] | None,
        directed: Iterable[str],
        last: bool,
    ) -> None:
        told: set[str] = set()
        if own is not None:
            roster = await self.store.getRoster(session.username)
            told = set(contacts(roster, outgoing=False))
            told.add(session.bare)
            for contact in sorted(told - {session.bare}):
                if not blocks(session, contact):
                    self.node.route(readdressed(stanza, contact))
            for other in own:
                other.send(readdressed(stanza, other.full))
        # Section 4.6.3: directed presence is withdrawn too, once per
        # entity that did not get the broadcast already.
        for target in sorted(directed):
            if parseJID(target).userhost() not in told:
                self.node.route(readdressed(stanza, target))
        if last:
            activity = LastActivity(self.node.clock.seconds(), statusOf(stanza))
            await self.store.setLastActivity(session.username, activity)

    def sessionClosed(self, session: Any) -> None:
        """
        A stream ended: act as if the session had sent unavailable
        presence (section 4.5.2).
        """
        if session.available or self.router.directedPresence(session.full):
            self._unavailable(
                session, presence(session.full, None, "unavailable"), closing=True
            )

    def _outboundSubscription(
        self, session: Any, stanza: domish.Element, toJID: JID | None, kind: str
    ) -> None:
        if toJID is None:
            _reject(session, stanza, "bad-request")
            return
        contact = toJID.userhost()
        if contact == session.bare:
            _reject(session, stanza, "not-allowed")
            return
        # Section 3.1.2: subscription stanzas go from bare JID to bare JID.
        stanza["from"] = session.bare
        stanza["to"] = contact

        def effects(change: Transition) -> None:
            self._carryOut(change, session.bare, contact, stanza)

        d = self.roster.applySubscription(
            session.bare, contact, eventFor(True, kind), None, effects
        )
        d.addErrback(self._logFailure, "outbound " + kind)

    # Subscription actions

    def _carryOut(
        self, change: Transition, bare: str, contact: str, stanza: domish.Element
    ) -> None:
        for action in change.actions:
            if action is Action.ROUTE:
                self.node.route(stanza)
            elif action is Action.DELIVER:
                for session in self._available(bare, contact):
                    session.send(stanza)
            elif action is Action.AUTO_SUBSCRIBED:
                self.node.route(presence(bare, contact, "subscribed"))
            elif action is Action.SEND_PRESENCE:
                self.sendCurrentPresence(bare, contact)
            elif action is Action.SEND_UNAVAILABLE:
                self.sendUnavailable(bare, contact)

    def sendCurrentPresence(self, bare: str, contact: str) -> None:
        """
        Send C{contact} the presence of each available resource of the
        account C{bare}.
        """
        for session in self._available(bare, contact):
            if session.presence is not None:
                self.node.route(readdressed(session.presence, contact))

    def sendUnavailable(self, bare: str, contact: str) -> None:
        """
        Send C{contact} unavailable presence from each available resource
        of the account C{bare}.
        """
        for session in self._available(bare):
            self.node.route(presence(session.full, contact, "unavailable"))

    # To the domain

    def inbound(self, stanza: domish.Element, to: JID) -> None:
        """
        A presence for the node's domain, a local account or a session.
        """
        kind = stanza.getAttribute("type")
        if kind not in TYPES:
            self.router.bounce(stanza, "bad-request")
            return
        try:
            sender = parseJID(stanza["from"])
        except (KeyError, InvalidJID):
            self.log.warn("Dropping presence without a valid from")
            return
        if to.user is None:
            # Section 4.3: the server has no presence of its own to probe,
            # and it keeps no subscriptions.
            self.log.debug("Ignoring presence to the domain from {s}", s=sender.full())
        elif kind in KINDS:
            self._inboundSubscription(stanza, to, sender, kind)
        elif kind == "probe":
            d = self.roster.serialise(to.user, self._answerProbe, to, sender)
            d.addErrback(self._logFailure, "probe")
        elif to.resource is not None:
            self._toFullJID(stanza, to, sender)
        elif kind == "error":
            self.log.debug("Dropping presence error to bare {to}", to=to.full())
        else:
            # Section 8.5.2.1.2: to every available resource.
            for session in self._available(to.userhost(), sender.full()):
                session.send(stanza)

    def _toFullJID(self, stanza: domish.Element, to: JID, sender: JID) -> None:
        # An error or unavailable presence from where the session sent
        # presence ends (or, for a nick change, moves) its record.
        self.router.presenceDelivered(stanza, (to,))
        session = self.router.session(to.userhost(), to.resource)
        if session is not None and blocks(session, sender.full()):
            self.log.debug("Presence from blocked {s}", s=sender.full())
        elif session is not None:
            session.send(stanza)
        else:
            # Section 8.5.3.2.3: presence for a gone resource is ignored.
            self.log.debug("No session for presence to {to}", to=to.full())

    async def _answerProbe(self, to: JID, sender: JID) -> None:
        bare = to.userhost()
        prober = sender.userhost()
        roster = await self.store.getRoster(to.user)
        if prober != bare and not stateOf(roster.items.get(prober)).from_:
            # Section 4.3.2: no presence for a non-subscriber.
            self.log.debug("Unanswered probe from {p}", p=prober)
            return
        sessions = [
            s
            for s in self._available(bare, prober)
            if to.resource is None or s.jid.resource == to.resource
        ]
        for session in sessions:
            self.node.route(readdressed(session.presence, sender.full()))
        if not sessions:
            self.node.route(presence(to.full(), sender.full(), "unavailable"))

    def _inboundSubscription(
        self, stanza: domish.Element, to: JID, sender: JID, kind: str
    ) -> None:
        bare = to.userhost()
        contact = sender.userhost()
        stanza["from"] = contact
        stanza["to"] = bare
        kept = stanza.toXml() if kind == "subscribe" else None

        def effects(change: Transition) -> None:
            self._carryOut(change, bare, contact, stanza)

        def noAccount(failure: Failure) -> None:
            failure.trap(UnknownUser)
            if kind == "subscribe":
                # Section 3.1.3: a request to nobody is answered as denied.
                self.node.route(presence(bare, contact, "unsubscribed"))

        d = self.roster.applySubscription(
            bare, contact, eventFor(False, kind), kept, effects
        )
        d.addErrback(noAccount)
        d.addErrback(self._logFailure, "inbound " + kind)


def _reject(
    session: Any, stanza: domish.Element, condition: str, text: str | None = None
) -> None:
    reply = errorReply(stanza, condition, text)
    if reply is not None:
        if reply.hasAttribute("to"):
            del reply["to"]
        session.send(reply)


def install(node: Any) -> PresenceService:
    return PresenceService(node)
