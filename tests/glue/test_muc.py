# -*- test-case-name: tests.glue.test_muc -*-
"""
Tests for L{xmuc.glue.muc}: the MUC service on a node without sockets
(fake clients, a memory store, a L{task.Clock}).
"""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase
from twisted.words.protocols.jabber.jid import JID
from twisted.words.xish import domish

from tests.muc.support import child, codes
from tests.support.harness import Harness
from xmuc.node import Node

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
        bob = _Client(node, "bob@localhost/b")
        bob.send(JOIN.format(room="room", nick="Bob"))
        got = bob.received()
        self.assertEqual(str(child(got[-2], got[-2].uri, "body")), "kept")
        self.assertEqual(str(child(got[-1], got[-1].uri, "subject")), "Darjeeling")
        room = node.modules["muc"].service.rooms["room"]
        self.assertEqual(room.config.name, "Tea")
        self.assertEqual(room.affiliation("bob@localhost").label, "member")

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
