# -*- test-case-name: tests.im.test_subscription -*-
"""
Tests for L{xmuc.im.subscription}: the RFC 6121 subscription table, row by
row and as two machines joined by a perfect link.
"""

from __future__ import annotations

from collections import deque

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from xmuc.im.subscription import (
    BOTH,
    FROM,
    FROM_OUT,
    KINDS,
    NONE,
    NONE_A,
    NONE_IN,
    NONE_OUT,
    NONE_OUT_A,
    NONE_OUT_IN,
    STATES,
    TO,
    TO_A,
    TO_IN,
    Action,
    Event,
    State,
    eventFor,
    normalise,
    removal,
    transition,
)

R = Action.ROUTE
D = Action.DELIVER


class TableTests(SynchronousTestCase):
    """
    The table covers every case and says what Appendix A says.
    """

    def test_complete(self) -> None:
        """
        Every one of the twelve states has a row for every event, and
        every row leads to one of the twelve states.
        """
        self.assertEqual(len(STATES), 12)
        for state in STATES:
            for event in Event:
                result = transition(state, event)
                self.assertIn(result.new, STATES)
                self.assertIs(result.event, event)
                self.assertEqual(result.old, state)

    def test_illegalState(self) -> None:
        """
        A state outside the table (a pending request for a subscription
        already held) raises instead of guessing.
        """
        self.assertRaises(
            ValueError, transition, State("both", pendingOut=True), Event.IN_SUBSCRIBE
        )

    def test_outboundSubscribe(self) -> None:
        """
        Asking for a subscription marks it pending and is routed, even
        when already subscribed (the contact's server answers that).
        """
        self.assertEqual(transition(NONE, Event.OUT_SUBSCRIBE).new, NONE_OUT)
        self.assertEqual(transition(FROM, Event.OUT_SUBSCRIBE).new, FROM_OUT)
        self.assertEqual(transition(NONE_IN, Event.OUT_SUBSCRIBE).new, NONE_OUT_IN)
        both = transition(BOTH, Event.OUT_SUBSCRIBE)
        self.assertFalse(both.changed)
        self.assertEqual(both.actions, (R,))

    def test_approve(self) -> None:
        """
        Answering a pending request with subscribed grants it, routes the
        answer and sends the user's presence (RFC 6121 section 3.1.5).
        """
        result = transition(TO_IN, Event.OUT_SUBSCRIBED)
        self.assertEqual(result.new, BOTH)
        self.assertEqual(result.actions, (R, Action.SEND_PRESENCE))

    def test_preApprove(self) -> None:
        """
        Subscribed without a pending request is a pre-approval: recorded,
        never routed (section 3.4.1); an inbound request is then answered
        by the server at once.
        """
        pre = transition(NONE, Event.OUT_SUBSCRIBED)
        self.assertEqual((pre.new, pre.actions), (NONE_A, ()))
        self.assertEqual(transition(TO, Event.OUT_SUBSCRIBED).new, TO_A)
        self.assertEqual(transition(NONE_OUT, Event.OUT_SUBSCRIBED).new, NONE_OUT_A)
        auto = transition(NONE_A, Event.IN_SUBSCRIBE)
        self.assertEqual(auto.new, FROM)
        self.assertEqual(auto.actions, (Action.AUTO_SUBSCRIBED, Action.SEND_PRESENCE))
        self.assertEqual(transition(TO_A, Event.IN_SUBSCRIBE).new, BOTH)

    def test_cancelPreApproval(self) -> None:
        """
        Unsubscribed withdraws a pre-approval without telling the contact,
        who never heard of it.
        """
        result = transition(NONE_OUT_A, Event.OUT_UNSUBSCRIBED)
        self.assertEqual((result.new, result.actions), (NONE_OUT, ()))

    def test_redundantApprovalNotRouted(self) -> None:
        """
        Subscribed to a contact that already is a subscriber changes
        nothing and is not routed.
        """
        for state in (FROM, FROM_OUT, BOTH):
            result = transition(state, Event.OUT_SUBSCRIBED)
            self.assertEqual((result.new, result.actions), (state, ()))

    def test_inboundSubscribe(self) -> None:
        """
        A request is delivered and left pending, delivered again while it
        pends, and answered by the server for an existing subscriber.
        """
        self.assertEqual(transition(NONE, Event.IN_SUBSCRIBE).actions, (D,))
        self.assertEqual(transition(NONE, Event.IN_SUBSCRIBE).new, NONE_IN)
        again = transition(NONE_IN, Event.IN_SUBSCRIBE)
        self.assertEqual((again.new, again.actions), (NONE_IN, (D,)))
        for state in (FROM, FROM_OUT, BOTH):
            result = transition(state, Event.IN_SUBSCRIBE)
            self.assertEqual(
                (result.new, result.actions), (state, (Action.AUTO_SUBSCRIBED,))
            )

    def test_inboundSubscribedIgnoredUnlessAsked(self) -> None:
        """
        Subscribed from a contact the user did not ask is ignored
        (section 3.1.6); with a pending request it grants C{to}.
        """
        for state in (NONE, NONE_IN, TO, TO_IN, FROM, BOTH, NONE_A, TO_A):
            result = transition(state, Event.IN_SUBSCRIBED)
            self.assertEqual((result.new, result.actions), (state, ()))
        self.assertEqual(transition(NONE_OUT, Event.IN_SUBSCRIBED).new, TO)
        self.assertEqual(transition(NONE_OUT_IN, Event.IN_SUBSCRIBED).new, TO_IN)
        self.assertEqual(transition(FROM_OUT, Event.IN_SUBSCRIBED).new, BOTH)

    def test_cancellations(self) -> None:
        """
        Unsubscribe and unsubscribed take away the matching direction;
        losing a subscriber sends it unavailable presence.
        """
        self.assertEqual(transition(BOTH, Event.OUT_UNSUBSCRIBE).new, FROM)
        self.assertEqual(transition(TO_IN, Event.OUT_UNSUBSCRIBE).new, NONE_IN)
        out = transition(BOTH, Event.OUT_UNSUBSCRIBED)
        self.assertEqual((out.new, out.actions), (TO, (R, Action.SEND_UNAVAILABLE)))
        inbound = transition(FROM_OUT, Event.IN_UNSUBSCRIBE)
        self.assertEqual(inbound.new, NONE_OUT)
        self.assertEqual(inbound.actions, (D, Action.SEND_UNAVAILABLE))
        self.assertEqual(transition(BOTH, Event.IN_UNSUBSCRIBED).new, FROM)
        self.assertEqual(transition(TO_IN, Event.IN_UNSUBSCRIBED).new, NONE_IN)
        ignored = transition(NONE, Event.IN_UNSUBSCRIBED)
        self.assertEqual((ignored.new, ignored.actions), (NONE, ()))

    def test_denyRequest(self) -> None:
        """
        Unsubscribed to a pending request denies it and is routed.
        """
        result = transition(NONE_OUT_IN, Event.OUT_UNSUBSCRIBED)
        self.assertEqual((result.new, result.actions), (NONE_OUT, (R,)))


class HelperTests(SynchronousTestCase):
    """
    The helpers around the table.
    """

    def test_normalise(self) -> None:
        """
        Flags that cannot hold with the subscription are dropped.
        """
        self.assertEqual(normalise("both", True, True, True), BOTH)
        self.assertEqual(normalise("to", True, True, False), TO_IN)
        self.assertEqual(normalise("none", False, True, True), NONE_IN)
        self.assertEqual(normalise("from", True, False, True), FROM_OUT)
        self.assertRaises(ValueError, normalise, "sideways", False, False, False)

    def test_eventFor(self) -> None:
        """
        Events are found by direction and presence type; other types are
        refused.
        """
        self.assertIs(eventFor(True, "subscribe"), Event.OUT_SUBSCRIBE)
        self.assertIs(eventFor(False, "unsubscribed"), Event.IN_UNSUBSCRIBED)
        self.assertFalse(Event.IN_SUBSCRIBE.outbound)
        self.assertEqual(Event.OUT_UNSUBSCRIBE.kind, "unsubscribe")
        self.assertRaises(ValueError, eventFor, True, "probe")

    def test_removal(self) -> None:
        """
        Removing a contact cancels what exists or is asked in each
        direction (RFC 6121 section 2.5.3).
        """
        self.assertEqual(removal(BOTH), ("unsubscribe", "unsubscribed"))
        self.assertEqual(removal(NONE_OUT), ("unsubscribe",))
        self.assertEqual(removal(NONE_IN), ("unsubscribed",))
        self.assertEqual(removal(NONE_A), ())


def _consistent(a: State, b: State) -> bool:
    return (a.to, a.from_, a.pendingOut, a.pendingIn) == (
        b.from_,
        b.to,
        b.pendingIn,
        b.pendingOut,
    )


def _run(states: list[State], side: int, operation: str) -> None:
    """
    Let one side act and carry every stanza over a perfect link until
    nothing is in flight.
    """
    queue: deque[tuple[int, Event]] = deque()
    if operation == "remove":
        for kind in removal(states[side]):
            queue.append((1 - side, eventFor(False, kind)))
        states[side] = NONE
    else:
        queue.append((side, eventFor(True, operation)))
    while queue:
        who, event = queue.popleft()
        result = transition(states[who], event)
        states[who] = result.new
        for action in result.actions:
            if action is Action.ROUTE:
                queue.append((1 - who, eventFor(False, event.kind)))
            elif action is Action.AUTO_SUBSCRIBED:
                queue.append((1 - who, Event.IN_SUBSCRIBED))


_operations = st.lists(
    st.tuples(st.integers(0, 1), st.sampled_from(KINDS + ("remove",))),
    min_size=4,
    max_size=40,
)


class LinkTests(SynchronousTestCase):
    """
    Two users' servers running the table against each other agree.
    """

    @settings(max_examples=500, deadline=None)
    @given(_operations)
    def test_perfectLinkStaysConsistent(
        self, operations: list[tuple[int, str]]
    ) -> None:
        """
        After any sequence of subscription stanzas and roster removals by
        either user, once the link is idle each side's view is the mirror
        of the other's: my C{to} is your C{from}, my pending request is
        your pending inbound one.
        """
        states = [NONE, NONE]
        for side, operation in operations:
            _run(states, side, operation)
            self.assertIn(states[0], STATES)
            self.assertIn(states[1], STATES)
            self.assertTrue(
                _consistent(states[0], states[1]),
                f"{states} after {operation} by {side}",
            )

    def test_everyReachablePairStaysConsistent(self) -> None:
        """
        Exhaustively: from two empty rosters, every pair of states any
        operation of either side can reach is consistent, and all nine
        Appendix A states and the three pre-approved ones are reached.
        """
        start = (NONE, NONE)
        seen = {start}
        frontier = [start]
        while frontier:
            pair = frontier.pop()
            for side in (0, 1):
                for operation in KINDS + ("remove",):
                    states = list(pair)
                    _run(states, side, operation)
                    self.assertTrue(
                        _consistent(states[0], states[1]),
                        f"{pair} then {operation} by {side} gave {states}",
                    )
                    reached = (states[0], states[1])
                    if reached not in seen:
                        seen.add(reached)
                        frontier.append(reached)
        self.assertEqual({a for a, _ in seen}, set(STATES))

    def test_handshake(self) -> None:
        """
        Subscribe, approve, subscribe back, approve: both sides end in
        C{both}.
        """
        states = [NONE, NONE]
        for side, operation in [
            (0, "subscribe"),
            (1, "subscribed"),
            (1, "subscribe"),
            (0, "subscribed"),
        ]:
            _run(states, side, operation)
        self.assertEqual(states, [BOTH, BOTH])

    def test_preApprovedHandshake(self) -> None:
        """
        A pre-approved request completes without the contact answering.
        """
        states = [NONE, NONE]
        _run(states, 1, "subscribed")
        self.assertEqual(states, [NONE, NONE_A])
        _run(states, 0, "subscribe")
        self.assertEqual(states, [TO, FROM])
