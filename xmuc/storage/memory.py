# -*- test-case-name: tests.storage.test_storage -*-
"""
A store that keeps everything in process memory.

It answers with already-fired L{Deferred}s, which makes it the store of unit
tests and of throwaway nodes. Every answer is a fresh container: the records
themselves are frozen dataclasses, so a caller can mutate nothing inside.

Writes that name a user the store does not hold fail with L{UnknownUser};
reads answer with the empty value instead (an empty roster, no vCard, ...),
the same as the SQLite store.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterable

from twisted.internet import defer
from twisted.internet.defer import Deferred
from zope.interface import implementer

from xmuc.storage.memorydmuc import MemoryDMUC
from xmuc.storage.memoryrooms import MemoryRooms
from xmuc.storage.interfaces import (
    IStore,
    LastActivity,
    OfflineMessage,
    Roster,
    RosterItem,
    ScramCredentials,
    UnknownUser,
    UserExists,
)


@dataclass
class _Account:
    """
    Everything the memory store keeps for one user.
    """

    credentials: dict[str, ScramCredentials]
    rosterVersion: int = 0
    roster: dict[str, RosterItem] = field(default_factory=dict)
    offline: list[OfflineMessage] = field(default_factory=list)
    vcard: str | None = None
    blocks: set[str] = field(default_factory=set)
    lastActivity: LastActivity | None = None


def _byMechanism(
    credentials: Iterable[ScramCredentials],
) -> dict[str, ScramCredentials]:
    return {c.mechanism: c for c in credentials}


@implementer(IStore)
class MemoryStore(MemoryRooms, MemoryDMUC):
    """
    An L{IStore} in a dictionary.
    """

    def __init__(self, maxOfflineMessages: int = 1000) -> None:
        MemoryRooms.__init__(self)
        MemoryDMUC.__init__(self)
        self.maxOfflineMessages = maxOfflineMessages
        self._accounts: dict[str, _Account] = {}

    def _account(self, username: str) -> _Account:
        try:
            return self._accounts[username]
        except KeyError:
            raise UnknownUser(username) from None

    def start(self) -> Deferred[None]:
        return defer.succeed(None)

    def stop(self) -> Deferred[None]:
        return defer.succeed(None)

    #: Every operation is done when it returns: never a queue.
    busy = False

    def whenDrained(self) -> Deferred[None]:
        return defer.succeed(None)

    def deleteRoom(self, host: str, name: str) -> Deferred[None]:
        # Not self.dropPrimaryRoom: a subclass may wrap the operations.
        MemoryDMUC.dropPrimaryRoom(self, host, name)
        return MemoryRooms.deleteRoom(self, host, name)

    # Accounts

    def createUser(
        self, username: str, credentials: list[ScramCredentials]
    ) -> Deferred[None]:
        if username in self._accounts:
            return defer.fail(UserExists(username))
        self._accounts[username] = _Account(_byMechanism(credentials))
        return defer.succeed(None)

    def setCredentials(
        self, username: str, credentials: list[ScramCredentials]
    ) -> Deferred[None]:
        try:
            self._account(username).credentials = _byMechanism(credentials)
        except UnknownUser as e:
            return defer.fail(e)
        return defer.succeed(None)

    def getCredentials(
        self, username: str
    ) -> Deferred[dict[str, ScramCredentials] | None]:
        account = self._accounts.get(username)
        if account is None:
            return defer.succeed(None)
        return defer.succeed(dict(account.credentials))

    def deleteUser(self, username: str) -> Deferred[None]:
        if self._accounts.pop(username, None) is None:
            return defer.fail(UnknownUser(username))
        return defer.succeed(None)

    def listUsers(self) -> Deferred[list[str]]:
        return defer.succeed(sorted(self._accounts))

    # Roster

    def getRoster(self, username: str) -> Deferred[Roster]:
        account = self._accounts.get(username)
        if account is None:
            return defer.succeed(Roster("0"))
        return defer.succeed(
            Roster(str(account.rosterVersion), dict(account.roster))
        )

    def _bumpRoster(self, username: str, jid: str, item: RosterItem | None) -> str:
        account = self._account(username)
        if item is None:
            account.roster.pop(jid, None)
        else:
            account.roster[jid] = item
        account.rosterVersion += 1
        return str(account.rosterVersion)

    def setRosterItem(self, username: str, item: RosterItem) -> Deferred[str]:
        # The groups of a frozen item could still be a caller's list; keep a
        # tuple so that later changes to that list do not reach the store.
        item = _withTupleGroups(item)
        return defer.maybeDeferred(self._bumpRoster, username, item.jid, item)

    def removeRosterItem(self, username: str, jid: str) -> Deferred[str]:
        return defer.maybeDeferred(self._bumpRoster, username, jid, None)

    # Offline messages

    def storeOffline(
        self, username: str, message: OfflineMessage
    ) -> Deferred[bool]:
        try:
            offline = self._account(username).offline
        except UnknownUser as e:
            return defer.fail(e)
        if len(offline) >= self.maxOfflineMessages:
            return defer.succeed(False)
        offline.append(message)
        return defer.succeed(True)

    def popOffline(self, username: str) -> Deferred[list[OfflineMessage]]:
        account = self._accounts.get(username)
        if account is None:
            return defer.succeed([])
        messages, account.offline = account.offline, []
        return defer.succeed(messages)

    # vcard-temp

    def getVCard(self, username: str) -> Deferred[str | None]:
        account = self._accounts.get(username)
        return defer.succeed(None if account is None else account.vcard)

    def setVCard(self, username: str, xml: str) -> Deferred[None]:
        try:
            self._account(username).vcard = xml
        except UnknownUser as e:
            return defer.fail(e)
        return defer.succeed(None)

    # Blocking

    def getBlockList(self, username: str) -> Deferred[set[str]]:
        account = self._accounts.get(username)
        return defer.succeed(set() if account is None else set(account.blocks))

    def addBlocks(self, username: str, jids: Iterable[str]) -> Deferred[None]:
        try:
            self._account(username).blocks.update(jids)
        except UnknownUser as e:
            return defer.fail(e)
        return defer.succeed(None)

    def removeBlocks(
        self, username: str, jids: Iterable[str]
    ) -> Deferred[None]:
        try:
            blocks = self._account(username).blocks
        except UnknownUser as e:
            return defer.fail(e)
        jids = list(jids)
        if jids:
            blocks.difference_update(jids)
        else:
            blocks.clear()
        return defer.succeed(None)

    # Last activity

    def setLastActivity(
        self, username: str, activity: LastActivity
    ) -> Deferred[None]:
        try:
            self._account(username).lastActivity = activity
        except UnknownUser as e:
            return defer.fail(e)
        return defer.succeed(None)

    def getLastActivity(self, username: str) -> Deferred[LastActivity | None]:
        account = self._accounts.get(username)
        return defer.succeed(None if account is None else account.lastActivity)


def _withTupleGroups(item: RosterItem) -> RosterItem:
    if isinstance(item.groups, tuple):
        return item
    return replace(item, groups=tuple(item.groups))
