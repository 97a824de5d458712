# -*- test-case-name: tests.im.test_roster -*-
"""
Roster management (RFC 6121 section 2) with roster versioning (section
2.6), and the storage side of presence subscriptions (section 3).

The subscription state machine itself is the pure table of
L{xmuc.im.subscription}; this module maps it onto stored L{RosterItem}s,
keeps every change of one user's roster in order (L{RosterService.serialise})
and pushes what changed to the user's interested resources.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable

from twisted.internet import defer
from twisted.internet.defer import Deferred, DeferredLock
from twisted.logger import Logger
from twisted.words.protocols.jabber.error import StanzaError
from twisted.words.protocols.jabber.jid import JID
from twisted.words.xish import domish

from xmuc.core.jid import InvalidJID, parseJID
from xmuc.im.subscription import (
    Event,
    State,
    Transition,
    normalise,
    removal,
    transition,
)
from xmuc.storage.interfaces import RosterItem
from xmuc.writes import later

NS_ROSTER = "jabber:iq:roster"
NS_ROSTERVER = "urn:xmpp:features:rosterver"

#: Longest name or group a client may set, in characters.
MAX_TEXT = 1023


# Values and their XML forms


def stateOf(item: RosterItem | None) -> State:
    """
    The subscription state a stored record stands for.
    """
    if item is None:
        return State()
    return normalise(item.subscription, item.ask, item.pendingIn, item.approved)


def withState(item: RosterItem, state: State) -> RosterItem:
    """
    A record carrying C{state}.
    """
    return replace(
        item,
        subscription=state.subscription,
        ask=state.pendingOut,
        pendingIn=state.pendingIn,
        approved=state.approved,
    )


def itemElement(item: RosterItem) -> domish.Element:
    """
    The C{<item/>} of a record, as in roster results and pushes.
    """
    element = domish.Element((NS_ROSTER, "item"))
    element["jid"] = item.jid
    if item.name:
        element["name"] = item.name
    element["subscription"] = item.subscription
    if item.ask:
        element["ask"] = "subscribe"
    if item.approved:
        element["approved"] = "true"
    for group in item.groups:
        element.addElement("group", content=group)
    return element


def removedElement(jid: str) -> domish.Element:
    """
    The C{<item/>} pushed for a removed contact.
    """
    element = domish.Element((NS_ROSTER, "item"))
    element["jid"] = jid
    element["subscription"] = "remove"
    return element


@dataclass(frozen=True)
class ItemUpdate:
    """
    A parsed roster set: add or update C{jid}, or remove it.
    """

    jid: str
    name: str | None
    groups: tuple[str, ...]
    remove: bool


def parseRosterSet(query: domish.Element) -> ItemUpdate:
    """
    Parse the query of a roster set (RFC 6121 section 2.3.2 and 2.3.3).

    @raise StanzaError: C{bad-request} unless there is exactly one item
        with a C{jid}, or for duplicate groups; C{jid-malformed} for an
        invalid C{jid}; C{not-acceptable} for an empty or overlong group
        or an overlong name.
    """
    items = [c for c in query.elements() if c.name == "item"]
    if len(items) != 1:
        raise StanzaError("bad-request", text="a roster set carries exactly one item")
    [item] = items
    if not item.getAttribute("jid"):
        raise StanzaError("bad-request", text="the item has no jid")
    try:
        address = parseJID(item["jid"])
    except InvalidJID:
        raise StanzaError("jid-malformed")
    name = item.getAttribute("name") or None
    if name is not None and len(name) > MAX_TEXT:
        raise StanzaError("not-acceptable", text="name too long")
    groups = tuple(str(g).strip() for g in item.elements() if g.name == "group")
    if any(not g or len(g) > MAX_TEXT for g in groups):
        raise StanzaError("not-acceptable", text="empty or overlong group")
    if len(set(groups)) != len(groups):
        raise StanzaError("bad-request", text="duplicate group")
    return ItemUpdate(
        address.full(), name, groups, item.getAttribute("subscription") == "remove"
    )


def nextItem(
    item: RosterItem | None,
    contact: str,
    change: Transition,
    stanza: str | None,
) -> RosterItem | None:
    """
    The record after a subscription event, or L{None} when nothing is
    left to keep.

    Asking for a subscription or approving one puts the contact in the
    roster (RFC 6121 sections 3.1.2, 3.1.5, 3.4); an inbound request from a
    stranger is only kept as pending state.
    """
    base = item if item is not None else RosterItem(contact, inRoster=False)
    event = change.event
    inRoster = (
        base.inRoster
        or event is Event.OUT_SUBSCRIBE
        or (event is Event.OUT_SUBSCRIBED and change.changed)
    )
    pendingStanza = None
    if change.new.pendingIn:
        fresh = event is Event.IN_SUBSCRIBE and stanza is not None
        pendingStanza = stanza if fresh else base.pendingInStanza
    new = replace(
        withState(base, change.new), inRoster=inRoster, pendingInStanza=pendingStanza
    )
    if not new.inRoster and change.new.empty:
        return None
    return new


# The service


class RosterService:
    """
    The jabber:iq:roster handlers and the subscription bookkeeping.
    """

    log = Logger()

    def __init__(self, node: Any) -> None:
        self.node = node
        self.store = node.store
        self._locks: dict[str, DeferredLock] = {}

    # Ordering

    @property
    def busy(self) -> bool:
        """
        Whether some account's serialised work is still running.
        """
        return bool(self._locks)

    def serialise(
        self, username: str, work: Callable[..., Any], *args: Any
    ) -> Deferred[Any]:
        """
        Run C{work(*args)} (which may return a Deferred or a coroutine)
        after every earlier piece of work for C{username} finished, so that
        two quick changes to one roster never interleave.
        """
        lock = self._locks.get(username)
        if lock is None:
            lock = self._locks[username] = DeferredLock()

        def run() -> Deferred[Any]:
            return defer.maybeDeferred(work, *args).addCallback(_awaited)

        def release(result: Any) -> Any:
            if not lock.locked and not lock.waiting:
                self._locks.pop(username, None)
            return result

        # Work waiting for the lock stays in its stream's write scope.
        return lock.run(later(run)).addBoth(release)

    # IQ handlers

    def onGet(
        self, iq: domish.Element, sender: JID, session: Any
    ) -> Deferred[domish.Element | None]:
        """
        A roster get: the whole roster, or nothing when the client's
        version is current (section 2.6.3); the session becomes
        interested.
        """
        account = _account(iq, sender, "service-unavailable")
        query = _query(iq)
        clientVersion = query.getAttribute("ver")
        if session is not None:
            session.interested = True
        d = self.store.getRoster(account.user)
        return d.addCallback(_rosterResult, clientVersion)

    def onSet(self, iq: domish.Element, sender: JID, session: Any) -> Deferred[None]:
        """
        A roster set: add, update or remove one item.
        """
        account = _account(iq, sender, "forbidden")
        update = parseRosterSet(_query(iq))
        return self.serialise(account.user, self._set, account.userhost(), update)

    async def _set(self, bare: str, update: ItemUpdate) -> None:
        username = bare.split("@", 1)[0]
        roster = await self.store.getRoster(username)
        item = roster.items.get(update.jid)
        if update.remove:
            if item is None:
                raise StanzaError("item-not-found")
            await self._remove(bare, item)
            return
        base = item if item is not None else RosterItem(update.jid)
        new = replace(base, name=update.name, groups=update.groups, inRoster=True)
        version = await self.store.setRosterItem(username, new)
        self.push(bare, itemElement(new), version)

    async def _remove(self, bare: str, item: RosterItem) -> None:
        # RFC 6121 section 2.5.3: cancel both directions, then forget.
        state = stateOf(item)
        for kind in removal(state):
            self.node.route(_subscriptionStanza(kind, bare, item.jid))
        presence = self.node.modules.get("presence")
        if state.from_ and presence is not None:
            presence.sendUnavailable(bare, item.jid)
        version = await self.store.removeRosterItem(bare.split("@", 1)[0], item.jid)
        if item.inRoster:
            self.push(bare, removedElement(item.jid), version)

    # Pushes

    def push(self, bare: str, item: domish.Element, version: str) -> None:
        """
        Send a roster push of C{item} to every interested resource of the
        account C{bare} (section 2.1.6).
        """
        for session in list(self.node.router.sessionsOf(bare)):
            if not session.interested:
                continue
            iq = domish.Element((None, "iq"))
            iq["type"] = "set"
            iq["id"] = "push" + self.node.makeId()
            iq["to"] = session.full
            query = iq.addElement((NS_ROSTER, "query"))
            query["ver"] = version
            query.addChild(item)
            session.send(iq)

    # Subscriptions

    def applySubscription(
        self,
        bare: str,
        contact: str,
        event: Event,
        stanza: str | None,
        effects: Callable[[Transition], Any],
    ) -> Deferred[Transition]:
        """
        Run a subscription event on the record of C{contact} in the roster
        of the account C{bare}: store the new state, push it if visible,
        then call C{effects} with the change (still in order with other
        work for the account).

        @param stanza: the serialised inbound C{subscribe}, kept while the
            request is pending.
        """
        username = bare.split("@", 1)[0]
        return self.serialise(
            username, self._apply, bare, contact, event, stanza, effects
        )

    async def _apply(
        self,
        bare: str,
        contact: str,
        event: Event,
        stanza: str | None,
        effects: Callable[[Transition], Any],
    ) -> Transition:
        username = bare.split("@", 1)[0]
        roster = await self.store.getRoster(username)
        item = roster.items.get(contact)
        change = transition(stateOf(item), event)
        new = nextItem(item, contact, change, stanza)
        if new != item:
            await self._storeChange(bare, item, new, change.changed)
        result = effects(change)
        if isinstance(result, Deferred) or hasattr(result, "__await__"):
            await result
        return change

    async def _storeChange(
        self,
        bare: str,
        old: RosterItem | None,
        new: RosterItem | None,
        changed: bool,
    ) -> None:
        username = bare.split("@", 1)[0]
        if new is None:
            assert old is not None
            await self.store.removeRosterItem(username, old.jid)
            return
        version = await self.store.setRosterItem(username, new)
        visible = new.inRoster and (changed or old is None or not old.inRoster)
        if visible:
            self.push(bare, itemElement(new), version)


# Helpers


def _awaited(result: Any) -> Any:
    if hasattr(result, "__await__"):
        return defer.ensureDeferred(result)
    return result


def _account(iq: domish.Element, sender: JID, condition: str) -> JID:
    """
    The account a roster request is for; only the account itself may ask
    (section 2.1.5 and 2.3.3).
    """
    account = parseJID(iq["to"])
    if account.user is None or sender.userhost() != account.userhost():
        raise StanzaError(condition)
    return account


def _query(iq: domish.Element) -> domish.Element:
    for child in iq.elements():
        if child.uri == NS_ROSTER and child.name == "query":
            return child
    raise StanzaError("bad-request")


def _rosterResult(roster: Any, clientVersion: str | None) -> domish.Element | None:
    if clientVersion is not None and clientVersion == roster.version:
        return None
    query = domish.Element((NS_ROSTER, "query"))
    if clientVersion is not None:
        query["ver"] = roster.version
    for item in sorted(roster.items.values(), key=lambda i: i.jid):
        if item.inRoster:
            query.addChild(itemElement(item))
    return query


def _subscriptionStanza(kind: str, sender: str, to: str) -> domish.Element:
    presence = domish.Element((None, "presence"))
    presence["type"] = kind
    presence["from"] = sender
    presence["to"] = to
    return presence


def rosterVersioning(stream: Any) -> domish.Element | None:
    """
    The stream feature advertising roster versioning (section 2.6.1),
    offered once the client is authenticated.
    """
    if getattr(stream, "state", "bind") != "bind":
        return None
    return domish.Element((NS_ROSTERVER, "ver"))


def install(node: Any) -> RosterService:
    service = RosterService(node)
    node.accountIQ.register("get", NS_ROSTER, service.onGet)
    node.accountIQ.register("set", NS_ROSTER, service.onSet)
    node.streamFeatures.append(rosterVersioning)
    return service
