# -*- test-case-name: tests.glue.test_sweep -*-
"""
What one client of the invariant sweep saw (L{ClientView}), read off the
stanzas it received, room by room: whether it is in, under which nick,
the roster its presences add up to, and each stay in the room
(L{Episode}: the history of its join sequence, the messages it got live,
how it ended); and the errors it got, by id.

A join sequence is what a room sends an entrant (design section 0): the
occupants' presences, its own presence (110), the history, the subject.
The messages between its own presence and the subject are history;
every later message from the room is live (a netjoin's replay, with its
C{<delay/>}, included).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from tests.support.netnode import NetClient

MUC_USER = "http://jabber.org/protocol/muc#user"
SID = "urn:xmpp:sid:0"
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"


def child(element: Any, name: str, uri: str | None = None) -> Any:
    for c in element.elements():
        if c.name == name and (uri is None or c.uri == uri):
            return c
    return None


def condition(stanza: Any) -> str:
    error = child(stanza, "error")
    found = error and next((c.name for c in error.elements() if c.uri == STANZAS), None)
    return found or "undefined-condition"


@dataclass
class Episode:
    """
    One stay of the client in a room, from its own presence on.

    @ivar nick: the nick it has now (or had at the end).
    @ivar split: its own presence arrived while its node was cut off from
        the room's node.
    @ivar history: the stanza-ids of its join sequence's history.
    @ivar live: C{(body, stanza-id)} of each message it got after the
        subject, in order.
    @ivar codes: the status codes of the presence that ended it.
    """

    joinedAs: str
    entered: float
    split: bool
    nick: str = ""
    history: list[str] = field(default_factory=list)
    live: list[tuple[str, str]] = field(default_factory=list)
    joining: bool = True
    ended: float | None = None
    codes: frozenset[int] = frozenset()
    asked: bool = False


@dataclass
class Seen:
    """
    One room as the client saw it.
    """

    nick: str | None = None
    roster: set[str] = field(default_factory=set)
    episodes: list[Episode] = field(default_factory=list)
    #: C{(nick, codes, time)} of every unavailable presence from the room
    #: that carried a status code other than 110 and 303.
    removals: list[tuple[str, frozenset[int], float]] = field(default_factory=list)
    #: bodies of room messages that came while the client was out.
    strays: list[str] = field(default_factory=list)
    #: unavailable presences sent and not yet seen answered.
    leaving: int = 0

    @property
    def episode(self) -> Episode | None:
        if self.nick is None or not self.episodes:
            return None
        return self.episodes[-1]


class ClientView:
    """
    One session (a full JID) of a user and what it saw.

    @ivar died: when its node crashed, or L{None}.
    @ivar errors: the condition of each error stanza it got, by id.
    """

    def __init__(self, client: NetClient, rooms: Iterable[str], born: float) -> None:
        self.client = client
        self.full = client.jid.full()
        self.bare = client.jid.userhost()
        self.node = client.jid.host
        self.born = born
        self.died: float | None = None
        self.rooms = {room: Seen() for room in rooms}
        self.errors: dict[str, str] = {}

    def read(self, now: float, cutFrom: frozenset[str]) -> None:
        """
        Take what the client received since the last read; C{cutFrom}
        are the nodes this client's node is cut off from now.
        """
        if self.died is None:
            for stanza in self.client.received():
                self.take(stanza, now, cutFrom)

    def asked(self, room: str) -> None:
        """
        The client sent C{room} an unavailable presence.
        """
        self.rooms[room].leaving += 1

    def take(self, stanza: Any, now: float, cutFrom: frozenset[str] = frozenset()) -> None:
        sender = stanza.getAttribute("from", "")
        if stanza.getAttribute("type") == "error" and stanza.getAttribute("id"):
            self.errors[stanza.getAttribute("id")] = condition(stanza)
        room, _, nick = sender.partition("/")
        seen = self.rooms.get(room)
        if seen is None or stanza.getAttribute("type") == "error":
            return
        if stanza.name == "presence" and nick:
            self._presence(seen, room, nick, stanza, now, cutFrom)
        elif stanza.name == "message" and stanza.getAttribute("type") == "groupchat":
            self._message(seen, stanza)

    def _presence(self, seen: Seen, room: str, nick: str, stanza: Any, now: float,
                  cutFrom: frozenset[str]) -> None:
        x = child(stanza, "x", MUC_USER)
        codes = frozenset(int(s.getAttribute("code", "0")) for s in x.elements()
                          if s.name == "status") if x is not None else frozenset()
        mine = 110 in codes
        if stanza.getAttribute("type") == "unavailable":
            seen.roster.discard(nick)
            if codes - {110, 303}:
                seen.removals.append((nick, codes - {110}, now))
            if mine and 303 not in codes and seen.nick is not None:
                episode = seen.episodes[-1]
                episode.ended, episode.codes = now, codes - {110}
                if not episode.codes and seen.leaving:
                    episode.asked, seen.leaving = True, seen.leaving - 1
                seen.nick = None
                seen.roster.clear()
            return
        seen.roster.add(nick)
        if mine and seen.nick is None:
            home = room.split("@", 1)[1].split(".", 1)[1]
            seen.episodes.append(Episode(nick, now, home in cutFrom))
        if mine:
            seen.nick = seen.episodes[-1].nick = nick

    def _message(self, seen: Seen, stanza: Any) -> None:
        body = child(stanza, "body")
        episode = seen.episode
        if body is None:
            if child(stanza, "subject") is not None and episode is not None:
                episode.joining = False
            return
        sid = child(stanza, "stanza-id", SID)
        stanzaId = sid.getAttribute("id", "") if sid is not None else ""
        if episode is None:
            seen.strays.append(str(body))
        elif episode.joining:
            episode.history.append(stanzaId)
        else:
            episode.live.append((str(body), stanzaId))

    def live(self, room: str) -> list[tuple[str, str]]:
        """
        Every message the client got live in C{room}, over all its stays.
        """
        return [m for episode in self.rooms[room].episodes for m in episode.live]
