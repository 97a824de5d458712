# -*- test-case-name: tests.glue.test_dmucreview -*-
"""
Differential transparency scenarios for L{xmuc.glue.dmuc} (design rule
0) that L{tests.glue.test_dmuc} does not cover: each scenario runs on the
FakeNetwork once with B's users served classically and once through B's
replica, and every client must receive the same stanzas in the same order.
"""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from tests.glue.test_dmuc import MUC_NS, ROOM, network, transcripts

OWNER_NS = MUC_NS + "#owner"
ADMIN_NS = MUC_NS + "#admin"

#: A step that drops the client's connection instead of sending.
DISCONNECT = "disconnect"


def join(nick: str, inner: str = "") -> str:
    return f"<presence to='{ROOM}/{nick}'><x xmlns='{MUC_NS}'>{inner}</x></presence>"


def configure(*fields: tuple[str, str], id: str = "c1") -> str:
    body = "".join(f"<field var='{var}'><value>{value}</value></field>" for var, value in fields)
    return (f"<iq type='set' id='{id}' to='{ROOM}'><query xmlns='{OWNER_NS}'>"
            f"<x xmlns='jabber:x:data' type='submit'>{body}</x></query></iq>")


def admin(item: str, id: str) -> str:
    return f"<iq type='set' id='{id}' to='{ROOM}'><query xmlns='{ADMIN_NS}'>{item}</query></iq>"


def run(dmucOn: bool, users: tuple[str, ...], steps: list[tuple[str, str]]
        ) -> dict[str, list[Any]]:
    net = network(dmucOn)
    clients = {name: net.login(name) for name in users}
    for name, xml in steps:
        if xml == DISCONNECT:
            clients[name].disconnect()
        else:
            clients[name].send(xml)
        net.flush()
    if dmucOn:
        # The scenario did use B's replica.
        assert any(kind == "data" and b"<attach " in detail
                   for _, kind, _, _, _, detail in net.events), "no replica traffic"
    return transcripts(clients)


class ReviewScenarios(SynchronousTestCase):
    """
    Scenarios where a replica-served client must see what a classic one sees.
    """

    def differential(self, users: tuple[str, ...], steps: list[tuple[str, str]]) -> None:
        expected, got = run(False, users, steps), run(True, users, steps)
        for name in users:
            self.assertTrue(expected[name], name)
            for n, (one, other) in enumerate(zip(expected[name], got[name])):
                self.assertEqual(one, other, f"{name}, stanza {n}")
            self.assertEqual(len(expected[name]), len(got[name]), name)

    def room(self, *fields: tuple[str, str]) -> list[tuple[str, str]]:
        return [("owner@a.test", join("Owner")), ("owner@a.test", configure(*fields))]

    def test_privateAndIQ(self) -> None:
        """
        Private messages, an IQ and a vCard request to room/nick between A
        and B occupants.
        """
        self.differential(("owner@a.test", "bob@b.test", "bea@b.test"), self.room() + [
            ("bob@b.test", join("Bob")), ("bea@b.test", join("Bea")),
            ("owner@a.test", f"<message type='chat' to='{ROOM}/Bob' id='p1'><body>psst</body></message>"),
            ("bob@b.test", f"<message type='chat' to='{ROOM}/Bea' id='p2'><body>hey</body></message>"),
            ("bea@b.test", f"<iq type='get' to='{ROOM}/Bob' id='v1'><vCard xmlns='vcard-temp'/></iq>"),
            ("owner@a.test", f"<iq type='get' to='{ROOM}/Bea' id='d1'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>"),
        ])

    def test_statusChange(self) -> None:
        """A B user changes show/status while in the room."""
        self.differential(("owner@a.test", "bob@b.test", "bea@b.test"), self.room() + [
            ("bob@b.test", join("Bob")), ("bea@b.test", join("Bea")),
            ("bob@b.test", f"<presence to='{ROOM}/Bob'><show>away</show><status>lunch</status></presence>"),
            ("bea@b.test", f"<presence to='{ROOM}/Bea'><show>dnd</show></presence>"),
        ])

    def test_sameBareTwoNicks(self) -> None:
        """Two resources of one B account join under different nicks."""
        self.differential(("owner@a.test", "bob@b.test/one", "bob@b.test/two"), self.room() + [
            ("bob@b.test/one", join("Bob1")), ("bob@b.test/two", join("Bob2")),
            ("owner@a.test", f"<message type='groupchat' to='{ROOM}' id='m'><body>x</body></message>"),
            ("bob@b.test/one", f"<presence type='unavailable' to='{ROOM}/Bob1'/>"),
        ])

    def test_multiSession(self) -> None:
        """Two resources of one B account join under the same nick."""
        self.differential(("owner@a.test", "bob@b.test/one", "bob@b.test/two", "bea@b.test"),
                          self.room() + [
            ("bea@b.test", join("Bea")),
            ("bob@b.test/one", join("Bob")), ("bob@b.test/two", join("Bob")),
            ("owner@a.test", f"<message type='groupchat' to='{ROOM}' id='m'><body>x</body></message>"),
            ("bob@b.test/one", f"<presence type='unavailable' to='{ROOM}/Bob'/>"),
            ("bob@b.test/two", f"<presence type='unavailable' to='{ROOM}/Bob'/>"),
        ])

    def test_moderatorGrantsVoice(self) -> None:
        """A B admin makes a moderated room's B visitor a participant."""
        self.differential(("owner@a.test", "boss@b.test", "bob@b.test"),
                          self.room(("muc#roomconfig_moderatedroom", "1")) + [
            ("owner@a.test", admin("<item affiliation='admin' jid='boss@b.test'/>", "a1")),
            ("boss@b.test", join("Boss")), ("bob@b.test", join("Bob")),
            ("boss@b.test", admin("<item nick='Bob' role='participant'/>", "v1")),
            ("bob@b.test", f"<message type='groupchat' to='{ROOM}' id='m'><body>x</body></message>"),
        ])

    def test_membersOnly(self) -> None:
        """A members-only room: a B member gets in, a B stranger does not."""
        self.differential(("owner@a.test", "bob@b.test", "eve@b.test"),
                          self.room(("muc#roomconfig_membersonly", "1")) + [
            ("owner@a.test", admin("<item affiliation='member' jid='bob@b.test'/>", "a1")),
            ("bob@b.test", join("Bob")), ("eve@b.test", join("Eve")),
            ("owner@a.test", admin("<item affiliation='none' jid='bob@b.test'/>", "a2")),
        ])

    def test_password(self) -> None:
        """A password-protected room: wrong, then right password from B."""
        self.differential(("owner@a.test", "bob@b.test", "bea@b.test"),
                          self.room(("muc#roomconfig_passwordprotectedroom", "1"),
                                    ("muc#roomconfig_roomsecret", "s3")) + [
            ("bob@b.test", join("Bob", "<password>no</password>")),
            ("bob@b.test", join("Bob", "<password>s3</password>")),
            ("bea@b.test", join("Bea", "<password>s3</password>")),
        ])

    def test_anonymityFlip(self) -> None:
        """The room turns non-anonymous and back with B users in (172/173)."""
        self.differential(("owner@a.test", "bob@b.test", "bea@b.test", "amy@a.test"),
                          self.room() + [
            ("bob@b.test", join("Bob")), ("bea@b.test", join("Bea")),
            ("owner@a.test", configure(("muc#roomconfig_whois", "anyone"), id="c2")),
            ("amy@a.test", join("Amy")),
            ("bob@b.test", f"<presence to='{ROOM}/Bob'><show>away</show></presence>"),
            ("owner@a.test", configure(("muc#roomconfig_whois", "moderators"), id="c3")),
            ("bea@b.test", f"<presence to='{ROOM}/Bea'><show>xa</show></presence>"),
            ("amy@a.test", f"<presence type='unavailable' to='{ROOM}/Amy'/>"),
        ])

    def test_nonAnonymousJoinB(self) -> None:
        """B users join a non-anonymous room (status 100, real JIDs)."""
        self.differential(("owner@a.test", "bob@b.test", "bea@b.test"),
                          self.room(("muc#roomconfig_whois", "anyone")) + [
            ("bob@b.test", join("Bob")), ("bea@b.test", join("Bea")),
        ])

    def test_subjectByB(self) -> None:
        """A B user changes the subject where occupants may."""
        self.differential(("owner@a.test", "bob@b.test", "bea@b.test"),
                          self.room(("muc#roomconfig_changesubject", "1")) + [
            ("bob@b.test", join("Bob")),
            ("bob@b.test", f"<message type='groupchat' to='{ROOM}' id='s'><subject>Hi</subject></message>"),
            ("bea@b.test", join("Bea")),
        ])

    def test_historySince(self) -> None:
        """A B user asks for history since a date and by seconds."""
        self.differential(("owner@a.test", "bob@b.test", "bea@b.test", "bix@b.test"),
                          self.room() + [
            ("owner@a.test", f"<message type='groupchat' to='{ROOM}' id='h1'><body>one</body></message>"),
            ("bob@b.test", join("Bob")),
            ("owner@a.test", f"<message type='groupchat' to='{ROOM}' id='h2'><body>two</body></message>"),
            ("bea@b.test", join("Bea", "<history since='1970-01-01T00:00:00Z'/>")),
            ("bix@b.test", join("Bix", "<history maxchars='0'/>")),
        ])

    def test_invite(self) -> None:
        """A mediated invite to a B user, and a decline."""
        self.differential(("owner@a.test", "bob@b.test", "bea@b.test"), self.room() + [
            ("bob@b.test", join("Bob")),
            ("bob@b.test", f"<message to='{ROOM}' id='i1'><x xmlns='{MUC_NS}#user'>"
                           "<invite to='bea@b.test'><reason>come</reason></invite></x></message>"),
            ("bea@b.test", f"<message to='{ROOM}' id='i2'><x xmlns='{MUC_NS}#user'>"
                           "<decline to='bob@b.test'/></x></message>"),
        ])

    def test_voiceRequest(self) -> None:
        """A B visitor requests voice; a B moderator gets the form."""
        self.differential(("owner@a.test", "boss@b.test", "bob@b.test"),
                          self.room(("muc#roomconfig_moderatedroom", "1")) + [
            ("owner@a.test", admin("<item affiliation='admin' jid='boss@b.test'/>", "a1")),
            ("boss@b.test", join("Boss")), ("bob@b.test", join("Bob")),
            ("bob@b.test", f"<message to='{ROOM}' id='vr'><x xmlns='jabber:x:data' type='submit'>"
                           "<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#request</value></field>"
                           "<field var='muc#role'><value>participant</value></field></x></message>"),
        ])

    def test_kickByB(self) -> None:
        """A B moderator kicks a B participant."""
        self.differential(("owner@a.test", "boss@b.test", "bob@b.test", "bea@b.test"),
                          self.room() + [
            ("owner@a.test", admin("<item affiliation='admin' jid='boss@b.test'/>", "a1")),
            ("boss@b.test", join("Boss")), ("bob@b.test", join("Bob")), ("bea@b.test", join("Bea")),
            ("boss@b.test", admin("<item nick='Bob' role='none'><reason>bye</reason></item>", "k1")),
            ("bob@b.test", join("Bob")),
        ])

    def test_destroyAlternate(self) -> None:
        """The room is destroyed with an alternate venue and a password."""
        self.differential(("owner@a.test", "bob@b.test", "bea@b.test"), self.room() + [
            ("bob@b.test", join("Bob")), ("bea@b.test", join("Bea")),
            ("owner@a.test", f"<iq type='set' id='d1' to='{ROOM}'><query xmlns='{OWNER_NS}'>"
                             "<destroy jid='new@muc.a.test'><reason>moved</reason>"
                             "<password>pw</password></destroy></query></iq>"),
        ])

    def test_maxUsers(self) -> None:
        """A room at max users refuses a B user, who gets in after a leave."""
        self.differential(("owner@a.test", "bob@b.test", "bea@b.test"),
                          self.room(("muc#roomconfig_maxusers", "2")) + [
            ("bob@b.test", join("Bob")), ("bea@b.test", join("Bea")),
            ("bob@b.test", f"<presence type='unavailable' to='{ROOM}/Bob'/>"),
            ("bea@b.test", join("Bea")),
        ])

    def test_nickChangeB(self) -> None:
        """A B user changes nick to a taken one, then to a free one."""
        self.differential(("owner@a.test", "bob@b.test", "bea@b.test"), self.room() + [
            ("bob@b.test", join("Bob")), ("bea@b.test", join("Bea")),
            ("bob@b.test", f"<presence to='{ROOM}/Owner'/>"),
            ("bob@b.test", f"<presence to='{ROOM}/Rob'/>"),
            ("owner@a.test", f"<message type='groupchat' to='{ROOM}' id='m'><body>x</body></message>"),
        ])

    def test_promoteDemote(self) -> None:
        """
        A B participant of a semi-anonymous room is made moderator (then
        sees real JIDs of later presences), then made participant again.
        """
        self.differential(("owner@a.test", "bob@b.test", "bea@b.test", "amy@a.test"),
                          self.room() + [
            ("bob@b.test", join("Bob")), ("bea@b.test", join("Bea")),
            ("owner@a.test", admin("<item nick='Bob' role='moderator'/>", "r1")),
            ("amy@a.test", join("Amy")),
            ("bea@b.test", f"<presence to='{ROOM}/Bea'><show>away</show></presence>"),
            ("owner@a.test", admin("<item nick='Bob' role='participant'/>", "r2")),
            ("amy@a.test", f"<presence to='{ROOM}/Amy'><show>away</show></presence>"),
            ("bea@b.test", f"<presence to='{ROOM}/Bea'><show>xa</show></presence>"),
        ])

    def test_promoteAloneOnB(self) -> None:
        """
        The only B occupant, blind so far, becomes moderator; then a second
        B user and an A user join.
        """
        self.differential(("owner@a.test", "bob@b.test", "bea@b.test", "amy@a.test"),
                          self.room() + [
            ("amy@a.test", join("Amy")), ("bob@b.test", join("Bob")),
            ("owner@a.test", admin("<item nick='Bob' role='moderator'/>", "r1")),
            ("bea@b.test", join("Bea")),
            ("amy@a.test", f"<presence to='{ROOM}/Amy'><show>away</show></presence>"),
            ("owner@a.test", admin("<item affiliation='admin' jid='bea@b.test'/>", "r2")),
            ("amy@a.test", f"<presence to='{ROOM}/Amy'><show>xa</show></presence>"),
        ])

    def test_refusedMessages(self) -> None:
        """
        A B visitor's message to a moderated room is refused; a B user's
        message echo keeps its id; a self-ping to room/own nick.
        """
        self.differential(("owner@a.test", "bob@b.test", "bea@b.test"),
                          self.room(("muc#roomconfig_moderatedroom", "1")) + [
            ("bob@b.test", join("Bob")), ("bea@b.test", join("Bea")),
            ("bob@b.test", f"<message type='groupchat' to='{ROOM}' id='no'><body>x</body></message>"),
            ("owner@a.test", admin("<item nick='Bea' role='participant'/>", "v")),
            ("bea@b.test", f"<message type='groupchat' to='{ROOM}' id='yes'><body>y</body></message>"),
            ("bea@b.test", f"<iq type='get' to='{ROOM}/Bea' id='sp'><ping xmlns='urn:xmpp:ping'/></iq>"),
            ("bob@b.test", f"<iq type='get' to='{ROOM}/Nobody' id='sp2'><ping xmlns='urn:xmpp:ping'/></iq>"),
        ])

    def test_banAbsentAndDomain(self) -> None:
        """
        The owner bans an absent B user and then B's present user; the
        banned user's rejoin is refused.
        """
        self.differential(("owner@a.test", "bob@b.test", "bea@b.test", "eve@b.test"),
                          self.room() + [
            ("bob@b.test", join("Bob")), ("bea@b.test", join("Bea")),
            ("owner@a.test", admin("<item affiliation='outcast' jid='eve@b.test'/>", "x1")),
            ("eve@b.test", join("Eve")),
            ("owner@a.test", admin("<item affiliation='member' jid='bea@b.test'/>", "x2")),
            ("owner@a.test", admin("<item affiliation='outcast' jid='bob@b.test'><reason>r</reason></item>", "x3")),
            ("bob@b.test", join("Bob")),
            ("bea@b.test", f"<presence type='unavailable' to='{ROOM}/Bea'><status>bye</status></presence>"),
        ])

    def test_historyAfterChange(self) -> None:
        """
        History for a B entrant after a nick change, a subject change and
        a message from a user who since left.
        """
        self.differential(("owner@a.test", "bob@b.test", "bea@b.test", "amy@a.test"),
                          self.room() + [
            ("bob@b.test", join("Bob")), ("amy@a.test", join("Amy")),
            ("bob@b.test", f"<message type='groupchat' to='{ROOM}' id='1'><body>one</body></message>"),
            ("bob@b.test", f"<presence to='{ROOM}/Rob'/>"),
            ("amy@a.test", f"<message type='groupchat' to='{ROOM}' id='2'><body>two</body></message>"),
            ("owner@a.test", f"<message type='groupchat' to='{ROOM}' id='3'><subject>S</subject></message>"),
            ("amy@a.test", f"<presence type='unavailable' to='{ROOM}/Amy'/>"),
            ("bea@b.test", join("Bea", "<history maxstanzas='10'/>")),
            ("bea@b.test", f"<presence type='unavailable' to='{ROOM}/Bea'/>"),
            ("bea@b.test", join("Bea", "<history maxchars='300'/>")),
        ])

    def test_oddMessages(self) -> None:
        """
        A chat-state-only groupchat message, one with a body and a
        subject, an empty body, a cleared subject; then a B entrant's
        history and subject.
        """
        self.differential(("owner@a.test", "bob@b.test", "bea@b.test"), self.room() + [
            ("bob@b.test", join("Bob")),
            ("owner@a.test", f"<message type='groupchat' to='{ROOM}' id='s0'><subject>Old</subject></message>"),
            ("owner@a.test", f"<message type='groupchat' to='{ROOM}' id='c'>"
                             "<active xmlns='http://jabber.org/protocol/chatstates'/></message>"),
            ("owner@a.test", f"<message type='groupchat' to='{ROOM}' id='bs'><subject>New</subject>"
                             "<body>both</body></message>"),
            ("owner@a.test", f"<message type='groupchat' to='{ROOM}' id='e'><body/></message>"),
            ("bea@b.test", join("Bea")),
            ("owner@a.test", f"<message type='groupchat' to='{ROOM}' id='s1'><subject/></message>"),
            ("bea@b.test", f"<presence type='unavailable' to='{ROOM}/Bea'/>"),
            ("bea@b.test", join("Bea")),
        ])

    def test_secondsHistory(self) -> None:
        """
        History by seconds for a B entrant after the clock moved: the
        replica must evaluate the delay stamps the primary set.
        """
        users = ("owner@a.test", "bob@b.test", "bea@b.test")
        def run2(on: bool) -> dict[str, list[Any]]:
            net = network(on)
            clients = {n: net.login(n) for n in users}
            def step(n: str, xml: str) -> None:
                clients[n].send(xml)
                net.flush()
            for n, xml in self.room():
                step(n, xml)
            step("bob@b.test", join("Bob"))
            step("owner@a.test", f"<message type='groupchat' to='{ROOM}' id='1'><body>old</body></message>")
            net.advance(100)
            step("owner@a.test", f"<message type='groupchat' to='{ROOM}' id='2'><body>new</body></message>")
            net.advance(10)
            step("bea@b.test", join("Bea", "<history seconds='50'/>"))
            return transcripts(clients)
        self.assertEqual(run2(False), run2(True))

    def test_presenceBroadcastRoles(self) -> None:
        """
        A moderated room that broadcasts only moderators' and
        participants' presence: a B visitor's join, status change and
        leave are not shown to B's participants, and a B entrant's roster
        leaves the visitor out.
        """
        fields = (("muc#roomconfig_moderatedroom", "1"),)
        steps = [("owner@a.test", join("Owner")),
                 ("owner@a.test",
                  f"<iq type='set' id='c1' to='{ROOM}'><query xmlns='{OWNER_NS}'>"
                  "<x xmlns='jabber:x:data' type='submit'>"
                  "<field var='muc#roomconfig_moderatedroom'><value>1</value></field>"
                  "<field var='muc#roomconfig_presencebroadcast'><value>moderator</value>"
                  "<value>participant</value></field></x></query></iq>"),
                 ("owner@a.test", admin("<item affiliation='member' jid='bea@b.test'/>", "m1")),
                 ("bea@b.test", join("Bea")), ("bob@b.test", join("Bob")),
                 ("bob@b.test", f"<presence to='{ROOM}/Bob'><show>away</show></presence>"),
                 ("ann@b.test", join("Ann")),
                 ("bob@b.test", f"<presence type='unavailable' to='{ROOM}/Bob'/>")]
        del fields
        self.differential(("owner@a.test", "bea@b.test", "bob@b.test", "ann@b.test"), steps)

    def test_presenceBroadcastLeaves(self) -> None:
        """
        In a room that does not broadcast visitors' presence, a visitor's
        leave is still shown to everyone: an A visitor's to B's
        participant, and a B visitor's after a B moderator's entry made
        the primary send a fresh snapshot (which leaves visitors out).
        """
        steps = self.room(("muc#roomconfig_moderatedroom", "1")) + [
            ("owner@a.test",
             f"<iq type='set' id='c2' to='{ROOM}'><query xmlns='{OWNER_NS}'>"
             "<x xmlns='jabber:x:data' type='submit'>"
             "<field var='muc#roomconfig_presencebroadcast'><value>moderator</value>"
             "<value>participant</value></field></x></query></iq>"),
            ("owner@a.test", admin("<item affiliation='member' jid='bea@b.test'/>", "m1")),
            ("owner@a.test", admin("<item affiliation='admin' jid='bix@b.test'/>", "m2")),
            ("bea@b.test", join("Bea")), ("ava@a.test", join("Ava")),
            ("ava@a.test", f"<presence type='unavailable' to='{ROOM}/Ava'/>"),
            ("bob@b.test", join("Bob")), ("bix@b.test", join("Bix")),
            ("bob@b.test", f"<presence type='unavailable' to='{ROOM}/Bob'/>")]
        self.differential(("owner@a.test", "bea@b.test", "ava@a.test", "bob@b.test",
                           "bix@b.test"), steps)

    def test_presenceBroadcastChanged(self) -> None:
        """
        The owner limits the broadcast to moderators and participants while
        B's participant and visitor are in: the replica is told (a new
        attach), so a later B visitor is not shown to B's participant and
        its roster leaves the first visitor out; then every role again, and
        a third B visitor sees both.
        """
        bcast = "muc#roomconfig_presencebroadcast"
        def broadcast(id: str, *roles: str) -> str:
            values = "".join(f"<value>{r}</value>" for r in roles)
            return (f"<iq type='set' id='{id}' to='{ROOM}'><query xmlns='{OWNER_NS}'>"
                    f"<x xmlns='jabber:x:data' type='submit'><field var='{bcast}'>"
                    f"{values}</field></x></query></iq>")
        steps = self.room(("muc#roomconfig_moderatedroom", "1")) + [
            ("owner@a.test", admin("<item affiliation='member' jid='bea@b.test'/>", "m1")),
            ("bea@b.test", join("Bea")), ("bob@b.test", join("Bob")),
            ("owner@a.test", broadcast("c2", "moderator", "participant")),
            ("ann@b.test", join("Ann")),
            ("owner@a.test", broadcast("c3", "moderator", "participant", "visitor")),
            ("bix@b.test", join("Bix"))]
        self.differential(("owner@a.test", "bea@b.test", "bob@b.test", "ann@b.test",
                           "bix@b.test"), steps)

    def test_anonymityFlipThenEnter(self) -> None:
        """
        The room turns non-anonymous with a B user in, a second B user
        enters (real JIDs in its roster, status 100), the room turns
        semi-anonymous again and a third B user enters (no real JIDs).
        """
        self.differential(("owner@a.test", "bob@b.test", "bea@b.test", "bix@b.test"),
                          self.room() + [
            ("bob@b.test", join("Bob")),
            ("owner@a.test", configure(("muc#roomconfig_whois", "anyone"), id="c2")),
            ("bea@b.test", join("Bea")),
            ("owner@a.test", configure(("muc#roomconfig_whois", "moderators"), id="c3")),
            ("bix@b.test", join("Bix")),
        ])

    def test_detachReattach(self) -> None:
        """
        B's last user leaves (the replica detaches), talk goes on, B users
        come back (a new attach, snapshot with the history and subject).
        """
        self.differential(("owner@a.test", "bob@b.test", "bea@b.test"), self.room() + [
            ("bob@b.test", join("Bob")),
            ("bob@b.test", f"<message type='groupchat' to='{ROOM}' id='1'><body>one</body></message>"),
            ("bob@b.test", f"<presence type='unavailable' to='{ROOM}/Bob'/>"),
            ("owner@a.test", f"<message type='groupchat' to='{ROOM}' id='2'><body>two</body></message>"),
            ("owner@a.test", f"<message type='groupchat' to='{ROOM}' id='s'><subject>T</subject></message>"),
            ("bea@b.test", join("Bea")), ("bob@b.test", join("Bob")),
            ("owner@a.test", f"<message type='groupchat' to='{ROOM}' id='3'><body>three</body></message>"),
        ])

    def test_nickConflictAndRejoin(self) -> None:
        """
        A B user takes a B user's nickname (conflict); a joined B user
        sends its join again (a client rejoining); another resource of it
        joins under a second nickname.
        """
        self.differential(("owner@a.test", "bob@b.test", "bea@b.test", "bob@b.test/two"),
                          self.room() + [
            ("bob@b.test", join("Bob")), ("bea@b.test", join("Bob")),
            ("bea@b.test", join("Bea")),
            ("bob@b.test", join("Bob", "<history maxstanzas='0'/>")),
            ("bob@b.test/two", join("Bobby")),
            ("bob@b.test/two", f"<presence to='{ROOM}/Bob'/>"),
        ])

    def test_membersOnlyTurnedOn(self) -> None:
        """
        The room turns members-only with a B member and a B non-member in
        (status 322 removal), and allowpm off.
        """
        self.differential(("owner@a.test", "bob@b.test", "bea@b.test"), self.room() + [
            ("owner@a.test", admin("<item affiliation='member' jid='bob@b.test'/>", "a1")),
            ("bob@b.test", join("Bob")), ("bea@b.test", join("Bea")),
            ("owner@a.test", configure(("muc#roomconfig_membersonly", "1"),
                                       ("muc#roomconfig_allowpm", "none"), id="c2")),
            ("bob@b.test", f"<message type='chat' to='{ROOM}/Owner' id='p'><body>x</body></message>"),
            ("bea@b.test", join("Bea")),
        ])

    def test_loggingToggled(self) -> None:
        """
        Logging turned on then off with B users in (170/171), B entrants
        after each.
        """
        self.differential(("owner@a.test", "bob@b.test", "bea@b.test", "bix@b.test"),
                          self.room() + [
            ("bob@b.test", join("Bob")),
            ("owner@a.test", configure(("muc#roomconfig_enablelogging", "1"), id="c2")),
            ("bea@b.test", join("Bea")),
            ("owner@a.test", configure(("muc#roomconfig_enablelogging", "0"), id="c3")),
            ("bix@b.test", join("Bix")),
        ])

    def test_multiSessionNickChange(self) -> None:
        """A two-resource B occupant changes its nickname; a B user sees it."""
        self.differential(("owner@a.test", "bob@b.test/one", "bob@b.test/two", "bea@b.test"),
                          self.room() + [
            ("bea@b.test", join("Bea")),
            ("bob@b.test/one", join("Bob")), ("bob@b.test/two", join("Bob")),
            ("bob@b.test/one", f"<presence to='{ROOM}/Robert'/>"),
            ("owner@a.test", f"<message type='groupchat' to='{ROOM}' id='m'><body>x</body></message>"),
            ("owner@a.test", admin("<item nick='Robert' role='none'/>", "k")),
        ])

    def test_domainBan(self) -> None:
        """
        The owner bans B's whole domain with two B users in (301 for
        both); a B user's join is then refused.
        """
        self.differential(("owner@a.test", "bob@b.test", "bea@b.test", "bix@b.test"),
                          self.room() + [
            ("bob@b.test", join("Bob")), ("bea@b.test", join("Bea")),
            ("owner@a.test", admin("<item affiliation='outcast' jid='b.test'/>", "x1")),
            ("bix@b.test", join("Bix")),
            ("owner@a.test", admin("<item affiliation='none' jid='b.test'/>", "x2")),
            ("bix@b.test", join("Bix")),
        ])

    def test_destroyWithOnlyB(self) -> None:
        """
        The owner leaves (the room stays: persistent), then destroys it
        from outside with only B users in.
        """
        self.differential(("owner@a.test", "bob@b.test", "bea@b.test"),
                          self.room(("muc#roomconfig_persistentroom", "1")) + [
            ("bob@b.test", join("Bob")), ("bea@b.test", join("Bea")),
            ("owner@a.test", f"<presence type='unavailable' to='{ROOM}/Owner'/>"),
            ("bob@b.test", f"<message type='groupchat' to='{ROOM}' id='m'><body>x</body></message>"),
            ("owner@a.test", f"<iq type='set' id='d1' to='{ROOM}'><query xmlns='{OWNER_NS}'>"
                             "<destroy/></query></iq>"),
            ("bea@b.test", join("Bea")),
        ])

    def test_refusedSubjectAndNormal(self) -> None:
        """
        A B participant may not change the subject; a B user's message of
        type normal and a groupchat message with an unknown payload.
        """
        self.differential(("owner@a.test", "bob@b.test", "bea@b.test"),
                          self.room(("muc#roomconfig_changesubject", "0")) + [
            ("bob@b.test", join("Bob")), ("bea@b.test", join("Bea")),
            ("bob@b.test", f"<message type='groupchat' to='{ROOM}' id='s'><subject>No</subject></message>"),
            ("bob@b.test", f"<message to='{ROOM}' id='n'><body>normal</body></message>"),
            ("bea@b.test", f"<message type='groupchat' to='{ROOM}' id='u'><body>b</body>"
                           "<thing xmlns='urn:example'>z</thing></message>"),
            ("bob@b.test", f"<message type='groupchat' to='{ROOM}/Bea' id='gp'><body>pm?</body></message>"),
        ])

    def test_revokeVoiceAndMultiKick(self) -> None:
        """
        A B moderator revokes a B participant's voice; a two-resource B
        occupant is kicked (both sessions get 307).
        """
        self.differential(("owner@a.test", "boss@b.test", "bob@b.test/one", "bob@b.test/two",
                           "bea@b.test"), self.room() + [
            ("owner@a.test", admin("<item affiliation='admin' jid='boss@b.test'/>", "a1")),
            ("boss@b.test", join("Boss")), ("bea@b.test", join("Bea")),
            ("bob@b.test/one", join("Bob")), ("bob@b.test/two", join("Bob")),
            ("boss@b.test", admin("<item nick='Bea' role='visitor'/>", "v1")),
            ("bea@b.test", f"<message type='groupchat' to='{ROOM}' id='m'><body>x</body></message>"),
            ("boss@b.test", admin("<item nick='Bob' role='none'/>", "k1")),
        ])

    def test_domainBanApplies(self) -> None:
        """
        A ban of B's domain (an outcast C{jid='b.test'}, which the room
        accepts and sends B's replica as one of its outcasts, design
        section 2) removes the B occupant already in the room (status 301)
        and keeps B's users out, served classically or through the
        replica, with the same stanzas either way.
        """
        users = ("owner@a.test", "bob@b.test", "bix@b.test")
        steps = self.room() + [
            ("bob@b.test", join("Bob")),
            ("owner@a.test", admin("<item affiliation='outcast' jid='b.test'/>", "x1")),
            ("bix@b.test", join("Bix"))]
        for on in (False, True):
            got = run(on, users, steps)
            errors = [s for s in got["bix@b.test"] if ("type", "error") in s[2]]
            self.assertTrue(errors, f"dmuc={on}: a user of a banned domain got in")
            self.assertIn("301", repr(got["bob@b.test"][-1]), f"dmuc={on}: Bob stayed")
        self.differential(users, steps)

    def test_goesOffline(self) -> None:
        """
        B clients change their broadcast presence and go offline (a
        global unavailable presence, which B's router sends to the rooms
        the client sent directed presence).
        """
        self.differential(("owner@a.test", "bob@b.test", "bea@b.test", "bob@b.test/two"),
                          self.room() + [
            ("bob@b.test", join("Bob")), ("bea@b.test", join("Bea")),
            ("bob@b.test/two", join("Bob")),
            ("bea@b.test", "<presence><show>away</show></presence>"),
            ("bob@b.test", "<presence type='unavailable'><status>gone</status></presence>"),
            ("owner@a.test", f"<message type='groupchat' to='{ROOM}' id='m'><body>x</body></message>"),
            ("bea@b.test", "<presence type='unavailable'/>"),
            ("bob@b.test/two", "<presence type='unavailable'/>"),
            ("owner@a.test", f"<message type='groupchat' to='{ROOM}' id='n'><body>y</body></message>"),
        ])

    def test_connectionLost(self) -> None:
        """
        A B client's connection drops (B's router sends the rooms it
        entered its unavailable presence); one of two sessions of a B
        occupant drops, then the other.
        """
        self.differential(("owner@a.test", "bob@b.test", "bea@b.test", "bea@b.test/two"),
                          self.room() + [
            ("bob@b.test", join("Bob")), ("bea@b.test", join("Bea")),
            ("bea@b.test/two", join("Bea")),
            ("bob@b.test", DISCONNECT),
            ("bea@b.test", DISCONNECT),
            ("owner@a.test", f"<message type='groupchat' to='{ROOM}' id='m'><body>x</body></message>"),
            ("bea@b.test/two", DISCONNECT),
        ])


class OneToOneTests(SynchronousTestCase):
    """
    1:1 traffic does not use the replica (design section 4).
    """

    def test_direct(self) -> None:
        """
        A private message and a vCard request to a B occupant cross from
        A to B addressed to the occupant's real JID (the vCard to its bare
        JID), never to B's replica.
        """
        net = network(True)
        owner, bob = net.login("owner@a.test"), net.login("bob@b.test")
        for client, xml in ((owner, join("Owner")), (owner, configure()), (bob, join("Bob"))):
            client.send(xml)
            net.flush()
        mark = len(net.events)
        owner.send(f"<message type='chat' to='{ROOM}/Bob' id='p1'><body>psst</body></message>")
        owner.send(f"<iq type='get' to='{ROOM}/Bob' id='v1'><vCard xmlns='vcard-temp'/></iq>")
        net.flush()
        crossed = b"".join(e[5] for e in net.events[mark:]
                           if e[1] == "data" and e[2:4] == ("a.test", "b.test"))
        self.assertIn(b"to='bob@b.test/res'", crossed)
        self.assertIn(b"to='bob@b.test'", crossed)
        self.assertNotIn(b"dmuc@b.test", crossed)
