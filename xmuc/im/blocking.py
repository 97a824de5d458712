# -*- test-case-name: tests.im.test_blocking -*-
"""
XEP-0191 Blocking Command.

An account's block list is a set of JID strings. It is kept in the store,
cached here for the accounts that are online (and, in a bounded cache, for
those recently looked up), and shared, as one frozen set, as
C{session.blocked} of each of the account's sessions, always in sync (an
empty list costs a session nothing).

Enforcement, with the matching rules of XEP-0191 section 6 (those of
XEP-0016 section 2.1: a domain blocks all its JIDs, a bare JID all its
resources, a full JID only itself):

  - C{c2s-outbound}: a stanza the user sends to a blocked JID is refused
    with C{not-acceptable} and C{<blocked xmlns='urn:xmpp:blocking:errors'/>};
    presence to it is dropped.
  - C{local-inbound}: a message or IQ request from a blocked JID is
    answered C{service-unavailable}; other IQs are dropped. (Inbound
    presence never reaches this hook: the presence module checks
    C{session.blocked} itself.)

Blocking a contact that could see the user's presence sends it unavailable
presence from each available resource; unblocking sends the current
presence again. Changes are pushed to every resource of the account that
retrieved the block list (section 3.3).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import AbstractSet, Any, Iterable

from twisted.internet import defer
from twisted.logger import Logger
from twisted.words.protocols.jabber.error import StanzaError
from twisted.words.protocols.jabber.jid import JID
from twisted.words.xish import domish

from xmuc.core.errors import isError
from xmuc.core.jid import InvalidJID, parseJID
from xmuc.writes import inScope

NS_BLOCKING = "urn:xmpp:blocking"
NS_BLOCKING_ERRORS = "urn:xmpp:blocking:errors"

#: How many block lists of offline accounts stay cached.
OFFLINE_CACHE_SIZE = 1024


def matchKeys(address: JID) -> tuple[str, ...]:
    """
    The block-list entries that match an address: itself, its bare JID, its
    domain with its resource, and its domain.
    """
    host = address.host
    keys = [address.full()]
    if address.user is not None:
        keys.append(address.userhost())
        if address.resource is not None:
            keys.append(f"{host}/{address.resource}")
    if address.user is not None or address.resource is not None:
        keys.append(host)
    return tuple(keys)


def isBlocked(blocked: Iterable[str], address: JID) -> bool:
    """
    Whether a block list blocks an address.
    """
    if not blocked:
        return False
    entries = blocked if isinstance(blocked, (set, frozenset)) else set(blocked)
    return any(key in entries for key in matchKeys(address))


def _parseItems(element: domish.Element) -> list[str]:
    """
    The prepared JIDs of the C{<item/>} children of a block or unblock.
    """
    result = []
    for item in element.elements(NS_BLOCKING, "item"):
        text = item.getAttribute("jid")
        if not text:
            raise StanzaError("bad-request", text="an item needs a jid")
        result.append(parseJID(text).full())
    return result


def _listElement(name: str, jids: Iterable[str]) -> domish.Element:
    element = domish.Element((NS_BLOCKING, name))
    for jid in sorted(jids):
        element.addElement("item")["jid"] = jid
    return element


class Blocking:
    """
    Block lists: the IQ protocol, the cache and the enforcement hooks.
    """

    log = Logger()

    def __init__(self, node: Any) -> None:
        self.node = node
        self.router = node.router
        self._online: dict[str, frozenset[str]] = {}
        self._offline: OrderedDict[str, frozenset[str]] = OrderedDict()
        self._loading: dict[str, list[defer.Deferred]] = {}
        self._requested: set[str] = set()

    # The cache

    def cached(self, bare: str) -> frozenset[str] | None:
        """
        The block list of an account when it is cached, else L{None}.
        """
        if bare in self._online:
            return self._online[bare]
        if bare in self._offline:
            self._offline.move_to_end(bare)
            return self._offline[bare]
        return None

    def load(self, username: str) -> defer.Deferred:
        """
        The block list of an account, from the cache or the store (one
        store query however many callers wait for it).
        """
        bare = f"{username}@{self.node.domain}"
        cached = self.cached(bare)
        if cached is not None:
            return defer.succeed(cached)
        waiting: defer.Deferred = defer.Deferred()
        if bare in self._loading:
            self._loading[bare].append(waiting)
            # Fired by the first caller's load: keep this caller's scope.
            return inScope(waiting)
        self._loading[bare] = [waiting]

        def loaded(blocked: set[str]) -> None:
            waiters = self._loading.pop(bare)
            if self.cached(bare) is None:
                self._remember(bare, blocked)
            result = self.cached(bare)
            for waiter in waiters:
                waiter.callback(result)

        def failed(reason: Any) -> None:
            for waiter in self._loading.pop(bare):
                waiter.errback(reason)

        self.node.store.getBlockList(username).addCallbacks(loaded, failed)
        return waiting

    def _remember(self, bare: str, blocked: AbstractSet[str]) -> None:
        blocked = frozenset(blocked)
        if any(True for _ in self.router.sessionsOf(bare)):
            self._offline.pop(bare, None)
            self._online[bare] = blocked
        else:
            self._offline[bare] = blocked
            self._offline.move_to_end(bare)
            while len(self._offline) > OFFLINE_CACHE_SIZE:
                self._offline.popitem(last=False)
        for session in self.router.sessionsOf(bare):
            session.blocked = blocked

    def forget(self, username: str) -> None:
        """
        Drop the cached list of an account (it was deleted).
        """
        bare = f"{username}@{self.node.domain}"
        self._online.pop(bare, None)
        self._offline.pop(bare, None)

    # Sessions

    def sessionBound(self, session: Any) -> None:
        cached = self.cached(session.bare)
        if cached is not None:
            self._remember(session.bare, cached)
            return
        self.load(session.username).addErrback(
            lambda f: self.log.failure("Loading the block list of {who}", f, who=session.bare)
        )

    def sessionClosed(self, session: Any) -> None:
        self._requested.discard(session.full)
        bare = session.bare
        others = [s for s in self.router.sessionsOf(bare) if s is not session]
        if not others and bare in self._online:
            self._offline[bare] = self._online.pop(bare)
            while len(self._offline) > OFFLINE_CACHE_SIZE:
                self._offline.popitem(last=False)

    # Protocol

    def _own(self, iq: domish.Element, sender: JID) -> JID:
        account = parseJID(iq["to"])
        if sender.userhost() != account.userhost():
            raise StanzaError("forbidden", text="a block list is its owner's business")
        return account

    async def getList(
        self, iq: domish.Element, sender: JID, session: Any
    ) -> domish.Element:
        account = self._own(iq, sender)
        blocked = await self.load(account.user)
        self._requested.add(sender.full())
        return _listElement("blocklist", blocked)

    async def change(self, iq: domish.Element, sender: JID, session: Any) -> None:
        account = self._own(iq, sender)
        payload = iq.firstChildElement()
        items = _parseItems(payload)
        username, bare = account.user, account.userhost()
        blocked = set(await self.load(username))
        if payload.name == "block":
            if not items:
                raise StanzaError("bad-request", text="block at least one JID")
            added = set(items) - blocked
            if added:
                await self.node.store.addBlocks(username, sorted(added))
            # Applied to the list as it is now: another change may have
            # completed while the store was writing.
            self._remember(bare, self._current(bare, blocked) | added)
            self._push(bare, "block", items)
            await self._hidePresence(username, bare, added)
        elif payload.name == "unblock":
            removed = set(items) & blocked if items else blocked
            await self.node.store.removeBlocks(username, sorted(items))
            current = self._current(bare, blocked)
            self._remember(bare, current - set(items) if items else set())
            self._push(bare, "unblock", items)
            await self._showPresence(username, bare, removed)
        else:
            raise StanzaError("bad-request", text="expected block or unblock")
        return None

    def _current(self, bare: str, fallback: set[str]) -> set[str]:
        cached = self.cached(bare)
        return set(cached) if cached is not None else set(fallback)

    def _push(self, bare: str, name: str, items: list[str]) -> None:
        for session in list(self.router.sessionsOf(bare)):
            if session.full not in self._requested:
                continue
            push = domish.Element((None, "iq"))
            push["type"] = "set"
            push["id"] = "push-" + self.node.makeId()
            push["to"] = session.full
            push.addChild(_listElement(name, items))
            session.send(push)

    async def _watchers(self, username: str, bare: str, entries: set[str]) -> dict[str, set[str]]:
        """
        For each available resource, the addresses matching C{entries} that
        can see its presence: subscribed contacts and directed presence.
        """
        if not entries:
            return {}
        roster = await self.node.store.getRoster(username)
        contacts = set()
        for item in roster.items.values():
            if item.subscription in ("from", "both") and _matches(entries, item.jid):
                contacts.add(item.jid)
        result = {}
        for session in self.router.sessionsOf(bare):
            if session.available:
                directed = {
                    to
                    for to in self.router.directedPresence(session.full)
                    if _matches(entries, to)
                }
                result[session.full] = contacts | directed
        return result

    async def _hidePresence(self, username: str, bare: str, added: set[str]) -> None:
        for full, targets in (await self._watchers(username, bare, added)).items():
            for to in sorted(targets):
                presence = domish.Element((None, "presence"))
                presence["type"] = "unavailable"
                presence["from"] = full
                presence["to"] = to
                self.router.forgetDirectedPresence(full, to)
                self.node.route(presence)

    async def _showPresence(self, username: str, bare: str, removed: set[str]) -> None:
        for full, targets in (await self._watchers(username, bare, removed)).items():
            session = self.router.session(bare, parseJID(full).resource)
            if session is None or session.presence is None:
                continue
            for to in sorted(targets):
                presence = _copy(session.presence)
                presence["from"] = full
                presence["to"] = to
                self.node.route(presence)

    # Enforcement

    def outbound(self, session: Any, stanza: domish.Element) -> bool:
        """
        C{c2s-outbound}: refuse what the user sends to a blocked JID.
        """
        to = stanza.getAttribute("to")
        if to is None or not session.blocked:
            return False
        try:
            address = parseJID(to)
        except InvalidJID:
            return False
        if address.userhost() == session.bare or not isBlocked(session.blocked, address):
            return False
        if stanza.name == "presence" or isError(stanza):
            self.log.debug("Dropping {name} to blocked {to}", name=stanza.name, to=to)
            return True
        error = StanzaError(
            "not-acceptable",
            "cancel",
            appCondition=domish.Element((NS_BLOCKING_ERRORS, "blocked")),
        )
        reply = error.toResponse(stanza)
        reply.children = [c for c in reply.children if getattr(c, "name", None) == "error"]
        session.send(reply)
        return True

    def inbound(self, stanza: domish.Element, to: JID) -> bool:
        """
        C{local-inbound}: refuse what a blocked JID sends to the user. When
        the list is not cached yet, the stanza waits for it and is then
        delivered again.
        """
        try:
            sender = parseJID(stanza.getAttribute("from", ""))
        except InvalidJID:
            return False
        bare = to.userhost()
        if sender.userhost() == bare:
            return False
        blocked = self.cached(bare)
        if blocked is None:
            d = self.load(to.user)
            d.addCallback(lambda _: self.router.local.receive(stanza, to))
            d.addErrback(lambda f: self.log.failure("Checking the block list of {to}", f, to=bare))
            return True
        if not isBlocked(blocked, sender):
            return False
        if stanza.name == "message" or stanza.getAttribute("type") in ("get", "set"):
            self.router.bounce(stanza, "service-unavailable")
        else:
            self.log.debug(
                "Dropping {name} from blocked {who}", name=stanza.name, who=sender.full()
            )
        return True


def _matches(entries: set[str], text: str) -> bool:
    try:
        return isBlocked(entries, parseJID(text))
    except InvalidJID:
        return False


def _copy(element: domish.Element) -> domish.Element:
    """
    A shallow copy of a stanza: own attributes, shared children.
    """
    copy = domish.Element((element.uri, element.name), element.defaultUri)
    copy.attributes = dict(element.attributes)
    copy.children = list(element.children)
    return copy


def install(node: Any) -> Blocking:
    blocking = Blocking(node)
    node.accountIQ.register("get", NS_BLOCKING, blocking.getList)
    node.accountIQ.register("set", NS_BLOCKING, blocking.change)
    node.hooks.add("session-bound", blocking.sessionBound)
    node.hooks.add("session-closed", blocking.sessionClosed)
    node.hooks.add("c2s-outbound", blocking.outbound, priority=100)
    node.hooks.add("local-inbound", blocking.inbound, priority=100)
    node.hooks.add("account-deleted", blocking.forget)
    node.serverFeatures.add(NS_BLOCKING)
    return blocking
