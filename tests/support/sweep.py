# -*- test-case-name: tests.glue.test_sweep -*-
"""
The invariant sweep: runs a L{tests.support.schedule.Scenario} on the
FakeNetwork and checks, at every quiet point with no fault active, what
L{tests.support.sweepcheck} lists (exactly-once delivery, no seq gap,
one roster and one archive order on every node, no banned occupant, no
join let in by a split replica, nobody removed for a split shorter than
the grace period, an answer to every send).

    result = run(generate(7))
    assert not result.violations, result.report()

Every node but the scenario's C{classic} ones runs distributed rooms
(their rooms' remote users on the classic node are served classically,
so rooms are mixed). Each room is persistent, made by its owner before
the steps. The sweep records, on each room's node, every turn that
archived a message with the room's occupants' sessions at the end of that
turn: a message's audience, who must get it exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.support import schedule as S
from tests.support.fakenet import EPOCH, FakeNetwork, NetNode
from tests.support.sweepcheck import check
from tests.support.sweepview import ClientView
from xmuc.muc import effects

MUC = "http://jabber.org/protocol/muc"
ON = "[dmuc]\nenabled = true\n"
PERSISTENT = ("<field var='muc#roomconfig_persistentroom'><value>1</value></field>")

#: Seconds a quiet point after a heal or a restart lets pass at least:
#: the links' back-off reaches 60 s, then the netjoin runs.
SETTLE = 90.0

#: What a quiet point's flush waits for: no timer due within this many
#: seconds, more than a delayed link's round trip (L{S.Delay} is at most
#: 1.5 s), so that a connection being set up over it is not cut short.
QUIET = 4.0


@dataclass(frozen=True)
class Accepted:
    """
    A message a room archived, and the sessions that were its occupants
    at the end of that turn.
    """

    room: str
    stanzaId: str
    body: str
    audience: frozenset[str]
    at: float


@dataclass(frozen=True)
class Sent:
    room: str
    body: str
    sender: str
    at: float


@dataclass
class Split:
    """
    One partition: which nodes it cut from which, when, until when; and
    each room's occupants C{(bare JID, nick)} when it began.
    """

    cut: frozenset[tuple[str, str]]
    began: float
    ended: float | None = None
    occupants: dict[str, frozenset[tuple[str, str]]] = field(default_factory=dict)


class Sweep:
    """
    One scenario on one network, and what was recorded of it.
    """

    def __init__(self, scenario: S.Scenario) -> None:
        self.scenario = sc = scenario
        self.rooms = tuple(spec.room for spec in sc.rooms)
        config = {node: (ON if node not in sc.classic else "")
                  + f"[muc]\nghost_grace = {sc.grace}\n" for node in sc.nodes}
        self.accepted: list[Accepted] = []
        self.sent: list[Sent] = []
        self.views: list[ClientView] = []
        self.live: dict[str, ClientView] = {}
        self.kicked: set[tuple[str, str]] = set()
        self.banned: dict[str, set[str]] = {room: set() for room in self.rooms}
        self.splits: list[Split] = []
        self.restarts: list[tuple[str, float]] = []
        self.checks = 0
        self._unsettled = False
        self._logins: dict[str, int] = {}
        self._ids = 0
        self._asked: dict[tuple[str, str], str] = {}
        self.net = FakeNetwork(sc.nodes, seed=sc.seed, config=config,
                               services=(self._recorder(),))
        for spec in sc.rooms:
            self._create(spec)

    # Recording

    def _recorder(self) -> Any:
        sweep = self

        def sweepRecorder(node: NetNode) -> None:
            component = node.muc
            run = component.run

            def recorded(done: list[Any], origin: Any = None) -> None:
                for effect in done:
                    if isinstance(effect, effects.Archive):
                        sweep._archived(component, effect)
                run(done, origin)

            component.run = recorded

        return sweepRecorder

    def _archived(self, component: Any, effect: effects.Archive) -> None:
        room = component.service.rooms.get(effect.room)
        audience = frozenset(j.full() for j in room.audience()) if room else frozenset()
        body = next((str(c) for c in effect.stanza.elements() if c.name == "body"), "")
        self.accepted.append(Accepted(f"{effect.room}@{component.host}", effect.stanzaId,
                                      body, audience, self.now))

    @property
    def now(self) -> float:
        return self.net.clock.seconds() - EPOCH

    # Sessions

    def session(self, user: str) -> ClientView:
        """
        The user's live session, logged in when it has none.
        """
        view = self.live.get(user)
        if view is None:
            n = self._logins[user] = self._logins.get(user, 0) + 1
            view = ClientView(self.net.login(f"{user}/s{n}"), self.rooms, self.now)
            self.views.append(view)
            self.live[user] = view
        return view

    def cutFrom(self, node: str) -> frozenset[str]:
        return frozenset(dst for (src, dst) in self.net.faults if src == node)

    def read(self) -> None:
        for view in self.live.values():
            view.read(self.now, self.cutFrom(view.node))

    def _create(self, spec: S.RoomSpec) -> None:
        owner = self.session(spec.owner).client
        owner.send(f"<presence to='{spec.room}/own'><x xmlns='{MUC}'/></presence>")
        self.net.flush()
        owner.send(f"<iq type='set' id='c1' to='{spec.room}'><query xmlns='{MUC}#owner'>"
                   f"<x xmlns='jabber:x:data' type='submit'>{PERSISTENT}</x></query></iq>")
        self.net.flush()
        self.read()

    # Steps

    def step(self, step: S.Step) -> None:
        handler = getattr(self, "_do" + type(step).__name__)
        handler(step)
        self.read()

    def _nick(self, view: ClientView, room: str) -> str:
        """
        Where a leave goes: the nick the client has, or else the last one
        it asked for (a join still on its way).
        """
        return view.rooms[room].nick or self._asked.get((view.full, room), "gone")

    def _doJoin(self, step: S.Join) -> None:
        self._asked[(self.session(step.user).full, step.room)] = step.nick
        self.session(step.user).client.send(
            f"<presence to='{step.room}/{step.nick}'><x xmlns='{MUC}'/></presence>")

    def _doLeave(self, step: S.Leave) -> None:
        view = self.session(step.user)
        view.asked(step.room)
        view.client.send(f"<presence type='unavailable' "
                         f"to='{step.room}/{self._nick(view, step.room)}'/>")

    def _doNickChange(self, step: S.NickChange) -> None:
        self._asked[(self.session(step.user).full, step.room)] = step.nick
        self.session(step.user).client.send(f"<presence to='{step.room}/{step.nick}'/>")

    def _admin(self, actor: str, room: str, item: str) -> None:
        self._ids += 1
        self.session(actor).client.send(
            f"<iq type='set' id='a{self._ids}' to='{room}'><query xmlns='{MUC}#admin'>"
            f"{item}</query></iq>")

    def _doKick(self, step: S.Kick) -> None:
        self.kicked.add((step.room, step.nick))
        self._admin(step.actor, step.room, f"<item nick='{step.nick}' role='none'/>")

    def _doBan(self, step: S.Ban) -> None:
        self.banned[step.room].add(step.target)
        self._admin(step.actor, step.room,
                    f"<item affiliation='outcast' jid='{step.target}'/>")

    def _doMessage(self, step: S.Message) -> None:
        view = self.session(step.user)
        self.sent.append(Sent(step.room, step.body, view.full, self.now))
        view.client.send(f"<message type='groupchat' to='{step.room}' id='{step.body}'>"
                         f"<body>{step.body}</body>"
                         f"<origin-id xmlns='urn:xmpp:sid:0' id='{step.body}'/></message>")

    def _doPartition(self, step: S.Partition) -> None:
        self.net.partition(*(list(g) for g in step.groups), mode=step.mode)
        split = Split(frozenset(self.net.faults), self.now)
        for room in self.rooms:
            split.occupants[room] = frozenset(
                (jid.split("/")[0], nick) for nick, jids in self.occupants(room).items()
                for jid in jids)
        self.splits.append(split)

    def _doHeal(self, step: S.Heal) -> None:
        self.net.heal()
        for split in self.splits:
            if split.ended is None:
                split.ended = self.now
        self._unsettled = True

    def _doRestart(self, step: S.Restart) -> None:
        self.net.crash(step.node)
        for user, view in list(self.live.items()):
            if view.node == step.node:
                view.died = self.now
                del self.live[user]
        self.net.restart(step.node)
        self.restarts.append((step.node, self.now))
        self._unsettled = True

    def _doDelay(self, step: S.Delay) -> None:
        self.net.delay(step.src, step.dst, step.extra)

    def _doWait(self, step: S.Wait) -> None:
        self.net.advance(step.seconds)

    def _doQuiet(self, step: S.Quiet) -> None:
        self.net.flush(QUIET)
        self.net.advance(max(step.seconds, SETTLE if self._unsettled else 0.0))
        self.net.flush(QUIET)
        self.read()
        if not self.net.faults:
            self._unsettled = False
            self.checks += 1
            for found in check(self):
                if found not in self._seen:
                    self._seen.add(found)
                    self.violations.append(f"[t={self.now:.3f}] {found}")

    # The rooms' truth

    def primary(self, room: str) -> Any:
        """
        The MUC room as its node holds it, or L{None}.
        """
        name, host = room.split("@", 1)
        node = self.net.nodes[host.split(".", 1)[1]]
        return node.muc.service.rooms.get(name)

    def occupants(self, room: str) -> dict[str, set[str]]:
        held = self.primary(room)
        if held is None:
            return {}
        return {nick: {s.jid.full() for s in o.sessions.values()}
                for nick, o in held.occupants.items()}

    # Running

    violations: list[str]

    def run(self) -> "Result":
        self.violations = []
        self._seen: set[str] = set()
        for step in self.scenario.steps:
            self.step(step)
        if self.net.faults:
            self.step(S.Heal())
        self.step(S.Quiet(2.0))
        return Result(self.scenario, self.violations, self)


@dataclass
class Result:
    scenario: S.Scenario
    violations: list[str]
    sweep: Sweep

    @property
    def failed(self) -> bool:
        return bool(self.violations)

    def report(self, options: S.Options | None = None, limit: int = 12) -> str:
        shown = self.violations[:limit]
        more = len(self.violations) - len(shown)
        lines = [f"seed {self.scenario.seed}: {len(self.violations)} violation(s)", *shown]
        if more:
            lines.append(f"... and {more} more")
        lines.append(S.reproduction(self.scenario, options))
        return "\n".join(lines)


def run(scenario: S.Scenario) -> Result:
    """
    Run C{scenario} and check it (L{Sweep}).
    """
    return Sweep(scenario).run()
