# -*- test-case-name: tests.integration.test_muc -*-
"""
The MUC service on a real node, driven by several slixmpp clients with
their XEP-0045 plugin: creating and configuring rooms, joining with
history, talking, nickname changes, kicks, members-only refusals, private
messages, self-ping, and a persistent room across a restart.
"""

from __future__ import annotations

from typing import Any

from slixmpp.exceptions import IqError, PresenceError
from twisted.internet import defer

from tests.integration.support import EventWaiter, NodeTestCase, asyncTest, wait
from xmuc.tap import NodeService

ROOM = "tea@muc.localhost"
PLUGINS = ("xep_0030", "xep_0004", "xep_0045", "xep_0199")


class MUCTests(NodeTestCase):
    """
    Several clients in rooms of the node's MUC service.
    """

    async def users(self, *names: str) -> list[Any]:
        clients = []
        for name in names:
            await self.createUser(name)
            clients.append(await self.client(f"{name}@localhost/{name[0]}", plugins=PLUGINS))
        return clients

    async def createRoom(self, owner: Any, nick: str = "Alice", **fields: Any) -> Any:
        """
        Join a new room (status 201) and submit its form with C{fields}.
        """
        muc = owner.plugin["xep_0045"]
        presence, subject, occupants, history = await muc.join_muc_wait(ROOM, nick)
        self.assertEqual(set(presence["muc"]["status_codes"]), {110, 170, 201})
        form = await muc.get_room_config(ROOM)
        for var, value in fields.items():
            form.field[var].set_value(value)
        await muc.set_room_config(ROOM, form)
        return presence

    @asyncTest
    async def test_joinTalkAndLeave(self) -> None:
        """
        Alice creates a room; Bob joins and gets Alice's presence, his own
        and the subject; both see each other's messages, reflected with a
        stanza-id; Alice sees Bob leave.
        """
        alice, bob = await self.users("alice", "bob")
        await self.createRoom(alice, **{"muc#roomconfig_roomname": "Tea"})
        presence, subject, occupants, history = await bob.plugin["xep_0045"].join_muc_wait(
            ROOM, "Bob")
        # slixmpp's list ends with the entrant's own presence.
        self.assertEqual([p["from"].resource for p in occupants], ["Alice", "Bob"])
        self.assertIn(110, presence["muc"]["status_codes"])
        aliceHears = EventWaiter(alice, "groupchat_message")
        bobHears = EventWaiter(bob, "groupchat_message")
        bob.send_message(mto=ROOM, mbody="hello", mtype="groupchat")
        for waiter in (aliceHears, bobHears):
            message = await waiter.next()
            self.assertEqual((message["from"].resource, message["body"]), ("Bob", "hello"))
            self.assertIn("urn:xmpp:sid:0", message.xml.find("{urn:xmpp:sid:0}stanza-id").tag)
        offline = EventWaiter(alice, "muc::%s::got_offline" % ROOM)
        bob.plugin["xep_0045"].leave_muc(ROOM, "Bob")
        gone = await offline.next()
        self.assertEqual(gone["from"].resource, "Bob")

    @asyncTest
    async def test_history(self) -> None:
        """
        A late entrant asking for two stanzas of history gets the last two,
        delayed, before the subject.
        """
        alice, bob = await self.users("alice", "bob")
        await self.createRoom(alice)
        echoes = EventWaiter(alice, "groupchat_message")
        for n in range(4):
            alice.send_message(mto=ROOM, mbody=f"m{n}", mtype="groupchat")
            await echoes.next()
        presence, subject, occupants, history = await bob.plugin["xep_0045"].join_muc_wait(
            ROOM, "Bob", maxstanzas=2)
        self.assertEqual([m["body"] for m in history], ["m2", "m3"])
        self.assertTrue(history[0]["delay"]["stamp"])

    @asyncTest
    async def test_nickChangeAndKick(self) -> None:
        """
        Bob changes his nickname (303); Alice, the owner, kicks him (307)
        and he is out.
        """
        alice, bob = await self.users("alice", "bob")
        await self.createRoom(alice)
        await bob.plugin["xep_0045"].join_muc_wait(ROOM, "Bob")
        newNick = await bob.plugin["xep_0045"].set_self_nick(ROOM, "Robert", timeout=15)
        self.assertEqual(newNick, "Robert")
        kicked = EventWaiter(bob, "muc::%s::self-presence" % ROOM)
        await alice.plugin["xep_0045"].set_role(ROOM, "Robert", "none", reason="enough")
        presence = await kicked.next(lambda p: p["type"] == "unavailable")
        self.assertEqual(set(presence["muc"]["status_codes"]), {110, 307})
        self.assertEqual(presence["muc"]["item"]["reason"], "enough")

    @asyncTest
    async def test_membersOnly(self) -> None:
        """
        Configured members-only, the room refuses Carol with
        registration-required and admits Bob once he is a member.
        """
        alice, bob, carol = await self.users("alice", "bob", "carol")
        await self.createRoom(alice, **{"muc#roomconfig_membersonly": True})
        with self.assertRaises(PresenceError) as caught:
            await carol.plugin["xep_0045"].join_muc_wait(ROOM, "Carol", timeout=15)
        self.assertEqual(caught.exception.condition, "registration-required")
        await alice.plugin["xep_0045"].set_affiliation(ROOM, "member", jid="bob@localhost")
        await bob.plugin["xep_0045"].join_muc_wait(ROOM, "Bob", timeout=15)
        members = await alice.plugin["xep_0045"].get_affiliation_list(ROOM, "member")
        self.assertEqual(members, ["bob@localhost"])

    @asyncTest
    async def test_privateMessageAndSelfPing(self) -> None:
        """
        A private message reaches the occupant from the sender's occupant
        JID; a self-ping is answered by the room; a ping from outside the
        room is not-acceptable.
        """
        alice, bob, carol = await self.users("alice", "bob", "carol")
        await self.createRoom(alice)
        await bob.plugin["xep_0045"].join_muc_wait(ROOM, "Bob")
        received = EventWaiter(bob, "message")
        alice.send_message(mto=f"{ROOM}/Bob", mbody="psst", mtype="chat")
        message = await received.next(lambda m: m["type"] == "chat")
        self.assertEqual((message["from"].full, message["body"]), (f"{ROOM}/Alice", "psst"))
        await bob.plugin["xep_0199"].send_ping(f"{ROOM}/Bob", timeout=15)
        with self.assertRaises(IqError) as caught:
            await carol.plugin["xep_0199"].send_ping(f"{ROOM}/Bob", timeout=15)
        self.assertEqual(caught.exception.condition, "not-acceptable")

    @asyncTest
    async def test_discoveryAndDestroy(self) -> None:
        """
        The public room is listed by the service and describes itself;
        destroying it sends occupants away with the alternate venue.
        """
        alice, bob = await self.users("alice", "bob")
        await self.createRoom(alice, **{"muc#roomconfig_roomname": "Tea"})
        items = await bob.plugin["xep_0030"].get_items(jid="muc.localhost")
        self.assertEqual([(i[0], i[2]) for i in items["disco_items"]["items"]], [(ROOM, "Tea")])
        info = await bob.plugin["xep_0030"].get_info(jid=ROOM)
        self.assertIn("urn:xmpp:occupant-id:0", info["disco_info"]["features"])
        await bob.plugin["xep_0045"].join_muc_wait(ROOM, "Bob")
        gone = EventWaiter(bob, "muc::%s::self-presence" % ROOM)
        await alice.plugin["xep_0045"].destroy(ROOM, reason="closing", altroom="new@muc.localhost")
        presence = await gone.next(lambda p: p["type"] == "unavailable")
        destroy = presence.xml.find("{http://jabber.org/protocol/muc#user}x/"
                                    "{http://jabber.org/protocol/muc#user}destroy")
        self.assertEqual(destroy.get("jid"), "new@muc.localhost")


class PersistentRoomTests(NodeTestCase):
    """
    A persistent room across a restart of the node (SQLite store).
    """

    @asyncTest
    async def test_restart(self) -> None:
        """
        After a restart the room is there with its name, members, subject
        and history.
        """
        await self.createUser("alice")
        await self.createUser("bob")
        alice = await self.client("alice@localhost/a", plugins=PLUGINS)
        muc = alice.plugin["xep_0045"]
        await muc.join_muc_wait(ROOM, "Alice")
        form = await muc.get_room_config(ROOM)
        form.field["muc#roomconfig_persistentroom"].set_value(True)
        form.field["muc#roomconfig_roomname"].set_value("Tea")
        await muc.set_room_config(ROOM, form)
        await muc.set_affiliation(ROOM, "member", jid="bob@localhost")
        echoes = EventWaiter(alice, "groupchat_message")
        alice.send_message(mto=ROOM, mbody="remember me", mtype="groupchat")
        await echoes.next()
        subjects = EventWaiter(alice, "groupchat_subject")
        muc.set_subject(ROOM, "Darjeeling")
        await subjects.next(lambda m: m["subject"] == "Darjeeling")
        await self.restart()
        bob = await self.client("bob@localhost/b", plugins=PLUGINS)
        presence, subject, occupants, history = await bob.plugin["xep_0045"].join_muc_wait(
            ROOM, "Bob", timeout=15)
        self.assertEqual(subject["subject"], "Darjeeling")
        self.assertEqual([m["body"] for m in history], ["remember me"])
        self.assertEqual(presence["muc"]["affiliation"], "member")
        info = await bob.plugin["xep_0030"].get_info(jid=ROOM)
        self.assertIn("muc_persistent", info["disco_info"]["features"])

    async def restart(self) -> None:
        for client in self.clients:
            client.abort()
        self.clients = []
        await wait(defer.ensureDeferred(self._stop()))
        from twisted.internet import reactor

        self.service = NodeService(self.config, reactor)
        self.node = self.service.node
        await wait(self.service.startService())

    async def _stop(self) -> None:
        await self.service.stopService()
