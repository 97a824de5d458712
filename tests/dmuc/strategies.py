"""
Hypothesis strategies for the DMUC wire values, bounded so that the
property tests stay small and derandomised.
"""

from __future__ import annotations

import string

from hypothesis import settings, strategies as st
from twisted.words.xish import domish

from xmuc.core.jid import makeJID
from xmuc.dmuc import wire
from xmuc.dmuc.edge import MAX_SEQ
from xmuc.dmuc.marker import Delay, Marker
from xmuc.muc.events import HistoryRequest
from xmuc.muc.model import ALL_ROLES
from xmuc.muc.ns import NS_CLIENT, NS_SID

#: Every property test: deterministic, no example database, no deadline.
bounded = settings(max_examples=150, deadline=None, derandomize=True, database=None)

_LOWER = string.ascii_lowercase + string.digits
users = st.text(alphabet=_LOWER, min_size=1, max_size=8)
hosts = st.from_regex(r"[a-z]{1,8}(\.[a-z]{2,4})?", fullmatch=True)
resources = st.text(alphabet=string.ascii_letters + string.digits + "-.", min_size=1,
                    max_size=8)
bareJIDs = st.builds(makeJID, users, hosts)
fullJIDs = st.builds(makeJID, users, hosts, resources)
outcastJIDs = st.one_of(bareJIDs, st.builds(makeJID, st.none(), hosts))

#: XML-safe text (no controls, no surrogates, so no CR normalisation).
texts = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=20)
epochs = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=16)
numbers = st.integers(0, MAX_SEQ)
#: POSIX times with milliseconds at most, from 1970 to 2100.
stamps = st.integers(0, 4102444800000).map(lambda n: n / 1000)


def _stanza(name: str, sender, to, body: str, originId: str) -> wire.Embedded:
    element = domish.Element((NS_CLIENT, name))
    element["from"] = sender.full()
    element["to"] = to.full()
    if name == "message":
        element["type"] = "groupchat"
        element.addElement("body", content=body)
        element.addElement((NS_SID, "origin-id"))["id"] = originId
    elif body:
        element.addElement("status", content=body)
    return wire.embed(element)


def embedded(name: str) -> st.SearchStrategy[wire.Embedded]:
    return st.builds(_stanza, st.just(name), fullJIDs, bareJIDs, texts, epochs)


attaches = st.builds(wire.Attach, epochs, st.integers(1, MAX_SEQ), numbers,
                     st.sampled_from(list(wire.Anonymity)),
                     st.lists(outcastJIDs, max_size=4).map(tuple),
                     st.sets(st.sampled_from(sorted(ALL_ROLES, key=lambda r: r.rank))
                             ).map(frozenset))
outcastLists = st.builds(wire.Outcasts, st.lists(outcastJIDs, max_size=4).map(tuple))
occupants = st.builds(wire.ResyncOccupant, fullJIDs, texts.filter(bool),
                      embedded("presence"))
resyncs = st.builds(wire.Resync, epochs, numbers, st.lists(occupants, max_size=3).map(tuple),
                    st.lists(embedded("message"), max_size=3).map(tuple))


@st.composite
def resynceds(draw) -> wire.Resynced:
    last = draw(numbers)
    return wire.Resynced(draw(epochs), draw(st.sampled_from(list(wire.ResyncMode))), last,
                         draw(st.integers(0, min(last, 10**6))))


payloads = st.one_of(attaches, outcastLists, st.just(wire.Detach()), resyncs, resynceds())

historyRequests = st.builds(HistoryRequest, st.none() | numbers, st.none() | numbers,
                            st.none() | numbers, st.none() | stamps)


@st.composite
def markers(draw) -> Marker:
    seq = draw(st.integers(1, MAX_SEQ))
    kind = draw(st.sampled_from(["plain", "enter", "leave"]))
    enter = draw(fullJIDs) if kind == "enter" else None
    history = draw(st.none() | historyRequests) if kind == "enter" else None
    leave = draw(fullJIDs) if kind == "leave" else None
    delay = draw(st.none() | st.builds(Delay, stamps, st.one_of(bareJIDs, fullJIDs)))
    return Marker(seq, enter, history, leave, delay)
