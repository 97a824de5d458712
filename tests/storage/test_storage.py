# -*- test-case-name: tests.storage.test_storage -*-
"""
Tests for L{xmuc.storage}: one suite, L{StoreTestsMixin}, run against every
L{IStore} implementation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from twisted.internet import defer
from twisted.trial.unittest import SynchronousTestCase, TestCase
from zope.interface.verify import verifyObject

from xmuc.storage import (
    IStore,
    LastActivity,
    MemoryStore,
    OfflineMessage,
    Roster,
    RosterItem,
    ScramCredentials,
    SQLiteStore,
    UnknownUser,
    UserExists,
    makeStore,
)

SHA1 = ScramCredentials("SCRAM-SHA-1", b"salt-1", b"stored-1", b"server-1", 4096)
SHA256 = ScramCredentials("SCRAM-SHA-256", b"s\x00\xff", b"st", b"sv", 8192)
SHA256_NEW = ScramCredentials("SCRAM-SHA-256", b"new", b"st2", b"sv2", 10000)

FULL_ITEM = RosterItem(
    jid="juliet@capulet.example",
    name="Juliet ✨",
    subscription="both",
    ask=True,
    approved=True,
    groups=("Friends", "Семья", "家族", "😀"),
    pendingIn=True,
    pendingInStanza="<presence type='subscribe' from='juliet@capulet.example'/>",
    inRoster=True,
)

if TYPE_CHECKING:
    _Base = TestCase
else:
    _Base = object


class StoreTestsMixin(_Base):
    """
    The behaviour every L{IStore} shares. A user C{alice} exists in each
    test; the offline quota is three messages.
    """

    maxOfflineMessages = 3

    def makeStore(self) -> IStore:
        raise NotImplementedError()

    async def setUp(self) -> None:
        self.store = self.makeStore()
        await self.store.start()
        self.addCleanup(self.store.stop)
        await self.store.createUser("alice", [SHA1, SHA256])

    def test_interface(self) -> None:
        """
        The store provides L{IStore} and knows its offline quota.
        """
        self.assertTrue(verifyObject(IStore, self.store))
        self.assertEqual(self.store.maxOfflineMessages, 3)

    # Accounts

    async def test_credentials(self) -> None:
        """
        A user's credentials come back keyed by mechanism.
        """
        credentials = await self.store.getCredentials("alice")
        self.assertEqual(credentials, {"SCRAM-SHA-1": SHA1, "SCRAM-SHA-256": SHA256})

    async def test_credentialsUnknownUser(self) -> None:
        """
        An unknown user has no credentials: L{None}, not an empty dict.
        """
        self.assertIsNone(await self.store.getCredentials("nobody"))

    async def test_userWithoutCredentials(self) -> None:
        """
        A user created without credentials has an empty dict of them.
        """
        await self.store.createUser("bob", [])
        self.assertEqual(await self.store.getCredentials("bob"), {})

    async def test_userExists(self) -> None:
        """
        Creating a taken username fails with L{UserExists} and leaves the
        existing credentials alone.
        """
        with self.assertRaises(UserExists):
            await self.store.createUser("alice", [SHA256_NEW])
        credentials = await self.store.getCredentials("alice")
        self.assertEqual(credentials["SCRAM-SHA-256"], SHA256)

    async def test_setCredentials(self) -> None:
        """
        Setting credentials replaces the whole set: mechanisms not given are
        dropped.
        """
        await self.store.setCredentials("alice", [SHA256_NEW])
        credentials = await self.store.getCredentials("alice")
        self.assertEqual(credentials, {"SCRAM-SHA-256": SHA256_NEW})

    async def test_setCredentialsUnknownUser(self) -> None:
        """
        Setting the credentials of an unknown user fails with
        L{UnknownUser} and creates nobody.
        """
        with self.assertRaises(UnknownUser):
            await self.store.setCredentials("nobody", [SHA1])
        self.assertIsNone(await self.store.getCredentials("nobody"))

    async def test_credentialsAreCopies(self) -> None:
        """
        Changing the returned dict does not change the store.
        """
        (await self.store.getCredentials("alice")).clear()
        self.assertEqual(len(await self.store.getCredentials("alice")), 2)

    async def test_listUsersSorted(self) -> None:
        """
        Users are listed in code point order whatever the order of creation.
        """
        for name in ["zoe", "bob", "élodie", "carol"]:
            await self.store.createUser(name, [])
        self.assertEqual(
            await self.store.listUsers(), ["alice", "bob", "carol", "zoe", "élodie"]
        )

    async def test_deleteUser(self) -> None:
        """
        A deleted user is no longer listed and has no credentials.
        """
        await self.store.deleteUser("alice")
        self.assertEqual(await self.store.listUsers(), [])
        self.assertIsNone(await self.store.getCredentials("alice"))

    async def test_deleteUnknownUser(self) -> None:
        """
        Deleting an unknown user fails with L{UnknownUser}.
        """
        with self.assertRaises(UnknownUser):
            await self.store.deleteUser("nobody")

    async def _fillEverything(self, username: str) -> None:
        await self.store.setRosterItem(username, FULL_ITEM)
        await self.store.storeOffline(username, OfflineMessage("<message/>", 1.5))
        await self.store.setVCard(username, "<vCard xmlns='vcard-temp'/>")
        await self.store.addBlocks(username, ["spam@example.net"])
        await self.store.setLastActivity(username, LastActivity(10.0, "gone"))

    async def test_deleteUserRemovesEverything(self) -> None:
        """
        Deleting a user removes its roster (and version), offline messages,
        vCard, block list and last activity: a new user of the same name
        starts empty.
        """
        await self._fillEverything("alice")
        await self.store.deleteUser("alice")
        await self.store.createUser("alice", [SHA1])
        self.assertEqual(await self.store.getCredentials("alice"), {"SCRAM-SHA-1": SHA1})
        self.assertEqual(await self.store.getRoster("alice"), Roster("0"))
        self.assertEqual(await self.store.popOffline("alice"), [])
        self.assertIsNone(await self.store.getVCard("alice"))
        self.assertEqual(await self.store.getBlockList("alice"), set())
        self.assertIsNone(await self.store.getLastActivity("alice"))

    async def test_deleteUserKeepsOthers(self) -> None:
        """
        Deleting one user leaves another user's data alone.
        """
        await self.store.createUser("bob", [])
        await self._fillEverything("bob")
        await self.store.deleteUser("alice")
        self.assertEqual((await self.store.getRoster("bob")).version, "1")
        self.assertEqual(await self.store.getVCard("bob"), "<vCard xmlns='vcard-temp'/>")
        self.assertEqual(await self.store.getBlockList("bob"), {"spam@example.net"})
        self.assertEqual(len(await self.store.popOffline("bob")), 1)

    # Roster

    async def test_emptyRoster(self) -> None:
        """
        A roster that never changed is empty at version C{"0"}; so is the
        roster of an unknown user.
        """
        self.assertEqual(await self.store.getRoster("alice"), Roster("0", {}))
        self.assertEqual(await self.store.getRoster("nobody"), Roster("0", {}))

    async def test_setRosterItem(self) -> None:
        """
        Setting an item stores it and answers the new version, which grows
        by one per change; setting the same JID again replaces the item.
        """
        item = RosterItem("romeo@montague.example")
        self.assertEqual(await self.store.setRosterItem("alice", item), "1")
        self.assertEqual(await self.store.setRosterItem("alice", FULL_ITEM), "2")
        renamed = RosterItem("romeo@montague.example", name="Romeo")
        self.assertEqual(await self.store.setRosterItem("alice", renamed), "3")
        roster = await self.store.getRoster("alice")
        self.assertEqual(roster.version, "3")
        self.assertEqual(
            roster.items,
            {"romeo@montague.example": renamed, FULL_ITEM.jid: FULL_ITEM},
        )

    async def test_rosterItemRoundTrip(self) -> None:
        """
        Every field of an item survives: unicode groups in their order,
        flags, and the pending subscribe stanza.
        """
        await self.store.setRosterItem("alice", FULL_ITEM)
        roster = await self.store.getRoster("alice")
        self.assertEqual(roster.items[FULL_ITEM.jid], FULL_ITEM)
        self.assertIsInstance(roster.items[FULL_ITEM.jid].groups, tuple)

    async def test_pendingOnlyRecord(self) -> None:
        """
        A record with C{inRoster=False} (a stranger's pending subscription
        request) is kept and returned with its stanza.
        """
        stranger = RosterItem(
            "stranger@example.org",
            pendingIn=True,
            pendingInStanza="<presence type='subscribe'><status>hi</status></presence>",
            inRoster=False,
        )
        await self.store.setRosterItem("alice", stranger)
        roster = await self.store.getRoster("alice")
        self.assertEqual(roster.items, {"stranger@example.org": stranger})

    async def test_removeRosterItem(self) -> None:
        """
        Removing an item drops it and bumps the version.
        """
        await self.store.setRosterItem("alice", FULL_ITEM)
        self.assertEqual(await self.store.removeRosterItem("alice", FULL_ITEM.jid), "2")
        self.assertEqual(await self.store.getRoster("alice"), Roster("2", {}))

    async def test_removeAbsentRosterItem(self) -> None:
        """
        Removing an absent item is no error and still bumps the version.
        """
        self.assertEqual(await self.store.removeRosterItem("alice", "x@y"), "1")
        self.assertEqual(await self.store.getRoster("alice"), Roster("1", {}))

    async def test_rosterUnknownUser(self) -> None:
        """
        Changing the roster of an unknown user fails with L{UnknownUser}.
        """
        with self.assertRaises(UnknownUser):
            await self.store.setRosterItem("nobody", FULL_ITEM)
        with self.assertRaises(UnknownUser):
            await self.store.removeRosterItem("nobody", FULL_ITEM.jid)

    async def test_rostersArePerUser(self) -> None:
        """
        One user's items and version do not show in another's roster.
        """
        await self.store.createUser("bob", [])
        await self.store.setRosterItem("alice", FULL_ITEM)
        self.assertEqual(await self.store.getRoster("bob"), Roster("0", {}))

    async def test_rosterIsCopy(self) -> None:
        """
        Changing the returned roster does not change the store.
        """
        await self.store.setRosterItem("alice", FULL_ITEM)
        (await self.store.getRoster("alice")).items.clear()
        self.assertEqual(len((await self.store.getRoster("alice")).items), 1)

    # Offline messages

    async def test_offlineOrder(self) -> None:
        """
        Offline messages come back oldest first, and popping empties the
        store.
        """
        messages = [OfflineMessage(f"<message id='{i}'/>", 100.0 + i) for i in range(3)]
        for message in messages:
            self.assertTrue(await self.store.storeOffline("alice", message))
        self.assertEqual(await self.store.popOffline("alice"), messages)
        self.assertEqual(await self.store.popOffline("alice"), [])

    async def test_offlineQuota(self) -> None:
        """
        Past C{maxOfflineMessages}, storing answers C{False} and keeps
        nothing; popping frees the quota again.
        """
        for i in range(3):
            await self.store.storeOffline("alice", OfflineMessage(str(i), 1.0))
        self.assertFalse(await self.store.storeOffline("alice", OfflineMessage("x", 2.0)))
        popped = await self.store.popOffline("alice")
        self.assertEqual([m.stanza for m in popped], ["0", "1", "2"])
        self.assertTrue(await self.store.storeOffline("alice", OfflineMessage("y", 3.0)))

    async def test_offlineQuotaPerUser(self) -> None:
        """
        The quota counts one user's messages only.
        """
        await self.store.createUser("bob", [])
        for i in range(3):
            await self.store.storeOffline("alice", OfflineMessage(str(i), 1.0))
        self.assertTrue(await self.store.storeOffline("bob", OfflineMessage("b", 1.0)))

    async def test_offlineUnknownUser(self) -> None:
        """
        Storing for an unknown user fails with L{UnknownUser}; popping
        answers an empty list.
        """
        with self.assertRaises(UnknownUser):
            await self.store.storeOffline("nobody", OfflineMessage("x", 1.0))
        self.assertEqual(await self.store.popOffline("nobody"), [])

    async def test_submittedTogether(self) -> None:
        """
        Operations submitted without waiting apply in submission order (a
        read sees the writes before it), and one that fails fails alone.
        """
        first = self.store.storeOffline("alice", OfflineMessage("1", 1.0))
        refused = self.store.storeOffline("nobody", OfflineMessage("x", 1.0))
        second = self.store.storeOffline("alice", OfflineMessage("2", 2.0))
        popped = self.store.popOffline("alice")
        self.assertTrue(await first)
        with self.assertRaises(UnknownUser):
            await refused
        self.assertTrue(await second)
        self.assertEqual([m.stanza for m in await popped], ["1", "2"])

    # Back-pressure

    async def test_notBusyWhenIdle(self) -> None:
        """
        An idle store is not busy, and waiting for it to drain does not
        wait.
        """
        self.assertFalse(self.store.busy)
        self.assertTrue(self.store.whenDrained().called)

    # vcard-temp

    async def test_vcard(self) -> None:
        """
        There is no vCard until one is set; setting again replaces it.
        """
        self.assertIsNone(await self.store.getVCard("alice"))
        await self.store.setVCard("alice", "<vCard><FN>Alice</FN></vCard>")
        await self.store.setVCard("alice", "<vCard><FN>Alicé</FN></vCard>")
        self.assertEqual(await self.store.getVCard("alice"), "<vCard><FN>Alicé</FN></vCard>")

    async def test_vcardUnknownUser(self) -> None:
        """
        Setting the vCard of an unknown user fails; reading it answers
        L{None}.
        """
        with self.assertRaises(UnknownUser):
            await self.store.setVCard("nobody", "<vCard/>")
        self.assertIsNone(await self.store.getVCard("nobody"))

    # Blocking

    async def test_blockList(self) -> None:
        """
        Blocks add up without duplicates; removing drops the named JIDs,
        absent ones included, without error.
        """
        self.assertEqual(await self.store.getBlockList("alice"), set())
        await self.store.addBlocks("alice", ["a@x", "b@x"])
        await self.store.addBlocks("alice", ["b@x", "c@x"])
        await self.store.removeBlocks("alice", ["a@x", "absent@x"])
        self.assertEqual(await self.store.getBlockList("alice"), {"b@x", "c@x"})

    async def test_clearBlockList(self) -> None:
        """
        Removing an empty list of JIDs clears the block list.
        """
        await self.store.addBlocks("alice", ["a@x", "b@x"])
        await self.store.removeBlocks("alice", [])
        self.assertEqual(await self.store.getBlockList("alice"), set())

    async def test_blockListIsCopy(self) -> None:
        """
        Changing the returned set does not change the store.
        """
        await self.store.addBlocks("alice", ["a@x"])
        (await self.store.getBlockList("alice")).add("b@x")
        self.assertEqual(await self.store.getBlockList("alice"), {"a@x"})

    async def test_blockListUnknownUser(self) -> None:
        """
        Changing an unknown user's block list fails; reading it answers an
        empty set.
        """
        with self.assertRaises(UnknownUser):
            await self.store.addBlocks("nobody", ["a@x"])
        with self.assertRaises(UnknownUser):
            await self.store.removeBlocks("nobody", [])
        self.assertEqual(await self.store.getBlockList("nobody"), set())

    # Last activity

    async def test_lastActivity(self) -> None:
        """
        There is no last activity until one is set; setting replaces it.
        """
        self.assertIsNone(await self.store.getLastActivity("alice"))
        await self.store.setLastActivity("alice", LastActivity(1.25, "Away ☕"))
        await self.store.setLastActivity("alice", LastActivity(2.5))
        self.assertEqual(await self.store.getLastActivity("alice"), LastActivity(2.5, ""))

    async def test_lastActivityUnknownUser(self) -> None:
        """
        Setting an unknown user's last activity fails; reading answers
        L{None}.
        """
        with self.assertRaises(UnknownUser):
            await self.store.setLastActivity("nobody", LastActivity(1.0))
        self.assertIsNone(await self.store.getLastActivity("nobody"))


class MemoryStoreTests(StoreTestsMixin, TestCase):
    """
    L{MemoryStore} passes the store suite.
    """

    def makeStore(self) -> IStore:
        return MemoryStore(maxOfflineMessages=self.maxOfflineMessages)


class SQLiteStoreTests(StoreTestsMixin, TestCase):
    """
    L{SQLiteStore} passes the store suite, on a file of its own.
    """

    def makeStore(self) -> IStore:
        return SQLiteStore(self.mktemp(), maxOfflineMessages=self.maxOfflineMessages)

    async def test_busyUntilDrained(self) -> None:
        """
        Past its high-water mark the store is busy, and it drains: every
        operation is answered, none dropped.
        """
        store = SQLiteStore(self.mktemp(), highWater=4, lowWater=1)
        await store.start()
        self.addCleanup(store.stop)
        await store.createUser("bob", [])
        ds = [store.storeOffline("bob", OfflineMessage(str(i), 1.0)) for i in range(8)]
        self.assertTrue(store.busy)
        await store.whenDrained()
        self.assertFalse(store.busy)
        self.assertEqual(await defer.gatherResults(ds), [True] * 8)
        self.assertEqual(len(await store.popOffline("bob")), 8)


class MakeStoreTests(SynchronousTestCase):
    """
    L{makeStore} builds the configured backend.
    """

    def test_memory(self) -> None:
        """
        C{"memory"} gives a L{MemoryStore} with the given quota.
        """
        store = makeStore("memory", None, maxOfflineMessages=7)
        self.assertIsInstance(store, MemoryStore)
        self.assertEqual(store.maxOfflineMessages, 7)

    def test_sqlite(self) -> None:
        """
        C{"sqlite"} gives an unstarted L{SQLiteStore} on the given path.
        """
        store = makeStore("sqlite", "node.db", maxOfflineMessages=7)
        self.assertIsInstance(store, SQLiteStore)
        self.assertEqual((store.path, store.maxOfflineMessages), ("node.db", 7))

    def test_errors(self) -> None:
        """
        An unknown backend, or C{"sqlite"} without a path, is a
        L{ValueError}.
        """
        self.assertRaises(ValueError, makeStore, "postgres", "x")
        self.assertRaises(ValueError, makeStore, "sqlite", None)
