# -*- test-case-name: tests.glue.test_sweep -*-
"""
The invariant sweep (L{tests.support.sweep}) on the FakeNetwork: a few
hundred seeded schedules of joins, leaves, nick changes, kicks, bans,
messages and link delays on 3-5 nodes with distributed rooms, each
checked at every quiet point; the regressions it found; and tests that
the generator, the shrinker and each invariant do what they say.

C{XMUC_SWEEP_SEEDS=N} runs N seeds instead of L{SEEDS}. Schedules with
partitions, heals and restarts (C{faults}) run from C{bench/sweep.py
--faults}, or here with C{XMUC_SWEEP_FAULTS=N} seeds, until the netsplit
engines (issue 10) make them pass and L{FAULTS} turns them on.
"""

from __future__ import annotations

import os

from twisted.trial.unittest import SynchronousTestCase

from tests.support import schedule as S
from tests.support.schedule import (
    Join,
    Kick,
    Leave,
    Message,
    NickChange,
    Options,
    Quiet,
    RoomSpec,
    Scenario,
    Wait,
    generate,
    literal,
    shrink,
)
from tests.support.sweep import run
from tests.support.sweepcheck import check
from xmuc.muc.model import Affiliated, Affiliation

#: Seeds the suite runs without faults (about 90 ms each on one core).
SEEDS = int(os.environ.get("XMUC_SWEEP_SEEDS", "300"))

#: Seeds with faults the suite runs: 0 until the netsplit engines land.
FAULTS = int(os.environ.get("XMUC_SWEEP_FAULTS", "0"))


def sweep(test: SynchronousTestCase, seeds: range, options: Options) -> None:
    """
    Run each seed; fail with the report (violations and reproduction) of
    the first few that fail.
    """
    failed = [result for result in (run(generate(seed, options)) for seed in seeds)
              if result.failed]
    if failed:
        test.fail(f"{len(failed)} of {len(seeds)} seeds failed:\n\n"
                  + "\n\n".join(r.report(options) for r in failed[:3]))


def scenario(*steps: S.Step, nodes: tuple[str, ...] = ("a.test", "b.test", "c.test"),
             classic: tuple[str, ...] = ()) -> Scenario:
    """
    One room on A owned by A's own0, users u0 and u1 on every node.
    """
    users = tuple(f"u{i}@{n}" for n in nodes for i in range(2)) + ("own0@a.test",)
    return Scenario(1, nodes, classic, (RoomSpec("r0@muc.a.test", "own0@a.test"),), users,
                    steps)


ROOM = "r0@muc.a.test"


class SweepTests(SynchronousTestCase):
    """
    The seeded schedules, links up.
    """

    def test_seeds(self) -> None:
        """
        For every seed, every invariant holds at every quiet point.
        """
        sweep(self, range(SEEDS), Options())


if FAULTS:
    class FaultSweepTests(SynchronousTestCase):
        """
        The seeded schedules with partitions, heals and restarts.
        """

        def test_seeds(self) -> None:
            """
            For every seed, every invariant holds after every heal.
            """
            sweep(self, range(FAULTS), Options(faults=True))


class RegressionTests(SynchronousTestCase):
    """
    Schedules the sweep found failing (shrunk), on links that stay up.
    """

    def assertHolds(self, sc: Scenario) -> None:
        result = run(sc)
        self.assertEqual(result.violations, [], result.report())
        self.assertGreater(result.sweep.checks, 0)

    def test_quickRejoin(self) -> None:
        """
        A user of B leaves and enters again at once, and talks: the
        room's answer to the leave does not end the new join's
        directed-presence record, so B's replica serves the new stay
        (it refused it, and the message was lost to its sender).
        """
        self.assertHolds(scenario(
            Join("u0@b.test", ROOM, "flo"), Wait(0.1), Leave("u0@b.test", ROOM),
            Join("u0@b.test", ROOM, "flo"), Message("u0@b.test", ROOM, "m1")))

    def test_leaveBehindHeldJoin(self) -> None:
        """
        A leave sent right after a join that waits for discovery does
        not overtake it: the user is in, then out (the leave was
        ignored, and the join then let the user in although it had left).
        """
        self.assertHolds(scenario(
            Join("u0@b.test", ROOM, "bo"), Leave("u0@b.test", ROOM), Wait(0.1),
            Message("own0@a.test", ROOM, "m1")))

    def test_leaveBeforeEnterServed(self) -> None:
        """
        A user of B joins, talks and leaves before B's replica has served
        its enter: the replica takes the enter (the leave is still
        unanswered), so the user gets its join, its message and its
        leave, as classically (the replica refused the enter and the
        message went unanswered).
        """
        self.assertHolds(scenario(
            Join("u1@b.test", ROOM, "di"), Wait(0.1), Leave("u1@b.test", ROOM),
            Join("u0@b.test", ROOM, "bo"), Message("u0@b.test", ROOM, "m1"), Wait(0.02),
            Leave("u0@b.test", ROOM)))

    def test_removedWhileAttaching(self) -> None:
        """
        B's only user is kicked while the attach for it is out: a detach
        follows the attach, so B keeps no copy of the room.
        """
        self.assertHolds(scenario(
            Join("u1@b.test", ROOM, "flo"), Wait(0.1), Kick("own0@a.test", ROOM, "flo")))


class GeneratorTests(SynchronousTestCase):
    """
    L{tests.support.schedule}.
    """

    def test_deterministic(self) -> None:
        """
        A seed gives one scenario; another seed another.
        """
        self.assertEqual(generate(5), generate(5))
        self.assertNotEqual(generate(5).steps, generate(6).steps)

    def test_literal(self) -> None:
        """
        A scenario's literal evaluates back to it, faults included.
        """
        sc = generate(9, Options(faults=True, steps=40))
        self.assertEqual(eval(literal(sc), vars(S)), sc)

    def test_shape(self) -> None:
        """
        3-5 nodes, rooms on distinct nodes, users on every node, unique
        message bodies, a quiet point at the end; no fault without
        C{faults}, and with it every partition healed before the end.
        """
        for seed in range(40):
            sc, faulty = generate(seed), generate(seed, Options(faults=True))
            self.assertIn(len(sc.nodes), (3, 4, 5))
            self.assertEqual(len({spec.node for spec in sc.rooms}), len(sc.rooms))
            self.assertEqual({sc.nodeOf(u) for u in sc.users}, set(sc.nodes))
            bodies = [s.body for s in sc.steps if isinstance(s, Message)]
            self.assertEqual(len(bodies), len(set(bodies)))
            self.assertIsInstance(sc.steps[-1], Quiet)
            self.assertFalse([s for s in sc.steps if isinstance(s, S.FAULTS)])
            open = 0
            for step in faulty.steps:
                open += isinstance(step, S.Partition) - isinstance(step, S.Heal)
                self.assertIn(open, (0, 1))
            self.assertEqual(open, 0)
        self.assertTrue(any(isinstance(s, S.Partition) for seed in range(40)
                            for s in generate(seed, Options(faults=True)).steps))

    def test_shrink(self) -> None:
        """
        The shrinker keeps only the steps the failure needs.
        """
        sc = generate(3, Options(steps=30))
        needed = [s for s in sc.steps if isinstance(s, Message)][:2]
        small = shrink(sc, lambda c: all(s in c.steps for s in needed))
        self.assertEqual(list(small.steps), needed)


class CheckTests(SynchronousTestCase):
    """
    Each invariant finds what it is about: a run that holds, then the
    record of it changed as a bug would have changed it.
    """

    def setUp(self) -> None:
        self.result = run(scenario(
            Join("u0@b.test", ROOM, "bo"), Join("u0@c.test", ROOM, "cy"), Wait(0.5),
            Message("u0@b.test", ROOM, "m1"), Message("own0@a.test", ROOM, "m2"),
            NickChange("u0@c.test", ROOM, "cyd"), Wait(0.5),
            Join("u1@b.test", ROOM, "late"), Message("u1@a.test", ROOM, "m3"), Quiet(),
            classic=("c.test",)))
        self.assertEqual(self.result.violations, [])
        self.sweep = self.result.sweep
        self.view = {v.bare: v for v in self.sweep.views}

    def found(self) -> list[str]:
        return check(self.sweep)

    def test_lostAndDuplicated(self) -> None:
        """
        A message missing from an occupant is lost; one seen twice is
        duplicated; one the sender never got back, unanswered.
        """
        episode = self.view["u0@c.test"].rooms[ROOM].episodes[-1]
        episode.live.append(episode.live[0])
        self.view["u0@b.test"].rooms[ROOM].episodes[-1].live[:] = []
        found = self.found()
        self.assertIn(f"duplicated: {episode.live[0][0]} in {ROOM} to u0@c.test/s1 x2", found)
        self.assertIn(f"lost: m1 in {ROOM} to u0@b.test/s1", found)
        self.assertIn(f"unanswered send: m1 from u0@b.test/s1 to {ROOM} (archived)", found)

    def test_refused(self) -> None:
        """
        A refused send must have its error, and only that: m3 (from
        someone outside) was refused, and is not archived.
        """
        self.assertEqual(self.view["u1@a.test"].errors, {"m3": "not-acceptable"})
        del self.view["u1@a.test"].errors["m3"]
        self.assertIn(f"unanswered send: m3 from u1@a.test/s1 to {ROOM} (not archived)",
                      self.found())

    def test_order(self) -> None:
        """
        Messages out of the archive's order, or a history that is not
        one run of the archive, are found.
        """
        episode = self.view["u0@c.test"].rooms[ROOM].episodes[-1]
        episode.live.reverse()
        late = self.view["u1@b.test"].rooms[ROOM].episodes[-1]
        self.assertEqual(len(late.history), 2)
        late.history.reverse()
        found = [v.split(":")[0] for v in self.found()]
        self.assertIn("order", found)
        self.assertIn("history", found)

    def test_roster(self) -> None:
        """
        A client whose roster or nick differs from the room's is found;
        so is a replica whose seq lags the room's.
        """
        self.view["u0@c.test"].rooms[ROOM].roster.discard("bo")
        self.view["u1@b.test"].rooms[ROOM].nick = "other"
        mirror = self.sweep.net.nodes["b.test"].node.modules["dmuc"].replica.replica.rooms[ROOM]
        mirror.lastSeq -= 1
        found = [v.split(":")[0] for v in self.found()]
        self.assertEqual(sorted(set(found)), ["roster", "seq"])

    def test_removals(self) -> None:
        """
        A 307 for a nick no step kicked, a 333 with no split, a leave
        nobody asked for, an outcast inside and a join while split are
        all found.
        """
        seen = self.view["u0@b.test"].rooms[ROOM].episodes[-1]
        seen.ended, seen.codes = 1.0, frozenset({307})
        other = self.view["u0@c.test"].rooms[ROOM].episodes[-1]
        other.ended, other.codes = 1.0, frozenset({333})
        third = self.view["u1@b.test"].rooms[ROOM].episodes[-1]
        third.ended, third.split = 1.0, True
        room = self.sweep.primary(ROOM)
        room.affiliations[room.occupants["cyd"].bare] = Affiliated(Affiliation.OUTCAST)
        found = [v.split(":")[0] for v in self.found()]
        for kind in ("kicked", "kicked for a split", "left without asking", "banned inside",
                     "split join"):
            self.assertIn(kind, found)
