# -*- test-case-name: tests.dmuc.test_discovery -*-
"""
Tests for L{xmuc.dmuc.discovery}: the cache of which domains can be
replicas, transition by transition, with its expiry, link drops, timeouts
and shared queries.
"""

from __future__ import annotations

from hypothesis import given, strategies as st
from twisted.trial.unittest import SynchronousTestCase

from tests.dmuc.strategies import bounded
from tests.support.harness import parseStanza

from xmuc.core.jid import parseJID
from xmuc.core.links import IllegalTransition
from xmuc.dmuc.discovery import (
    TRANSITIONS,
    Decided,
    DiscoAnswered,
    DiscoFailed,
    DiscoTimedOut,
    Discovery,
    DomainState as S,
    Ignored,
    JoinWanted,
    LinkDropped,
    SendDiscoInfo,
    TimePassed,
    timerKey,
)
from xmuc.dmuc.infoform import DiscoAnswer, parseDiscoInfo
from xmuc.muc.effects import CancelTimer, StartTimer

B = "b.example"
REPLICA = parseJID("dmuc@b.example")
YES = DiscoAnswer(REPLICA)
NO = DiscoAnswer(None, "no DMUC feature")


class DiscoveryTestCase(SynchronousTestCase):
    """
    A cache with the default timeout (5 s) and ttl (an hour).
    """

    def setUp(self) -> None:
        self.cache = Discovery()

    def ask(self, join: str = "j1", now: float = 0.0, domain: str = B) -> list:
        return self.cache.handle(JoinWanted(domain, join), now)


class TransitionTests(DiscoveryTestCase):
    """
    Each row of the table.
    """

    def test_unknownJoinAsks(self) -> None:
        """
        The first join of a domain sends one disco#info query and starts
        its timer; the join waits.
        """
        self.assertEqual(self.ask(), [SendDiscoInfo(B, 1), StartTimer(timerKey(B, 1), 5.0)])
        self.assertIs(self.cache.state(B), S.ASKING)

    def test_joinsShareQuery(self) -> None:
        """
        Joins arriving while the query is out wait for it; one answer
        decides them all, in arrival order, and cancels the timer.
        """
        self.ask("j1")
        self.assertEqual(self.ask("j2", 1.0), [])
        self.assertEqual(self.ask("j3", 4.9), [])
        self.assertEqual(self.cache.handle(DiscoAnswered(B, 1, YES), 5.0), [
            CancelTimer(timerKey(B, 1)),
            Decided("j1", B, REPLICA), Decided("j2", B, REPLICA), Decided("j3", B, REPLICA)])
        self.assertIs(self.cache.state(B), S.CAPABLE)

    def test_sameJoinTwice(self) -> None:
        """
        A join token asked twice while waiting is decided once.
        """
        self.ask("j1")
        self.ask("j1", 1.0)
        self.assertEqual(self.cache.handle(DiscoAnswered(B, 1, NO), 2.0),
                         [CancelTimer(timerKey(B, 1)), Decided("j1", B, None)])

    def test_negativeAnswer(self) -> None:
        """
        An answer without the feature decides classic service and is cached.
        """
        self.ask()
        effects = self.cache.handle(DiscoAnswered(B, 1, NO), 1.0)
        self.assertEqual(effects[1:], [Decided("j1", B, None)])
        self.assertTrue(effects[1].classic)
        self.assertIs(self.cache.state(B), S.INCAPABLE)

    def test_cachedAnswers(self) -> None:
        """
        Once answered, joins are decided at once without a new query,
        positive and negative alike.
        """
        self.ask("j1", domain="b.example")
        self.cache.handle(DiscoAnswered("b.example", 1, YES), 1.0)
        self.assertEqual(self.ask("j2", 2.0, "b.example"), [Decided("j2", B, REPLICA)])
        self.ask("k1", 3.0, "c.example")
        self.cache.handle(DiscoAnswered("c.example", 2, NO), 3.5)
        self.assertEqual(self.ask("k2", 4.0, "c.example"), [Decided("k2", "c.example", None)])

    def test_errorGivesClassic(self) -> None:
        """
        An error answer (service-unavailable, feature-not-implemented …)
        serves the waiting joins classically and is cached as a no.
        """
        self.ask()
        self.assertEqual(self.cache.handle(DiscoFailed(B, 1, "service-unavailable"), 1.0),
                         [CancelTimer(timerKey(B, 1)), Decided("j1", B, None)])
        self.assertIs(self.cache.state(B), S.INCAPABLE)
        self.assertEqual(self.ask("j2", 2.0), [Decided("j2", B, None)])

    def test_unreachableNotCached(self) -> None:
        """
        An error that says the domain is unreachable decides classic
        service but caches nothing: the next join asks again.
        """
        for condition in ("remote-server-not-found", "remote-server-timeout"):
            cache = Discovery()
            cache.handle(JoinWanted(B, "j1"), 0.0)
            self.assertEqual(cache.handle(DiscoFailed(B, 1, condition), 1.0),
                             [CancelTimer(timerKey(B, 1)), Decided("j1", B, None)])
            self.assertIs(cache.state(B), S.UNKNOWN)
            self.assertEqual(cache.handle(JoinWanted(B, "j2"), 2.0)[0], SendDiscoInfo(B, 2))

    def test_timeoutGivesClassic(self) -> None:
        """
        On the timeout every waiting join is served classically; later
        joins too, at once, while the query is overdue.
        """
        self.ask("j1")
        self.ask("j2", 3.0)
        self.assertEqual(self.cache.handle(DiscoTimedOut(B, 1), 5.0),
                         [Decided("j1", B, None), Decided("j2", B, None)])
        self.assertIs(self.cache.state(B), S.OVERDUE)
        self.assertEqual(self.ask("j3", 6.0), [Decided("j3", B, None)])

    def test_lateAnswer(self) -> None:
        """
        An answer after the timeout still fills the cache, for later joins.
        """
        self.ask("j1")
        self.cache.handle(DiscoTimedOut(B, 1), 5.0)
        self.assertEqual(self.cache.handle(DiscoAnswered(B, 1, YES), 8.0), [])
        self.assertIs(self.cache.state(B), S.CAPABLE)
        self.assertEqual(self.ask("j2", 9.0), [Decided("j2", B, REPLICA)])

    def test_lateError(self) -> None:
        """
        An error after the timeout caches a no (or nothing when it says
        unreachable).
        """
        self.ask("j1")
        self.cache.handle(DiscoTimedOut(B, 1), 5.0)
        self.assertEqual(self.cache.handle(DiscoFailed(B, 1, "item-not-found"), 8.0), [])
        self.assertIs(self.cache.state(B), S.INCAPABLE)
        self.ask("k", 0.0, "c.example")
        self.cache.handle(DiscoTimedOut("c.example", 2), 5.0)
        self.cache.handle(DiscoFailed("c.example", 2, "remote-server-timeout"), 6.0)
        self.assertIs(self.cache.state("c.example"), S.UNKNOWN)

    def test_linkDropClears(self) -> None:
        """
        When the s2s link to the domain drops, a cached answer (positive
        or negative) is forgotten: the next join asks again.
        """
        for answer in (YES, NO):
            cache = Discovery()
            cache.handle(JoinWanted(B, "j1"), 0.0)
            cache.handle(DiscoAnswered(B, 1, answer), 1.0)
            self.assertEqual(cache.handle(LinkDropped(B), 2.0), [])
            self.assertIs(cache.state(B), S.UNKNOWN)
            self.assertEqual(cache.handle(JoinWanted(B, "j2"), 3.0)[0], SendDiscoInfo(B, 2))

    def test_linkDropWhileAsking(self) -> None:
        """
        A link drop leaves an outstanding query alone: its answer, error
        or timeout still decides the waiting joins.
        """
        self.ask("j1")
        self.assertEqual(self.cache.handle(LinkDropped(B), 1.0), [])
        self.assertIs(self.cache.state(B), S.ASKING)
        self.assertEqual(self.cache.handle(DiscoTimedOut(B, 1), 5.0), [Decided("j1", B, None)])
        self.assertEqual(self.cache.handle(LinkDropped(B), 6.0), [])
        self.assertIs(self.cache.state(B), S.OVERDUE)

    def test_linkDropUnknown(self) -> None:
        """
        A link drop for a domain the cache knows nothing of changes nothing.
        """
        self.assertEqual(self.cache.handle(LinkDropped(B), 0.0), [])
        self.assertIs(self.cache.state(B), S.UNKNOWN)


class RealAnswerTests(DiscoveryTestCase):
    """
    Answers read from real disco#info results.
    """

    def test_replicaDomain(self) -> None:
        """
        An xmuc domain's disco#info (feature and form) decides the join
        for its replica JID.
        """
        iq = parseStanza(
            "<iq type='result' from='b.example' to='muc.a.example' id='q1'>"
            "<query xmlns='http://jabber.org/protocol/disco#info'>"
            "<identity category='server' type='im'/>"
            "<feature var='urn:xmpp:tmp:dmuc:0'/>"
            "<x xmlns='jabber:x:data' type='result'>"
            "<field var='FORM_TYPE' type='hidden'><value>urn:xmpp:tmp:dmuc:0#info</value></field>"
            "<field var='slave' type='jid-single'><value>dmuc@b.example</value></field>"
            "</x></query></iq>")
        self.ask()
        effects = self.cache.handle(DiscoAnswered(B, 1, parseDiscoInfo(iq, B)), 1.0)
        self.assertEqual(effects[-1], Decided("j1", B, REPLICA))

    def test_classicDomain(self) -> None:
        """
        A server without the feature (Prosody's domain answer, say) is
        served classically.
        """
        iq = parseStanza(
            "<iq type='result' from='b.example' id='q1'>"
            "<query xmlns='http://jabber.org/protocol/disco#info'>"
            "<identity category='server' type='im' name='Prosody'/>"
            "<feature var='http://jabber.org/protocol/disco#info'/>"
            "<feature var='urn:xmpp:ping'/></query></iq>")
        self.ask()
        effects = self.cache.handle(DiscoAnswered(B, 1, parseDiscoInfo(iq, B)), 1.0)
        self.assertEqual(effects[-1], Decided("j1", B, None))
        self.assertIs(self.cache.state(B), S.INCAPABLE)


class ExpiryTests(DiscoveryTestCase):
    """
    Answers are trusted for an hour.
    """

    def test_answerExpires(self) -> None:
        """
        An hour after the answer, a join asks again.
        """
        self.ask("j1", 0.0)
        self.cache.handle(DiscoAnswered(B, 1, YES), 1.0)
        self.assertEqual(self.ask("j2", 3600.9), [Decided("j2", B, REPLICA)])
        self.assertEqual(self.ask("j3", 3601.0), [SendDiscoInfo(B, 2),
                                                  StartTimer(timerKey(B, 2), 5.0)])

    def test_timePasses(self) -> None:
        """
        TimePassed expires every stale entry, and only those.
        """
        self.ask("j1", 0.0, "b.example")
        self.cache.handle(DiscoAnswered("b.example", 1, NO), 0.0)
        self.ask("k1", 1800.0, "c.example")
        self.cache.handle(DiscoAnswered("c.example", 2, YES), 1800.0)
        self.assertEqual(self.cache.handle(TimePassed(), 3600.0), [])
        self.assertIs(self.cache.state("b.example"), S.UNKNOWN)
        self.assertIs(self.cache.state("c.example"), S.CAPABLE)

    def test_overdueGivesUp(self) -> None:
        """
        A query that never answers is given up an hour after it was sent:
        its answer is then stale.
        """
        self.ask("j1", 0.0)
        self.cache.handle(DiscoTimedOut(B, 1), 5.0)
        self.cache.handle(TimePassed(), 3600.0)
        self.assertIs(self.cache.state(B), S.UNKNOWN)
        late = DiscoAnswered(B, 1, YES)
        self.assertEqual(self.cache.handle(late, 3601.0), [Ignored(late)])
        self.assertIs(self.cache.state(B), S.UNKNOWN)

    def test_askingNeverExpires(self) -> None:
        """
        A query in flight is ended by its timer, not by the ttl.
        """
        cache = Discovery(timeout=7200.0)
        cache.handle(JoinWanted(B, "j1"), 0.0)
        cache.handle(TimePassed(), 5000.0)
        self.assertIs(cache.state(B), S.ASKING)


class StaleAndIllegalTests(DiscoveryTestCase):
    """
    Events for queries no longer awaited, and events the table forbids.
    """

    def test_staleEvents(self) -> None:
        """
        An answer, error or timeout for an earlier query is ignored, and
        reported as such.
        """
        self.ask("j1")
        self.cache.handle(DiscoAnswered(B, 1, NO), 1.0)
        self.cache.handle(LinkDropped(B), 2.0)
        self.ask("j2", 3.0)
        for event in (DiscoAnswered(B, 1, YES), DiscoFailed(B, 1, "conflict"),
                      DiscoTimedOut(B, 1), DiscoAnswered("c.example", 2, YES)):
            self.assertEqual(self.cache.handle(event, 4.0), [Ignored(event)])
        self.assertIs(self.cache.state(B), S.ASKING)

    def test_timerFiresTwice(self) -> None:
        """
        A second timeout of the same query is an illegal transition.
        """
        self.ask()
        self.cache.handle(DiscoTimedOut(B, 1), 5.0)
        self.assertRaises(IllegalTransition, self.cache.handle, DiscoTimedOut(B, 1), 6.0)


class TableTests(SynchronousTestCase):
    """
    The table as a whole.
    """

    def test_everyRow(self) -> None:
        """
        One walk through the cache takes every row of the table, each to
        one of the states the row lists, and no other transition.
        """
        seen: list[tuple] = []
        cache = Discovery(trace=lambda domain, row, name, new: seen.append((row, new)))
        C, D = "c.example", "d.example"
        script = [
            (JoinWanted(B, "j1"), 0.0),               # unknown: ask
            (JoinWanted(B, "j2"), 1.0),               # asking: wait
            (LinkDropped(B), 1.5),                    # asking: still out
            (DiscoAnswered(B, 1, YES), 2.0),          # asking: answered
            (JoinWanted(B, "j3"), 3.0),               # capable: through the replica
            (LinkDropped(B), 4.0),                    # capable: forget
            (LinkDropped(B), 4.5),                    # unknown: nothing to forget
            (JoinWanted(C, "k1"), 5.0),               # unknown: ask (query 2)
            (DiscoFailed(C, 2, "bad-request"), 6.0),  # asking: failed
            (JoinWanted(C, "k2"), 7.0),               # incapable: classic
            (LinkDropped(C), 8.0),                    # incapable: forget
            (JoinWanted(D, "l1"), 10.0),              # unknown: ask (query 3)
            (DiscoTimedOut(D, 3), 15.0),              # asking: timed out
            (JoinWanted(D, "l2"), 16.0),              # overdue: classic
            (LinkDropped(D), 17.0),                   # overdue: still out
            (DiscoAnswered(D, 3, NO), 18.0),          # overdue: answered late
            (JoinWanted(B, "j4"), 20.0),              # unknown: ask (query 4)
            (DiscoTimedOut(B, 4), 25.0),              # asking: timed out
            (DiscoFailed(B, 4, "item-not-found"), 26.0),  # overdue: failed late
            (TimePassed(), 3626.0),                   # incapable (B, D): expire
            (JoinWanted(C, "k3"), 3630.0),            # unknown: ask (query 5)
            (DiscoAnswered(C, 5, YES), 3631.0),       # asking: answered
            (JoinWanted(D, "l3"), 3640.0),            # unknown: ask (query 6)
            (DiscoTimedOut(D, 6), 3645.0),            # asking: timed out
            (TimePassed(), 7240.0),                   # overdue: give up; capable: expire
        ]
        for event, now in script:
            cache.handle(event, now)
        self.assertEqual({row for row, _ in seen}, set(TRANSITIONS))
        for row, new in seen:
            self.assertIn(new, TRANSITIONS[row][1])


class BoundTests(SynchronousTestCase):
    """
    No join waits longer than the timeout, whatever the answers do.
    """

    @bounded
    @given(st.lists(st.tuples(st.integers(0, 20000), st.sampled_from("abc")), min_size=1,
                    max_size=12),
           st.sampled_from(["answer", "error", "unreachable", "never"]),
           st.integers(0, 20000), st.integers(0, 4))
    def test_joinDecidedWithinTimeout(self, joins, outcome, delay, drops) -> None:
        """
        Joins at arbitrary times (milliseconds), a reply after C{delay} ms
        or never, link drops: every join is decided once, at most 5 s after
        it was wanted, and the timers started are the ones cancelled or fired.
        """
        cache = Discovery()
        pending: list[tuple[float, int, object]] = []  # (due, order, event)
        wanted: dict[str, float] = {}
        decided: dict[str, float] = {}
        timers: dict[tuple, float] = {}
        order = 0

        def run(event, now: float) -> None:
            nonlocal order
            for effect in cache.handle(event, now):
                order += 1
                if isinstance(effect, SendDiscoInfo) and outcome != "never":
                    reply = {"answer": DiscoAnswered(effect.domain, effect.query, YES),
                             "error": DiscoFailed(effect.domain, effect.query, "conflict"),
                             "unreachable": DiscoFailed(effect.domain, effect.query,
                                                        "remote-server-timeout")}[outcome]
                    pending.append((now + delay / 1000, order, reply))
                elif isinstance(effect, StartTimer):
                    timers[effect.key] = now + effect.delay
                    pending.append((now + effect.delay, order, ("timer", effect.key)))
                elif isinstance(effect, CancelTimer):
                    timers.pop(effect.key)
                elif isinstance(effect, Decided):
                    self.assertNotIn(effect.join, decided)
                    decided[effect.join] = now

        for number, (at, domain) in enumerate(joins):
            join = f"{domain}{number}"
            wanted[join] = at / 1000
            pending.append((at / 1000, -1, JoinWanted(f"{domain}.example", join)))
        for index in range(drops):
            pending.append((index * 3.3, -2, LinkDropped("a.example")))
        while pending:
            pending.sort(key=lambda p: (p[0], p[1]))
            now, _, event = pending.pop(0)
            if isinstance(event, tuple):
                if timers.pop(event[1], None) is None:
                    continue  # cancelled
                domain, query = event[1][1], int(event[1][2])
                event = DiscoTimedOut(domain, query)
            run(event, now)
        self.assertEqual(set(decided), set(wanted))
        for join, at in wanted.items():
            self.assertLessEqual(decided[join] - at, 5.0 + 1e-9)
        self.assertEqual(timers, {})
