# -*- test-case-name: tests.glue.test_muc -*-
"""
Tests for L{xmuc.glue.muc}: the MUC service on a node without sockets
(fake clients, a memory store, a L{task.Clock}).
"""

from __future__ import annotations

from typing import Any

from twisted.internet import defer
from twisted.logger import LogLevel, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase
from twisted.words.protocols.jabber.jid import JID
from twisted.words.xish import domish

from tests.muc.support import child, codes
from tests.support.harness import Harness
from xmuc.config import parseConfig
from xmuc.muc.model import RoomConfig, RoomRecord, Subject
from xmuc.muc.ns import NS_DELAY
from xmuc.muc.stanzas import stamp
from xmuc.muc.records import toJSON
from xmuc.muc.service import ROOM_UNAVAILABLE, SERVICE_FAILED
from xmuc.node import Node
from xmuc.storage.interfaces import ArchivedMessage, StoredRoom
from xmuc.storage.memory import MemoryStore

MUC = "muc.localhost"
JOIN = "<presence to='{room}@muc.localhost/{nick}'><x xmlns='http://jabber.org/protocol/muc'/></presence>"
INSTANT = ("<iq type='set' id='c' to='{room}@muc.localhost'><query xmlns="
           "'http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'>"
           "{fields}</x></query></iq>")


class RemoteSink:
    """
    Stands in for s2s: keeps what the router sends to other domains.
    """

    def __init__(self) -> None:
        self.stanzas: list[tuple[domish.Element, JID]] = []

    def receive(self, stanza: domish.Element, to: JID) -> None:
        self.stanzas.append((stanza, to))


class MUCGlueTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.h = Harness()
        self.remote = RemoteSink()
        self.h.node.router.remote = self.remote
        self.alice = self.h.login("alice")
        self.bob = self.h.login("bob")

    def createRoom(self, room: str = "room", fields: str = "") -> None:
        self.alice.send(JOIN.format(room=room, nick="Alice"))
        self.alice.send(INSTANT.format(room=room, fields=fields))
        self.alice.received()

    def test_discoListsService(self) -> None:
        """
        The domain's disco#items lists the MUC service, whose disco#info
        is a conference/text service with the MUC feature.
        """
        self.alice.send("<iq type='get' id='i' to='localhost'><query xmlns="
                        "'http://jabber.org/protocol/disco#items'/></iq>")
        [items] = self.alice.received()
        self.assertIn(MUC, [i["jid"] for i in items.firstChildElement().elements()])
        self.alice.send(f"<iq type='get' id='i' to='{MUC}'><query xmlns="
                        "'http://jabber.org/protocol/disco#info'/></iq>")
        [info] = self.alice.received()
        identity = child(info.firstChildElement(), info.firstChildElement().uri, "identity")
        self.assertEqual((identity["category"], identity["type"]), ("conference", "text"))

    def test_joinAndTalk(self) -> None:
        """
        Two local users join and talk: each message reaches both as bytes
        straight into their streams.
        """
        self.createRoom()
        self.bob.send(JOIN.format(room="room", nick="Bob"))
        self.assertEqual(len(self.bob.received()), 3)
        self.alice.received()
        self.bob.send("<message type='groupchat' id='m' to='room@muc.localhost'>"
                      "<body>hello</body></message>")
        for client in (self.alice, self.bob):
            [message] = client.received()
            self.assertEqual(message["from"], "room@muc.localhost/Bob")
            self.assertEqual(message["to"], client.jid.full())
            self.assertEqual(str(child(message, message.uri, "body")), "hello")

    def test_remoteOccupant(self) -> None:
        """
        A remote occupant's copy of a broadcast goes to the s2s sink as an
        element addressed to it.
        """
        self.createRoom()
        self.h.node.router.route(self._fromRemote(JOIN.format(room="room", nick="Rem")))
        self.remote.stanzas.clear()
        self.alice.send("<message type='groupchat' to='room@muc.localhost'><body>hi</body>"
                        "</message>")
        [(stanza, to)] = self.remote.stanzas
        self.assertEqual(to.full(), "carol@remote.example/x")
        self.assertEqual(stanza["to"], "carol@remote.example/x")
        self.assertEqual(str(child(stanza, stanza.uri, "body")), "hi")

    def test_blockedRoom(self) -> None:
        """
        A session with a block list gets room stanzas through the usual
        delivery, where blocking applies: Bob, who blocked the room, gets
        nothing, and the bounce removes him from it.
        """
        self.createRoom()
        self.bob.send(JOIN.format(room="room", nick="Bob"))
        self.bob.send("<iq type='set' id='b'><block xmlns='urn:xmpp:blocking'>"
                      "<item jid='room@muc.localhost'/></block></iq>")
        self.bob.received()
        self.alice.received()
        self.alice.send("<message type='groupchat' to='room@muc.localhost'><body>hi</body>"
                        "</message>")
        self.assertEqual([s.name for s in self.bob.received()], [])
        echo, gone = self.alice.received()
        self.assertEqual((gone["from"], codes(gone)), ("room@muc.localhost/Bob", {333}))

    def test_refusal(self) -> None:
        """
        A refused stanza is answered with its error from the room.
        """
        self.bob.send("<message type='groupchat' id='x' to='nowhere@muc.localhost'>"
                      "<body>x</body></message>")
        [error] = self.bob.received()
        self.assertEqual((error["type"], error["from"]), ("error", "nowhere@muc.localhost"))
        self.assertIn(b"item-not-found", error.toXml().encode())

    def test_disconnectLeaves(self) -> None:
        """
        A client whose stream ends leaves the rooms it was in.
        """
        self.createRoom()
        self.bob.send(JOIN.format(room="room", nick="Bob"))
        self.alice.received()
        self.bob.send("<presence/>")
        self.bob.disconnect()
        [gone] = self.alice.received()
        self.assertEqual((gone["from"], gone["type"]), ("room@muc.localhost/Bob", "unavailable"))

    def test_ghostTimer(self) -> None:
        """
        An unreachable remote occupant stays for the grace period on the
        node's clock, then goes with 333.
        """
        self.createRoom()
        self.h.node.router.route(self._fromRemote(JOIN.format(room="room", nick="Rem")))
        self.alice.received()
        self.h.node.router.route(self._fromRemote(
            "<message type='error' to='room@muc.localhost/Alice'><error type='cancel'>"
            "<remote-server-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>"
            "</message>"))
        self.assertEqual(self.alice.received(), [])
        self.h.clock.advance(self.h.config.muc.ghost_grace + 1)
        [gone] = self.alice.received()
        self.assertEqual(codes(gone), {333})

    def test_linkUpKeepsGhost(self) -> None:
        """
        When the s2s layer reports the link to the occupant's server up
        again within the grace period, the occupant stays.
        """
        from xmuc.core.links import LinkDown, LinkUp

        self.createRoom()
        self.h.node.router.route(self._fromRemote(JOIN.format(room="room", nick="Rem")))
        self.alice.received()
        self.h.node.router.route(self._fromRemote(
            "<message type='error' to='room@muc.localhost/Alice'><error type='cancel'>"
            "<remote-server-timeout xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>"
            "</message>"))
        muc = self.h.node.modules["muc"]
        muc.linkEvent(LinkDown(MUC, "remote.example", "gone", "remote-server-timeout"))
        muc.linkEvent(LinkUp("localhost", "remote.example"))
        self.h.clock.advance(10)
        muc.linkEvent(LinkUp(MUC, "remote.example"))
        self.h.clock.advance(self.h.config.muc.ghost_grace + 1)
        self.assertEqual(self.alice.received(), [])

    def test_archiveTrimmedInBatches(self) -> None:
        """
        The archive is trimmed to archive_size with every archive_size-th
        write (TRIM_EVERY at most), not with each one: in between it holds
        fewer than archive_size extra messages.
        """
        self.h = Harness(config="[muc]\narchive_size = 5\n")
        self.alice = self.h.login("alice")
        self.createRoom()
        sizes = []
        for n in range(12):
            self.alice.send(f"<message type='groupchat' to='room@muc.localhost'><body>m{n}</body>"
                            "</message>")
            kept = self.successResultOf(self.h.store.lastMessages(MUC, "room", 100))
            sizes.append(len(kept))
        self.assertEqual(sizes, [1, 2, 3, 4, 5, 6, 7, 8, 9, 5, 6, 7])
        self.assertEqual([m.xml.count("m11") for m in kept][-1], 1)

    def test_restart(self) -> None:
        """
        A persistent room comes back on a new node over the same store with
        its configuration, affiliations, subject and history.
        """
        self.createRoom(fields="<field var='muc#roomconfig_persistentroom'><value>1</value>"
                               "</field><field var='muc#roomconfig_roomname'><value>Tea"
                               "</value></field>")
        self.alice.send("<iq type='set' id='a' to='room@muc.localhost'><query xmlns="
                        "'http://jabber.org/protocol/muc#admin'><item jid='bob@localhost' "
                        "affiliation='member'/></query></iq>")
        self.alice.send("<message type='groupchat' to='room@muc.localhost'><subject>Darjeeling"
                        "</subject></message>")
        self.alice.send("<message type='groupchat' to='room@muc.localhost'><body>kept</body>"
                        "</message>")
        node = Node(self.h.config, self.h.store, self.h.clock, features=("xmuc.im.delivery",
                    "xmuc.im.presence", "xmuc.im.roster", "xmuc.glue.muc"))
        node.hooks.notify("node-started")
        bob = _Client(node, "bob@localhost/b")
        bob.send(JOIN.format(room="room", nick="Bob"))
        got = bob.received()
        self.assertEqual(str(child(got[-2], got[-2].uri, "body")), "kept")
        self.assertEqual(str(child(got[-1], got[-1].uri, "subject")), "Darjeeling")
        room = node.modules["muc"].service.rooms["room"]
        self.assertEqual(room.config.name, "Tea")
        self.assertEqual(room.affiliation("bob@localhost").label, "member")

    def test_originalStampAcrossRestart(self) -> None:
        """
        A message keeps the stamp of its first receipt through the archive:
        after a restart an hour later the history shows it, and so does
        MAM, never the time of the reload or of the query.
        """
        self.createRoom(fields="<field var='muc#roomconfig_persistentroom'><value>1</value>"
                               "</field>")
        self.h.clock.advance(0.25)
        sent = self.h.clock.seconds()
        self.alice.send("<message type='groupchat' to='room@muc.localhost'><body>kept</body>"
                        "</message>")
        self.h.clock.advance(3600)
        node = Node(self.h.config, self.h.store, self.h.clock, features=("xmuc.im.delivery",
                    "xmuc.im.presence", "xmuc.im.roster", "xmuc.glue.muc"))
        node.hooks.notify("node-started")
        bob = _Client(node, "bob@localhost/b")
        bob.send(JOIN.format(room="room", nick="Bob"))
        [message] = [m for m in bob.received() if child(m, m.uri, "body") is not None]
        [delay] = message.elements(NS_DELAY, "delay")
        self.assertEqual(delay["stamp"], stamp(sent))
        self.h.clock.advance(60)
        bob.send("<iq type='set' id='q' to='room@muc.localhost'><query xmlns='urn:xmpp:mam:2'/>"
                 "</iq>")
        result = bob.received()[0]
        forwarded = result.firstChildElement().firstChildElement()
        [mamDelay] = forwarded.elements(NS_DELAY, "delay")
        self.assertEqual(mamDelay["stamp"], stamp(sent))

    def test_mam(self) -> None:
        """
        A MAM query is answered from the archive: one result per message,
        then the fin.
        """
        self.createRoom()
        for n in range(3):
            self.alice.send("<message type='groupchat' to='room@muc.localhost'>"
                            f"<body>m{n}</body></message>")
        self.bob.send("<iq type='set' id='q' to='room@muc.localhost'><query xmlns="
                      "'urn:xmpp:mam:2' queryid='x'><set xmlns='http://jabber.org/protocol/rsm'>"
                      "<max>2</max></set></query></iq>")
        first, second, done = self.bob.received()
        self.assertEqual(first.firstChildElement().name, "result")
        self.assertIn(b"m1", second.toXml().encode())
        self.assertEqual((done["type"], done["id"]), ("result", "q"))
        self.assertNotIn(b"complete", done.toXml().encode())

    def test_mamRealJids(self) -> None:
        """
        Through the node, in a semi-anonymous room: a participant filtering
        by a real JID is refused (forbidden) and his results name nobody's
        real JID; the owner (a moderator) gets the sender's bare JID in
        each result.
        """
        self.createRoom()
        self.bob.send(JOIN.format(room="room", nick="Bob"))
        self.alice.send("<message type='groupchat' to='room@muc.localhost'><body>hi</body>"
                        "</message>")
        self.bob.received()
        self.alice.received()
        byJid = ("<iq type='set' id='w' to='room@muc.localhost'><query xmlns='urn:xmpp:mam:2'>"
                 "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>"
                 "urn:xmpp:mam:2</value></field><field var='with'><value>alice@localhost"
                 "</value></field></x></query></iq>")
        self.bob.send(byJid)
        [refused] = self.bob.received()
        self.assertEqual((refused["id"], refused["type"]), ("w", "error"))
        self.assertIn(b"forbidden", refused.toXml().encode())
        plain = ("<iq type='set' id='q' to='room@muc.localhost'><query xmlns="
                 "'urn:xmpp:mam:2'/></iq>")
        self.bob.send(plain)
        result, done = self.bob.received()
        self.assertNotIn(b"alice@localhost", result.toXml().encode())
        self.alice.send(plain)
        result, done = self.alice.received()
        forwarded = child(child(child(result, "urn:xmpp:mam:2", "result"), "urn:xmpp:forward:0",
                                "forwarded"), "jabber:client", "message")
        x = child(forwarded, "http://jabber.org/protocol/muc#user", "x")
        self.assertEqual(child(x, x.uri, "item")["jid"], "alice@localhost")

    def test_mamUnknownId(self) -> None:
        """
        Paging after an id the archive lacks is item-not-found.
        """
        self.createRoom()
        self.bob.send("<iq type='set' id='q' to='room@muc.localhost'><query xmlns="
                      "'urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'>"
                      "<after>nope</after></set></query></iq>")
        [error] = self.bob.received()
        self.assertEqual(error["type"], "error")
        self.assertIn(b"item-not-found", error.toXml().encode())

    def _fromRemote(self, xml: str) -> domish.Element:
        from tests.support.harness import parseStanza

        stanza = parseStanza(xml)
        stanza["from"] = "carol@remote.example/x"
        return stanza


def _Client(node: Node, address: str) -> Any:
    from tests.support.harness import FakeClient

    return FakeClient(node, address)


class DirectInvitationTests(SynchronousTestCase):
    def test_directInvitation(self) -> None:
        """
        A direct invitation (XEP-0249) goes from client to client; the
        room has no part in it.
        """
        h = Harness()
        alice, bob = h.login("alice"), h.login("bob")
        alice.send("<message to='bob@localhost/res'><x xmlns='jabber:x:conference' "
                   "jid='room@muc.localhost' reason='tea'/></message>")
        [invitation] = bob.received()
        x = child(invitation, "jabber:x:conference", "x")
        self.assertEqual((x["jid"], invitation["from"]), ("room@muc.localhost", "alice@localhost/res"))
        self.assertEqual(h.node.modules["muc"].service.rooms, {})


class FailingRooms(MemoryStore):
    """
    A memory store that cannot list the rooms of a service.
    """

    def loadRooms(self, host: str) -> defer.Deferred:
        return defer.fail(OSError("disk gone"))


class SlowRooms(MemoryStore):
    """
    A memory store whose room list comes when the test says.
    """

    def __init__(self) -> None:
        super().__init__()
        self.listing: defer.Deferred = defer.Deferred()
        self.asked = False

    def loadRooms(self, host: str) -> defer.Deferred:
        self.asked = True
        return self.listing


class LoadingTests(SynchronousTestCase):
    """
    Persistent rooms load when the node starts, and loading fails closed.
    """

    def setUp(self) -> None:
        self.h = Harness()
        self.logged: list[dict] = []
        globalLogPublisher.addObserver(self.logged.append)
        self.addCleanup(globalLogPublisher.removeObserver, self.logged.append)

    def start(self, store: MemoryStore | None = None, config: str = "") -> Node:
        config = parseConfig(f"[node]\ndomain = localhost\n{config}") if config else self.h.config
        node = Node(config, store or self.h.store, self.h.clock,
                    features=("xmuc.im.delivery", "xmuc.im.presence", "xmuc.im.roster",
                              "xmuc.glue.muc"))
        node.hooks.notify("node-started")
        return node

    def storeRoom(self, name: str, data: str, messages: int = 2) -> None:
        self.h.store.saveRoom(MUC, StoredRoom(name, data))
        for n in range(messages):
            self.h.store.archiveMessage(MUC, name, ArchivedMessage(
                f"{name}{n}", 1000.0 + n, "Alice", "alice@localhost",
                f"<message type='groupchat'><body>{name} {n}</body></message>"), 0)

    def stored(self, name: str) -> tuple[list[str], int]:
        rooms = self.successResultOf(self.h.store.loadRooms(MUC))
        archive = self.successResultOf(self.h.store.lastMessages(MUC, name, 100))
        return [r.data for r in rooms if r.name == name], len(archive)

    def test_newerRecordKept(self) -> None:
        """
        The reported case: a stored room written by a newer version (record
        version 2) is unavailable; a user joining it (which used to create a
        temporary room of that name) gets service-unavailable with a plain
        text, and when he leaves, the stored record and its archive are
        still there; an error-level log line names the room; the other
        stored rooms load.
        """
        newer = '{"v": 2, "config": {}, "something": "new"}'
        self.storeRoom("future", newer)
        good = toJSON(RoomRecord("tea", RoomConfig(persistent=True), {}, Subject(), "00", 1.0))
        self.storeRoom("tea", good)
        node = self.start()
        bob = _Client(node, "bob@localhost/b")
        bob.send(JOIN.format(room="future", nick="Bob"))
        [error] = bob.received()
        self.assertEqual((error["type"], error["from"]), ("error", "future@muc.localhost/Bob"))
        self.assertIn(b"service-unavailable", error.toXml().encode())
        self.assertIn(ROOM_UNAVAILABLE.encode(), error.toXml().encode())
        bob.send("<presence type='unavailable' to='future@muc.localhost/Bob'/>")
        bob.send("<message type='groupchat' to='future@muc.localhost'><body>x</body></message>")
        bob.disconnect()
        self.assertNotIn("future", node.modules["muc"].service.rooms)
        self.assertEqual(self.stored("future"), ([newer], 2))
        self.assertIn("tea", node.modules["muc"].service.rooms)
        [line] = [e for e in self.logged if e.get("room") == "future"]
        self.assertEqual(line["log_level"], LogLevel.error)
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)

    def test_temporaryRoomSpareStoredRecord(self) -> None:
        """
        Even when a record of its name is stored behind the service's back
        (after loading), a logging temporary room that empties leaves that
        record and its archive in place: it owns no stored record, and
        storage drops an archive only when no record of its name is stored.
        """
        node = self.start()
        alice = _Client(node, "alice@localhost/a")
        alice.send(f"<iq type='get' id='i' to='{MUC}'><query xmlns="
                   "'http://jabber.org/protocol/disco#items'/></iq>")
        record = toJSON(RoomRecord("tea", RoomConfig(persistent=True), {}, Subject(), "0", 1.0))
        self.storeRoom("tea", record)
        alice.send(JOIN.format(room="tea", nick="Alice"))
        alice.send(INSTANT.format(room="tea", fields="<field var='muc#roomconfig_enablelogging'>"
                                                     "<value>1</value></field>"))
        alice.send("<presence type='unavailable' to='tea@muc.localhost/Alice'/>")
        self.assertNotIn("tea", node.modules["muc"].service.rooms)
        self.assertEqual(self.stored("tea"), ([record], 2))

    def test_badRecords(self) -> None:
        """
        A record that is not JSON, one with a bad field, and one whose
        history does not parse each make their room unavailable, and stay
        stored with their archives.
        """
        self.storeRoom("garbled", "{not json")
        bad = toJSON(RoomRecord("badfield", RoomConfig(persistent=True), {}, Subject(), "0", 1.0))
        bad = bad.replace('"affiliations": {}', '"affiliations": {"x@y": ["emperor", "", ""]}')
        self.storeRoom("badfield", bad)
        good = toJSON(RoomRecord("badhistory", RoomConfig(persistent=True), {}, Subject(), "0",
                                 1.0))
        self.h.store.saveRoom(MUC, StoredRoom("badhistory", good))
        self.h.store.archiveMessage(MUC, "badhistory", ArchivedMessage(
            "h1", 1.0, "A", "a@localhost", "<message><body>cut"), 0)
        node = self.start()
        bob = _Client(node, "bob@localhost/b")
        for name in ("garbled", "badfield", "badhistory"):
            bob.send(JOIN.format(room=name, nick="Bob"))
            [error] = bob.received()
            self.assertIn(b"service-unavailable", error.toXml().encode())
        self.assertEqual(node.modules["muc"].service.rooms, {})
        self.assertEqual(self.stored("garbled"), (["{not json"], 2))
        self.assertEqual(self.stored("badfield"), ([bad], 2))
        self.assertEqual(self.stored("badhistory"), ([good], 1))
        self.assertEqual({e.get("room") for e in self.logged if e.get("room")},
                         {"garbled", "badfield", "badhistory"})
        self.flushLoggedErrors()

    def test_totalFailure(self) -> None:
        """
        When the store cannot list the rooms, the service refuses
        everything (its own disco too) and creates no room.
        """
        node = self.start(FailingRooms())
        bob = _Client(node, "bob@localhost/b")
        bob.send(JOIN.format(room="any", nick="Bob"))
        bob.send(f"<iq type='get' id='i' to='{MUC}'><query xmlns="
                 "'http://jabber.org/protocol/disco#info'/></iq>")
        errors = bob.received()
        self.assertEqual([e["type"] for e in errors], ["error", "error"])
        self.assertIn(SERVICE_FAILED.encode(), errors[0].toXml().encode())
        self.assertEqual(node.modules["muc"].service.rooms, {})
        self.assertEqual(len(self.flushLoggedErrors(OSError)), 1)

    def test_waitForLoading(self) -> None:
        """
        The rooms load at start, not on the first stanza; stanzas that come
        while they load wait (up to load_queue, more are answered
        service-unavailable of type wait), then are handled in order.
        """
        store = SlowRooms()
        node = self.start(store, "[muc]\nload_queue = 1\n")
        self.assertTrue(store.asked)
        bob = _Client(node, "bob@localhost/b")
        bob.send(f"<iq type='get' id='one' to='{MUC}'><query xmlns="
                 "'http://jabber.org/protocol/disco#info'/></iq>")
        bob.send(f"<iq type='get' id='two' to='{MUC}'><query xmlns="
                 "'http://jabber.org/protocol/disco#info'/></iq>")
        [busy] = bob.received()
        self.assertEqual((busy["id"], busy["type"]), ("two", "error"))
        self.assertIn(b"type='wait'", busy.toXml().encode().replace(b'"', b"'"))
        store.listing.callback([])
        [answer] = bob.received()
        self.assertEqual((answer["id"], answer["type"]), ("one", "result"))

    def test_stopWhileLoading(self) -> None:
        """
        A node stopping before the rooms are in answers the stanzas that
        waited (service-unavailable) instead of dropping them.
        """
        node = self.start(SlowRooms())
        bob = _Client(node, "bob@localhost/b")
        bob.send(JOIN.format(room="any", nick="Bob"))
        node.hooks.notify("node-stopping")
        [error] = bob.received()
        self.assertEqual(error["type"], "error")
        self.assertIn(b"service-unavailable", error.toXml().encode())
