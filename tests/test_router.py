# -*- test-case-name: tests.test_router -*-
"""
Tests for L{xmuc.router}: local entities (the DMUC replica's JID) and the
C{route-remote} hook.
"""

from __future__ import annotations

from typing import Any

from twisted.logger import globalLogPublisher
from twisted.trial import unittest
from twisted.words.protocols.jabber.jid import JID
from twisted.words.xish import domish

from tests.c2s import StreamClient, stanzaErrorCondition
from tests.im.test_disco import errorCondition
from tests.support.harness import Harness, parseStanza
from xmuc.router import EntityConflict

JOIN = "<presence to='{room}@muc.localhost/{nick}'><x xmlns='http://jabber.org/protocol/muc'/></presence>"


class Sink:
    """
    A router sink that keeps what it gets.
    """

    def __init__(self) -> None:
        self.stanzas: list[tuple[domish.Element, JID]] = []

    def receive(self, stanza: domish.Element, to: JID) -> None:
        self.stanzas.append((stanza, to))

    def addressed(self) -> list[tuple[str, str]]:
        """
        (stanza name, to) of what arrived, emptying the list.
        """
        got = [(stanza.name, to.full()) for stanza, to in self.stanzas]
        self.stanzas = []
        return got


class LocalEntityTests(unittest.TestCase):
    """
    A bare JID of the node's domain registered with a sink gets every
    stanza to it or to its full JIDs, before account delivery.
    """

    def setUp(self) -> None:
        self.h = Harness(config="[c2s]\nrequire_tls = false\n")
        self.node = self.h.node
        self.sink = Sink()
        self.alice = self.h.login("alice")

    def test_bareAndFull(self) -> None:
        """
        Messages, IQs and presence to the entity's bare or full JID go to
        its sink, with the prepared C{to}.
        """
        self.node.addEntity("dmuc@localhost", self.sink)
        self.alice.send("<message to='dmuc@localhost' type='chat'><body>x</body></message>")
        self.alice.send("<iq type='get' id='1' to='DMUC@localhost/r'>"
                        "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
        self.alice.send("<presence to='dmuc@localhost/r'/>")
        self.assertEqual(self.sink.addressed(), [("message", "dmuc@localhost"),
                                                 ("iq", "dmuc@localhost/r"),
                                                 ("presence", "dmuc@localhost/r")])
        self.assertEqual(self.alice.received(), [])

    def test_otherAddressesUnchanged(self) -> None:
        """
        Other accounts and the domain itself are delivered as before.
        """
        self.node.addEntity("dmuc@localhost", self.sink)
        bob = self.h.login("bob")
        self.alice.send("<message to='bob@localhost/res' type='chat'><body>x</body></message>")
        self.alice.send("<iq type='get' id='p' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
        self.assertEqual(len(bob.received()), 1)
        [pong] = self.alice.received()
        self.assertEqual(pong["type"], "result")
        self.assertEqual(self.sink.stanzas, [])

    def test_beforeAccount(self) -> None:
        """
        The entity wins over an account of the same name: the account's
        bound sessions are ended (conflict), and what is sent to the
        account's full JIDs reaches the entity, not the old session.
        """
        squatter = self.h.login("dmuc")
        self.node.addEntity("dmuc@localhost", self.sink)
        self.assertEqual(squatter.stream.errors, ["conflict"])
        self.alice.send("<message to='dmuc@localhost/res' type='chat'><body>x</body></message>")
        self.assertEqual(self.sink.addressed(), [("message", "dmuc@localhost/res")])
        self.assertEqual(list(self.node.router.sessionsOf("dmuc@localhost")), [])

    def test_roomFanOut(self) -> None:
        """
        A room broadcast to an entity's full JID (the fast path for bound
        sessions) reaches the entity.
        """
        self.node.addEntity("dmuc@localhost", self.sink)
        router = self.node.router
        router.deliverSerialised(JID("dmuc@localhost/x"), b"<message/>",
                                 lambda: parseStanza("<message to='dmuc@localhost/x'/>"))
        self.assertEqual(self.sink.addressed(), [("message", "dmuc@localhost/x")])

    def test_bindRefused(self) -> None:
        """
        An account named like the entity cannot bind a resource: the bind
        is answered not-allowed, and no session speaks for the entity.
        """
        self.h.createUser("dmuc")
        self.node.addEntity("dmuc@localhost", self.sink)
        client = StreamClient(self.h)
        client.authenticate("dmuc")
        self.assertEqual(stanzaErrorCondition(client.bind("res")), "not-allowed")
        self.assertEqual(list(self.node.router.sessionsOf("dmuc@localhost")), [])

    def test_addSessionRefused(self) -> None:
        """
        The router itself refuses a session under an entity's JID.
        """
        self.node.addEntity("dmuc@localhost", self.sink)
        self.assertRaises(EntityConflict, self.h.login, "dmuc")

    def test_registrationRefused(self) -> None:
        """
        In-band registration of the entity's username is a conflict.
        """
        h = Harness(features=("xmuc.im.delivery", "xmuc.im.register"),
                    config="[services]\nregistration = true\n")
        h.node.addEntity("dmuc@localhost", self.sink)
        iq = parseStanza("<iq type='set' id='r1'><query xmlns='jabber:iq:register'>"
                         "<username>DMUC</username><password>x</password></query></iq>")
        sent: list[domish.Element] = []

        class Stream:
            state = "auth"

        h.node.preAuthIQ.dispatch(iq, None, Stream(), sent.append)
        [reply] = sent
        self.assertEqual(errorCondition(reply), "conflict")
        self.assertEqual(h.store.listUsers().result, [])

    def test_removeRestoresDelivery(self) -> None:
        """
        Once the entity is removed, its address is an account's again.
        """
        self.node.addEntity("dmuc@localhost", self.sink)
        self.node.router.removeEntity("dmuc@localhost")
        self.assertIsNone(self.node.router.entity("dmuc@localhost"))
        dmuc = self.h.login("dmuc")
        self.alice.send("<message to='dmuc@localhost/res' type='chat'><body>x</body></message>")
        self.assertEqual(len(dmuc.received()), 1)
        self.assertEqual(self.sink.stanzas, [])

    def test_lookup(self) -> None:
        """
        entity() finds the sink from a bare or full JID, nothing for
        other addresses or invalid ones.
        """
        self.node.addEntity("dmuc@localhost", self.sink)
        router = self.node.router
        self.assertIs(router.entity("dmuc@localhost/x"), self.sink)
        self.assertIs(router.entity("DMUC@localhost"), self.sink)
        for other in ("alice@localhost", "localhost", "dmuc@elsewhere", "@@"):
            self.assertIsNone(router.entity(other))

    def test_badAddresses(self) -> None:
        """
        Only a bare JID with a local part on the node's own domain can be
        an entity, and only one sink holds it.
        """
        router = self.node.router
        for address in ("localhost", "dmuc@localhost/r", "dmuc@muc.localhost",
                        "dmuc@b.example", "a@@b"):
            self.assertRaises(EntityConflict, router.addEntity, address, self.sink)
        router.addEntity("dmuc@localhost", self.sink)
        router.addEntity("dmuc@localhost", self.sink)
        self.assertRaises(EntityConflict, router.addEntity, "dmuc@localhost", Sink())


class RouteRemoteTests(unittest.TestCase):
    """
    The C{route-remote} hook sees stanzas for remote domains before s2s.
    """

    def setUp(self) -> None:
        self.h = Harness()
        self.node = self.h.node
        self.remote = Sink()
        self.node.router.remote = self.remote
        self.alice = self.h.login("alice")
        self.seen: list[tuple[str, str]] = []

    def handler(self, name: str, takes: bool) -> Any:
        def handle(stanza: domish.Element, to: JID) -> bool:
            self.seen.append((name, to.full()))
            return takes

        return handle

    def send(self, to: str = "bob@b.example/r") -> None:
        self.alice.send(f"<message to='{to}' type='chat'><body>x</body></message>")

    def test_noHandler(self) -> None:
        """
        Without handlers, a remote stanza goes to the remote sink.
        """
        self.send()
        self.assertEqual(self.remote.addressed(), [("message", "bob@b.example/r")])

    def test_taken(self) -> None:
        """
        Handlers run highest priority first; the first that takes the
        stanza ends its routing: later handlers and s2s never see it.
        """
        hooks = self.node.hooks
        hooks.add("route-remote", self.handler("low", True), priority=-10)
        hooks.add("route-remote", self.handler("taker", True), priority=10)
        hooks.add("route-remote", self.handler("high", False), priority=50)
        self.send()
        self.assertEqual(self.seen, [("high", "bob@b.example/r"), ("taker", "bob@b.example/r")])
        self.assertEqual(self.remote.stanzas, [])

    def test_declined(self) -> None:
        """
        Handlers that decline leave routing unchanged.
        """
        self.node.hooks.add("route-remote", self.handler("no", False))
        self.send()
        self.assertEqual(self.seen, [("no", "bob@b.example/r")])
        self.assertEqual(self.remote.addressed(), [("message", "bob@b.example/r")])

    def test_onlyRemote(self) -> None:
        """
        Stanzas for the node's domain, its accounts, entities and
        components are not offered to the hook.
        """
        self.node.hooks.add("route-remote", self.handler("h", True))
        self.node.addEntity("dmuc@localhost", Sink())
        self.h.login("bob")
        self.send("bob@localhost")
        self.send("dmuc@localhost")
        self.alice.send(JOIN.format(room="tea", nick="Alice"))
        self.alice.send("<iq type='get' id='p' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
        self.assertEqual(self.seen, [])

    def test_roomFanOut(self) -> None:
        """
        A local room's broadcast to a remote occupant passes the hook.
        """
        self.node.hooks.add("route-remote", self.handler("h", True))
        self.node.router.deliverSerialised(
            JID("bob@b.example/r"), b"<message/>",
            lambda: parseStanza("<message to='bob@b.example/r'/>"))
        self.assertEqual(self.seen, [("h", "bob@b.example/r")])
        self.assertEqual(self.remote.stanzas, [])

    def test_failingHandler(self) -> None:
        """
        A handler that raises is logged; the stanza is answered
        internal-server-error, not sent on.
        """
        def broken(stanza: domish.Element, to: JID) -> bool:
            raise RuntimeError("boom")

        logged: list[dict] = []
        observer = lambda event: logged.append(event) if event.get("log_failure") else None
        globalLogPublisher.addObserver(observer)
        self.addCleanup(globalLogPublisher.removeObserver, observer)
        self.node.hooks.add("route-remote", broken)
        self.send()
        self.assertEqual(self.remote.stanzas, [])
        [reply] = self.alice.received()
        self.assertEqual(errorCondition(reply), "internal-server-error")
        self.assertEqual(len(logged), 1)
        self.flushLoggedErrors(RuntimeError)
