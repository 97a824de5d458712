# -*- test-case-name: tests.test_router -*-
"""
Routing of stanzas between local sessions, the local domain's logic, local
components (the MUC service) and remote domains.

The router also keeps two registries other parts of the node query:

  - the bound client sessions of each local account;
  - the directed presence each local full JID sent (RFC 6121 section
    4.6), which the presence logic needs for its unavailable broadcast and
    the distributed room engine needs to check that a user really joined a
    room (../shared/design/dmuc.md section 3).
"""

from __future__ import annotations

from typing import Callable, Iterable, Protocol

from twisted.logger import Logger
from twisted.words.protocols.jabber.jid import JID
from twisted.words.xish import domish

from xmuc.core.errors import errorReply
from xmuc.core.jid import InvalidJID, parseJID


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


class Router:
    """
    Where stanzas go.

    @ivar domain: the node's own domain.
    @ivar local: the sink for the node's own domain (the IM logic).
    @ivar components: sinks for other domains hosted here (the MUC service).
    @ivar remote: the sink for every other domain (s2s); L{None} answers
        C{remote-server-not-found}.
    """

    log = Logger()

    def __init__(self, domain: str) -> None:
        self.domain = domain
        self.local: IStanzaSink | None = None
        self.components: dict[str, IStanzaSink] = {}
        self.remote: IStanzaSink | None = None
        self._sessions: dict[str, dict[str, ISession]] = {}
        self._directed: dict[str, set[str]] = {}
        self._directedWatchers: list[Callable[[str, str, bool], None]] = []

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
        host = to.host
        if host == self.domain:
            sink = self.local
        else:
            sink = self.components.get(host, self.remote)
        if sink is None:
            self.bounce(stanza, "remote-server-not-found")
            return
        sink.receive(stanza, to)

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

    # Directed presence

    def recordDirectedPresence(self, sender: str, to: str) -> None:
        """
        Note that the full JID C{sender} sent available presence to C{to}.
        """
        targets = self._directed.setdefault(sender, set())
        if to not in targets:
            targets.add(to)
            for watcher in self._directedWatchers:
                watcher(sender, to, True)

    def forgetDirectedPresence(self, sender: str, to: str) -> None:
        """
        Note that C{sender} sent unavailable presence to C{to}.
        """
        targets = self._directed.get(sender)
        if targets and to in targets:
            targets.discard(to)
            if not targets:
                del self._directed[sender]
            for watcher in self._directedWatchers:
                watcher(sender, to, False)

    def hasDirectedPresence(self, sender: str, to: str) -> bool:
        """
        Whether the full JID C{sender} has sent available presence to
        C{to} (a full or bare JID string, compared exactly) and not
        withdrawn it.
        """
        return to in self._directed.get(sender, ())

    def directedPresence(self, sender: str) -> frozenset[str]:
        """
        Where C{sender} sent directed available presence.
        """
        return frozenset(self._directed.get(sender, ()))

    def clearDirectedPresence(self, sender: str) -> frozenset[str]:
        """
        Forget all directed presence of a session that went unavailable.

        @return: the addresses it had been sent to.
        """
        targets = frozenset(self._directed.get(sender, ()))
        for to in targets:
            self.forgetDirectedPresence(sender, to)
        return targets

    def watchDirectedPresence(self, watcher: Callable[[str, str, bool], None]) -> None:
        """
        Call C{watcher(sender, to, available)} at each change of the
        directed-presence records.
        """
        self._directedWatchers.append(watcher)
