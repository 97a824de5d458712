"""
Driving the room engine without sockets: stanzas written as XML go
through the edge parser into a L{MUCService}, and its effects are carried
out into per-JID mailboxes, each stanza serialised and parsed back the way
a client would see it.

    h = RoomHarness()
    h.join("alice@localhost/a", "room", "Alice")
    h.say("alice@localhost/a", "room", "hello")
    [message] = h.received("alice@localhost/a")
"""

from __future__ import annotations

import random
from typing import Any

from twisted.words.xish import domish

from tests.support.harness import parseStanza, parseStanzas
from xmuc.core.errors import toStanzaError
from xmuc.core.jid import parseJID
from xmuc.muc import effects
from xmuc.muc.parse import parseStanza as parseEvent
from xmuc.muc.service import MUCService
from xmuc.muc.settings import Settings

HOST = "muc.localhost"
NS_USER = "http://jabber.org/protocol/muc#user"
INSTANT = (
    "<iq type='set' id='cfg' to='{room}@muc.localhost'>"
    "<query xmlns='http://jabber.org/protocol/muc#owner'>"
    "<x xmlns='jabber:x:data' type='submit'/></query></iq>"
)


class RoomHarness:
    """
    One MUC service under test, with a clock and mailboxes.

    @ivar effects: every effect so far, in order.
    @ivar timers: running timers by key, with their due time.
    """

    def __init__(self, settings: Settings | None = None, seed: int = 0) -> None:
        self.service = MUCService(settings or Settings(), random.Random(seed))
        self.now = 1_700_000_000.0
        self.effects: list[Any] = []
        self.timers: dict[tuple[str, ...], float] = {}
        self.mailboxes: dict[str, list[bytes]] = {}

    def send(self, sender: str, xml: str) -> list[Any]:
        """
        Have C{sender} send a stanza; return the effects.

        Exceptions (refusals) propagate.
        """
        element = parseStanza(xml)
        element["from"] = parseJID(sender).full()
        to = parseJID(element["to"])
        event = parseEvent(element, to)
        if event is None:
            return []
        return self.run(self.service.handle(event, self.now))

    def refused(self, sender: str, xml: str) -> str:
        """
        Send a stanza that must be refused; return the error condition.
        """
        try:
            self.send(sender, xml)
        except Exception as e:
            error = toStanzaError(e)
            if error.condition == "internal-server-error":
                raise
            return error.condition
        raise AssertionError("the stanza was accepted")

    def run(self, done: list[Any]) -> list[Any]:
        self.effects.extend(done)
        for effect in done:
            if isinstance(effect, effects.Broadcast):
                data = effect.stanza.toXml()
                for recipient in effect.recipients:
                    self._deliver(recipient.full(), data, effect.stanza.name)
            elif isinstance(effect, effects.Deliver):
                self._deliver(effect.recipient.full(), effect.stanza.toXml(), effect.stanza.name)
            elif isinstance(effect, effects.Send):
                self._deliver(effect.stanza["to"], effect.stanza.toXml(), None)
            elif isinstance(effect, effects.StartTimer):
                self.timers[effect.key] = self.now + effect.delay
            elif isinstance(effect, effects.CancelTimer):
                self.timers.pop(effect.key, None)
        return done

    def _deliver(self, to: str, data: str, name: str | None) -> None:
        if name is not None:
            # Splice in the address as the glue does.
            head = "<" + name
            data = head + f" to='{to}'" + data[len(head):]
        self.mailboxes.setdefault(to, []).append(data.encode("utf-8"))

    def advance(self, seconds: float) -> list[Any]:
        """
        Move the clock on, firing due timers.
        """
        self.now += seconds
        done: list[Any] = []
        for key, due in sorted(self.timers.items(), key=lambda kv: kv[1]):
            if due <= self.now and key in self.timers:
                del self.timers[key]
                done.extend(self.run(self.service.timerFired(key, self.now)))
        return done

    def received(self, jid: str) -> list[domish.Element]:
        """
        What C{jid} got since the last call.
        """
        data = b"".join(self.mailboxes.pop(parseJID(jid).full(), []))
        return parseStanzas(data)

    def clear(self) -> None:
        self.mailboxes.clear()
        self.effects.clear()

    # Shorthands

    def join(self, sender: str, room: str, nick: str, extra: str = "",
             muc: bool = True) -> list[Any]:
        x = f"<x xmlns='http://jabber.org/protocol/muc'>{extra}</x>" if muc else extra
        return self.send(sender, f"<presence to='{room}@{HOST}/{nick}'>{x}</presence>")

    def create(self, owner: str, room: str, nick: str) -> None:
        """
        Create an instant room and empty the mailboxes.
        """
        self.join(owner, room, nick)
        self.send(owner, INSTANT.format(room=room))
        self.clear()

    def leave(self, sender: str, room: str, nick: str) -> list[Any]:
        return self.send(
            sender, f"<presence type='unavailable' to='{room}@{HOST}/{nick}'/>")

    def say(self, sender: str, room: str, body: str, id: str = "m1") -> list[Any]:
        return self.send(sender, f"<message type='groupchat' id='{id}' to='{room}@{HOST}'>"
                                 f"<body>{body}</body></message>")

    def admin(self, sender: str, room: str, item: str, kind: str = "set") -> list[Any]:
        return self.send(sender, f"<iq type='{kind}' id='a1' to='{room}@{HOST}'>"
                                 "<query xmlns='http://jabber.org/protocol/muc#admin'>"
                                 f"{item}</query></iq>")

    def configure(self, owner: str, room: str, **fields: str) -> list[Any]:
        """
        Submit a configuration form with these fields (C{var} without the
        C{muc#roomconfig_} prefix).
        """
        body = "".join(
            f"<field var='{name if '#' in name else 'muc#roomconfig_' + name}'>"
            + "".join(f"<value>{v}</value>" for v in (value if isinstance(value, tuple) else (value,)))
            + "</field>"
            for name, value in fields.items()
        )
        return self.send(owner, f"<iq type='set' id='cfg' to='{room}@{HOST}'>"
                                "<query xmlns='http://jabber.org/protocol/muc#owner'>"
                                "<x xmlns='jabber:x:data' type='submit'>"
                                "<field var='FORM_TYPE'><value>"
                                "http://jabber.org/protocol/muc#roomconfig</value></field>"
                                f"{body}</x></query></iq>")


def codes(stanza: domish.Element) -> set[int]:
    """
    The muc#user status codes of a stanza.
    """
    found = set()
    for x in stanza.elements(NS_USER, "x"):
        for status in x.elements(NS_USER, "status"):
            found.add(int(status["code"]))
    return found


def item(stanza: domish.Element) -> domish.Element:
    """
    The muc#user item of a presence.
    """
    for x in stanza.elements(NS_USER, "x"):
        for child in x.elements(NS_USER, "item"):
            return child
    raise AssertionError("no muc#user item")


def child(stanza: domish.Element, uri: str, name: str) -> domish.Element | None:
    for element in stanza.elements(uri, name):
        return element
    return None
