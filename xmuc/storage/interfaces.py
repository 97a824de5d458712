# -*- test-case-name: tests.storage.test_storage -*-
"""
The one storage interface of a node.

Every method returns a L{Deferred}. The memory store answers synchronously
(an already-fired Deferred); the SQLite store runs its queries on a thread
pool so that nothing slow happens on the reactor thread.

Users are named by their RFC 7622 localpart (already PRECIS-prepared, so a
plain C{str} key); contacts by the string form of a bare JID.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from zope.interface import Attribute

from xmuc.core.errors import ItemNotFound, UnknownUser, UserExists
from xmuc.storage.dmucinterfaces import IPrimaryDMUCStore, IReplicaDMUCStore

# UnknownUser and UserExists are defined in core (which may not import
# storage) and re-exported here for the stores and their callers.


@dataclass(frozen=True)
class ScramCredentials:
    """
    What the node keeps of a password: one set per SCRAM hash, never the
    password itself.

    @ivar mechanism: C{"SCRAM-SHA-1"} or C{"SCRAM-SHA-256"}.
    """

    mechanism: str
    salt: bytes
    storedKey: bytes
    serverKey: bytes
    iterations: int


@dataclass(frozen=True)
class RosterItem:
    """
    One contact of a roster (RFC 6121 section 2.1.2).

    @ivar subscription: C{"none"}, C{"to"}, C{"from"} or C{"both"}.
    @ivar ask: C{True} when an outbound subscription request is pending
        (the C{ask='subscribe'} state).
    @ivar approved: C{True} when the user pre-approved the contact's
        subscription request (RFC 6121 section 3.4).
    @ivar pendingIn: C{True} when the contact asked to subscribe to the user
        and the user has not answered yet.
    @ivar pendingInStanza: the serialised inbound subscribe request, kept so
        that it can be redelivered at each login until it is answered.
    @ivar inRoster: C{False} for a record kept only for pending state (a
        subscription request from a stranger): it is not shown in roster
        results or pushes.
    """

    jid: str
    name: str | None = None
    subscription: str = "none"
    ask: bool = False
    approved: bool = False
    groups: tuple[str, ...] = ()
    pendingIn: bool = False
    pendingInStanza: str | None = None
    inRoster: bool = True


@dataclass(frozen=True)
class OfflineMessage:
    """
    A message kept for a user who had no available resource (XEP-0160).

    @ivar stanza: the serialised message, as the sender's server stamped it.
    @ivar stamp: POSIX time at which it was stored.
    """

    stanza: str
    stamp: float


@dataclass(frozen=True)
class LastActivity:
    """
    When a user last went offline, and the status it left with (XEP-0012).
    """

    stamp: float
    status: str = ""


@dataclass
class Roster:
    """
    A user's roster with its version (RFC 6121 section 2.6).

    @ivar version: a decimal string that grows with each change.
    @ivar items: contacts keyed by bare JID string, including records with
        C{inRoster=False}.
    """

    version: str
    items: dict[str, RosterItem] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredRoom:
    """
    A persistent room of a MUC service, as its engine serialised it.

    @ivar name: the room's localpart.
    @ivar data: the room's state as JSON (L{xmuc.muc.records}).
    """

    name: str
    data: str


@dataclass(frozen=True)
class ArchivedMessage:
    """
    One message of a room's archive.

    @ivar stanzaId: the room's id for it (XEP-0359), unique in the room.
    @ivar occupant: the sender's bare JID.
    @ivar xml: the message as the room broadcast it, without C{to}.
    """

    stanzaId: str
    stamp: float
    nick: str
    occupant: str
    xml: str


@dataclass(frozen=True)
class ArchiveFilter:
    """
    Which archived messages a query wants (XEP-0313 and XEP-0059): those
    between C{start} and C{end}, from the occupant C{with_}, after the id
    C{after} or before the id C{before} (an empty C{before}: the last
    page), C{max} at most.
    """

    start: float | None = None
    end: float | None = None
    with_: str | None = None
    after: str | None = None
    before: str | None = None
    max: int = 50


@dataclass(frozen=True)
class ArchivePage:
    """
    One page of archived messages, oldest first.

    @ivar complete: no more matching messages lie beyond the page in the
        direction of the query.
    @ivar count: messages matching the query's time and sender filters.
    @ivar index: the position of the page's first message among those.
    """

    messages: list[ArchivedMessage]
    complete: bool
    count: int
    index: int


class IStore(IPrimaryDMUCStore, IReplicaDMUCStore):
    """
    Persistent state of one node (the distributed rooms' part is in
    L{xmuc.storage.dmucinterfaces}).
    """

    maxOfflineMessages = Attribute(
        "How many offline messages one user may have; C{storeOffline} fires "
        "with C{False} past it."
    )

    def start():
        """
        Open the store, creating or upgrading its schema.

        @rtype: L{Deferred} firing with L{None}
        """

    def stop():
        """
        Close the store once the operations already submitted are done.

        @rtype: L{Deferred} firing with L{None}
        """

    busy = Attribute(
        "Whether the store's queue of operations is past its high-water mark "
        "(back-pressure: callers that can should stop submitting until "
        "C{whenDrained} fires). Nothing is ever dropped for being busy."
    )

    def whenDrained():
        """
        Wait until the store is no longer C{busy}.

        @rtype: L{Deferred} firing with L{None}
        """

    # Accounts

    def createUser(username, credentials):
        """
        Create a user with its SCRAM credentials.

        @type credentials: L{list} of L{ScramCredentials}
        @raise UserExists: (as a failure) when the username is taken.
        """

    def setCredentials(username, credentials):
        """
        Replace a user's credentials (a password change).

        @raise UnknownUser: (as a failure).
        """

    def getCredentials(username):
        """
        @return: L{Deferred} firing with a L{dict} of mechanism name to
            L{ScramCredentials}, or L{None} when there is no such user.
        """

    def deleteUser(username):
        """
        Delete a user and everything stored for it (roster, offline
        messages, vCard, block list, last activity).

        @raise UnknownUser: (as a failure).
        """

    def listUsers():
        """
        @return: L{Deferred} firing with a sorted L{list} of usernames.
        """

    # Roster

    def getRoster(username):
        """
        @return: L{Deferred} firing with the user's L{Roster} (an empty one
            with version C{"0"} for a user without contacts).
        """

    def setRosterItem(username, item):
        """
        Add or replace one record and bump the roster version.

        @type item: L{RosterItem}
        @return: L{Deferred} firing with the new version string.
        """

    def removeRosterItem(username, jid):
        """
        Remove one record (no error when absent) and bump the version.

        @return: L{Deferred} firing with the new version string.
        """

    # Offline messages (XEP-0160)

    def storeOffline(username, message):
        """
        @type message: L{OfflineMessage}
        @return: L{Deferred} firing with C{True} when stored, C{False} when
            the user's quota (C{maxOfflineMessages}) is full.
        """

    def popOffline(username):
        """
        Take all of a user's offline messages, oldest first, and delete
        them.

        @return: L{Deferred} firing with a L{list} of L{OfflineMessage}.
        """

    # vcard-temp (XEP-0054)

    def getVCard(username):
        """
        @return: L{Deferred} firing with the serialised vCard or L{None}.
        """

    def setVCard(username, xml):
        """
        Store the serialised vCard.
        """

    # Blocking (XEP-0191)

    def getBlockList(username):
        """
        @return: L{Deferred} firing with a L{set} of JID strings.
        """

    def addBlocks(username, jids):
        """
        Add JID strings to the block list.
        """

    def removeBlocks(username, jids):
        """
        Remove JID strings from the block list; an empty C{jids} clears it.
        """

    # Last activity (XEP-0012)

    def setLastActivity(username, activity):
        """
        @type activity: L{LastActivity}
        """

    def getLastActivity(username):
        """
        @return: L{Deferred} firing with a L{LastActivity} or L{None}.
        """

    # Rooms of the MUC service C{host}

    def saveRoom(host, room):
        """
        Keep (or replace) a persistent room.

        @type room: L{StoredRoom}
        """

    def loadRooms(host):
        """
        @return: L{Deferred} firing with a L{list} of L{StoredRoom}, by name.
        """

    def deleteRoom(host, name):
        """
        Forget a room, its archive and its DMUC primary state
        (L{IPrimaryDMUCStore.dropPrimaryRoom}); no error when absent.
        """

    def deleteArchive(host, name):
        """
        Forget the archive of a room that has no stored record (a
        temporary room's); when a record of that name is stored, its
        archive stays (no error either way).
        """

    def archiveMessage(host, room, message, keep):
        """
        Add a message to a room's archive, keeping only its last C{keep}
        messages (all of them when C{keep} is 0).

        @type message: L{ArchivedMessage}
        """

    def lastMessages(host, room, count):
        """
        @return: L{Deferred} firing with the last C{count} archived messages
            of the room, oldest first.
        """

    def queryArchive(host, room, query):
        """
        @type query: L{ArchiveFilter}
        @return: L{Deferred} firing with an L{ArchivePage}.
        @raise ItemNotFound: (as a failure) when C{after} or C{before}
            names no message of the room.
        """


__all__ = [
    "ArchiveFilter",
    "ArchivedMessage",
    "ArchivePage",
    "ItemNotFound",
    "StoredRoom",
    "IStore",
    "LastActivity",
    "OfflineMessage",
    "Roster",
    "RosterItem",
    "ScramCredentials",
    "UnknownUser",
    "UserExists",
]
