# -*- test-case-name: tests.glue.test_sweep -*-
"""
Schedules for the invariant sweep (L{tests.support.sweep}) as plain data:
frozen dataclasses, one per step (L{Join}, L{Leave}, L{NickChange},
L{Kick}, L{Ban}, L{Message}, L{Partition}, L{Heal}, L{Restart},
L{Delay}, L{Wait}, L{Quiet}), a L{Scenario} holding the network's shape
and its steps, and L{generate}, which draws one from a seed.

A scenario's C{repr} is a Python literal: with the names of this module
in scope, C{eval(repr(scenario)) == scenario}, so a failing seed prints
something that replays without the generator (L{reproduction}).
L{shrink} removes steps while a failure persists.

The generator keeps a rough model of who is in which room, only so that
most steps are plausible (a leave by an occupant, a kick of a nick that
is there); the sweep never trusts it: every outcome is read off what the
clients received and what the rooms' nodes hold.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, fields, replace
from typing import Callable, Union


@dataclass(frozen=True)
class Join:
    """
    C{user} (a bare JID) enters C{room} as C{nick}; the user's node logs
    a session in first when the user has none (or it died in a restart).
    """

    user: str
    room: str
    nick: str


@dataclass(frozen=True)
class Leave:
    """
    C{user} sends C{room} an unavailable presence.
    """

    user: str
    room: str


@dataclass(frozen=True)
class NickChange:
    user: str
    room: str
    nick: str


@dataclass(frozen=True)
class Kick:
    """
    C{actor} asks C{room} to set C{nick}'s role to none (307).
    """

    actor: str
    room: str
    nick: str


@dataclass(frozen=True)
class Ban:
    """
    C{actor} makes the bare JID C{target} an outcast of C{room} (301).
    """

    actor: str
    room: str
    target: str


@dataclass(frozen=True)
class Message:
    """
    C{user} sends C{room} a groupchat message; C{body} is unique in the
    scenario and is also the stanza's id and origin-id.
    """

    user: str
    room: str
    body: str


@dataclass(frozen=True)
class Partition:
    """
    Cut every pair of nodes across C{groups} both ways (nodes in no group
    form one more group), in the FakeNetwork's C{mode} (drop, hold,
    reset).
    """

    groups: tuple[tuple[str, ...], ...]
    mode: str = "drop"


@dataclass(frozen=True)
class Heal:
    """
    End every fault; the next L{Quiet} checks the invariants.
    """


@dataclass(frozen=True)
class Restart:
    """
    C{node} crashes (kill -9: no stopping hooks) and starts again on the
    same store; its users' sessions are gone.
    """

    node: str


@dataclass(frozen=True)
class Delay:
    """
    Writes from C{src} to C{dst} take C{extra} seconds longer from now on
    (0 restores): stanzas on other connections overtake them.
    """

    src: str
    dst: str
    extra: float


@dataclass(frozen=True)
class Wait:
    """
    C{seconds} pass; whatever falls due runs.
    """

    seconds: float


@dataclass(frozen=True)
class Quiet:
    """
    The network settles and C{seconds} pass; when no fault is active the
    invariants are checked.
    """

    seconds: float = 2.0


Step = Union[Join, Leave, NickChange, Kick, Ban, Message, Partition, Heal, Restart, Delay,
             Wait, Quiet]

#: The steps a schedule without faults never holds.
FAULTS = (Partition, Heal, Restart)


@dataclass(frozen=True)
class RoomSpec:
    """
    A persistent room, created before the steps by C{owner} (a user of
    the room's node), who stays its owner.
    """

    room: str
    owner: str

    @property
    def node(self) -> str:
        return self.room.split("@", 1)[1].split(".", 1)[1]


@dataclass(frozen=True)
class Scenario:
    """
    One run of the sweep: the network (C{nodes}, of which C{classic} run
    without distributed rooms), its rooms and users, and the steps.

    @ivar seed: the FakeNetwork's seed (jitter, ids), not only the one
        the steps were drawn from.
    """

    seed: int
    nodes: tuple[str, ...]
    classic: tuple[str, ...]
    rooms: tuple[RoomSpec, ...]
    users: tuple[str, ...]
    steps: tuple[Step, ...]
    grace: float = 120.0

    def nodeOf(self, user: str) -> str:
        return user.split("@", 1)[1]


@dataclass(frozen=True)
class Options:
    """
    What L{generate} draws: the number of steps and nodes, and the weight
    of each kind of step (0 leaves it out). C{faults} adds partitions,
    heals and restarts.
    """

    steps: int = 24
    minNodes: int = 3
    maxNodes: int = 5
    usersPerNode: int = 2
    rooms: int = 2
    faults: bool = False
    weights: dict[str, float] = field(default_factory=lambda: {
        "Join": 22, "Leave": 6, "NickChange": 5, "Kick": 2, "Ban": 2, "Message": 30,
        "Delay": 3, "Wait": 14, "Quiet": 4, "Partition": 5, "Heal": 5, "Restart": 2,
    })


class _Model:
    """
    The generator's guess of each room's occupants (user to nick) and
    outcasts, and of whether a partition is on.
    """

    def __init__(self, scenario: Scenario) -> None:
        self.inside: dict[str, dict[str, str]] = {
            spec.room: {spec.owner: "own"} for spec in scenario.rooms}
        self.banned: dict[str, set[str]] = {spec.room: set() for spec in scenario.rooms}
        self.split = False


NICKS = ("ann", "bo", "cy", "di", "ed", "flo", "gus")


def _drawStep(kind: str, rng: random.Random, sc: Scenario, model: _Model,
              count: int) -> Step | None:
    spec = rng.choice(sc.rooms)
    room, inside = spec.room, model.inside[spec.room]
    others = [u for u in sc.users if u not in inside]
    members = [u for u in inside if u != spec.owner]
    if kind == "Join" and others:
        user = rng.choice(others)
        nick = rng.choice(NICKS)
        if user not in model.banned[room] and nick not in inside.values():
            inside[user] = nick
        return Join(user, room, nick)
    if kind == "Leave" and inside:
        user = rng.choice(list(inside))
        inside.pop(user)
        return Leave(user, room)
    if kind == "NickChange" and inside:
        user = rng.choice(list(inside))
        nick = rng.choice(NICKS)
        if nick not in inside.values():
            inside[user] = nick
        return NickChange(user, room, nick)
    if kind == "Kick" and members:
        user = rng.choice(members)
        return Kick(spec.owner, room, inside.pop(user))
    if kind == "Ban" and rng.random() < 0.5:
        target = rng.choice([u for u in sc.users if u != spec.owner])
        model.banned[room].add(target)
        inside.pop(target, None)
        return Ban(spec.owner, room, target)
    if kind == "Message":
        # Mostly occupants; now and then someone outside (refused).
        pool = list(inside) if inside and rng.random() < 0.9 else list(sc.users)
        return Message(rng.choice(pool), room, f"m{count}")
    if kind == "Delay":
        src, dst = rng.sample(sc.nodes, 2)
        return Delay(src, dst, rng.choice((0.0, 0.0, 0.01, 0.05, 0.3, 1.5)))
    if kind == "Wait":
        return Wait(rng.choice((0.0, 0.001, 0.004, 0.01, 0.02, 0.1, 0.5, 3.0)))
    if kind == "Quiet":
        return Quiet(rng.choice((1.0, 2.0, 10.0)))
    return _drawFault(kind, rng, sc, model)


def _drawFault(kind: str, rng: random.Random, sc: Scenario, model: _Model) -> Step | None:
    if kind == "Partition" and not model.split:
        nodes = list(sc.nodes)
        rng.shuffle(nodes)
        cut = rng.randint(1, len(nodes) - 1)
        groups: tuple[tuple[str, ...], ...] = (tuple(sorted(nodes[:cut])),)
        if len(nodes) - cut > 1 and rng.random() < 0.3:
            more = rng.randint(1, len(nodes) - cut - 1)
            groups += (tuple(sorted(nodes[cut:cut + more])),)
        model.split = True
        return Partition(groups, rng.choice(("drop", "hold", "reset")))
    if kind == "Heal" and model.split:
        model.split = False
        return Heal()
    if kind == "Restart" and not model.split:
        node = rng.choice(sc.nodes)
        for inside in model.inside.values():
            for user in [u for u in inside if sc.nodeOf(u) == node]:
                inside.pop(user)
        return Restart(node)
    return None


def generate(seed: int, options: Options = Options()) -> Scenario:
    """
    The scenario of C{seed}: 3-5 nodes (one of them now and then without
    distributed rooms, so the rooms are mixed), rooms on several nodes,
    users on every node, and C{options.steps} steps ending with a
    L{Quiet} (after a L{Heal} when a partition is still on).
    """
    rng = random.Random(seed)
    count = rng.randint(options.minNodes, options.maxNodes)
    nodes = tuple(f"{'abcdefghi'[i]}.test" for i in range(count))
    classic = (rng.choice(nodes),) if rng.random() < 0.5 else ()
    homes = rng.sample(nodes, min(options.rooms, count))
    rooms = tuple(RoomSpec(f"r{i}@muc.{home}", f"own{i}@{home}")
                  for i, home in enumerate(homes))
    users = tuple(f"u{i}@{node}" for node in nodes for i in range(options.usersPerNode))
    users += tuple(spec.owner for spec in rooms)
    scenario = Scenario(seed, nodes, classic, rooms, users, ())
    model = _Model(scenario)
    kinds = [k for k, w in options.weights.items()
             if w > 0 and (options.faults or k not in {c.__name__ for c in FAULTS})]
    weights = [options.weights[k] for k in kinds]
    steps: list[Step] = []
    while len(steps) < options.steps:
        step = _drawStep(rng.choices(kinds, weights)[0], rng, scenario, model, len(steps))
        if step is not None:
            steps.append(step)
            if isinstance(step, Partition):
                steps.append(Wait(rng.choice((1.0, 5.0, 20.0, 60.0))))
    if model.split:
        steps.append(Heal())
    steps.append(Quiet(2.0))
    return replace(scenario, steps=tuple(steps))


def shrink(scenario: Scenario, fails: Callable[[Scenario], bool]) -> Scenario:
    """
    A scenario with as few steps as this finds for which C{fails} still
    holds: chunks of steps are removed, halving the chunk when none can
    go (delta debugging, without the complement step). Any list of steps
    is a valid schedule (L{tests.support.sweep} ends every run with a
    heal and a check), so every candidate runs.
    """
    steps = list(scenario.steps)
    chunk = max(1, len(steps) // 2)
    while chunk >= 1:
        start, removed = 0, False
        while start < len(steps):
            candidate = steps[:start] + steps[start + chunk:]
            if candidate != steps and fails(replace(scenario, steps=tuple(candidate))):
                steps, removed = candidate, True
            else:
                start += chunk
        if not removed:
            chunk //= 2
    return replace(scenario, steps=tuple(steps))


def literal(scenario: Scenario) -> str:
    """
    The scenario as a Python literal, one step per line, which
    C{eval} gives back with this module's names in scope.
    """
    head = ", ".join(f"{f.name}={getattr(scenario, f.name)!r}" for f in fields(scenario)
                     if f.name != "steps")
    steps = "".join(f"        {step!r},\n" for step in scenario.steps)
    return f"Scenario({head}, steps=(\n{steps}    ))"


def reproduction(scenario: Scenario, options: Options | None = None) -> str:
    """
    What a failing run prints: the command line that replays the seed
    and the scenario as a literal, to replay it without the generator.
    """
    lines = []
    if options is not None:
        flags = " --faults" if options.faults else ""
        lines.append(f"replay: PYTHONPATH=. python bench/sweep.py --seed {scenario.seed} "
                     f"--steps {options.steps}{flags}")
    lines.append("or, in Python (from tests.support.schedule import *; from "
                 "tests.support.sweep import run):")
    lines.append(f"run({literal(scenario)})")
    return "\n".join(lines)
