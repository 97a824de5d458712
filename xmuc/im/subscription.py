# -*- test-case-name: tests.im.test_subscription -*-
"""
The presence subscription state machine of RFC 6121 section 3 and
Appendix A, as one pure table.

A user's server keeps, for each contact, a L{State}: the subscription
(C{none}, C{to}, C{from}, C{both}), whether the user's own request is
pending (I{pending out}, the roster's C{ask='subscribe'}), whether the
contact's request waits for the user's answer (I{pending in}) and whether
the user pre-approved the contact (section 3.4, the roster's
C{approved='true'}).

Each subscription stanza is an L{Event}: I{outbound} when the user's
client sends it to the contact, I{inbound} when it comes from the contact.
L{transition} looks up the new state and the L{Action}s the server must
take. Every one of the twelve states has a row for every one of the eight
events, including the "no state change" rows of Appendix A, so the table
can be read against the RFC line by line.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Event(enum.Enum):
    """
    A subscription stanza, by direction and type.
    """

    OUT_SUBSCRIBE = ("out", "subscribe")
    OUT_SUBSCRIBED = ("out", "subscribed")
    OUT_UNSUBSCRIBE = ("out", "unsubscribe")
    OUT_UNSUBSCRIBED = ("out", "unsubscribed")
    IN_SUBSCRIBE = ("in", "subscribe")
    IN_SUBSCRIBED = ("in", "subscribed")
    IN_UNSUBSCRIBE = ("in", "unsubscribe")
    IN_UNSUBSCRIBED = ("in", "unsubscribed")

    @property
    def kind(self) -> str:
        """
        The presence type of the stanza.
        """
        return self.value[1]

    @property
    def outbound(self) -> bool:
        """
        Whether the user sent it (as opposed to the contact).
        """
        return self.value[0] == "out"


#: The presence types that are subscription stanzas.
KINDS = ("subscribe", "subscribed", "unsubscribe", "unsubscribed")


def eventFor(outbound: bool, kind: str) -> Event:
    """
    The event for a subscription stanza of presence type C{kind}.

    @raise ValueError: when C{kind} is not a subscription type.
    """
    return Event(("out" if outbound else "in", kind))


class Action(enum.Enum):
    """
    What the user's server does for an event, in the order listed in a
    table row.
    """

    #: Route the user's stanza on to the contact.
    ROUTE = "route"
    #: Deliver the contact's stanza to the user's available resources
    #: (and, for a subscribe, keep it until answered).
    DELIVER = "deliver"
    #: Answer the contact with C{subscribed} on the user's behalf.
    AUTO_SUBSCRIBED = "auto-subscribed"
    #: Send the contact the presence of each available resource of the
    #: user (the contact just became a subscriber).
    SEND_PRESENCE = "send-presence"
    #: Send the contact unavailable presence from each available resource
    #: of the user (the contact just stopped being a subscriber).
    SEND_UNAVAILABLE = "send-unavailable"


@dataclass(frozen=True)
class State:
    """
    The subscription state of one contact in one user's roster.
    """

    subscription: str = "none"
    pendingOut: bool = False
    pendingIn: bool = False
    approved: bool = False

    @property
    def to(self) -> bool:
        """
        Whether the user receives the contact's presence.
        """
        return self.subscription in ("to", "both")

    @property
    def from_(self) -> bool:
        """
        Whether the contact receives the user's presence.
        """
        return self.subscription in ("from", "both")

    @property
    def empty(self) -> bool:
        """
        Whether there is nothing to remember about the contact.
        """
        return self == NONE


NONE = State()
NONE_OUT = State(pendingOut=True)
NONE_IN = State(pendingIn=True)
NONE_OUT_IN = State(pendingOut=True, pendingIn=True)
TO = State("to")
TO_IN = State("to", pendingIn=True)
FROM = State("from")
FROM_OUT = State("from", pendingOut=True)
BOTH = State("both")
NONE_A = State(approved=True)
NONE_OUT_A = State(pendingOut=True, approved=True)
TO_A = State("to", approved=True)

#: The nine states of Appendix A and the three pre-approved ones.
STATES = frozenset(
    (NONE, NONE_OUT, NONE_IN, NONE_OUT_IN, TO, TO_IN, FROM, FROM_OUT, BOTH)
    + (NONE_A, NONE_OUT_A, TO_A)
)


def normalise(
    subscription: str, pendingOut: bool, pendingIn: bool, approved: bool
) -> State:
    """
    The state for stored flags, dropping those the subscription makes
    meaningless (a pending request for what is already granted, a
    pre-approval of a subscriber or of a contact whose request waits).

    @raise ValueError: for an unknown subscription value.
    """
    if subscription not in ("none", "to", "from", "both"):
        raise ValueError(f"unknown subscription {subscription!r}")
    to = subscription in ("to", "both")
    from_ = subscription in ("from", "both")
    return State(
        subscription,
        pendingOut and not to,
        pendingIn and not from_,
        approved and not from_ and not pendingIn,
    )


@dataclass(frozen=True)
class Transition:
    """
    The outcome of an event: the new state and the actions, in order.
    """

    event: Event
    old: State
    new: State
    actions: tuple[Action, ...]

    @property
    def changed(self) -> bool:
        """
        Whether the state changed (then the roster is pushed).
        """
        return self.old != self.new


R = Action.ROUTE
D = Action.DELIVER
AS = Action.AUTO_SUBSCRIBED
SP = Action.SEND_PRESENCE
SU = Action.SEND_UNAVAILABLE

_Row = dict[State, tuple[State, tuple[Action, ...]]]

# Each row maps the current state to (new state, actions). Rows where the
# new state is the current one are Appendix A's "no state change" entries.
_TABLE: dict[Event, _Row] = {
    # A.2 (outbound subscribe): the user asks to see the contact's presence. Always routed:
    # the contact's server answers a redundant request itself.
    Event.OUT_SUBSCRIBE: {
        NONE: (NONE_OUT, (R,)),
        NONE_OUT: (NONE_OUT, (R,)),
        NONE_IN: (NONE_OUT_IN, (R,)),
        NONE_OUT_IN: (NONE_OUT_IN, (R,)),
        TO: (TO, (R,)),
        TO_IN: (TO_IN, (R,)),
        FROM: (FROM_OUT, (R,)),
        FROM_OUT: (FROM_OUT, (R,)),
        BOTH: (BOTH, (R,)),
        NONE_A: (NONE_OUT_A, (R,)),
        NONE_OUT_A: (NONE_OUT_A, (R,)),
        TO_A: (TO_A, (R,)),
    },
    # A.2 (outbound subscribed) and 3.4: the user approves the contact's pending request, or
    # pre-approves one to come (never routed, section 3.4.1).
    Event.OUT_SUBSCRIBED: {
        NONE: (NONE_A, ()),
        NONE_OUT: (NONE_OUT_A, ()),
        NONE_IN: (FROM, (R, SP)),
        NONE_OUT_IN: (FROM_OUT, (R, SP)),
        TO: (TO_A, ()),
        TO_IN: (BOTH, (R, SP)),
        FROM: (FROM, ()),
        FROM_OUT: (FROM_OUT, ()),
        BOTH: (BOTH, ()),
        NONE_A: (NONE_A, ()),
        NONE_OUT_A: (NONE_OUT_A, ()),
        TO_A: (TO_A, ()),
    },
    # A.2 (outbound unsubscribe): the user cancels its subscription (or its pending request).
    # Always routed, like subscribe.
    Event.OUT_UNSUBSCRIBE: {
        NONE: (NONE, (R,)),
        NONE_OUT: (NONE, (R,)),
        NONE_IN: (NONE_IN, (R,)),
        NONE_OUT_IN: (NONE_IN, (R,)),
        TO: (NONE, (R,)),
        TO_IN: (NONE_IN, (R,)),
        FROM: (FROM, (R,)),
        FROM_OUT: (FROM, (R,)),
        BOTH: (FROM, (R,)),
        NONE_A: (NONE_A, (R,)),
        NONE_OUT_A: (NONE_A, (R,)),
        TO_A: (NONE_A, (R,)),
    },
    # A.2 (outbound unsubscribed): the user denies a pending request or cancels the contact's
    # subscription (3.2.2: then it also sends unavailable presence), or
    # withdraws a pre-approval (which the contact never heard of).
    Event.OUT_UNSUBSCRIBED: {
        NONE: (NONE, ()),
        NONE_OUT: (NONE_OUT, ()),
        NONE_IN: (NONE, (R,)),
        NONE_OUT_IN: (NONE_OUT, (R,)),
        TO: (TO, ()),
        TO_IN: (TO, (R,)),
        FROM: (NONE, (R, SU)),
        FROM_OUT: (NONE_OUT, (R, SU)),
        BOTH: (TO, (R, SU)),
        NONE_A: (NONE, ()),
        NONE_OUT_A: (NONE_OUT, ()),
        TO_A: (TO, ()),
    },
    # A.3 (inbound subscribe): the contact asks to see the user's presence. Delivered for
    # approval (again, while pending), answered at once for a subscriber
    # (3.1.3) or a pre-approved contact (3.4.2).
    Event.IN_SUBSCRIBE: {
        NONE: (NONE_IN, (D,)),
        NONE_OUT: (NONE_OUT_IN, (D,)),
        NONE_IN: (NONE_IN, (D,)),
        NONE_OUT_IN: (NONE_OUT_IN, (D,)),
        TO: (TO_IN, (D,)),
        TO_IN: (TO_IN, (D,)),
        FROM: (FROM, (AS,)),
        FROM_OUT: (FROM_OUT, (AS,)),
        BOTH: (BOTH, (AS,)),
        NONE_A: (FROM, (AS, SP)),
        NONE_OUT_A: (FROM_OUT, (AS, SP)),
        TO_A: (BOTH, (AS, SP)),
    },
    # A.3 (inbound subscribed): the contact approved the user's request; ignored unless one
    # is pending (3.1.6).
    Event.IN_SUBSCRIBED: {
        NONE: (NONE, ()),
        NONE_OUT: (TO, (D,)),
        NONE_IN: (NONE_IN, ()),
        NONE_OUT_IN: (TO_IN, (D,)),
        TO: (TO, ()),
        TO_IN: (TO_IN, ()),
        FROM: (FROM, ()),
        FROM_OUT: (BOTH, (D,)),
        BOTH: (BOTH, ()),
        NONE_A: (NONE_A, ()),
        NONE_OUT_A: (TO_A, (D,)),
        TO_A: (TO_A, ()),
    },
    # A.3 (inbound unsubscribe): the contact cancels its subscription or its request (3.3.3:
    # it then gets unavailable presence from the user).
    Event.IN_UNSUBSCRIBE: {
        NONE: (NONE, ()),
        NONE_OUT: (NONE_OUT, ()),
        NONE_IN: (NONE, (D,)),
        NONE_OUT_IN: (NONE_OUT, (D,)),
        TO: (TO, ()),
        TO_IN: (TO, (D,)),
        FROM: (NONE, (D, SU)),
        FROM_OUT: (NONE_OUT, (D, SU)),
        BOTH: (TO, (D, SU)),
        NONE_A: (NONE_A, ()),
        NONE_OUT_A: (NONE_OUT_A, ()),
        TO_A: (TO_A, ()),
    },
    # A.3 (inbound unsubscribed): the contact denies the user's request or cancels the user's
    # subscription; ignored when there is neither.
    Event.IN_UNSUBSCRIBED: {
        NONE: (NONE, ()),
        NONE_OUT: (NONE, (D,)),
        NONE_IN: (NONE_IN, ()),
        NONE_OUT_IN: (NONE_IN, (D,)),
        TO: (NONE, (D,)),
        TO_IN: (NONE_IN, (D,)),
        FROM: (FROM, ()),
        FROM_OUT: (FROM, (D,)),
        BOTH: (FROM, (D,)),
        NONE_A: (NONE_A, ()),
        NONE_OUT_A: (NONE_A, (D,)),
        TO_A: (NONE_A, (D,)),
    },
}


def transition(state: State, event: Event) -> Transition:
    """
    Look up what C{event} does in C{state}.

    @raise ValueError: for a state outside L{STATES} (use L{normalise}).
    """
    if state not in STATES:
        raise ValueError(f"illegal subscription state {state!r}")
    new, actions = _TABLE[event][state]
    return Transition(event, state, new, actions)


def removal(state: State) -> tuple[str, ...]:
    """
    The presence types the user's server sends to a contact removed from
    the roster (RFC 6121 section 2.5.3): C{unsubscribe} when the user has
    or asked for a subscription, C{unsubscribed} when the contact has or
    asked for one.
    """
    kinds: list[str] = []
    if state.to or state.pendingOut:
        kinds.append("unsubscribe")
    if state.from_ or state.pendingIn:
        kinds.append("unsubscribed")
    return tuple(kinds)
