# -*- test-case-name: tests.muc.test_view -*-
"""
Tests for L{xmuc.muc.view} and L{xmuc.muc.entrant}: the one account of what an entrant and the
occupants see, as plain values (property tests over generated rooms), and
against what the room engine delivers (the two cannot drift).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase
from twisted.words.protocols.jabber.jid import JID

from tests.muc.support import HOST, RoomHarness, codes, item
from tests.support.harness import parseStanza
from xmuc.muc import effects, view
from xmuc.muc.events import HistoryRequest
from xmuc.muc.model import Affiliation, HistoryEntry, Role, Subject
from xmuc.muc.ns import NS_DELAY
from xmuc.muc.parse import parseStanza as parseEvent
from xmuc.muc.stanzas import parseStamp, stanza
from xmuc.muc.entrant import EntrantView, joinSequence
from xmuc.muc.view import Kind, OccupantView, RoomView

ROOM = f"room@{HOST}"
NOW = 1_700_000_000.0
ORDER = {Kind.ROSTER: 0, Kind.SELF_PRESENCE: 1, Kind.HISTORY: 2, Kind.SUBJECT: 3}
PROPERTY = settings(max_examples=60, deadline=None, derandomize=True, database=None)

_roles = st.sampled_from([Role.VISITOR, Role.PARTICIPANT, Role.MODERATOR])
_affiliations = st.sampled_from([Affiliation.NONE, Affiliation.MEMBER, Affiliation.ADMIN,
                                 Affiliation.OWNER])


def _occupant(n: int, role: Role, affiliation: Affiliation, clients: int = 1
              ) -> tuple[OccupantView, tuple[JID, ...]]:
    """
    An occupant with C{clients} sessions; the last one is shown.
    """
    jids = tuple(JID(f"user{n}@localhost/r{c}") for c in range(clients))
    return (OccupantView(f"nick{n}", role, affiliation, jids[-1].full(), (), f"id{n}"), jids)


def _entry(n: int, stamp: float) -> HistoryEntry:
    message = stanza("message", f"{ROOM}/nick0", kind="groupchat", id=f"m{n}")
    message.addElement("body", content="x" * (n % 7 + 1))
    return HistoryEntry(message, stamp, f"sid{n}")


@st.composite
def _rooms(draw: Any) -> tuple[RoomView, EntrantView]:
    members = [_occupant(n, draw(_roles), draw(_affiliations), draw(st.integers(1, 3)))
               for n in range(draw(st.integers(0, 6)))]
    gaps = draw(st.lists(st.floats(0.001, 600, allow_nan=False), max_size=8))
    stamps, at = [], NOW - sum(gaps) - 1
    for gap in gaps:
        at += gap
        stamps.append(at)
    history = tuple(_entry(n, s) for n, s in enumerate(stamps))
    entrant, sessions = _occupant(99, draw(_roles), draw(_affiliations))
    members.append((entrant, sessions))
    request = draw(st.none() | st.builds(
        HistoryRequest,
        st.none() | st.integers(0, 10), st.none() | st.integers(0, 2000),
        st.none() | st.integers(0, 4000),
        st.none() | st.floats(NOW - 5000, NOW, allow_nan=False)))
    room = RoomView(ROOM, draw(st.booleans()), draw(st.booleans()),
                    occupants=tuple(members), history=history,
                    subject=Subject(draw(st.sampled_from(["", "tea"])), "nick0", NOW - 1),
                    fresh=draw(st.booleans()))
    return room, EntrantView(entrant, sessions[0], request, draw(st.booleans()))


def _expectedHistory(room: RoomView, request: HistoryRequest | None) -> list[HistoryEntry]:
    """
    Section 7.2.15 read plainly: every limit given applies; the newest
    messages are kept.
    """
    entries = list(room.history)
    if request is None:
        return entries
    entries = [e for e in entries
               if (request.since is None or e.stamp > request.since)
               and (request.seconds is None or e.stamp >= NOW - request.seconds)]
    if request.maxstanzas is not None:
        entries = entries[-request.maxstanzas:] if request.maxstanzas else []
    if request.maxchars is not None:
        while entries and sum(len(e.stanza.toXml()) for e in entries) > request.maxchars:
            entries = entries[1:]
    return entries


class JoinSequenceTests(SynchronousTestCase):
    """
    L{joinSequence} over generated rooms.
    """

    @PROPERTY
    @given(_rooms())
    def test_order(self, drawn: tuple[RoomView, EntrantView]) -> None:
        """
        Occupants come before the self-presence, which comes before the
        history, which comes before the subject; one self-presence with
        110, one subject, last.
        """
        room, entrant = drawn
        shown = joinSequence(room, entrant, NOW)
        kinds = [s.kind for s in shown]
        self.assertEqual(kinds, sorted(kinds, key=ORDER.__getitem__))
        self.assertEqual(kinds.count(Kind.SELF_PRESENCE), 1)
        self.assertEqual(kinds[-1], Kind.SUBJECT)
        self.assertEqual(kinds.count(Kind.ROSTER), len(room.occupants) - 1)
        own = next(s.stanza for s in shown if s.kind is Kind.SELF_PRESENCE)
        self.assertIn(110, codes(own))
        self.assertEqual(own["from"], f"{ROOM}/{entrant.occupant.nick}")
        self.assertEqual(codes(own) >= {100}, room.nonAnonymous)
        self.assertEqual(codes(own) >= {170}, room.logging)
        self.assertEqual(codes(own) >= {201}, room.fresh)
        self.assertEqual(codes(own) >= {210}, entrant.renamed)

    @PROPERTY
    @given(_rooms())
    def test_history(self, drawn: tuple[RoomView, EntrantView]) -> None:
        """
        The history honours maxstanzas, maxchars, seconds and since,
        judged against the stamps the room gave the messages, and each
        message carries exactly one delay, the room's, at that stamp.
        """
        room, entrant = drawn
        shown = [s.stanza for s in joinSequence(room, entrant, NOW)
                 if s.kind is Kind.HISTORY]
        expected = _expectedHistory(room, entrant.history)
        self.assertEqual([m["id"] for m in shown], [e.stanza["id"] for e in expected])
        for message, entry in zip(shown, expected):
            [delay] = message.elements(NS_DELAY, "delay")
            self.assertEqual(delay["from"], ROOM)
            self.assertLess(abs(parseStamp(delay["stamp"]) - entry.stamp), 0.001)

    @PROPERTY
    @given(_rooms())
    def test_realJids(self, drawn: tuple[RoomView, EntrantView]) -> None:
        """
        In a semi-anonymous room a non-moderator sees no real JID but its
        own; a moderator, or anyone in a non-anonymous room, sees them all.
        """
        room, entrant = drawn
        seesAll = room.nonAnonymous or entrant.occupant.role is Role.MODERATOR
        for each in joinSequence(room, entrant, NOW):
            if each.kind is Kind.ROSTER:
                self.assertEqual(item(each.stanza).hasAttribute("jid"), seesAll)
            elif each.kind is Kind.SELF_PRESENCE:
                self.assertEqual(item(each.stanza)["jid"], entrant.session.full())

    @PROPERTY
    @given(_rooms(), st.sampled_from(["kick", "ban", "nick", "role"]))
    def test_changesHideRealJids(self, drawn: tuple[RoomView, EntrantView],
                                 what: str) -> None:
        """
        A kick, ban, nickname or role change of any occupant reaches the
        non-moderators of a semi-anonymous room without real JIDs, the
        others with them, and the occupant itself once, with 110.
        """
        room, _ = drawn
        changes = {"kick": view.removal((307,), "nick0", "bye"), "ban": view.removal((301,)),
                   "nick": view.nickChange("renamed"), "role": view.roleChange("nick0")}
        subject, sessions = room.occupants[-1]
        sent = view.presenceBroadcast(room, subject, sessions, changes[what])
        blind = {j for o, js in room.occupants
                 if o is not subject and not view.seesRealJids(o.role, room.nonAnonymous)
                 for j in js}
        for each in sent:
            shows = item(each.stanza).hasAttribute("jid")
            if each.kind is Kind.SELF_PRESENCE:
                self.assertEqual(each.recipients, sessions)
                self.assertIn(110, codes(each.stanza))
            elif set(each.recipients) & blind:
                self.assertFalse(shows)
                self.assertEqual(set(each.recipients), blind)
            else:
                self.assertTrue(shows)
        self.assertEqual([s.kind for s in sent].count(Kind.SELF_PRESENCE), 1)


def _snapshot(harness: RoomHarness, name: str) -> RoomView:
    """
    The room as a replica would hold it: plain values read from the
    room's occupants, history and subject.
    """
    room = harness.service.rooms[name]
    members = tuple(
        (OccupantView(o.nick, o.role, room.affiliation(o.bare), o.jid.full(),
                      o.primary.presence, o.occupantId), o.jids())
        for o in room.occupants.values())
    return RoomView(room.address, room.config.nonAnonymous, room.config.logging,
                    room.config.presenceBroadcast, members, tuple(room.history), room.subject)


def _deliveredTo(done: list[Any], jid: str) -> list[tuple[Kind, str]]:
    """
    The stanzas the effects send to C{jid}, in order, with their kinds.
    """
    got = []
    for effect in done:
        if isinstance(effect, effects.Deliver) and effect.recipient.full() == jid:
            got.append((effect.kind, effect.stanza.toXml()))
        elif isinstance(effect, effects.Broadcast) and jid in {r.full() for r in
                                                                  effect.recipients}:
            got.append((effect.kind, effect.stanza.toXml()))
    return got


_script = st.lists(st.tuples(st.sampled_from(["join", "say", "voice", "mod", "leave",
                                              "away", "wait"]),
                             st.integers(0, 4)), max_size=12)


class EngineAgreesTests(SynchronousTestCase):
    """
    The room engine delivers to a joining user exactly what
    L{joinSequence} computes from a snapshot of the room: the
    primary and a replica running the function cannot drift.
    """

    @PROPERTY
    @given(_script, st.booleans(), st.sampled_from(
        ["", "<history maxstanzas='2'/>", "<history seconds='90'/>",
         "<history maxchars='400'/>", "<history since='2023-11-14T22:14:00Z'/>"]))
    def test_joinMatchesView(self, script: list[tuple[str, int]], open_: bool,
                             request: str) -> None:
        """
        After any script of joins, messages, role changes and leaves, the
        next entrant's stanzas (kinds and bytes) are the function's.
        """
        h = RoomHarness()
        h.create("owner@localhost/o", "room", "Owner")
        if open_:
            h.configure("owner@localhost/o", "room", whois="anyone")
        present: set[int] = set()
        silenced: set[int] = set()
        for action, n in script:
            jid, nick = f"u{n}@localhost/r", f"U{n}"
            if action == "join" and n not in present:
                h.join(jid, "room", nick)
                present.add(n)
            elif action == "say" and n in present and n not in silenced:
                h.say(jid, "room", f"hello {n}", id=f"m{len(h.effects)}")
            elif action in ("voice", "mod") and n in present:
                role = "visitor" if action == "voice" else "moderator"
                (silenced.add if action == "voice" else silenced.discard)(n)
                h.admin("owner@localhost/o", "room", f"<item nick='{nick}' role='{role}'/>")
            elif action == "leave" and n in present:
                h.leave(jid, "room", nick)
                present.discard(n)
                silenced.discard(n)
            elif action == "away" and n in present:
                h.send(jid, f"<presence to='{ROOM}/{nick}'><show>away</show>"
                            f"<status>back at {n}</status></presence>")
            elif action == "wait":
                h.advance(45)
        h.clear()
        done = h.join("new@localhost/n", "room", "New", request)
        room = h.service.rooms["room"]
        entrant = room.occupants["new"]
        snapshot = _snapshot(h, "room")
        shown = OccupantView(entrant.nick, entrant.role, room.affiliation(entrant.bare),
                             entrant.jid.full(), (), entrant.occupantId)
        element = parseStanza(f"<presence to='room@{HOST}/New'><x xmlns='http://jabber.org/"
                              f"protocol/muc'>{request}</x></presence>")
        element["from"] = "new@localhost/n"
        event = parseEvent(element, JID(element["to"]))
        members = tuple((shown, s) if o.nick == "New" else (o, s)
                        for o, s in snapshot.occupants)
        snapshot = RoomView(snapshot.address, snapshot.nonAnonymous, snapshot.logging,
                            snapshot.presenceBroadcast, members, snapshot.history,
                            snapshot.subject)
        expected = joinSequence(snapshot, EntrantView(
            shown, JID("new@localhost/n"), event.join.history), h.now)
        self.assertEqual(_deliveredTo(done, "new@localhost/n"),
                         [(s.kind, s.stanza.toXml()) for s in expected])


ALICE, DESK, PHONE = "alice@localhost/a", "bob@localhost/desk", "bob@localhost/phone"


class MultiSessionTests(SynchronousTestCase):
    """
    One occupant, several clients of one account under one nickname.
    """

    def setUp(self) -> None:
        self.h = RoomHarness()
        self.h.create(ALICE, "room", "Alice")
        self.h.join(DESK, "room", "Bob")
        self.h.join(PHONE, "room", "Bob")
        self.h.clear()

    def presences(self, jid: str) -> list[Any]:
        return [s for s in self.h.received(jid) if s.name == "presence"]

    def test_secondSessionJoins(self) -> None:
        """
        A second client gets the others' presences (not its occupant's),
        its own presence showing its own real JID, history and subject;
        nobody else gets anything.
        """
        self.h.leave(PHONE, "room", "Bob")
        self.h.clear()
        done = self.h.join(PHONE, "room", "Bob")
        kinds = [k for k, _ in _deliveredTo(done, PHONE)]
        self.assertEqual(kinds, [Kind.ROSTER, Kind.SELF_PRESENCE, Kind.SUBJECT])
        roster, own, _ = self.h.received(PHONE)
        self.assertEqual(roster["from"], f"{ROOM}/Alice")
        self.assertEqual(item(own)["jid"], PHONE)
        self.assertIn(110, codes(own))
        self.assertEqual(self.h.received(ALICE), [])
        self.assertEqual(self.h.received(DESK), [])

    def test_changeReachesEverySession(self) -> None:
        """
        A role change reaches every client of the occupant with 110, and
        the others once.
        """
        self.h.admin(ALICE, "room", "<item nick='Bob' role='visitor'/>")
        for session in (DESK, PHONE):
            [own] = self.h.received(session)
            self.assertEqual(codes(own), {110})
            self.assertEqual(item(own)["role"], "visitor")
        [seen] = self.presences(ALICE)
        self.assertEqual(codes(seen), set())

    def test_oneSessionLeaves(self) -> None:
        """
        A client leaving alone gets its unavailable presence (110) showing
        its own real JID; its other client and the others see the
        occupant still there, now showing the client that stays.
        """
        self.h.leave(PHONE, "room", "Bob")
        [gone] = self.h.received(PHONE)
        self.assertEqual(gone["type"], "unavailable")
        self.assertEqual(item(gone)["jid"], PHONE)
        self.assertEqual(codes(gone), {110})
        [stays] = self.h.received(DESK)
        self.assertIsNone(stays.getAttribute("type"))
        [seen] = self.h.received(ALICE)
        self.assertEqual(item(seen)["jid"], DESK)

    def test_kickReachesEverySession(self) -> None:
        """
        A kick sends every client of the occupant away (307 with 110);
        the others see one 307.
        """
        self.h.admin(ALICE, "room", "<item nick='Bob' role='none'/>")
        for session in (DESK, PHONE):
            [own] = self.h.received(session)
            self.assertEqual(codes(own), {110, 307})
        [seen] = self.presences(ALICE)
        self.assertEqual(codes(seen), {307})
        self.assertNotIn("bob", self.h.service.rooms["room"].occupants)

    def test_destroyEvictsEverySession(self) -> None:
        """
        Destruction sends each occupant, every client, only its own
        unavailable presence, all under one broadcast number, one part
        per occupant.
        """
        done = self.h.send(ALICE, f"<iq type='set' id='d' to='{ROOM}'><query xmlns="
                                  "'http://jabber.org/protocol/muc#owner'><destroy>"
                                  "<reason>done</reason></destroy></query></iq>")
        sent = [e for e in done if isinstance(e, effects.Broadcast)]
        self.assertEqual({e.seq for e in sent}, {sent[0].seq})
        self.assertEqual([e.part for e in sent], [0, 1])
        self.assertEqual({e.kind for e in sent}, {Kind.SELF_PRESENCE})
        self.assertEqual(set(sent[1].recipients), {JID(DESK), JID(PHONE)})
        for session in (ALICE, DESK, PHONE):
            [own] = self.presences(session)
            self.assertEqual(codes(own), {110})
            self.assertEqual(own["type"], "unavailable")


class EffectKindTests(SynchronousTestCase):
    """
    The engine's effects say what each stanza is, and number the
    stanzas of a broadcast apart from the broadcast.
    """

    def setUp(self) -> None:
        self.h = RoomHarness()
        self.h.create(ALICE, "room", "Alice")
        self.h.join("bob@localhost/b", "room", "Bob")
        self.h.say(ALICE, "room", "hi")

    def test_join(self) -> None:
        """
        A join is delivered as roster, self-presence, history, subject;
        its presence to the others is one broadcast in variants (parts 0,
        1, ...) ending with the entrant's own.
        """
        done = self.h.join("carol@localhost/c", "room", "Carol")
        self.assertEqual([(type(e).__name__, e.kind) for e in done], [
            ("Deliver", Kind.ROSTER), ("Deliver", Kind.ROSTER),
            ("Broadcast", Kind.BROADCAST), ("Broadcast", Kind.BROADCAST),
            ("Broadcast", Kind.SELF_PRESENCE),
            ("Deliver", Kind.HISTORY), ("Deliver", Kind.SUBJECT)])
        self.assertEqual([e.part for e in done if isinstance(e, effects.Broadcast)],
                         [0, 1, 2])

    def test_messages(self) -> None:
        """
        Groupchat messages are broadcasts; a configuration change's
        status message is a status.
        """
        [said] = [e for e in self.h.say(ALICE, "room", "x") if isinstance(e, effects.Broadcast)]
        self.assertEqual(said.kind, Kind.BROADCAST)
        done = self.h.configure(ALICE, "room", whois="anyone")
        [status] = [e for e in done if isinstance(e, effects.Broadcast)]
        self.assertEqual(status.kind, Kind.STATUS)


def _perRecipient(sent: list[Any]) -> dict[str, list[tuple[Kind, str]]]:
    """
    What each real JID gets of broadcast effects or view answers.
    """
    got: dict[str, list[tuple[Kind, str]]] = {}
    for each in sent:
        for recipient in each.recipients:
            got.setdefault(recipient.full(), []).append((each.kind, each.stanza.toXml()))
    return got


class ChangesAgreeTests(SynchronousTestCase):
    """
    For kicks, bans, role changes, nickname changes and destruction, each
    occupant gets from the engine exactly what the view's functions
    compute from a snapshot of the room holding the change.
    """

    def room(self, whois: str) -> RoomHarness:
        h = RoomHarness()
        h.create(ALICE, "room", "Alice")
        h.configure(ALICE, "room", whois=whois)
        h.join("dave@localhost/d", "room", "Dave")
        h.admin(ALICE, "room", "<item nick='Dave' role='moderator'/>")
        h.join(DESK, "room", "Bob")
        h.join(PHONE, "room", "Bob")
        # The room shows the client that spoke last; the others learn of
        # it from its next presence.
        h.send(DESK, f"<presence to='{ROOM}/Bob'><show>away</show></presence>")
        h.join("carol@localhost/c", "room", "Carol")
        h.clear()
        return h

    def check(self, h: RoomHarness, done: list[Any], expected: list[Any]) -> None:
        sent = [e for e in done if isinstance(e, effects.Broadcast)]
        self.assertEqual(_perRecipient(sent), _perRecipient(expected))

    def subject(self, snapshot: RoomView, nick: str, **changed: Any
                ) -> tuple[RoomView, OccupantView, tuple[JID, ...]]:
        members = tuple((replace(o, **changed) if o.nick == nick else o, s)
                        for o, s in snapshot.occupants)
        [(shown, sessions)] = [(o, s) for o, s in members if o.nick == nick]
        return replace(snapshot, occupants=members), shown, sessions

    def test_kick(self) -> None:
        """
        A kick (307, actor, reason), for every client of the occupant.
        """
        for whois in ("moderators", "anyone"):
            h = self.room(whois)
            room, bob, sessions = self.subject(_snapshot(h, "room"), "Bob")
            done = h.admin(ALICE, "room", "<item nick='Bob' role='none'><reason>out</reason>"
                                          "</item>")
            self.check(h, done, view.presenceBroadcast(
                room, bob, sessions, view.removal((307,), "Alice", "out")))

    def test_ban(self) -> None:
        """
        A ban (301) shows the occupant as an outcast.
        """
        for whois in ("moderators", "anyone"):
            h = self.room(whois)
            room, carol, sessions = self.subject(_snapshot(h, "room"), "Carol",
                                                 affiliation=Affiliation.OUTCAST)
            done = h.admin(ALICE, "room", "<item jid='carol@localhost' affiliation='outcast'/>")
            self.check(h, done, view.presenceBroadcast(
                room, carol, sessions, view.removal((301,), "Alice")))

    def test_roleAndAffiliation(self) -> None:
        """
        A role change (voice taken) and an affiliation change (member)
        show the new role or affiliation, with the actor.
        """
        for whois in ("moderators", "anyone"):
            h = self.room(whois)
            room, carol, sessions = self.subject(_snapshot(h, "room"), "Carol",
                                                 role=Role.VISITOR)
            done = h.admin(ALICE, "room", "<item nick='Carol' role='visitor'/>")
            self.check(h, done, view.presenceBroadcast(
                room, carol, sessions, view.roleChange("Alice")))
            room, carol, sessions = self.subject(_snapshot(h, "room"), "Carol",
                                                 affiliation=Affiliation.MEMBER,
                                                 role=Role.PARTICIPANT)
            done = h.admin(ALICE, "room", "<item jid='carol@localhost' affiliation='member'/>")
            self.check(h, done, view.presenceBroadcast(
                room, carol, sessions, view.roleChange("Alice")))

    def test_nickChange(self) -> None:
        """
        A nickname change: unavailable with 303 and the new nickname, then
        the presence under the new one (now last in the roster).
        """
        for whois in ("moderators", "anyone"):
            h = self.room(whois)
            before = _snapshot(h, "room")
            done = h.send("carol@localhost/c", f"<presence to='{ROOM}/Caroline'/>")
            [(carol, sessions)] = [(o, s) for o, s in before.occupants if o.nick == "Carol"]
            first = view.presenceBroadcast(before, carol, sessions, view.nickChange("Caroline"))
            after = _snapshot(h, "room")
            [(renamed, _)] = [(o, s) for o, s in after.occupants if o.nick == "Caroline"]
            second = view.presenceBroadcast(after, renamed, sessions)
            self.check(h, done, first + second)

    def test_destroy(self) -> None:
        """
        Destruction: each occupant, every client, its own unavailable
        presence with the notice.
        """
        for whois in ("moderators", "anyone"):
            h = self.room(whois)
            before = _snapshot(h, "room")
            done = h.send(ALICE, f"<iq type='set' id='d' to='{ROOM}'><query xmlns="
                                 "'http://jabber.org/protocol/muc#owner'><destroy "
                                 "jid='other@muc.localhost'><reason>done</reason></destroy>"
                                 "</query></iq>")
            self.check(h, done, view.eviction(
                before, (), (view.destroyNotice("other@muc.localhost", "done"),)))
