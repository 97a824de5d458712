# -*- test-case-name: tests.integration.test_dmuc -*-
"""
Distributed rooms over real sockets: xmuc nodes on loopback federating
with certificates from a test CA (SASL EXTERNAL), slixmpp clients on
each, every stanza they receive recorded raw.

  - The differential transparency test: one scripted session in a room
    on a.test, with users of b.test (one of them slixmpp 1.8.3 in a
    subprocess), run with C{[dmuc]} off (b.test's users served
    classically) and on (through b.test's replica). Every client receives
    the same stanzas in the same order, timestamps aside; a room message
    crosses to b.test once through the replica, once per occupant
    classically.
  - A mixed room: three xmuc nodes with C{[dmuc]} on and a Prosody (its
    user served classically), everyone in one room.

The rooms' randomness (stanza ids, occupant ids) is seeded the same in
both runs and the clients' own stanzas carry fixed ids, so that nothing
but delay stamps needs normalising (unseeded, two classic runs differ).
Each step waits for its effect at the sender, then for a barrier: every
client asks the room's service a disco#info question, whose answer comes
over the same s2s link as, and after, whatever the room sent before (to
the client, or to its replica, which passes it on in the same turn); the
answers are left out of the transcripts.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from twisted.internet import defer
from twisted.words.xish import domish

from tests.dmuc.support import canonical
from tests.integration.recorders import PuppetRecorder, Recorder, _Recording
from tests.integration.support import asyncTest, startClient, stopClients, wait
from tests.integration.test_oldclients import oldSlixmppPath
from tests.s2s.support import FederationTestCase
from tests.s2s.test_prosody import _ProsodyFederation
from xmuc.config import parseConfig
from xmuc.dmuc.ns import NS_DMUC
from xmuc.tap import NodeService

MUC_NS = "http://jabber.org/protocol/muc"
DISCO_INFO = "http://jabber.org/protocol/disco#info"
ON = "[dmuc]\nenabled = true\n"
POLICY = "require_valid_certificate = true\ndialback = false\n"
ROOM_SEED = 20261208


def reply(id: str) -> Any:
    return lambda e: e.name == "iq" and e.getAttribute("id") == id


def presenceFrom(address: str, kind: str | None = None) -> Any:
    return lambda e: (e.name == "presence" and e.getAttribute("from") == address
                      and e.getAttribute("type") == kind)


def messageId(id: str) -> Any:
    return lambda e: e.name == "message" and e.getAttribute("id") == id


def hasSubject(e: domish.Element) -> bool:
    return e.name == "message" and any(
        getattr(c, "name", None) == "subject" for c in e.elements())


def delayStamp(e: domish.Element) -> str | None:
    for child in e.elements():
        if child.name == "delay" and child.uri == "urn:xmpp:delay":
            return child.getAttribute("stamp")
    return None


def barrierReply(e: domish.Element) -> bool:
    return e.name == "iq" and (e.getAttribute("id") or "").startswith("bar-")


def transcript(recording: _Recording, since: int) -> list[Any]:
    """
    What a client received from index C{since} on, comparable (delay
    stamps normalised), the test's barrier replies left out.
    """
    return [canonical(e) for e in recording.stanzas[since:] if not barrierReply(e)]


class _DMUCNodes:
    """
    Node set-up shared by the tests: C{[dmuc]} on or off, the rooms'
    randomness seeded, MUC service domains in the host tables, and the
    stanzas each node receives over s2s counted.
    """

    dmucOn = False
    certificates = "ca"

    def configText(self, domain: str) -> str:
        return super().configText(domain) + (ON if self.dmucOn else "")

    def startNode(self, domain: str) -> defer.Deferred:
        config = parseConfig(self.configText(domain))
        service = NodeService(config, self.reactor)
        service.node.modules["muc"].service.random.seed(ROOM_SEED)
        self.services[domain] = service
        self.inbound.setdefault(domain, [])

        def listening(_: Any) -> None:
            self.s2sPorts[domain] = service.listening["s2s"][0].getHost().port
            self.hosts[f"muc.{domain}"] = self.s2sPorts[domain]
            self._refreshHosts()
            s2s = service.node.s2s
            inbound = s2s.inbound

            def counted(stanza: domish.Element, to: Any) -> None:
                self.inbound[domain].append(stanza)
                inbound(stanza, to)

            s2s.inbound = counted

        return service.startService().addCallback(listening)

    def setUp(self) -> defer.Deferred:
        self.inbound: dict[str, list[domish.Element]] = {}
        self.puppets: list[PuppetRecorder] = []
        self.barriers = itertools.count()
        return super().setUp()

    async def stopPuppets(self) -> None:
        for puppet in self.puppets:
            await puppet.stop()
        self.puppets = []

    def tearDown(self) -> defer.Deferred:
        d = defer.Deferred.fromFuture(asyncio.ensure_future(self.stopPuppets()))
        d.addBoth(lambda _: super(_DMUCNodes, self).tearDown())
        return d

    async def recorder(self, jid: str, name: str) -> Recorder:
        """
        A slixmpp client logged in as C{jid}, recording before it sends
        its initial presence (with a fixed id, so that runs compare).
        """
        recorder = Recorder(await self.client(jid, presence=False), name)
        mark = recorder.mark()
        recorder.send("<presence id='initial'/>")
        await recorder.seen(lambda e: e.name == "presence" and e.getAttribute("id") == "initial",
                            mark)
        return recorder

    async def oldRecorder(self, jid: str, name: str) -> PuppetRecorder:
        """
        slixmpp 1.8.3 in a subprocess, logged in as C{jid}.
        """
        path = oldSlixmppPath()
        bare = jid.split("/")[0]
        await self.createUser(bare)
        domain = bare.split("@")[1]
        port = self.services[domain].listening["c2s"][0].getHost().port
        puppet = PuppetRecorder(name)
        self.puppets.append(puppet)
        await puppet.start(path, jid, "secret", port, self.ca.path)
        await puppet.seen(lambda e: e.name == "presence" and e.getAttribute("id") == "initial")
        return puppet

    async def barrier(self, room: str, everyone: list[_Recording]) -> None:
        """
        Each client asks the room's service a question and waits for the
        answer: it comes over the same links, after whatever the room
        sent before it (to the client, or to its replica, which passes
        it on at once).
        """
        waits = []
        for recording in everyone:
            id = f"bar-{next(self.barriers)}"
            mark = recording.mark()
            recording.send(f"<iq type='get' id='{id}' to='{room}'>"
                           f"<query xmlns='{DISCO_INFO}'/></iq>")
            waits.append(recording.seen(reply(id), mark))
        await asyncio.gather(*waits)

    async def restart(self, dmucOn: bool) -> None:
        """
        Stop every client and node, and start the nodes again (empty
        stores) with C{[dmuc]} on or off.
        """
        await self.stopPuppets()
        await stopClients(self.clients)
        self.clients = []
        for domain in list(self.services):
            await wait(self.stopNode(domain))
        self.dmucOn = dmucOn
        self.s2sPorts = {}
        self.inbound = {}
        await wait(defer.gatherResults([self.startNode(d) for d in self.domains]))


def configForm(whois: str) -> str:
    return ("<x xmlns='jabber:x:data' type='submit'>"
            "<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value>"
            f"</field><field var='muc#roomconfig_whois'><value>{whois}</value></field></x>")


def script(room: str, whois: str) -> list[tuple[str, str, Any, str | None]]:
    """
    The differential session, step by step: who sends what, what shows
    that the room has handled it, and at whom (the sender by default).
    """
    admin = f"<iq type='set' to='{room}' id='%s'><query xmlns='{MUC_NS}#admin'>%s</query></iq>"
    say = f"<message type='groupchat' to='{room}' id='%s'><body>%s</body></message>"
    enter = f"<presence to='{room}/%s'><x xmlns='{MUC_NS}'>%s</x></presence>"
    leave = f"<presence type='unavailable' to='{room}/%s'/>"
    return [
        ("owner", enter % ("Owner", ""), presenceFrom(f"{room}/Owner"), None),
        ("owner", f"<iq type='set' id='c1' to='{room}'><query xmlns='{MUC_NS}#owner'>"
                  f"{configForm(whois)}</query></iq>", reply("c1"), None),
        ("owner", say % ("h1", "before"), messageId("h1"), None),
        ("owner", admin % ("a1", "<item affiliation='admin' jid='boss@b.test'/>"),
         reply("a1"), None),
        ("bob", enter % ("Bob", "<history maxstanzas='5'/>"), hasSubject, None),
        ("boss", enter % ("Boss", ""), hasSubject, None),
        # boss's second resource, under the same nickname.
        ("phone", enter % ("Boss", "<history maxstanzas='0'/>"), hasSubject, None),
        ("bea", enter % ("Bea", "<history maxchars='0'/>"), hasSubject, None),
        ("bob", say % ("b1", "hi"), messageId("b1"), None),
        ("owner", say % ("o1", "hello"), messageId("o1"), None),
        ("phone", say % ("f1", "on the go"), messageId("f1"), None),
        ("bea", f"<presence to='{room}/Bea'><show>away</show><status>tea</status>"
                "<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='urn:t' "
                "ver='QgayPKawpkPSDYmwT/WM94uAlu0='/></presence>",
         presenceFrom(f"{room}/Bea"), None),
        ("bea", f"<message type='groupchat' to='{room}' id='e1' xml:lang='de'><body>Tee</body>"
                "<thing xmlns='urn:example:thing' a='1'><y>t</y></thing></message>",
         messageId("e1"), None),
        ("bea", f"<message type='groupchat' to='{room}' id='bs1'><subject>Mine</subject>"
                "</message>", messageId("bs1"), None),
        ("bea", f"<presence to='{room}/Owner'/>", presenceFrom(f"{room}/Owner", "error"), None),
        ("bob", f"<message type='chat' to='{room}/Boss' id='p1'><body>psst</body></message>",
         messageId("p1"), "boss"),
        ("owner", admin % ("m1", "<item affiliation='member' jid='bea@b.test'/>"),
         reply("m1"), None),
        ("bob", f"<presence to='{room}/Robert'/>", presenceFrom(f"{room}/Robert"), None),
        ("boss", f"<message type='groupchat' to='{room}' id='s1'><subject>Tea</subject>"
                 "</message>", messageId("s1"), None),
        ("boss", admin % ("r1", "<item nick='Robert' role='visitor'/>"), reply("r1"), None),
        ("bob", say % ("v1", "may I?"), messageId("v1"), None),
        ("owner", admin % ("k1", "<item nick='Bea' role='none'><reason>out</reason></item>"),
         reply("k1"), None),
        ("owner", admin % ("x1", "<item affiliation='outcast' jid='bea@b.test'/>"),
         reply("x1"), None),
        ("bea", enter % ("Bea", ""), presenceFrom(f"{room}/Bea", "error"), None),
        ("phone", leave % "Boss", presenceFrom(f"{room}/Boss", "unavailable"), None),
        ("boss", leave % "Boss", presenceFrom(f"{room}/Boss", "unavailable"), None),
        # b.test's last occupant, a visitor, becomes its only moderator:
        # from then on it sees real JIDs in a semi-anonymous room.
        ("owner", admin % ("g1", "<item nick='Robert' role='moderator'/>"), reply("g1"), None),
        ("owner", f"<presence to='{room}/Owner'><show>dnd</show></presence>",
         presenceFrom(f"{room}/Owner"), None),
        ("bob", leave % "Robert", presenceFrom(f"{room}/Robert", "unavailable"), None),
        ("owner", f"<iq type='set' id='d1' to='{room}'><query xmlns='{MUC_NS}#owner'>"
                  "<destroy><reason>done</reason></destroy></query></iq>", reply("d1"), None),
    ]


class TransparencyTests(_DMUCNodes, FederationTestCase):
    """
    The differential test: owner@a.test owns a room on a.test; of
    b.test's users boss is an admin (a moderator) joined from two
    resources under one nickname, bob (slixmpp 1.8.3) and bea are
    participants.
    """

    s2sConfig = POLICY

    async def users(self) -> dict[str, _Recording]:
        return {
            "owner": await self.recorder("owner@a.test/desk", "owner"),
            "boss": await self.recorder("boss@b.test/desk", "boss"),
            "bob": await self.oldRecorder("bob@b.test/old", "bob"),
            "bea": await self.recorder("bea@b.test/desk", "bea"),
            "phone": await self.recorder("boss@b.test/phone", "phone"),
        }

    async def step(self, room: str, everyone: list[_Recording], actor: _Recording, xml: str,
                   done: Any, waiter: _Recording) -> None:
        """
        C{actor} sends C{xml}; C{done} seen at C{waiter} says that the room
        has handled it; the barrier, that everything the room sent then
        has arrived.
        """
        mark = waiter.mark()
        actor.send(xml)
        await waiter.seen(done, mark)
        await self.barrier(room, everyone)

    async def session(self, room: str, whois: str) -> tuple[dict[str, list[Any]], int]:
        """
        The scripted session (L{script}); returns each client's transcript
        and the number of copies of message o1 that reached b.test.
        """
        users = await self.users()
        everyone = list(users.values())
        start = {name: r.mark() for name, r in users.items()}
        copies = 0
        for actor, xml, done, waiter in script(room, whois):
            mark = len(self.inbound["b.test"])
            await self.step(room, everyone, users[actor], xml, done, users[waiter or actor])
            if "id='o1'" in xml:
                copies = sum(1 for e in self.inbound["b.test"][mark:]
                             if e.name == "message" and e.getAttribute("id") == "o1")
                dmuc = self.node("b.test").modules.get("dmuc")
                self.mirrored = dmuc is not None and room in dmuc.replica.replica.rooms
        self.assertEqual(users["bob"].version, "1.8.3")
        return {name: transcript(r, start[name]) for name, r in users.items()}, copies

    async def differential(self, room: str, whois: str) -> None:
        """
        The session with DMUC off, then on: the same transcripts, one copy
        of a message to b.test instead of four; and through b.test's
        replica indeed.
        """
        expected, classicCopies = await self.session(room, whois)
        self.assertFalse(self.mirrored)
        await self.restart(True)
        got, replicaCopies = await self.session(room, whois)
        self.assertTrue(self.mirrored)
        for name in expected:
            self.assertTrue(expected[name], name)
            for n, (one, other) in enumerate(zip(expected[name], got[name])):
                self.assertEqual(one, other, f"{name}, stanza {n}")
            self.assertEqual(len(expected[name]), len(got[name]), name)
        self.assertEqual((classicCopies, replicaCopies), (4, 1))

    @asyncTest
    async def test_semiAnonymous(self) -> None:
        """
        In a semi-anonymous room every client gets the same stanzas in the
        same order with b.test's users served classically and through
        b.test's replica; a message crosses to b.test once through it.
        """
        await self.differential("semi@muc.a.test", "moderators")

    @asyncTest
    async def test_nonAnonymous(self) -> None:
        """
        The same in a non-anonymous room (everyone sees real JIDs).
        """
        await self.differential("open@muc.a.test", "anyone")


class MixedRoomTests(_DMUCNodes, _ProsodyFederation):
    """
    Three xmuc nodes with C{[dmuc]} on and a Prosody: a room on a.test
    with users of all four servers, Prosody's served classically.
    """

    domains = ("a.test", "b.test", "c.test")
    dmucOn = True
    secureAuth = True
    policy = POLICY

    def started(self) -> None:
        super().started()
        self.dns.addServer("muc.a.test", "a.test", self.s2sPorts["a.test"], "127.0.0.1")

    async def prosodyRecorder(self, name: str) -> Recorder:
        import ssl

        context = ssl.create_default_context(cafile=self.prosodyCA)
        client = await startClient(self.clients, "pat@p.test/desk", "secret",
                                   self.prosodyPorts[0], context)
        return Recorder(client, name)

    @asyncTest
    async def test_everyoneOnceInOneOrder(self) -> None:
        """
        Everyone sees everyone; messages sent by all at once reach every
        client once each, in the same order for all; a message crosses to
        b.test and to c.test once (through their replicas); late entrants
        on a.test and c.test get them as history in that order; a nick
        change on Prosody and a leave on b.test reach everyone; no client
        sees anything of the DMUC protocol.
        """
        room = "mixed@muc.a.test"
        names = ("owner@a.test", "amy@a.test", "bob@b.test", "bea@b.test",
                 "cal@c.test", "cid@c.test")
        users = [await self.recorder(f"{jid}/desk", jid.split("@")[0]) for jid in names]
        users.append(await self.prosodyRecorder("pat"))
        await self.enterAll(room, users)
        order = await self.talk(room, users)
        late = [await self.recorder(f"{jid}/desk", jid.split("@")[0])
                for jid in ("ann@a.test", "cy@c.test")]
        histories = []
        for user in late:
            # A late entrant's history (the primary's for ann, c.test's
            # replica's for cy) has the messages in the order everyone saw,
            # with the same stamps.
            mark = user.mark()
            user.send(f"<presence to='{room}/{user.name}'><x xmlns='{MUC_NS}'>"
                      "<history maxstanzas='20'/></x></presence>")
            await user.seen(hasSubject, mark)
            history = [(e.getAttribute("id"), delayStamp(e)) for e in user.stanzas[mark:]
                       if e.name == "message" and e.getAttribute("id") in order]
            self.assertEqual([id for id, _ in history], order, user.name)
            self.assertNotIn(None, [stamp for _, stamp in history], user.name)
            histories.append(history)
        self.assertEqual(histories[0], histories[1])
        users.extend(late)
        await self.changes(room, users)
        for user in users:
            self.assertFalse([x for x in user.raw if NS_DMUC in x], user.name)

    async def enterAll(self, room: str, users: list[_Recording]) -> None:
        """
        The first user creates the room, the others enter one by one;
        each sees every occupant.
        """
        owner = users[0]
        mark = owner.mark()
        owner.send(f"<presence to='{room}/{owner.name}'><x xmlns='{MUC_NS}'/></presence>")
        await owner.seen(presenceFrom(f"{room}/{owner.name}"), mark)
        owner.send(f"<iq type='set' id='c1' to='{room}'><query xmlns='{MUC_NS}#owner'>"
                   f"{configForm('moderators')}</query></iq>")
        await owner.seen(reply("c1"), mark)
        for user in users[1:]:
            mark = user.mark()
            user.send(f"<presence to='{room}/{user.name}'><x xmlns='{MUC_NS}'/></presence>")
            try:
                await user.seen(hasSubject, mark)
            except asyncio.TimeoutError:
                self.fail(f"{user.name} did not enter; Prosody's log:\n"
                          + self.prosody.logText()[-4000:])
        await self.barrier(room, users)
        nicks = {u.name for u in users}
        for user in users:
            seen = {e.getAttribute("from").split("/", 1)[1] for e in user.stanzas
                    if e.name == "presence" and e.getAttribute("type") is None
                    and (e.getAttribute("from") or "").startswith(room + "/")}
            self.assertEqual(seen, nicks, user.name)

    async def talk(self, room: str, users: list[_Recording]) -> list[str]:
        """
        Everyone sends a message at once; each client gets each once, all
        in one order (returned); a message crossed to b.test and to c.test
        once, to their replicas.
        """
        marks = [u.mark() for u in users]
        inbound = {d: len(self.inbound[d]) for d in ("b.test", "c.test")}
        for user in users:
            user.send(f"<message type='groupchat' to='{room}' id='m-{user.name}'>"
                      f"<body>from {user.name}</body></message>")
        ids = {f"m-{u.name}" for u in users}
        for user, mark in zip(users, marks):
            for id in ids:
                await user.seen(messageId(id), mark)
        await self.barrier(room, users)
        orders = []
        for user, mark in zip(users, marks):
            got = [e.getAttribute("id") for e in user.stanzas[mark:]
                   if e.name == "message" and e.getAttribute("id") in ids]
            self.assertEqual(sorted(got), sorted(ids), user.name)
            orders.append(got)
        self.assertEqual([orders[0]] * len(orders), orders)
        for domain in ("b.test", "c.test"):
            replica = self.node(domain).modules["dmuc"].replica.replica
            self.assertIn(room, replica.rooms, domain)
            crossed = [e for e in self.inbound[domain][inbound[domain]:]
                       if e.name == "message" and e.getAttribute("id") in ids]
            self.assertEqual([e.getAttribute("to") for e in crossed],
                             [f"dmuc@{domain}"] * len(ids), domain)
        return orders[0]

    async def changes(self, room: str, users: list[_Recording]) -> None:
        """
        pat (Prosody) changes nickname and bea (b.test) leaves: every
        client sees both.
        """
        byName = {u.name: u for u in users}
        marks = [u.mark() for u in users]
        byName["pat"].send(f"<presence to='{room}/Patricia'/>")
        for user, mark in zip(users, marks):
            await user.seen(presenceFrom(f"{room}/Patricia"), mark)
            self.assertIn(f"{room}/pat", [e.getAttribute("from") for e in user.stanzas[mark:]
                                          if e.getAttribute("type") == "unavailable"])
        marks = [u.mark() for u in users]
        byName["bea"].send(f"<presence type='unavailable' to='{room}/bea'/>")
        for user, mark in zip(users, marks):
            await user.seen(presenceFrom(f"{room}/bea", "unavailable"), mark)
