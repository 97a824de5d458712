# -*- test-case-name: tests.test_router -*-
"""
Routing of stanzas between local sessions, the local domain's logic, local
entities (the DMUC replica, C{dmuc@domain}), local components (the MUC
service) and remote domains.

Where a stanza for C{user@host/resource} goes, in order:

  1. C{host} is the node's domain or a component's, and the stanza answers
     a request of the node's IQ tracker (L{xmuc.iqrequests}): the tracker
     takes it;
  2. C{host} is the node's domain: to the local entity registered for
     C{user@host} if there is one (bare or full JID alike), else to the
     domain's logic (L{xmuc.im.delivery}: accounts, the server itself);
  3. C{host} is a component's (the MUC service): to it;
  4. anything else is remote: the C{route-remote} hook's handlers may take
     it (a handler that returns a true value ends its routing), else the
     remote sink (s2s) gets it, or it bounces C{remote-server-not-found}.

The router also keeps two registries other parts of the node query: the
bound client sessions of each local account, and the directed presence
each local full JID sent (L{xmuc.directed}).

Hooks (in the node's L{Hooks}):

  - C{route-remote(stanza, to)}: a stanza for a remote domain, before the
    s2s layer; true means taken. The primary of a distributed room sends
    one copy per replica here, the replica intercepts.
"""

from __future__ import annotations

from typing import Callable, Iterable, Protocol

from twisted.logger import Logger
from twisted.words.protocols.jabber.jid import JID
from twisted.words.xish import domish

from xmuc.core.errors import errorReply
from xmuc.core.hooks import Hooks
from xmuc.core.jid import InvalidJID, parseJID
from xmuc.directed import DirectedPresenceRecords

#: Takes an answer to one of the node's own requests: C{(stanza, to)} to
#: whether it was one (L{xmuc.iqrequests.IQRequests.take}).
AnswerTaker = Callable[[domish.Element, JID], bool]


class IStanzaSink(Protocol):
    """
    Something that takes stanzas for a domain.
    """

    def receive(self, stanza: domish.Element, to: JID) -> None: ...


class ISession(Protocol):
    """
    A bound client session, as the router sees it.
    """

    jid: JID
    available: bool
    priority: int
    blocked: set[str]

    def send(self, stanza: domish.Element) -> None: ...

    def sendBytes(self, data: bytes) -> None: ...


class EntityConflict(ValueError):
    """
    An address cannot become (or be bound beside) a local entity.
    """


class Router(DirectedPresenceRecords):
    """
    Where stanzas go.

    @ivar domain: the node's own domain.
    @ivar local: the sink for the node's own domain (the IM logic).
    @ivar components: sinks for other domains hosted here (the MUC service).
    @ivar remote: the sink for every other domain (s2s); L{None} answers
        C{remote-server-not-found}.
    @param hooks: the node's hooks (the router fires C{route-remote}).
    """

    log = Logger()

    def __init__(self, domain: str, hooks: Hooks | None = None) -> None:
        super().__init__()
        self.domain = domain
        self.local: IStanzaSink | None = None
        self.components: dict[str, IStanzaSink] = {}
        self.remote: IStanzaSink | None = None
        self._sessions: dict[str, dict[str, ISession]] = {}
        # Local entities by the local part of their JID (on self.domain).
        self._entities: dict[str, IStanzaSink] = {}
        # The live list of route-remote handlers: its truth is all the
        # common path pays.
        self._beforeRemote = (hooks or Hooks()).handlers("route-remote")
        # The IQ tracker's pending requests (shared, its truth is all an
        # ordinary stanza pays) and how it takes an answer.
        self._awaited: dict[str, object] = {}
        self._takeAnswer: AnswerTaker | None = None

    # Routing

    def route(self, stanza: domish.Element, to: JID | None = None) -> None:
        """
        Send a stanza on towards its C{to}, which must be set and valid.
        A stanza without C{to} is for the sender's own account and is
        handled by the caller.

        @param to: the already prepared C{to}, when the caller has it (the
            c2s edge does), so that it is not parsed twice.
        """
        if to is None:
            try:
                to = parseJID(stanza["to"])
            except (KeyError, InvalidJID):
                self.bounce(stanza, "jid-malformed")
                return
        # Each mechanism costs the paths it is not on one truth test.
        host = to.host
        if host == self.domain:
            if self._awaited and stanza.name == "iq" and self._takeAnswer(stanza, to):
                return
            sink = self._entities.get(to.user, self.local) if self._entities else self.local
        else:
            sink = self.components.get(host)
            if sink is None:
                if self._beforeRemote and self._routeRemote(stanza, to):
                    return
                sink = self.remote
            elif self._awaited and stanza.name == "iq" and self._takeAnswer(stanza, to):
                return
        if sink is None:
            self.bounce(stanza, "remote-server-not-found")
            return
        sink.receive(stanza, to)

    def _routeRemote(self, stanza: domish.Element, to: JID) -> bool:
        """
        Offer a stanza for a remote domain to the C{route-remote} handlers.
        A handler that fails has the stanza answered with
        C{internal-server-error} (neither sent on, which could duplicate
        what the handler did already, nor dropped unseen).
        """
        for _, handler in self._beforeRemote:
            try:
                if handler(stanza, to):
                    return True
            except Exception:
                self.log.failure("A route-remote handler failed on a stanza to {to}",
                                 to=to.full())
                self.bounce(stanza, "internal-server-error")
                return True
        return False

    def awaitAnswers(self, pending: dict[str, object], take: AnswerTaker) -> None:
        """
        Let the IQ tracker take the answers to its requests: while
        C{pending} (its own dictionary, by id) is not empty, every IQ
        routed is offered to C{take} first.
        """
        self._awaited = pending
        self._takeAnswer = take

    def deliverSerialised(
        self, to: JID, data: bytes, build: Callable[[], domish.Element]
    ) -> None:
        """
        Deliver a stanza that is already serialised with its C{to} (a room
        broadcast): a bound local session without a block list takes the
        bytes as they are; anything else (remote, gone, or a session whose
        block list must see the stanza) gets the element C{build()} makes,
        routed as usual.
        """
        # No session is ever bound under a local entity's JID (addEntity,
        # addSession), so the entity gets its stanzas through route().
        if to.host == self.domain and to.resource is not None:
            resources = self._sessions.get(to.userhost())
            session = resources.get(to.resource) if resources else None
            if session is not None and not session.blocked:
                session.sendBytes(data)
                return
        self.route(build(), to)

    def bounce(
        self, stanza: domish.Element, condition: str, text: str | None = None
    ) -> None:
        """
        Answer a stanza with an error, unless it is an error or an IQ
        result itself (those are logged instead, never dropped unseen).
        """
        reply = errorReply(stanza, condition, text)
        if reply is None:
            self.log.debug(
                "Not answering {name} of type {kind} with {condition}",
                name=stanza.name,
                kind=stanza.getAttribute("type"),
                condition=condition,
            )
            return
        if not reply.getAttribute("from"):
            reply["from"] = self.domain
        if reply.getAttribute("to"):
            self.route(reply)

    # Sessions

    def addSession(self, session: ISession) -> ISession | None:
        """
        Register a bound session.

        @return: the session that had the same full JID, which the caller
            must close (RFC 6120 section 7.7.2.2), or L{None}.
        """
        if session.jid.user in self._entities and session.jid.host == self.domain:
            raise EntityConflict(f"{session.jid.userhost()} is a local entity")
        bare = session.jid.userhost()
        resources = self._sessions.setdefault(bare, {})
        previous = resources.get(session.jid.resource)
        resources[session.jid.resource] = session
        return previous

    def removeSession(self, session: ISession) -> None:
        """
        Forget a session, if it is the one registered for its full JID.
        """
        bare = session.jid.userhost()
        resources = self._sessions.get(bare)
        if resources and resources.get(session.jid.resource) is session:
            del resources[session.jid.resource]
            if not resources:
                del self._sessions[bare]

    def sessionsOf(self, bare: str) -> Iterable[ISession]:
        """
        The bound sessions of an account (a bare JID string).
        """
        return self._sessions.get(bare, {}).values()

    def session(self, bare: str, resource: str) -> ISession | None:
        """
        The session bound to a full JID, or L{None}.
        """
        resources = self._sessions.get(bare)
        return resources.get(resource) if resources else None

    def allSessions(self) -> Iterable[ISession]:
        """
        Every bound session of the node.
        """
        for resources in self._sessions.values():
            yield from resources.values()

    def accountsOnline(self) -> list[str]:
        """
        Bare JIDs with at least one bound session.
        """
        return list(self._sessions)

    # Local entities

    def addEntity(self, address: str, sink: IStanzaSink) -> list[ISession]:
        """
        Make the bare JID C{address} (C{user@domain}, on the node's own
        domain) a local entity: every stanza to it or to any of its full
        JIDs goes to C{sink}, before and instead of account delivery.

        The entity wins over an account of that name (see
        docs/dmuc-decisions.md, "Local entities"): the account's bound
        sessions are removed from the router and returned, for the caller
        to end (L{xmuc.node.Node.addEntity} does), and no session binds
        under that JID while the entity exists.

        @raise EntityConflict: for an address that is not a bare JID on
            the node's domain, or one another sink holds.
        """
        try:
            jid = parseJID(address)
        except InvalidJID as e:
            raise EntityConflict(f"{address!r} is not a JID: {e}")
        if jid.user is None or jid.resource is not None or jid.host != self.domain:
            raise EntityConflict(f"{address} is not a bare JID on {self.domain}")
        held = self._entities.get(jid.user)
        if held is not None and held is not sink:
            raise EntityConflict(f"{address} is another entity's already")
        self._entities[jid.user] = sink
        displaced = list(self._sessions.pop(jid.userhost(), {}).values())
        return displaced

    def removeEntity(self, address: str) -> None:
        """
        Stop routing C{address} to its entity: it is an ordinary address
        of the domain again (an account, if one exists).
        """
        jid = parseJID(address)
        if jid.host == self.domain:
            self._entities.pop(jid.user, None)

    def entity(self, address: str) -> IStanzaSink | None:
        """
        The entity for a JID (bare or full) of the node's domain, or
        L{None}.
        """
        try:
            jid = parseJID(address)
        except InvalidJID:
            return None
        if jid.host != self.domain or jid.user is None:
            return None
        return self._entities.get(jid.user)
